//! What the read-ahead knows of one pack's spans: those read (the furthest behind the
//! walk evicted first), those asked of the helper, and the walk's direction.

use super::{SpanCommits, SPANS_KEPT};

/// What is known of one pack's spans.
#[derive(Default)]
pub(super) struct PackGuesses {
    pub(super) read: Vec<(u32, SpanCommits)>,
    /// Spans asked of the helper and not yet answered.
    pub(super) asked: Vec<u32>,
    /// The span of the walk's last commit, and whether the walk moves toward the end.
    pub(super) last: Option<u32>,
    pub(super) backward: bool,
}

impl PackGuesses {
    pub(super) fn slot(&self, span: u32) -> Option<usize> {
        self.read.iter().position(|(s, _)| *s == span)
    }

    pub(super) fn known(&self, span: u32) -> bool {
        self.slot(span).is_some() || self.asked.contains(&span)
    }

    /// The span `steps` past `span` in the walk's direction, if the pack has it.
    pub(super) fn ahead(&self, span: u32, steps: u32, count: u32) -> Option<u32> {
        let next = if self.backward {
            span.checked_sub(steps)?
        } else {
            span.checked_add(steps)?
        };
        (next < count).then_some(next)
    }

    pub(super) fn keep(&mut self, span: u32, commits: SpanCommits) {
        if self.read.len() >= SPANS_KEPT {
            let at = self.last.unwrap_or(span);
            // The span furthest behind the walk goes first.
            let behind = |s: u32| {
                let d = i64::from(at) - i64::from(s);
                if self.backward {
                    -d
                } else {
                    d
                }
            };
            if let Some(evicted) = (0..self.read.len()).max_by_key(|&i| behind(self.read[i].0)) {
                self.read.swap_remove(evicted);
            }
        }
        self.read.push((span, commits));
    }
}
