//! The single YAML document of a file: its lines, and the mapping entries at one
//! indentation, found without building a tree (duplicates and stray lines refused).

use super::lines::{parse_key_line, quoted_end, split_lines, KeyLine, Line, Style};
use super::{unsupported, EditError};

/// The file as lines, with the range of the (single) document's content.
pub(super) struct Doc<'a> {
    /// A byte-order mark before the first line, written back as it was.
    pub(super) bom: &'a str,
    pub(super) lines: Vec<Line<'a>>,
    pub(super) first: usize,
    pub(super) end: usize,
}

impl<'a> Doc<'a> {
    pub(super) fn parse(text: &'a str) -> Result<Doc<'a>, EditError> {
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

    pub(super) fn significant(&self, from: usize, to: usize) -> impl Iterator<Item = usize> + '_ {
        (from..to).filter(|&i| self.lines[i].is_significant())
    }

    /// The end (exclusive) of the block of lines belonging to the entry on line `at`,
    /// whose own indentation is `indent`: up to the next significant line indented no
    /// deeper. Multi-line quoted scalars are skipped whole.
    pub(super) fn block_end(&self, at: usize, indent: usize, limit: usize) -> usize {
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
    pub(super) fn entries(
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
    pub(super) fn find<'e>(
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
    pub(super) fn compact_sequence_follows(&self, at: usize, indent: usize, to: usize) -> bool {
        self.significant(at + 1, to).next().is_some_and(|i| {
            let line = &self.lines[i];
            let content = line.content();
            line.indent() == indent && (content.starts_with("- ") || content == "-")
        })
    }

    /// The indentation of the first significant line in `from..to`, if any.
    pub(super) fn first_indent(&self, from: usize, to: usize) -> Option<(usize, usize)> {
        self.significant(from, to)
            .next()
            .map(|i| (i, self.lines[i].indent()))
    }
}

pub(super) fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
