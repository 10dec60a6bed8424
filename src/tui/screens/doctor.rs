//! The Doctor screen: `gantry doctor`'s checks, run in the background the first time the
//! screen is shown and again on ctrl-r; one line per check with its level and what to do
//! about it, the selected one in full below.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};
use ratatui::Frame;

use crate::config::keys::Screen;
use crate::engine::doctor::{Check, DoctorReport, Level};
use crate::tui::context::{Context, Loadable};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    filter_span, fitting_columns, kept_columns, placeholder, render_table, split_detail_rows,
    split_title, title_line, TableSpec,
};

/// Rows under the list for the selected check: its message and what to do, wrapped.
pub const DETAIL_ROWS: u16 = 4;

#[derive(Debug, Default)]
pub struct DoctorScreen {
    pub report: Loadable<DoctorReport>,
}

impl DoctorScreen {
    /// Runs the checks when they never ran (or `force`: ctrl-r runs them again).
    pub fn load(&mut self, force: bool) -> Vec<Effect> {
        self.report.load(force, Effect::RunDoctor)
    }

    pub fn on_report(&mut self, report: DoctorReport) {
        self.report = Loadable::Loaded(report);
    }

    /// The checks that match the filter, in the report's order.
    pub fn rows(&self, ctx: &Context) -> Vec<&Check> {
        let Loadable::Loaded(report) = &self.report else {
            return Vec::new();
        };
        ctx.filtered(Screen::Doctor, &report.checks, |c| {
            format!(
                "{} {} {} {} {}",
                c.level.word(),
                c.scope,
                c.check,
                c.message,
                c.fix.as_deref().unwrap_or_default()
            )
        })
    }

    pub fn render(&self, frame: &mut Frame, ctx: &Context, theme: &Theme, body: Rect) {
        let (title, rest) = split_title(body, 1);
        let mut parts = vec![Span::styled("set-up checks", theme.title)];
        if let Loadable::Loaded(report) = &self.report {
            let style = match (report.errors, report.warnings) {
                (0, 0) => theme.ok,
                (0, _) => theme.warn,
                _ => theme.error,
            };
            parts.push(Span::styled(format!("   {}", report.summary()), style));
        }
        parts.extend(filter_span(ctx, theme, Screen::Doctor));
        frame.render_widget(title_line(theme, parts), title);
        if let Some(p) = placeholder(&self.report, "the set-up checks", theme) {
            frame.render_widget(p, rest);
            return;
        }
        let rows = self.rows(ctx);
        let list = ctx.list(Screen::Doctor);
        let (rest, detail) = split_detail_rows(rest, DETAIL_ROWS);
        if let (Some(area), Some(check)) = (detail, rows.get(list.selected)) {
            let text = check_detail(check, theme);
            frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), area);
        }
        let width = |text: &dyn Fn(&Check) -> usize, min: usize, max: usize| {
            rows.iter()
                .map(|c| text(c))
                .max()
                .unwrap_or(0)
                .clamp(min, max) as u16
        };
        // Narrow terminals drop the check's name, then its scope; what to do stays.
        let columns = [
            ("LEVEL", 7, 0),
            ("SCOPE", width(&|c| c.scope.chars().count(), 5, 16), 1),
            ("CHECK", width(&|c| c.check.len(), 5, 12), 2),
            ("WHAT", 20, 0),
        ];
        let kept = fitting_columns(rest.width, &columns);
        let (header, widths) = kept_columns(&kept, &columns);
        let empty = "no check matches the filter";
        let spec = TableSpec::rows(header, widths, rows.len(), list, empty);
        render_table(frame, theme, rest, spec, |i| {
            let check = rows[i];
            let cell = |c: usize| match c {
                0 => Cell::from(Span::styled(
                    check.level.word(),
                    level_style(check.level, theme),
                )),
                1 => Cell::from(check.scope.clone()),
                2 => Cell::from(Span::styled(check.check, theme.muted)),
                _ => Cell::from(Line::from(what(check, theme))),
            };
            Row::new(kept.iter().map(|&c| cell(c)).collect::<Vec<_>>())
        });
    }
}

fn level_style(level: Level, theme: &Theme) -> ratatui::style::Style {
    match level {
        Level::Ok => theme.ok,
        Level::Warning => theme.warn,
        Level::Error => theme.error,
    }
}

/// The check's message, then what to do about it when it is not ok.
fn what(check: &Check, theme: &Theme) -> Vec<Span<'static>> {
    let mut spans = vec![Span::styled(check.message.clone(), theme.text)];
    if let Some(fix) = check.fix.as_ref().filter(|_| check.level != Level::Ok) {
        spans.push(Span::styled(format!(" → {fix}"), theme.accent));
    }
    spans
}

/// The selected check in full: level, scope and check, the message, what to do.
fn check_detail(check: &Check, theme: &Theme) -> Vec<Line<'static>> {
    let mut head = vec![
        Span::styled(
            format!(" {} ", check.level.word()),
            level_style(check.level, theme),
        ),
        Span::styled(format!("{} {}: ", check.scope, check.check), theme.title),
    ];
    let mut spans = what(check, theme);
    head.push(spans.remove(0));
    let mut lines = vec![Line::from(head)];
    if let Some(fix) = spans.pop() {
        lines.push(Line::from(fix));
    }
    lines
}
