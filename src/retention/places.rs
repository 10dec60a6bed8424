//! Where the images' commits sit in git: each commit tag's place on develop (with commit
//! times made never to run backwards up the branch) and the heads of open release and
//! hotfix branches, which retention must never delete.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::{Place, RetentionError};
use crate::config::GitSettings;
use crate::domain::is_commit_id;
use crate::git::{GitError, GitRepo, Lookup};

/// What git says about the tags of the repository being cleaned.
#[derive(Debug, Default)]
pub(crate) struct GitFacts {
    pub(crate) places: HashMap<String, Place>,
    /// (branch, head sha) of every open release and hotfix branch.
    pub(crate) heads: Vec<(String, String)>,
    pub(crate) notes: Vec<String>,
    /// The repository is a shallow clone (its notes say so in git's words).
    pub(crate) shallow: bool,
}

/// Places of the commit tags among `tags` (`prefix` + a commit id), and the heads of open
/// release and hotfix branches. No repository at `[git] path`: order by created time, and
/// say that branch heads could not be protected. Blocking: run it off the async workers.
pub(crate) fn git_facts(
    settings: &GitSettings,
    configured_by: &str,
    short_len: usize,
    prefix: &str,
    cache_dir: PathBuf,
    tags: &[String],
) -> Result<GitFacts, RetentionError> {
    let mut by_hex: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for tag in tags {
        if let Some(hex) = tag.strip_prefix(prefix) {
            if is_commit_id(hex) {
                by_hex
                    .entry(hex.to_ascii_lowercase())
                    .or_default()
                    .push(tag.clone());
            }
        }
    }
    let repo = match GitRepo::open(settings, short_len) {
            Ok(repo) => repo.with_cache_dir(cache_dir),
            Err(GitError::NotARepository { path, .. }) => {
                return Ok(GitFacts {
                    notes: vec![format!(
                        "{} is not a git repository: images are ordered by their created time, and release and hotfix heads cannot be protected (set {configured_by})",
                        path.display()
                    )],
                    ..GitFacts::default()
                })
            }
            Err(e) => return Err(RetentionError::Git(e)),
        };
    let hexes: Vec<String> = by_hex.keys().cloned().collect();
    let mut facts = GitFacts::default();
    let lookups = match repo.locate(&settings.develop, &hexes) {
        Ok(lookups) => lookups,
        Err(GitError::BranchNotFound { .. }) => {
            facts.notes.push(format!(
                "no {} branch: images are ordered by their commits' times",
                settings.develop
            ));
            hexes.iter().map(|h| repo.lookup(h)).collect()
        }
        Err(e) => return Err(RetentionError::Git(e)),
    };
    let deepest = lookups
        .iter()
        .filter_map(|l| match l {
            Lookup::Commit { position, .. } => *position,
            _ => None,
        })
        .max();
    let raised = match deepest {
        Some(deepest) => raised_times(settings, &repo.head_of(&settings.develop)?.sha, deepest)?,
        None => Vec::new(),
    };
    for (hex, lookup) in hexes.iter().zip(lookups) {
        if let Lookup::Commit { commit, position } = lookup {
            let time = position
                .and_then(|p| raised.get(p).copied())
                .unwrap_or(commit.commit_time);
            for tag in by_hex.get(hex).into_iter().flatten() {
                facts.places.insert(
                    tag.clone(),
                    Place {
                        position,
                        commit_time: Some(time),
                    },
                );
            }
        }
    }
    facts.heads = branch_heads(settings)?;
    facts.notes.extend(repo.notes());
    facts.shallow = repo.is_shallow();
    Ok(facts)
}

/// For each position on develop down to `deepest`, the newest committer time at or below
/// it: the commit times of develop made to never run backwards up the branch. Computed
/// from the history, not from the images present, so a plan made after some images are
/// deleted orders the rest exactly as before (a rebase or a skewed clock otherwise lets
/// one old commit's time reorder everything above it). The walk is the one that placed
/// the tags: first parents when configured, libgit2's default order.
fn raised_times(
    settings: &GitSettings,
    head: &str,
    deepest: usize,
) -> Result<Vec<i64>, RetentionError> {
    let context = format!("reading commit times on {}", settings.develop);
    let git_error = git_error(&context);
    let repo = open_repository(settings).map_err(&git_error)?;
    let mut walk = repo.revwalk().map_err(&git_error)?;
    if settings.first_parent {
        walk.simplify_first_parent().map_err(&git_error)?;
    }
    walk.push(git2::Oid::from_str(head).map_err(&git_error)?)
        .map_err(&git_error)?;
    let mut times = Vec::with_capacity(deepest + 1);
    for oid in walk.take(deepest + 1) {
        let commit = repo
            .find_commit(oid.map_err(&git_error)?)
            .map_err(&git_error)?;
        times.push(commit.time().seconds());
    }
    let mut floor = i64::MIN;
    for time in times.iter_mut().rev() {
        floor = floor.max(*time);
        *time = floor;
    }
    Ok(times)
}

/// Heads of release and hotfix branches, local and remote-tracking (a CI clone has only
/// the latter); a branch present both ways is named once, by its local head.
fn branch_heads(settings: &GitSettings) -> Result<Vec<(String, String)>, RetentionError> {
    let git_error = git_error("listing release and hotfix branches");
    let repo = open_repository(settings).map_err(&git_error)?;
    let mut heads: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for branch in repo.branches(None).map_err(&git_error)? {
        let (branch, kind) = branch.map_err(&git_error)?;
        let Ok(Some(name)) = branch.name() else {
            continue;
        };
        let (name, local) = match kind {
            git2::BranchType::Local => (name.to_string(), true),
            git2::BranchType::Remote => match name.split_once('/') {
                Some((_, rest)) if rest != "HEAD" => (rest.to_string(), false),
                _ => continue,
            },
        };
        if !name.starts_with(&settings.release_prefix) && !name.starts_with(&settings.hotfix_prefix)
        {
            continue;
        }
        let Ok(commit) = branch.get().peel_to_commit() else {
            continue;
        };
        let sha = commit.id().to_string();
        match heads.get(&name) {
            Some((true, _)) => {}
            _ => {
                heads.insert(name, (local, sha));
            }
        }
    }
    Ok(heads
        .into_iter()
        .map(|(name, (_, sha))| (name, sha))
        .collect())
}

/// A libgit2 failure while `context`, as retention reports it.
fn git_error(context: &str) -> impl Fn(git2::Error) -> RetentionError + '_ {
    move |e| {
        RetentionError::Git(GitError::Git {
            context: context.to_string(),
            message: e.message().to_string(),
        })
    }
}

/// The repository at `[git] path` itself, not one found by searching upwards from it.
fn open_repository(settings: &GitSettings) -> Result<git2::Repository, git2::Error> {
    crate::git::tls::start_libgit2();
    git2::Repository::open_ext(
        &settings.path,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A develop whose committer times run backwards, as after a rebase or on a skewed clock.
    #[test]
    fn develop_times_never_run_backwards_up_the_branch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = |args: &[&str], time: i64| {
            let when = format!("@{} +0000", 1_700_000_000 + time);
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_AUTHOR_NAME", "Ada")
                .env("GIT_AUTHOR_EMAIL", "ada@example.invalid")
                .env("GIT_COMMITTER_NAME", "Ada")
                .env("GIT_COMMITTER_EMAIL", "ada@example.invalid")
                .env("GIT_AUTHOR_DATE", &when)
                .env("GIT_COMMITTER_DATE", &when)
                .output()
                .expect("run git");
            assert!(out.status.success(), "git {args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        git(&["init", "-q", "-b", "develop"], 0);
        for (subject, time) in [("one", 1_000), ("two", 5_000), ("three", 3_000)] {
            git(&["commit", "-q", "--allow-empty", "-m", subject], time);
        }
        let head = git(&["rev-parse", "HEAD"], 0);
        let settings = crate::config::GitSettings {
            path: dir.path().to_path_buf(),
            ..Default::default()
        };
        // Newest first: three (3000) is raised to two's 5000; one stays 1000.
        assert_eq!(
            raised_times(&settings, &head, 2).expect("times"),
            [1_700_005_000, 1_700_005_000, 1_700_001_000]
        );
        // Asked deeper than the history goes: what there is.
        assert_eq!(raised_times(&settings, &head, 10).expect("times").len(), 3);
    }
}
