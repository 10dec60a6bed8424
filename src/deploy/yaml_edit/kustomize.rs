//! A kustomization's `images:` entry: read, or its `newTag` and `digest` set as
//! `kustomize edit set image` would, every other byte left as it was.

use super::doc::{clip, Doc};
use super::lines::{check_plain_structure, parse_key_line, KeyLine, Style};
use super::write::{apply, format_value, replace_scalar, Change};
use super::{unsupported, EditError};

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
