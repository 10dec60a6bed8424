//! Guesses which packed commits a long first-parent walk reads next and inflates them on a
//! second thread, so a walk without a commit-graph runs on both cores.
//!
//! Each step of a walk waits on the one before (a commit's parent is known only once the
//! commit is inflated), so the walk itself cannot be split. But packs keep a branch's
//! commits together and in order: newest first in packs git writes (commits ahead of trees
//! and blobs), oldest first in fast-import's. The commits a walk reads next are, most of
//! the time, those stored beside the one it is at. So the pack is cut into spans of bytes;
//! when the walk enters a span nobody has read, this thread inflates every commit in it
//! while a helper thread does the next spans in the walk's direction, and the walk then
//! finds its commits already read. A walk that does not follow the pack (a branch whose
//! commits sit among many others') soon stops guessing and reads commit by commit again.
//!
//! `guesses` keeps what is known of each pack's spans, `helper` is the second thread; the
//! spans, the reading of one and the read-ahead the walk asks stay here.

mod guesses;
mod helper;
#[cfg(test)]
mod tests;

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use git2::Oid;

use super::inflate::HeadInflater;
use super::packfile::{
    first_parent_line, inflate_commit_head, PackFiles, COMMIT_HEAD_LEN, ENTRY_READ,
};

use guesses::PackGuesses;
use helper::{Answer, Helper, Request};

/// Spans waiting on the helper at most: enough to keep it busy while the walk reads.
const HELPER_QUEUE: usize = 4;
/// How many spans past the walk's are read ahead, at most.
const LOOKAHEAD: u32 = 8;
/// Spans kept once read, per pack: those ahead of the walk and the one it is in.
const SPANS_KEPT: usize = 2 * LOOKAHEAD as usize;
/// Commits inflated on guesses before the guesses are judged: when the walk used fewer
/// than half of them, the pack does not follow it and guessing stops.
const JUDGED_AFTER: usize = 2048;

/// A commit's first parent as its span read it, with where the parent sits in the same
/// pack (index position, offset) so the walk's next step need not search for it.
#[derive(Clone, Copy)]
pub(super) struct Parent {
    pub(super) oid: Oid,
    pub(super) at: Option<(u32, u64)>,
}

/// The commits of one span stored whole, by index position, ascending, with their first
/// parents (`None`: a root commit).
struct SpanCommits {
    positions: Vec<u32>,
    parents: Vec<Option<Parent>>,
}

impl SpanCommits {
    fn index_of(&self, position: u32) -> Option<usize> {
        self.positions.binary_search(&position).ok()
    }
}

/// Reads the first parent of every whole commit in `span`: the work either thread does.
/// A commit whose header does not parse is left out, for libgit2 to report.
fn read_span(
    files: &PackFiles,
    span: u32,
    inflater: &mut HeadInflater,
    buf: &mut Vec<u8>,
) -> SpanCommits {
    let mut read = SpanCommits {
        positions: Vec::new(),
        parents: Vec::new(),
    };
    let Some(spans) = &files.spans else {
        return read;
    };
    let start = u64::from(span) * spans.span_bytes;
    let end = (start + spans.span_bytes + ENTRY_READ).min(files.data_len);
    let Ok(len) = usize::try_from(end.saturating_sub(start)) else {
        return read;
    };
    buf.resize(len, 0);
    // Unread, the span answers nothing, and its commits go through libgit2.
    if files.data.read_exact_at(buf, start).is_err() {
        return read;
    }
    let mut head = [0u8; COMMIT_HEAD_LEN];
    let mut offsets = Vec::new();
    for &position in spans.positions(span) {
        let Some(offset) = files.offset_at(position as usize) else {
            continue;
        };
        let Ok(from) = usize::try_from(offset - start) else {
            continue;
        };
        let to = (from + ENTRY_READ as usize).min(buf.len());
        let Some(entry) = buf.get(from..to) else {
            continue;
        };
        let Some(len) = inflate_commit_head(inflater, entry, &mut head) else {
            continue;
        };
        let Some(parent) = first_parent_line(&head[..len]) else {
            continue;
        };
        read.positions.push(position);
        offsets.push(offset);
        read.parents
            .push(parent.map(|oid| Parent { oid, at: None }));
    }
    // A parent is most often the commit stored just before or after its child: one read
    // of that id each, where searching the index costs a few cache misses.
    let mut by_offset: Vec<usize> = (0..offsets.len()).collect();
    by_offset.sort_unstable_by_key(|&i| offsets[i]);
    let positions = &read.positions;
    for (rank, &i) in by_offset.iter().enumerate() {
        let Some(parent) = read.parents[i].as_mut() else {
            continue;
        };
        let wanted = parent.oid.as_bytes();
        let beside = [rank + 1, rank.wrapping_sub(1)]
            .into_iter()
            .filter_map(|r| by_offset.get(r).copied())
            .find(|&j| files.oid_at(positions[j] as usize) == Some(wanted));
        parent.at = match beside {
            Some(j) => Some((positions[j], offsets[j])),
            None => files.find(wanted),
        };
    }
    read
}

/// Where a commit's parent is kept: pack, span slot, entry.
#[derive(Clone, Copy)]
pub(super) struct Found {
    pack: usize,
    slot: usize,
    entry: usize,
}

/// The read-ahead over a repository's packs.
pub(super) struct ReadAhead {
    packs: Vec<PackGuesses>,
    helper: Option<Helper>,
    inflater: HeadInflater,
    buf: Vec<u8>,
    /// Commits inflated on guesses, and how many of them the walk asked for.
    inflated: usize,
    used: usize,
    stopped: bool,
    /// Spans read on the walk's thread and on the helper: what tests look at.
    #[cfg_attr(not(test), allow(dead_code))]
    read_here: usize,
    #[cfg_attr(not(test), allow(dead_code))]
    read_by_helper: usize,
}

impl ReadAhead {
    pub(super) fn new() -> ReadAhead {
        ReadAhead {
            packs: Vec::new(),
            helper: None,
            inflater: HeadInflater::new(),
            buf: Vec::new(),
            inflated: 0,
            used: 0,
            stopped: false,
            read_here: 0,
            read_by_helper: 0,
        }
    }

    /// True once the walk stopped following the pack and guessing stopped.
    #[cfg(test)]
    pub(super) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Spans read on the walk's thread, and on the helper.
    #[cfg(test)]
    pub(super) fn spans_read(&self) -> (usize, usize) {
        (self.read_here, self.read_by_helper)
    }

    /// The object at index `position`, starting at `offset`, of pack `pack_no`, as its
    /// span read it: `Some(Some(_))` a whole commit, `Some(None)` no whole commit (libgit2
    /// reads it), `None` no guess at all (read it directly).
    pub(super) fn look_up(
        &mut self,
        pack_no: usize,
        files: &Arc<PackFiles>,
        position: u32,
        offset: u64,
    ) -> Option<Option<Found>> {
        if self.stopped {
            return None;
        }
        let spans = files.spans.as_ref()?;
        let span = spans.span_of(offset)?;
        if self.packs.len() <= pack_no {
            self.packs.resize_with(pack_no + 1, PackGuesses::default);
        }
        let guesses = &mut self.packs[pack_no];
        let entered = guesses.last != Some(span);
        if let Some(last) = guesses.last.filter(|&last| last != span) {
            guesses.backward = span < last;
        }
        guesses.last = Some(span);
        if entered && self.inflated > 0 {
            // Each new span the walk enters gives the helper more to read ahead of it.
            self.ask_ahead(pack_no, files, span, spans.count());
        }

        let slot = loop {
            if let Some(slot) = self.packs[pack_no].slot(span) {
                break slot;
            }
            self.collect(false);
            if let Some(slot) = self.packs[pack_no].slot(span) {
                break slot;
            }
            if self.inflated >= JUDGED_AFTER && self.used * 2 < self.inflated {
                self.stop();
                return None;
            }
            self.ask_ahead(pack_no, files, span, spans.count());
            if self.packs[pack_no].asked.contains(&span) {
                // The helper has it: read the next free span meanwhile, then wait.
                let free = (1..=LOOKAHEAD)
                    .filter_map(|steps| self.packs[pack_no].ahead(span, steps, spans.count()))
                    .find(|&s| !self.packs[pack_no].known(s));
                if let Some(free) = free {
                    self.read_here(pack_no, files, free);
                }
                if !self.collect_until(pack_no, span) {
                    self.stop();
                    return None;
                }
            } else {
                self.read_here(pack_no, files, span);
            }
        };
        let entry = self.packs[pack_no].read[slot].1.index_of(position);
        if entry.is_some() {
            self.used += 1;
        }
        Some(entry.map(|entry| Found {
            pack: pack_no,
            slot,
            entry,
        }))
    }

    /// The first parent of the commit [`Self::look_up`] found (`None`: a root commit).
    pub(super) fn parent(&self, found: Found) -> Option<Parent> {
        self.packs[found.pack].read[found.slot].1.parents[found.entry]
    }

    /// Spans the helper has been asked for and not yet answered, over all packs.
    fn waiting_on_helper(&self) -> usize {
        self.packs.iter().map(|guesses| guesses.asked.len()).sum()
    }

    fn read_here(&mut self, pack_no: usize, files: &PackFiles, span: u32) {
        let commits = read_span(files, span, &mut self.inflater, &mut self.buf);
        self.inflated += commits.positions.len();
        self.read_here += 1;
        self.packs[pack_no].keep(span, commits);
    }

    /// Keeps the helper's queue full with the spans after `span` nobody has read.
    fn ask_ahead(&mut self, pack_no: usize, files: &Arc<PackFiles>, span: u32, count: u32) {
        if self.helper.is_none() {
            self.helper = Helper::start();
        }
        let Some(requests) = self.helper.as_ref().and_then(|h| h.requests.as_ref()) else {
            return;
        };
        for steps in 1..=LOOKAHEAD {
            if self.waiting_on_helper() >= HELPER_QUEUE {
                break;
            }
            let guesses = &mut self.packs[pack_no];
            let Some(next) = guesses.ahead(span, steps, count) else {
                break;
            };
            if guesses.known(next) {
                continue;
            }
            let request = Request {
                pack: pack_no,
                span: next,
                files: Arc::clone(files),
            };
            if requests.send(request).is_err() {
                break;
            }
            guesses.asked.push(next);
        }
    }

    /// Takes in the helper's answers; waits for one when `wait`. False when the helper is
    /// gone.
    fn collect(&mut self, wait: bool) -> bool {
        let Some(helper) = &self.helper else {
            return false;
        };
        let mut answer = if wait {
            match helper.answers.recv() {
                Ok(answer) => Some(answer),
                Err(_) => return false,
            }
        } else {
            helper.answers.try_recv().ok()
        };
        while let Some(Answer {
            pack,
            span,
            commits,
        }) = answer
        {
            self.inflated += commits.positions.len();
            self.read_by_helper += 1;
            if let Some(guesses) = self.packs.get_mut(pack) {
                guesses.asked.retain(|&s| s != span);
                guesses.keep(span, commits);
            }
            answer = self.helper.as_ref().and_then(|h| h.answers.try_recv().ok());
        }
        true
    }

    /// Waits until the helper has answered for `span`. False when it never will.
    fn collect_until(&mut self, pack_no: usize, span: u32) -> bool {
        while self.packs[pack_no].asked.contains(&span) {
            if !self.collect(true) {
                return false;
            }
        }
        true
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.packs.clear();
        self.helper = None;
    }
}
