//! Each service's repository as the engine reads it: a path where it is, a URL through
//! its mirror under the state directory, and what to say when one is missing, not a
//! repository, not fetched yet, unreachable or shallow (what still works, what does not).
//!
//! A command fetches a mirror before its first read in the process; a failed fetch falls
//! back on the mirror as last fetched, with its age said. `status` reads mirrors as last
//! fetched and fetches only those never fetched. The console never waits for a fetch: it
//! reads mirrors as they are and fetches in the background (`git::fleet::FetchQueue`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::OnceCell;

use super::history::HistoryError;
use super::{Engine, EngineError};
use crate::config::{Config, Service, ServiceGit};
use crate::domain::{human_age, RepoLocation};
use crate::git::fleet::{
    self, Depth, FetchError, FetchFailure, FetchJob, FetchReport, Fetched, Mirrors,
};
use crate::git::{GitError, GitRepo};

/// What works without a service's repository, and what does not: said with every problem.
const WITHOUT_REPOSITORY: &str = "images, status and promotions still work; commits, branches, release cut, hotfix, diff, drift's commits, the branch/merged_to gates and retention's branch-head protection do not";

/// `git` pointed at where it opens: a URL's mirror among `mirrors` (whose own remote is
/// the URL, so a cut branch is pushed there), a path where it is. Returns the URL too.
pub fn where_it_opens(mut git: ServiceGit, mirrors: &Mirrors) -> (ServiceGit, Option<String>) {
    let url = match &git.location {
        RepoLocation::Url(url) => {
            git.settings.path = mirrors.path(url);
            git.settings.remote = fleet::MIRROR_REMOTE.into();
            Some(url.clone())
        }
        RepoLocation::Path(_) => None,
    };
    (git, url)
}

/// A repository one or more services read.
#[derive(Debug, Clone)]
pub struct ServiceRepo {
    /// In configuration order.
    pub services: Vec<String>,
    /// Its branch names; `settings.path` is where it opens (a URL's mirror).
    pub git: ServiceGit,
    /// The remote of a mirror; `None` for a repository read where it is.
    pub url: Option<String>,
}

impl ServiceRepo {
    /// The repository as configured: its path or URL.
    pub fn location(&self) -> String {
        self.git.location.to_string()
    }

    pub fn names(&self) -> String {
        self.services.join(", ")
    }

    /// The configured services built from this repository, in configuration order.
    pub fn configured(&self, config: &Config) -> Vec<Service> {
        config
            .services
            .iter()
            .filter(|s| self.services.contains(&s.name))
            .cloned()
            .collect()
    }

    fn problem(&self, kind: ProblemKind, reason: impl Into<String>) -> RepoProblem {
        RepoProblem {
            services: self.services.clone(),
            location: self.location(),
            configured_by: self.git.configured_by(),
            kind,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    Missing,
    NotARepository,
    /// A URL whose mirror the console has not fetched yet (it is being fetched).
    NotFetched,
    /// A URL that could not be fetched, with no mirror from before to read instead.
    Unreachable,
    /// A URL naming a shallow clone: it cannot be mirrored.
    Shallow,
}

/// Why a repository cannot be read, for the services that read it.
#[derive(Debug, Clone, Serialize)]
pub struct RepoProblem {
    pub services: Vec<String>,
    pub location: String,
    /// `[[service]] git` or `[git] path`.
    pub configured_by: &'static str,
    pub kind: ProblemKind,
    pub reason: String,
}

impl RepoProblem {
    /// 1 for what may work on a retry (the network), 2 for what needs a fix.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ProblemKind::Unreachable | ProblemKind::NotFetched => 1,
            _ => 2,
        }
    }

    /// The problem without what still works: a line in a list of them.
    pub fn short(&self) -> String {
        let what = match self.kind {
            ProblemKind::Missing => "is missing",
            ProblemKind::NotARepository => "is not a git repository",
            ProblemKind::NotFetched => "is not fetched yet",
            ProblemKind::Unreachable => "cannot be fetched",
            ProblemKind::Shallow => "cannot be mirrored",
        };
        format!(
            "{}: {} ({}) {what}: {}",
            self.services.join(", "),
            self.location,
            self.configured_by,
            self.reason
        )
    }
}

impl fmt::Display for RepoProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; without it {WITHOUT_REPOSITORY}", self.short())
    }
}

impl std::error::Error for RepoProblem {}

/// One URL's fetch in this process: made once, its outcome shared by every reader.
type FetchOnce = Arc<OnceCell<Result<Fetched, FetchError>>>;

/// Which of a set of repositories `Engine::fetch_repos` fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchWhich {
    /// Every one, with its whole history (`gantry fetch`).
    All,
    /// Those never fetched, with their recent history (what `status` needs).
    NeverFetched,
}

/// The fetches this process made, one per URL: a command reads a mirror fetched once.
#[derive(Default)]
pub(crate) struct Fetching {
    /// The console's engine: read mirrors as they are, never fetch before a read.
    background: bool,
    /// (URL, whole history) -> that fetch.
    done: Mutex<HashMap<(String, bool), FetchOnce>>,
}

/// What a mirror cloned with its recent history only lacks, and what completes it.
pub fn recent_only_note(repo: &ServiceRepo) -> String {
    format!(
        "{}: only the newest {} commits of each branch of {} are fetched so far: older commits are not placed and counts past them fall short (`gantry fetch` fetches the rest)",
        repo.names(),
        fleet::RECENT_COMMITS,
        repo.location()
    )
}

/// `notes` of a repository opened for `repo`, as the reader should get them. A mirror is
/// bare by design, and shallow only until its history is completed: said in gantry's
/// words, not git's.
pub(crate) fn mirror_notes(
    repo: &ServiceRepo,
    mut notes: Vec<String>,
    shallow: bool,
) -> Vec<String> {
    if repo.url.is_none() {
        return notes;
    }
    notes.retain(|n| !n.contains("is a bare repository") && !n.contains("is a shallow clone"));
    if shallow {
        notes.push(recent_only_note(repo));
    }
    notes
}

impl Engine {
    /// The mirrors of URL repositories, under the state directory.
    pub fn mirrors(&self) -> Mirrors {
        Mirrors::in_state(&self.state_dir)
    }

    /// Makes this engine read mirrors as they are: whoever drives it fetches them (the
    /// console, in the background).
    pub fn fetch_in_background(&mut self) {
        self.fetching.background = true;
    }

    /// Whoever drives this engine fetches mirrors; it only reads them.
    pub fn fetches_in_background(&self) -> bool {
        self.fetching.background
    }

    fn locate_repo(&self, git: ServiceGit, services: Vec<String>) -> ServiceRepo {
        let (git, url) = where_it_opens(git, &self.mirrors());
        ServiceRepo { services, git, url }
    }

    /// The repository `service` reads.
    pub fn service_repo(&self, service: &str) -> Result<ServiceRepo, EngineError> {
        let config = &self.config;
        let service = config.service(service)?;
        let git = config.service_git(service);
        let sharing = config
            .services
            .iter()
            .filter(|s| config.service_git(s).same_repository(&git))
            .map(|s| s.name.clone())
            .collect();
        Ok(self.locate_repo(git, sharing))
    }

    /// Every repository the services read, each with its services.
    pub fn service_repos(&self) -> Vec<ServiceRepo> {
        self.config
            .repositories()
            .into_iter()
            .map(|(git, services)| self.locate_repo(git, services))
            .collect()
    }

    /// The repository of the services naming none of their own (`[git] path`), else, when
    /// every service names one and they are all the same, that one.
    pub fn default_repo(&self) -> Result<ServiceRepo, EngineError> {
        let repos = self.service_repos();
        if let Some(shared) = repos.iter().find(|r| !r.git.own) {
            return Ok(shared.clone());
        }
        match repos.as_slice() {
            [only] => Ok(only.clone()),
            [] => {
                let git = ServiceGit {
                    location: RepoLocation::Path(self.config.git.path.clone()),
                    settings: self.config.git.clone(),
                    own: false,
                };
                Ok(self.locate_repo(git, Vec::new()))
            }
            _ => Err(EngineError::Input(format!(
                "each service has its own repository: name one with --service ({})",
                self.config
                    .services
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The fetch of each URL repository among `repos`, with `depth`.
    pub fn fetch_jobs(&self, repos: &[ServiceRepo], depth: Depth) -> Vec<FetchJob> {
        repos
            .iter()
            .filter_map(|repo| {
                Some(FetchJob {
                    url: repo.url.clone()?,
                    refspecs: fleet::refspecs(&repo.git.settings),
                    depth,
                })
            })
            .collect()
    }

    /// Fetches the URL repositories of `repos`, `[git] fetch_concurrency` at a time, each
    /// at most once in this process: all of them with their whole history, or only those
    /// never fetched, with their recent history (what a status needs, soon).
    pub async fn fetch_repos(&self, repos: &[ServiceRepo], which: FetchWhich) -> Vec<FetchReport> {
        let mirrors = self.mirrors();
        let depth = match which {
            FetchWhich::All => Depth::Full,
            FetchWhich::NeverFetched => Depth::Recent(fleet::RECENT_COMMITS),
        };
        let jobs: Vec<FetchJob> = self
            .fetch_jobs(repos, depth)
            .into_iter()
            .filter(|job| which == FetchWhich::All || mirrors.fetched_at(&job.url).is_none())
            .collect();
        stream::iter(jobs)
            .map(|job| async move {
                let result = self.fetch_once(&job).await;
                FetchReport {
                    url: job.url,
                    result,
                }
            })
            .buffer_unordered(self.config.git.fetch_concurrency.max(1))
            .collect()
            .await
    }

    /// Fetches `job` unless this process already has (a recent-history fetch is answered
    /// by a full one made before): what the fetch did, or why not.
    async fn fetch_once(&self, job: &FetchJob) -> Result<Fetched, FetchError> {
        let full = job.depth == Depth::Full;
        let cell = {
            let mut done = self
                .fetching
                .done
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match done.get(&(job.url.clone(), true)) {
                Some(whole) if !full && whole.initialized() => Arc::clone(whole),
                _ => Arc::clone(done.entry((job.url.clone(), full)).or_default()),
            }
        };
        cell.get_or_init(|| async {
            let mirrors = self.mirrors();
            let job = job.clone();
            tokio::task::spawn_blocking(move || mirrors.fetch(&job.url, &job.refspecs, job.depth))
                .await
                .unwrap_or_else(|e| {
                    Err(FetchError {
                        url: String::new(),
                        reason: format!("the fetch task failed: {e}"),
                        failure: FetchFailure::Local,
                    })
                })
        })
        .await
        .clone()
    }

    /// Makes `repo` readable: a path must be there; a URL's mirror is fetched first by a
    /// command when `refresh` or never fetched (falling back on the mirror from before
    /// when the fetch fails) and must exist. Returns what the reader should be told (a
    /// fallback, its age).
    pub(crate) async fn ready(
        &self,
        repo: &ServiceRepo,
        refresh: bool,
    ) -> Result<Vec<String>, RepoProblem> {
        let Some(url) = &repo.url else {
            let path = &repo.git.settings.path;
            // `[git] path` keeps the error it always had (from opening it).
            if repo.git.own && !path.exists() {
                return Err(repo.problem(ProblemKind::Missing, "no such directory"));
            }
            return Ok(Vec::new());
        };
        let mirrors = self.mirrors();
        let before = mirrors.fetched_at(url);
        if self.fetching.background {
            return match before {
                Some(_) => Ok(Vec::new()),
                None => {
                    Err(repo.problem(ProblemKind::NotFetched, "being fetched in the background"))
                }
            };
        }
        if !refresh && before.is_some() {
            return Ok(Vec::new());
        }
        // A read that refreshes wants the whole history; one that takes the mirror as
        // last fetched only needs one to exist: its recent history will do.
        let job = FetchJob {
            url: url.clone(),
            refspecs: fleet::refspecs(&repo.git.settings),
            depth: match refresh {
                true => Depth::Full,
                false => Depth::Recent(fleet::RECENT_COMMITS),
            },
        };
        match (self.fetch_once(&job).await, before) {
            (Ok(_), _) => Ok(Vec::new()),
            (Err(e), Some(at)) if e.failure == FetchFailure::Unreachable => Ok(vec![format!(
                "{}: {url} cannot be fetched ({}): read from the copy fetched {} ago",
                repo.names(),
                e.reason,
                human_age(chrono::Utc::now().timestamp() - at)
            )]),
            (Err(e), _) => Err(repo.problem(
                match e.failure {
                    FetchFailure::NotARepository => ProblemKind::NotARepository,
                    FetchFailure::Shallow => ProblemKind::Shallow,
                    FetchFailure::Unreachable | FetchFailure::Local => ProblemKind::Unreachable,
                },
                e.reason,
            )),
        }
    }

    /// Runs `work` on a blocking thread with `repo` open, its mirror fetched first once in
    /// this process; returns the answer and what the reader should know (a shallow clone,
    /// a mirror read as last fetched because the remote cannot be fetched).
    pub(crate) async fn with_repo<T, F>(
        &self,
        repo: &ServiceRepo,
        work: F,
    ) -> Result<(T, Vec<String>), HistoryError>
    where
        T: Send + 'static,
        F: FnOnce(&GitRepo) -> Result<T, GitError> + Send + 'static,
    {
        self.open_repo(repo, true, work).await
    }

    /// [`Engine::with_repo`] reading a mirror as last fetched (fetched only if never).
    pub(crate) async fn with_repo_as_fetched<T, F>(
        &self,
        repo: &ServiceRepo,
        work: F,
    ) -> Result<(T, Vec<String>), HistoryError>
    where
        T: Send + 'static,
        F: FnOnce(&GitRepo) -> Result<T, GitError> + Send + 'static,
    {
        self.open_repo(repo, false, work).await
    }

    async fn open_repo<T, F>(
        &self,
        repo: &ServiceRepo,
        refresh: bool,
        work: F,
    ) -> Result<(T, Vec<String>), HistoryError>
    where
        T: Send + 'static,
        F: FnOnce(&GitRepo) -> Result<T, GitError> + Send + 'static,
    {
        let mut notes = self.ready(repo, refresh).await?;
        let settings = repo.git.settings.clone();
        let short_len = self.config.tags.short_len;
        let cache_dir = self.state_dir.join("git");
        let mirror = repo.url.is_some();
        let opened = repo.clone();
        let (answer, repo_notes) = tokio::task::spawn_blocking(move || {
            let repo = match GitRepo::open(&settings, short_len) {
                Ok(repo) => repo.with_cache_dir(cache_dir),
                Err(GitError::NotARepository { reason, .. }) if opened.git.own || mirror => {
                    return Err(HistoryError::Repository(
                        opened.problem(ProblemKind::NotARepository, reason),
                    ))
                }
                Err(e) => return Err(e.into()),
            };
            let answer = work(&repo)?;
            let notes = mirror_notes(&opened, repo.notes(), repo.is_shallow());
            Ok((answer, notes))
        })
        .await
        .map_err(|e| EngineError::Input(format!("git task failed: {e}")))??;
        notes.extend(repo_notes);
        Ok((answer, notes))
    }

    /// [`Engine::with_repo`] on the repository `service` reads.
    pub(crate) async fn with_service_git<T, F>(
        &self,
        service: &str,
        work: F,
    ) -> Result<(T, Vec<String>), HistoryError>
    where
        T: Send + 'static,
        F: FnOnce(&GitRepo) -> Result<T, GitError> + Send + 'static,
    {
        let repo = self.service_repo(service)?;
        self.with_repo(&repo, work).await
    }
}
