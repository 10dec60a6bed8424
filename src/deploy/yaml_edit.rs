//! In-place edits of image references in YAML files: a kustomization's `images:` entry and
//! a dotted path through a Helm values file.
//!
//! Nothing is parsed into a tree and written back: a serializer would drop comments,
//! reorder keys and restyle quotes, and GitOps reviewers read these diffs. The editor reads
//! the file as lines, finds the scalar it was asked for by indentation, and replaces only
//! that scalar's characters (or inserts one line next to its siblings). Anything it cannot
//! be sure about (flow style, anchors and aliases, merge keys, block scalars, several
//! documents, duplicate keys) is refused with the line number, never guessed.
//!
//! `lines` reads lines and scalars, `doc` finds entries by indentation, `write` turns
//! changes into the new text; `kustomize` and `values` are the two edits offered.

mod doc;
mod kustomize;
mod lines;
mod values;
mod write;

pub use kustomize::{read_kustomize_image, set_kustomize_image, KustomizeImage};
pub use values::{read_value, set_value, ValuePath};
pub use write::is_plain_safe;

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

#[cfg(test)]
mod tests;
