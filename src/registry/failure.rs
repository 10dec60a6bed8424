//! What went wrong with a registry as a whole, in plain words: the one line a listing
//! shows per unreachable host instead of one long error per service and environment.

use super::RegistryError;

/// The kind of failure that makes a whole registry unusable (as opposed to one missing
/// manifest or one bad blob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Nothing listens on the port: the registry is down or the address is wrong.
    Refused,
    /// The name does not resolve.
    Dns,
    /// No answer in time.
    Timeout,
    /// Any other failure to connect.
    Connect,
    /// The connection broke mid-answer.
    Interrupted,
    /// The certificate is signed by a CA gantry does not trust.
    UnknownCa,
    /// Another TLS problem: an expired certificate, one for another name, a plain-HTTP answer.
    Tls,
    /// The registry refused the credentials, or wants some and none are configured.
    CredentialsRefused,
    /// gantry could not read the configured credentials or CA file.
    Configuration,
    /// The registry answered 5xx (after the retries).
    Server,
}

/// One registry's failure: which host, what kind, the plain words, and the full chain
/// for `--verbose` and the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostFailure {
    pub host: String,
    pub kind: FailureKind,
    /// "connection refused", "TLS: unknown CA", "401: credentials refused"...
    pub summary: String,
    pub detail: String,
}

/// The message gantry gives when a registry asks for credentials and none are configured;
/// matched by the classification, so it is written once.
pub(crate) const NO_CREDENTIALS: &str = "the registry requires credentials and none are configured: set username and password_env (or password_file) for this environment, or log in with `docker login`";

impl RegistryError {
    /// The whole-registry failure this error is, if it is one: unreachable, TLS,
    /// credentials or a server error. A missing manifest or a digest mismatch is not.
    pub fn host_failure(&self) -> Option<HostFailure> {
        let (host, kind, summary) = match self {
            RegistryError::Refused { registry, .. } => (
                registry,
                FailureKind::Refused,
                "connection refused".to_string(),
            ),
            RegistryError::Unreachable { registry, reason } => {
                let lowered = reason.to_lowercase();
                if lowered.contains("dns error") || lowered.contains("failed to lookup address") {
                    (
                        registry,
                        FailureKind::Dns,
                        "host name not found (DNS)".into(),
                    )
                } else if lowered.contains("timed out") || lowered.contains("timeout") {
                    (
                        registry,
                        FailureKind::Timeout,
                        "no answer (timed out)".into(),
                    )
                } else {
                    (registry, FailureKind::Connect, "cannot connect".into())
                }
            }
            RegistryError::Interrupted { registry, .. } => (
                registry,
                FailureKind::Interrupted,
                "connection lost mid-answer".into(),
            ),
            RegistryError::UntrustedCertificate {
                registry, reason, ..
            } => {
                if reason.contains("UnknownIssuer") {
                    (
                        registry,
                        FailureKind::UnknownCa,
                        "TLS: unknown CA (set ca_file)".into(),
                    )
                } else {
                    (
                        registry,
                        FailureKind::Tls,
                        format!("TLS: certificate not accepted ({reason})"),
                    )
                }
            }
            RegistryError::NotTls { registry, .. } => (
                registry,
                FailureKind::Tls,
                "TLS: the registry answers plain HTTP (plain_http = true?)".into(),
            ),
            RegistryError::Unauthorized {
                registry, reason, ..
            } => {
                let summary = if reason.starts_with(NO_CREDENTIALS) {
                    "401: credentials needed, none configured"
                } else {
                    "401: credentials refused"
                };
                (registry, FailureKind::CredentialsRefused, summary.into())
            }
            RegistryError::Credentials { registry, source } => (
                registry,
                FailureKind::Configuration,
                format!("credentials unreadable: {source}"),
            ),
            RegistryError::CaFile { registry, .. } => (
                registry,
                FailureKind::Configuration,
                "ca_file unusable".into(),
            ),
            RegistryError::Status {
                registry, status, ..
            } if *status >= 500 => (
                registry,
                FailureKind::Server,
                format!("HTTP {status} from the registry"),
            ),
            RegistryError::Exhausted { attempts, last } => {
                let mut failure = last.host_failure()?;
                failure.summary = format!("{} ({attempts} attempts)", failure.summary);
                failure.detail = self.to_string();
                return Some(failure);
            }
            _ => return None,
        };
        Some(HostFailure {
            host: host.clone(),
            kind,
            summary,
            detail: self.to_string(),
        })
    }
}

impl super::RegistryClient {
    /// The last whole-registry failure a request to this client ended with.
    pub fn last_failure(&self) -> Option<HostFailure> {
        self.last_failure.lock().ok().and_then(|last| last.clone())
    }

    pub(super) fn remember(&self, e: &RegistryError) {
        if let Some(failure) = e.host_failure() {
            if let Ok(mut last) = self.last_failure.lock() {
                *last = Some(failure);
            }
        }
    }
}

/// A refused TCP connection, found in an error's chain: an answer, not a hiccup, so it is
/// not retried.
pub(crate) fn is_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        source = inner.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable(reason: &str) -> RegistryError {
        RegistryError::Unreachable {
            registry: "r.example:5000".into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn connection_failures_read_in_plain_words() {
        let refused = RegistryError::Refused {
            registry: "127.0.0.1:1".into(),
            reason: "tcp connect error: Connection refused (os error 111)".into(),
        };
        let failure = refused.host_failure().expect("a host failure");
        assert_eq!(failure.host, "127.0.0.1:1");
        assert_eq!(failure.summary, "connection refused");
        assert!(failure.detail.contains("os error 111"));
        assert_eq!(
            unreachable("dns error: failed to lookup address information")
                .host_failure()
                .map(|f| f.kind),
            Some(FailureKind::Dns)
        );
        assert_eq!(
            unreachable("operation timed out")
                .host_failure()
                .map(|f| f.kind),
            Some(FailureKind::Timeout)
        );
        assert!(!refused.is_transient());
        assert!(unreachable("operation timed out").is_transient());
    }

    #[test]
    fn tls_credentials_and_server_errors_are_host_failures() {
        let ca = RegistryError::UntrustedCertificate {
            registry: "r:1".into(),
            reason: "UnknownIssuer".into(),
            hint: "",
        };
        assert!(ca
            .host_failure()
            .expect("tls")
            .summary
            .starts_with("TLS: unknown CA"));
        let refused = RegistryError::Unauthorized {
            registry: "r:1".into(),
            repository: "svc".into(),
            reason: "credentials refused".into(),
        };
        assert_eq!(
            refused.host_failure().expect("401").summary,
            "401: credentials refused"
        );
        let none = RegistryError::Unauthorized {
            registry: "r:1".into(),
            repository: "svc".into(),
            reason: NO_CREDENTIALS.into(),
        };
        assert_eq!(
            none.host_failure().expect("401").summary,
            "401: credentials needed, none configured"
        );
        let server = RegistryError::Exhausted {
            attempts: 3,
            last: Box::new(RegistryError::Status {
                registry: "r:1".into(),
                what: "tag list".into(),
                status: 503,
                message: String::new(),
                retry_after: None,
            }),
        };
        assert_eq!(
            server.host_failure().expect("5xx").summary,
            "HTTP 503 from the registry (3 attempts)"
        );
    }

    #[test]
    fn a_missing_manifest_is_not_a_registry_failure() {
        let missing = RegistryError::NotFound {
            registry: "r:1".into(),
            repository: "svc".into(),
            what: "manifest".into(),
        };
        assert_eq!(missing.host_failure(), None);
        let forbidden = RegistryError::Status {
            registry: "r:1".into(),
            what: "x".into(),
            status: 404,
            message: String::new(),
            retry_after: None,
        };
        assert_eq!(forbidden.host_failure(), None);
    }
}
