//! Changes written back: replacements and inserted lines applied to the original lines
//! (line endings kept), and values quoted only when a plain scalar would read otherwise.

use super::doc::Doc;
use super::lines::{Line, Scalar, Style};

/// A replacement or insertion, applied to the original lines.
#[derive(Debug)]
pub(super) enum Change {
    /// Replace bytes `start..end` of line `line` with `text`.
    Replace {
        line: usize,
        start: usize,
        end: usize,
        text: String,
    },
    /// Insert a new line (without ending) after line `after`.
    Insert { after: usize, text: String },
}

pub(super) fn apply(doc: &Doc<'_>, mut changes: Vec<Change>) -> String {
    // Inserts after the same line keep their order.
    changes.sort_by_key(|c| match c {
        Change::Replace { line, .. } => (*line, 0),
        Change::Insert { after, .. } => (*after, 1),
    });
    let eol = dominant_eol(&doc.lines);
    let mut out = String::from(doc.bom);
    let mut pending = changes.into_iter().peekable();
    for (i, line) in doc.lines.iter().enumerate() {
        let mut text = line.text.to_string();
        while let Some(Change::Replace { line: at, .. }) = pending.peek() {
            if *at != i {
                break;
            }
            if let Some(Change::Replace {
                start,
                end,
                text: new,
                ..
            }) = pending.next()
            {
                text.replace_range(start..end, &new);
            }
        }
        out.push_str(&text);
        let mut inserted = Vec::new();
        while let Some(Change::Insert { after, .. }) = pending.peek() {
            if *after != i {
                break;
            }
            if let Some(Change::Insert { text, .. }) = pending.next() {
                inserted.push(text);
            }
        }
        if inserted.is_empty() {
            out.push_str(line.eol);
            continue;
        }
        // The last line may lack an ending: the inserted lines take over its (lack of) one.
        let own = if line.eol.is_empty() { eol } else { line.eol };
        out.push_str(own);
        let count = inserted.len();
        for (n, new) in inserted.into_iter().enumerate() {
            out.push_str(&new);
            if n + 1 < count {
                out.push_str(own);
            } else {
                out.push_str(line.eol);
            }
        }
    }
    out
}

fn dominant_eol<'a>(lines: &[Line<'a>]) -> &'a str {
    let crlf = lines.iter().filter(|l| l.eol == "\r\n").count();
    let lf = lines.iter().filter(|l| l.eol == "\n").count();
    if crlf > lf {
        "\r\n"
    } else {
        "\n"
    }
}

/// `value` written in the style `old` had, or double-quoted when a plain scalar would
/// read as something else (a number, a boolean, null) or not parse.
pub(super) fn format_value(value: &str, old: Style) -> String {
    match old {
        Style::Double => double_quoted(value),
        Style::Single if !value.contains(['\n', '\r']) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ if is_plain_safe(value) => value.to_string(),
        _ => double_quoted(value),
    }
}

fn double_quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` reads back as the same string when written without quotes, under both
/// YAML 1.1 (Helm, kustomize's go-yaml) and 1.2 rules.
pub fn is_plain_safe(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || matches!(first, '.' | '/' | '_')) {
        return false;
    }
    if value.ends_with([' ', ':'])
        || value.contains(": ")
        || value.contains(" #")
        || value.chars().any(|c| c.is_control() || !c.is_ascii())
    {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    const RESERVED: [&str; 14] = [
        "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", ".nan", "-.inf",
        "+.inf",
    ];
    if RESERVED.contains(&lower.as_str()) {
        return false;
    }
    !looks_numeric(value)
}

/// Whether a YAML 1.1 or 1.2 reader could take `value` for a number (ints with `_`, floats,
/// 0x/0o/0b, sexagesimal `1:30`).
fn looks_numeric(value: &str) -> bool {
    let cleaned = value.replace('_', "");
    let unsigned = cleaned.trim_start_matches(['+', '-']);
    if cleaned.parse::<f64>().is_ok() {
        return true;
    }
    for (prefix, digits) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unsigned.strip_prefix(prefix) {
            if !rest.is_empty() && rest.chars().all(|c| c.is_digit(digits)) {
                return true;
            }
        }
    }
    let mut parts = unsigned.split(':');
    let head = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && !head.is_empty()
        && head.chars().all(|c| c.is_ascii_digit())
        && rest.iter().all(|p| {
            let whole = p.split('.').next().unwrap_or_default();
            !whole.is_empty()
                && whole.len() <= 2
                && p.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
}

/// The replacement for `scalar` on its line so that it reads `value`.
pub(super) fn replace_scalar(
    line_no: usize,
    line: &Line<'_>,
    scalar: &Scalar,
    value: &str,
) -> Change {
    if scalar.style == Style::Empty {
        // `key:` or `key: # comment`: the value goes right after the colon.
        let colon_end = line.text[..scalar.start]
            .trim_end_matches([' ', '\t'])
            .len();
        let has_comment = scalar.start < line.text.len();
        let text = if has_comment {
            format!(" {} ", format_value(value, Style::Empty))
        } else {
            format!(" {}", format_value(value, Style::Empty))
        };
        let end = if has_comment {
            scalar.start
        } else {
            line.text.len()
        };
        return Change::Replace {
            line: line_no,
            start: colon_end,
            end,
            text,
        };
    }
    Change::Replace {
        line: line_no,
        start: scalar.start,
        end: scalar.end,
        text: format_value(value, scalar.style),
    }
}
