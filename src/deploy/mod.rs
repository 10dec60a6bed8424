//! After a promotion: point the environment at the new digest (a GitOps commit or a hook
//! command), then watch the rollout with an optional status command.
//!
//! The image is promoted whatever happens here: a deploy that fails is reported as such
//! (with how to retry it: `gantry deploy`), never as a failed promotion, and never undoes
//! the copy. Dry runs show the exact file diff or command instead of running anything.

pub mod gitops;
pub mod hook;
pub mod yaml_edit;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use crate::config::deploy::{DeployMethod, DeploySettings, FileEdit, FileTarget, StatusCheck};
pub use gitops::{Bump, Pinned, Pushed};
pub use hook::{Placeholders, RunResult};

use crate::domain::Digest;

/// Why a deploy step could not run or did not finish.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeployError {
    /// The manifests file is not one gantry edits safely, or lacks the entry.
    #[error("{repository}: {file}: {error}")]
    Edit {
        file: String,
        repository: String,
        error: yaml_edit::EditError,
    },
    /// The manifests repository, branch or file is missing or unusable.
    #[error("{0}")]
    Repository(String),
    /// The manifests repository could not be reached.
    #[error("{0}")]
    Network(String),
    /// Every push lost a race (or the branch refuses gantry's pushes).
    #[error("{0}")]
    Rejected(String),
}

impl DeployError {
    /// 2 for what only a change of file or configuration fixes, 1 for what a retry may.
    pub fn exit_code(&self) -> i32 {
        match self {
            DeployError::Edit { .. } | DeployError::Repository(_) => 2,
            DeployError::Network(_) | DeployError::Rejected(_) => 1,
        }
    }
}

/// What an environment's GitOps file pins for a service, beside what its registry says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployedState {
    /// The file read, in the manifests repository.
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The manifests commit read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Whether the file pins the image the environment's mutable tag points at; `None`
    /// when either side is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_sync: Option<bool>,
    /// Why the file could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DeployedState {
    /// Sets `in_sync` against what the registry says the environment runs.
    pub fn compare(&mut self, promoted: Option<&Digest>, promoted_tags: &[String]) {
        self.in_sync = match (promoted, &self.digest, &self.tag) {
            (Some(promoted), Some(digest), _) => Some(promoted.as_str() == digest),
            (Some(_), None, Some(tag)) => Some(promoted_tags.contains(tag)),
            _ => None,
        };
    }
}

/// What the deploy is for: named in the commit message and the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Promotion,
    Rollback,
    /// `gantry deploy`: a retry, or pointing the environment at an image by hand.
    Manual,
}

/// One image to deploy into one environment.
#[derive(Debug, Clone)]
pub struct Request {
    pub service: String,
    pub environment: String,
    /// `registry/repository` in the environment.
    pub image_name: String,
    /// The immutable tag (`sha-2b2e927`).
    pub tag: String,
    pub digest: Digest,
    pub reason: Reason,
    /// The ledger record of the promotion or rollback this deploy follows.
    pub ledger_record: Option<String>,
}

impl Request {
    fn placeholders(&self) -> Placeholders {
        Placeholders {
            service: self.service.clone(),
            env: self.environment.clone(),
            image: format!("{}@{}", self.image_name, self.digest),
            tag: self.tag.clone(),
            digest: self.digest.to_string(),
        }
    }

    /// The GitOps commit message: what, where, which digest, and the ledger's record.
    pub fn commit_message(&self) -> String {
        let reason = match self.reason {
            Reason::Promotion => "promotion",
            Reason::Rollback => "rollback",
            Reason::Manual => "gantry deploy",
        };
        format!(
            "{env}: deploy {service} {tag}\n\n\
             Service: {service}\n\
             Environment: {env}\n\
             Image: {image}:{tag}\n\
             Digest: {digest}\n\
             Reason: {reason}\n\
             Ledger: {ledger}\n",
            env = self.environment,
            service = self.service,
            tag = self.tag,
            image = self.image_name,
            digest = self.digest,
            ledger = self.ledger_record.as_deref().unwrap_or("not recorded"),
        )
    }

    /// The command that runs this deploy again.
    pub fn retry_command(&self) -> String {
        format!(
            "gantry deploy {} --env {} --digest {}",
            self.service, self.environment, self.digest
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployState {
    /// A dry run: what would happen is in `gitops`, `command` and `rollout`.
    Planned,
    /// The environment was pointed at the image (and the rollout, if watched, succeeded).
    Deployed,
    /// The manifests already pinned this image: nothing committed (rollout still watched).
    Unchanged,
    /// The deploy or its rollout failed; the image stays promoted.
    Failed,
}

/// The deploy step of one promotion, rollback or `gantry deploy`.
#[derive(Debug, Clone, Serialize)]
pub struct DeployOutcome {
    pub service: String,
    pub environment: String,
    pub tag: String,
    pub digest: Digest,
    /// `gitops` or `command`.
    pub method: &'static str,
    pub state: DeployState,
    /// A dry run: nothing was committed or run (a failure is one that would happen).
    pub dry_run: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The exit code the failure maps to alone (1 retryable, 2 needs a fix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitOpsResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutResult>,
    /// How to run the deploy again, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
    /// The ledger record of this deploy attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<crate::ledger::LedgerNote>,
}

impl DeployOutcome {
    pub fn failed(&self) -> bool {
        self.state == DeployState::Failed
    }

    /// One line for a summary: `deployed to stage: commit 1a2b3c4 on main (stage/app/kustomization.yaml)`.
    pub fn summary(&self) -> String {
        let what = match (&self.gitops, &self.command) {
            (Some(g), _) => match &g.commit {
                Some(commit) => format!(
                    "commit {} on {} ({})",
                    &commit[..commit.len().min(7)],
                    g.bump.branch,
                    g.bump.file
                ),
                None if self.state == DeployState::Planned && !g.bump.diff.is_empty() => {
                    format!("would edit {} on {}", g.bump.file, g.bump.branch)
                }
                None => format!("{} already pins it", g.bump.file),
            },
            (None, Some(c)) => match &c.result {
                Some(result) => format!("`{}` {}", c.command, result.describe(c.timeout)),
                None => format!("would run `{}`", c.command),
            },
            (None, None) => String::new(),
        };
        let state = match self.state {
            DeployState::Planned => "deploy planned",
            DeployState::Deployed => "deployed",
            DeployState::Unchanged => "already deployed",
            DeployState::Failed if self.dry_run => "deploy would FAIL",
            DeployState::Failed => "deploy FAILED",
        };
        let mut line = format!(
            "{state} {} {} in {}",
            self.service, self.tag, self.environment
        );
        if !what.is_empty() {
            line.push_str(": ");
            line.push_str(&what);
        }
        if let Some(rollout) = &self.rollout {
            line.push_str(&format!("; rollout {}", rollout.state.word()));
        }
        if let Some(reason) = &self.reason {
            line.push_str(&format!(" ({reason})"));
        }
        line
    }
}

/// The GitOps side of an outcome: the diff, and the commit when one was pushed.
#[derive(Debug, Clone, Serialize)]
pub struct GitOpsResult {
    #[serde(flatten)]
    pub bump: Bump,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Pushes tried; 0 for a dry run or a file already right.
    pub attempts: u32,
}

/// The hook side of an outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CommandResult {
    /// The command as run (placeholders filled in).
    pub command: String,
    #[serde(skip)]
    pub timeout: Duration,
    pub timeout_secs: u64,
    /// `None` for a dry run.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub result: Option<RunResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    Planned,
    Succeeded,
    Failed,
    TimedOut,
    /// The deploy failed, so the rollout was not watched.
    Skipped,
}

impl RolloutState {
    fn word(&self) -> &'static str {
        match self {
            RolloutState::Planned => "to be watched",
            RolloutState::Succeeded => "succeeded",
            RolloutState::Failed => "FAILED",
            RolloutState::TimedOut => "TIMED OUT",
            RolloutState::Skipped => "not watched",
        }
    }
}

/// The status command's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutResult {
    pub command: String,
    pub state: RolloutState,
    /// Times the command ran.
    pub runs: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<i32>,
    /// The last run's output (tail).
    pub output: Vec<String>,
}

/// Where log lines go: the promotion's events (and gantry's log file).
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// Runs (or with `dry_run`, describes) the deploy step `settings` configures for
/// `request`. `None` when the environment (or this service in it) has no deploy step.
pub async fn run(
    settings: &DeploySettings,
    state_dir: &Path,
    request: &Request,
    dry_run: bool,
    log: Log,
) -> Option<DeployOutcome> {
    let placeholders = request.placeholders();
    let mut outcome = DeployOutcome {
        service: request.service.clone(),
        environment: request.environment.clone(),
        tag: request.tag.clone(),
        digest: request.digest.clone(),
        method: "",
        dry_run,
        state: if dry_run {
            DeployState::Planned
        } else {
            DeployState::Deployed
        },
        reason: None,
        exit_code: None,
        gitops: None,
        command: None,
        rollout: None,
        retry: None,
        ledger: None,
    };
    match &settings.method {
        DeployMethod::None => return None,
        DeployMethod::GitOps(gitops) => {
            let target = gitops.files.get(&request.service)?.clone();
            outcome.method = "gitops";
            log(format!(
                "deploy: {} {} in {} of {}",
                if dry_run { "would edit" } else { "editing" },
                target.path,
                gitops.branch,
                gitops.repository
            ));
            let result = gitops_step(
                gitops.clone(),
                state_dir.to_path_buf(),
                target,
                request.clone(),
                dry_run,
            )
            .await;
            match result {
                Ok(result) => {
                    if !dry_run && result.commit.is_none() {
                        outcome.state = DeployState::Unchanged;
                    }
                    for line in result.bump.diff.lines() {
                        log(line.to_string());
                    }
                    if let Some(commit) = &result.commit {
                        log(format!(
                            "deploy: pushed {} to {}",
                            &commit[..commit.len().min(7)],
                            gitops.branch
                        ));
                    }
                    outcome.gitops = Some(result);
                }
                Err(e) => {
                    log(format!("deploy failed: {e}"));
                    outcome.state = DeployState::Failed;
                    outcome.exit_code = Some(e.exit_code());
                    outcome.reason = Some(e.to_string());
                }
            }
        }
        DeployMethod::Command(hook) => {
            outcome.method = "command";
            let command = hook::render(&hook.command, &placeholders);
            let mut result = CommandResult {
                command: command.clone(),
                timeout: hook.timeout,
                timeout_secs: hook.timeout.as_secs(),
                result: None,
            };
            if !dry_run {
                log(format!("deploy: running {command}"));
                match hook::run(&command, &placeholders.vars(), hook.timeout, &*log).await {
                    Ok(run) => {
                        if !run.success() {
                            let why = run.describe(hook.timeout);
                            log(format!("deploy failed: {why}"));
                            outcome.state = DeployState::Failed;
                            outcome.exit_code = Some(1);
                            outcome.reason = Some(format!("the deploy command failed: {why}"));
                        }
                        result.result = Some(run);
                    }
                    Err(e) => {
                        outcome.state = DeployState::Failed;
                        outcome.exit_code = Some(1);
                        outcome.reason = Some(format!("the deploy command could not start: {e}"));
                    }
                }
            }
            outcome.command = Some(result);
        }
    }
    if let Some(check) = &settings.status {
        let command = hook::render(&check.command, &placeholders);
        outcome.rollout = Some(if dry_run {
            RolloutResult {
                command,
                state: RolloutState::Planned,
                runs: 0,
                last_exit_code: None,
                output: Vec::new(),
            }
        } else if outcome.failed() {
            RolloutResult {
                command,
                state: RolloutState::Skipped,
                runs: 0,
                last_exit_code: None,
                output: Vec::new(),
            }
        } else {
            let rollout = watch(check, &command, &placeholders, &log).await;
            if rollout.state != RolloutState::Succeeded {
                outcome.state = DeployState::Failed;
                outcome.exit_code = Some(1);
                outcome.reason = Some(match rollout.state {
                    RolloutState::TimedOut => format!(
                        "the rollout did not succeed within {} s ({} check(s) of `{command}`)",
                        check.timeout.as_secs(),
                        rollout.runs
                    ),
                    _ => format!(
                        "the rollout failed: `{command}` exit {}",
                        rollout
                            .last_exit_code
                            .map_or("?".to_string(), |c| c.to_string())
                    ),
                });
            }
            rollout
        });
    }
    if outcome.failed() && !dry_run {
        outcome.retry = Some(request.retry_command());
    }
    Some(outcome)
}

async fn gitops_step(
    settings: crate::config::deploy::GitOps,
    state_dir: PathBuf,
    target: FileTarget,
    request: Request,
    dry_run: bool,
) -> Result<GitOpsResult, DeployError> {
    tokio::task::spawn_blocking(move || {
        let cache = gitops::Cache::open(&state_dir, &settings)?;
        let digest = request.digest.to_string();
        if dry_run {
            let bump = cache.preview(&target, &request.tag, &digest)?;
            return Ok(GitOpsResult {
                bump,
                commit: None,
                attempts: 0,
            });
        }
        let pushed = cache.commit_and_push(
            &target,
            &request.tag,
            &digest,
            &request.commit_message(),
            &mut |_| {},
        )?;
        Ok(GitOpsResult {
            bump: pushed.bump,
            commit: pushed.commit,
            attempts: pushed.attempts,
        })
    })
    .await
    .map_err(|e| DeployError::Repository(format!("the deploy task failed: {e}")))?
}

/// Polls the status command until it exits 0 (succeeded), exits with one of
/// `fail_codes` (failed), or the time is up. Any other exit means "not yet".
async fn watch(
    check: &StatusCheck,
    command: &str,
    placeholders: &Placeholders,
    log: &Log,
) -> RolloutResult {
    let deadline = tokio::time::Instant::now() + check.timeout;
    let mut result = RolloutResult {
        command: command.to_string(),
        state: RolloutState::TimedOut,
        runs: 0,
        last_exit_code: None,
        output: Vec::new(),
    };
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return result;
        }
        result.runs += 1;
        log(format!("rollout: check {}: {command}", result.runs));
        match hook::run(command, &placeholders.vars(), deadline - now, &**log).await {
            Ok(run) => {
                result.last_exit_code = run.exit_code;
                result.output = run.output.clone();
                if run.success() {
                    result.state = RolloutState::Succeeded;
                    log("rollout: succeeded".into());
                    return result;
                }
                if run.timed_out {
                    log(format!(
                        "rollout: no success within {} s",
                        check.timeout.as_secs()
                    ));
                    return result;
                }
                if run.exit_code.is_some_and(|c| check.fail_codes.contains(&c)) {
                    result.state = RolloutState::Failed;
                    log(format!("rollout: failed ({})", run.describe(check.timeout)));
                    return result;
                }
                log(format!(
                    "rollout: not yet ({})",
                    run.describe(check.timeout)
                ));
            }
            Err(e) => {
                result.state = RolloutState::Failed;
                result.output = vec![format!("could not start: {e}")];
                return result;
            }
        }
        if tokio::time::Instant::now() + check.interval >= deadline {
            log(format!(
                "rollout: no success within {} s",
                check.timeout.as_secs()
            ));
            return result;
        }
        tokio::time::sleep(check.interval).await;
    }
}
