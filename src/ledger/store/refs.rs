//! The ledger's refs and commits in this clone: reading the chain, the `-seen` anchor,
//! compare-and-swap ref updates, and writing a record's commit.

use git2::{ErrorCode, Oid, Signature};

use super::Store;
use crate::ledger::{chain_hash, Anchor, LedgerError, RawEntry, Record};

impl Store {
    pub(super) fn head(&self) -> Result<Option<Oid>, LedgerError> {
        self.ref_target(&self.reference)
    }

    pub(super) fn ref_target(&self, name: &str) -> Result<Option<Oid>, LedgerError> {
        match self.repo.find_reference(name) {
            Ok(reference) => Ok(reference.target()),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(LedgerError::git(format!("reading {name}"))(e)),
        }
    }

    /// The records' commits from `head` back to the first, oldest first.
    pub(super) fn read(&self, head: Option<Oid>) -> Result<Vec<RawEntry>, LedgerError> {
        let mut entries = Vec::new();
        let mut next = head;
        while let Some(oid) = next {
            let commit = self
                .repo
                .find_commit(oid)
                .map_err(LedgerError::git(format!("reading ledger commit {oid}")))?;
            entries.push(RawEntry {
                commit: oid.to_string(),
                parents: commit.parent_count(),
                message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
            });
            next = commit.parent_id(0).ok();
        }
        entries.reverse();
        Ok(entries)
    }

    fn anchor_ref(&self) -> String {
        let mode = self.remote.as_ref().map_or("local", |r| r.name.as_str());
        format!("{}-seen/{mode}", self.reference)
    }

    pub(super) fn anchor(&self) -> Result<Option<Anchor>, LedgerError> {
        let Some(oid) = self.ref_target(&self.anchor_ref())? else {
            return Ok(None);
        };
        let Ok(commit) = self.repo.find_commit(oid) else {
            return Ok(None);
        };
        let entry = RawEntry {
            commit: oid.to_string(),
            parents: commit.parent_count(),
            message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
        };
        Ok(entry.parse().ok().map(|record| Anchor {
            seq: record.seq,
            id: record.id.clone(),
            hash: chain_hash(entry.json()),
            summary: record.summary(),
        }))
    }

    pub(super) fn set_anchor(&self, oid: Oid) -> Result<(), LedgerError> {
        self.repo
            .reference(&self.anchor_ref(), oid, true, "gantry: ledger seen")
            .map(|_| ())
            .map_err(LedgerError::git("recording the ledger head seen"))
    }

    /// Moves `name` from `old` to `new` only if it is still at `old`; false when it moved.
    pub(super) fn swap(&self, name: &str, new: Oid, old: Option<Oid>) -> Result<bool, LedgerError> {
        let result = match old {
            Some(old) => self
                .repo
                .reference_matching(name, new, true, old, "gantry: ledger"),
            None => self.repo.reference(name, new, false, "gantry: ledger"),
        };
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(LedgerError::git(format!("updating {name}"))(e)),
        }
    }

    pub(super) fn write_commit(
        &self,
        record: &Record,
        parent: Option<Oid>,
        author: &Signature<'_>,
        committer: &Signature<'_>,
    ) -> Result<Oid, LedgerError> {
        let fail = || LedgerError::git("writing a ledger record");
        // Records carry no files: every commit points at the empty tree.
        let tree_id = self
            .repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .map_err(fail())?;
        let tree = self.repo.find_tree(tree_id).map_err(fail())?;
        let parent = match parent {
            Some(oid) => Some(self.repo.find_commit(oid).map_err(fail())?),
            None => None,
        };
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo
            .commit(None, author, committer, &record.message(), &tree, &parents)
            .map_err(fail())
    }
}
