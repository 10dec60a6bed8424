//! Terminal key events to the keymap's chords.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::config::keys::{Key, KeyChord};

/// The chord of a key press; `None` for releases and keys gantry has no name for.
pub fn chord(event: &KeyEvent) -> Option<KeyChord> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    let key = match event.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Delete => Key::Delete,
        KeyCode::F(n) => Key::F(n),
        _ => return None,
    };
    let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
    let key = match key {
        // Terminals report ctrl-C as 'c' with CONTROL; keep letters lower-case for lookup.
        Key::Char(c) if ctrl => Key::Char(c.to_ascii_lowercase()),
        other => other,
    };
    Some(KeyChord {
        key,
        ctrl,
        alt: event.modifiers.contains(KeyModifiers::ALT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_letters_stay_upper_case_and_ctrl_is_kept() {
        let shifted = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(chord(&shifted), Some(KeyChord::plain(Key::Char('G'))));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(chord(&ctrl_c), Some(KeyChord::ctrl('c')));
    }
}
