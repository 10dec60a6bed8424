//! Console themes: semantic style slots loaded from embedded or user TOML files.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const BUILT_IN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// Styles by meaning; screens never name a colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub text: Style,
    pub muted: Style,
    pub title: Style,
    pub border: Style,
    pub selection: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub progress: Style,
    pub accent: Style,
}

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error(
        "unknown theme `{0}` (built-in: dark, light, high-contrast; or a path to a .toml file)"
    )]
    Unknown(String),
    #[error("{}: cannot read: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}:{line}:{col}: {message}", .path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    text: RawStyle,
    muted: RawStyle,
    title: RawStyle,
    border: RawStyle,
    selection: RawStyle,
    ok: RawStyle,
    warn: RawStyle,
    error: RawStyle,
    progress: RawStyle,
    accent: RawStyle,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStyle {
    #[serde(default)]
    fg: Option<ColorName>,
    #[serde(default)]
    bg: Option<ColorName>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
}

#[derive(Clone, Copy)]
struct ColorName(Color);

impl<'de> Deserialize<'de> for ColorName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_color(&text).map(ColorName).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a colour (a name such as lightcyan, or #rrggbb)"
            ))
        })
    }
}

fn parse_color(text: &str) -> Option<Color> {
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let value = u32::from_str_radix(hex, 16).ok()?;
            return Some(Color::Rgb(
                (value >> 16) as u8,
                (value >> 8) as u8,
                value as u8,
            ));
        }
        return None;
    }
    Some(match text.to_ascii_lowercase().as_str() {
        "reset" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

impl RawStyle {
    fn style(&self, colour: bool) -> Style {
        let mut style = Style::default();
        if colour {
            if let Some(fg) = self.fg {
                style = style.fg(fg.0);
            }
            if let Some(bg) = self.bg {
                style = style.bg(bg.0);
            }
        }
        if self.bold {
            style = style.add_modifier(Modifier::BOLD);
        }
        if self.underline {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        // Without colour a selection must still show: reverse it.
        if self.reversed || (!colour && self.bg.is_some()) {
            style = style.add_modifier(Modifier::REVERSED);
        }
        style
    }
}

impl Theme {
    /// `name` is a built-in theme, a theme in `$XDG_CONFIG_HOME/gantry/themes/`, or a path
    /// to a `.toml` file (relative to `base`). `colour` false honours NO_COLOR.
    pub fn load(name: &str, base: &Path, colour: bool) -> Result<Theme, ThemeError> {
        if name.ends_with(".toml") || name.contains('/') {
            let path = if Path::new(name).is_absolute() {
                PathBuf::from(name)
            } else {
                base.join(name)
            };
            return Self::from_file(&path, colour);
        }
        if let Some(dir) = user_theme_dir() {
            let path = dir.join(format!("{name}.toml"));
            if path.is_file() {
                return Self::from_file(&path, colour);
            }
        }
        let (_, text) = BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ThemeError::Unknown(name.to_string()))?;
        Self::parse(text, Path::new(&format!("themes/{name}.toml")), colour)
    }

    pub fn from_file(path: &Path, colour: bool) -> Result<Theme, ThemeError> {
        let text = std::fs::read_to_string(path).map_err(|e| ThemeError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, path, colour)
    }

    pub fn parse(text: &str, path: &Path, colour: bool) -> Result<Theme, ThemeError> {
        let raw: RawTheme = toml::from_str(text).map_err(|e| {
            let (line, col) = crate::config::line_col(text, e.span().map_or(0, |s| s.start));
            ThemeError::Invalid {
                path: path.to_path_buf(),
                line,
                col,
                message: e.message().trim_end().to_string(),
            }
        })?;
        Ok(Theme {
            text: raw.text.style(colour),
            muted: raw.muted.style(colour),
            title: raw.title.style(colour),
            border: raw.border.style(colour),
            selection: raw.selection.style(colour),
            ok: raw.ok.style(colour),
            warn: raw.warn.style(colour),
            error: raw.error.style(colour),
            progress: raw.progress.style(colour),
            accent: raw.accent.style(colour),
        })
    }

    /// Colours unless `NO_COLOR` is set to anything non-empty (no-color.org).
    pub fn colour_wanted() -> bool {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }
}

fn user_theme_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("gantry").join("themes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_themes_load_and_differ() {
        let dark = Theme::load("dark", Path::new("."), true).unwrap();
        let light = Theme::load("light", Path::new("."), true).unwrap();
        let contrast = Theme::load("high-contrast", Path::new("."), true).unwrap();
        assert_ne!(dark, light);
        assert!(contrast.selection.add_modifier.contains(Modifier::REVERSED));
        assert_eq!(light.warn.fg, Some(Color::Rgb(0x9a, 0x67, 0x00)));
    }

    #[test]
    fn no_color_keeps_selection_visible() {
        let plain = Theme::load("dark", Path::new("."), false).unwrap();
        assert_eq!(plain.ok.fg, None);
        assert!(plain.selection.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn bad_theme_files_are_located() {
        let text = include_str!("../../themes/dark.toml").replace("\"lightgreen\"", "\"greenish\"");
        match Theme::parse(&text, Path::new("mine.toml"), true) {
            Err(ThemeError::Invalid { line, message, .. }) => {
                assert_eq!(line, 10);
                assert!(message.contains("greenish"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Theme::load("solarized", Path::new("."), true),
            Err(ThemeError::Unknown(_))
        ));
        let missing_slot = "text = { fg = \"white\" }\n";
        assert!(Theme::parse(missing_slot, Path::new("x.toml"), true).is_err());
    }
}
