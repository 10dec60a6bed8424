//! The Help screen: the keys of the screen it was opened from, built from the keymap
//! (read-only leaves out what writes), in as many columns as fit.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::config::keys::Screen;
use crate::tui::context::Context;
use crate::tui::theme::Theme;
use crate::tui::widgets::split_title;

/// The keys of `screen`, the one help was opened from.
pub fn render(frame: &mut Frame, ctx: &Context, screen: Screen, theme: &Theme, body: Rect) {
    let mut title = vec![Span::styled(
        format!(" keys on {}", screen.title()),
        theme.title,
    )];
    if ctx.readonly {
        title.push(Span::styled(
            "   read-only: actions that change registries or branches are off",
            theme.warn,
        ));
    }
    let (title_area, rest) = split_title(body, 1);
    frame.render_widget(Paragraph::new(Line::from(title)), title_area);
    let entries: Vec<(String, &str)> = ctx
        .keymap
        .bindings_for(screen)
        .into_iter()
        .filter(|b| ctx.allowed(b.action))
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
