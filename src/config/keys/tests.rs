//! The keymap: every action and screen documented in the example configuration, lookups and rebinding.

use super::*;

#[test]
fn the_example_config_lists_every_action_and_screen() {
    let example = include_str!("../../../config.example.toml");
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
