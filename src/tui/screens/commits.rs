//! The Commits screen: develop's history, each commit with a badge per environment for
//! the chosen service's image of it; promote a commit's image, or cut a release from it.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use super::branches::BranchesScreen;
use crate::config::keys::{Action, Screen};
use crate::domain::ImageSelector;
use crate::engine::failures::Problem;
use crate::engine::history::{CommitRow, CommitsView};
use crate::tui::context::{Ask, Context, Level, Loadable};
use crate::tui::dialogs::promotion::PromotionDialog;
use crate::tui::dialogs::release::ReleaseDialog;
use crate::tui::dialogs::Dialog;
use crate::tui::effects::Effect;
use crate::tui::registries;
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    filter_span, placeholder, render_table, split_title, title_line, TableSpec,
};

#[derive(Debug, Default)]
pub struct CommitsScreen {
    pub history: Loadable<CommitsView>,
}

impl CommitsScreen {
    /// Loads the history (the branch heads that label it are `BranchesScreen::load_labels`).
    pub fn load(&mut self, force: bool) -> Vec<Effect> {
        self.history.load(force, Effect::LoadCommits)
    }

    /// The commits that match the filter, newest first.
    pub fn rows(&self, ctx: &Context) -> Vec<&CommitRow> {
        let Loadable::Loaded(view) = &self.history else {
            return Vec::new();
        };
        ctx.filtered(Screen::Commits, &view.commits, |c| {
            format!("{} {} {}", c.commit.sha, c.commit.author, c.commit.subject)
        })
    }

    /// The service x environment listings the history could not read, with their errors.
    pub fn problems(&self) -> Vec<Problem> {
        let Loadable::Loaded(view) = &self.history else {
            return Vec::new();
        };
        view.errors
            .iter()
            .map(|e| Problem::new(&e.service, &e.environment, e.error.clone()))
            .collect()
    }

    pub fn update(&mut self, action: Action, ctx: &mut Context) -> Vec<Effect> {
        if !matches!(action, Action::Promote | Action::CutRelease) {
            return Vec::new();
        }
        let Some(row) = self.rows(ctx).get(ctx.selected(Screen::Commits)).copied() else {
            ctx.say(Level::Warn, "no commit selected");
            return Vec::new();
        };
        if action == Action::CutRelease {
            let dialog = ReleaseDialog::new(row.commit.sha.clone(), row.commit.subject.clone());
            ctx.ask(Ask::Open(Dialog::Release(dialog)));
            return Vec::new();
        }
        let Some(service) = ctx.service().map(str::to_string) else {
            return Vec::new();
        };
        // From the last environment (in promotion order) that has this commit's image.
        let first = ctx
            .environments
            .first()
            .map(|e| e.name.clone())
            .unwrap_or_default();
        let from = ctx
            .environments
            .iter()
            .rev()
            .find(|e| {
                row.images
                    .iter()
                    .any(|b| b.service == service && b.environment == e.name && b.digest.is_some())
            })
            .map(|e| e.name.clone())
            .unwrap_or(first);
        let selector = ImageSelector::Commit {
            service,
            sha: row.commit.sha.clone(),
        };
        PromotionDialog::open_from(selector, from, ctx)
    }

    /// Branch heads label the commits they point at: `branches` knows them.
    pub fn render(
        &self,
        frame: &mut Frame,
        ctx: &Context,
        branches: &BranchesScreen,
        theme: &Theme,
        body: Rect,
    ) {
        let (title, rest) = split_title(body, 1);
        let service = ctx.service().unwrap_or("-").to_string();
        let mut parts = vec![
            Span::styled("develop history", theme.title),
            Span::styled("   badges for ", theme.muted),
            Span::styled(format!("‹ {service} ›"), theme.accent),
        ];
        if let Loadable::Loaded(view) = &self.history {
            if !view.unknown.is_empty() {
                parts.push(Span::styled(
                    format!("   {} tag(s) of unknown commits", view.unknown.len()),
                    theme.warn,
                ));
            }
            for note in &view.notes {
                parts.push(Span::styled(format!("   {note}"), theme.muted));
            }
        }
        parts.extend(filter_span(ctx, theme, Screen::Commits));
        parts.push(Span::styled(
            "   ● running  ○ present  ⚠ rebuilt",
            theme.muted,
        ));
        frame.render_widget(title_line(theme, parts), title);
        if let Some(p) = placeholder(&self.history, "commits", theme) {
            frame.render_widget(p, rest);
            return;
        }
        let rows = self.rows(ctx);
        let heads: Vec<(String, String)> = branches
            .listing
            .loaded()
            .map(|bs| {
                bs.iter()
                    .map(|b| (b.head.sha.clone(), b.name.clone()))
                    .collect()
            })
            .unwrap_or_default();
        // The chosen service's environments whose registry failed: no badge can be known.
        let unread: Vec<&str> = self
            .history
            .loaded()
            .map(|view| {
                view.errors
                    .iter()
                    .filter(|e| e.service == service)
                    .filter(|e| {
                        registries::failure_of(ctx, &e.environment, Some(&e.error)).is_some()
                    })
                    .map(|e| e.environment.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let mut header = vec!["COMMIT"];
        header.extend(ctx.environments.iter().map(|e| e.name.as_str()));
        header.push("SUBJECT");
        let mut widths = vec![Constraint::Length(9)];
        widths.extend(
            ctx.environments
                .iter()
                .map(|e| Constraint::Length(e.name.chars().count().max(3) as u16)),
        );
        widths.push(Constraint::Min(10));
        let list = ctx.list(Screen::Commits);
        let empty = "no commits";
        let spec = TableSpec::rows(header, widths, rows.len(), list, empty);
        render_table(frame, theme, rest, spec, |i| {
            let row = rows[i];
            let mut cells = vec![Cell::from(Span::styled(
                row.commit.short.clone(),
                theme.accent,
            ))];
            for env in &ctx.environments {
                let badge = row
                    .images
                    .iter()
                    .find(|b| b.service == service && b.environment == env.name);
                let cell = match badge {
                    Some(b) if b.drift => Span::styled("⚠", theme.warn),
                    Some(b) if b.mutable_tag.is_some() => Span::styled("●", theme.ok),
                    Some(_) => Span::styled("○", theme.progress),
                    None if unread.contains(&env.name.as_str()) => Span::styled("✗", theme.muted),
                    None => Span::styled("·", theme.muted),
                };
                cells.push(Cell::from(cell));
            }
            let mut subject = vec![Span::raw(row.commit.subject.clone())];
            for (_, name) in heads.iter().filter(|(sha, _)| *sha == row.commit.sha) {
                subject.push(Span::styled(format!("  [{name}]"), theme.accent));
            }
            subject.push(Span::styled(
                format!("  {}", row.commit.author),
                theme.muted,
            ));
            cells.push(Cell::from(Line::from(subject)));
            Row::new(cells)
        });
    }
}
