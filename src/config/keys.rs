//! Key bindings without a terminal: key chords, the actions they trigger, the default keymap.
//!
//! The console turns terminal key events into `KeyChord`s and looks them up here; the
//! configuration validates `[keys]` against the same tables, so a typo in an action
//! name or a key is refused with file:line:col before anything runs.

mod action;
mod chord;

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

pub use action::{Action, Screen};
pub use chord::{Key, KeyChord};

use super::validate::Validator;
use super::ConfigError;

/// One binding: the keys of an action, in one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub action: Action,
    pub keys: Vec<KeyChord>,
}

/// Global bindings plus per-screen ones; a screen's table wins over the global one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    pub global: Vec<Binding>,
    pub screens: BTreeMap<Screen, Vec<Binding>>,
}

fn bind(action: Action, keys: &[KeyChord]) -> Binding {
    Binding {
        action,
        keys: keys.to_vec(),
    }
}

const fn ch(c: char) -> KeyChord {
    KeyChord::plain(Key::Char(c))
}

impl Default for Keymap {
    fn default() -> Self {
        use Key::*;
        let p = KeyChord::plain;
        let global = vec![
            bind(Action::Quit, &[ch('q'), KeyChord::ctrl('c')]),
            bind(Action::Help, &[ch('?')]),
            bind(Action::Back, &[p(Esc)]),
            bind(Action::Refresh, &[KeyChord::ctrl('r'), ch('R')]),
            bind(Action::RefreshFresh, &[KeyChord::alt('r')]),
            bind(Action::Up, &[ch('k'), p(Up)]),
            bind(Action::Down, &[ch('j'), p(Down)]),
            bind(Action::PageUp, &[p(PageUp), KeyChord::ctrl('u')]),
            bind(Action::PageDown, &[p(PageDown), KeyChord::ctrl('d')]),
            bind(Action::Top, &[ch('g'), p(Home)]),
            bind(Action::Bottom, &[ch('G'), p(End)]),
            bind(Action::NextScreen, &[p(Tab)]),
            bind(Action::PrevScreen, &[p(BackTab)]),
            bind(Action::ShowCommits, &[ch('1')]),
            bind(Action::ShowBranches, &[ch('2')]),
            bind(Action::ShowImages, &[ch('3')]),
            bind(Action::ShowEnvironments, &[ch('4')]),
            bind(Action::ShowPromotions, &[ch('5')]),
            bind(Action::ShowRetention, &[ch('6')]),
            bind(Action::ShowAudit, &[ch('7')]),
            bind(Action::ShowDoctor, &[ch('!')]),
            bind(Action::Filter, &[ch('/')]),
            bind(Action::Palette, &[ch(':')]),
            bind(Action::Select, &[p(Enter)]),
        ];
        let mut screens = BTreeMap::new();
        screens.insert(
            Screen::Commits,
            vec![
                bind(Action::CutRelease, &[ch('c')]),
                bind(Action::Promote, &[ch('p')]),
                bind(Action::NextService, &[ch(']')]),
                bind(Action::PrevService, &[ch('[')]),
            ],
        );
        screens.insert(
            Screen::Branches,
            vec![bind(Action::StartHotfix, &[ch('h')])],
        );
        screens.insert(
            Screen::Images,
            vec![
                bind(Action::Promote, &[ch('p')]),
                bind(Action::NextService, &[ch(']'), p(Right)]),
                bind(Action::PrevService, &[ch('['), p(Left)]),
                bind(Action::NextEnvironment, &[ch('}'), ch('e')]),
                bind(Action::PrevEnvironment, &[ch('{'), ch('E')]),
            ],
        );
        screens.insert(
            Screen::Environments,
            vec![
                bind(Action::Promote, &[ch('p')]),
                bind(Action::Rollback, &[ch('b')]),
                bind(Action::Deploy, &[ch('D')]),
                bind(Action::Sort, &[ch('s')]),
                // Columns are environments here: left and right move between them.
                bind(Action::NextEnvironment, &[p(Right), ch('}'), ch('e')]),
                bind(Action::PrevEnvironment, &[p(Left), ch('{'), ch('E')]),
            ],
        );
        screens.insert(
            Screen::Promotions,
            vec![
                bind(Action::Approve, &[ch('a')]),
                bind(Action::CancelJob, &[ch('x')]),
                bind(Action::Rollback, &[ch('b')]),
            ],
        );
        screens.insert(
            Screen::Retention,
            vec![
                bind(Action::CleanUp, &[ch('d')]),
                bind(Action::NextService, &[ch(']'), p(Right)]),
                bind(Action::PrevService, &[ch('['), p(Left)]),
                bind(Action::NextEnvironment, &[ch('}'), ch('e')]),
                bind(Action::PrevEnvironment, &[ch('{'), ch('E')]),
            ],
        );
        // The ledger is read here, never written: the global keys are all it needs.
        screens.insert(Screen::Audit, Vec::new());
        // The checks only read: ctrl-r runs them again.
        screens.insert(Screen::Doctor, Vec::new());
        screens.insert(Screen::Help, Vec::new());
        Keymap { global, screens }
    }
}

impl Keymap {
    /// The action for `chord` on `screen`: the screen's own table first, then the global one.
    pub fn lookup(&self, screen: Screen, chord: KeyChord) -> Option<Action> {
        let find = |bindings: &[Binding]| {
            bindings
                .iter()
                .find(|b| b.keys.contains(&chord))
                .map(|b| b.action)
        };
        self.screens
            .get(&screen)
            .and_then(|b| find(b))
            .or_else(|| find(&self.global))
    }

    /// Every binding active on `screen` (its own first), for the help screen and footer.
    pub fn bindings_for(&self, screen: Screen) -> Vec<&Binding> {
        let own = self
            .screens
            .get(&screen)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let shadowed: Vec<KeyChord> = own.iter().flat_map(|b| b.keys.iter().copied()).collect();
        own.iter()
            .chain(
                self.global
                    .iter()
                    .filter(|b| b.keys.iter().any(|k| !shadowed.contains(k))),
            )
            .filter(|b| !b.keys.is_empty())
            .collect()
    }

    /// Replaces the keys of `action` in `scope` (None: global).
    pub fn rebind(&mut self, scope: Option<Screen>, action: Action, keys: Vec<KeyChord>) {
        let table = match scope {
            None => &mut self.global,
            Some(screen) => self.screens.entry(screen).or_default(),
        };
        match table.iter_mut().find(|b| b.action == action) {
            Some(binding) => binding.keys = keys,
            None => table.push(Binding { action, keys }),
        }
    }
}

impl Validator<'_> {
    /// Applies `[keys]` to the default keymap; an unknown action, screen or key is located.
    pub(super) fn keymap(
        &self,
        keys: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    ) -> Result<Keymap, ConfigError> {
        let mut keymap = Keymap::default();
        let chords = |value: &toml::Value, span: Range<usize>, action: &str| {
            let texts: Vec<&str> = match value {
                toml::Value::String(one) => vec![one.as_str()],
                toml::Value::Array(many) => many
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        self.error(
                            span.clone(),
                            format!("keys.{action}: expected a key or a list of keys"),
                        )
                    })?,
                _ => {
                    return Err(self.error(
                        span.clone(),
                        format!("keys.{action}: expected a key or a list of keys"),
                    ))
                }
            };
            texts
                .into_iter()
                .map(|t| {
                    KeyChord::parse(t)
                        .map_err(|why| self.error(span.clone(), format!("keys.{action}: {why}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let action_named = |name: &str, span: Range<usize>| {
            Action::from_name(name).ok_or_else(|| {
                self.error(
                    span,
                    format!(
                        "unknown action `{name}` in [keys] (known: {})",
                        Action::ALL.map(|a| a.name()).join(", ")
                    ),
                )
            })
        };
        for (name, value) in keys {
            if let toml::Value::Table(table) = value.get_ref() {
                let screen = Screen::from_name(name.get_ref()).ok_or_else(|| {
                    self.error(
                        name.span(),
                        format!(
                            "unknown screen `{}` in [keys] (known: {})",
                            name.get_ref(),
                            Screen::ALL.map(|s| s.name()).join(", ")
                        ),
                    )
                })?;
                for (action_name, keys) in table {
                    let action = action_named(action_name, value.span())?;
                    let chords = chords(keys, value.span(), action_name)?;
                    keymap.rebind(Some(screen), action, chords);
                }
            } else {
                let action = action_named(name.get_ref(), name.span())?;
                let chords = chords(value.get_ref(), value.span(), name.get_ref())?;
                keymap.rebind(None, action, chords);
            }
        }
        Ok(keymap)
    }
}

#[cfg(test)]
mod tests;
