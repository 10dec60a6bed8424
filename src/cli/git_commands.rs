//! The git-aware commands: commits with their images, branches, promotion diffs, cutting
//! release and hotfix branches, and the status matrix with commits and behind-counts.

use clap::Subcommand;

use super::registry_errors::{self, Problem};
use super::{exit, output, Failure};
use crate::engine::history::cut::TrainStop;
use crate::engine::history::HistoryError;
use crate::engine::repos::FetchWhich;
use crate::engine::Engine;

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Create a release branch at a develop commit whose images exist (never touches the
    /// worktree); with SERVICE:COMMIT stops, one branch per service repository, or none
    Cut {
        /// A commit on develop (full or short sha, or any revision git understands), or
        /// SERVICE:COMMIT stops of a release train across service repositories
        #[arg(required = true, value_name = "COMMIT | SERVICE:COMMIT")]
        commits: Vec<String>,
        /// The service whose repository the commit is in (default: [git] path's)
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
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
        /// The service whose repository to cut it in (default: [git] path's)
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
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
    service: Option<&str>,
    branch: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<i32, Failure> {
    let view = engine.commits(service, branch, limit).await?;
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

pub async fn branches(engine: &Engine, service: Option<&str>, json: bool) -> Result<i32, Failure> {
    let (branches, notes) = engine.branches(service).await?;
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
            commits,
            service,
            version,
            push,
            force,
            json,
        } => {
            let stops = train_stops(engine, &commits)?;
            if !stops.is_empty() {
                if service.is_some() {
                    return Err(Failure::input(
                        "--service names one repository; a release train names each service in SERVICE:COMMIT",
                    ));
                }
                let train = engine
                    .cut_train(&stops, version.as_deref(), push, force)
                    .await?;
                for cut in &train.cuts {
                    print_notes(&cut.outcome.notes);
                }
                if json {
                    output::print_json(&train);
                } else {
                    for cut in &train.cuts {
                        println!("{} ({}):", cut.service, cut.repository);
                        output::print_cut(&cut.outcome);
                    }
                }
                return Ok(exit::OK);
            }
            let [commit] = commits.as_slice() else {
                return Err(Failure::input(
                    "one COMMIT, or SERVICE:COMMIT stops (a release train), not several commits",
                ));
            };
            let outcome = engine
                .cut_release(service.as_deref(), commit, version.as_deref(), push, force)
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
            service,
            push,
            json,
        } => {
            let outcome = engine
                .start_hotfix(service.as_deref(), &name, from.as_deref(), push)
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

/// `SERVICE:COMMIT` arguments as train stops; none when the arguments are plain commits.
/// Mixing both is refused, as is a stop naming no service.
fn train_stops(engine: &Engine, args: &[String]) -> Result<Vec<TrainStop>, Failure> {
    let config = engine.config();
    let mut stops = Vec::new();
    for arg in args {
        let stop = arg.split_once(':').and_then(|(service, commit)| {
            config.service(service).ok().map(|_| TrainStop {
                service: service.to_string(),
                commit: commit.to_string(),
            })
        });
        match stop {
            Some(stop) if !stop.commit.is_empty() => stops.push(stop),
            Some(stop) => {
                return Err(Failure::input(format!(
                    "`{arg}` names no commit: say {}:<commit>",
                    stop.service
                )))
            }
            None if arg.contains(':') => {
                let service = arg.split(':').next().unwrap_or_default();
                let why = config
                    .service(service)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                return Err(Failure::input(format!(
                    "`{arg}` is not SERVICE:COMMIT: {why}"
                )));
            }
            None => {}
        }
    }
    if !stops.is_empty() && stops.len() != args.len() {
        return Err(Failure::input(
            "a release train names every stop as SERVICE:COMMIT; a plain commit cannot join one",
        ));
    }
    Ok(stops)
}

/// Fetches the services' URL repositories into their mirrors: all of them, or those of
/// `services`; one line each with what happened. Exit 1 when any could not be fetched.
pub async fn fetch(engine: &Engine, services: &[String], json: bool) -> Result<i32, Failure> {
    let repos = if services.is_empty() {
        engine.service_repos()
    } else {
        let mut repos: Vec<crate::engine::repos::ServiceRepo> = Vec::new();
        for service in services {
            let repo = engine.service_repo(service).map_err(Failure::from)?;
            if !repos.iter().any(|r| r.location() == repo.location()) {
                repos.push(repo);
            }
        }
        repos
    };
    let reports = engine.fetch_repos(&repos, FetchWhich::All).await;
    let mut lines = Vec::new();
    for repo in &repos {
        let Some(url) = &repo.url else {
            lines.push(FetchLine {
                services: repo.services.clone(),
                repository: repo.location(),
                result: "read in place (a path): nothing to fetch".into(),
                ok: true,
            });
            continue;
        };
        let report = reports.iter().find(|r| &r.url == url);
        let (result, ok) = match report.map(|r| &r.result) {
            Some(Ok(fetched)) if fetched.cloned => ("cloned".to_string(), true),
            Some(Ok(_)) => ("fetched".to_string(), true),
            Some(Err(e)) => (format!("failed: {}", e.reason), false),
            None => ("not fetched".to_string(), false),
        };
        lines.push(FetchLine {
            services: repo.services.clone(),
            repository: url.clone(),
            result,
            ok,
        });
    }
    if json {
        output::print_json(&lines);
    } else {
        for line in &lines {
            println!(
                "{}  {}  {}",
                line.services.join(","),
                line.repository,
                line.result
            );
        }
    }
    Ok(if lines.iter().all(|l| l.ok) {
        exit::OK
    } else {
        exit::REGISTRY
    })
}

#[derive(serde::Serialize)]
struct FetchLine {
    services: Vec<String>,
    repository: String,
    result: String,
    ok: bool,
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
    for problem in report
        .repositories
        .iter()
        .filter_map(|r| r.problem.as_ref())
    {
        if report.repositories.len() > 1 {
            eprintln!("gantry: {problem}");
        }
    }
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
