//! The console's frame around every screen: the header (tabs, running jobs, read-only)
//! and the footer (the line being typed, the last message, or the keys that apply here).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::app::App;
use super::context::Level;
use super::prompt::Input;
use super::theme::Theme;
use super::widgets::styled_line;
use crate::config::keys::{Action, Screen};

pub fn render_header(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let running = app.promotions.running();
    let mut status = Vec::new();
    if running > 0 {
        status.push(Span::styled(
            format!("  ⟳ {running} running"),
            theme.progress,
        ));
    }
    if app.ctx.readonly {
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
        // The doctor is no tab: it shows up here only while it is open.
        let doctor = (app.screen == Screen::Doctor).then(|| (doctor_key(app), Screen::Doctor));
        for (key, screen) in all.chain([("?".to_string(), Screen::Help)]).chain(doctor) {
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

/// The first global key that opens the doctor, as the header names it (`!`).
fn doctor_key(app: &App) -> String {
    app.ctx
        .keymap
        .global
        .iter()
        .find(|b| b.action == Action::ShowDoctor)
        .and_then(|b| b.keys.first())
        .map_or_else(|| ":".to_string(), ToString::to_string)
}

pub fn render_footer(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let line = match (&app.input, &app.ctx.message) {
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
        .ctx
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
    // Sorting is in help: the footer keeps its room for what acts on the selected row.
    let first_keys = own
        .iter()
        .filter(|b| b.action != Action::Sort)
        .filter(|b| app.ctx.allowed(b.action) && app.applies(b.action))
        .map(|b| (b.keys.first().copied(), b.action))
        .chain(globals.iter().map(|&action| {
            let key = app
                .ctx
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
