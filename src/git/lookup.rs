//! What a sha, a hex prefix or a revision names in the repository, and where the commits
//! an image tag names sit on a branch (the cached chain first, then a bounded walk).

use std::cell::RefCell;

use git2::{ErrorCode, ObjectType, Oid};
use rustc_hash::FxHashMap;

use super::{cache, CommitInfo, GitError, GitRepo, Lookup};
use crate::domain::is_commit_id;
/// Commits walked past the oldest tagged commit's time before giving up on the rest:
/// merges can carry committer times older than their parents, as git's own walks allow for.
const SLOP_COMMITS: usize = 256;
/// Clock skew tolerated between a commit and the history walked past it.
const SLOP_SECONDS: i64 = 24 * 3600;
impl GitRepo {
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

    pub(super) fn oid(&self, sha: &str) -> Result<Oid, GitError> {
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
}

/// True when `oid` in hex starts with `prefix` (lowercase): checked on every commit of a
/// long walk, where spelling each id out was a twentieth of the walk.
pub(super) fn spelled_with(oid: &Oid, prefix: &str) -> bool {
    let bytes = oid.as_bytes();
    prefix.bytes().enumerate().all(|(i, digit)| {
        bytes.get(i / 2).is_some_and(|byte| {
            let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0xf };
            char::from_digit(u32::from(nibble), 16) == Some(char::from(digit))
        })
    })
}
