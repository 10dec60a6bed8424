//! `gantry doctor`: checks a configuration end to end before the first promotion, and
//! returns what it found as structured results (the CLI prints them; the console can
//! show the same). Nothing is written anywhere: push rights are checked by opening a
//! blob upload and cancelling it.

mod local;
mod registry;
mod repos;

use futures_util::future::join_all;
use serde::Serialize;

use super::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warning,
    Error,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub level: Level,
    /// What it is about: an environment's name, `git`, `ledger`, `signing`, `config`.
    pub scope: String,
    /// Which check: `registry`, `tls`, `credentials`, `access`, `push`, `deploy`, `hook`...
    pub check: &'static str,
    pub message: String,
    /// What to do about a warning or an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn ok(scope: &str, check: &'static str, message: impl Into<String>) -> Check {
        Check {
            level: Level::Ok,
            scope: scope.to_string(),
            check,
            message: message.into(),
            fix: None,
        }
    }

    pub(crate) fn warning(
        scope: &str,
        check: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::ok(scope, check, message).needing(Level::Warning, fix)
    }

    pub(crate) fn error(
        scope: &str,
        check: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::ok(scope, check, message).needing(Level::Error, fix)
    }

    fn needing(self, level: Level, fix: impl Into<String>) -> Check {
        Check {
            level,
            fix: Some(fix.into()),
            ..self
        }
    }
}

/// Every check, in the order they read best: the configuration, each environment as
/// configured, then git, the ledger and signing.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub ok: bool,
    pub errors: usize,
    pub warnings: usize,
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// The report of `checks`, counted.
    pub fn new(checks: Vec<Check>) -> DoctorReport {
        let count = |level| checks.iter().filter(|c| c.level == level).count();
        let errors = count(Level::Error);
        DoctorReport {
            ok: errors == 0,
            errors,
            warnings: count(Level::Warning),
            checks,
        }
    }

    /// "all checks passed", "1 warning(s), no error", "4 error(s), 1 warning(s)".
    pub fn summary(&self) -> String {
        match (self.errors, self.warnings) {
            (0, 0) => "all checks passed".to_string(),
            (0, w) => format!("{w} warning(s), no error"),
            (e, w) => format!("{e} error(s), {w} warning(s)"),
        }
    }
}

impl Engine {
    /// Runs every check; the environments' registries are asked at the same time.
    pub async fn doctor(&self) -> DoctorReport {
        let config = self.config();
        let mut checks = vec![Check::ok(
            "config",
            "file",
            format!(
                "{}: {} environment(s), {} service(s)",
                config.source.display(),
                config.environments.len(),
                config.services.len()
            ),
        )];
        if config.services.is_empty() {
            checks.push(Check::warning(
                "config",
                "services",
                "no [[service]] is configured: nothing can be listed or promoted",
                "add a [[service]] with its name (and repository if it differs)",
            ));
        }
        let per_environment = join_all(
            config
                .environments
                .iter()
                .map(|env| registry::environment(self, env)),
        )
        .await;
        let locals = local::environments(config).await;
        for (mut registry_checks, local_checks) in per_environment.into_iter().zip(locals) {
            checks.append(&mut registry_checks);
            checks.extend(local_checks);
        }
        checks.extend(repos::git(self).await);
        checks.extend(local::ledger(self).await);
        checks.extend(local::signing(config));
        DoctorReport::new(checks)
    }
}
