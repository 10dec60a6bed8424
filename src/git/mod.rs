//! The application's git repository through git2: branches, history, commit lookup, release and hotfix branches, push.
//!
//! No UI and no registry access here. git2's `Repository` is not Sync, so async callers
//! open a [`GitRepo`] inside `spawn_blocking` and drop it there. Nothing in this module
//! touches the worktree, the index or HEAD: branches are created as references only.
//!
//! This file opens the repository and holds the types callers see; `branches`, `lookup`
//! (what a sha or prefix names, and where on a branch) and `walk` (history below a head,
//! with the chain cache and the commit-graph) hold the queries.

mod branches;
mod cache;
mod chain;
mod containing;
mod error;
pub mod fleet;
mod graph;
mod inflate;
mod lookup;
mod pack;
mod packfile;
pub mod probe;
mod push;
mod readahead;
mod release;
mod suggest;
#[cfg(test)]
pub(crate) mod test_repo;
#[cfg(test)]
mod tests;
pub mod tls;
mod walk;

use std::cell::{OnceCell, RefCell};
use std::path::{Path, PathBuf};

use git2::{Commit, Oid, Repository, RepositoryOpenFlags};
use serde::Serialize;

use crate::config::GitSettings;

use pack::LazyPacks;
use walk::GraphState;

pub use error::GitError;
pub use release::{BranchPlan, Version};

pub(crate) use push::{offer_credentials, CredentialOffers};

/// A commit as people read it in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    pub sha: String,
    /// As many digits as the image tags use.
    pub short: String,
    pub author: String,
    pub email: String,
    /// Author date, UTC, RFC 3339.
    pub date: String,
    /// Committer time in seconds since the epoch: what history walks are bounded by.
    #[serde(skip)]
    pub commit_time: i64,
    pub subject: String,
    pub parents: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchKind {
    Develop,
    Main,
    Release,
    Hotfix,
}

/// One branch gantry cares about, and where it stands against develop and main.
#[derive(Debug, Clone, Serialize)]
pub struct BranchInfo {
    pub name: String,
    pub kind: BranchKind,
    pub head: CommitInfo,
    /// `None` when develop is missing.
    pub ahead_of_develop: Option<usize>,
    pub behind_develop: Option<usize>,
    /// `None` when main is missing.
    pub ahead_of_main: Option<usize>,
    pub behind_main: Option<usize>,
}

/// The newest commits of a branch.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub branch: String,
    /// The reference read: `refs/heads/develop`, or a remote-tracking branch.
    pub reference: String,
    pub commits: Vec<CommitInfo>,
    /// True when older commits exist beyond the ones listed.
    pub more: bool,
}

/// What a short sha (from an image tag) names in this repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A commit, and its place in the branch history asked about (0 = the head), if it is on it.
    Commit {
        commit: CommitInfo,
        position: Option<usize>,
    },
    /// Several objects start with these digits.
    Ambiguous,
    /// Nothing in the repository starts with these digits.
    Missing,
}

/// The commits one side has that the other lacks.
#[derive(Debug, Clone, Serialize)]
pub struct CommitRange {
    /// Newest first, at most the cap asked for.
    pub commits: Vec<CommitInfo>,
    /// How many there are (at most the cap).
    pub count: usize,
    /// True when the walk stopped at the cap: `count` is a lower bound.
    pub truncated: bool,
}

/// An open repository plus the settings that name its branches.
pub struct GitRepo {
    repo: Repository,
    settings: GitSettings,
    short_len: usize,
    notes: RefCell<Vec<String>>,
    /// Where first-parent chains are cached; `None` disables the cache.
    cache_dir: Option<PathBuf>,
    /// Loaded on the first walk that can use it.
    graph: OnceCell<GraphState>,
    /// Opened on the first long walk without a graph.
    packs: LazyPacks,
}

impl std::fmt::Debug for GitRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepo")
            .field("path", &self.settings.path)
            .finish()
    }
}

impl GitRepo {
    /// Opens `settings.path` exactly (no search upwards, so a config next to another
    /// project never reads the wrong repository). `short_len` is the image tags' sha length.
    pub fn open(settings: &GitSettings, short_len: usize) -> Result<GitRepo, GitError> {
        tls::start_libgit2();
        static OPTIONS: std::sync::Once = std::sync::Once::new();
        OPTIONS.call_once(|| {
            // libgit2 re-hashes every object it reads by default; gantry only reads what
            // git wrote, and the hashing was a tenth of a 100,000-commit walk.
            git2::opts::strict_hash_verification(false);
        });
        let path = &settings.path;
        if !path.exists() {
            return Err(GitError::NotARepository {
                path: path.clone(),
                reason: "no such directory".into(),
            });
        }
        let repo = Repository::open_ext(
            path,
            RepositoryOpenFlags::NO_SEARCH,
            std::iter::empty::<&std::ffi::OsStr>(),
        )
        .map_err(|e| GitError::NotARepository {
            path: path.clone(),
            reason: e.message().to_string(),
        })?;
        let mut notes = Vec::new();
        if repo.is_shallow() {
            notes.push(format!(
                "{} is a shallow clone: history stops where the clone was cut, so older commits are missing and counts past that point are short (git fetch --unshallow fetches the rest)",
                path.display()
            ));
        }
        if repo.is_bare() {
            notes.push(format!(
                "{} is a bare repository: no worktree (gantry reads branches and history only)",
                path.display()
            ));
        }
        Ok(GitRepo {
            settings: settings.clone(),
            short_len,
            notes: RefCell::new(notes),
            cache_dir: None,
            graph: OnceCell::new(),
            packs: LazyPacks::new(repo.commondir().join("objects")),
            repo,
        })
    }

    /// Caches first-parent chains under `dir` (gantry's state directory), so tags deep in
    /// a long history are placed without reading every commit on each run.
    pub fn with_cache_dir(mut self, dir: PathBuf) -> GitRepo {
        self.cache_dir = Some(dir);
        self
    }

    /// What is missing from this repository (shallow, bare, a usable commit-graph), for
    /// the user to read once.
    pub fn notes(&self) -> Vec<String> {
        self.notes.borrow().clone()
    }

    /// A shallow clone: history stops where it was cut.
    pub fn is_shallow(&self) -> bool {
        self.repo.is_shallow()
    }

    pub fn settings(&self) -> &GitSettings {
        &self.settings
    }

    pub fn path(&self) -> &Path {
        &self.settings.path
    }

    fn info(&self, commit: &Commit<'_>) -> CommitInfo {
        let sha = commit.id().to_string();
        let author = commit.author();
        let when = author.when();
        let date = chrono::DateTime::from_timestamp(when.seconds(), 0)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        CommitInfo {
            short: sha.chars().take(self.short_len).collect(),
            author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
            email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
            date,
            commit_time: commit.time().seconds(),
            subject: commit
                .summary_bytes()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_default(),
            parents: commit.parent_count(),
            sha,
        }
    }

    fn commit(&self, oid: Oid) -> Result<Commit<'_>, GitError> {
        self.repo
            .find_commit(oid)
            .map_err(GitError::git(format!("reading commit {oid}")))
    }
}
