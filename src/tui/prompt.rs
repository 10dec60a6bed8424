//! The line being typed in the footer: a screen's filter, which applies as it is typed,
//! or a `:` command (a screen name, `service NAME`, `env NAME`, `approve ID`, `quit`).

use super::context::{Ask, Context, Level};
use super::effects::Effect;
use super::screens::promotions::READONLY_APPROVE;
use crate::config::keys::{Key, KeyChord, Screen};

/// A line being typed: a filter or a palette command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Filter { screen: Screen, text: String },
    Palette { text: String },
}

/// A key while `input` is being typed; `input` ends (`None`) on enter or esc.
pub fn on_key(input: &mut Option<Input>, chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
    let Some(line) = input.as_mut() else {
        return Vec::new();
    };
    let text = match line {
        Input::Filter { text, .. } | Input::Palette { text } => text,
    };
    match chord.key {
        Key::Esc => {
            if let Some(Input::Filter { screen, .. }) = input {
                ctx.filters.remove(screen);
            }
            *input = None;
        }
        Key::Enter => {
            if let Some(Input::Palette { text }) = input.take() {
                return run_palette(text.trim(), ctx);
            }
        }
        Key::Backspace => {
            text.pop();
        }
        Key::Char(c) if !chord.ctrl && !chord.alt => text.push(c),
        _ => {}
    }
    // Filters apply as they are typed.
    if let Some(Input::Filter { screen, text }) = input {
        if text.is_empty() {
            ctx.filters.remove(screen);
        } else {
            ctx.filters.insert(*screen, text.clone());
        }
        ctx.lists.entry(*screen).or_default().selected = 0;
    }
    Vec::new()
}

fn run_palette(command: &str, ctx: &mut Context) -> Vec<Effect> {
    let (word, rest) = command.split_once(' ').unwrap_or((command, ""));
    let rest = rest.trim();
    if word.is_empty() {
        return Vec::new();
    }
    if let Some(screen) = Screen::ALL.into_iter().find(|s| s.name().starts_with(word)) {
        if rest.is_empty() {
            ctx.ask(Ask::Show(screen));
            return Vec::new();
        }
    }
    match word {
        "q" | "quit" => ctx.ask(Ask::Quit),
        // As the headless command is called.
        "gc" => ctx.ask(Ask::Show(Screen::Retention)),
        "approve" | "a" => {
            if ctx.readonly {
                ctx.say(Level::Warn, READONLY_APPROVE);
                return Vec::new();
            }
            if rest.is_empty() {
                ctx.say(
                    Level::Warn,
                    "approve which request? `:approve ID` (the Promotions screen lists them)",
                );
                return Vec::new();
            }
            ctx.say(Level::Info, format!("approving {rest}…"));
            return vec![Effect::Approve(rest.to_string())];
        }
        "service" | "svc" | "s" => match ctx.services.iter().position(|s| s.starts_with(rest)) {
            Some(i) if !rest.is_empty() => {
                ctx.service_idx = i;
                ctx.forget_selection();
                ctx.ask(Ask::Show(Screen::Images));
            }
            _ => {
                let text = format!(
                    "no service `{rest}` (configured: {})",
                    ctx.services.join(", ")
                );
                ctx.say(Level::Warn, text);
            }
        },
        "env" | "environment" | "e" => {
            match ctx
                .environments
                .iter()
                .position(|e| e.name.starts_with(rest))
            {
                Some(i) if !rest.is_empty() => {
                    ctx.env_idx = i;
                    ctx.forget_selection();
                    ctx.ask(Ask::Show(Screen::Images));
                }
                _ => {
                    let names: Vec<_> = ctx.environments.iter().map(|e| e.name.as_str()).collect();
                    let text =
                        format!("no environment `{rest}` (configured: {})", names.join(", "));
                    ctx.say(Level::Warn, text);
                }
            }
        }
        _ => ctx.say(
            Level::Warn,
            format!(
                "unknown command `{word}`: try a screen name, `service NAME`, `env NAME` or `quit`"
            ),
        ),
    }
    Vec::new()
}
