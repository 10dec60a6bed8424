//! Walking history below a head: gantry's own first-parent chains (commit-graph, else the
//! packed objects), libgit2's revwalk otherwise, the chain cache, and the hint a long walk
//! leaves about making the next one fast.

use std::path::{Path, PathBuf};

use git2::{Commit, ErrorCode, Oid};

use super::chain::FirstParents;
use super::graph::{self, CommitGraph};
use super::{cache, CommitRange, GitError, GitRepo, History};

/// Reading this many commit objects in one walk is worth a hint about the commit-graph.
const LONG_WALK: usize = 20_000;

/// The repository's commit-graph as gantry's chain reader sees it.
pub(super) enum GraphState {
    /// `core.commitGraph` is false: git ignores the file, and so does gantry.
    Off,
    Absent,
    Unusable(String),
    Ready(CommitGraph),
}

/// History below a head, as `locate` and the chain cache walk it.
pub(super) enum Walk<'r> {
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

impl GitRepo {
    /// The chain cache file for `reference`, when caching applies: first-parent walks of
    /// a complete (not shallow) history.
    pub(super) fn chain_cache(&self, reference: &str) -> Option<PathBuf> {
        if !self.settings.first_parent || self.repo.is_shallow() {
            return None;
        }
        let dir = self.cache_dir.as_ref()?;
        Some(cache::path(dir, self.repo.path(), reference))
    }

    /// `head`'s first-parent chain from the cache, extended by the commits added since;
    /// `None` when nothing is cached. A head that never reaches the cached one (a
    /// rewritten branch) is walked to the end and cached anew.
    pub(super) fn cached_chain(
        &self,
        file: &Path,
        head: Oid,
    ) -> Result<Option<Vec<Oid>>, GitError> {
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
    pub(super) fn walk_below(&self, head: Oid) -> Result<Walk<'_>, GitError> {
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
    pub(super) fn commit_time(&self, oid: Oid) -> Result<i64, GitError> {
        if let Some(GraphState::Ready(graph)) = self.graph.get() {
            if let Some(time) = graph.position(&oid).and_then(|p| graph.commit_time(p)) {
                return Ok(time);
            }
        }
        Ok(self.commit(oid)?.time().seconds())
    }

    /// After a walk that read many commit objects: says how to make the next one fast.
    pub(super) fn hint_after_walk(&self, walk: &Walk<'_>) {
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
}

/// True for a commit-graph file libgit2 1.9 can use: version 1, and only the chunks it
/// knows (fanout, lookup, commit data, extra edges, bloom filters).
pub(super) fn commit_graph_is_readable(bytes: &[u8]) -> bool {
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
