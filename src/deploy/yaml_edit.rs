//! In-place edits of image references in YAML files: a kustomization's `images:` entry and
//! a dotted path through a Helm values file.
//!
//! Nothing is parsed into a tree and written back: a serializer would drop comments,
//! reorder keys and restyle quotes, and GitOps reviewers read these diffs. The editor reads
//! the file as lines, finds the scalar it was asked for by indentation, and replaces only
//! that scalar's characters (or inserts one line next to its siblings). Anything it cannot
//! be sure about (flow style, anchors and aliases, merge keys, block scalars, several
//! documents, duplicate keys) is refused with the line number, never guessed.

use std::fmt;

/// Why a file was not edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The key or entry asked for is not in the file.
    #[error("{0}")]
    Missing(String),
    /// The file uses a construct the editor does not change safely.
    #[error("line {line}: {what}")]
    Unsupported { line: usize, what: String },
}

fn unsupported(line: usize, what: impl Into<String>) -> EditError {
    EditError::Unsupported {
        line,
        what: what.into(),
    }
}

/// One line: its text without the line ending, and the ending (`\n`, `\r\n` or none).
#[derive(Debug, Clone)]
struct Line<'a> {
    text: &'a str,
    eol: &'a str,
}

impl Line<'_> {
    fn indent(&self) -> usize {
        self.text.len() - self.text.trim_start_matches(' ').len()
    }

    /// Blank or comment-only lines carry no structure.
    fn is_significant(&self) -> bool {
        let rest = self.text.trim_start_matches([' ', '\t']);
        !(rest.is_empty() || rest.starts_with('#'))
    }

    fn content(&self) -> &str {
        &self.text[self.indent()..]
    }
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
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
struct KeyLine {
    key: String,
    value: Scalar,
}

/// The value after `key:` on the same line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scalar {
    /// Byte range of the value token in the line (empty at the insertion point when absent).
    start: usize,
    end: usize,
    style: Style,
    /// The value as YAML reads it (quotes removed, escapes applied).
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
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
    fn value(&self) -> Option<&str> {
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
fn quoted_end(s: &str, quote: char) -> Option<usize> {
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
fn parse_key_line(text: &str, at: usize, number: usize) -> Result<Option<KeyLine>, EditError> {
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
fn check_plain_structure(value: &Scalar, number: usize, key: &str) -> Result<(), EditError> {
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

/// The file as lines, with the range of the (single) document's content.
struct Doc<'a> {
    /// A byte-order mark before the first line, written back as it was.
    bom: &'a str,
    lines: Vec<Line<'a>>,
    first: usize,
    end: usize,
}

impl<'a> Doc<'a> {
    fn parse(text: &'a str) -> Result<Doc<'a>, EditError> {
        let (bom, text) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (&text[..'\u{feff}'.len_utf8()], rest),
            None => ("", text),
        };
        let lines = split_lines(text);
        let mut first = 0;
        let mut seen_content = false;
        let mut end = lines.len();
        for (i, line) in lines.iter().enumerate() {
            let t = line.text;
            if !seen_content && t.starts_with('%') {
                first = i + 1;
                continue;
            }
            if t == "---" || t.starts_with("--- ") || t.starts_with("---\t") {
                let after = t[3..].trim_start();
                if !after.is_empty() && !after.starts_with('#') {
                    return Err(unsupported(i + 1, "content on the `---` line"));
                }
                if seen_content {
                    return Err(unsupported(
                        i + 1,
                        "several YAML documents in one file; keep one per file",
                    ));
                }
                first = i + 1;
                continue;
            }
            if t == "..." || t.starts_with("... ") {
                if let Some(after) = lines[i + 1..].iter().position(|l| l.is_significant()) {
                    return Err(unsupported(
                        i + after + 2,
                        "several YAML documents in one file; keep one per file",
                    ));
                }
                end = i;
                break;
            }
            if line.is_significant() {
                seen_content = true;
            }
        }
        Ok(Doc {
            bom,
            lines,
            first,
            end,
        })
    }

    fn significant(&self, from: usize, to: usize) -> impl Iterator<Item = usize> + '_ {
        (from..to).filter(|&i| self.lines[i].is_significant())
    }

    /// The end (exclusive) of the block of lines belonging to the entry on line `at`,
    /// whose own indentation is `indent`: up to the next significant line indented no
    /// deeper. Multi-line quoted scalars are skipped whole.
    fn block_end(&self, at: usize, indent: usize, limit: usize) -> usize {
        let mut i = at + 1;
        while i < limit {
            let line = &self.lines[i];
            if line.is_significant() && line.indent() <= indent {
                return i;
            }
            i += 1;
        }
        limit
    }

    /// The mapping entries at exactly `indent` among lines `from..to`, by key; lines
    /// indented deeper belong to an entry's value and are not looked into.
    fn entries(
        &self,
        from: usize,
        to: usize,
        indent: usize,
    ) -> Result<Vec<(usize, KeyLine)>, EditError> {
        let mut found: Vec<(usize, KeyLine)> = Vec::new();
        let mut i = from;
        while i < to {
            let line = &self.lines[i];
            if !line.is_significant() {
                i += 1;
                continue;
            }
            let number = i + 1;
            let here = line.indent();
            // A sequence may sit at its key's own indentation (`images:` then `- name: x`).
            let content = line.content();
            if here == indent
                && (content.starts_with("- ") || content == "-")
                && found.last().is_some_and(|(_, e)| {
                    e.value.style == Style::Empty || e.value.text.starts_with(['&', '!'])
                })
            {
                i += 1;
                continue;
            }
            if here < indent {
                return Err(unsupported(number, "indentation that leaves its mapping"));
            }
            if here > indent {
                i += 1;
                continue;
            }
            if line.text[here..].starts_with('\t') {
                return Err(unsupported(number, "a tab in the indentation"));
            }
            match parse_key_line(line.text, here, number)? {
                Some(entry) => {
                    let unclosed = entry.value.style == Style::Unclosed;
                    let open = entry.value.start;
                    found.push((i, entry));
                    // A multi-line quoted value is skipped to its closing quote.
                    i = if unclosed {
                        self.skip_multiline_quote(i, open, to)
                    } else {
                        i + 1
                    };
                }
                None => {
                    let content = line.content();
                    if content.starts_with("- ") || content == "-" {
                        return Err(unsupported(
                            number,
                            "a sequence where a mapping was expected",
                        ));
                    }
                    return Err(unsupported(
                        number,
                        format!("`{}` is not a `key: value` entry", clip(content)),
                    ));
                }
            }
        }
        Ok(found)
    }

    /// The line after the one closing a quoted scalar opened on line `at`.
    fn skip_multiline_quote(&self, at: usize, open: usize, to: usize) -> usize {
        let text = self.lines[at].text;
        let quote = text.as_bytes()[open] as char;
        // Carry the scalar across lines as one string and find where it closes.
        let mut joined = text[open..].to_string();
        let mut i = at + 1;
        while i < to {
            joined.push('\n');
            joined.push_str(self.lines[i].text);
            if quoted_end(&joined, quote).is_some() {
                return i + 1;
            }
            i += 1;
        }
        to
    }

    /// The single entry named `key` among `entries`; several are refused.
    fn find<'e>(
        &self,
        entries: &'e [(usize, KeyLine)],
        key: &str,
    ) -> Result<Option<&'e (usize, KeyLine)>, EditError> {
        let mut matching = entries.iter().filter(|(_, e)| e.key == key);
        let first = matching.next();
        if let Some((dup, _)) = matching.next() {
            return Err(unsupported(dup + 1, format!("`{key}` appears twice")));
        }
        Ok(first)
    }

    /// Whether the value of the key on line `at` (at `indent`) is a sequence written at
    /// the key's own indentation.
    fn compact_sequence_follows(&self, at: usize, indent: usize, to: usize) -> bool {
        self.significant(at + 1, to).next().is_some_and(|i| {
            let line = &self.lines[i];
            let content = line.content();
            line.indent() == indent && (content.starts_with("- ") || content == "-")
        })
    }

    /// The indentation of the first significant line in `from..to`, if any.
    fn first_indent(&self, from: usize, to: usize) -> Option<(usize, usize)> {
        self.significant(from, to)
            .next()
            .map(|i| (i, self.lines[i].indent()))
    }
}

fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// A replacement or insertion, applied to the original lines.
#[derive(Debug)]
enum Change {
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

fn apply(doc: &Doc<'_>, mut changes: Vec<Change>) -> String {
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
fn format_value(value: &str, old: Style) -> String {
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
fn replace_scalar(line_no: usize, line: &Line<'_>, scalar: &Scalar, value: &str) -> Change {
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

/// A kustomization's `images:` entry as it stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KustomizeImage {
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
}

/// The parsed `images:` entry named `name`: line of each key, and where new keys go.
struct ImageEntry {
    keys: Vec<(usize, KeyLine)>,
    /// Indentation of the entry's keys.
    indent: usize,
    /// The last significant line of the entry: new keys go after it.
    last: usize,
}

fn find_image_entry(doc: &Doc<'_>, name: &str) -> Result<ImageEntry, EditError> {
    let Some((_, root)) = doc.first_indent(doc.first, doc.end) else {
        return Err(EditError::Missing("the file is empty: no `images:`".into()));
    };
    let top = doc.entries(doc.first, doc.end, root)?;
    let Some((images_at, images)) = doc.find(&top, "images")? else {
        return Err(EditError::Missing(
            "no top-level `images:` in the kustomization".into(),
        ));
    };
    check_plain_structure(&images.value, images_at + 1, "images")?;
    if images.value.style != Style::Empty {
        return Err(unsupported(
            images_at + 1,
            "`images:` is not a block sequence (`- name: ...` lines)",
        ));
    }
    // A sequence under a key may sit at the key's own indentation.
    let mut end = images_at + 1;
    while end < doc.end {
        let line = &doc.lines[end];
        if line.is_significant() {
            let here = line.indent();
            let dash = line.content().starts_with("- ") || line.content() == "-";
            if here < root || (here == root && !dash) {
                break;
            }
        }
        end += 1;
    }
    let Some((_, seq_indent)) = doc.first_indent(images_at + 1, end) else {
        return Err(EditError::Missing(format!(
            "`images:` is empty: no entry with name: {name}"
        )));
    };
    let mut items = Vec::new();
    let mut i = images_at + 1;
    while i < end {
        let line = &doc.lines[i];
        if !line.is_significant() || line.indent() > seq_indent {
            i += 1;
            continue;
        }
        let number = i + 1;
        let content = line.content();
        if line.indent() < seq_indent || !(content.starts_with("- ") || content == "-") {
            return Err(unsupported(
                number,
                "an `images:` entry that is not a `- ` item",
            ));
        }
        let item_end = doc.block_end(i, seq_indent, end);
        let after_dash = &content[1..];
        let gap = after_dash.len() - after_dash.trim_start_matches(' ').len();
        let (keys, indent) = if after_dash.trim().is_empty() {
            // `-` alone: the entry's keys start on the next line.
            let Some((_, indent)) = doc.first_indent(i + 1, item_end) else {
                i = item_end;
                continue;
            };
            (doc.entries(i + 1, item_end, indent)?, indent)
        } else {
            let indent = seq_indent + 1 + gap;
            let first = after_dash.trim_start();
            if first.starts_with(['{', '[', '&', '*', '!']) {
                return Err(unsupported(
                    number,
                    "an `images:` entry in flow style or with an anchor, alias or tag",
                ));
            }
            let Some(head) = parse_key_line(line.text, indent, number)? else {
                return Err(unsupported(
                    number,
                    format!("`{}` is not a `name: ...` entry", clip(content)),
                ));
            };
            let mut keys = vec![(i, head)];
            keys.extend(doc.entries(i + 1, item_end, indent)?);
            (keys, indent)
        };
        let last = doc.significant(i, item_end).last().unwrap_or(i);
        items.push(ImageEntry { keys, indent, last });
        i = item_end;
    }
    let mut matching = Vec::new();
    let mut names = Vec::new();
    for item in items {
        let entry_name = item
            .keys
            .iter()
            .find(|(_, k)| k.key == "name")
            .and_then(|(_, k)| k.value.value().map(str::to_string));
        match entry_name {
            Some(n) if n == name => matching.push(item),
            Some(n) => names.push(n),
            None => {}
        }
    }
    match matching.len() {
        0 => Err(EditError::Missing(format!(
            "no `images:` entry with name: {name} (entries: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))),
        1 => {
            let entry = matching.remove(0);
            for (at, key) in &entry.keys {
                if key.key == "<<" {
                    return Err(unsupported(
                        at + 1,
                        "a merge key (`<<`) in the `images:` entry",
                    ));
                }
                check_plain_structure(&key.value, at + 1, &key.key)?;
            }
            Ok(entry)
        }
        _ => Err(unsupported(
            matching[1].keys[0].0 + 1,
            format!("two `images:` entries with name: {name}"),
        )),
    }
}

/// Reads the `images:` entry named `name` of a kustomization.
pub fn read_kustomize_image(text: &str, name: &str) -> Result<KustomizeImage, EditError> {
    let doc = Doc::parse(text)?;
    let entry = find_image_entry(&doc, name)?;
    let get = |key: &str| {
        entry
            .keys
            .iter()
            .find(|(_, k)| k.key == key)
            .and_then(|(_, k)| k.value.value().map(str::to_string))
    };
    Ok(KustomizeImage {
        new_name: get("newName"),
        new_tag: get("newTag"),
        digest: get("digest"),
    })
}

/// Sets `newTag` and `digest` of the `images:` entry named `name`, as
/// `kustomize edit set image name:tag@digest` would, changing nothing else: existing keys
/// get their value replaced in place (quotes and trailing comments kept), missing ones a
/// new line at the entry's indentation (`newTag` before `digest`).
pub fn set_kustomize_image(
    text: &str,
    name: &str,
    new_tag: Option<&str>,
    digest: Option<&str>,
) -> Result<String, EditError> {
    let doc = Doc::parse(text)?;
    let entry = find_image_entry(&doc, name)?;
    let existing = |key: &str| entry.keys.iter().find(|(_, k)| k.key == key);
    let mut changes = Vec::new();
    let pad = " ".repeat(entry.indent);
    for (key, value) in [("newTag", new_tag), ("digest", digest)] {
        let Some(value) = value else { continue };
        match existing(key) {
            Some((at, k)) => {
                if k.value.value() != Some(value) {
                    changes.push(replace_scalar(*at, &doc.lines[*at], &k.value, value));
                }
            }
            None => {
                // Before an existing digest, so the entry reads name, newTag, digest.
                let after = match (key, existing("digest")) {
                    // Not when digest opens the entry (`- digest: ...`): nothing goes above a dash.
                    ("newTag", Some((digest_at, _))) if *digest_at > entry.keys[0].0 => {
                        doc.significant(0, *digest_at).last().unwrap_or(entry.last)
                    }
                    _ => entry.last,
                };
                changes.push(Change::Insert {
                    after,
                    text: format!("{pad}{key}: {}", format_value(value, Style::Plain)),
                });
            }
        }
    }
    Ok(apply(&doc, changes))
}

/// A dotted path (`image.tag`) into a values file; keys containing dots cannot be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePath(Vec<String>);

impl ValuePath {
    pub fn parse(path: &str) -> Result<ValuePath, String> {
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        if parts.iter().any(|p| p.is_empty() || p.trim() != p) {
            return Err(format!(
                "`{path}` is not a dotted path of keys (such as `image.tag`)"
            ));
        }
        Ok(ValuePath(parts))
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// The line holding the scalar at `path`.
fn find_value(doc: &Doc<'_>, path: &ValuePath) -> Result<(usize, KeyLine), EditError> {
    let Some((_, mut indent)) = doc.first_indent(doc.first, doc.end) else {
        return Err(EditError::Missing(format!(
            "the file is empty: no `{path}`"
        )));
    };
    let (mut from, mut to) = (doc.first, doc.end);
    let mut walked: Vec<&str> = Vec::new();
    for (n, key) in path.0.iter().enumerate() {
        let entries = doc.entries(from, to, indent)?;
        let found = match doc.find(&entries, key)? {
            Some(found) => found.clone(),
            None => {
                if let Some((at, _)) = entries.iter().find(|(_, e)| e.key == "<<") {
                    return Err(unsupported(
                        at + 1,
                        format!(
                            "`{key}` is not in the mapping itself and the mapping merges another (`<<`)"
                        ),
                    ));
                }
                let place = if walked.is_empty() {
                    "at the top level".to_string()
                } else {
                    format!("under `{}`", walked.join("."))
                };
                return Err(EditError::Missing(format!(
                    "no `{path}`: no key `{key}` {place}"
                )));
            }
        };
        let (at, entry) = found;
        check_plain_structure(&entry.value, at + 1, &path.0[..=n].join("."))?;
        if entry.value.style == Style::Empty && doc.compact_sequence_follows(at, indent, to) {
            return Err(unsupported(
                at + 2,
                format!("`{}` is a list", path.0[..=n].join(".")),
            ));
        }
        if n + 1 == path.0.len() {
            let end = doc.block_end(at, indent, to);
            if entry.value.style == Style::Empty {
                if let Some((child, _)) = doc.first_indent(at + 1, end) {
                    return Err(unsupported(
                        child + 1,
                        format!("`{path}` is a mapping or a list, not a value"),
                    ));
                }
            }
            return Ok((at, entry));
        }
        if entry.value.style != Style::Empty {
            return Err(unsupported(
                at + 1,
                format!(
                    "`{}` is a value, not a mapping holding `{}`",
                    path.0[..=n].join("."),
                    path.0[n + 1]
                ),
            ));
        }
        let end = doc.block_end(at, indent, to);
        let Some((_, child)) = doc.first_indent(at + 1, end) else {
            return Err(EditError::Missing(format!(
                "no `{path}`: `{}` is empty",
                path.0[..=n].join(".")
            )));
        };
        walked.push(key);
        from = at + 1;
        to = end;
        indent = child;
    }
    Err(EditError::Missing(format!("no `{path}`")))
}

/// Reads the scalar at `path` in a values file; `None` when it is null or empty.
pub fn read_value(text: &str, path: &ValuePath) -> Result<Option<String>, EditError> {
    let doc = Doc::parse(text)?;
    let (_, entry) = find_value(&doc, path)?;
    Ok(entry.value.value().map(str::to_string))
}

/// Sets the scalar at `path` (which must exist) to `value`, keeping its quoting and any
/// trailing comment; every other byte of the file is left as it was.
pub fn set_value(text: &str, path: &ValuePath, value: &str) -> Result<String, EditError> {
    let doc = Doc::parse(text)?;
    let (at, entry) = find_value(&doc, path)?;
    if entry.value.value() == Some(value) {
        return Ok(text.to_string());
    }
    let change = replace_scalar(at, &doc.lines[at], &entry.value, value);
    Ok(apply(&doc, vec![change]))
}

#[cfg(test)]
mod tests;
