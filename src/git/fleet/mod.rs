//! Service repositories named by URL, kept as bare mirrors under the state directory.
//!
//! The first fetch of a URL clones it into a directory that takes the mirror's name only
//! once complete, so a reader never opens half a clone; later fetches bring only what is
//! new. Only the branches gantry reads are fetched (develop, main, the release and hotfix
//! ones), each under its own name, and pruned when the remote deletes it. Each mirror
//! records when it was last fetched. A fetch holds the mirror's lock, so two gantry
//! processes take turns; reading needs no lock (git writes packs and refs atomically).
//! `queue` runs fetches in the background, a few at a time, the ones asked first first.

mod queue;
#[cfg(test)]
mod tests;

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use git2::{AutotagOption, ErrorClass, FetchOptions, FetchPrune, RemoteCallbacks};
use git2::{Repository, RepositoryInitOptions};
use sha2::{Digest as _, Sha256};

use super::{offer_credentials, CredentialOffers};
use crate::config::GitSettings;
use crate::domain::repo_location::local_dir;

pub use queue::{FetchJob, FetchQueue, FetchReport};

/// The remote's name inside a mirror: where `--push` sends a cut branch.
pub const MIRROR_REMOTE: &str = "origin";
/// Written into a mirror after each fetch that worked: the time, in seconds since the epoch.
const FETCHED_FILE: &str = "gantry-fetched";
/// libgit2's depth meaning "deepen a shallow repository to its whole history".
const UNSHALLOW: i32 = i32::MAX;

/// How much history a fetch brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// All of it: a mirror cloned with recent history only is completed.
    Full,
    /// A mirror not made yet is cloned with the newest this-many commits of each branch
    /// (a fraction of the objects, so a fleet is readable soon); one that exists is
    /// brought up to date as it is, neither deepened nor cut.
    Recent(u32),
}

/// The history a first clone brings when a fleet is wanted fast: as many commits as a
/// status or diff counts between two environments at most.
pub const RECENT_COMMITS: u32 = 1000;

/// The mirrors kept under one directory (`<state>/repos`).
#[derive(Debug, Clone)]
pub struct Mirrors {
    dir: PathBuf,
}

/// A fetch that worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The mirror, ready to open.
    pub path: PathBuf,
    /// When it finished, in seconds since the epoch.
    pub at: i64,
    /// This fetch made the mirror (nothing was there before).
    pub cloned: bool,
    /// The remote is itself a shallow clone: the mirror's history stops where its did.
    pub shallow: bool,
}

/// Why a fetch failed, in the user's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchFailure {
    /// The network, the server or the credentials: trying again later may work.
    Unreachable,
    /// There is no git repository at that address.
    NotARepository,
    /// The remote is a shallow clone itself: libgit2 cannot fetch from one (over the
    /// network it fails; from a directory it would make a mirror missing older commits
    /// without knowing it).
    Shallow,
    /// The mirror on this machine could not be written or read.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct FetchError {
    pub url: String,
    pub reason: String,
    pub failure: FetchFailure,
}

impl FetchError {
    fn local(url: &str, reason: impl std::fmt::Display) -> FetchError {
        FetchError {
            url: url.to_string(),
            reason: reason.to_string(),
            failure: FetchFailure::Local,
        }
    }
}

/// What a fetch asks of the remote: develop, main and the release and hotfix branches of
/// `settings`, each into the same name, forced (the remote's word is the mirror's).
pub fn refspecs(settings: &GitSettings) -> Vec<String> {
    let mut specs = Vec::new();
    for branch in [&settings.develop, &settings.main] {
        specs.push(format!("+refs/heads/{branch}:refs/heads/{branch}"));
    }
    for prefix in [&settings.release_prefix, &settings.hotfix_prefix] {
        specs.push(format!("+refs/heads/{prefix}*:refs/heads/{prefix}*"));
    }
    specs.sort();
    specs.dedup();
    specs
}

impl Mirrors {
    pub fn new(dir: PathBuf) -> Mirrors {
        Mirrors { dir }
    }

    /// The service repositories' mirrors in gantry's state directory (`<state>/repos`).
    pub fn in_state(state_dir: &Path) -> Mirrors {
        Mirrors::new(state_dir.join("repos"))
    }

    /// `<dir>/<last part of the url>-<hash of the url>.git`: one mirror per URL, named so
    /// a person can tell which is which.
    pub fn path(&self, url: &str) -> PathBuf {
        mirror_path(&self.dir, url)
    }

    /// When the mirror of `url` was last fetched; `None` when it has never been.
    pub fn fetched_at(&self, url: &str) -> Option<i64> {
        let text = std::fs::read_to_string(self.path(url).join(FETCHED_FILE)).ok()?;
        text.trim().parse().ok()
    }

    /// An empty repository for `url` whose remote is `url`, made on first use: for what
    /// fetches and pushes its own refs (the ledger), not branches.
    pub fn remote_only(&self, url: &str) -> Result<PathBuf, FetchError> {
        let path = self.path(url);
        std::fs::create_dir_all(&self.dir).map_err(|e| FetchError::local(url, e))?;
        let _lock =
            lock_exclusive(&path.with_extension("lock")).map_err(|e| FetchError::local(url, e))?;
        let repo = match Repository::open_bare(&path) {
            Ok(repo) => repo,
            Err(_) => {
                let _ = std::fs::remove_dir_all(&path);
                let mut options = RepositoryInitOptions::new();
                options.bare(true).external_template(false);
                Repository::init_opts(&path, &options)
                    .map_err(|e| FetchError::local(url, e.message()))?
            }
        };
        set_remote(&repo, url, &[]).map_err(|e| FetchError::local(url, e.message()))?;
        Ok(path)
    }

    /// Fetches `refspecs` from `url` into its mirror, cloning it first if there is none,
    /// with as much history as `depth` says. Blocks: callers run it on a thread of their
    /// own. Credentials as for pushes (ssh-agent, git's credential helper); waits for
    /// another gantry fetching the same mirror.
    pub fn fetch(
        &self,
        url: &str,
        refspecs: &[String],
        depth: Depth,
    ) -> Result<Fetched, FetchError> {
        check_local_remote(url)?;
        let path = self.path(url);
        std::fs::create_dir_all(&self.dir).map_err(|e| FetchError::local(url, e))?;
        let _lock =
            lock_exclusive(&path.with_extension("lock")).map_err(|e| FetchError::local(url, e))?;
        let existing = path
            .exists()
            .then(|| Repository::open_bare(&path).ok())
            .flatten();
        let cloned = existing.is_none();
        let (repo, workdir) = match existing {
            Some(repo) => (repo, path.clone()),
            None => {
                // A mirror that no longer opens is only a cache: start it over.
                let _ = std::fs::remove_dir_all(&path);
                let partial = path.with_extension("partial");
                let _ = std::fs::remove_dir_all(&partial);
                let mut options = RepositoryInitOptions::new();
                options.bare(true).external_template(false);
                let repo = Repository::init_opts(&partial, &options)
                    .map_err(|e| FetchError::local(url, e.message()))?;
                (repo, partial)
            }
        };
        // libgit2's local transport (a path, a file:// URL) fetches no shallow history.
        let network = local_dir(url, Path::new(".")).is_none();
        let depth = match depth {
            Depth::Recent(commits) if cloned && network => commits.min(UNSHALLOW as u32) as i32,
            Depth::Full if repo.is_shallow() => UNSHALLOW,
            _ => 0,
        };
        let fetched = set_remote(&repo, url, refspecs)
            .map_err(|e| FetchError::local(url, e.message()))
            .and_then(|()| fetch_into(&repo, url, refspecs, depth));
        if let Err(e) = fetched {
            if cloned {
                drop(repo);
                let _ = std::fs::remove_dir_all(&workdir);
            }
            return Err(e);
        }
        let shallow = repo.is_shallow();
        drop(repo);
        let at = chrono::Utc::now().timestamp();
        std::fs::write(workdir.join(FETCHED_FILE), format!("{at}\n"))
            .map_err(|e| FetchError::local(url, e))?;
        if cloned {
            std::fs::rename(&workdir, &path).map_err(|e| FetchError::local(url, e))?;
        }
        Ok(Fetched {
            path,
            at,
            cloned,
            shallow,
        })
    }
}

/// A remote that is a directory on this machine: there, or no repository (said plainly,
/// where libgit2 would only say it cannot resolve a path), and not shallow.
fn check_local_remote(url: &str) -> Result<(), FetchError> {
    let Some(dir) = local_dir(url, Path::new(".")) else {
        return Ok(());
    };
    let failure = |failure, reason: String| FetchError {
        url: url.to_string(),
        reason,
        failure,
    };
    if !dir.exists() {
        return Err(failure(
            FetchFailure::NotARepository,
            "no such directory".into(),
        ));
    }
    if dir.join("shallow").is_file() || dir.join(".git/shallow").is_file() {
        return Err(failure(
            FetchFailure::Shallow,
            format!(
                "{SHALLOW}; name the full repository, or give the shallow clone's path \
                 (not a URL) to read it in place with the history it has"
            ),
        ));
    }
    Ok(())
}

/// What a shallow remote is, said the same for one on this machine and one served.
const SHALLOW: &str =
    "a shallow clone: gantry cannot mirror it (libgit2 does not fetch from shallow repositories)";

/// The mirror's remote fetches exactly `refspecs`: libgit2 also updates whatever the
/// remote's configured refspecs name, which would otherwise add remote-tracking branches.
fn set_remote(repo: &Repository, url: &str, refspecs: &[String]) -> Result<(), git2::Error> {
    if let Ok(remote) = repo.find_remote(MIRROR_REMOTE) {
        let configured: Vec<String> = remote
            .fetch_refspecs()?
            .iter()
            .filter_map(|spec| spec.ok().flatten().map(str::to_string))
            .collect();
        if remote.url().ok() == Some(url) && configured == refspecs {
            return Ok(());
        }
        repo.remote_delete(MIRROR_REMOTE)?;
    }
    let Some((first, rest)) = refspecs.split_first() else {
        repo.remote(MIRROR_REMOTE, url)?;
        return Ok(());
    };
    repo.remote_with_fetch(MIRROR_REMOTE, url, first)?;
    for spec in rest {
        repo.remote_add_fetch(MIRROR_REMOTE, spec)?;
    }
    Ok(())
}

/// `depth`: 0 for whatever the mirror holds (all of it, for a full one), a number of
/// commits, or `UNSHALLOW`.
fn fetch_into(
    repo: &Repository,
    url: &str,
    refspecs: &[String],
    depth: i32,
) -> Result<(), FetchError> {
    let config = repo
        .config()
        .map_err(|e| FetchError::local(url, e.message()))?;
    let offers = CredentialOffers::default();
    let mut callbacks = RemoteCallbacks::new();
    offer_credentials(&mut callbacks, &config, &offers);
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks)
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::None)
        .update_fetchhead(false)
        .depth(depth);
    let mut remote = repo
        .find_remote(MIRROR_REMOTE)
        .map_err(|e| FetchError::local(url, e.message()))?;
    let specs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
    remote
        .fetch(&specs, Some(&mut options), Some("gantry fetch"))
        .map_err(|e| classify(url, &e, offers.explain(&e, Some(url))))
}

/// A directory that answered is no repository; a server whose answer libgit2 cannot
/// parse serves a shallow clone; any other server failure is "unreachable", whatever it
/// said (a missing repository and refused credentials look alike over https and ssh).
fn classify(url: &str, e: &git2::Error, reason: String) -> FetchError {
    let (failure, reason) = if local_dir(url, Path::new(".")).is_some() {
        (FetchFailure::NotARepository, reason)
    } else if e.class() == ErrorClass::Net && e.message().contains("invalid packet line") {
        // What libgit2 1.9 says of the `shallow` lines a shallow repository's server sends
        // with its branches. Fetching again will not help, so it is no network failure:
        // the repository needs a fix, as one on this machine would.
        (
            FetchFailure::Shallow,
            format!(
                "{SHALLOW}; its server answers `{reason}`, as one serving a shallow clone \
                 does; name the full repository, or make the served one whole \
                 (`git fetch --unshallow` in it)"
            ),
        )
    } else {
        (FetchFailure::Unreachable, reason)
    };
    FetchError {
        url: url.to_string(),
        reason,
        failure,
    }
}

/// `<dir>/<last part of the url>-<hash of the url>.git`.
pub(crate) fn mirror_path(dir: &Path, url: &str) -> PathBuf {
    let name: String = url
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repository")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let hash = hex::encode(&Sha256::digest(url.as_bytes())[..6]);
    dir.join(format!("{name}-{hash}.git"))
}

/// Opens (creating) `path` and takes an exclusive `flock` on it, waiting for its holder.
/// The kernel drops the lock with the file, also when the process dies.
pub(crate) fn lock_exclusive(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    // SAFETY: flock on a descriptor we own; it blocks until the other holder is done.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}
