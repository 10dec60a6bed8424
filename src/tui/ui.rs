//! Drawing: a pure function of the console's state, one screen at a time.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::app::{
    App, Dialog, Input, JobState, JobView, Level, ListView, Loadable, PromotionRow, RequestRow,
    RetentionRow, SigMark,
};
use super::theme::Theme;
use crate::deploy::DeployReport;
use crate::domain::human_bytes;
use crate::engine::ledger::AuditView;
use crate::engine::plan::ManifestAction;
use crate::engine::{BlobAction, Plan, Step, TagAction};
use crate::keys::{Action, Screen};
use crate::ledger::{Record, RecordKind};
use crate::retention::{RetentionPlan, RECLAIM_HINT};

/// Where things are on screen, shared by drawing and mouse handling.
pub struct Areas {
    pub header: Rect,
    pub body: Rect,
    pub footer: Rect,
}

pub fn areas(area: Rect) -> Areas {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        body,
        footer,
    }
}

/// Rows above the first list row inside the body (title line and table header), per screen.
pub fn list_top(screen: Screen) -> u16 {
    match screen {
        Screen::Images | Screen::Retention | Screen::Audit => 3,
        Screen::Environments | Screen::Commits | Screen::Branches | Screen::Promotions => 2,
        Screen::Help => 1,
    }
}

/// How many list rows fit in `body` on `screen`: what `render` draws.
pub fn page_rows(screen: Screen, body: Rect) -> usize {
    let mut rows = body.height.saturating_sub(list_top(screen));
    // The detail lines under the list (see `split_detail`).
    if matches!(
        screen,
        Screen::Environments | Screen::Promotions | Screen::Retention | Screen::Audit
    ) && body.height.saturating_sub(1) >= DETAIL_MIN_AREA
    {
        rows = rows.saturating_sub(DETAIL_ROWS);
    }
    rows.max(1) as usize
}

pub fn render(frame: &mut Frame, app: &App, theme: &Theme) {
    let areas = areas(frame.area());
    render_header(frame, app, theme, areas.header);
    let body = areas.body;
    match app.screen {
        Screen::Images => render_images(frame, app, theme, body),
        Screen::Environments => render_environments(frame, app, theme, body),
        Screen::Commits => render_commits(frame, app, theme, body),
        Screen::Branches => render_branches(frame, app, theme, body),
        Screen::Promotions => render_promotions(frame, app, theme, body),
        Screen::Retention => render_retention(frame, app, theme, body),
        Screen::Audit => render_audit(frame, app, theme, body),
        Screen::Help => render_help(frame, app, theme, body),
    }
    render_footer(frame, app, theme, areas.footer);
    if let Some(dialog) = &app.dialog {
        render_dialog(frame, app, theme, dialog);
    }
}

fn render_header(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let running = app
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Running)
        .count();
    let mut status = Vec::new();
    if running > 0 {
        status.push(Span::styled(
            format!("  ⟳ {running} running"),
            theme.progress,
        ));
    }
    if app.readonly {
        status.push(Span::styled("  READ-ONLY", theme.warn));
    }
    // Narrow terminals first lose the brand, then name only the current screen, so
    // what is running and read-only still show.
    let tabs = |compact: bool, brand: bool| {
        let mut spans = Vec::new();
        if brand {
            spans.push(Span::styled(" gantry ", theme.title));
        }
        let all = Screen::TABS
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{}", i + 1), *s));
        for (key, screen) in all.chain([("?".to_string(), Screen::Help)]) {
            let current = screen == app.screen;
            let style = if current {
                theme.selection
            } else {
                theme.muted
            };
            spans.push(Span::raw(" "));
            let text = if compact && !current {
                key
            } else {
                format!("{key} {}", screen.title())
            };
            spans.push(Span::styled(text, style));
        }
        spans
    };
    let fits = |spans: &[Span]| {
        spans.iter().chain(&status).map(Span::width).sum::<usize>() <= area.width as usize
    };
    let mut spans = tabs(false, true);
    if !fits(&spans) {
        spans = tabs(false, false);
    }
    if !fits(&spans) {
        spans = tabs(true, true);
    }
    spans.extend(status);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_footer(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let line = match (&app.input, &app.message) {
        (Some(Input::Filter { text, .. }), _) => Line::from(vec![
            Span::styled("/", theme.accent),
            Span::styled(text.clone(), theme.text),
            Span::styled("▏  enter keep · esc clear", theme.muted),
        ]),
        (Some(Input::Palette { text }), _) => Line::from(vec![
            Span::styled(":", theme.accent),
            Span::styled(text.clone(), theme.text),
            Span::styled(
                "▏  screen name · service NAME · env NAME · quit",
                theme.muted,
            ),
        ]),
        (None, Some((level, text))) => {
            let style = match level {
                Level::Info => theme.ok,
                Level::Warn => theme.warn,
                Level::Error => theme.error,
            };
            styled_line(text.clone(), style)
        }
        (None, None) => hints(app, theme),
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The current screen's own keys first, then a few global ones, built from the keymap.
/// Pairs with one name (next and previous service) share a hint: `]/[ service`.
fn hints(app: &App, theme: &Theme) -> Line<'static> {
    let own = app
        .keymap
        .screens
        .get(&app.screen)
        .cloned()
        .unwrap_or_default();
    let globals: &[Action] = if app.screen == Screen::Help {
        &[Action::Back, Action::Quit]
    } else {
        &[
            Action::Select,
            Action::Filter,
            Action::Refresh,
            Action::Help,
            Action::Quit,
        ]
    };
    let mut shown: Vec<(String, &'static str)> = Vec::new();
    let first_keys = own
        .iter()
        .filter(|b| app.allowed(b.action) && app.applies(b.action))
        .map(|b| (b.keys.first().copied(), b.action))
        .chain(globals.iter().map(|&action| {
            let key = app
                .keymap
                .global
                .iter()
                .find(|b| b.action == action)
                .and_then(|b| b.keys.first().copied());
            (key, action)
        }));
    for (key, action) in first_keys {
        let Some(key) = key else { continue };
        let name = short_name(action);
        match shown.iter_mut().find(|(_, n)| *n == name) {
            Some((keys, _)) => {
                keys.push('/');
                keys.push_str(&key.to_string());
            }
            None => shown.push((key.to_string(), name)),
        }
    }
    let mut spans = Vec::new();
    for (keys, name) in shown {
        spans.push(Span::styled(keys, theme.accent));
        spans.push(Span::styled(format!(" {name}  "), theme.muted));
    }
    Line::from(spans)
}

fn short_name(action: Action) -> &'static str {
    match action {
        Action::Select => "open",
        Action::Filter => "filter",
        Action::Refresh => "refresh",
        Action::Help => "help",
        Action::Quit => "quit",
        Action::Back => "back",
        Action::Promote => "promote",
        Action::Rollback => "rollback",
        Action::CancelJob => "cancel",
        Action::CutRelease => "cut release",
        Action::StartHotfix => "hotfix",
        Action::CleanUp => "delete…",
        Action::Deploy => "deploy",
        Action::Approve => "approve…",
        Action::NextService => "service",
        Action::PrevService => "service",
        Action::NextEnvironment => "env",
        Action::PrevEnvironment => "env",
        other => other.name(),
    }
}

fn title_line(theme: &Theme, parts: Vec<Span<'static>>) -> Paragraph<'static> {
    let mut spans = vec![Span::raw(" ")];
    spans.extend(parts);
    Paragraph::new(Line::from(spans)).style(theme.text)
}

/// A status line for data that is not (yet) there.
fn placeholder<T>(loadable: &Loadable<T>, what: &str, theme: &Theme) -> Option<Paragraph<'static>> {
    match loadable {
        Loadable::Idle | Loadable::Loading => Some(Paragraph::new(Span::styled(
            format!(" loading {what}…"),
            theme.muted,
        ))),
        Loadable::Failed(reason) => Some(
            Paragraph::new(vec![
                styled_line(format!(" cannot load {what}"), theme.error),
                styled_line(format!(" {reason}"), theme.text),
                styled_line(" press ctrl-r to retry", theme.muted),
            ])
            .wrap(Wrap { trim: false }),
        ),
        Loadable::Loaded(_) => None,
    }
}

/// The shape of a list: its columns, its length, where the selection is.
struct TableSpec<'a> {
    header: Vec<&'a str>,
    widths: Vec<Constraint>,
    len: usize,
    list: ListView,
    /// Said instead of an empty table.
    empty: &'a str,
    /// Whether the selected row is drawn as the selection (the matrix selects a cell).
    row_highlight: bool,
}

/// Draws `rows` windowed to what fits: only visible rows are built.
fn render_table<'a>(
    frame: &mut Frame,
    theme: &Theme,
    area: Rect,
    spec: TableSpec<'a>,
    row: impl Fn(usize) -> Row<'a>,
) {
    let TableSpec {
        header,
        widths,
        len,
        list,
        empty,
        row_highlight,
    } = spec;
    if len == 0 {
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {empty}"), theme.muted)),
            area,
        );
        return;
    }
    let height = area.height.saturating_sub(1).max(1) as usize;
    let mut view = list;
    view.clamp(len, height);
    let end = (view.offset + height).min(len);
    let rows: Vec<Row> = (view.offset..end)
        .map(|i| {
            let r = row(i);
            if row_highlight && i == view.selected {
                r.style(theme.selection)
            } else {
                r
            }
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.title))
        .column_spacing(column_spacing(area.width));
    frame.render_widget(table, area);
    // Cells with a colour of their own (a muted digest, a green kind) keep it under the
    // row's style, which would leave them dim on the selection's background: the whole
    // selected line takes the selection's colours.
    if row_highlight && (view.offset..end).contains(&view.selected) {
        let y = area.y + 1 + (view.selected - view.offset) as u16;
        if y < area.bottom() {
            frame
                .buffer_mut()
                .set_style(Rect::new(area.x, y, area.width, 1), theme.selection);
        }
    }
}

/// Two columns apart, one on a narrow terminal.
fn column_spacing(width: u16) -> u16 {
    if width < 60 {
        1
    } else {
        2
    }
}

/// The columns that fit `width`, in display order: `columns` is (width, priority), a lower
/// priority staying longer; the last kept column takes what is left.
fn fitting_columns(width: u16, columns: &[(u16, u8)]) -> Vec<usize> {
    let spacing = column_spacing(width);
    let mut by_priority: Vec<usize> = (0..columns.len()).collect();
    by_priority.sort_by_key(|&i| columns[i].1);
    let mut kept: Vec<usize> = Vec::new();
    let mut used = 0u16;
    for i in by_priority {
        let extra = columns[i].0 + if kept.is_empty() { 0 } else { spacing };
        if kept.is_empty() || used + extra <= width {
            used += extra;
            kept.push(i);
        }
    }
    kept.sort_unstable();
    kept
}

/// Headers and widths of the `kept` columns of (header, width, priority) `columns`; the
/// last one kept takes what is left of the row.
fn kept_columns<'a>(
    kept: &[usize],
    columns: &[(&'a str, u16, u8)],
) -> (Vec<&'a str>, Vec<Constraint>) {
    let last = kept.last().copied();
    let widths = kept
        .iter()
        .map(|&c| {
            if Some(c) == last {
                Constraint::Min(columns[c].1)
            } else {
                Constraint::Length(columns[c].1)
            }
        })
        .collect();
    (kept.iter().map(|&c| columns[c].0).collect(), widths)
}

/// One line of one style.
fn styled_line(text: impl Into<String>, style: Style) -> Line<'static> {
    Line::from(Span::styled(text.into(), style))
}

fn split_title(body: Rect, title_rows: u16) -> (Rect, Rect) {
    let [title, rest] =
        Layout::vertical([Constraint::Length(title_rows), Constraint::Min(1)]).areas(body);
    (title, rest)
}

fn filter_span(app: &App, theme: &Theme, screen: Screen) -> Vec<Span<'static>> {
    let filter = app.filter(screen);
    if filter.is_empty() {
        Vec::new()
    } else {
        vec![Span::styled(format!("   filter: {filter}"), theme.accent)]
    }
}

pub fn age(created: Option<&str>, now: DateTime<Utc>) -> String {
    let Some(created) = created.and_then(|c| DateTime::parse_from_rfc3339(c).ok()) else {
        return "-".into();
    };
    let secs = (now - created.with_timezone(&Utc)).num_seconds();
    match secs {
        s if s < 0 => "future".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn render_images(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    let (title, rest) = split_title(body, 2);
    let service = app.service().unwrap_or("-").to_string();
    let env = app
        .environment()
        .map(|e| e.name.clone())
        .unwrap_or_else(|| "-".into());
    let key = (service.clone(), env.clone());
    let loadable = app.images.get(&key).cloned().unwrap_or_default();
    let repository = loadable
        .loaded()
        .map(|l| l.repository.clone())
        .unwrap_or_default();
    let mut parts = vec![
        Span::styled("service ", theme.muted),
        Span::styled(format!("‹ {service} ›"), theme.accent),
        Span::styled("   environment ", theme.muted),
        Span::styled(format!("‹ {env} ›"), theme.accent),
        Span::styled(format!("   {repository}"), theme.muted),
    ];
    parts.extend(filter_span(app, theme, Screen::Images));
    frame.render_widget(title_line(theme, parts), title);
    if let Some(p) = placeholder(&loadable, &format!("images of {service} in {env}"), theme) {
        frame.render_widget(p, rest);
        return;
    }
    let rows = app.image_rows();
    let now = app.now;
    // Narrow terminals drop platforms, then size, then the digest; the tag always stays.
    let tag_width = rows
        .iter()
        .map(|i| i.tag.chars().count())
        .max()
        .unwrap_or(0)
        .max(3) as u16;
    let columns = [
        ("TAG", tag_width, 0),
        ("DIGEST", 19, 3),
        ("PLATFORMS", 23, 5),
        ("AGE", 6, 1),
        ("SIZE", 8, 4),
        ("SIG", 3, 6),
        ("TAGS", 6, 2),
    ];
    let kept = fitting_columns(
        rest.width,
        &columns.map(|(_, width, priority)| (width, priority)),
    );
    let (header, widths) = kept_columns(&kept, &columns);
    render_table(
        frame,
        theme,
        rest,
        TableSpec {
            header,
            widths,
            len: rows.len(),
            list: app.list(Screen::Images),
            empty: "no SHA-tagged images here",
            row_highlight: true,
        },
        |i| {
            let image = rows[i];
            let cell = |c: usize| match c {
                0 => Cell::from(image.tag.clone()),
                1 => Cell::from(Span::styled(image.digest.short().to_string(), theme.muted)),
                2 => Cell::from(image.platforms.join(",")),
                3 => Cell::from(age(image.created.as_deref(), now)),
                4 => Cell::from(human_bytes(image.size)),
                5 => {
                    let key = (service.clone(), env.clone(), image.digest.clone());
                    match app.signatures.get(&key) {
                        Some(SigMark::Signed) => Cell::from(Span::styled("✓", theme.ok)),
                        Some(SigMark::Invalid) => Cell::from(Span::styled("✗", theme.error)),
                        Some(SigMark::Unsigned) => Cell::from(Span::styled("-", theme.muted)),
                        None => Cell::from(""),
                    }
                }
                _ => Cell::from(Span::styled(image.also_tagged.join(","), theme.ok)),
            };
            Row::new(kept.iter().map(|&c| cell(c)).collect::<Vec<_>>())
        },
    );
}

fn render_environments(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    let (title, rest) = split_title(body, 1);
    let mut parts = vec![Span::styled("what runs where", theme.title)];
    if let Loadable::Loaded(report) = &app.status {
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
    if let Some(p) = placeholder(&app.status, "the environment matrix", theme) {
        frame.render_widget(p, rest);
        return;
    }
    let Some(report) = app.status.loaded() else {
        return;
    };
    let (rest, detail) = split_detail(rest);
    let mut header = vec!["SERVICE"];
    header.extend(app.environments.iter().map(|e| e.name.as_str()));
    // Service names are never cut; environments share the rest.
    let services = app.service_rows();
    let service_width = services
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max("SERVICE".len()) as u16;
    let mut widths = vec![Constraint::Length(service_width)];
    widths.extend(app.environments.iter().map(|_| Constraint::Fill(1)));
    let list = app.list(Screen::Environments);
    if let Some(area) = detail {
        let service = services.get(list.selected).copied();
        let env = app.environments.get(app.env_column);
        if let (Some(service), Some(env)) = (service, env) {
            let text = cell_detail(report, service, env, theme);
            frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), area);
        }
    }
    render_table(
        frame,
        theme,
        rest,
        TableSpec {
            header,
            widths,
            len: services.len(),
            list,
            empty: "no service matches",
            row_highlight: false,
        },
        |i| {
            let service = services[i];
            let name_style = if i == list.selected {
                theme.title
            } else {
                theme.text
            };
            let mut cells = vec![Cell::from(Span::styled(service.to_string(), name_style))];
            for (column, env) in app.environments.iter().enumerate() {
                let cell = report
                    .cells
                    .iter()
                    .find(|c| c.service == service && c.environment == env.name);
                let (text, style) = match cell {
                    None => ("-".to_string(), theme.muted),
                    Some(c) if c.error.is_some() => ("error".to_string(), theme.error),
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
                let style = if i == list.selected && column == app.env_column {
                    theme.selection
                } else {
                    style
                };
                cells.push(Cell::from(Span::styled(text, style)));
            }
            Row::new(cells)
        },
    );
}

/// Rows about the selected row under a list, shown when the list's area has this many.
const DETAIL_ROWS: u16 = 2;
const DETAIL_MIN_AREA: u16 = 6;

/// A list's area and, below it, two rows about the selected row when there is room.
fn split_detail(area: Rect) -> (Rect, Option<Rect>) {
    if area.height < DETAIL_MIN_AREA {
        return (area, None);
    }
    let [list, detail] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(DETAIL_ROWS)]).areas(area);
    (list, Some(detail))
}

/// The selected cell of the matrix in full: what the column has no room for.
fn cell_detail(
    report: &crate::engine::history::StatusReport,
    service: &str,
    env: &super::app::EnvInfo,
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

fn render_commits(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    let (title, rest) = split_title(body, 1);
    let service = app.service().unwrap_or("-").to_string();
    let mut parts = vec![
        Span::styled("develop history", theme.title),
        Span::styled("   badges for ", theme.muted),
        Span::styled(format!("‹ {service} ›"), theme.accent),
    ];
    if let Loadable::Loaded(view) = &app.commits {
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
    parts.extend(filter_span(app, theme, Screen::Commits));
    parts.push(Span::styled(
        "   ● running  ○ present  ⚠ rebuilt",
        theme.muted,
    ));
    frame.render_widget(title_line(theme, parts), title);
    if let Some(p) = placeholder(&app.commits, "commits", theme) {
        frame.render_widget(p, rest);
        return;
    }
    let rows = app.commit_rows();
    let heads: Vec<(String, String)> = app
        .branches
        .loaded()
        .map(|bs| {
            bs.iter()
                .map(|b| (b.head.sha.clone(), b.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut header = vec!["COMMIT"];
    header.extend(app.environments.iter().map(|e| e.name.as_str()));
    header.push("SUBJECT");
    let mut widths = vec![Constraint::Length(9)];
    widths.extend(
        app.environments
            .iter()
            .map(|e| Constraint::Length(e.name.chars().count().max(3) as u16)),
    );
    widths.push(Constraint::Min(10));
    render_table(
        frame,
        theme,
        rest,
        TableSpec {
            header,
            widths,
            len: rows.len(),
            list: app.list(Screen::Commits),
            empty: "no commits",
            row_highlight: true,
        },
        |i| {
            let row = rows[i];
            let mut cells = vec![Cell::from(Span::styled(
                row.commit.short.clone(),
                theme.accent,
            ))];
            for env in &app.environments {
                let badge = row
                    .images
                    .iter()
                    .find(|b| b.service == service && b.environment == env.name);
                let cell = match badge {
                    Some(b) if b.drift => Span::styled("⚠", theme.warn),
                    Some(b) if b.mutable_tag.is_some() => Span::styled("●", theme.ok),
                    Some(_) => Span::styled("○", theme.progress),
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
        },
    );
}

fn render_branches(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    let (title, rest) = split_title(body, 1);
    let mut parts = vec![Span::styled("branches", theme.title)];
    parts.extend(filter_span(app, theme, Screen::Branches));
    frame.render_widget(title_line(theme, parts), title);
    if let Some(p) = placeholder(&app.branches, "branches", theme) {
        frame.render_widget(p, rest);
        return;
    }
    let rows = app.branch_rows();
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
            list: app.list(Screen::Branches),
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

fn render_retention(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    let (title, rest) = split_title(body, 2);
    let service = app.service().unwrap_or("-").to_string();
    let env = app.environment().cloned();
    let env_name = env
        .as_ref()
        .map_or_else(|| "-".to_string(), |e| e.name.clone());
    let loadable = app.retention_plan().cloned().unwrap_or_default();
    let mut first = vec![
        Span::styled("service ", theme.muted),
        Span::styled(format!("‹ {service} ›"), theme.accent),
        Span::styled("   environment ", theme.muted),
        Span::styled(format!("‹ {env_name} ›"), theme.accent),
    ];
    let mut second = Vec::new();
    if let Loadable::Loaded(plan) = &loadable {
        first.push(Span::styled(format!("   {}", plan.repository), theme.muted));
        let counts = plan.counts();
        second.push(if plan.is_noop() {
            Span::styled(format!("nothing to delete: {counts}"), theme.ok)
        } else {
            Span::styled(counts, theme.warn)
        });
        second.push(Span::styled(
            format!("   policy: {}", plan.policy.summary()),
            theme.muted,
        ));
    }
    first.extend(filter_span(app, theme, Screen::Retention));
    let [line1, line2] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(title);
    frame.render_widget(title_line(theme, first), line1);
    frame.render_widget(title_line(theme, second), line2);

    if !env.as_ref().is_some_and(|e| e.retention) {
        let with: Vec<&str> = app
            .environments
            .iter()
            .filter(|e| e.retention)
            .map(|e| e.name.as_str())
            .collect();
        let hint = if with.is_empty() {
            " no environment has one: add it to the configuration (see config.example.toml)"
                .to_string()
        } else {
            format!(
                " environments with one: {} (e / E to switch)",
                with.join(", ")
            )
        };
        frame.render_widget(
            Paragraph::new(vec![
                Line::from(Span::styled(
                    format!(" {env_name} has no [environment.retention] policy: nothing is planned here"),
                    theme.text,
                )),
                styled_line(hint, theme.muted),
            ])
            .wrap(Wrap { trim: false }),
            rest,
        );
        return;
    }
    if let Some(p) = placeholder(
        &loadable,
        &format!("the clean-up plan of {service} in {env_name}"),
        theme,
    ) {
        frame.render_widget(p, rest);
        return;
    }
    let rows = app.retention_rows();
    let now = app.now;
    let label = |row: &RetentionRow| match row {
        RetentionRow::Delete(i) | RetentionRow::Keep(i) => i.label(&app.tag_prefix),
        // The full tag repeats a 64-digit digest: shortened here, whole in the detail.
        RetentionRow::Orphan(s) => short_attachment(&s.tag),
    };
    let list = app.list(Screen::Retention);
    let (rest, detail) = split_detail(rest);
    // The selected row in full: the WHY column cuts long reasons.
    if let (Some(area), Some(row)) = (detail, rows.get(list.selected)) {
        frame.render_widget(
            Paragraph::new(retention_detail(*row, theme)).wrap(Wrap { trim: false }),
            area,
        );
    }
    let tag_width = rows
        .iter()
        .map(|r| label(r).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 40) as u16;
    // Narrow terminals drop the digest, then the age; what happens and why always stay.
    let columns = [
        ("ACTION", 6, 0),
        ("TAGS", tag_width, 1),
        ("DIGEST", 19, 4),
        ("AGE", 6, 3),
        ("WHY", 20, 2),
    ];
    // The planner reads created times only when its policy or ordering needs them.
    let any_created = rows.iter().any(
        |r| matches!(r, RetentionRow::Delete(i) | RetentionRow::Keep(i) if i.created.is_some()),
    );
    let mut kept = fitting_columns(
        rest.width,
        &columns.map(|(_, width, priority)| (width, priority)),
    );
    if !any_created {
        kept.retain(|&c| columns[c].0 != "AGE");
    }
    let (header, widths) = kept_columns(&kept, &columns);
    render_table(
        frame,
        theme,
        rest,
        TableSpec {
            header,
            widths,
            len: rows.len(),
            list,
            empty: "no image matches the filter",
            row_highlight: true,
        },
        |i| {
            let row = rows[i];
            let (action, style) = match row {
                RetentionRow::Delete(_) | RetentionRow::Orphan(_) => ("delete", theme.error),
                RetentionRow::Keep(_) => ("keep", theme.ok),
            };
            let (digest, created, why) = match row {
                RetentionRow::Delete(image) | RetentionRow::Keep(image) => {
                    let mut why = image.reason.clone();
                    // What goes with it, in short: the detail lines name it.
                    if matches!(row, RetentionRow::Delete(_)) {
                        if !image.signatures.is_empty() {
                            why.push_str(&format!("  +{} sig", image.signatures.len()));
                        }
                        if !image.children.is_empty() {
                            why.push_str(&format!("  +{} manifests", image.children.len()));
                        }
                    }
                    (
                        image.digest.short().to_string(),
                        image.created.as_deref(),
                        why,
                    )
                }
                RetentionRow::Orphan(signature) => (
                    signature.digest.short().to_string(),
                    None,
                    signature.decision.describe(),
                ),
            };
            let cell = |c: usize| match c {
                0 => Cell::from(Span::styled(action, style)),
                1 => Cell::from(label(&row)),
                2 => Cell::from(Span::styled(digest.clone(), theme.muted)),
                3 => Cell::from(age(created, now)),
                _ => Cell::from(Span::styled(why.clone(), theme.text)),
            };
            Row::new(kept.iter().map(|&c| cell(c)).collect::<Vec<_>>())
        },
    );
}

fn render_audit(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    let (title, rest) = split_title(body, 2);
    let mut first = vec![Span::styled("ledger", theme.title)];
    let mut second = Vec::new();
    if let Loadable::Loaded(view) = &app.audit {
        first.push(Span::styled(
            format!("   {} in {}", view.reference, view.repository),
            theme.muted,
        ));
        if let Some(remote) = &view.remote {
            first.push(Span::styled(
                format!("   shared with {remote}"),
                theme.muted,
            ));
        }
        second.extend(verification_spans(view, theme));
    }
    first.extend(filter_span(app, theme, Screen::Audit));
    let [line1, line2] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(title);
    frame.render_widget(title_line(theme, first), line1);
    frame.render_widget(title_line(theme, second), line2);
    if let Some(p) = placeholder(&app.audit, "the ledger", theme) {
        frame.render_widget(p, rest);
        return;
    }
    let rows = app.audit_rows();
    let list = app.list(Screen::Audit);
    let (rest, detail) = split_detail(rest);
    // The selected record in full: its id, exact time and what it says.
    if let (Some(area), Some(record), Loadable::Loaded(view)) =
        (detail, rows.get(list.selected), &app.audit)
    {
        frame.render_widget(Paragraph::new(audit_detail(record, view, theme)), area);
    }
    let content = |text: &dyn Fn(&Record) -> String, min: usize, max: usize| {
        rows.iter()
            .map(|r| text(r).chars().count())
            .max()
            .unwrap_or(0)
            .clamp(min, max) as u16
    };
    let who_width = content(&|r| r.actor.clone(), 3, 28);
    let service_width = content(&|r| audit_service(r).to_string(), 7, 24);
    let place_width = content(&audit_place, 5, 24);
    let tag_width = content(&|r| audit_tag(r).to_string(), 3, 24);
    // Narrow terminals drop the digest, the request, then the tag; what happened, to
    // what, where and by whom stay.
    let columns = [
        ("AGE", 5, 1),
        ("KIND", 9, 0),
        ("WHO", who_width, 3),
        ("SERVICE", service_width, 2),
        ("WHERE", place_width, 2),
        ("TAG", tag_width, 4),
        ("DIGEST", 19, 6),
        ("REQUEST", 12, 5),
    ];
    let kept = fitting_columns(
        rest.width,
        &columns.map(|(_, width, priority)| (width, priority)),
    );
    let (header, widths) = kept_columns(&kept, &columns);
    let empty = if app.filter(Screen::Audit).is_empty() {
        "the ledger has no records yet: promotions, approvals and rollbacks are recorded here"
    } else {
        "no record matches the filter"
    };
    let now = app.now;
    render_table(
        frame,
        theme,
        rest,
        TableSpec {
            header,
            widths,
            len: rows.len(),
            list,
            empty,
            row_highlight: true,
        },
        |i| {
            let record = rows[i];
            let kind_style = match record.kind {
                RecordKind::Promotion | RecordKind::Deploy => theme.ok,
                RecordKind::Rollback | RecordKind::Override | RecordKind::Deletion => theme.warn,
                RecordKind::Request | RecordKind::Approval | RecordKind::Other(_) => theme.accent,
            };
            let cell = |c: usize| match c {
                0 => Cell::from(Span::styled(age(Some(&record.at), now), theme.muted)),
                1 => Cell::from(Span::styled(record.kind.name().to_string(), kind_style)),
                2 => Cell::from(record.actor.clone()),
                3 => Cell::from(audit_service(record).to_string()),
                4 => Cell::from(audit_place(record)),
                5 => Cell::from(audit_tag(record).to_string()),
                6 => Cell::from(Span::styled(
                    record
                        .digest
                        .as_ref()
                        .map_or("-", |d| d.short())
                        .to_string(),
                    theme.muted,
                )),
                _ => Cell::from(Span::styled(
                    audit_request(record).unwrap_or("-").to_string(),
                    theme.muted,
                )),
            };
            Row::new(kept.iter().map(|&c| cell(c)).collect::<Vec<_>>())
        },
    );
}

/// Whether the chain holds (how long it is and where its head is), or where it breaks.
fn verification_spans(view: &AuditView, theme: &Theme) -> Vec<Span<'static>> {
    let verification = &view.verification;
    let mut spans = match &verification.problem {
        None => {
            let head = verification
                .head
                .as_deref()
                .map(|h| format!(", head {}", h.get(..12).unwrap_or(h)))
                .unwrap_or_default();
            let records = verification.records;
            let plural = if records == 1 { "" } else { "s" };
            vec![Span::styled(
                format!("✓ chain intact: {records} record{plural}{head}"),
                theme.ok,
            )]
        }
        Some(problem) => {
            let commit = problem
                .commit
                .as_deref()
                .map(|c| format!(" (commit {})", c.get(..12).unwrap_or(c)))
                .unwrap_or_default();
            // The message first: on a narrow terminal the commit is what gets cut.
            vec![Span::styled(
                format!(
                    "✗ chain broken at record {}: {problem}{commit}",
                    problem.position
                ),
                theme.error,
            )]
        }
    };
    if view.unpushed > 0 {
        spans.push(Span::styled(
            format!("   {} not pushed yet", view.unpushed),
            theme.warn,
        ));
    }
    for note in &view.notes {
        spans.push(Span::styled(format!("   {note}"), theme.muted));
    }
    spans
}

fn audit_service(record: &Record) -> &str {
    record.service.as_deref().unwrap_or("-")
}

fn audit_tag(record: &Record) -> &str {
    record.tag.as_deref().unwrap_or("-")
}

/// `from → to` for what moves between environments; a rollback stays in its environment.
fn audit_place(record: &Record) -> String {
    match (record.detail("from"), &record.environment) {
        (Some(from), Some(to)) if record.kind != RecordKind::Rollback => format!("{from} → {to}"),
        (_, Some(env)) => env.clone(),
        _ => "-".into(),
    }
}

/// The request a record is about: a request's own id, the one approved or carried out.
fn audit_request(record: &Record) -> Option<&str> {
    match record.kind {
        RecordKind::Request => Some(record.id.as_str()),
        _ => record.detail("request"),
    }
}

/// The selected record in words (its summary names the image and who did it), then its
/// id and exact time, and whether the chain breaks at it.
fn audit_detail(record: &Record, view: &AuditView, theme: &Theme) -> Vec<Line<'static>> {
    let when = record.at.get(..19).unwrap_or(&record.at).replace('T', " ");
    let mut second = vec![Span::styled(
        format!(" id {}  {when} UTC", record.id),
        theme.muted,
    )];
    let breaks_here = view
        .verification
        .problem
        .as_ref()
        .is_some_and(|p| p.position as u64 == record.seq);
    if breaks_here {
        second.push(Span::styled("  ✗ the chain breaks here", theme.error));
    }
    vec![
        styled_line(format!(" {}", record.summary()), theme.text),
        Line::from(second),
    ]
}

/// `sha256-<12 digits>….sig`: a cosign attachment tag repeats a whole digest.
fn short_attachment(tag: &str) -> String {
    match (tag.get(..19), tag.rsplit_once('.')) {
        (Some(start), Some((_, suffix))) if tag.len() > 24 => format!("{start}….{suffix}"),
        _ => tag.to_string(),
    }
}

/// Two lines on the selected retention row: what it is, then why and what goes with it.
fn retention_detail(row: RetentionRow, theme: &Theme) -> Vec<Line<'static>> {
    match row {
        RetentionRow::Delete(image) | RetentionRow::Keep(image) => {
            let deleting = matches!(row, RetentionRow::Delete(_));
            let first = vec![
                Span::styled(format!(" {}", image.tags.join(" ")), theme.title),
                Span::styled(format!("  {}", image.digest), theme.muted),
            ];
            let mut why = vec![Span::styled(
                if deleting { " delete: " } else { " keep: " },
                if deleting { theme.error } else { theme.ok },
            )];
            why.push(Span::styled(image.reason.clone(), theme.text));
            if !image.also.is_empty() {
                let also: Vec<String> = image.also.iter().map(|r| r.describe()).collect();
                why.push(Span::styled(
                    format!("; also {}", also.join("; ")),
                    theme.muted,
                ));
            }
            if deleting {
                let mut with: Vec<String> = image
                    .signatures
                    .iter()
                    .map(|tag| short_attachment(tag))
                    .collect();
                if !image.children.is_empty() {
                    with.push(format!("{} platform manifest(s)", image.children.len()));
                }
                if !with.is_empty() {
                    why.push(Span::styled(
                        format!("; with it: {}", with.join(", ")),
                        theme.muted,
                    ));
                }
            }
            vec![Line::from(first), Line::from(why)]
        }
        RetentionRow::Orphan(signature) => vec![
            styled_line(format!(" {}", signature.tag), theme.title),
            Line::from(vec![
                Span::styled(" delete: ", theme.error),
                Span::styled(signature.decision.describe(), theme.text),
                Span::styled(
                    " (an earlier run stopped between the two deletions)",
                    theme.muted,
                ),
            ]),
        ],
    }
}

fn progress_bar(done: u64, total: u64, width: usize) -> String {
    if total == 0 {
        return "─".repeat(width);
    }
    let filled = ((done.min(total) as f64 / total as f64) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

fn render_promotions(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    let (title, rest) = split_title(body, 1);
    let running = app
        .jobs
        .iter()
        .filter(|j| j.state == JobState::Running)
        .count();
    let mut parts = vec![
        Span::styled("promotions", theme.title),
        Span::styled(
            format!("   {running} running, {} in this session", app.jobs.len()),
            theme.muted,
        ),
    ];
    if let Some(requests) = app.requests.loaded().filter(|r| !r.is_empty()) {
        let waiting = requests.iter().filter(|r| !r.complete()).count();
        parts.push(Span::styled("   requests: ", theme.muted));
        parts.push(Span::styled(
            format!("{waiting} waiting"),
            if waiting > 0 { theme.warn } else { theme.muted },
        ));
        parts.push(Span::styled(
            format!(", {} approved", requests.len() - waiting),
            theme.muted,
        ));
    }
    if let Loadable::Failed(error) = &app.requests {
        // Otherwise a ledger that cannot be read looks like one with nothing waiting.
        let first_line = error.lines().next().unwrap_or_default();
        parts.push(Span::styled(
            format!("   requests: cannot load: {first_line}"),
            theme.error,
        ));
    }
    parts.extend(filter_span(app, theme, Screen::Promotions));
    frame.render_widget(title_line(theme, parts), title);
    // Requests waiting for approvals come first, then this session's promotions: one
    // list, so the same keys move over both and a click lands on the row it hits.
    let rows = app.promotion_rows();
    let list = app.list(Screen::Promotions);
    let (rest, detail) = split_detail(rest);
    if let Some(area) = detail {
        let lines = match rows.get(list.selected) {
            Some(PromotionRow::Request(request)) => request_detail(app, theme, request),
            Some(PromotionRow::Job(job)) => job_detail(theme, job),
            None => Vec::new(),
        };
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
    }
    let image = |row: &PromotionRow| match row {
        PromotionRow::Request(r) => r.image(),
        PromotionRow::Job(j) => j.label(),
    };
    let route = |row: &PromotionRow| match row {
        PromotionRow::Request(r) => format!("{} → {}", r.from, r.to),
        PromotionRow::Job(j) => format!("{} → {}", j.request.from, j.request.to),
    };
    let content = |text: &dyn Fn(&PromotionRow) -> String, min: usize| {
        rows.iter()
            .map(|row| text(row).chars().count())
            .max()
            .unwrap_or(0)
            .max(min) as u16
    };
    let image_width = content(&image, 5);
    let route_width = content(&route, 5);
    render_table(
        frame,
        theme,
        rest,
        TableSpec {
            header: vec!["STATE", "IMAGE", "ROUTE", "PROGRESS", "RESULT"],
            widths: vec![
                Constraint::Length(9),
                Constraint::Length(image_width),
                Constraint::Length(route_width),
                Constraint::Length(30),
                Constraint::Min(10),
            ],
            len: rows.len(),
            list,
            empty: "no promotion yet: press p on an image, a commit or an environment",
            row_highlight: true,
        },
        |i| {
            let row = &rows[i];
            let job = match row {
                PromotionRow::Request(request) => {
                    let (state, style) = if request.complete() {
                        ("approved", theme.ok)
                    } else {
                        ("waiting", theme.warn)
                    };
                    return Row::new(vec![
                        Cell::from(Span::styled(state, style)),
                        Cell::from(image(row)),
                        Cell::from(route(row)),
                        Cell::from(format!(
                            "{}/{} approvals",
                            request.approvers.len(),
                            request.needed
                        )),
                        // The id first: it is what `gantry approve` and the ledger use.
                        Cell::from(format!("{} by {}", request.id, request.requester)),
                    ]);
                }
                PromotionRow::Job(job) => job,
            };
            let (state, style) = match job.state {
                JobState::Running => ("running", theme.progress),
                JobState::Done => ("done", theme.ok),
                JobState::Failed => ("failed", theme.error),
                JobState::Refused => ("refused", theme.warn),
                JobState::Cancelled => ("cancelled", theme.muted),
            };
            let progress = match job.progress {
                Some(p) => {
                    let step = match p.step {
                        Step::Resolving => "resolve",
                        Step::Planning => "plan",
                        Step::CopyingBlobs => "copy",
                        Step::PushingManifests => "manifests",
                        Step::Tagging => "tag",
                        Step::Deploying => "deploy",
                        Step::Done => "done",
                    };
                    format!(
                        "{step:9} {} {}/{} {}",
                        progress_bar(p.bytes_done, p.bytes_total, 8),
                        p.blobs_done,
                        p.blobs_total,
                        human_bytes(p.bytes_done)
                    )
                }
                None if job.state == JobState::Running => "starting".into(),
                None => "-".into(),
            };
            Row::new(vec![
                Cell::from(Span::styled(state, style)),
                Cell::from(image(row)),
                Cell::from(route(row)),
                Cell::from(Span::styled(progress, theme.progress)),
                Cell::from(job.outcome.clone().unwrap_or_default()),
            ])
        },
    );
}

/// The selected promotion's result in full: the column cuts it.
fn job_detail(theme: &Theme, job: &JobView) -> Vec<Line<'static>> {
    let Some(outcome) = &job.outcome else {
        return Vec::new();
    };
    let style = match job.state {
        JobState::Done => theme.ok,
        JobState::Refused => theme.warn,
        JobState::Failed => theme.error,
        JobState::Running | JobState::Cancelled => theme.muted,
    };
    vec![Line::from(vec![
        Span::styled(format!(" {}: ", job.label()), theme.title),
        Span::styled(outcome.clone(), style),
    ])]
}

/// Who asked for the selected request, who approved it, and what comes next.
fn request_detail(app: &App, theme: &Theme, request: &RequestRow) -> Vec<Line<'static>> {
    let approvers = if request.approvers.is_empty() {
        String::new()
    } else {
        format!(" ({})", request.approvers.join(", "))
    };
    let mut spans = vec![
        Span::styled(format!(" request {}: ", request.id), theme.title),
        Span::styled(
            format!(
                "asked by {}; {} of {} approvals{approvers}",
                request.requester,
                request.approvers.len(),
                request.needed,
            ),
            theme.text,
        ),
    ];
    let next = if request.complete() {
        "   `gantry execute` promotes it".to_string()
    } else if app.allowed(Action::Approve) {
        format!("   {} approves", app.key_name(Action::Approve))
    } else {
        String::new()
    };
    spans.push(Span::styled(next, theme.muted));
    vec![Line::from(spans)]
}

fn render_help(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    // Help describes the screen it was opened from.
    let screen = app.help_for();
    let mut title = vec![Span::styled(
        format!(" keys on {}", screen.title()),
        theme.title,
    )];
    if app.readonly {
        title.push(Span::styled(
            "   read-only: actions that change registries or branches are off",
            theme.warn,
        ));
    }
    let (title_area, rest) = split_title(body, 1);
    frame.render_widget(Paragraph::new(Line::from(title)), title_area);
    let entries: Vec<(String, &str)> = app
        .keymap
        .bindings_for(screen)
        .into_iter()
        .filter(|b| app.allowed(b.action))
        .map(|binding| {
            let keys: Vec<String> = binding.keys.iter().map(|k| k.to_string()).collect();
            (keys.join(", "), binding.action.description())
        })
        .collect();
    let key_width = entries
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line> = entries
        .into_iter()
        .map(|(keys, description)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<key_width$}  "), theme.accent),
                Span::styled(description.to_string(), theme.text),
            ])
        })
        .collect();
    // As many columns as it takes to show every key, while every line still fits one.
    let height = rest.height.max(1) as usize;
    let widest = lines.iter().map(Line::width).max().unwrap_or(1).max(1) + 1;
    let columns = lines
        .len()
        .div_ceil(height)
        .clamp(1, (rest.width as usize / widest).max(1));
    let per_column = lines.len().div_ceil(columns).max(1);
    let areas = Layout::horizontal(vec![Constraint::Fill(1); columns]).split(rest);
    for (chunk, area) in lines.chunks(per_column).zip(areas.iter()) {
        frame.render_widget(Paragraph::new(chunk.to_vec()), *area);
    }
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// What a promotion will do, most important first (tags, refusal, volume, then where
/// from and to), so a small terminal cuts the least important lines.
fn plan_lines(plan: &Plan, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{}:{}", plan.service, plan.tag), theme.title),
        Span::styled(format!("  {} → {}", plan.from, plan.to), theme.text),
    ])];
    for tag in &plan.tags {
        let (text, style) = match &tag.action {
            TagAction::Create => ("create".to_string(), theme.ok),
            TagAction::Unchanged => ("unchanged".to_string(), theme.muted),
            TagAction::Move { from } => (format!("move from {}", from.short()), theme.warn),
            TagAction::Conflict { current } => (
                format!("CONFLICT: points at {}", current.short()),
                theme.error,
            ),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("tag {:<14}", tag.tag), theme.text),
            Span::styled(text, style),
        ]));
    }
    for gate in &plan.gates {
        let line = match &gate.outcome {
            crate::gates::GateOutcome::Pass { detail } => Line::from(vec![
                Span::styled(format!("gate {:<13}", gate.gate), theme.text),
                Span::styled(format!("pass  {detail}"), theme.ok),
            ]),
            crate::gates::GateOutcome::Blocked { reason, remedy } => Line::from(vec![
                Span::styled(format!("gate {:<13}", gate.gate), theme.text),
                Span::styled(format!("BLOCKED  {reason}; to pass: {remedy}"), theme.error),
            ]),
        };
        lines.push(line);
    }
    // Blocked gates already say why; repeat the refusal only when no gate explains it.
    if let Some(refusal) = &plan.refusal {
        if !plan.gates.iter().any(|g| g.is_blocked()) {
            lines.push(Line::from(Span::styled(
                format!("refused: {refusal}"),
                theme.error,
            )));
        }
    }
    let count = |a: BlobAction| plan.blobs.iter().filter(|b| b.action == a).count();
    let pushes = plan
        .manifests
        .iter()
        .filter(|m| m.action == ManifestAction::Push)
        .count();
    // A refused plan stops before counting blobs: no line of zeros.
    if !(plan.blobs.is_empty() && plan.manifests.is_empty()) {
        lines.push(Line::from(format!(
            "blobs: {} copy ({}), {} mount, {} present;  manifests: {} push",
            count(BlobAction::Copy),
            human_bytes(plan.bytes_to_transfer()),
            count(BlobAction::Mount),
            count(BlobAction::Present),
            pushes
        )));
    }
    lines.push(Line::from(Span::styled(
        format!("source {}@{}", plan.source, plan.digest.short()),
        theme.muted,
    )));
    lines.push(Line::from(Span::styled(
        format!("target {}", plan.target),
        theme.muted,
    )));
    if !plan.platforms.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("platforms {}", plan.platforms.join(", ")),
            theme.muted,
        )));
    }
    lines
}

/// Rows `line` takes when word-wrapped to `width`; rather one too many than one too few.
fn wrapped_rows(line: &Line, width: usize) -> usize {
    if width == 0 {
        return 1;
    }
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let mut rows = 1;
    let mut column = 0;
    for word in text.split_inclusive(' ') {
        let mut length = word.chars().count();
        if column > 0 && column + length.saturating_sub(1) > width {
            rows += 1;
            column = 0;
        }
        while length > width {
            rows += 1;
            length -= width;
        }
        column += length;
    }
    rows
}

/// Diff lines shown in the deploy dialog; `gantry deploy --dry-run` prints them all.
const DEPLOY_DIFF_LINES: usize = 12;

/// What a deploy would change (a dry run), or what it did.
fn deploy_lines(report: &DeployReport, theme: &Theme) -> Vec<Line<'static>> {
    let outcome = &report.outcome;
    let style = if outcome.failed() {
        theme.error
    } else {
        theme.ok
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{}:{}", report.service, report.tag), theme.title),
            Span::styled(format!("  {}", report.digest.short()), theme.muted),
            Span::styled(format!("  → {}", report.environment), theme.text),
        ]),
        styled_line(outcome.summary(), style),
    ];
    if let Some(reason) = &outcome.reason {
        lines.push(styled_line(reason.clone(), theme.error));
    }
    if outcome.dry_run {
        if let Some(gitops) = &outcome.gitops {
            if gitops.bump.diff.is_empty() {
                lines.push(Line::from(Span::styled(
                    format!("{} already pins this image: no commit", gitops.bump.file),
                    theme.muted,
                )));
            } else {
                lines.push(Line::from(Span::styled(
                    format!(
                        "commit to {} of {}:",
                        gitops.bump.branch, gitops.bump.repository
                    ),
                    theme.text,
                )));
                let diff: Vec<&str> = gitops.bump.diff.lines().collect();
                for line in diff.iter().take(DEPLOY_DIFF_LINES) {
                    let style = match line.chars().next() {
                        Some('+') if !line.starts_with("+++") => theme.ok,
                        Some('-') if !line.starts_with("---") => theme.error,
                        _ => theme.muted,
                    };
                    lines.push(styled_line(format!("  {line}"), style));
                }
                if diff.len() > DEPLOY_DIFF_LINES {
                    lines.push(Line::from(Span::styled(
                        format!("  … {} more lines", diff.len() - DEPLOY_DIFF_LINES),
                        theme.muted,
                    )));
                }
            }
        }
        if let Some(command) = &outcome.command {
            lines.push(Line::from(Span::styled(
                format!(
                    "would run (timeout {} s): {}",
                    command.timeout_secs, command.command
                ),
                theme.text,
            )));
        }
    }
    if let Some(rollout) = &outcome.rollout {
        lines.push(Line::from(Span::styled(
            format!("rollout: {}", rollout.command),
            theme.muted,
        )));
    }
    if let Some(retry) = &outcome.retry {
        lines.push(Line::from(Span::styled(
            format!("retry: {retry}"),
            theme.muted,
        )));
    }
    lines
}

fn deploy_dialog(
    theme: &Theme,
    service: &str,
    env: &str,
    plan: &Loadable<DeployReport>,
    outcome: &Loadable<DeployReport>,
) -> (String, Vec<Line<'static>>, &'static str) {
    let title = "Deploy".to_string();
    let failed = |e: &String| {
        vec![
            styled_line(format!("{service} in {env}"), theme.title),
            styled_line(e.clone(), theme.error),
        ]
    };
    match (plan, outcome) {
        (_, Loadable::Loaded(done)) => (title, deploy_lines(done, theme), "enter/esc close"),
        (_, Loadable::Failed(e)) => (title, failed(e), "enter/esc close"),
        (Loadable::Loaded(planned), Loadable::Loading) => {
            let mut lines = deploy_lines(planned, theme);
            lines.push(styled_line("deploying…", theme.progress));
            (title, lines, "deploying: wait for the result")
        }
        (Loadable::Loaded(planned), _) => {
            let keys = if planned.outcome.failed() {
                "esc close"
            } else {
                "y/enter deploy · esc cancel"
            };
            (title, deploy_lines(planned, theme), keys)
        }
        (Loadable::Failed(e), _) => (title, failed(e), "esc close"),
        _ => (
            title,
            vec![
                styled_line(format!("{service} in {env}"), theme.title),
                styled_line("reading what would change…", theme.muted),
            ],
            "esc cancel",
        ),
    }
}

/// Images listed by name in the confirmation; the rest are counted.
const CLEANUP_LISTED: usize = 8;

fn cleanup_dialog(
    app: &App,
    theme: &Theme,
    plan: &RetentionPlan,
    last: Option<&str>,
    deleted: usize,
    outcome: &Loadable<crate::retention::RetentionOutcome>,
) -> (String, Vec<Line<'static>>, &'static str) {
    let title = "Clean up".to_string();
    match outcome {
        Loadable::Idle => {
            let mut lines = vec![
                styled_line(plan.summary(), theme.warn),
                styled_line(plan.repository.clone(), theme.muted),
            ];
            for image in plan.delete.iter().take(CLEANUP_LISTED) {
                lines.push(Line::from(vec![
                    Span::styled("delete ", theme.error),
                    Span::styled(image.label(&app.tag_prefix), theme.text),
                    Span::styled(
                        format!("  {}  {}", image.digest.short(), image.reason),
                        theme.muted,
                    ),
                ]));
            }
            if plan.delete.len() > CLEANUP_LISTED {
                lines.push(Line::from(Span::styled(
                    format!(
                        "… and {} more (the Retention screen lists them all)",
                        plan.delete.len() - CLEANUP_LISTED
                    ),
                    theme.muted,
                )));
            }
            if !plan.orphan_signatures.is_empty() {
                lines.push(Line::from(Span::styled(
                    format!(
                        "and {} signature(s) whose image is already gone",
                        plan.orphan_signatures.len()
                    ),
                    theme.muted,
                )));
            }
            lines.push(Line::from(Span::styled(
                "deleted by digest with their signatures; each is checked again first and kept if a tag moved onto it since",
                theme.muted,
            )));
            (title, lines, "y/enter delete · esc cancel")
        }
        Loadable::Loading => {
            let mut lines = vec![Line::from(Span::styled(
                format!("deleting… {deleted} of {} done", plan.delete.len()),
                theme.progress,
            ))];
            if let Some(last) = last {
                lines.push(styled_line(last.to_string(), theme.muted));
            }
            (
                title,
                lines,
                "deleting: a stop now leaves the rest for a rerun",
            )
        }
        Loadable::Loaded(done) => {
            let mut lines = vec![Line::from(Span::styled(
                done.summary(),
                if done.failure.is_some() {
                    theme.warn
                } else {
                    theme.ok
                },
            ))];
            if let Some(failure) = &done.failure {
                lines.push(Line::from(Span::styled(
                    failure.message.clone(),
                    theme.error,
                )));
            }
            for kept in &done.kept {
                lines.push(Line::from(Span::styled(
                    format!("kept {}: {}", kept.tags.join(","), kept.reason),
                    theme.warn,
                )));
            }
            if !done.not_deleted.is_empty() {
                lines.push(Line::from(Span::styled(
                    format!(
                        "{} not deleted: run the clean-up again to continue",
                        done.not_deleted.len()
                    ),
                    theme.warn,
                )));
            }
            for warning in &done.ledger_warnings {
                lines.push(styled_line(warning.clone(), theme.warn));
            }
            if !done.deleted.is_empty() || !done.orphan_signatures_deleted.is_empty() {
                lines.push(Line::from(""));
                lines.extend(
                    RECLAIM_HINT
                        .lines()
                        .map(|l| styled_line(l.to_string(), theme.muted)),
                );
            }
            (title, lines, "enter/esc close")
        }
        Loadable::Failed(e) => (
            title,
            vec![
                styled_line(e.clone(), theme.error),
                styled_line("nothing was deleted", theme.muted),
            ],
            "enter/esc close",
        ),
    }
}

/// Everything the approval is about, so nobody approves a different image by a mistyped id.
fn approve_dialog(
    theme: &Theme,
    request: &RequestRow,
) -> (String, Vec<Line<'static>>, &'static str) {
    let mut lines = vec![
        Line::from(vec![
            Span::styled("approve request ", theme.text),
            Span::styled(request.id.clone(), theme.accent),
        ]),
        Line::from(vec![
            Span::styled(request.image(), theme.accent),
            Span::styled(format!("  {} → {}", request.from, request.to), theme.text),
        ]),
        styled_line(format!("requested by {}", request.requester), theme.text),
    ];
    let so_far = format!(
        "approvals so far: {} of {}",
        request.approvers.len(),
        request.needed
    );
    lines.push(if request.approvers.is_empty() {
        styled_line(so_far, theme.warn)
    } else {
        styled_line(
            format!("{so_far} ({})", request.approvers.join(", ")),
            theme.warn,
        )
    });
    lines.push(styled_line(
        "recorded in the ledger as this repository's git user.email; it cannot be taken back",
        theme.muted,
    ));
    ("Approve".into(), lines, "y/enter approve · esc cancel")
}

fn render_dialog(frame: &mut Frame, app: &App, theme: &Theme, dialog: &Dialog) {
    let (title, lines, keys): (String, Vec<Line>, &str) = match dialog {
        Dialog::Promotion {
            request,
            targets,
            plan,
        } => {
            let mut lines = Vec::new();
            // A loaded plan names the image itself, as resolved.
            if !matches!(plan, Loadable::Loaded(_)) {
                lines.push(Line::from(vec![
                    Span::styled("promote ", theme.text),
                    Span::styled(request.selector.to_string(), theme.accent),
                    Span::styled(format!("  {} → {}", request.from, request.to), theme.text),
                ]));
            }
            if targets.len() > 1 {
                lines.push(Line::from(Span::styled(
                    format!("targets: {} (tab: next)", targets.join(", ")),
                    theme.muted,
                )));
            }
            match plan {
                Loadable::Loaded(p) => lines.extend(plan_lines(p, theme)),
                Loadable::Failed(e) => lines.push(styled_line(e.clone(), theme.error)),
                _ => lines.push(styled_line("planning…", theme.muted)),
            }
            let keys = if matches!(plan, Loadable::Loaded(p) if p.refusal.is_none()) {
                "y/enter promote · esc cancel"
            } else {
                "esc close"
            };
            ("Promote".into(), lines, keys)
        }
        Dialog::Rollback {
            service,
            env,
            current,
            to,
        } => {
            let mut lines = vec![Line::from(vec![
                Span::styled("roll back ", theme.text),
                Span::styled(service.clone(), theme.accent),
                Span::styled(format!(" in {env}"), theme.text),
            ])];
            if let Some((tag, digest)) = current {
                lines.push(Line::from(format!("now     {tag} {}", digest.short())));
            }
            // Without a known tag the digest stands alone, once.
            let back_to = if to.0 == to.1.short() {
                to.0.clone()
            } else {
                format!("{} {}", to.0, to.1.short())
            };
            lines.push(Line::from(Span::styled(
                format!("back to {back_to}"),
                theme.warn,
            )));
            lines.push(Line::from(Span::styled(
                "only the mutable tag moves; nothing is copied",
                theme.muted,
            )));
            ("Rollback".into(), lines, "y/enter roll back · esc cancel")
        }
        Dialog::Release {
            commit,
            subject,
            version,
            force,
            outcome,
        } => {
            let mut lines = vec![
                Line::from(vec![
                    Span::styled("cut a release branch from ", theme.text),
                    Span::styled(commit.chars().take(10).collect::<String>(), theme.accent),
                ]),
                styled_line(subject.clone(), theme.muted),
                Line::from(vec![
                    Span::styled("version: ", theme.text),
                    Span::styled(
                        if version.is_empty() {
                            "(next minor)".to_string()
                        } else {
                            version.clone()
                        },
                        theme.accent,
                    ),
                    Span::styled("▏", theme.accent),
                ]),
                Line::from(Span::styled(
                    format!(
                        "force despite missing images: {}",
                        if *force { "yes" } else { "no" }
                    ),
                    if *force { theme.warn } else { theme.muted },
                )),
            ];
            match outcome {
                Loadable::Loading => lines.push(styled_line("cutting…", theme.muted)),
                Loadable::Loaded(o) => {
                    lines.push(Line::from(Span::styled(
                        format!("created {}", o.plan.branch),
                        theme.ok,
                    )));
                    if !o.missing_images.is_empty() {
                        lines.push(Line::from(Span::styled(
                            format!("missing images: {}", o.missing_images.join(", ")),
                            theme.warn,
                        )));
                    }
                }
                Loadable::Failed(e) => lines.push(styled_line(e.clone(), theme.error)),
                Loadable::Idle => {}
            }
            let keys = if matches!(outcome, Loadable::Loaded(_) | Loadable::Failed(_)) {
                "enter/esc close"
            } else {
                "type version · tab force · enter cut · esc cancel"
            };
            ("Release".into(), lines, keys)
        }
        Dialog::Hotfix { name, outcome } => {
            let mut lines = vec![Line::from(vec![
                Span::styled("hotfix/", theme.text),
                Span::styled(name.clone(), theme.accent),
                Span::styled("▏ from main's head", theme.muted),
            ])];
            match outcome {
                Loadable::Loading => lines.push(styled_line("creating…", theme.muted)),
                Loadable::Loaded(o) => lines.push(Line::from(Span::styled(
                    format!("created {}", o.plan.branch),
                    theme.ok,
                ))),
                Loadable::Failed(e) => lines.push(styled_line(e.clone(), theme.error)),
                Loadable::Idle => {}
            }
            (
                "Hotfix".into(),
                lines,
                "type a name · enter create · esc cancel",
            )
        }
        Dialog::Job(id) => {
            let Some(job) = app.jobs.iter().find(|j| j.id == *id) else {
                return;
            };
            let mut lines = Vec::new();
            match &job.plan {
                Some(plan) => lines.extend(plan_lines(plan, theme)),
                None => lines.push(Line::from(job.label())),
            }
            if let Some(outcome) = &job.outcome {
                lines.push(Line::from(""));
                lines.push(Line::from(outcome.clone()));
            }
            ("Promotion".into(), lines, "esc close")
        }
        Dialog::Approve(request) => approve_dialog(theme, request),
        Dialog::CleanUp {
            plan,
            last,
            deleted,
            outcome,
            ..
        } => cleanup_dialog(app, theme, plan, last.as_deref(), *deleted, outcome),
        Dialog::Deploy {
            service,
            env,
            plan,
            outcome,
        } => deploy_dialog(theme, service, env, plan, outcome),
    };
    let area = frame.area();
    let width = area.width.saturating_sub(4).min(96);
    // Wrapped rows, so a long refusal is not cut; the header and footer stay visible.
    let inner = width.saturating_sub(2) as usize;
    let rows: usize = lines.iter().map(|l| wrapped_rows(l, inner)).sum();
    let height = u16::try_from(rows)
        .unwrap_or(u16::MAX)
        .saturating_add(2)
        .min(area.height.saturating_sub(2));
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    // The keys sit on the bottom border: they show however little room there is.
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(format!(" {title} "), theme.title))
        .title_bottom(Span::styled(format!(" {keys} "), theme.muted));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .style(Style::default()),
        rect,
    );
}
