//! Key bindings without a terminal: key chords, the actions they trigger, the default keymap.
//!
//! The console turns terminal key events into `KeyChord`s and looks them up here; the
//! configuration validates `[keys]` against the same tables, so a typo in an action
//! name or a key is refused with file:line:col before anything runs.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Everything a key can do in the console. Names (snake_case) are what `[keys]` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    Back,
    Refresh,
    /// Reload, reading every tag from the registries rather than the tag cache.
    RefreshFresh,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextScreen,
    PrevScreen,
    ShowCommits,
    ShowBranches,
    ShowImages,
    ShowEnvironments,
    ShowPromotions,
    ShowRetention,
    ShowAudit,
    ShowDoctor,
    Filter,
    Palette,
    Select,
    NextService,
    PrevService,
    NextEnvironment,
    PrevEnvironment,
    Promote,
    Rollback,
    CancelJob,
    CutRelease,
    StartHotfix,
    CleanUp,
    Deploy,
    Approve,
}

impl Action {
    pub const ALL: [Action; 36] = [
        Action::Quit,
        Action::Help,
        Action::Back,
        Action::Refresh,
        Action::RefreshFresh,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::NextScreen,
        Action::PrevScreen,
        Action::ShowCommits,
        Action::ShowBranches,
        Action::ShowImages,
        Action::ShowEnvironments,
        Action::ShowPromotions,
        Action::ShowRetention,
        Action::ShowAudit,
        Action::ShowDoctor,
        Action::Filter,
        Action::Palette,
        Action::Select,
        Action::NextService,
        Action::PrevService,
        Action::NextEnvironment,
        Action::PrevEnvironment,
        Action::Promote,
        Action::Rollback,
        Action::CancelJob,
        Action::CutRelease,
        Action::StartHotfix,
        Action::CleanUp,
        Action::Deploy,
        Action::Approve,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Back => "back",
            Action::Refresh => "refresh",
            Action::RefreshFresh => "refresh_fresh",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::NextScreen => "next_screen",
            Action::PrevScreen => "prev_screen",
            Action::ShowCommits => "show_commits",
            Action::ShowBranches => "show_branches",
            Action::ShowImages => "show_images",
            Action::ShowEnvironments => "show_environments",
            Action::ShowPromotions => "show_promotions",
            Action::ShowRetention => "show_retention",
            Action::ShowAudit => "show_audit",
            Action::ShowDoctor => "show_doctor",
            Action::Filter => "filter",
            Action::Palette => "palette",
            Action::Select => "select",
            Action::NextService => "next_service",
            Action::PrevService => "prev_service",
            Action::NextEnvironment => "next_environment",
            Action::PrevEnvironment => "prev_environment",
            Action::Promote => "promote",
            Action::Rollback => "rollback",
            Action::CancelJob => "cancel_job",
            Action::CutRelease => "cut_release",
            Action::StartHotfix => "start_hotfix",
            Action::CleanUp => "clean_up",
            Action::Deploy => "deploy",
            Action::Approve => "approve",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// What the help screen and footer say.
    pub fn description(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help: every key of this screen",
            Action::Back => "back / close",
            Action::Refresh => "reload from the registries",
            Action::RefreshFresh => "reload, every tag re-read",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::NextScreen => "next screen",
            Action::PrevScreen => "previous screen",
            Action::ShowCommits => "commits",
            Action::ShowBranches => "branches",
            Action::ShowImages => "images",
            Action::ShowEnvironments => "environments",
            Action::ShowPromotions => "promotions",
            Action::ShowRetention => "retention: clean-up plans",
            Action::ShowAudit => "audit: the ledger's records",
            Action::ShowDoctor => "doctor: check the set-up",
            Action::Filter => "filter this list",
            Action::Palette => "command palette",
            Action::Select => "open / details",
            Action::NextService => "next service",
            Action::PrevService => "previous service",
            Action::NextEnvironment => "next environment",
            Action::PrevEnvironment => "previous environment",
            Action::Promote => "promote the selected image",
            Action::Rollback => "roll back to the previous digest",
            Action::CancelJob => "cancel the selected promotion",
            Action::CutRelease => "cut a release branch here",
            Action::StartHotfix => "start a hotfix branch",
            Action::CleanUp => "delete what the plan deletes (asks first)",
            Action::Deploy => "deploy what the environment runs (shows the change first)",
            Action::Approve => "approve the selected request (asks first)",
        }
    }

    /// Actions that change a registry or a repository: hidden and refused when read-only.
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Action::Promote
                | Action::Rollback
                | Action::CancelJob
                | Action::CutRelease
                | Action::StartHotfix
                | Action::CleanUp
                | Action::Deploy
                | Action::Approve
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The console's screens, in tab order. Names key the per-screen `[keys.<screen>]` tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Screen {
    Commits,
    Branches,
    Images,
    Environments,
    Promotions,
    Retention,
    Audit,
    /// `gantry doctor`'s checks; not a tab: `!` or `:doctor` opens it.
    Doctor,
    Help,
}

impl Screen {
    pub const ALL: [Screen; 9] = [
        Screen::Commits,
        Screen::Branches,
        Screen::Images,
        Screen::Environments,
        Screen::Promotions,
        Screen::Retention,
        Screen::Audit,
        Screen::Doctor,
        Screen::Help,
    ];

    /// The screens tab and the number keys cycle through, in order (help is apart).
    pub const TABS: [Screen; 7] = [
        Screen::Commits,
        Screen::Branches,
        Screen::Images,
        Screen::Environments,
        Screen::Promotions,
        Screen::Retention,
        Screen::Audit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Screen::Commits => "commits",
            Screen::Branches => "branches",
            Screen::Images => "images",
            Screen::Environments => "environments",
            Screen::Promotions => "promotions",
            Screen::Retention => "retention",
            Screen::Audit => "audit",
            Screen::Doctor => "doctor",
            Screen::Help => "help",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Screen::Commits => "Commits",
            Screen::Branches => "Branches",
            Screen::Images => "Images",
            Screen::Environments => "Environments",
            Screen::Promotions => "Promotions",
            Screen::Retention => "Retention",
            Screen::Audit => "Audit",
            Screen::Doctor => "Doctor",
            Screen::Help => "Help",
        }
    }

    pub fn from_name(name: &str) -> Option<Screen> {
        Screen::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A named key, independent of any terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    Delete,
    F(u8),
}

/// A key with modifiers, as written in `[keys]`: `q`, `G`, `ctrl-c`, `alt-enter`, `pgdn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyChord {
    pub key: Key,
    pub ctrl: bool,
    pub alt: bool,
}

impl KeyChord {
    pub const fn plain(key: Key) -> KeyChord {
        KeyChord {
            key,
            ctrl: false,
            alt: false,
        }
    }

    pub const fn ctrl(c: char) -> KeyChord {
        KeyChord {
            key: Key::Char(c),
            ctrl: true,
            alt: false,
        }
    }

    pub const fn alt(c: char) -> KeyChord {
        KeyChord {
            key: Key::Char(c),
            ctrl: false,
            alt: true,
        }
    }

    pub fn parse(text: &str) -> Result<KeyChord, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("ctrl-") && rest.len() > 5 {
                ctrl = true;
                rest = &rest[5..];
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let key = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => Key::Enter,
            "esc" | "escape" => Key::Esc,
            "tab" => Key::Tab,
            "backtab" | "shift-tab" => Key::BackTab,
            "backspace" => Key::Backspace,
            "up" => Key::Up,
            "down" => Key::Down,
            "left" => Key::Left,
            "right" => Key::Right,
            "home" => Key::Home,
            "end" => Key::End,
            "pgup" | "pageup" => Key::PageUp,
            "pgdn" | "pagedown" => Key::PageDown,
            "delete" | "del" => Key::Delete,
            "space" => Key::Char(' '),
            lower => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if !c.is_control() => {
                        if ctrl {
                            Key::Char(c.to_ascii_lowercase())
                        } else {
                            Key::Char(c)
                        }
                    }
                    _ => match lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                        Some(n @ 1..=12) => Key::F(n),
                        _ => return Err(format!("`{text}` is not a key (examples: q, G, ?, ctrl-c, enter, esc, pgdn, f5)")),
                    },
                }
            }
        };
        Ok(KeyChord { key, ctrl, alt })
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.key {
            Key::Char(' ') => f.write_str("space"),
            Key::Char(c) => write!(f, "{c}"),
            Key::Enter => f.write_str("enter"),
            Key::Esc => f.write_str("esc"),
            Key::Tab => f.write_str("tab"),
            Key::BackTab => f.write_str("shift-tab"),
            Key::Backspace => f.write_str("backspace"),
            Key::Up => f.write_str("↑"),
            Key::Down => f.write_str("↓"),
            Key::Left => f.write_str("←"),
            Key::Right => f.write_str("→"),
            Key::Home => f.write_str("home"),
            Key::End => f.write_str("end"),
            Key::PageUp => f.write_str("pgup"),
            Key::PageDown => f.write_str("pgdn"),
            Key::Delete => f.write_str("del"),
            Key::F(n) => write!(f, "f{n}"),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_lists_every_action_and_screen() {
        let example = include_str!("../config.example.toml");
        let listed = |from: &str, to: &str| -> Vec<String> {
            let start = example.find(from).map_or(0, |i| i + from.len());
            let end = example[start..]
                .find(to)
                .map_or(example.len(), |i| start + i);
            example[start..end]
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        };
        let actions = listed("# Actions:", "[keys]");
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(actions, names, "config.example.toml's list of actions");
        let screens = listed("# screens:", "\n");
        let names: Vec<&str> = Screen::ALL.iter().map(|s| s.name()).collect();
        let mut sorted_names = names.clone();
        sorted_names.sort_unstable();
        let mut sorted = screens.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted, sorted_names,
            "config.example.toml's list of screens"
        );
    }

    #[test]
    fn chords_parse_and_print() {
        assert_eq!(KeyChord::parse("q").unwrap(), ch('q'));
        assert_eq!(KeyChord::parse("G").unwrap(), ch('G'));
        assert_eq!(KeyChord::parse("ctrl-C").unwrap(), KeyChord::ctrl('c'));
        assert_eq!(
            KeyChord::parse("pgdn").unwrap(),
            KeyChord::plain(Key::PageDown)
        );
        assert_eq!(KeyChord::parse("f5").unwrap(), KeyChord::plain(Key::F(5)));
        assert_eq!(
            KeyChord::parse("alt-enter").unwrap().to_string(),
            "alt-enter"
        );
        for bad in ["", "ctrl-", "foo", "f13", "qq"] {
            assert!(KeyChord::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn screen_table_wins_and_global_falls_back() {
        let keymap = Keymap::default();
        assert_eq!(
            keymap.lookup(Screen::Images, ch('p')),
            Some(Action::Promote)
        );
        assert_eq!(keymap.lookup(Screen::Branches, ch('p')), None);
        assert_eq!(keymap.lookup(Screen::Images, ch('q')), Some(Action::Quit));
        assert_eq!(
            keymap.lookup(Screen::Images, KeyChord::plain(Key::Right)),
            Some(Action::NextService)
        );
    }

    #[test]
    fn rebinding_replaces_keys() {
        let mut keymap = Keymap::default();
        keymap.rebind(None, Action::Quit, vec![ch('Q')]);
        assert_eq!(keymap.lookup(Screen::Images, ch('q')), None);
        assert_eq!(keymap.lookup(Screen::Images, ch('Q')), Some(Action::Quit));
    }

    #[test]
    fn action_names_round_trip() {
        for action in Action::ALL {
            assert_eq!(Action::from_name(action.name()), Some(action));
        }
        for screen in Screen::ALL {
            assert_eq!(Screen::from_name(screen.name()), Some(screen));
        }
    }
}
