//! `gantry deploy`, and how a deploy step reads after a promotion or rollback: what was
//! committed or run, and, when it failed, that the image is promoted and how to retry.

use tokio::sync::mpsc;

use super::{exit, output, Failure};
use crate::deploy::{DeployOutcome, DeployState, RolloutState};
use crate::domain::Digest;
use crate::engine::deploy::DeployTarget;
use crate::engine::{Engine, EventKind};

/// Output lines of a failed command shown after its summary; the log has them all.
const FAILED_OUTPUT_LINES: usize = 20;

/// `gantry deploy SERVICE --env ENV [--digest D | --tag T] [--dry-run]`.
pub async fn deploy(
    engine: &mut Engine,
    service: &str,
    env: &str,
    digest: Option<&str>,
    tag: Option<&str>,
    dry_run: bool,
    json: bool,
) -> Result<i32, Failure> {
    let target = match (digest, tag) {
        (Some(digest), _) => {
            DeployTarget::Digest(digest.parse::<Digest>().map_err(|e| Failure {
                code: exit::INPUT,
                message: format!("--digest `{digest}`: {e}"),
            })?)
        }
        (None, Some(tag)) => DeployTarget::Tag(tag.to_string()),
        (None, None) => DeployTarget::Running,
    };
    // The command's output as it runs: CI logs show a slow rollout while it happens.
    let streamer = if json {
        None
    } else {
        let (sender, mut events) = mpsc::unbounded_channel();
        engine.subscribe(sender);
        Some(tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let EventKind::Log { message } = event.kind {
                    eprintln!("  {message}");
                }
            }
        }))
    };
    let result = engine.deploy(service, env, target, dry_run).await;
    if let Some(streamer) = streamer {
        engine.subscribe(mpsc::unbounded_channel().0);
        let _ = streamer.await;
    }
    let report = result.map_err(Failure::from)?;
    if json {
        output::print_json(&report);
        print_failure(&report.outcome, false);
    } else {
        print_outcome(&report.outcome, false);
    }
    Ok(match (&report.outcome.state, report.outcome.exit_code) {
        (DeployState::Failed, Some(code)) => code,
        (DeployState::Failed, None) => exit::REGISTRY,
        _ => exit::OK,
    })
}

/// The deploy step of a promotion or rollback: its line, the diff or command of a dry
/// run, and for a failure the plain facts (stderr): promoted, not deployed, how to retry.
/// `with_output` adds the failed command's last lines (they were not streamed).
pub fn print_outcome(outcome: &DeployOutcome, with_output: bool) {
    println!("{}", outcome.summary());
    if outcome.state == DeployState::Planned {
        if let Some(gitops) = &outcome.gitops {
            if gitops.bump.diff.is_empty() {
                println!("  {} already pins this image: no commit", gitops.bump.file);
            } else {
                println!(
                    "  commit to {} of {}:",
                    gitops.bump.branch, gitops.bump.repository
                );
                for line in gitops.bump.diff.lines() {
                    println!("    {line}");
                }
            }
        }
        if let Some(command) = &outcome.command {
            println!(
                "  would run (timeout {} s): {}",
                command.timeout_secs, command.command
            );
        }
    }
    if let Some(rollout) = &outcome.rollout {
        if rollout.state == RolloutState::Planned {
            println!("  then poll until it succeeds: {}", rollout.command);
        }
    }
    print_failure(outcome, with_output);
}

/// On stderr, whatever the output format: a failed deploy step, that the image is
/// promoted all the same, and how to retry only the deploy; a ledger warning.
pub fn print_failure(outcome: &DeployOutcome, with_output: bool) {
    if outcome.failed() {
        if with_output {
            let lines = outcome
                .command
                .as_ref()
                .and_then(|c| c.result.as_ref())
                .map(|r| r.output.as_slice())
                .filter(|o| !o.is_empty())
                .or_else(|| outcome.rollout.as_ref().map(|r| r.output.as_slice()))
                .unwrap_or_default();
            for line in &lines[lines.len().saturating_sub(FAILED_OUTPUT_LINES)..] {
                eprintln!("  | {line}");
            }
        }
        let reason = outcome.reason.as_deref().unwrap_or("unknown reason");
        if outcome.dry_run {
            eprintln!(
                "gantry: the deploy step of {}:{} in {} would fail: {reason}",
                outcome.service, outcome.tag, outcome.environment
            );
        } else {
            eprintln!(
                "gantry: {}:{} is promoted to {}, but its deploy step failed: {reason}",
                outcome.service, outcome.tag, outcome.environment
            );
        }
        if let Some(retry) = &outcome.retry {
            eprintln!("gantry: retry only the deploy with: {retry}");
        }
    }
    if let Some(warning) = outcome.ledger.as_ref().and_then(|l| l.warning.as_ref()) {
        eprintln!("gantry: warning: {warning}");
    }
}

/// The exit code of an action that happened but whose deploy step failed (4); of a dry
/// run whose deploy would fail, the failure's own (1 or 2): nothing happened.
pub fn exit_code(deploy: Option<&DeployOutcome>) -> i32 {
    match deploy {
        Some(outcome) if outcome.failed() && outcome.dry_run => {
            outcome.exit_code.unwrap_or(exit::REGISTRY)
        }
        Some(outcome) if outcome.failed() => exit::DEPLOY,
        _ => exit::OK,
    }
}
