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
use crate::engine::history::status::{apply_join, StatusJoin};
use crate::engine::history::StatusReport;
use crate::engine::inventory::StatusCell;
use crate::engine::PromotionRequest;
use crate::tui::context::{Ask, Context, EnvInfo, Level, Loadable};
use crate::tui::dialogs::deploy::DeployDialog;
use crate::tui::dialogs::promotion::PromotionDialog;
use crate::tui::effects::Effect;
use crate::tui::registries;
use crate::tui::screens::matrix_cells::MatrixCells;
pub use crate::tui::screens::matrix_cells::RowOrder;
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    placeholder, render_table, split_detail, split_title, title_line, TableSpec,
};

#[derive(Debug, Default)]
pub struct EnvironmentsScreen {
    /// The whole report once a load has ended (drift, git notes); `Loading` meanwhile.
    pub status: Loadable<StatusReport>,
    /// The selected cell's column: an index into the environments.
    pub column: usize,
    /// What each row is sorted by.
    pub sort: RowOrder,
    /// The cells read so far, as they arrive, then the report's.
    cells: MatrixCells,
}

impl EnvironmentsScreen {
    pub fn load(&mut self, force: bool) -> Vec<Effect> {
        self.status.load(force, Effect::LoadStatus)
    }

    /// Cells read so far, and how many the matrix has (0 before the first load).
    pub fn cells_loaded(&self) -> (usize, usize) {
        (self.cells.len(), self.cells.expected)
    }

    /// Whether the last load has ended (every cell read, and the git join done).
    pub fn is_complete(&self) -> bool {
        self.status.settled()
    }

    /// A load numbered `load` starts: it will read the cells of `expected` (service,
    /// environment) pairs; cells of any other load are not taken any more.
    pub fn begin(&mut self, load: u64, expected: usize) {
        self.cells.begin(load, expected);
        self.status = Loadable::Loading;
    }

    /// One cell read by load `load`, shown at once while that load runs.
    pub fn on_cell(&mut self, load: u64, cell: StatusCell) {
        if matches!(self.status, Loadable::Loading) {
            self.cells.take(load, cell);
        }
    }

    /// Load `load` ended with this report.
    pub fn on_done(&mut self, load: u64, report: StatusReport) {
        if self.cells.load == load && matches!(self.status, Loadable::Loading) {
            self.finish(Ok(report));
        }
    }

    /// A whole report (or a failure) replaces whatever was shown.
    pub fn finish(&mut self, result: Result<StatusReport, String>) {
        self.status = result.into();
        match self.status.loaded() {
            Some(report) => self.cells.replace(&report.cells),
            None => self.cells.clear(),
        }
    }

    /// A service repository fetched in the background joins the matrix shown: its
    /// cells' commits and behind-counts, and its state in the report. A load still
    /// running joins it itself when it ends.
    pub fn on_join(&mut self, join: StatusJoin) {
        let Loadable::Loaded(report) = &mut self.status else {
            return;
        };
        apply_join(&mut report.cells, &join);
        // Only the joined repository's cells change: 200 repositories landing one by one
        // must not copy the whole matrix 200 times.
        apply_join(self.cells.of_services_mut(&join.repository.services), &join);
        match report
            .repositories
            .iter_mut()
            .find(|r| r.location == join.repository.location)
        {
            Some(known) => *known = join.repository,
            None => report.repositories.push(join.repository),
        }
    }

    /// The cell of `service` in `env`, read so far.
    pub fn cell(&self, service: &str, env: &str) -> Option<&StatusCell> {
        self.cells.get(service, env)
    }

    /// The matrix's rows: services, filtered by name, in the chosen order; sorting by
    /// what the cells say works on the cells read so far (rows still loading go last).
    pub fn rows<'a>(&self, ctx: &'a Context) -> Vec<&'a str> {
        let mut rows: Vec<&str> = ctx
            .services
            .iter()
            .filter(|s| ctx.matches(Screen::Environments, s))
            .map(String::as_str)
            .collect();
        match self.sort {
            RowOrder::Configuration => {}
            RowOrder::Name => rows.sort_unstable(),
            RowOrder::Attention => {
                let envs: Vec<&str> = ctx.environments.iter().map(|e| e.name.as_str()).collect();
                rows.sort_by_cached_key(|service| {
                    std::cmp::Reverse(self.cells.attention(service, &envs))
                });
            }
        }
        rows
    }

    /// The (service, environment) pairs a load should read, the rows on screen first,
    /// then the other rows in their order, then services the filter hides.
    pub fn load_order(&self, ctx: &Context) -> Vec<(String, String)> {
        let rows = self.rows(ctx);
        let list = ctx.list(Screen::Environments);
        let start = list.offset.min(rows.len());
        let end = (start + ctx.page.max(1)).min(rows.len());
        let mut services: Vec<&str> = rows[start..end].to_vec();
        services.extend(rows[..start].iter().chain(&rows[end..]));
        let shown: std::collections::HashSet<&str> = services.iter().copied().collect();
        services.extend(
            ctx.services
                .iter()
                .map(String::as_str)
                .filter(|s| !shown.contains(s)),
        );
        services
            .into_iter()
            .flat_map(|service| {
                ctx.environments
                    .iter()
                    .map(move |env| (service.to_string(), env.name.clone()))
            })
            .collect()
    }

    /// The cells the matrix could not read so far, with their errors, in the matrix's
    /// order (services as configured, then environments).
    pub fn problems(&self, ctx: &Context) -> Vec<Problem> {
        let mut failed: Vec<&StatusCell> = self.cells.all().filter(|c| c.error.is_some()).collect();
        failed.sort_by_cached_key(|c| {
            let service = ctx.services.iter().position(|s| *s == c.service);
            let env = ctx
                .environments
                .iter()
                .position(|e| e.name == c.environment);
            (
                service.unwrap_or(usize::MAX),
                env.unwrap_or(usize::MAX),
                c.service.clone(),
                c.environment.clone(),
            )
        });
        failed
            .into_iter()
            .filter_map(|c| Some(Problem::new(&c.service, &c.environment, c.error.clone()?)))
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
            Action::Sort => {
                self.sort = self.sort.next();
                ctx.say(Level::Info, format!("rows {}", self.sort.label()));
                Vec::new()
            }
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
        self.cell(service, env)
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
        if let Some(summary) = ctx.repos.summary() {
            parts.push(Span::styled(format!("   {summary}"), theme.muted));
        }
        let loading = matches!(self.status, Loadable::Loading);
        if loading && !self.cells.is_empty() {
            let (read, expected) = self.cells_loaded();
            parts.push(Span::styled(
                format!("   loading: {read}/{expected} cells read"),
                theme.muted,
            ));
        }
        frame.render_widget(title_line(theme, parts), title);
        // Rows show as soon as their first cells arrive.
        if !loading || self.cells.is_empty() {
            if let Some(p) = placeholder(&self.status, "the environment matrix", theme) {
                frame.render_widget(p, rest);
                return;
            }
        }
        let (rest, detail) = split_detail(rest);
        // With repositories per service, how fresh each one's is: `3m`, `…`, `✗`.
        let git_column = ctx.repos.polyrepo;
        let mut header = vec!["SERVICE"];
        if git_column {
            header.push("GIT");
        }
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
        if git_column {
            widths.push(Constraint::Length(4));
        }
        widths.extend(ctx.environments.iter().map(|_| Constraint::Fill(1)));
        let list = ctx.list(Screen::Environments);
        if let Some(area) = detail {
            let service = services.get(list.selected).copied();
            let env = ctx.environments.get(self.column);
            if let (Some(service), Some(env)) = (service, env) {
                let mut text =
                    cell_detail(self.cell(service, &env.name), service, env, loading, theme);
                if let Some(entry) = ctx.repos.of(service).filter(|_| git_column) {
                    let problem = self
                        .status
                        .loaded()
                        .and_then(|report| {
                            report
                                .repositories
                                .iter()
                                .find(|r| r.location == entry.location)
                        })
                        .and_then(|r| r.problem.clone());
                    let (said, style) = match problem {
                        Some(problem) => (problem, theme.warn),
                        None => (entry.describe(ctx.now.timestamp()), theme.muted),
                    };
                    text.spans
                        .push(Span::styled(format!(" · git: {said}"), style));
                }
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
            if git_column {
                let mark = ctx
                    .repos
                    .of(service)
                    .map(|e| e.mark(ctx.now.timestamp()))
                    .unwrap_or_default();
                cells.push(Cell::from(Span::styled(mark, theme.muted)));
            }
            for (column, env) in ctx.environments.iter().enumerate() {
                let (text, style) = match self.cell(service, &env.name) {
                    // Still being read: the row's loading mark.
                    None if loading => ("…".to_string(), theme.muted),
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
    cell: Option<&StatusCell>,
    service: &str,
    env: &EnvInfo,
    loading: bool,
    theme: &Theme,
) -> Line<'static> {
    let mut spans = vec![Span::styled(
        format!(" {service} in {}: ", env.name),
        theme.title,
    )];
    match cell {
        None if loading => spans.push(Span::styled("being read…", theme.muted)),
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
