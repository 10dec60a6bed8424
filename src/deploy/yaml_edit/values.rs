//! A dotted path through a Helm values file: the scalar there read, or replaced in place.

pub use crate::config::deploy::ValuePath;

use super::doc::Doc;
use super::lines::{check_plain_structure, KeyLine, Style};
use super::write::{apply, replace_scalar};
use super::{unsupported, EditError};

/// The line holding the scalar at `path`.
fn find_value(doc: &Doc<'_>, path: &ValuePath) -> Result<(usize, KeyLine), EditError> {
    let Some((_, mut indent)) = doc.first_indent(doc.first, doc.end) else {
        return Err(EditError::Missing(format!(
            "the file is empty: no `{path}`"
        )));
    };
    let (mut from, mut to) = (doc.first, doc.end);
    let mut walked: Vec<&str> = Vec::new();
    for (n, key) in path.keys().iter().enumerate() {
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
        check_plain_structure(&entry.value, at + 1, &path.keys()[..=n].join("."))?;
        if entry.value.style == Style::Empty && doc.compact_sequence_follows(at, indent, to) {
            return Err(unsupported(
                at + 2,
                format!("`{}` is a list", path.keys()[..=n].join(".")),
            ));
        }
        if n + 1 == path.keys().len() {
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
                    path.keys()[..=n].join("."),
                    path.keys()[n + 1]
                ),
            ));
        }
        let end = doc.block_end(at, indent, to);
        let Some((_, child)) = doc.first_indent(at + 1, end) else {
            return Err(EditError::Missing(format!(
                "no `{path}`: `{}` is empty",
                path.keys()[..=n].join(".")
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
