//! The headless command line: parsing, running engine jobs, text and JSON output, exit codes.

pub mod complete;
mod demo;
mod deploy_commands;
mod doctor;
mod gate_commands;
mod gc_commands;
mod git_commands;
mod ledger_commands;
mod output;
mod registry_errors;
mod signing_commands;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::{Config, ConfigError};
use crate::domain::ImageSelector;
use crate::engine::{Engine, EngineError, PromotionOutcome, PromotionRequest};

/// Exit codes, as documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    pub const REGISTRY: i32 = 1;
    pub const INPUT: i32 = 2;
    pub const REFUSED: i32 = 3;
    /// The promotion or rollback happened; the environment's deploy step failed.
    pub const DEPLOY: i32 = 4;
}

#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    version,
    about = "Promote the exact image you built through your environments"
)]
pub struct Cli {
    /// Configuration file (else $GANTRY_CONFIG, ./gantry.toml, $XDG_CONFIG_HOME/gantry/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Console: hide and refuse everything that changes a registry or a repository
    #[arg(long, global = true)]
    pub readonly: bool,
    /// Every registry error in full, not one line per registry
    #[arg(long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy images to an environment, keeping their digest, then tag them there
    Promote {
        /// service:sha-2b2e927 (tag), service:2b2e927 (commit) or service@sha256:<hex>
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Source environment (default: the target's `from`)
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        /// Print the plan and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Promote through a freeze window; the reason is recorded in the ledger
        #[arg(long, value_name = "REASON")]
        override_freeze: Option<String>,
        /// Machine-readable output on stdout
        #[arg(long)]
        json: bool,
    },
    /// Why a promotion would pass or be refused: every gate of the target, and what would satisfy it
    Why {
        /// service:sha-2b2e927, service:2b2e927 or service@sha256:<hex>
        image: String,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Source environment (default: the target's `from`)
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// SHA-tagged images of a service, per environment
    Images {
        service: String,
        /// Only this environment
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The service x environment matrix
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Commits of a branch (develop by default), each with its images per environment
    Commits {
        /// Branch to list (default: [git] develop)
        #[arg(long, value_name = "B")]
        branch: Option<String>,
        /// How many commits, newest first
        #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// develop, main, release and hotfix branches: heads, ahead/behind develop and main
    Branches {
        #[arg(long)]
        json: bool,
    },
    /// The commits promoting SERVICE from one environment to another would bring
    Diff {
        service: String,
        /// Source environment (default: the target's `from`)
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// Release branches
    Release {
        #[command(subcommand)]
        command: git_commands::ReleaseCommand,
    },
    /// Hotfix branches
    Hotfix {
        #[command(subcommand)]
        command: git_commands::HotfixCommand,
    },
    /// Clean up old images by each environment's retention policy, never what is deployed
    Gc {
        /// Only this environment (default: every environment with a retention policy)
        #[arg(long, value_name = "E")]
        env: Option<String>,
        /// Only this service
        #[arg(long, value_name = "S")]
        service: Option<String>,
        /// Delete what the plan says (default: print the plan, change nothing)
        #[arg(long)]
        execute: bool,
        #[arg(long)]
        json: bool,
    },
    /// A sandbox: local registries with images and a config, to try gantry on
    Demo {
        /// Where to build it (default: a new temporary directory)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Build the sandbox, print how to use it, and exit without serving (registries stop)
        #[arg(long, hide = true)]
        no_wait: bool,
        /// Keep the registries up and print commands instead of opening the console
        #[arg(long)]
        no_tui: bool,
    },
    /// Cosign-compatible signing keys
    Keys {
        #[command(subcommand)]
        command: signing_commands::KeysCommand,
    },
    /// Check an image's cosign signatures in an environment (exit 3: unsigned or invalid)
    Verify {
        /// service:sha-2b2e927 (any tag), service:2b2e927 (commit) or service@sha256:<hex>
        #[arg(value_name = "IMAGE")]
        image: String,
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Trust this public key (PEM) instead of the configured ones
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Ask for a promotion that needs approvals: records the image's digest now
    Request {
        /// service:sha-2b2e927 (tag), service:2b2e927 (commit) or service@sha256:<hex>
        #[arg(value_name = "IMAGE")]
        image: String,
        /// Target environment
        #[arg(long, value_name = "ENV")]
        to: String,
        /// Source environment (default: the target's `from`)
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Approve a request, as git's user.email (never your own request, once per person)
    Approve {
        /// The request's id (or at least its first 6 digits)
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Requests waiting for approvals or for `gantry execute`
    Requests {
        /// Include requests already carried out
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Promote every approved request not carried out yet (what a CI job runs)
    Execute {
        /// Print what would be promoted and change nothing
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// The ledger: who requested, approved, promoted and rolled back what, and when
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        command: Option<ledger_commands::AuditCommand>,
        /// Only this service's records
        #[arg(long, value_name = "S")]
        service: Option<String>,
        /// Only records about this environment (as target or source)
        #[arg(long, value_name = "E")]
        env: Option<String>,
        /// Only this kind (request, approval, promotion, rollback...)
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run only the deploy step (GitOps bump or hook) for what ENV runs, or a given image
    Deploy {
        service: String,
        /// The environment to deploy
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Deploy this digest (it must be in ENV) instead of what ENV's mutable tag points at
        #[arg(long, value_name = "D", conflicts_with = "tag")]
        digest: Option<String>,
        /// Deploy the image with this tag in ENV
        #[arg(long, value_name = "T")]
        tag: Option<String>,
        /// Show the exact file diff or command and change nothing
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration end to end: registries, TLS, credentials, push rights, git, ledger, keys, hooks
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// A shell completion script (completes environments, services and tags from the config)
    Completions {
        #[arg(value_enum)]
        shell: complete::Shell,
    },
    /// The manual page (roff) on stdout: `gantry man | man -l -`
    Man,
    /// Point an environment's mutable tag back at an image it already holds
    Rollback {
        service: String,
        /// The environment to roll back
        #[arg(long, value_name = "ENV")]
        env: String,
        /// The image to go back to: its tag (sha-2b2e927) or digest (sha256:...)
        #[arg(long, value_name = "REF")]
        to: String,
        #[arg(long)]
        json: bool,
    },
}

/// An error worth one or two lines to the user, and the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure {
            code: exit::INPUT,
            message: e.to_string(),
        }
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    registry_errors::set_verbose(cli.verbose);
    let result = match cli.command {
        None => match Config::discover(cli.config.as_deref()) {
            Ok(config) => console(config, cli.readonly).await,
            Err(e) => Err(e.into()),
        },
        Some(Command::Demo {
            dir,
            no_wait,
            no_tui,
        }) => demo::run(dir, no_wait, no_tui, cli.readonly).await,
        Some(Command::Keys { command }) => signing_commands::keys(command),
        Some(Command::Completions { shell }) => complete::completions(shell),
        Some(Command::Man) => complete::man(),
        Some(command) => match Config::discover(cli.config.as_deref()) {
            Ok(config) => run_with_config(config, command).await,
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("gantry: {}", failure.message);
            failure.code
        }
    }
}

/// Opens the interactive console; a terminal is required.
pub(crate) async fn console(config: Config, readonly: bool) -> Result<i32, Failure> {
    if !std::io::stdout().is_terminal() {
        return Err(Failure {
            code: exit::INPUT,
            message:
                "the console needs a terminal; use a subcommand (see `gantry --help`) in scripts"
                    .into(),
        });
    }
    match crate::tui::run(config, readonly).await {
        Ok(()) => Ok(exit::OK),
        Err(crate::tui::TuiError::Engine(e)) => Err(e.into()),
        Err(e) => Err(Failure {
            code: exit::INPUT,
            message: e.to_string(),
        }),
    }
}

async fn rollback(
    engine: &Engine,
    service: &str,
    env: &str,
    to: &str,
    json: bool,
) -> Result<i32, Failure> {
    let environment = engine
        .config()
        .environment(env)
        .map_err(EngineError::from)?
        .clone();
    let svc = engine
        .config()
        .service(service)
        .map_err(EngineError::from)?
        .clone();
    let digest = match to.parse::<crate::domain::Digest>() {
        Ok(digest) => digest,
        Err(_) => engine.digest_in(&environment, &svc, to).await?,
    };
    let outcome = engine.rollback(service, env, &digest).await?;
    if json {
        output::print_json(&outcome);
        if let Some(deploy) = &outcome.deploy {
            deploy_commands::print_failure(deploy, false);
        }
    } else {
        println!("{}", outcome.summary());
        if let Some(deploy) = &outcome.deploy {
            deploy_commands::print_outcome(deploy, true);
        }
    }
    ledger_commands::print_rollback_note(outcome.ledger.as_ref());
    Ok(deploy_commands::exit_code(outcome.deploy.as_ref()))
}

async fn run_with_config(config: Config, command: Command) -> Result<i32, Failure> {
    let mut engine = Engine::new(config)?;
    let result = run_command(&mut engine, command).await;
    // Notifications go out in the background; a slow receiver costs at most this wait.
    engine.flush_notifications().await;
    result
}

async fn run_command(engine: &mut Engine, command: Command) -> Result<i32, Failure> {
    match command {
        Command::Promote {
            images,
            to,
            from,
            dry_run,
            override_freeze,
            json,
        } => {
            if let Some(reason) = override_freeze {
                if reason.trim().is_empty() {
                    return Err(Failure {
                        code: exit::INPUT,
                        message: "--override-freeze needs a reason; it is recorded in the ledger"
                            .into(),
                    });
                }
                engine.set_gate_overrides(crate::gates::GateOverrides {
                    freeze_reason: Some(reason),
                });
            }
            promote(engine, &images, &to, from.as_deref(), dry_run, json).await
        }
        Command::Why {
            image,
            to,
            from,
            json,
        } => gate_commands::why(engine, &image, &to, from.as_deref(), json).await,
        Command::Images { service, env, json } => {
            images(engine, &service, env.as_deref(), json).await
        }
        Command::Status { json } => git_commands::status(engine, json).await,
        Command::Commits {
            branch,
            limit,
            json,
        } => git_commands::commits(engine, branch.as_deref(), limit as usize, json).await,
        Command::Branches { json } => git_commands::branches(engine, json).await,
        Command::Diff {
            service,
            from,
            to,
            json,
        } => git_commands::diff(engine, &service, from.as_deref(), &to, json).await,
        Command::Release { command } => git_commands::release(engine, command).await,
        Command::Hotfix { command } => git_commands::hotfix(engine, command).await,
        Command::Rollback {
            service,
            env,
            to,
            json,
        } => rollback(engine, &service, &env, &to, json).await,
        Command::Deploy {
            service,
            env,
            digest,
            tag,
            dry_run,
            json,
        } => {
            deploy_commands::deploy(
                engine,
                &service,
                &env,
                digest.as_deref(),
                tag.as_deref(),
                dry_run,
                json,
            )
            .await
        }
        Command::Request {
            image,
            to,
            from,
            json,
        } => ledger_commands::request(engine, &image, &to, from.as_deref(), json).await,
        Command::Approve { id, json } => ledger_commands::approve(engine, &id, json).await,
        Command::Requests { all, json } => ledger_commands::requests(engine, all, json).await,
        Command::Execute { dry_run, json } => ledger_commands::execute(engine, dry_run, json).await,
        Command::Audit {
            command,
            service,
            env,
            kind,
            json,
        } => ledger_commands::audit(engine, command, service, env, kind, json).await,
        Command::Verify {
            image,
            env,
            key,
            json,
        } => signing_commands::verify(engine, &image, &env, key.as_deref(), json).await,
        Command::Gc {
            env,
            service,
            execute,
            json,
        } => gc_commands::gc(engine, env.as_deref(), service.as_deref(), execute, json).await,
        Command::Doctor { json } => doctor::doctor(engine, json).await,
        Command::Keys { .. } => unreachable!("keys run without a configuration"),
        Command::Completions { .. } | Command::Man => {
            unreachable!("completions and the man page need no configuration")
        }
        Command::Demo { .. } => unreachable!("demo runs without a configuration"),
    }
}

#[derive(Serialize)]
struct PromotionReport {
    image: String,
    ok: bool,
    exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<PromotionOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn promote(
    engine: &mut Engine,
    images: &[String],
    to: &str,
    from: Option<&str>,
    dry_run: bool,
    json: bool,
) -> Result<i32, Failure> {
    // Every argument is checked before anything runs.
    let from = engine.source_environment(to, from)?.name.clone();
    let prefix = engine.config().tags.prefix.clone();
    let mut requests: Vec<PromotionRequest> = Vec::new();
    for image in images {
        let selector = ImageSelector::parse(image, &prefix).map_err(EngineError::from)?;
        if requests
            .iter()
            .any(|r| r.selector.service() == selector.service())
        {
            return Err(Failure {
                code: exit::INPUT,
                message: format!(
                    "`{}` is named twice: one image per service per promotion",
                    selector.service()
                ),
            });
        }
        let request = PromotionRequest {
            selector,
            from: from.clone(),
            to: to.to_string(),
        };
        engine.check_request(&request)?;
        requests.push(request);
    }

    let show_progress = !json && std::io::stderr().is_terminal();
    let progress = if show_progress {
        let (sender, receiver) = mpsc::unbounded_channel();
        engine.subscribe(sender);
        Some(tokio::spawn(output::render_progress(receiver)))
    } else {
        None
    };
    let engine_ref = &*engine;
    let results = join_all(requests.iter().map(|r| engine_ref.promote(r, dry_run))).await;
    // Dropping the engine's sender ends the progress renderer.
    if let Some(progress) = progress {
        engine.subscribe(mpsc::unbounded_channel().0);
        let _ = progress.await;
    }

    let mut reports = Vec::new();
    for (image, result) in images.iter().zip(results) {
        reports.push(match result {
            Ok(outcome) => PromotionReport {
                image: image.clone(),
                ok: true,
                exit_code: deploy_commands::exit_code(outcome.deploy.as_ref()),
                outcome: Some(outcome),
                error: None,
            },
            Err(e) => PromotionReport {
                image: image.clone(),
                ok: false,
                exit_code: e.exit_code(),
                outcome: None,
                error: Some(e.to_string()),
            },
        });
    }
    if json {
        output::print_json(&reports);
        for deploy in reports
            .iter()
            .filter_map(|r| r.outcome.as_ref().and_then(|o| o.deploy.as_ref()))
        {
            deploy_commands::print_failure(deploy, false);
        }
    } else {
        for report in &reports {
            match (&report.outcome, &report.error) {
                (Some(outcome), _) => {
                    output::print_plan(&outcome.plan, outcome.executed);
                    if let Some(deploy) = &outcome.deploy {
                        deploy_commands::print_outcome(deploy, true);
                    }
                }
                (None, Some(error)) => eprintln!("gantry: {}: {error}", report.image),
                (None, None) => {}
            }
        }
    }
    for report in &reports {
        let note = report.outcome.as_ref().and_then(|o| o.ledger.as_ref());
        ledger_commands::print_ledger_note(&report.image, note);
    }
    Ok(worst_exit_code(reports.iter().map(|r| r.exit_code)))
}

/// A network failure outranks a refusal: the refusal may not be the whole story.
fn worst_exit_code(codes: impl Iterator<Item = i32>) -> i32 {
    codes
        .max_by_key(|code| match *code {
            exit::OK => 0,
            exit::REFUSED => 1,
            exit::DEPLOY => 2,
            exit::INPUT => 3,
            _ => 4,
        })
        .unwrap_or(exit::OK)
}

async fn images(
    engine: &Engine,
    service: &str,
    env: Option<&str>,
    json: bool,
) -> Result<i32, Failure> {
    engine
        .config()
        .service(service)
        .map_err(EngineError::from)?;
    let envs: Vec<String> = match env {
        Some(env) => vec![engine
            .config()
            .environment(env)
            .map_err(EngineError::from)?
            .name
            .clone()],
        None => engine
            .config()
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect(),
    };
    let results = join_all(envs.iter().map(|env| engine.images(service, env))).await;
    let mut listings = Vec::new();
    let mut problems = Vec::new();
    let mut code = exit::OK;
    for (env, result) in envs.iter().zip(results) {
        match result {
            Ok(listing) => listings.push(listing),
            Err(e) => {
                code = worst_exit_code([code, e.exit_code()].into_iter());
                problems.push(registry_errors::Problem::new(service, env, e.to_string()));
            }
        }
    }
    registry_errors::report(engine, &problems);
    if json {
        output::print_json(&listings);
    } else {
        output::print_images(&listings);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_code_wins() {
        assert_eq!(worst_exit_code([0, 3, 0].into_iter()), 3);
        assert_eq!(worst_exit_code([3, 1].into_iter()), 1);
        assert_eq!(worst_exit_code(std::iter::empty()), 0);
    }

    #[test]
    fn command_line_shapes() {
        let cli = Cli::try_parse_from([
            "gantry", "--config", "g.toml", "promote", "a:sha-1", "b:sha-2", "--to", "stage",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Promote {
                images, to, from, ..
            }) => {
                assert_eq!(images, ["a:sha-1", "b:sha-2"]);
                assert_eq!(to, "stage");
                assert_eq!(from, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["gantry", "promote", "a:sha-1"]).is_err());
    }
}
