//! The application's git repository through git2: branches, history, commit lookup, release and hotfix branches, push.
//!
//! No UI and no registry access here. git2's `Repository` is not Sync, so async callers
//! open a [`GitRepo`] inside `spawn_blocking` and drop it there. Nothing in this module
//! touches the worktree, the index or HEAD: branches are created as references only.

mod cache;
mod chain;
mod containing;
mod graph;
mod inflate;
mod pack;
pub mod probe;
mod push;
mod readahead;
mod release;
mod suggest;
#[cfg(test)]
mod test_repo;

use rustc_hash::FxHashMap;
use std::cell::{OnceCell, RefCell};
use std::path::{Path, PathBuf};

use git2::{BranchType, Commit, ErrorCode, ObjectType, Oid, Repository, RepositoryOpenFlags};
use serde::Serialize;

use crate::config::GitSettings;
use crate::domain::is_commit_id;

use chain::FirstParents;
use graph::CommitGraph;
use pack::LazyPacks;

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

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{}: not a git repository ({reason}); set [git] path in the configuration", .path.display())]
    NotARepository { path: PathBuf, reason: String },
    #[error("no branch `{name}` in {}{hint}", .repo.display())]
    BranchNotFound {
        name: String,
        repo: PathBuf,
        hint: String,
    },
    #[error("no commit `{spec}` in {}{hint}", .repo.display())]
    CommitNotFound {
        spec: String,
        repo: PathBuf,
        hint: String,
    },
    #[error("`{spec}` is ambiguous: {}; give more digits", .candidates.join(", "))]
    Ambiguous {
        spec: String,
        candidates: Vec<String>,
    },
    #[error("refused: commit {short} ({subject}) is not on {branch}{hint}")]
    NotOnBranch {
        short: String,
        subject: String,
        branch: String,
        hint: String,
    },
    #[error("refused: branch `{name}` already exists (at {at})")]
    BranchExists { name: String, at: String },
    #[error("`{name}` is not a valid branch name{hint}")]
    InvalidBranchName { name: String, hint: String },
    #[error("invalid version `{0}`: expected X.Y.Z, such as 1.4.0")]
    InvalidVersion(String),
    #[error("push of `{branch}` to `{remote}` failed: {reason}")]
    Push {
        remote: String,
        branch: String,
        reason: String,
        /// A transport or authentication failure, as opposed to a missing remote or a rejection.
        network: bool,
        rejected: bool,
    },
    #[error("{context}: {message}")]
    Git { context: String, message: String },
}

impl GitError {
    /// 1 for a push that could not reach its remote, 3 for a refusal, 2 for the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            GitError::NotOnBranch { .. } | GitError::BranchExists { .. } => 3,
            GitError::Push { rejected: true, .. } => 3,
            GitError::Push { network: true, .. } => 1,
            _ => 2,
        }
    }

    pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
        let context = context.into();
        move |e| GitError::Git {
            context,
            message: e.message().to_string(),
        }
    }
}

/// Commits walked past the oldest tagged commit's time before giving up on the rest:
/// merges can carry committer times older than their parents, as git's own walks allow for.
const SLOP_COMMITS: usize = 256;
/// Clock skew tolerated between a commit and the history walked past it.
const SLOP_SECONDS: i64 = 24 * 3600;

/// Reading this many commit objects in one walk is worth a hint about the commit-graph.
const LONG_WALK: usize = 20_000;

/// The repository's commit-graph as gantry's chain reader sees it.
enum GraphState {
    /// `core.commitGraph` is false: git ignores the file, and so does gantry.
    Off,
    Absent,
    Unusable(String),
    Ready(CommitGraph),
}

/// History below a head, as `locate` and the chain cache walk it.
enum Walk<'r> {
    /// First parents read by gantry (commit-graph, else the objects' `parent` lines).
    Chain(FirstParents<'r>),
    /// libgit2's revwalk: the whole history, or first parents of a shallow or grafted one.
    Revwalk {
        revwalk: git2::Revwalk<'r>,
        walked: usize,
    },
}

impl Iterator for Walk<'_> {
    type Item = Result<Oid, git2::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Walk::Chain(chain) => chain.next(),
            Walk::Revwalk { revwalk, walked } => {
                let next = revwalk.next();
                if matches!(next, Some(Ok(_))) {
                    *walked += 1;
                }
                next
            }
        }
    }
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

    /// The chain cache file for `reference`, when caching applies: first-parent walks of
    /// a complete (not shallow) history.
    fn chain_cache(&self, reference: &str) -> Option<PathBuf> {
        if !self.settings.first_parent || self.repo.is_shallow() {
            return None;
        }
        let dir = self.cache_dir.as_ref()?;
        Some(cache::path(dir, self.repo.path(), reference))
    }

    /// `head`'s first-parent chain from the cache, extended by the commits added since;
    /// `None` when nothing is cached. A head that never reaches the cached one (a
    /// rewritten branch) is walked to the end and cached anew.
    fn cached_chain(&self, file: &Path, head: Oid) -> Result<Option<Vec<Oid>>, GitError> {
        let Some(cached) = cache::load(file) else {
            return Ok(None);
        };
        if cached.first() == Some(&head) {
            return Ok(Some(cached));
        }
        let mut chain = Vec::new();
        let mut met = false;
        let mut walk = self.walk_below(head)?;
        for oid in &mut walk {
            let oid = match oid {
                Ok(oid) => oid,
                Err(e) if e.code() == ErrorCode::NotFound => break,
                Err(e) => return Err(GitError::git("walking history")(e)),
            };
            if Some(&oid) == cached.first() {
                met = true;
                break;
            }
            chain.push(oid);
        }
        self.hint_after_walk(&walk);
        if met {
            chain.extend(cached);
        }
        cache::store(file, &chain);
        Ok(Some(chain))
    }

    /// `head` and the history below it, newest first: first parents only if configured.
    fn walk_below(&self, head: Oid) -> Result<Walk<'_>, GitError> {
        if self.reads_chains() {
            let odb = self.repo.odb().map_err(GitError::git("walking history"))?;
            return Ok(Walk::Chain(
                FirstParents::new(odb, self.graph(), head).reading_packs(&self.packs),
            ));
        }
        Ok(Walk::Revwalk {
            revwalk: self.revwalk_from(head)?,
            walked: 0,
        })
    }

    /// libgit2's revwalk from `head`, following first parents only if configured.
    fn revwalk_from(&self, head: Oid) -> Result<git2::Revwalk<'_>, GitError> {
        let mut revwalk = self
            .repo
            .revwalk()
            .map_err(GitError::git("walking history"))?;
        if self.settings.first_parent {
            revwalk
                .simplify_first_parent()
                .map_err(GitError::git("walking history"))?;
        }
        revwalk
            .push(head)
            .map_err(GitError::git("walking history"))?;
        Ok(revwalk)
    }

    /// True when first-parent chains are read by gantry rather than by a revwalk. A
    /// shallow clone's or a grafted history's parents are not the ones the objects name,
    /// and only libgit2 knows the grafts.
    fn reads_chains(&self) -> bool {
        self.settings.first_parent
            && !self.repo.is_shallow()
            && !self.repo.commondir().join("info").join("grafts").exists()
    }

    /// The commit-graph, loaded on first use; `None` when there is none gantry can use.
    fn graph(&self) -> Option<&CommitGraph> {
        let state = self.graph.get_or_init(|| {
            let enabled = self
                .repo
                .config()
                .and_then(|c| c.get_bool("core.commitGraph"))
                .unwrap_or(true);
            if !enabled {
                return GraphState::Off;
            }
            match CommitGraph::load(&self.repo.commondir().join("objects")) {
                Ok(Some(graph)) => GraphState::Ready(graph),
                Ok(None) => GraphState::Absent,
                Err(graph::Unusable(why)) => GraphState::Unusable(why),
            }
        });
        match state {
            GraphState::Ready(graph) => Some(graph),
            _ => None,
        }
    }

    /// `oid`'s committer time: from the commit-graph when a walk has loaded it, else
    /// from the commit.
    fn commit_time(&self, oid: Oid) -> Result<i64, GitError> {
        if let Some(GraphState::Ready(graph)) = self.graph.get() {
            if let Some(time) = graph.position(&oid).and_then(|p| graph.commit_time(p)) {
                return Ok(time);
            }
        }
        Ok(self.commit(oid)?.time().seconds())
    }

    /// What is missing from this repository (shallow, bare, a usable commit-graph), for
    /// the user to read once.
    pub fn notes(&self) -> Vec<String> {
        self.notes.borrow().clone()
    }

    /// After a walk that read many commit objects: says how to make the next one fast.
    fn hint_after_walk(&self, walk: &Walk<'_>) {
        let path = self.settings.path.display();
        let note = match walk {
            Walk::Chain(chain) => {
                let read = chain.objects_read();
                if read < LONG_WALK {
                    return;
                }
                let why = match self.graph.get() {
                    Some(GraphState::Ready(_)) if chain.graph_damaged() => {
                        "its commit-graph is damaged".to_string()
                    }
                    Some(GraphState::Ready(_)) => {
                        "its commit-graph was written before them".to_string()
                    }
                    Some(GraphState::Off) => "core.commitGraph is false".to_string(),
                    Some(GraphState::Unusable(why)) => {
                        format!("its commit-graph cannot be read ({why})")
                    }
                    Some(GraphState::Absent) | None => "it has no commit-graph".to_string(),
                };
                format!(
                    "walked {read} commits reading each one, because {why}; `git commit-graph write --reachable` in {path} (as `git gc` does) lets such walks read the graph instead, in milliseconds"
                )
            }
            // libgit2 1.9 reads only a single commit-graph file without the
            // generation-data chunks that git writes by default since 2.34.
            Walk::Revwalk { walked, .. } => {
                if *walked < LONG_WALK {
                    return;
                }
                let info = self.repo.commondir().join("objects").join("info");
                let why = match std::fs::read(info.join("commit-graph")) {
                    Ok(bytes) if commit_graph_is_readable(&bytes) => return,
                    Ok(_) => "its commit-graph has generation data libgit2 cannot read",
                    Err(_) if info.join("commit-graphs").exists() => {
                        "its commit-graph is split, which libgit2 cannot read"
                    }
                    Err(_) => "it has no commit-graph",
                };
                format!(
                    "walked {walked} commits reading each one, because {why}; `git -c commitGraph.generationVersion=1 commit-graph write --reachable` in {path} makes such walks several times faster"
                )
            }
        };
        self.notes.borrow_mut().push(note);
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

    /// The head of `name`: the local branch, else `<remote>/<name>` (as in a CI clone).
    /// Returns the reference read and the commit.
    fn branch_head(&self, name: &str) -> Result<(String, Oid), GitError> {
        let candidates = [
            format!("refs/heads/{name}"),
            format!("refs/remotes/{}/{name}", self.settings.remote),
        ];
        for reference in &candidates {
            match self.repo.find_reference(reference) {
                Ok(found) => {
                    let commit = found
                        .peel_to_commit()
                        .map_err(GitError::git(format!("reading {reference}")))?;
                    return Ok((reference.clone(), commit.id()));
                }
                Err(e) if e.code() == ErrorCode::NotFound => continue,
                Err(e) => return Err(GitError::git(format!("reading {reference}"))(e)),
            }
        }
        Err(GitError::BranchNotFound {
            name: name.to_string(),
            repo: self.settings.path.clone(),
            hint: self.missing_branch_hint(name),
        })
    }

    fn missing_branch_hint(&self, name: &str) -> String {
        let mut hint = format!(" (nor {}/{name})", self.settings.remote);
        if self.repo.head_detached().unwrap_or(false) {
            if let Ok(head) = self.repo.head().and_then(|h| h.peel_to_commit()) {
                hint.push_str(&format!(
                    "; HEAD is detached at {}, and gantry reads branches by name: fetch or create `{name}`",
                    self.info(&head).short
                ));
            }
        } else {
            hint.push_str(&format!(
                "; create or fetch it, or name your branch in [git] {}",
                if name == self.settings.main {
                    "main"
                } else {
                    "develop"
                }
            ));
        }
        hint.push_str(&self.branch_suggestion(name));
        hint
    }

    /// The head commit of a branch (local, else remote-tracking).
    pub fn head_of(&self, branch: &str) -> Result<CommitInfo, GitError> {
        let (_, oid) = self.branch_head(branch)?;
        Ok(self.info(&self.commit(oid)?))
    }

    /// Resolves what a person typed: a full or short sha (at least 4 digits), or any
    /// revision git understands (`develop~2`, a tag). Only commits are accepted.
    pub fn resolve(&self, spec: &str) -> Result<CommitInfo, GitError> {
        let spec = spec.trim();
        let not_found = |hint: String| GitError::CommitNotFound {
            spec: spec.to_string(),
            repo: self.settings.path.clone(),
            hint,
        };
        let shallow_hint = || {
            if self.repo.is_shallow() {
                " (this is a shallow clone: older commits are not here)".to_string()
            } else {
                String::new()
            }
        };
        if spec.is_empty() {
            return Err(not_found(String::new()));
        }
        let object = if is_commit_id(spec) {
            match self.repo.find_object_by_prefix(spec, None) {
                Ok(object) => object,
                Err(e) if e.code() == ErrorCode::Ambiguous => {
                    return Err(GitError::Ambiguous {
                        spec: spec.to_string(),
                        candidates: self.candidates(spec),
                    })
                }
                Err(e) if e.code() == ErrorCode::NotFound => return Err(not_found(shallow_hint())),
                Err(e) => return Err(GitError::git(format!("looking up `{spec}`"))(e)),
            }
        } else {
            match self.repo.revparse_single(spec) {
                Ok(object) => object,
                Err(e) if e.code() == ErrorCode::Ambiguous => {
                    return Err(GitError::Ambiguous {
                        spec: spec.to_string(),
                        candidates: Vec::new(),
                    })
                }
                Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => {
                    return Err(not_found(shallow_hint()))
                }
                Err(e) => return Err(not_found(format!(" ({})", e.message()))),
            }
        };
        let kind = object.kind();
        let commit = object.peel_to_commit().map_err(|_| {
            not_found(format!(
                " (`{spec}` is a {}, not a commit)",
                kind.map(|k| k.str()).unwrap_or("object")
            ))
        })?;
        Ok(self.info(&commit))
    }

    /// Objects whose id starts with `prefix`, for an ambiguity message. Reads the whole
    /// object database, which is fine on this error path only.
    fn candidates(&self, prefix: &str) -> Vec<String> {
        let prefix = prefix.to_ascii_lowercase();
        let Ok(odb) = self.repo.odb() else {
            return Vec::new();
        };
        let found = RefCell::new(Vec::new());
        let _ = odb.foreach(|oid| {
            if oid.to_string().starts_with(&prefix) {
                found.borrow_mut().push(*oid);
            }
            found.borrow().len() < 10
        });
        let mut out: Vec<String> = found
            .into_inner()
            .into_iter()
            .map(|oid| {
                let kind = odb
                    .read_header(oid)
                    .map(|(_, kind)| kind)
                    .unwrap_or(ObjectType::Any);
                match (kind, self.repo.find_commit(oid)) {
                    (ObjectType::Commit, Ok(commit)) => {
                        format!("{oid} commit {}", self.info(&commit).subject)
                    }
                    _ => format!("{oid} {}", kind.str()),
                }
            })
            .collect();
        out.sort();
        out
    }

    /// Walks `head`'s history newest first (first parents only if configured), handing
    /// each commit to `visit` until it returns false.
    fn walk(
        &self,
        head: Oid,
        mut visit: impl FnMut(&Commit<'_>) -> Result<bool, GitError>,
    ) -> Result<(), GitError> {
        if self.settings.first_parent {
            // Following parents by hand reads each commit once; a revwalk would parse it
            // for its parents and then again for its message.
            let mut next = Some(head);
            while let Some(oid) = next {
                let commit = match self.repo.find_commit(oid) {
                    Ok(commit) => commit,
                    // A shallow clone's edge, or a damaged repository: history ends here.
                    Err(e) if e.code() == ErrorCode::NotFound && oid != head => return Ok(()),
                    Err(e) => return Err(GitError::git(format!("reading commit {oid}"))(e)),
                };
                if !visit(&commit)? {
                    return Ok(());
                }
                next = commit.parent_id(0).ok();
            }
            Ok(())
        } else {
            for oid in self.revwalk_from(head)? {
                let oid = oid.map_err(GitError::git("walking history"))?;
                if !visit(&self.commit(oid)?)? {
                    break;
                }
            }
            Ok(())
        }
    }

    /// The newest `limit` commits of `branch`.
    pub fn history(&self, branch: &str, limit: usize) -> Result<History, GitError> {
        let (reference, head) = self.branch_head(branch)?;
        let mut commits = Vec::with_capacity(limit.min(10_000));
        let mut more = false;
        self.walk(head, |commit| {
            if commits.len() == limit {
                more = true;
                return Ok(false);
            }
            commits.push(self.info(commit));
            Ok(true)
        })?;
        Ok(History {
            branch: branch.to_string(),
            reference,
            commits,
            more,
        })
    }

    /// What a hex prefix (an image tag's digits) names, without its place in history.
    pub fn lookup(&self, prefix: &str) -> Lookup {
        if !is_commit_id(prefix) {
            return Lookup::Missing;
        }
        match self.repo.find_commit_by_prefix(prefix) {
            Ok(commit) => Lookup::Commit {
                commit: self.info(&commit),
                position: None,
            },
            Err(e) if e.code() == ErrorCode::Ambiguous => Lookup::Ambiguous,
            // Not found, or found but not a commit: either way no commit of ours.
            Err(_) => Lookup::Missing,
        }
    }

    /// What each hex prefix (the digits of an image tag) names, and where those commits
    /// sit in `branch`'s history. The walk stops once every commit found is placed, or
    /// once it is well past the oldest of them, so it costs the depth of the oldest tagged
    /// commit, not the whole history. A commit not met by then is off the branch. Digits
    /// that match several objects name the commit among them met on the branch, if any.
    pub fn locate(&self, branch: &str, prefixes: &[String]) -> Result<Vec<Lookup>, GitError> {
        let (reference, head) = self.branch_head(branch)?;
        let mut lookups: Vec<Lookup> = prefixes.iter().map(|p| self.lookup(p)).collect();
        let mut wanted: FxHashMap<Oid, Vec<usize>> = FxHashMap::default();
        let mut ambiguous: Vec<(String, usize)> = Vec::new();
        for (i, lookup) in lookups.iter().enumerate() {
            match lookup {
                Lookup::Commit { commit, .. } => {
                    if let Ok(oid) = Oid::from_str(&commit.sha) {
                        wanted.entry(oid).or_default().push(i);
                    }
                }
                Lookup::Ambiguous => ambiguous.push((prefixes[i].to_ascii_lowercase(), i)),
                Lookup::Missing => {}
            }
        }
        if wanted.is_empty() && ambiguous.is_empty() {
            return Ok(lookups);
        }
        // First the cached part of the chain, if any: exact, and no commit is read.
        let cache_file = self.chain_cache(&reference);
        let mut chain = match &cache_file {
            Some(file) => self.cached_chain(file, head)?.unwrap_or_default(),
            None => Vec::new(),
        };
        if !chain.is_empty() {
            let cached = chain.iter().copied().map(Ok);
            self.place(
                cached,
                0,
                &mut lookups,
                &wanted,
                &mut ambiguous,
                i64::MAX,
                None,
            )?;
        }
        let unplaced: FxHashMap<Oid, Vec<usize>> = wanted
            .into_iter()
            .filter(|(_, indexes)| {
                indexes
                    .iter()
                    .any(|&i| matches!(lookups.get(i), Some(Lookup::Commit { position: None, .. })))
            })
            .collect();
        if unplaced.is_empty() && ambiguous.is_empty() {
            return Ok(lookups);
        }

        // Then on down the history (below the cached part: the chain under a commit
        // never changes), until everything is placed or the walk is well past the oldest.
        let oldest = unplaced
            .values()
            .flatten()
            .filter_map(|&i| match lookups.get(i) {
                Some(Lookup::Commit { commit, .. }) => Some(commit.commit_time),
                _ => None,
            })
            .min();
        let cutoff = oldest.map_or(i64::MAX, |t| t.saturating_sub(SLOP_SECONDS));
        let (start, skip) = match chain.last() {
            Some(tail) => (*tail, 1),
            None => (head, 0),
        };
        let mut walk = self.walk_below(start)?;
        let mut walked = cache_file.as_ref().map(|_| Vec::new());
        self.place(
            (&mut walk).skip(skip),
            chain.len(),
            &mut lookups,
            &unplaced,
            &mut ambiguous,
            cutoff,
            walked.as_mut(),
        )?;
        if cutoff != i64::MAX {
            self.hint_after_walk(&walk);
        }
        if let (Some(file), Some(walked)) = (&cache_file, walked) {
            if !walked.is_empty() {
                chain.extend(walked);
                cache::store(file, &chain);
            }
        }
        Ok(lookups)
    }

    /// Gives each wanted commit met in `walk` its position (counted from `offset`), until
    /// all are placed or the walk is well past `cutoff`. Records the walked ids in `chain`
    /// when asked.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &self,
        walk: impl Iterator<Item = Result<Oid, git2::Error>>,
        offset: usize,
        lookups: &mut [Lookup],
        wanted: &FxHashMap<Oid, Vec<usize>>,
        ambiguous: &mut Vec<(String, usize)>,
        cutoff: i64,
        mut chain: Option<&mut Vec<Oid>>,
    ) -> Result<(), GitError> {
        let mut remaining = wanted.len();
        let mut past_cutoff = 0usize;
        for (step, oid) in walk.enumerate() {
            let position = offset + step;
            let oid = match oid {
                Ok(oid) => oid,
                // The edge of a shallow clone.
                Err(e) if e.code() == ErrorCode::NotFound => break,
                Err(e) => return Err(GitError::git("walking history")(e)),
            };
            if let Some(chain) = chain.as_deref_mut() {
                chain.push(oid);
            }
            if let Some(indexes) = wanted.get(&oid) {
                remaining -= 1;
                for &i in indexes {
                    if let Some(Lookup::Commit { position: p, .. }) = lookups.get_mut(i) {
                        *p = Some(position);
                    }
                }
            }
            if !ambiguous.is_empty() {
                let mut matched = Vec::new();
                ambiguous.retain(|(prefix, i)| {
                    let hit = spelled_with(&oid, prefix);
                    if hit {
                        matched.push(*i);
                    }
                    !hit
                });
                for i in matched {
                    lookups[i] = Lookup::Commit {
                        commit: self.info(&self.commit(oid)?),
                        position: Some(position),
                    };
                }
            }
            if remaining == 0 && ambiguous.is_empty() {
                break;
            }
            // Reading the time can cost a commit object: once in a while is enough.
            if cutoff != i64::MAX && step % 64 == 63 && self.commit_time(oid)? < cutoff {
                past_cutoff += 64;
                if past_cutoff >= SLOP_COMMITS {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The commits reachable from `from` but not from `to` (all of `from`'s history when
    /// `to` is `None`), newest first, following first parents if configured. At most
    /// `cap` are read.
    pub fn range(&self, from: &str, to: Option<&str>, cap: usize) -> Result<CommitRange, GitError> {
        let from = self.oid(from)?;
        let to = to.map(|t| self.oid(t)).transpose()?;
        let mut revwalk = self.revwalk_from(from)?;
        if let Some(to) = to {
            revwalk.hide(to).map_err(GitError::git("walking history"))?;
        }
        let mut commits = Vec::new();
        let mut truncated = false;
        for oid in revwalk {
            let oid = match oid {
                Ok(oid) => oid,
                // The edge of a shallow clone.
                Err(e) if e.code() == ErrorCode::NotFound => break,
                Err(e) => return Err(GitError::git("walking history")(e)),
            };
            if commits.len() == cap {
                truncated = true;
                break;
            }
            commits.push(self.info(&self.commit(oid)?));
        }
        Ok(CommitRange {
            count: commits.len(),
            commits,
            truncated,
        })
    }

    fn oid(&self, sha: &str) -> Result<Oid, GitError> {
        let oid = if sha.len() == 40 {
            Oid::from_str(sha).ok()
        } else {
            None
        };
        match oid {
            Some(oid) => Ok(oid),
            None => self.resolve(sha).and_then(|c| {
                Oid::from_str(&c.sha).map_err(GitError::git(format!("reading {sha}")))
            }),
        }
    }

    /// True when `commit` is `branch`'s head or one of its ancestors.
    pub fn is_on(&self, commit: &str, branch: &str) -> Result<bool, GitError> {
        let (_, head) = self.branch_head(branch)?;
        let commit = self.oid(commit)?;
        Ok(commit == head
            || self
                .repo
                .graph_descendant_of(head, commit)
                .map_err(GitError::git(format!(
                    "checking whether {commit} is on {branch}"
                )))?)
    }

    /// develop, main, and every release and hotfix branch, with ahead/behind counts.
    /// Local branches; remote-tracking ones only stand in for a missing develop or main.
    pub fn branches(&self) -> Result<Vec<BranchInfo>, GitError> {
        let develop = self.branch_head(&self.settings.develop).ok();
        let main = self.branch_head(&self.settings.main).ok();
        let mut named: Vec<(String, BranchKind, Oid)> = Vec::new();
        if let Some((_, oid)) = &develop {
            named.push((self.settings.develop.clone(), BranchKind::Develop, *oid));
        }
        if let Some((_, oid)) = &main {
            named.push((self.settings.main.clone(), BranchKind::Main, *oid));
        }
        let mut others = Vec::new();
        let branches = self
            .repo
            .branches(Some(BranchType::Local))
            .map_err(GitError::git("listing branches"))?;
        for branch in branches {
            let (branch, _) = branch.map_err(GitError::git("listing branches"))?;
            let Ok(Some(name)) = branch.name() else {
                continue;
            };
            let kind = if name.starts_with(&self.settings.release_prefix) {
                BranchKind::Release
            } else if name.starts_with(&self.settings.hotfix_prefix) {
                BranchKind::Hotfix
            } else {
                continue;
            };
            let Ok(commit) = branch.get().peel_to_commit() else {
                continue;
            };
            others.push((name.to_string(), kind, commit.id()));
        }
        // Releases, then hotfixes, each by name.
        others.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        named.extend(others);
        let counts = |oid: Oid,
                      base: Option<(String, Oid)>|
         -> Result<(Option<usize>, Option<usize>), GitError> {
            match base {
                Some((_, base)) => {
                    let (ahead, behind) = self
                        .repo
                        .graph_ahead_behind(oid, base)
                        .map_err(GitError::git("counting commits ahead and behind"))?;
                    Ok((Some(ahead), Some(behind)))
                }
                None => Ok((None, None)),
            }
        };
        named
            .into_iter()
            .map(|(name, kind, oid)| {
                let (ahead_of_develop, behind_develop) = counts(oid, develop.clone())?;
                let (ahead_of_main, behind_main) = counts(oid, main.clone())?;
                Ok(BranchInfo {
                    name,
                    kind,
                    head: self.info(&self.commit(oid)?),
                    ahead_of_develop,
                    behind_develop,
                    ahead_of_main,
                    behind_main,
                })
            })
            .collect()
    }

    /// Names of every branch, local and remote-tracking (remote name stripped).
    fn all_branch_names(&self) -> Result<Vec<String>, GitError> {
        let mut names = Vec::new();
        let branches = self
            .repo
            .branches(None)
            .map_err(GitError::git("listing branches"))?;
        for branch in branches {
            let (branch, kind) = branch.map_err(GitError::git("listing branches"))?;
            let Ok(Some(name)) = branch.name() else {
                continue;
            };
            let name = match kind {
                BranchType::Local => name.to_string(),
                BranchType::Remote => match name.split_once('/') {
                    Some((_, rest)) => rest.to_string(),
                    None => continue,
                },
            };
            names.push(name);
        }
        Ok(names)
    }

    /// Creates `refs/heads/<name>` at `sha`. Never moves HEAD and never touches the
    /// worktree or the index, so a dirty checkout or a detached HEAD is left as it was.
    pub fn create_branch(&self, name: &str, sha: &str) -> Result<(), GitError> {
        let oid = self.oid(sha)?;
        let commit = self.commit(oid)?;
        match self.repo.branch(name, &commit, false) {
            Ok(_) => Ok(()),
            Err(e) if e.code() == ErrorCode::Exists => Err(GitError::BranchExists {
                name: name.to_string(),
                at: self.existing_branch_at(name),
            }),
            Err(e) => Err(GitError::git(format!("creating branch `{name}`"))(e)),
        }
    }

    fn existing_branch_at(&self, name: &str) -> String {
        self.repo
            .find_branch(name, BranchType::Local)
            .ok()
            .and_then(|b| b.get().peel_to_commit().ok())
            .map(|c| {
                let info = self.info(&c);
                format!("{} {}", info.short, info.subject)
            })
            .unwrap_or_else(|| "?".into())
    }

    /// Deletes a branch gantry just created (after a failed push), so nothing is left changed.
    pub fn delete_branch(&self, name: &str) -> Result<(), GitError> {
        let mut branch = self
            .repo
            .find_branch(name, BranchType::Local)
            .map_err(GitError::git(format!("finding branch `{name}`")))?;
        branch
            .delete()
            .map_err(GitError::git(format!("deleting branch `{name}`")))
    }

    fn branch_exists(&self, name: &str) -> bool {
        self.repo.find_branch(name, BranchType::Local).is_ok()
    }
}

/// True when `oid` in hex starts with `prefix` (lowercase): checked on every commit of a
/// long walk, where spelling each id out was a twentieth of the walk.
fn spelled_with(oid: &Oid, prefix: &str) -> bool {
    let bytes = oid.as_bytes();
    prefix.bytes().enumerate().all(|(i, digit)| {
        bytes.get(i / 2).is_some_and(|byte| {
            let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0xf };
            char::from_digit(u32::from(nibble), 16) == Some(char::from(digit))
        })
    })
}

/// True for a commit-graph file libgit2 1.9 can use: version 1, and only the chunks it
/// knows (fanout, lookup, commit data, extra edges, bloom filters).
fn commit_graph_is_readable(bytes: &[u8]) -> bool {
    const KNOWN: [&[u8; 4]; 6] = [b"OIDF", b"OIDL", b"CDAT", b"EDGE", b"BIDX", b"BDAT"];
    if bytes.len() < 8 || &bytes[..4] != b"CGPH" || bytes[4] != 1 {
        return false;
    }
    let chunks = usize::from(bytes[6]);
    (0..chunks).all(|i| {
        let at = 8 + i * 12;
        bytes
            .get(at..at + 4)
            .is_some_and(|id| KNOWN.iter().any(|k| k.as_slice() == id))
    })
}

#[cfg(test)]
mod tests {
    use super::{commit_graph_is_readable, spelled_with};
    use git2::Oid;

    fn graph(chunks: &[&[u8; 4]]) -> Vec<u8> {
        let mut bytes = b"CGPH\x01\x01".to_vec();
        bytes.push(chunks.len() as u8);
        bytes.push(0);
        for id in chunks {
            bytes.extend_from_slice(*id);
            bytes.extend_from_slice(&[0; 8]);
        }
        bytes
    }

    #[test]
    fn hex_prefixes_match_without_spelling_ids_out() {
        let oid = Oid::from_str("0ff0f20a9b1c2d3e4f5061728394a5b6c7d8e9f0").expect("oid");
        for prefix in [
            "",
            "0",
            "0f",
            "0ff0f20",
            "0ff0f20a9b1c2d3e4f5061728394a5b6c7d8e9f0",
        ] {
            assert!(spelled_with(&oid, prefix), "{prefix}");
        }
        for prefix in [
            "1",
            "0ff0f21",
            "0FF0F20",
            "0ff0f20a9b1c2d3e4f5061728394a5b6c7d8e9f00",
            "g",
        ] {
            assert!(!spelled_with(&oid, prefix), "{prefix}");
        }
    }

    #[test]
    fn commit_graph_readability_follows_its_chunks() {
        assert!(commit_graph_is_readable(&graph(&[
            b"OIDF", b"OIDL", b"CDAT"
        ])));
        assert!(commit_graph_is_readable(&graph(&[
            b"OIDF", b"OIDL", b"CDAT", b"BIDX", b"BDAT"
        ])));
        assert!(!commit_graph_is_readable(&graph(&[
            b"OIDF", b"OIDL", b"CDAT", b"GDA2"
        ])));
        assert!(!commit_graph_is_readable(b"CGPH"));
        assert!(!commit_graph_is_readable(b"PACK\x01\x01\x00\x00"));
    }
}
