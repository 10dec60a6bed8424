//! Drawing: a pure function of the console's state. The frame (header, footer) around
//! the current screen, each screen drawing itself, and the dialog on top.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;

use super::app::App;
use super::chrome::{render_footer, render_header};
use super::theme::Theme;
use super::widgets::{DETAIL_MIN_AREA, DETAIL_ROWS};
use crate::keys::Screen;

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
    let (ctx, body) = (&app.ctx, areas.body);
    match app.screen {
        Screen::Images => app.images.render(frame, ctx, theme, body),
        Screen::Environments => app.environments.render(frame, ctx, theme, body),
        Screen::Commits => app.commits.render(frame, ctx, &app.branches, theme, body),
        Screen::Branches => app.branches.render(frame, ctx, theme, body),
        Screen::Promotions => app.promotions.render(frame, ctx, theme, body),
        Screen::Retention => app.retention.render(frame, ctx, theme, body),
        Screen::Audit => app.audit.render(frame, ctx, theme, body),
        Screen::Help => super::screens::help::render(frame, ctx, app.help_for(), theme, body),
    }
    render_footer(frame, app, theme, areas.footer);
    if let Some(dialog) = &app.dialog {
        dialog.render(frame, ctx, &app.promotions.jobs, theme);
    }
}
