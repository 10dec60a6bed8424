//! The checks of `gantry doctor` that are not about a registry: deploy repositories and
//! hook commands, the git repository and identity, the ledger, signing keys.

use std::path::{Path, PathBuf};

use super::Check;
use crate::config::deploy::{DeployMethod, RepoLocation};
use crate::config::{Config, Environment};
use crate::engine::Engine;
use crate::git::{GitError, GitRepo};

/// Each environment's deploy step and commands, in configuration order. Remotes are
/// asked on a blocking thread: libgit2 blocks.
pub(super) async fn environments(config: &Config) -> Vec<Vec<Check>> {
    let environments = config.environments.clone();
    tokio::task::spawn_blocking(move || environments.iter().map(environment).collect())
        .await
        .unwrap_or_default()
}

fn environment(env: &Environment) -> Vec<Check> {
    let scope = env.name.as_str();
    let mut checks = Vec::new();
    match &env.deploy.method {
        DeployMethod::None => {}
        DeployMethod::GitOps(gitops) => checks.push(manifests_repository(
            scope,
            &gitops.repository,
            &gitops.branch,
        )),
        DeployMethod::Command(hook) => checks.push(command(scope, "hook", &hook.command)),
    }
    if let Some(status) = &env.deploy.status {
        checks.push(command(scope, "status", &status.command));
    }
    if let Some(scan) = env.gates.scan.as_ref().filter(|s| s.report.is_none()) {
        checks.push(command(scope, "scan", &scan.command));
    }
    checks
}

fn manifests_repository(scope: &str, repository: &RepoLocation, branch: &str) -> Check {
    if let RepoLocation::Path(path) = repository {
        if !path.exists() {
            return Check::error(
                scope,
                "deploy",
                format!("manifests repository {} does not exist", path.display()),
                "fix deploy.repository (a URL, or a path relative to the configuration file)",
            );
        }
    }
    match crate::git::probe::remote_branches(&repository.url()) {
        Ok(branches) if branches.iter().any(|b| b == branch) => Check::ok(
            scope,
            "deploy",
            format!("manifests repository {repository} has branch {branch}"),
        ),
        Ok(branches) => Check::error(
            scope,
            "deploy",
            format!(
                "manifests repository {repository} has no branch {branch}{}",
                crate::domain::suggest::did_you_mean(branch, branches.iter().map(String::as_str))
            ),
            "push that branch, or set deploy.branch to the one Argo CD or Flux follows",
        ),
        Err(reason) => Check::error(
            scope,
            "deploy",
            format!("cannot reach manifests repository {repository}: {reason}"),
            "check the URL and the credentials gantry offers (ssh-agent, git's credential helper)",
        ),
    }
}

/// A command's program, looked up as `sh` would: on PATH, or the path itself.
fn command(scope: &str, check: &'static str, command: &str) -> Check {
    let Some(program) = program_of(command) else {
        return Check::ok(
            scope,
            check,
            format!("`{command}`: a shell script, its commands are not looked up"),
        );
    };
    match find_program(&program) {
        Some(path) => Check::ok(
            scope,
            check,
            format!("`{program}` found at {}", path.display()),
        ),
        None => Check::error(
            scope,
            check,
            format!("`{program}` (from `{command}`) is not on PATH"),
            format!("install {program} where gantry runs, or give its full path"),
        ),
    }
}

/// The first word of a command line that names a program: after `VAR=value`
/// assignments; `None` when the line starts with shell syntax (`if`, `(`, `{`...).
fn program_of(command: &str) -> Option<String> {
    let is_assignment = |word: &str| {
        word.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    };
    let word = command.split_whitespace().find(|w| !is_assignment(w))?;
    let word = word.trim_matches(|c| c == '"' || c == '\'');
    let syntax = [
        "if", "for", "while", "until", "case", "!", "(", "{", "[[", "exec",
    ];
    if word.is_empty()
        || syntax.contains(&word)
        || word.contains(['$', '`', '(', '{', ';', '|', '&'])
    {
        return None;
    }
    Some(word.to_string())
}

fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The application repository and its develop and main branches.
pub(super) async fn git(engine: &Engine) -> Vec<Check> {
    let settings = engine.config().git.clone();
    let short_len = engine.config().tags.short_len;
    tokio::task::spawn_blocking(move || {
        let repo = match GitRepo::open(&settings, short_len) {
            Ok(repo) => repo,
            Err(e @ GitError::NotARepository { .. }) => {
                return vec![Check::warning(
                    "git",
                    "repository",
                    e.to_string(),
                    "commits, release branches, approvals and the ledger need the application repository: set [git] path",
                )]
            }
            Err(e) => return vec![Check::error("git", "repository", e.to_string(), "fix [git] path")],
        };
        let mut checks = vec![Check::ok(
            "git",
            "repository",
            settings.path.display().to_string(),
        )];
        for branch in [&settings.develop, &settings.main] {
            checks.push(match repo.head_of(branch) {
                Ok(head) => Check::ok(
                    "git",
                    "branch",
                    format!("{branch} at {} \"{}\"", head.short, head.subject),
                ),
                Err(e) => Check::warning(
                    "git",
                    "branch",
                    e.to_string(),
                    "fetch the branch, or name yours in [git] develop / main",
                ),
            });
        }
        checks
    })
    .await
    .unwrap_or_default()
}

/// The identity records are written under, the ledger's chain, and its remote.
pub(super) async fn ledger(engine: &Engine) -> Vec<Check> {
    let config = engine.config();
    if !config.ledger.enabled {
        return vec![Check::ok(
            "ledger",
            "ref",
            "off ([ledger] enabled = false): promotions are not recorded, approvals cannot be given",
        )];
    }
    let path = config.git.path.clone();
    let settings = config.ledger.clone();
    let identity = tokio::task::spawn_blocking(move || {
        crate::ledger::store::Store::open(&path, &settings)?.identity()
    })
    .await;
    let mut checks = Vec::new();
    match identity {
        Ok(Ok((_, email))) => checks.push(Check::ok(
            "git",
            "identity",
            format!("{email} (user.email)"),
        )),
        Ok(Err(crate::ledger::LedgerError::Off(why))) => {
            return vec![Check::warning(
                "ledger",
                "ref",
                format!("off: {why}"),
                "set [git] path to the application repository to record promotions and approvals",
            )]
        }
        Ok(Err(e)) => checks.push(Check::warning(
            "git",
            "identity",
            e.to_string(),
            "git config user.email you@example.com (in the repository, or --global)",
        )),
        Err(_) => {}
    }
    let reference = &config.ledger.reference;
    let snapshot = match engine.ledger_snapshot().await {
        Ok(snapshot) => snapshot,
        Err(e) => {
            checks.push(Check::error(
                "ledger",
                "ref",
                e.to_string(),
                "see `gantry audit verify`",
            ));
            return checks;
        }
    };
    checks.push(match &snapshot.problem {
        Some(problem) => Check::error(
            "ledger",
            "ref",
            format!("{reference} does not verify: {}", problem.message),
            "run `gantry audit verify` and investigate before approving anything",
        ),
        None => Check::ok(
            "ledger",
            "ref",
            format!(
                "{reference}: {} record(s), the chain verifies",
                snapshot.records.len()
            ),
        ),
    });
    let fetch_failure = snapshot
        .notes
        .iter()
        .find(|n| n.starts_with("could not fetch the ledger"));
    checks.push(match (&snapshot.remote, fetch_failure) {
        (None, _) if config.ledger.remote.as_deref() == Some("") => Check::ok(
            "ledger",
            "remote",
            "none (ledger.remote = \"\"): records stay in this clone",
        ),
        (None, _) => Check::warning(
            "ledger",
            "remote",
            "no remote: records stay in this clone and nobody else sees requests or approvals",
            "add an `origin` remote to the repository, or name one in [ledger] remote",
        ),
        (Some(remote), Some(note)) => Check::error(
            "ledger",
            "remote",
            format!("`{remote}`: {note}"),
            "check the remote's URL and the credentials gantry offers (ssh-agent, git's credential helper)",
        ),
        (Some(remote), None) if snapshot.unpushed > 0 => Check::warning(
            "ledger",
            "remote",
            format!("`{remote}` answers; {} record(s) here are not pushed yet", snapshot.unpushed),
            "the next command that writes the ledger pushes them",
        ),
        (Some(remote), None) => Check::ok("ledger", "remote", format!("fetched from `{remote}`")),
    });
    checks
}

/// The signing key decrypts with the password in its variable; signature gates have keys.
pub(super) fn signing(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let var = &config.signing.password_env;
    if let Some(key) = &config.signing.key {
        checks.push(match crate::signing::SigningKey::load(key, var) {
            Ok(_) => Check::ok(
                "signing",
                "key",
                format!(
                    "{} decrypts with the password in ${var}{}",
                    key.display(),
                    if std::env::var_os(var).is_none() {
                        " (unset: the empty password)"
                    } else {
                        ""
                    }
                ),
            ),
            Err(e) => Check::error(
                "signing",
                "key",
                e.to_string(),
                format!("export {var} with the key's password where promotions run ([signing] password_env names the variable)"),
            ),
        });
    }
    for env in &config.environments {
        let keys = env.verify_keys.len()
            + config.signing.public_keys.len()
            + usize::from(config.signing.key.is_some());
        if env.gates.signature && keys == 0 {
            checks.push(Check::error(
                &env.name,
                "signature",
                "the signature gate has no key to check signatures against",
                "set verify_keys for this environment, or [signing] public_keys",
            ));
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_of_a_command_line() {
        assert_eq!(
            program_of("kubectl set image x").as_deref(),
            Some("kubectl")
        );
        assert_eq!(
            program_of("KUBECONFIG=/k  kubectl rollout status").as_deref(),
            Some("kubectl")
        );
        assert_eq!(
            program_of("/usr/local/bin/argocd app wait").as_deref(),
            Some("/usr/local/bin/argocd")
        );
        assert_eq!(program_of("if true; then :; fi"), None);
        assert_eq!(program_of("$DEPLOY {image}"), None);
        assert_eq!(program_of(""), None);
    }

    #[test]
    fn programs_are_found_on_path_or_by_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("gantry-no-such-program").is_none());
        assert!(find_program("/etc/passwd").is_none(), "not executable");
    }
}
