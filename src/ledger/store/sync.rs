//! Fetching the remote's ledger and bringing the local ref up to it: a fast-forward, or
//! the records written here re-chained on top; a remote that lost a record is reported.

use std::collections::HashSet;

use git2::{AutotagOption, FetchOptions, Oid, RemoteCallbacks};

use super::{RemoteSpec, RemoteState, Store, Synced};
use crate::git::{offer_credentials, CredentialOffers};
use crate::ledger::{chain_hash, verify, LedgerError, RawEntry, Record};

impl Store {
    pub(super) fn callbacks<'a>(
        config: &'a git2::Config,
        offers: &'a CredentialOffers,
    ) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        offer_credentials(&mut callbacks, config, offers);
        callbacks
    }

    /// The remote's ledger head, after fetching it into `<ref>-remotes/<remote>`.
    fn fetch(&self, spec: &RemoteSpec) -> Result<Option<Oid>, String> {
        let mut remote = self
            .repo
            .find_remote(&spec.name)
            .map_err(|e| e.message().to_string())?;
        let config = self.repo.config().map_err(|e| e.message().to_string())?;
        let offers = CredentialOffers::default();
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(Self::callbacks(&config, &offers))
            .download_tags(AutotagOption::None)
            .update_fetchhead(false);
        let refspec = format!("+{}:{}", self.reference, spec.fetched);
        crate::git::tls::before_remote(remote.url().unwrap_or_default());
        remote
            .fetch(
                &[refspec.as_str()],
                Some(&mut options),
                Some("gantry: fetch ledger"),
            )
            .map_err(|e| e.message().to_string())?;
        // The advertisement tells a remote without a ledger from one whose ledger the
        // refspec copied; a stale `<ref>-remotes` ref would not.
        let head = remote
            .list()
            .map_err(|e| e.message().to_string())?
            .iter()
            .find(|head| head.name() == self.reference)
            .map(|head| head.oid());
        if head.is_none() {
            if let Ok(mut stale) = self.repo.find_reference(&spec.fetched) {
                let _ = stale.delete();
            }
        }
        Ok(head)
    }

    /// Fetches the remote's ledger and brings the local ref up to it: fast-forward, or
    /// re-chain records written here on top of it. A remote ledger that lost a record
    /// this clone saw is reported, never built on.
    pub(super) fn sync(&self) -> Result<Synced, LedgerError> {
        for _ in 0..self.attempts.max(3) {
            if let Some(synced) = self.sync_once()? {
                return Ok(synced);
            }
        }
        Err(LedgerError::Git {
            context: format!("updating {}", self.reference),
            message: "another gantry on this clone kept moving it; try again".into(),
        })
    }

    /// `None` when another process moved the local ref meanwhile.
    fn sync_once(&self) -> Result<Option<Synced>, LedgerError> {
        let mut notes = Vec::new();
        let local = self.head()?;
        let synced = |head, remote, problem, notes| {
            Ok(Some(Synced {
                head,
                remote,
                problem,
                notes,
            }))
        };
        let Some(spec) = &self.remote else {
            return synced(local, RemoteState::NoRemote, None, notes);
        };
        let remote_head = match self.fetch(spec) {
            Ok(Some(oid)) => oid,
            Ok(None) => return synced(local, RemoteState::Absent, None, notes),
            Err(reason) => {
                notes.push(format!(
                    "could not fetch the ledger from `{}` ({reason}): using this clone's copy",
                    spec.name
                ));
                return synced(local, RemoteState::Unreachable, None, notes);
            }
        };
        let at = RemoteState::At(remote_head);
        if local == Some(remote_head) {
            return synced(local, at, None, notes);
        }
        let anchor = self.anchor()?;
        let remote_entries = self.read(Some(remote_head))?;
        if let (_, Some(mut problem)) = verify(&remote_entries, anchor.as_ref()) {
            problem.message = format!("the ledger on `{}`: {}", spec.name, problem.message);
            return synced(local, at, Some(problem), notes);
        }
        let git = |what: &str| {
            LedgerError::git(format!(
                "comparing the ledger with `{}` ({what})",
                spec.name
            ))
        };
        let Some(local_head) = local else {
            return if self.swap(&self.reference, remote_head, None)? {
                synced(Some(remote_head), at, None, notes)
            } else {
                Ok(None)
            };
        };
        if self
            .repo
            .graph_descendant_of(remote_head, local_head)
            .map_err(git("fast-forward"))?
        {
            return if self.swap(&self.reference, remote_head, Some(local_head))? {
                synced(Some(remote_head), at, None, notes)
            } else {
                Ok(None)
            };
        }
        if self
            .repo
            .graph_descendant_of(local_head, remote_head)
            .map_err(git("ahead"))?
        {
            return synced(local, at, None, notes);
        }
        // Diverged: records written here that the remote does not have (a lost push race,
        // or written while it was unreachable) go on top of the remote's chain.
        let local_entries = self.read(Some(local_head))?;
        if let (_, Some(problem)) = verify(&local_entries, anchor.as_ref()) {
            return synced(local, at, Some(problem), notes);
        }
        let base = self
            .repo
            .merge_base(local_head, remote_head)
            .ok()
            .map(|b| b.to_string());
        let start = base
            .and_then(|b| local_entries.iter().position(|e| e.commit == b))
            .map_or(0, |p| p + 1);
        let (new_head, replayed) =
            self.replay(remote_head, &remote_entries, &local_entries[start..])?;
        if !self.swap(&self.reference, new_head, Some(local_head))? {
            return Ok(None);
        }
        if !replayed.is_empty() {
            notes.push(format!(
                "{} record(s) written here were re-chained after the {} new on `{}`",
                replayed.len(),
                remote_entries.len() - start.min(remote_entries.len()),
                spec.name
            ));
        }
        synced(Some(new_head), at, None, notes)
    }

    /// Writes `local_only` again on top of `onto`, with new `seq` and `prev`; records the
    /// remote already has (same id) are dropped. Ids, authors and times stay.
    fn replay(
        &self,
        onto: Oid,
        onto_entries: &[RawEntry],
        local_only: &[RawEntry],
    ) -> Result<(Oid, Vec<Record>), LedgerError> {
        let known: HashSet<String> = onto_entries
            .iter()
            .filter_map(|e| e.parse().ok().map(|r| r.id))
            .collect();
        let mut head = onto;
        let mut prev = onto_entries.last().map(|e| chain_hash(e.json()));
        let mut seq = onto_entries.len() as u64;
        let mut replayed = Vec::new();
        for entry in local_only {
            let mut record = entry.parse().map_err(|why| LedgerError::Git {
                context: format!("re-chaining commit {}", entry.commit),
                message: why,
            })?;
            if known.contains(&record.id) {
                continue;
            }
            seq += 1;
            record.seq = seq;
            record.prev = prev;
            let original = Oid::from_str(&entry.commit)
                .and_then(|oid| self.repo.find_commit(oid))
                .map_err(LedgerError::git("re-chaining a record"))?;
            head = self.write_commit(
                &record,
                Some(head),
                &original.author(),
                &original.committer(),
            )?;
            prev = Some(chain_hash(&record.canonical_json()));
            replayed.push(record);
        }
        Ok((head, replayed))
    }
}
