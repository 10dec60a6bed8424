//! The hotfix dialog: name a `hotfix/<name>` branch to cut from main's head, then see
//! what was created.

use ratatui::text::{Line, Span};

use super::{cancels, confirms, Content};
use crate::config::keys::{Key, KeyChord};
use crate::engine::history::CutOutcome;
use crate::tui::context::{Ask, Context, Loadable};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::styled_line;

#[derive(Debug, Clone, Default)]
pub struct HotfixDialog {
    pub name: String,
    pub outcome: Loadable<CutOutcome>,
}

impl HotfixDialog {
    pub fn on_key(&mut self, chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
        if self.outcome.settled() && (confirms(chord) || cancels(chord)) {
            ctx.ask(Ask::Close);
            return if matches!(self.outcome, Loadable::Loaded(_)) {
                vec![Effect::LoadBranches]
            } else {
                Vec::new()
            };
        }
        match chord.key {
            Key::Esc => ctx.ask(Ask::Close),
            Key::Enter if !self.name.is_empty() && matches!(self.outcome, Loadable::Idle) => {
                self.outcome = Loadable::Loading;
                return vec![Effect::StartHotfix {
                    name: self.name.clone(),
                }];
            }
            Key::Backspace => {
                self.name.pop();
            }
            Key::Char(c) if c.is_ascii_alphanumeric() || "-_.".contains(c) => self.name.push(c),
            _ => {}
        }
        Vec::new()
    }

    pub fn content(&self, theme: &Theme) -> Content {
        let mut lines = vec![Line::from(vec![
            Span::styled("hotfix/", theme.text),
            Span::styled(self.name.clone(), theme.accent),
            Span::styled("▏ from main's head", theme.muted),
        ])];
        match &self.outcome {
            Loadable::Loading => lines.push(styled_line("creating…", theme.muted)),
            Loadable::Loaded(o) => lines.push(Line::from(Span::styled(
                format!("created {}", o.plan.branch),
                theme.ok,
            ))),
            Loadable::Failed(e) => lines.push(styled_line(e.clone(), theme.error)),
            Loadable::Idle => {}
        }
        Content {
            title: "Hotfix",
            lines,
            keys: "type a name · enter create · esc cancel",
        }
    }
}
