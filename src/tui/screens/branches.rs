//! The Branches screen: develop, main, release and hotfix branches with how far each is
//! ahead of and behind develop and main; opening one shows the Commits screen.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use crate::config::keys::{Action, Screen};
use crate::git::BranchInfo;
use crate::tui::context::{Ask, Context, Loadable};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    filter_span, placeholder, render_table, split_title, title_line, TableSpec,
};

#[derive(Debug, Default)]
pub struct BranchesScreen {
    pub listing: Loadable<Vec<BranchInfo>>,
}

impl BranchesScreen {
    pub fn load(&mut self, force: bool) -> Vec<Effect> {
        self.listing.load(force, Effect::LoadBranches)
    }

    /// Loads the branch heads that label the Commits screen's rows. A failed load is
    /// retried on the Branches screen, not on every visit to Commits.
    pub fn load_labels(&mut self, force: bool) -> Vec<Effect> {
        if force || matches!(self.listing, Loadable::Idle) {
            self.listing = Loadable::Loading;
            vec![Effect::LoadBranches]
        } else {
            Vec::new()
        }
    }

    /// The branches that match the filter.
    pub fn rows(&self, ctx: &Context) -> Vec<&BranchInfo> {
        let Loadable::Loaded(branches) = &self.listing else {
            return Vec::new();
        };
        ctx.filtered(Screen::Branches, branches, |b| {
            format!("{} {}", b.name, b.head.subject)
        })
    }

    pub fn update(&mut self, action: Action, ctx: &mut Context) -> Vec<Effect> {
        if action == Action::Select {
            ctx.ask(Ask::Show(Screen::Commits));
        }
        Vec::new()
    }

    pub fn render(&self, frame: &mut Frame, ctx: &Context, theme: &Theme, body: Rect) {
        let (title, rest) = split_title(body, 1);
        let mut parts = vec![Span::styled("branches", theme.title)];
        parts.extend(filter_span(ctx, theme, Screen::Branches));
        frame.render_widget(title_line(theme, parts), title);
        if let Some(p) = placeholder(&self.listing, "branches", theme) {
            frame.render_widget(p, rest);
            return;
        }
        let rows = self.rows(ctx);
        let count = |n: Option<usize>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
        render_table(
            frame,
            theme,
            rest,
            TableSpec {
                header: vec!["BRANCH", "HEAD", "DEVELOP +/-", "MAIN +/-", "SUBJECT"],
                widths: vec![
                    Constraint::Length(28),
                    Constraint::Length(9),
                    Constraint::Length(12),
                    Constraint::Length(10),
                    Constraint::Min(10),
                ],
                len: rows.len(),
                list: ctx.list(Screen::Branches),
                empty: "no develop, main, release or hotfix branch",
                row_highlight: true,
            },
            |i| {
                let b = rows[i];
                Row::new(vec![
                    Cell::from(Span::styled(b.name.clone(), theme.accent)),
                    Cell::from(b.head.short.clone()),
                    Cell::from(format!(
                        "+{} -{}",
                        count(b.ahead_of_develop),
                        count(b.behind_develop)
                    )),
                    Cell::from(format!(
                        "+{} -{}",
                        count(b.ahead_of_main),
                        count(b.behind_main)
                    )),
                    Cell::from(b.head.subject.clone()),
                ])
            },
        );
    }
}
