//! The Environments screen: the matrix of what runs where, one cell selected (a service
//! in an environment), and what can be done to that cell: open its images, promote into
//! it, roll it back, deploy it.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};
use ratatui::Frame;

use crate::config::keys::{Action, Screen};
use crate::domain::ImageSelector;
use crate::engine::failures::Problem;
use crate::engine::history::StatusReport;
use crate::engine::PromotionRequest;
use crate::tui::context::{Ask, Context, EnvInfo, Level, Loadable};
use crate::tui::dialogs::deploy::DeployDialog;
use crate::tui::dialogs::promotion::PromotionDialog;
use crate::tui::effects::Effect;
use crate::tui::registries;
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    placeholder, render_table, split_detail, split_title, title_line, TableSpec,
};

#[derive(Debug, Default)]
pub struct EnvironmentsScreen {
    pub status: Loadable<StatusReport>,
    /// The selected cell's column: an index into the environments.
    pub column: usize,
}

impl EnvironmentsScreen {
    pub fn load(&mut self, force: bool) -> Vec<Effect> {
        self.status.load(force, Effect::LoadStatus)
    }

    /// Cells read so far, and how many the matrix has (0 before the first load).
    pub fn cells_loaded(&self) -> (usize, usize) {
        match self.status.loaded() {
            Some(report) => (report.cells.len(), report.cells.len()),
            None => (0, 0),
        }
    }

    /// Whether the last load has ended (every cell read, and the git join done).
    pub fn is_complete(&self) -> bool {
        self.status.settled()
    }

    /// The matrix's rows: services, filtered by name.
    pub fn rows<'a>(&self, ctx: &'a Context) -> Vec<&'a str> {
        ctx.services
            .iter()
            .filter(|s| ctx.matches(Screen::Environments, s))
            .map(String::as_str)
            .collect()
    }

    /// The cells the matrix could not read, with their errors.
    pub fn problems(&self) -> Vec<Problem> {
        let Some(report) = self.status.loaded() else {
            return Vec::new();
        };
        report
            .cells
            .iter()
            .filter_map(|c| {
                let error = c.error.as_ref()?;
                Some(Problem::new(&c.service, &c.environment, error.clone()))
            })
            .collect()
    }

    /// The selected cell: its service and environment.
    fn selected_cell(&self, ctx: &Context) -> Option<(String, EnvInfo)> {
        let service = self
            .rows(ctx)
            .get(ctx.selected(Screen::Environments))?
            .to_string();
        let env = ctx.environments.get(self.column)?.clone();
        Some((service, env))
    }

    pub fn update(&mut self, action: Action, ctx: &mut Context) -> Vec<Effect> {
        match action {
            Action::NextEnvironment | Action::PrevEnvironment => {
                let n = ctx.environments.len().max(1);
                self.column = if action == Action::NextEnvironment {
                    (self.column + 1) % n
                } else {
                    (self.column + n - 1) % n
                };
                Vec::new()
            }
            Action::Select => {
                // Drill into the selected cell's images.
                let Some(service) = self
                    .rows(ctx)
                    .get(ctx.selected(Screen::Environments))
                    .map(|s| s.to_string())
                else {
                    return Vec::new();
                };
                ctx.service_idx = ctx.services.iter().position(|s| *s == service).unwrap_or(0);
                ctx.env_idx = self.column.min(ctx.environments.len().saturating_sub(1));
                ctx.forget_selection();
                ctx.ask(Ask::Show(Screen::Images));
                Vec::new()
            }
            Action::Promote => self.begin_promotion(ctx),
            Action::Rollback => {
                if let Some((service, env)) = self.selected_cell(ctx) {
                    ctx.ask(Ask::Rollback {
                        service,
                        env: env.name,
                    });
                }
                Vec::new()
            }
            Action::Deploy => match self.selected_cell(ctx) {
                Some((service, env)) => DeployDialog::open(service, &env, ctx),
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Promote what `from` runs into the selected environment.
    fn begin_promotion(&self, ctx: &mut Context) -> Vec<Effect> {
        let Some((service, target)) = self.selected_cell(ctx) else {
            return Vec::new();
        };
        if target.readonly {
            ctx.say(
                Level::Warn,
                format!("{} is read-only: nothing is promoted into it", target.name),
            );
            return Vec::new();
        }
        let Some(from) = target.from.clone() else {
            ctx.say(
                Level::Warn,
                format!("{} is promoted from nowhere (no `from`)", target.name),
            );
            return Vec::new();
        };
        let Some(running) = self.running_tag(&service, &from) else {
            ctx.say(
                Level::Warn,
                format!("{from} runs no known image of {service}"),
            );
            return Vec::new();
        };
        let request = PromotionRequest {
            selector: ImageSelector::Tag {
                service,
                tag: running,
            },
            from,
            to: target.name.clone(),
        };
        PromotionDialog::open(request, vec![target.name], ctx)
    }

    /// The immutable tag `env` runs for `service`, from the status matrix.
    pub fn running_tag(&self, service: &str, env: &str) -> Option<String> {
        let report = self.status.loaded()?;
        report
            .cells
            .iter()
            .find(|c| c.service == service && c.environment == env)
            .and_then(|c| c.tags.first().cloned())
    }

    pub fn render(&self, frame: &mut Frame, ctx: &Context, theme: &Theme, body: Rect) {
        let (title, rest) = split_title(body, 1);
        let mut parts = vec![Span::styled("what runs where", theme.title)];
        if let Loadable::Loaded(report) = &self.status {
            if let Some(why) = &report.git_unavailable {
                parts.push(Span::styled(
                    format!("   git unavailable: {why}"),
                    theme.muted,
                ));
            }
            if !report.drift.is_empty() {
                parts.push(Span::styled(
                    format!("   ⚠ {} rebuilt tag(s)", report.drift.len()),
                    theme.warn,
                ));
            }
        }
        frame.render_widget(title_line(theme, parts), title);
        if let Some(p) = placeholder(&self.status, "the environment matrix", theme) {
            frame.render_widget(p, rest);
            return;
        }
        let Some(report) = self.status.loaded() else {
            return;
        };
        let (rest, detail) = split_detail(rest);
        let mut header = vec!["SERVICE"];
        header.extend(ctx.environments.iter().map(|e| e.name.as_str()));
        // Service names are never cut; environments share the rest.
        let services = self.rows(ctx);
        let service_width = services
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .max("SERVICE".len()) as u16;
        let mut widths = vec![Constraint::Length(service_width)];
        widths.extend(ctx.environments.iter().map(|_| Constraint::Fill(1)));
        let list = ctx.list(Screen::Environments);
        if let Some(area) = detail {
            let service = services.get(list.selected).copied();
            let env = ctx.environments.get(self.column);
            if let (Some(service), Some(env)) = (service, env) {
                let text = cell_detail(report, service, env, theme);
                frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), area);
            }
        }
        let spec = TableSpec {
            row_highlight: false,
            ..TableSpec::rows(header, widths, services.len(), list, "no service matches")
        };
        render_table(frame, theme, rest, spec, |i| {
            let service = services[i];
            let name_style = if i == list.selected {
                theme.title
            } else {
                theme.text
            };
            let mut cells = vec![Cell::from(Span::styled(service.to_string(), name_style))];
            for (column, env) in ctx.environments.iter().enumerate() {
                let cell = report
                    .cells
                    .iter()
                    .find(|c| c.service == service && c.environment == env.name);
                let (text, style) = match cell {
                    None => ("-".to_string(), theme.muted),
                    // Its registry's line at the foot says what failed; the detail
                    // has this cell's error in full.
                    Some(c) if c.error.is_some() => {
                        match registries::failure_of(ctx, &env.name, c.error.as_deref()) {
                            Some(failure) => (registries::mark(failure), theme.muted),
                            None => ("error".to_string(), theme.error),
                        }
                    }
                    Some(c) => {
                        let mut text = match (c.tags.first(), &c.digest) {
                            (Some(tag), _) => tag.clone(),
                            (None, Some(d)) => d.short().to_string(),
                            (None, None) if c.image_count > 0 => {
                                format!("{} images", c.image_count)
                            }
                            (None, None) => "-".to_string(),
                        };
                        // What matters first: how far behind, rebuilt; the subject
                        // fills what is left of the column.
                        if let Some(behind) = &c.behind {
                            if behind.commits > 0 {
                                text.push_str(&format!(
                                    " ↓{}{}",
                                    behind.commits,
                                    if behind.truncated { "+" } else { "" }
                                ));
                            }
                        }
                        if !c.drift.is_empty() {
                            text.push_str(" ⚠drift");
                        }
                        let undeployed = c
                            .deployed
                            .as_ref()
                            .is_some_and(|d| d.in_sync == Some(false));
                        if undeployed {
                            text.push_str(" ≠deployed");
                        }
                        if let Some(commit) = &c.commit {
                            text.push(' ');
                            text.push_str(&commit.subject);
                        }
                        let style = if !c.drift.is_empty() || undeployed {
                            theme.warn
                        } else if c.behind.as_ref().is_some_and(|b| b.commits > 0) {
                            theme.text
                        } else {
                            theme.ok
                        };
                        (text, style)
                    }
                };
                // The matrix highlights one cell, not the row: the cell is the selection.
                let style = if i == list.selected && column == self.column {
                    theme.selection
                } else {
                    style
                };
                cells.push(Cell::from(Span::styled(text, style)));
            }
            Row::new(cells)
        });
    }
}

/// The selected cell of the matrix in full: what the column has no room for.
fn cell_detail(
    report: &StatusReport,
    service: &str,
    env: &EnvInfo,
    theme: &Theme,
) -> Line<'static> {
    let mut spans = vec![Span::styled(
        format!(" {service} in {}: ", env.name),
        theme.title,
    )];
    let cell = report
        .cells
        .iter()
        .find(|c| c.service == service && c.environment == env.name);
    match cell {
        None => spans.push(Span::styled("not read", theme.muted)),
        Some(c) => {
            if let Some(error) = &c.error {
                spans.push(Span::styled(error.clone(), theme.error));
                return Line::from(spans);
            }
            match (c.tags.first(), &c.digest) {
                (Some(tag), Some(digest)) => {
                    spans.push(Span::styled(tag.clone(), theme.accent));
                    spans.push(Span::styled(format!(" {}", digest.short()), theme.muted));
                }
                (None, Some(digest)) => {
                    spans.push(Span::styled(digest.short().to_string(), theme.accent))
                }
                (_, None) if c.image_count > 0 => spans.push(Span::styled(
                    match &c.mutable_tag {
                        Some(mutable) => {
                            format!("{} images, no `{mutable}` tag on any", c.image_count)
                        }
                        None => format!("{} images", c.image_count),
                    },
                    theme.muted,
                )),
                _ => spans.push(Span::styled("no image", theme.muted)),
            }
            if let (Some(mutable), Some(_)) = (&c.mutable_tag, &c.digest) {
                spans.push(Span::styled(format!(" ({mutable})"), theme.muted));
            }
            if let Some(commit) = &c.commit {
                spans.push(Span::styled(
                    format!(" · {} {}", commit.short, commit.subject),
                    theme.text,
                ));
            }
            if let Some(behind) = &c.behind {
                let plus = if behind.truncated { "+" } else { "" };
                let text = match behind.commits {
                    0 => format!(" · up to date with {}", behind.from),
                    1 => format!(" · 1{plus} commit behind {}", behind.from),
                    n => format!(" · {n}{plus} commits behind {}", behind.from),
                };
                spans.push(Span::styled(text, theme.text));
            }
            if !c.drift.is_empty() {
                spans.push(Span::styled(
                    format!(
                        " · ⚠ rebuilt: {} has another digest elsewhere",
                        c.drift.join(", ")
                    ),
                    theme.warn,
                ));
            }
            if let Some(deployed) = &c.deployed {
                let pinned = deployed
                    .tag
                    .clone()
                    .or_else(|| {
                        deployed
                            .digest
                            .as_ref()
                            .map(|d| d.chars().take(19).collect())
                    })
                    .unwrap_or_else(|| "nothing".into());
                let (text, style) = match (&deployed.error, deployed.in_sync) {
                    (Some(error), _) => {
                        (format!(" · deploy file unreadable: {error}"), theme.error)
                    }
                    (None, Some(true)) => (format!(" · deployed ({})", deployed.file), theme.ok),
                    (None, Some(false)) => (
                        format!(" · ⚠ not deployed: {} pins {pinned}", deployed.file),
                        theme.warn,
                    ),
                    (None, None) => (format!(" · {} pins {pinned}", deployed.file), theme.muted),
                };
                spans.push(Span::styled(text, style));
            }
        }
    }
    Line::from(spans)
}
