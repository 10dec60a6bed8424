//! Registries that failed as a whole, as the console shows them: one line per registry at
//! the foot of the screen that read it (which host, what failed in plain words, what it
//! affects), and a short mark in each cell it left unread. The selected cell's detail
//! keeps the full error.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::context::Context;
use super::theme::Theme;
use super::widgets::styled_line;
use crate::engine::failures::{group_by_host, Problem};
use crate::registry::failure::HostFailure;

/// Lines shown at most: more registries down are counted on the last one.
pub const MAX_LINES: usize = 3;

/// One line per registry whose failure explains some of `problems`, as the last loads of
/// `ctx` found them; problems no such failure explains keep their own error where they show.
pub fn lines(problems: &[Problem], ctx: &Context) -> Vec<String> {
    let (hosts, _) = group_by_host(problems, |env| ctx.registries.get(env).cloned());
    let mut lines: Vec<String> = hosts.iter().map(|group| group.line()).collect();
    if lines.len() > MAX_LINES {
        let more = lines.len() - (MAX_LINES - 1);
        lines.truncate(MAX_LINES - 1);
        lines.push(format!("… and {more} more registries failed"));
    }
    lines
}

/// What a cell that `failure` left unread shows instead of its error: `✗ host`.
pub fn mark(failure: &HostFailure) -> String {
    format!("✗ {}", failure.host)
}

/// The failure that left `env`'s cell unread, if its error is one of its registry's.
pub fn failure_of<'a>(ctx: &'a Context, env: &str, error: Option<&str>) -> Option<&'a HostFailure> {
    error.and(ctx.registries.get(env))
}

pub fn render(frame: &mut Frame, lines: &[String], theme: &Theme, area: Rect) {
    let shown: Vec<Line> = lines
        .iter()
        .take(area.height as usize)
        .map(|line| styled_line(format!(" ✗ {line}"), theme.error))
        .collect();
    frame.render_widget(Paragraph::new(shown), area);
}
