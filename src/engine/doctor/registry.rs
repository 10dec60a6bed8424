//! One environment's registry as `gantry doctor` checks it: reachable, TLS, where the
//! credentials come from, whether they are accepted, and push rights where gantry writes.

use super::Check;
use crate::config::Environment;
use crate::engine::{Engine, EngineError};
use crate::registry::credentials::{CredentialError, Origin};
use crate::registry::failure::FailureKind;
use crate::registry::{RegistryError, UploadStart};

pub(super) async fn environment(engine: &Engine, env: &Environment) -> Vec<Check> {
    let scope = env.name.as_str();
    let mut checks = Vec::new();
    let client = match engine.client(scope) {
        Ok(client) => client,
        Err(EngineError::Registry(e)) => {
            checks.push(Check::error(
                scope,
                "tls",
                e.to_string(),
                "point ca_file at a PEM file holding the CA certificate that signed the registry's",
            ));
            return checks;
        }
        Err(e) => {
            checks.push(Check::error(
                scope,
                "registry",
                e.to_string(),
                "fix the configuration",
            ));
            return checks;
        }
    };
    match client.ping().await {
        Ok(()) => {
            checks.push(Check::ok(
                scope,
                "registry",
                format!(
                    "{} answers over {}",
                    env.registry,
                    if env.plain_http {
                        "plain HTTP"
                    } else {
                        "https"
                    }
                ),
            ));
            checks.push(tls(env));
        }
        Err(e) => {
            checks.push(unreachable(env, &e));
            return checks;
        }
    }
    let origin = match client.credential_source().describe(&env.registry) {
        Ok(origin) => {
            checks.push(Check::ok(scope, "credentials", origin.text.clone()));
            origin
        }
        Err(e) => {
            checks.push(Check::error(
                scope,
                "credentials",
                e.to_string(),
                credential_fix(&e),
            ));
            return checks;
        }
    };
    let Some(service) = engine.config().services.first() else {
        return checks;
    };
    let repository = env.repository(service);
    match client.list_tags(&repository).await {
        Ok(tags) => checks.push(Check::ok(
            scope,
            "access",
            format!(
                "reads {repository} ({} tag(s)) as {}",
                tags.len(),
                origin.who()
            ),
        )),
        Err(e) => {
            checks.push(refused_access(env, &repository, &origin.text, &e));
            return checks;
        }
    }
    if env.readonly {
        checks.push(Check::ok(
            scope,
            "push",
            "read-only in the configuration: gantry never writes here, push rights not checked",
        ));
    } else if env.from.is_some() {
        checks.push(push(engine, env, &repository, &origin).await);
    }
    checks
}

/// Opens a blob upload and cancels it: that needs push rights and writes nothing, while
/// pushing a tag would be a write everyone sees.
async fn push(engine: &Engine, env: &Environment, repository: &str, origin: &Origin) -> Check {
    let scope = env.name.as_str();
    let Ok(client) = engine.client(scope) else {
        return Check::error(scope, "push", "no client", "fix the configuration");
    };
    match client.start_upload(repository, None).await {
        Ok(UploadStart::Session(location)) => {
            client.cancel_upload(repository, &location).await;
            Check::ok(
                scope,
                "push",
                format!(
                    "may push to {repository} (an upload was opened and cancelled; no tag written)"
                ),
            )
        }
        Ok(UploadStart::Mounted) => Check::ok(scope, "push", format!("may push to {repository}")),
        Err(e) => {
            let status = match &e {
                RegistryError::Status { status, .. } => Some(*status),
                RegistryError::Exhausted { last, .. } => match last.as_ref() {
                    RegistryError::Status { status, .. } => Some(*status),
                    _ => None,
                },
                _ => None,
            };
            match (&e, status) {
                (RegistryError::Unauthorized { .. }, _) | (_, Some(403)) => Check::error(
                    scope,
                    "push",
                    format!(
                        "no push rights on {repository}: {} may read but not write ({e})",
                        origin.who()
                    ),
                    format!("grant push on {repository} to that account, or configure one that has it; gantry promotes into {scope}"),
                ),
                (_, Some(405)) => Check::error(
                    scope,
                    "push",
                    format!("the registry refuses writes to {repository}: {e}"),
                    "the registry is read-only (Distribution: storage.maintenance.readonly); make it writable, or mark the environment readonly = true",
                ),
                _ => Check::error(
                    scope,
                    "push",
                    format!("cannot open an upload to {repository}: {e}"),
                    "check the registry's logs",
                ),
            }
        }
    }
}

fn tls(env: &Environment) -> Check {
    let scope = env.name.as_str();
    if env.plain_http {
        let host = env
            .registry
            .rsplit_once(':')
            .map_or(env.registry.as_str(), |(h, _)| h);
        if matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.starts_with("127.") {
            return Check::ok(scope, "tls", "plain HTTP on loopback (plain_http = true)");
        }
        return Check::warning(
            scope,
            "tls",
            format!(
                "plain HTTP to {}: images and credentials travel unencrypted",
                env.registry
            ),
            "serve the registry over TLS and drop plain_http",
        );
    }
    Check::ok(
        scope,
        "tls",
        match &env.ca_file {
            Some(ca) => format!(
                "certificate trusted (system roots and ca_file {})",
                ca.display()
            ),
            None => "certificate trusted (system roots)".to_string(),
        },
    )
}

/// The ping failed: which part of the way, and what to do about it.
fn unreachable(env: &Environment, e: &RegistryError) -> Check {
    let scope = env.name.as_str();
    let Some(failure) = e.host_failure() else {
        return Check::error(
            scope,
            "registry",
            e.to_string(),
            "check the registry's logs",
        );
    };
    let (check, fix) = match failure.kind {
        FailureKind::Refused => (
            "registry",
            format!(
                "start the registry, or fix `registry = \"{}\"` (host:port)",
                env.registry
            ),
        ),
        FailureKind::Dns => ("registry", "fix the host name in `registry`".to_string()),
        FailureKind::Timeout | FailureKind::Connect | FailureKind::Interrupted => (
            "registry",
            "check the address, the network path and any firewall between here and the registry"
                .to_string(),
        ),
        FailureKind::UnknownCa => (
            "tls",
            "set ca_file to the PEM of the CA that signed the registry's certificate".to_string(),
        ),
        FailureKind::Tls => (
            "tls",
            "fix the registry's certificate, or set plain_http = true if it serves plain HTTP"
                .to_string(),
        ),
        FailureKind::Server => ("registry", "check the registry's logs".to_string()),
        FailureKind::CredentialsRefused | FailureKind::Configuration => (
            "credentials",
            "check the credentials configured for this environment".to_string(),
        ),
    };
    Check::error(
        scope,
        check,
        format!("{}: {}", env.registry, failure.summary),
        fix,
    )
}

fn refused_access(env: &Environment, repository: &str, source: &str, e: &RegistryError) -> Check {
    let scope = env.name.as_str();
    match e.host_failure().map(|f| f.kind) {
        Some(FailureKind::CredentialsRefused) => Check::error(
            scope,
            "access",
            format!(
                "{}: 401: credentials refused reading {repository} ({source})",
                env.registry
            ),
            match &env.login {
                Some(login) => format!(
                    "check the password for `{}` ({})",
                    login.username,
                    password_place(env)
                ),
                None => format!(
                    "log in with `docker login {}`, or set username and password_env",
                    env.registry
                ),
            },
        ),
        Some(FailureKind::Configuration) => Check::error(
            scope,
            "credentials",
            e.to_string(),
            "fix where the password comes from (password_env, password_file or the Docker config)",
        ),
        _ => Check::error(
            scope,
            "access",
            format!("cannot read {repository}: {e}"),
            "check the registry's logs and the repository name",
        ),
    }
}

fn password_place(env: &Environment) -> String {
    match env.login.as_ref().map(|l| &l.password) {
        Some(crate::config::PasswordSource::Env(var)) => format!("${var}"),
        Some(crate::config::PasswordSource::File(path)) => path.display().to_string(),
        None => "the Docker config".into(),
    }
}

fn credential_fix(e: &CredentialError) -> String {
    match e {
        CredentialError::MissingEnv { var } | CredentialError::EmptyEnv { var } => {
            format!("export {var} with the registry password where gantry runs")
        }
        CredentialError::PasswordFile { path, .. } => {
            format!("write the password alone into {}", path.display())
        }
        CredentialError::DockerConfig { path, .. } => {
            format!("fix {} (or `docker login` again)", path.display())
        }
        CredentialError::Helper { helper, .. } => {
            format!("install docker-credential-{helper} on PATH, or fix credHelpers/credsStore")
        }
    }
}
