//! Which registry failed as a whole during a command, by environment, and the problems of
//! a listing grouped by it: what the CLI prints and the console shows as one line per
//! registry instead of one error per service and environment.

use super::{Engine, EngineError};
use crate::registry::failure::HostFailure;

impl Engine {
    /// The whole-registry failure (unreachable, TLS, credentials, 5xx) the last request to
    /// `env`'s registry ended with, or that building its client met (an unreadable
    /// ca_file). `None` when it answered, or failed only for one image.
    pub fn host_failure(&self, env: &str) -> Option<HostFailure> {
        match self.client(env) {
            Ok(client) => client.last_failure(),
            Err(e) => e.host_failure(),
        }
    }
}

impl EngineError {
    /// The whole-registry failure this error is, if it is one.
    pub fn host_failure(&self) -> Option<HostFailure> {
        match self {
            EngineError::Registry(e) => e.host_failure(),
            _ => None,
        }
    }
}

/// One service x environment a listing could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub service: String,
    pub environment: String,
    pub message: String,
}

impl Problem {
    pub fn new(service: &str, environment: &str, message: impl Into<String>) -> Problem {
        Problem {
            service: service.to_string(),
            environment: environment.to_string(),
            message: message.into(),
        }
    }
}

/// The problems one registry's failure explains.
#[derive(Debug, Clone)]
pub struct HostGroup<'a> {
    pub failure: HostFailure,
    pub problems: Vec<&'a Problem>,
}

impl HostGroup<'_> {
    /// `dev.registry:5000: connection refused; 3 services in dev, qa not read`.
    pub fn line(&self) -> String {
        format!(
            "{}: {}; {} not read",
            self.failure.host,
            self.failure.summary,
            self.affected()
        )
    }

    /// "3 services in dev, qa" / "payment-svc in dev": environments in the order met.
    pub fn affected(&self) -> String {
        let mut services: Vec<&str> = self.problems.iter().map(|p| p.service.as_str()).collect();
        services.sort_unstable();
        services.dedup();
        let mut environments: Vec<&str> = Vec::new();
        for problem in &self.problems {
            if !environments.contains(&problem.environment.as_str()) {
                environments.push(&problem.environment);
            }
        }
        let services = match services.as_slice() {
            [one] => (*one).to_string(),
            many => format!("{} services", many.len()),
        };
        format!("{services} in {}", environments.join(", "))
    }
}

/// `problems` grouped by the registry whose failure caused them, hosts in the order first
/// met (two environments on one host make one group); then the problems no registry
/// failure explains. `failure_of` is asked once per environment.
pub fn group_by_host<'a>(
    problems: &'a [Problem],
    failure_of: impl Fn(&str) -> Option<HostFailure>,
) -> (Vec<HostGroup<'a>>, Vec<&'a Problem>) {
    let mut hosts: Vec<HostGroup<'a>> = Vec::new();
    let mut alone = Vec::new();
    let mut failures: std::collections::BTreeMap<&str, Option<HostFailure>> = Default::default();
    for problem in problems {
        let failure = failures
            .entry(problem.environment.as_str())
            .or_insert_with(|| failure_of(&problem.environment))
            .clone();
        match failure {
            Some(failure) => match hosts.iter_mut().find(|g| g.failure.host == failure.host) {
                Some(group) => group.problems.push(problem),
                None => hosts.push(HostGroup {
                    failure,
                    problems: vec![problem],
                }),
            },
            None => alone.push(problem),
        }
    }
    (hosts, alone)
}
