//! The ledger in git: one commit per record on the ledger ref, fetched from the remote
//! before every read and write, pushed after every write, re-chained on a push race.
//!
//! Runs on a blocking thread with its own `Repository` (git2 is not Sync). Besides the
//! ledger ref it keeps two refs of its own: `<ref>-remotes/<remote>` (the remote's ledger
//! as last fetched) and `<ref>-seen/<remote or local>` (the newest record this clone
//! knows was published; a ledger that later lacks it was cut back or rewritten).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::{
    AutotagOption, ErrorClass, ErrorCode, FetchOptions, Oid, PushOptions, RemoteCallbacks,
    Repository, RepositoryOpenFlags, Signature,
};

use super::{chain_hash, verify, Anchor, LedgerError, NewRecord, RawEntry, Record, Tamper};
use crate::config::LedgerSettings;
use crate::git::{offer_credentials, CredentialOffers};

/// Milliseconds between push attempts after a lost race, times the attempt, plus jitter.
const RACE_BACKOFF_MS: u64 = 25;

/// One writer per process at a time; other processes are kept out by compare-and-swap
/// updates of the ledger ref.
static WRITER: Mutex<()> = Mutex::new(());

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

enum PushError {
    /// The remote's ledger moved since the fetch: fetch, re-chain, retry.
    Race,
    Network(String),
    Rejected(String),
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

fn is_network(e: &git2::Error) -> bool {
    matches!(
        e.class(),
        ErrorClass::Net | ErrorClass::Ssh | ErrorClass::Http | ErrorClass::Ssl | ErrorClass::Os
    ) || e.code() == ErrorCode::Auth
}

/// `now` as records carry it.
fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
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
                "{} is not a git repository (set [git] path to the application repository)",
                path.display()
            )));
        }
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
                    local: local_path(&base, &url),
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

    fn head(&self) -> Result<Option<Oid>, LedgerError> {
        self.ref_target(&self.reference)
    }

    fn ref_target(&self, name: &str) -> Result<Option<Oid>, LedgerError> {
        match self.repo.find_reference(name) {
            Ok(reference) => Ok(reference.target()),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(LedgerError::git(format!("reading {name}"))(e)),
        }
    }

    /// The records' commits from `head` back to the first, oldest first.
    fn read(&self, head: Option<Oid>) -> Result<Vec<RawEntry>, LedgerError> {
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

    fn anchor(&self) -> Result<Option<Anchor>, LedgerError> {
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

    fn set_anchor(&self, oid: Oid) -> Result<(), LedgerError> {
        self.repo
            .reference(&self.anchor_ref(), oid, true, "gantry: ledger seen")
            .map(|_| ())
            .map_err(LedgerError::git("recording the ledger head seen"))
    }

    /// Moves `name` from `old` to `new` only if it is still at `old`; false when it moved.
    fn swap(&self, name: &str, new: Oid, old: Option<Oid>) -> Result<bool, LedgerError> {
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

    fn write_commit(
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

    fn callbacks<'a>(
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
    fn sync(&self) -> Result<Synced, LedgerError> {
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

    /// Pushes the ledger ref, which must point at `head`, expecting the remote at `expected`.
    fn push(&self, spec: &RemoteSpec, head: Oid, expected: Option<Oid>) -> Result<(), PushError> {
        if let Some(path) = &spec.local {
            return self.push_local(path, head, expected);
        }
        let internal = |e: git2::Error| PushError::Rejected(e.message().to_string());
        let mut remote = self.repo.find_remote(&spec.name).map_err(internal)?;
        let config = self.repo.config().map_err(internal)?;
        let offers = CredentialOffers::default();
        let rejection = std::cell::RefCell::new(None::<String>);
        let result = {
            let mut callbacks = Self::callbacks(&config, &offers);
            callbacks.push_update_reference(|_, status| {
                if let Some(status) = status {
                    *rejection.borrow_mut() = Some(status.to_string());
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            let refspec = format!("{0}:{0}", self.reference);
            remote.push(&[refspec.as_str()], Some(&mut options))
        };
        match result {
            Err(e) if e.code() == ErrorCode::NotFastForward => return Err(PushError::Race),
            Err(e) if is_network(&e) => return Err(PushError::Network(e.message().to_string())),
            Err(e) => return Err(PushError::Rejected(e.message().to_string())),
            Ok(()) => {}
        }
        match rejection.into_inner() {
            None => Ok(()),
            Some(status) => {
                let lower = status.to_ascii_lowercase();
                let raced = [
                    "fast-forward",
                    "fetch first",
                    "lock",
                    "stale",
                    "failed to update",
                ]
                .iter()
                .any(|word| lower.contains(word));
                Err(if raced {
                    PushError::Race
                } else {
                    PushError::Rejected(status)
                })
            }
        }
    }

    /// Copies the new records' objects into a repository on this machine, then moves its
    /// ledger ref from `expected` to `head` in one compare-and-swap.
    fn push_local(&self, path: &Path, head: Oid, expected: Option<Oid>) -> Result<(), PushError> {
        let target = Repository::open(path)
            .map_err(|e| PushError::Network(format!("{}: {}", path.display(), e.message())))?;
        let copy = || -> Result<(), git2::Error> {
            let source = self.repo.odb()?;
            let destination = target.odb()?;
            let mut next = Some(head);
            while let Some(oid) = next {
                if destination.exists(oid) {
                    break;
                }
                let commit = self.repo.find_commit(oid)?;
                let tree = self.repo.find_tree(commit.tree_id())?;
                let mut ids = vec![commit.tree_id()];
                tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
                    ids.push(entry.id());
                    git2::TreeWalkResult::Ok
                })?;
                ids.push(oid);
                for id in ids {
                    if !destination.exists(id) {
                        let object = source.read(id)?;
                        destination.write(object.kind(), object.data())?;
                    }
                }
                next = commit.parent_id(0).ok();
            }
            Ok(())
        };
        copy().map_err(|e| PushError::Rejected(e.message().to_string()))?;
        let result = match expected {
            Some(old) => {
                target.reference_matching(&self.reference, head, true, old, "gantry: ledger push")
            }
            None => target.reference(&self.reference, head, false, "gantry: ledger push"),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::Modified
                        | ErrorCode::Exists
                        | ErrorCode::Locked
                        | ErrorCode::NotFound
                ) =>
            {
                Err(PushError::Race)
            }
            Err(e) => Err(PushError::Rejected(e.message().to_string())),
        }
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
    fn write_local(
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
    fn publish(&self, written: Written) -> Result<Appended, LedgerError> {
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

/// The directory a remote URL names, if it is on this machine (a path or `file://`).
fn local_path(base: &Path, url: &str) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(PathBuf::from(path));
    }
    if url.contains("://") || url.is_empty() {
        return None;
    }
    // `host:path` (scp-like ssh) has its colon before any slash.
    if let Some(colon) = url.find(':') {
        if !url[..colon].contains('/') {
            return None;
        }
    }
    let path = Path::new(url);
    Some(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::RecordKind;

    /// A clone of `remote` with its own identity (set in the repository, which wins over
    /// whatever the machine's global config says).
    fn clone_of(dir: &Path, name: &str, remote: &Path, email: &str) -> Store {
        let path = dir.join(name);
        let repo = Repository::init(&path).unwrap();
        repo.remote("origin", remote.to_str().unwrap()).unwrap();
        repo.config()
            .and_then(|c| c.open_level(git2::ConfigLevel::Local))
            .and_then(|mut c| c.set_str("user.email", email))
            .unwrap();
        Store::open(&path, &LedgerSettings::default()).unwrap()
    }

    fn note(text: &str) -> NewRecord {
        NewRecord {
            kind: RecordKind::Other("note".into()),
            service: Some(text.into()),
            environment: None,
            digest: None,
            tag: None,
            details: serde_json::json!({}),
        }
    }

    fn services(snapshot: &Snapshot) -> Vec<&str> {
        snapshot
            .records
            .iter()
            .filter_map(|r| r.service.as_deref())
            .collect()
    }

    #[test]
    fn a_lost_push_race_is_rechained_on_top_of_the_winner() {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("remote.git");
        Repository::init_bare(&remote).unwrap();
        let a = clone_of(dir.path(), "a", &remote, "ana@example.com");
        let b = clone_of(dir.path(), "b", &remote, "bob@example.com");
        assert_eq!(
            a.append(note("one")).unwrap().pushed_to.as_deref(),
            Some("origin")
        );

        // b commits its record on top of the ledger it fetched...
        let written = b
            .write_local(&mut |_| Ok(Some(note("two"))))
            .unwrap()
            .unwrap();
        let id = written.record.id.clone();
        assert_eq!(written.record.seq, 2);
        // ...and a pushes first: b's compare-and-swap on the remote must fail, then win.
        a.append(note("three")).unwrap();
        let appended = b.publish(written).unwrap();
        assert_eq!(appended.warning, None);
        assert_eq!(appended.pushed_to.as_deref(), Some("origin"));
        assert_eq!(
            (appended.record.id.as_str(), appended.record.seq),
            (id.as_str(), 3)
        );

        for store in [&a, &b] {
            let snapshot = store.load().unwrap();
            assert_eq!(snapshot.problem, None);
            assert_eq!(services(&snapshot), ["one", "three", "two"]);
            assert_eq!(snapshot.unpushed, 0);
        }
    }

    /// `git daemon` serving `base` over git://, with pushes allowed; stopped on drop.
    struct Daemon(std::process::Child);

    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn serve(base: &Path) -> (Daemon, u16) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        // The daemon itself, not `git daemon`: git runs that as a child process, which
        // would outlive a kill of `git` and keep serving (and holding our output open).
        let exec_path = std::process::Command::new("git")
            .arg("--exec-path")
            .output()
            .unwrap();
        let exec_path = String::from_utf8(exec_path.stdout).unwrap();
        let child = std::process::Command::new(Path::new(exec_path.trim()).join("git-daemon"))
            .args(["--export-all", "--enable=receive-pack", "--reuseaddr"])
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon(child);
        // Ready when it accepts connections; bounded, not timed.
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (daemon, port);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("git daemon did not start on port {port}");
    }

    #[test]
    fn over_the_git_protocol_a_stale_push_is_refused_then_rechained() {
        let dir = tempfile::tempdir().unwrap();
        Repository::init_bare(dir.path().join("remote.git")).unwrap();
        let (_daemon, port) = serve(dir.path());
        let url = format!("git://127.0.0.1:{port}/remote.git");
        let clone = |name: &str, email: &str| {
            let path = dir.path().join(name);
            let repo = Repository::init(&path).unwrap();
            repo.remote("origin", &url).unwrap();
            repo.config()
                .and_then(|c| c.open_level(git2::ConfigLevel::Local))
                .and_then(|mut c| c.set_str("user.email", email))
                .unwrap();
            Store::open(&path, &LedgerSettings::default()).unwrap()
        };
        let a = clone("a", "ana@example.com");
        let b = clone("b", "bob@example.com");
        assert!(a.remote.as_ref().is_some_and(|r| r.local.is_none()));
        assert_eq!(
            a.append(note("one")).unwrap().pushed_to.as_deref(),
            Some("origin")
        );
        let written = b
            .write_local(&mut |_| Ok(Some(note("two"))))
            .unwrap()
            .unwrap();
        a.append(note("three")).unwrap();
        // b's update does not descend from what the remote holds now: the push is
        // refused as a non-fast-forward; b fetches, re-chains and pushes again.
        let appended = b.publish(written).unwrap();
        assert_eq!(appended.warning, None);
        assert_eq!(appended.record.seq, 3);
        let snapshot = a.load().unwrap();
        assert_eq!(snapshot.problem, None);
        assert_eq!(services(&snapshot), ["one", "three", "two"]);
    }

    #[test]
    fn a_remote_cut_back_is_reported_and_never_built_on() {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("remote.git");
        let bare = Repository::init_bare(&remote).unwrap();
        let a = clone_of(dir.path(), "a", &remote, "ana@example.com");
        let b = clone_of(dir.path(), "b", &remote, "bob@example.com");
        let first = a.append(note("one")).unwrap();
        a.append(note("two")).unwrap();
        assert_eq!(services(&b.load().unwrap()), ["one", "two"]);

        // Someone resets the shared ledger to its first record.
        let head = bare.refname_to_id("refs/gantry/ledger").unwrap();
        let parent = bare.find_commit(head).unwrap().parent_id(0).unwrap();
        bare.reference("refs/gantry/ledger", parent, true, "cut")
            .unwrap();
        assert_eq!(first.record.seq, 1);

        let snapshot = b.load().unwrap();
        let problem = snapshot.problem.expect("the cut is noticed");
        assert!(problem.message.contains("`origin`"), "{}", problem.message);
        assert!(problem.message.contains("record #2"), "{}", problem.message);
        assert!(matches!(
            b.append(note("three")),
            Err(LedgerError::Tampered(_))
        ));
        assert_eq!(bare.refname_to_id("refs/gantry/ledger").unwrap(), parent);
    }

    #[test]
    fn local_remotes_are_told_from_network_ones() {
        let base = Path::new("/work/app");
        assert_eq!(
            local_path(base, "/srv/git/app.git"),
            Some(PathBuf::from("/srv/git/app.git"))
        );
        assert_eq!(
            local_path(base, "file:///srv/app.git"),
            Some(PathBuf::from("/srv/app.git"))
        );
        assert_eq!(
            local_path(base, "../app.git"),
            Some(PathBuf::from("/work/app/../app.git"))
        );
        assert_eq!(local_path(base, "git@github.com:org/app.git"), None);
        assert_eq!(local_path(base, "https://github.com/org/app.git"), None);
        assert_eq!(local_path(base, "ssh://git@host/app.git"), None);
    }
}
