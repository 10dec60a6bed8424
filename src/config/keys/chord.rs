//! Keys and chords without a terminal library: `q`, `G`, `ctrl-c`, `alt-enter`, `pgdn`,
//! parsed from `[keys]` and shown back in the same spelling.

use std::fmt;

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
