//! The file as lines, and what one line says: a `key: value` entry, its scalar's place,
//! style and value as YAML reads it, and the constructs refused on it.

use super::{unsupported, EditError};

/// One line: its text without the line ending, and the ending (`\n`, `\r\n` or none).
#[derive(Debug, Clone)]
pub(super) struct Line<'a> {
    pub(super) text: &'a str,
    pub(super) eol: &'a str,
}

impl Line<'_> {
    pub(super) fn indent(&self) -> usize {
        self.text.len() - self.text.trim_start_matches(' ').len()
    }

    /// Blank or comment-only lines carry no structure.
    pub(super) fn is_significant(&self) -> bool {
        let rest = self.text.trim_start_matches([' ', '\t']);
        !(rest.is_empty() || rest.starts_with('#'))
    }

    pub(super) fn content(&self) -> &str {
        &self.text[self.indent()..]
    }
}

pub(super) fn split_lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|raw| {
            if let Some(body) = raw.strip_suffix("\r\n") {
                Line {
                    text: body,
                    eol: "\r\n",
                }
            } else if let Some(body) = raw.strip_suffix('\n') {
                Line {
                    text: body,
                    eol: "\n",
                }
            } else {
                Line { text: raw, eol: "" }
            }
        })
        .collect()
}

/// A `key: value` line, located within the line's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyLine {
    pub(super) key: String,
    pub(super) value: Scalar,
}

/// The value after `key:` on the same line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scalar {
    /// Byte range of the value token in the line (empty at the insertion point when absent).
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) style: Style,
    /// The value as YAML reads it (quotes removed, escapes applied).
    pub(super) text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// Nothing after the colon (or only a comment): null, or a nested block.
    Empty,
    Plain,
    Single,
    Double,
    /// A quoted scalar that goes on over the next lines.
    Unclosed,
}

impl Scalar {
    /// `null`, `~` and an empty value all read as "no value".
    pub(super) fn value(&self) -> Option<&str> {
        match self.style {
            Style::Empty => None,
            Style::Plain if matches!(self.text.as_str(), "~" | "null" | "Null" | "NULL") => None,
            Style::Unclosed => None,
            _ => Some(&self.text),
        }
    }
}

/// Where a quoted scalar starting at `s[0]` closes: the byte index just past the closing
/// quote, or `None` when it continues on the next line.
pub(super) fn quoted_end(s: &str, quote: char) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            ('"', b'\\') => i += 2,
            ('"', b'"') => return Some(i + 1),
            ('\'', b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            ('\'', b'\'') => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn unquote_double(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Parses `key: value # comment` starting at byte `at` of `text`. `None` when the text
/// there is not a mapping entry (a sequence item, a bare scalar...).
pub(super) fn parse_key_line(
    text: &str,
    at: usize,
    number: usize,
) -> Result<Option<KeyLine>, EditError> {
    let rest = &text[at..];
    let (key, after_key) = if rest.starts_with('"') || rest.starts_with('\'') {
        let quote = if rest.starts_with('"') { '"' } else { '\'' };
        let Some(end) = quoted_end(rest, quote) else {
            return Ok(None);
        };
        let inner = &rest[1..end - 1];
        let key = if quote == '"' {
            unquote_double(inner)
        } else {
            inner.replace("''", "'")
        };
        if !rest[end..].starts_with(':') {
            return Ok(None);
        }
        (key, at + end + 1)
    } else {
        if rest.starts_with("? ") || rest == "?" {
            return Err(unsupported(number, "complex mapping keys (`? `)"));
        }
        if rest.starts_with("- ") || rest == "-" || rest.starts_with('#') {
            return Ok(None);
        }
        // A plain key ends at the first `: ` (or a colon closing the line).
        let bytes = rest.as_bytes();
        let mut colon = None;
        for (i, b) in bytes.iter().enumerate() {
            if *b == b':' && matches!(bytes.get(i + 1), None | Some(b' ') | Some(b'\t')) {
                colon = Some(i);
                break;
            }
            if *b == b'#' && i > 0 && bytes[i - 1] == b' ' {
                break;
            }
        }
        let Some(colon) = colon else {
            return Ok(None);
        };
        (rest[..colon].trim_end().to_string(), at + colon + 1)
    };
    let value = parse_value(text, after_key);
    Ok(Some(KeyLine { key, value }))
}

/// The scalar starting after a colon at byte `from` of `text`.
fn parse_value(text: &str, from: usize) -> Scalar {
    let skipped = text[from..].len() - text[from..].trim_start_matches([' ', '\t']).len();
    let start = from + skipped;
    let rest = &text[start..];
    if rest.is_empty() || rest.starts_with('#') {
        return Scalar {
            start,
            end: start,
            style: Style::Empty,
            text: String::new(),
        };
    }
    match rest.as_bytes()[0] {
        b'"' | b'\'' => {
            let quote = rest.as_bytes()[0] as char;
            let Some(end) = quoted_end(rest, quote) else {
                return Scalar {
                    start,
                    end: text.len(),
                    style: Style::Unclosed,
                    text: String::new(),
                };
            };
            let inner = &rest[1..end - 1];
            let value = if quote == '"' {
                unquote_double(inner)
            } else {
                inner.replace("''", "'")
            };
            Scalar {
                start,
                end: start + end,
                style: if quote == '"' {
                    Style::Double
                } else {
                    Style::Single
                },
                text: value,
            }
        }
        _ => {
            let bytes = rest.as_bytes();
            let mut end = rest.len();
            for i in 1..bytes.len() {
                if bytes[i] == b'#' && matches!(bytes[i - 1], b' ' | b'\t') {
                    end = i;
                    break;
                }
            }
            let token = rest[..end].trim_end_matches([' ', '\t']);
            Scalar {
                start,
                end: start + token.len(),
                style: Style::Plain,
                text: token.to_string(),
            }
        }
    }
}

/// Refuses values whose meaning depends on YAML features this editor does not follow.
pub(super) fn check_plain_structure(
    value: &Scalar,
    number: usize,
    key: &str,
) -> Result<(), EditError> {
    if value.style == Style::Unclosed {
        return Err(unsupported(
            number,
            format!("`{key}` is a quoted value spanning several lines"),
        ));
    }
    if value.style != Style::Plain {
        return Ok(());
    }
    let what = match value.text.as_bytes().first() {
        Some(b'{') | Some(b'[') => "flow style ({...} or [...])",
        Some(b'&') => "an anchor (&name)",
        Some(b'*') => "an alias (*name)",
        Some(b'!') => "a tag (!name)",
        Some(b'|') | Some(b'>') => "a block scalar (| or >)",
        _ => return Ok(()),
    };
    Err(unsupported(
        number,
        format!("`{key}` uses {what}; gantry only edits plain block mappings"),
    ))
}
