//! The headless command line: parsing, running engine jobs, text and JSON output, exit codes.
//!
//! `args` is the command line's shape (clap), `image_commands` promote, rollback and
//! images; this file runs a parsed command and maps failures to exit codes.

mod args;
pub mod complete;
mod demo;
mod deploy_commands;
mod doctor;
mod gate_commands;
mod gc_commands;
mod git_commands;
mod image_commands;
mod ledger_commands;
mod output;
mod registry_errors;
mod signing_commands;
mod supply_commands;
#[cfg(test)]
mod tests;

use std::io::IsTerminal;

use crate::config::{Config, ConfigError};
use crate::engine::{Engine, EngineError};

pub use args::{Cli, Command};
use image_commands::{images, promote, rollback};

/// Exit codes, as documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    pub const REGISTRY: i32 = 1;
    pub const INPUT: i32 = 2;
    pub const REFUSED: i32 = 3;
    /// The promotion or rollback happened; the environment's deploy step failed.
    pub const DEPLOY: i32 = 4;
}

/// An error worth one or two lines to the user, and the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    /// Invalid input: exit 2.
    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::INPUT,
            message: message.into(),
        }
    }
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
            polyrepo,
        }) => demo::run(dir, no_wait, no_tui, cli.readonly, polyrepo).await,
        Some(Command::Keys { command }) => signing_commands::keys(command),
        Some(Command::Completions { shell }) => complete::completions(shell),
        Some(Command::Man) => complete::man(),
        Some(command) => match Config::discover(cli.config.as_deref()) {
            Ok(config) => run_with_config(config, command, cli.fresh).await,
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

async fn run_with_config(config: Config, command: Command, fresh: bool) -> Result<i32, Failure> {
    let mut engine = Engine::new(config)?;
    engine.set_fresh(fresh);
    let result = run_command(&mut engine, command).await;
    engine.save_tag_caches();
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
            service,
            branch,
            limit,
            json,
        } => {
            git_commands::commits(
                engine,
                service.as_deref(),
                branch.as_deref(),
                limit as usize,
                json,
            )
            .await
        }
        Command::Branches { service, json } => {
            git_commands::branches(engine, service.as_deref(), json).await
        }
        Command::Fetch { service, json } => git_commands::fetch(engine, &service, json).await,
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
        Command::Sbom {
            image,
            env,
            format,
            output,
        } => {
            supply_commands::sbom(
                engine,
                &image,
                env.as_deref(),
                format.as_deref(),
                output.as_deref(),
            )
            .await
        }
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
