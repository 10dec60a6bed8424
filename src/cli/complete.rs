//! Shell completions and the man page. Completions are clap_complete's dynamic kind: the
//! shell asks the binary itself (`COMPLETE=bash gantry -- <words>`), so environments,
//! services, branches and image tags come from the configuration and its repository as
//! they are now, not as they were when the script was generated.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use clap_complete::env::EnvCompleter;

use super::{Cli, Failure};
use crate::config::Config;
use crate::engine::repos::where_it_opens;
use crate::git::fleet::Mirrors;

/// The shells `gantry completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The environment variable the scripts set when they ask for completions.
const VAR: &str = "COMPLETE";
/// Commits of develop offered as `service:sha-...`, newest first.
const TAGS_OFFERED: usize = 30;

/// The command line as clap parses it, with the dynamic completers attached to every
/// argument that names an environment, a service, a branch or an image.
pub fn command() -> clap::Command {
    attach(Cli::command())
}

fn attach(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            let completer: Option<fn(&OsStr) -> Vec<CompletionCandidate>> =
                match arg.get_id().as_str() {
                    "to" | "from" | "env" => Some(environments),
                    "service" => Some(services),
                    "images" | "image" => Some(images),
                    "branch" => Some(branches),
                    _ => None,
                };
            match completer {
                Some(completer) => arg.add(ArgValueCompleter::new(completer)),
                None => arg,
            }
        })
        .mut_subcommands(attach)
}

/// Answers the shell when it asks (`COMPLETE` is set) and exits; returns otherwise.
pub fn answer_shell_if_asked() {
    clap_complete::CompleteEnv::with_factory(command)
        .var(VAR)
        .complete();
}

/// `gantry completions SHELL`: the script that makes SHELL ask gantry.
pub fn completions(shell: Shell) -> Result<i32, Failure> {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &clap_complete::env::Bash,
        Shell::Zsh => &clap_complete::env::Zsh,
        Shell::Fish => &clap_complete::env::Fish,
    };
    let mut script = Vec::new();
    completer
        .write_registration(VAR, "gantry", "gantry", "gantry", &mut script)
        .map_err(io_failure)?;
    print!("{}", String::from_utf8_lossy(&script));
    Ok(super::exit::OK)
}

/// `gantry man`: the manual page (roff) on stdout, for `man -l -` or a man directory.
pub fn man() -> Result<i32, Failure> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(io_failure)?;
    print!("{}", String::from_utf8_lossy(&page));
    Ok(super::exit::OK)
}

fn io_failure(e: std::io::Error) -> Failure {
    Failure {
        code: super::exit::REGISTRY,
        message: format!("cannot write: {e}"),
    }
}

/// The configuration the command line being completed would use: its `--config`, else
/// the usual places. Completion offers nothing rather than an error when there is none.
fn config() -> Option<Config> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let explicit = args.iter().enumerate().find_map(|(i, arg)| {
        let text = arg.to_str()?;
        match text.strip_prefix("--config=") {
            Some(path) => Some(PathBuf::from(path)),
            None if text == "--config" => args.get(i + 1).map(PathBuf::from),
            None => None,
        }
    });
    Config::discover(explicit.as_deref()).ok()
}

fn matching(current: &OsStr, values: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    values
        .into_iter()
        .filter(|v| v.starts_with(prefix.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

fn environments(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(config) = config() else {
        return Vec::new();
    };
    matching(current, config.environments.into_iter().map(|e| e.name))
}

fn services(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(config) = config() else {
        return Vec::new();
    };
    matching(current, config.services.into_iter().map(|s| s.name))
}

/// `service:` until a service is typed, then `service:sha-<short>` for develop's newest
/// commits: what the repository says is cheap; asking the registries is not.
fn images(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(config) = config() else {
        return Vec::new();
    };
    let typed = current.to_string_lossy();
    let Some((service, _)) = typed.split_once(':') else {
        return matching(
            current,
            config.services.into_iter().map(|s| format!("{}:", s.name)),
        );
    };
    let Ok(known) = config.service(service) else {
        return Vec::new();
    };
    // The service's own repository (a URL's mirror as last fetched: completing never
    // fetches).
    let mirrors = Mirrors::in_state(&crate::engine::lock::state_dir());
    let (git, _) = where_it_opens(config.service_git(known), &mirrors);
    let tags = crate::git::GitRepo::open(&git.settings, config.tags.short_len)
        .and_then(|repo| repo.history(&git.settings.develop, TAGS_OFFERED))
        .map(|history| history.commits)
        .unwrap_or_default()
        .into_iter()
        .map(|commit| format!("{service}:{}", config.tags.for_commit(&commit.sha)));
    matching(current, tags)
}

fn branches(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(config) = config() else {
        return Vec::new();
    };
    let names = crate::git::GitRepo::open(&config.git, config.tags.short_len)
        .and_then(|repo| repo.branches())
        .unwrap_or_default()
        .into_iter()
        .map(|b| b.name);
    matching(current, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completer_ids(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if arg.get::<ArgValueCompleter>().is_some() {
                out.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            completer_ids(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn names_and_images_complete_wherever_they_are_asked_for() {
        let mut ids = Vec::new();
        completer_ids(&command(), "gantry", &mut ids);
        for expected in [
            "gantry promote images",
            "gantry promote to",
            "gantry promote from",
            "gantry images service",
            "gantry images env",
            "gantry diff service",
            "gantry deploy env",
            "gantry rollback service",
            "gantry commits branch",
            "gantry gc service",
            "gantry request image",
        ] {
            assert!(ids.iter().any(|id| id == expected), "{expected} in {ids:?}");
        }
    }
}
