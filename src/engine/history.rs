//! Joins the git history with the registries: the images of each commit, what each
//! environment runs, what a promotion brings, drift, and cutting release/hotfix branches.
//!
//! Registry traffic is one tag list per service x environment plus HEADs for the tags
//! an answer needs, never one request per commit. Git work runs on a blocking thread.
//!
//! This file holds the answers' types and the git thread; the children hold the joins:
//! `listing` (tag lists and digests), `commits`, `diff`, `status` and `cut`.

mod commits;
pub mod cut;
mod diff;
mod listing;
pub mod status;

use serde::Serialize;

use super::inventory::StatusCell;
use super::{Engine, EngineError};
use crate::config::LookupError;
use crate::domain::Digest;
use crate::git::{BranchInfo, BranchPlan, CommitInfo, GitError, GitRepo};
use crate::registry::RegistryError;

/// HEAD requests in flight at once.
const HEAD_CONCURRENCY: usize = 8;
/// Commits listed (and counted) at most between two environments.
pub const RANGE_CAP: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("refused: {0}")]
    Refused(String),
    /// A registry that could not be read where the answer needs it.
    #[error("{0}")]
    Unreachable(String),
    /// A service's repository that cannot be read.
    #[error(transparent)]
    Repository(#[from] super::repos::RepoProblem),
}

impl HistoryError {
    /// 1 registry or network, 2 invalid input or a git problem, 3 refused by a rule.
    pub fn exit_code(&self) -> i32 {
        match self {
            HistoryError::Git(e) => e.exit_code(),
            HistoryError::Engine(e) => e.exit_code(),
            HistoryError::Refused(_) => 3,
            HistoryError::Unreachable(_) => 1,
            HistoryError::Repository(problem) => problem.exit_code(),
        }
    }
}

impl From<RegistryError> for HistoryError {
    fn from(e: RegistryError) -> Self {
        HistoryError::Engine(e.into())
    }
}

impl From<LookupError> for HistoryError {
    fn from(e: LookupError) -> Self {
        HistoryError::Engine(e.into())
    }
}

/// One environment's image of one commit.
#[derive(Debug, Clone, Serialize)]
pub struct ImageBadge {
    pub service: String,
    pub environment: String,
    pub tag: String,
    pub digest: Option<Digest>,
    /// The environment's mutable tag, when it points at this image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutable_tag: Option<String>,
    /// The same tag has another digest in another environment.
    pub drift: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommitRow {
    #[serde(flatten)]
    pub commit: CommitInfo,
    pub images: Vec<ImageBadge>,
}

/// An image tag placed in the repository but outside the rows shown.
#[derive(Debug, Clone, Serialize)]
pub struct PlacedTag {
    pub service: String,
    pub environment: String,
    pub tag: String,
    pub sha: String,
    pub subject: String,
    /// Commits between the branch head and this one; `None` when not on the branch.
    pub position: Option<usize>,
}

/// An image tag whose commit this repository does not have (or cannot tell).
#[derive(Debug, Clone, Serialize)]
pub struct UnknownTag {
    pub service: String,
    pub environment: String,
    pub tag: String,
    pub reason: String,
}

/// One tag with different digests in different environments: a rebuild.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub service: String,
    pub tag: String,
    /// environment -> digest, in configuration order.
    pub digests: Vec<(String, Digest)>,
}

/// A registry that could not be read; the rest of the answer still stands.
#[derive(Debug, Clone, Serialize)]
pub struct ListingError {
    pub service: String,
    pub environment: String,
    pub error: String,
}

/// `gantry commits`: a branch's newest commits joined with every environment's images.
#[derive(Debug, Clone, Serialize)]
pub struct CommitsView {
    /// The services built from this repository, whose images are shown.
    pub services: Vec<String>,
    /// The repository as configured: a path or URL.
    pub repository: String,
    /// When a URL's mirror was last fetched (seconds since the epoch); `None` for a path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<i64>,
    pub branch: String,
    pub reference: String,
    pub commits: Vec<CommitRow>,
    /// Older commits exist beyond those listed.
    pub more: bool,
    /// Images of commits older than the rows shown, newest commit first.
    pub older: Vec<PlacedTag>,
    /// Images of commits in the repository but not on this branch.
    pub off_branch: Vec<PlacedTag>,
    /// Images whose commit is not in the repository, listed apart.
    pub unknown: Vec<UnknownTag>,
    pub drift: Vec<Drift>,
    pub errors: Vec<ListingError>,
    /// What the repository lacks (shallow, bare).
    pub notes: Vec<String>,
}

/// What one environment runs.
#[derive(Debug, Clone, Serialize)]
pub struct Running {
    pub tag: String,
    pub digest: Digest,
    /// `latest`, `stage`...: the mutable tag read; `None` when the newest image stands in.
    pub via: Option<String>,
    /// `None` when the tag's commit is not in the repository.
    pub commit: Option<CommitInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentState {
    pub environment: String,
    pub from: Option<String>,
    pub running: Option<Running>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `gantry diff`: what promoting `from` into `to` brings.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionDiff {
    pub service: String,
    pub from: EnvironmentState,
    pub to: EnvironmentState,
    /// Newest first; at most `RANGE_CAP`.
    pub commits: Vec<CommitInfo>,
    /// How many commits the promotion brings (a lower bound when `truncated`).
    pub count: usize,
    pub truncated: bool,
    /// Commits `to` runs that `from` does not (a hotfix not merged back, or a rollback).
    pub target_only: usize,
    pub drift: Vec<Drift>,
    pub notes: Vec<String>,
}

/// `gantry status` with the git join: cells plus why git is missing, if it is.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub cells: Vec<StatusCell>,
    pub drift: Vec<Drift>,
    /// Why commits and behind-counts are missing; `None` when git answered. Only for a
    /// configuration with one repository: with several, each says so in `repositories`.
    pub git_unavailable: Option<String>,
    pub notes: Vec<String>,
    /// Each repository the services read, as the join found it.
    pub repositories: Vec<status::RepoState>,
}

/// A release or hotfix branch that was cut.
#[derive(Debug, Clone, Serialize)]
pub struct CutOutcome {
    #[serde(flatten)]
    pub plan: BranchPlan,
    /// Services without an image of the commit in the first environment (cut with --force).
    pub missing_images: Vec<String>,
    /// The remote pushed to.
    pub pushed: Option<String>,
    pub notes: Vec<String>,
}

impl Engine {
    /// Runs `work` on a blocking thread with the default repository open (see
    /// [`Engine::default_repo`]); returns its answer and what the repository lacks.
    pub(crate) async fn with_git<T, F>(&self, work: F) -> Result<(T, Vec<String>), HistoryError>
    where
        T: Send + 'static,
        F: FnOnce(&GitRepo) -> Result<T, GitError> + Send + 'static,
    {
        let repo = self.default_repo()?;
        self.with_repo(&repo, work).await
    }

    /// develop, main, release and hotfix branches with ahead/behind counts, of
    /// `service`'s repository (the default one when `None`).
    pub async fn branches(
        &self,
        service: Option<&str>,
    ) -> Result<(Vec<BranchInfo>, Vec<String>), HistoryError> {
        match service {
            Some(service) => self.with_service_git(service, |repo| repo.branches()).await,
            None => self.with_git(|repo| repo.branches()).await,
        }
    }
}
