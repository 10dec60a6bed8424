//! Drawing: a pure function of the console's state. The frame (header, footer) around
//! the current screen, each screen drawing itself, the registries that failed at its
//! foot, and the dialog on top.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;

use super::app::App;
use super::chrome::{render_footer, render_header};
use super::theme::Theme;
use super::widgets::{has_detail, DETAIL_ROWS};
use crate::config::keys::Screen;

/// Where things are on screen, shared by drawing and mouse handling.
pub struct Areas {
    pub header: Rect,
    /// What the current screen draws in.
    pub body: Rect,
    /// Under the body: one line per registry that failed as a whole (often none).
    pub registries: Rect,
    pub footer: Rect,
}

/// The areas of a terminal of `area` when no registry failed.
pub fn areas(area: Rect) -> Areas {
    areas_for(area, 0)
}

/// The areas of a terminal of `area` with `registry_lines` lines about failed registries:
/// they take rows from the foot of the body, leaving it at least a few.
pub fn areas_for(area: Rect, registry_lines: usize) -> Areas {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let rows = u16::try_from(registry_lines)
        .unwrap_or(u16::MAX)
        .min(body.height.saturating_sub(4));
    let [body, registries] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(rows)]).areas(body);
    Areas {
        header,
        body,
        registries,
        footer,
    }
}

/// The areas of a terminal of `area` as `app` draws it now.
pub fn areas_of(app: &App, area: Rect) -> Areas {
    areas_for(area, app.registry_lines().len())
}

/// Rows above the first list row inside the body (title line and table header), per screen.
pub fn list_top(screen: Screen) -> u16 {
    match screen {
        Screen::Images | Screen::Retention | Screen::Audit => 3,
        Screen::Environments
        | Screen::Commits
        | Screen::Branches
        | Screen::Promotions
        | Screen::Doctor => 2,
        Screen::Help => 1,
    }
}

/// How many list rows fit in `body` on `screen`: what `render` draws.
pub fn page_rows(screen: Screen, body: Rect) -> usize {
    let mut rows = body.height.saturating_sub(list_top(screen));
    // The detail lines under the list (see `split_detail`), under the one title line.
    let detail = match screen {
        Screen::Environments | Screen::Promotions | Screen::Retention | Screen::Audit => {
            DETAIL_ROWS
        }
        Screen::Doctor => super::screens::doctor::DETAIL_ROWS,
        _ => 0,
    };
    if detail > 0 && has_detail(body.height.saturating_sub(1), detail) {
        rows = rows.saturating_sub(detail);
    }
    rows.max(1) as usize
}

/// List rows of the current screen on a terminal of `area`, as `app` draws it now.
pub fn page_of(app: &App, area: Rect) -> usize {
    page_rows(app.screen, areas_of(app, area).body)
}

pub fn render(frame: &mut Frame, app: &App, theme: &Theme) {
    let registry_lines = app.registry_lines();
    let areas = areas_for(frame.area(), registry_lines.len());
    render_header(frame, app, theme, areas.header);
    let (ctx, body) = (&app.ctx, areas.body);
    match app.screen {
        Screen::Images => app.images.render(frame, ctx, theme, body),
        Screen::Environments => app.environments.render(frame, ctx, theme, body),
        Screen::Commits => app.commits.render(frame, ctx, &app.branches, theme, body),
        Screen::Branches => app.branches.render(frame, ctx, theme, body),
        Screen::Promotions => app.promotions.render(frame, ctx, theme, body),
        Screen::Retention => app.retention.render(frame, ctx, theme, body),
        Screen::Audit => app.audit.render(frame, ctx, theme, body),
        Screen::Doctor => app.doctor.render(frame, ctx, theme, body),
        Screen::Help => super::screens::help::render(frame, ctx, app.help_for(), theme, body),
    }
    super::registries::render(frame, &registry_lines, theme, areas.registries);
    render_footer(frame, app, theme, areas.footer);
    if let Some(dialog) = &app.dialog {
        dialog.render(frame, ctx, &app.promotions.jobs, theme);
    }
}
