//! What can go wrong reading or changing the repository, with the exit code each means.

use std::path::PathBuf;

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
