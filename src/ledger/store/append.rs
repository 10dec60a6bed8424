//! Appending a record: committed on the local ref on top of the ledger as just fetched,
//! then pushed, re-chained and pushed again after a lost race.

use std::sync::Mutex;

use git2::Signature;

use super::push::PushError;
use super::{Appended, RemoteState, Store, Written};
use crate::ledger::{chain_hash, verify, LedgerError, NewRecord, Record};
/// Milliseconds between push attempts after a lost race, times the attempt, plus jitter.
const RACE_BACKOFF_MS: u64 = 25;

/// One writer per process at a time; other processes are kept out by compare-and-swap
/// updates of the ledger ref.
static WRITER: Mutex<()> = Mutex::new(());

/// `now` as records carry it.
fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Store {
    /// Appends a record by the current identity, then pushes it; a push race re-chains it
    /// on top of what won and retries. A failed push leaves the record here, with a warning.
    pub fn append(&self, new: NewRecord) -> Result<Appended, LedgerError> {
        self.append_with(|_| Ok(Some(new.clone())))?
            .ok_or_else(|| LedgerError::Git {
                context: "appending".into(),
                message: "nothing was written".into(),
            })
    }

    /// Like [`Store::append`], with the record made from the records already in the
    /// ledger (fetched just before): `make` may refuse (a duplicate, a self-approval) or
    /// find nothing to record (`None`), and is asked again if another writer got in first.
    pub fn append_with(
        &self,
        mut make: impl FnMut(&[Record]) -> Result<Option<NewRecord>, LedgerError>,
    ) -> Result<Option<Appended>, LedgerError> {
        let _writer = WRITER
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match self.write_local(&mut make)? {
            Some(written) => self.publish(written).map(Some),
            None => Ok(None),
        }
    }

    /// Step one of an append: the record, committed on the local ref on top of the
    /// ledger as just fetched.
    pub(super) fn write_local(
        &self,
        make: &mut impl FnMut(&[Record]) -> Result<Option<NewRecord>, LedgerError>,
    ) -> Result<Option<Written>, LedgerError> {
        let (name, email) = self.identity()?;
        let signature = Signature::now(&name, &email).map_err(LedgerError::git(
            "making a signature from user.name and user.email",
        ))?;
        let mut notes = Vec::new();
        let mut written = None;
        for _ in 0..self.attempts.max(3) {
            let synced = self.sync()?;
            notes.extend(synced.notes);
            if let Some(problem) = synced.problem {
                return Err(LedgerError::Tampered(problem));
            }
            let entries = self.read(synced.head)?;
            let (records, problem) = verify(&entries, self.anchor()?.as_ref());
            if let Some(problem) = problem {
                return Err(LedgerError::Tampered(problem));
            }
            let Some(new) = make(&records)? else {
                return Ok(None);
            };
            let record = Record::new(
                new,
                &email,
                &timestamp(),
                entries.len() as u64 + 1,
                entries.last().map(|e| chain_hash(e.json())),
            );
            let commit = self.write_commit(&record, synced.head, &signature, &signature)?;
            if self.swap(&self.reference, commit, synced.head)? {
                written = Some((record, commit, synced.remote));
                break;
            }
        }
        match written {
            Some((record, commit, remote)) => Ok(Some(Written {
                record,
                commit,
                remote,
                notes,
            })),
            None => Err(LedgerError::Git {
                context: format!("appending to {}", self.reference),
                message: "another gantry on this clone kept moving it; try again".into(),
            }),
        }
    }

    /// Step two: push the local ref; on a race, fetch, re-chain and push again.
    pub(super) fn publish(&self, written: Written) -> Result<Appended, LedgerError> {
        let Written {
            record,
            commit,
            remote: remote_state,
            mut notes,
        } = written;
        let Some(spec) = &self.remote else {
            self.set_anchor(commit)?;
            return Ok(Appended {
                record,
                pushed_to: None,
                warning: None,
                notes,
            });
        };
        let local_only = |warning: String, notes| {
            Ok(Appended {
                record: record.clone(),
                pushed_to: None,
                warning: Some(format!(
                    "{warning}; it is recorded in this clone and the next gantry command that writes the ledger pushes it"
                )),
                notes,
            })
        };
        let (mut head, mut expected) = match remote_state {
            RemoteState::At(remote) => (commit, Some(remote)),
            RemoteState::Absent => (commit, None),
            _ => {
                return local_only(
                    format!(
                        "the ledger could not be pushed: `{}` was unreachable",
                        spec.name
                    ),
                    notes,
                )
            }
        };
        for attempt in 1..=self.attempts {
            match self.push(spec, head, expected) {
                Ok(()) => {
                    self.set_anchor(head)?;
                    // A race may have re-chained the record: report where it stands now.
                    let record = self
                        .read(Some(head))?
                        .iter()
                        .rev()
                        .filter_map(|e| e.parse().ok())
                        .find(|r: &Record| r.id == record.id)
                        .unwrap_or(record);
                    return Ok(Appended {
                        record,
                        pushed_to: Some(spec.name.clone()),
                        warning: None,
                        notes,
                    });
                }
                Err(PushError::Race) => {
                    // Writers that collided once would collide again in lockstep: wait a
                    // little, a different little for each.
                    let jitter = rand::random_range(0..RACE_BACKOFF_MS);
                    std::thread::sleep(std::time::Duration::from_millis(
                        RACE_BACKOFF_MS * u64::from(attempt) + jitter,
                    ));
                    let synced = self.sync()?;
                    notes.extend(synced.notes);
                    if let Some(problem) = synced.problem {
                        return Err(LedgerError::Tampered(problem));
                    }
                    match (synced.remote, synced.head) {
                        (RemoteState::At(remote), Some(now)) => {
                            head = now;
                            expected = Some(remote);
                        }
                        (RemoteState::Absent, Some(now)) => {
                            head = now;
                            expected = None;
                        }
                        _ => {
                            return local_only(
                                format!(
                                    "the ledger could not be pushed: `{}` became unreachable",
                                    spec.name
                                ),
                                notes,
                            )
                        }
                    }
                }
                Err(PushError::Network(reason)) => {
                    return local_only(
                        format!(
                            "the ledger could not be pushed to `{}`: {reason}",
                            spec.name
                        ),
                        notes,
                    )
                }
                Err(PushError::Rejected(reason)) => {
                    return local_only(
                        format!("`{}` refused the ledger push: {reason}", spec.name),
                        notes,
                    )
                }
            }
        }
        local_only(
            format!(
                "the ledger could not be pushed: `{}` kept moving ({} attempts)",
                spec.name, self.attempts
            ),
            notes,
        )
    }
}
