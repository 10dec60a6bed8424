//! Errors of the listing commands grouped per registry host: one line per registry that
//! failed as a whole (which host, what failed in plain words, what it affects), each
//! error in full with `--verbose` and always in the log.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::failures::group_by_host;
pub use crate::engine::failures::Problem;
use crate::engine::Engine;
use crate::registry::failure::HostFailure;

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// `--verbose`: every error in full under its registry's line.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Prints `problems` on stderr, grouped by the registry whose failure caused them.
pub fn report(engine: &Engine, problems: &[Problem]) {
    for problem in problems {
        tracing::warn!(
            "{} in {}: {}",
            problem.service,
            problem.environment,
            problem.message
        );
    }
    for line in group(problems, |env| engine.host_failure(env), verbose()) {
        if line.starts_with(' ') {
            eprintln!("{line}");
        } else {
            eprintln!("gantry: {line}");
        }
    }
}

/// The lines for `problems`: one per failed registry host (in the order first met), the
/// errors in full below it when `verbose`, then the problems no registry failure explains,
/// one each.
pub fn group(
    problems: &[Problem],
    failure_of: impl Fn(&str) -> Option<HostFailure>,
    verbose: bool,
) -> Vec<String> {
    let (hosts, alone) = group_by_host(problems, failure_of);
    let mut lines = Vec::new();
    for group in &hosts {
        lines.push(group.line());
        if verbose {
            for problem in &group.problems {
                lines.push(format!(
                    "  {} in {}: {}",
                    problem.service, problem.environment, problem.message
                ));
            }
        }
    }
    if !hosts.is_empty() && !verbose {
        lines.push("--verbose shows each error in full (the log has them too)".into());
    }
    for problem in alone {
        lines.push(format!(
            "{} in {}: {}",
            problem.service, problem.environment, problem.message
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::failure::FailureKind;

    fn failure(host: &str, summary: &str) -> HostFailure {
        HostFailure {
            host: host.into(),
            kind: FailureKind::Refused,
            summary: summary.into(),
            detail: format!("{host}: cannot connect (a long chain)"),
        }
    }

    fn problems() -> Vec<Problem> {
        let mut all = Vec::new();
        for service in ["a-svc", "b-svc", "c-svc"] {
            for env in ["dev", "qa", "prod"] {
                all.push(Problem::new(service, env, format!("{env}: the long chain")));
            }
        }
        all.push(Problem::new("a-svc", "stage", "manifest is broken"));
        all
    }

    fn failures(env: &str) -> Option<HostFailure> {
        match env {
            // The shared layout: two environments on one host make one line.
            "dev" | "qa" => Some(failure("dev.registry:5000", "connection refused")),
            "prod" => Some(failure("prod.registry", "401: credentials refused")),
            _ => None,
        }
    }

    #[test]
    fn one_line_per_registry_with_what_it_affects() {
        let lines = group(&problems(), failures, false);
        assert_eq!(
            lines,
            [
                "dev.registry:5000: connection refused; 3 services in dev, qa not read",
                "prod.registry: 401: credentials refused; 3 services in prod not read",
                "--verbose shows each error in full (the log has them too)",
                "a-svc in stage: manifest is broken",
            ]
        );
    }

    #[test]
    fn verbose_adds_every_error_under_its_registry() {
        let lines = group(&problems(), failures, true);
        assert_eq!(lines.len(), 2 + 9 + 1);
        assert_eq!(lines[1], "  a-svc in dev: dev: the long chain");
        assert!(lines[7].starts_with("prod.registry: 401"), "{lines:?}");
        assert!(!lines.iter().any(|l| l.starts_with("--verbose")));
    }

    #[test]
    fn one_service_is_named() {
        let lines = group(&[Problem::new("pay", "prod", "x")], failures, false);
        assert_eq!(
            lines[0],
            "prod.registry: 401: credentials refused; pay in prod not read"
        );
    }
}
