//! Pieces every screen and dialog draws with: tables that fit their columns to the
//! width, title lines, placeholders for data not there yet, detail rows, ages, bars.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::context::{Context, ListView, Loadable};
use super::theme::Theme;
use crate::config::keys::Screen;

/// A screen's title line: `parts` after a space.
pub fn title_line(theme: &Theme, parts: Vec<Span<'static>>) -> Paragraph<'static> {
    let mut spans = vec![Span::raw(" ")];
    spans.extend(parts);
    Paragraph::new(Line::from(spans)).style(theme.text)
}

/// A status line for data that is not (yet) there.
pub fn placeholder<T>(
    loadable: &Loadable<T>,
    what: &str,
    theme: &Theme,
) -> Option<Paragraph<'static>> {
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
pub struct TableSpec<'a> {
    pub header: Vec<&'a str>,
    pub widths: Vec<Constraint>,
    pub len: usize,
    pub list: ListView,
    /// Said instead of an empty table.
    pub empty: &'a str,
    /// Whether the selected row is drawn as the selection (the matrix selects a cell).
    pub row_highlight: bool,
}

impl<'a> TableSpec<'a> {
    /// A list of `len` rows whose selected row is drawn as the selection.
    pub fn rows(
        header: Vec<&'a str>,
        widths: Vec<Constraint>,
        len: usize,
        list: ListView,
        empty: &'a str,
    ) -> Self {
        TableSpec {
            header,
            widths,
            len,
            list,
            empty,
            row_highlight: true,
        }
    }
}

/// Draws `rows` windowed to what fits: only visible rows are built.
pub fn render_table<'a>(
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
pub fn column_spacing(width: u16) -> u16 {
    if width < 60 {
        1
    } else {
        2
    }
}

/// The columns that fit `width`, in display order: `columns` is (header, width, priority),
/// a lower priority staying longer; the last kept column takes what is left.
pub fn fitting_columns(width: u16, columns: &[(&str, u16, u8)]) -> Vec<usize> {
    let spacing = column_spacing(width);
    let mut by_priority: Vec<usize> = (0..columns.len()).collect();
    by_priority.sort_by_key(|&i| columns[i].2);
    let mut kept: Vec<usize> = Vec::new();
    let mut used = 0u16;
    for i in by_priority {
        let extra = columns[i].1 + if kept.is_empty() { 0 } else { spacing };
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
pub fn kept_columns<'a>(
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
pub fn styled_line(text: impl Into<String>, style: Style) -> Line<'static> {
    Line::from(Span::styled(text.into(), style))
}

/// The first `title_rows` rows of `body` for titles, and the rest.
pub fn split_title(body: Rect, title_rows: u16) -> (Rect, Rect) {
    let [title, rest] =
        Layout::vertical([Constraint::Length(title_rows), Constraint::Min(1)]).areas(body);
    (title, rest)
}

/// Rows about the selected row under a list, shown when the list's area has this many.
pub const DETAIL_ROWS: u16 = 2;

/// Rows a list keeps (its header and a few rows) before a detail is shown under it.
const LIST_MIN_ROWS: u16 = 4;

/// Whether a list's area `height` rows high has room for `detail` rows under the list.
pub fn has_detail(height: u16, detail: u16) -> bool {
    height >= detail + LIST_MIN_ROWS
}

/// A list's area and, below it, two rows about the selected row when there is room.
pub fn split_detail(area: Rect) -> (Rect, Option<Rect>) {
    split_detail_rows(area, DETAIL_ROWS)
}

/// A list's area and, below it, `rows` rows about the selected row when there is room.
pub fn split_detail_rows(area: Rect, rows: u16) -> (Rect, Option<Rect>) {
    if !has_detail(area.height, rows) {
        return (area, None);
    }
    let [list, detail] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(rows)]).areas(area);
    (list, Some(detail))
}

/// `   filter: text` when `screen` has a filter, for its title line.
pub fn filter_span(ctx: &Context, theme: &Theme, screen: Screen) -> Vec<Span<'static>> {
    let filter = ctx.filter(screen);
    if filter.is_empty() {
        Vec::new()
    } else {
        vec![Span::styled(format!("   filter: {filter}"), theme.accent)]
    }
}

/// How long ago `created` (RFC 3339) was, in its largest unit: `5m`, `3d`.
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

/// `done` of `total` as a bar `width` characters wide.
pub fn progress_bar(done: u64, total: u64, width: usize) -> String {
    if total == 0 {
        return "─".repeat(width);
    }
    let filled = ((done.min(total) as f64 / total as f64) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// A `width` x `height` rectangle in the middle of `area` (cut to fit it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// Rows `line` takes when word-wrapped to `width`; rather one too many than one too few.
pub fn wrapped_rows(line: &Line, width: usize) -> usize {
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
