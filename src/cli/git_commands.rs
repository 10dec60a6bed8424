//! The git-aware commands: commits with their images, branches, promotion diffs, cutting
//! release and hotfix branches, and the status matrix with commits and behind-counts.

use clap::Subcommand;

use super::registry_errors::{self, Problem};
use super::{exit, output, Failure};
use crate::engine::history::HistoryError;
use crate::engine::Engine;

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Create a release branch at a develop commit whose images exist (never touches the worktree)
    Cut {
        /// A commit on develop: full or short sha, or any revision git understands
        commit: String,
        /// Release version X.Y.Z (default: the next minor after the highest release branch)
        #[arg(long, value_name = "X.Y.Z")]
        version: Option<String>,
        /// Push the new branch to [git] remote
        #[arg(long)]
        push: bool,
        /// Cut even when images of the commit are missing from the first environment
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HotfixCommand {
    /// Create hotfix/NAME from main's head, or from a commit production runs
    Start {
        name: String,
        /// Start from this commit (on main or a release branch) instead of main's head
        #[arg(long, value_name = "COMMIT")]
        from: Option<String>,
        /// Push the new branch to [git] remote
        #[arg(long)]
        push: bool,
        #[arg(long)]
        json: bool,
    },
}

impl From<HistoryError> for Failure {
    fn from(e: HistoryError) -> Self {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

fn print_notes(notes: &[String]) {
    for note in notes {
        eprintln!("gantry: note: {note}");
    }
}

pub async fn commits(
    engine: &Engine,
    branch: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<i32, Failure> {
    let view = engine.commits(branch, limit).await?;
    print_notes(&view.notes);
    if json {
        output::print_json(&view);
    } else {
        output::print_commits(engine.config(), &view);
    }
    let problems: Vec<Problem> = view
        .errors
        .iter()
        .map(|e| Problem::new(&e.service, &e.environment, e.error.clone()))
        .collect();
    registry_errors::report(engine, &problems);
    Ok(if view.errors.is_empty() {
        exit::OK
    } else {
        exit::REGISTRY
    })
}

pub async fn branches(engine: &Engine, json: bool) -> Result<i32, Failure> {
    let (branches, notes) = engine.branches().await?;
    print_notes(&notes);
    if json {
        output::print_json(&branches);
    } else {
        output::print_branches(engine.config(), &branches);
    }
    Ok(exit::OK)
}

pub async fn diff(
    engine: &Engine,
    service: &str,
    from: Option<&str>,
    to: &str,
    json: bool,
) -> Result<i32, Failure> {
    let diff = match engine.promotion_diff(service, from, to).await {
        Ok(diff) => diff,
        Err(e @ HistoryError::Unreachable(_)) => {
            let envs = [
                Some(to),
                from.or_else(|| engine.config().environment(to).ok()?.from.as_deref()),
            ];
            let problems: Vec<Problem> = envs
                .into_iter()
                .flatten()
                .filter(|env| engine.host_failure(env).is_some())
                .map(|env| Problem::new(service, env, e.to_string()))
                .collect();
            if problems.is_empty() {
                return Err(e.into());
            }
            registry_errors::report(engine, &problems);
            return Ok(exit::REGISTRY);
        }
        Err(e) => return Err(e.into()),
    };
    print_notes(&diff.notes);
    if json {
        output::print_json(&diff);
    } else {
        output::print_diff(&diff);
    }
    Ok(exit::OK)
}

pub async fn release(engine: &Engine, command: ReleaseCommand) -> Result<i32, Failure> {
    match command {
        ReleaseCommand::Cut {
            commit,
            version,
            push,
            force,
            json,
        } => {
            let outcome = engine
                .cut_release(&commit, version.as_deref(), push, force)
                .await?;
            print_notes(&outcome.notes);
            if json {
                output::print_json(&outcome);
            } else {
                output::print_cut(&outcome);
            }
            Ok(exit::OK)
        }
    }
}

pub async fn hotfix(engine: &Engine, command: HotfixCommand) -> Result<i32, Failure> {
    match command {
        HotfixCommand::Start {
            name,
            from,
            push,
            json,
        } => {
            let outcome = engine.start_hotfix(&name, from.as_deref(), push).await?;
            print_notes(&outcome.notes);
            if json {
                output::print_json(&outcome);
            } else {
                output::print_cut(&outcome);
            }
            Ok(exit::OK)
        }
    }
}

/// The matrix, with commits and behind-counts when the repository answers. Without one
/// it shows what the registries say and tells once that git is unavailable.
pub async fn status(engine: &Engine, json: bool) -> Result<i32, Failure> {
    let report = engine.status_report().await;
    let code = if report.cells.iter().any(|c| c.error.is_some()) {
        exit::REGISTRY
    } else {
        exit::OK
    };
    print_notes(&report.notes);
    if let Some(why) = &report.git_unavailable {
        eprintln!("gantry: git unavailable, commits and behind-counts not shown: {why}");
    }
    if json {
        // The cells alone, as before the git join, so existing consumers keep working.
        output::print_json(&report.cells);
    } else {
        output::print_status(engine.config(), &report.cells);
        output::print_drift(&report.drift);
    }
    let problems: Vec<Problem> = report
        .cells
        .iter()
        .filter_map(|c| {
            let error = c.error.as_ref()?;
            Some(Problem::new(&c.service, &c.environment, error.clone()))
        })
        .collect();
    registry_errors::report(engine, &problems);
    Ok(code)
}
