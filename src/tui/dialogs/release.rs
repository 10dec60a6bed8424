//! The release dialog: cut `release/v<version>-sha-<short>` from the selected develop
//! commit; the version is typed (empty: the next minor), tab forces it despite missing
//! images. Cut once, then shows what was created.

use ratatui::text::{Line, Span};

use super::{cancels, confirms, Content};
use crate::config::keys::{Key, KeyChord};
use crate::engine::history::CutOutcome;
use crate::tui::context::{Ask, Context, Loadable};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::styled_line;

#[derive(Debug, Clone)]
pub struct ReleaseDialog {
    pub commit: String,
    pub subject: String,
    pub version: String,
    pub force: bool,
    pub outcome: Loadable<CutOutcome>,
}

impl ReleaseDialog {
    pub fn new(commit: String, subject: String) -> ReleaseDialog {
        ReleaseDialog {
            commit,
            subject,
            version: String::new(),
            force: false,
            outcome: Loadable::Idle,
        }
    }

    pub fn on_key(&mut self, chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
        if self.outcome.settled() && (confirms(chord) || cancels(chord)) {
            ctx.ask(Ask::Close);
            return if matches!(self.outcome, Loadable::Loaded(_)) {
                vec![Effect::LoadCommits, Effect::LoadBranches]
            } else {
                Vec::new()
            };
        }
        match chord.key {
            Key::Esc => ctx.ask(Ask::Close),
            // Once: a second enter while cutting must not cut again.
            Key::Enter if matches!(self.outcome, Loadable::Idle) => {
                self.outcome = Loadable::Loading;
                return vec![Effect::CutRelease {
                    commit: self.commit.clone(),
                    version: (!self.version.is_empty()).then(|| self.version.clone()),
                    force: self.force,
                }];
            }
            Key::Backspace => {
                self.version.pop();
            }
            Key::Tab => self.force = !self.force,
            Key::Char(c) if c.is_ascii_digit() || c == '.' => self.version.push(c),
            _ => {}
        }
        Vec::new()
    }

    pub fn content(&self, theme: &Theme) -> Content {
        let ReleaseDialog {
            commit,
            subject,
            version,
            force,
            outcome,
        } = self;
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
        let keys = if outcome.settled() {
            "enter/esc close"
        } else {
            "type version · tab force · enter cut · esc cancel"
        };
        Content {
            title: "Release",
            lines,
            keys,
        }
    }
}
