//! The ledger in git: one commit per record on the ledger ref, fetched from the remote
//! before every read and write, pushed after every write, re-chained on a push race.
//!
//! Runs on a blocking thread with its own `Repository` (git2 is not Sync). Besides the
//! ledger ref it keeps two refs of its own: `<ref>-remotes/<remote>` (the remote's ledger
//! as last fetched) and `<ref>-seen/<remote or local>` (the newest record this clone
//! knows was published; a ledger that later lacks it was cut back or rewritten).
//!
//! This file opens the store and reads the ledger; `refs` holds its refs and commits,
//! `sync` the fetch and re-chaining, `push` the push, `append` the two steps of a write.

mod append;
mod push;
mod refs;
mod sync;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use git2::{Oid, Repository, RepositoryOpenFlags};

use super::{verify, LedgerError, Record, Tamper};
use crate::config::LedgerSettings;
use crate::domain::repo_location::local_dir;

/// What the remote said about its ledger on the last fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RemoteState {
    /// No remote configured: the ledger is this repository's alone.
    NoRemote,
    /// The fetch failed; the local copy stands in.
    Unreachable,
    /// The remote has no ledger yet.
    Absent,
    At(Oid),
}

struct Synced {
    head: Option<Oid>,
    remote: RemoteState,
    problem: Option<Tamper>,
    notes: Vec<String>,
}

/// The ledger as read: its records, and whether the chain holds.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub records: Vec<Record>,
    pub problem: Option<Tamper>,
    /// The commit the ledger ref points at.
    pub head: Option<String>,
    pub notes: Vec<String>,
    /// Records written here and not on the remote yet.
    pub unpushed: usize,
    pub remote: Option<String>,
}

/// A record written.
#[derive(Debug, Clone)]
pub struct Appended {
    pub record: Record,
    /// The remote it was pushed to; `None` with no remote, or when the push failed.
    pub pushed_to: Option<String>,
    /// Why it is only in this clone, when a remote is configured and the push failed.
    pub warning: Option<String>,
    pub notes: Vec<String>,
}

/// A record committed locally, not pushed yet.
struct Written {
    record: Record,
    commit: Oid,
    remote: RemoteState,
    notes: Vec<String>,
}

struct RemoteSpec {
    name: String,
    fetched: String,
    /// A remote on this machine: pushed to directly, with a compare-and-swap update,
    /// because libgit2's local transport overwrites the ref without checking it.
    local: Option<PathBuf>,
}

pub struct Store {
    repo: Repository,
    path: PathBuf,
    reference: String,
    remote: Option<RemoteSpec>,
    attempts: u32,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("reference", &self.reference)
            .finish()
    }
}

impl Store {
    /// Opens the ledger of the repository at `path` (exactly there, no search upwards).
    /// `Err(Off)` when it is disabled or there is no repository.
    pub fn open(path: &Path, settings: &LedgerSettings) -> Result<Store, LedgerError> {
        if !settings.enabled {
            return Err(LedgerError::Off(
                "disabled in the configuration ([ledger] enabled = false)".into(),
            ));
        }
        // Checked without libgit2, whose first call costs a CA bundle load: a config
        // without a repository pays nothing for the ledger being off.
        if !path.join(".git").exists() && !path.join("HEAD").is_file() {
            return Err(LedgerError::Off(format!(
                "{} is not a git repository ({})",
                path.display(),
                match settings.repository {
                    Some(_) => "check [ledger] repository",
                    None => "set [git] path to the application repository, or [ledger] repository",
                }
            )));
        }
        crate::git::tls::start_libgit2();
        let repo = Repository::open_ext(
            path,
            RepositoryOpenFlags::NO_SEARCH,
            std::iter::empty::<&std::ffi::OsStr>(),
        )
        .map_err(|e| {
            LedgerError::Off(format!(
                "{} is not a git repository ({})",
                path.display(),
                e.message()
            ))
        })?;
        let named = match settings.remote.as_deref() {
            Some("") => None,
            Some(name) => {
                if repo.find_remote(name).is_err() {
                    return Err(LedgerError::Config(format!(
                        "[ledger] remote `{name}` is not a remote of {} (see `git remote -v`; \"\" keeps the ledger local)",
                        path.display()
                    )));
                }
                Some(name.to_string())
            }
            None => repo
                .find_remote("origin")
                .is_ok()
                .then(|| "origin".to_string()),
        };
        let remote = match named {
            Some(name) => {
                let url = repo
                    .find_remote(&name)
                    .ok()
                    .and_then(|r| r.url().ok().map(str::to_string))
                    .unwrap_or_default();
                let base = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
                Some(RemoteSpec {
                    fetched: format!("{}-remotes/{name}", settings.reference),
                    local: local_dir(&url, &base),
                    name,
                })
            }
            None => None,
        };
        Ok(Store {
            repo,
            path: path.to_path_buf(),
            reference: settings.reference.clone(),
            remote,
            attempts: settings.attempts.max(1),
        })
    }

    pub fn remote_name(&self) -> Option<&str> {
        self.remote.as_ref().map(|r| r.name.as_str())
    }

    /// `user.email` (and `user.name`) from the repository's git config, then the global one.
    pub fn identity(&self) -> Result<(String, String), LedgerError> {
        let config = self
            .repo
            .config()
            .map_err(LedgerError::git("reading git config"))?;
        let read = |key: &str| {
            config
                .get_string(key)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let email = read("user.email").ok_or_else(|| LedgerError::NoIdentity {
            repo: self.path.clone(),
        })?;
        let name = read("user.name").unwrap_or_else(|| email.clone());
        Ok((name, email))
    }

    /// Reads the ledger (after fetching it) and checks the chain.
    pub fn load(&self) -> Result<Snapshot, LedgerError> {
        let synced = self.sync()?;
        let entries = self.read(synced.head)?;
        let (records, problem) = verify(&entries, self.anchor()?.as_ref());
        let problem = synced.problem.or(problem);
        let mut notes = synced.notes;
        let unpushed = match synced.remote {
            RemoteState::At(remote) => entries
                .iter()
                .position(|e| e.commit == remote.to_string())
                .map_or(0, |p| entries.len() - p - 1),
            RemoteState::Absent => entries.len(),
            RemoteState::NoRemote | RemoteState::Unreachable => 0,
        };
        if problem.is_none() {
            // A reader that may not write the repository still gets its answer; the
            // anchor then waits for the next write.
            let _ = match (synced.remote, synced.head) {
                (RemoteState::At(remote), _) => self.set_anchor(remote),
                (RemoteState::NoRemote, Some(head)) => self.set_anchor(head),
                _ => Ok(()),
            };
        }
        if unpushed > 0 {
            notes.push(format!(
                "{unpushed} record(s) written here are not on `{}` yet: the next gantry command that writes the ledger pushes them",
                self.remote_name().unwrap_or("the remote")
            ));
        }
        Ok(Snapshot {
            records,
            problem,
            head: synced.head.map(|h| h.to_string()),
            notes,
            unpushed,
            remote: self.remote_name().map(str::to_string),
        })
    }
}
