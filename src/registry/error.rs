//! What can go wrong talking to a registry, and how a failed request or a TLS error
//! deep in reqwest becomes one of those errors that people can act on.

use std::time::Duration;

use futures_util::StreamExt;

use super::{credentials, manifest, Credentials, RegistryClient};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{registry}: cannot connect ({reason})")]
    Unreachable { registry: String, reason: String },
    /// Nothing listens there: an answer, not a hiccup, so it is never retried.
    #[error("{registry}: cannot connect ({reason})")]
    Refused { registry: String, reason: String },
    #[error("{registry}: not authorized for {repository} ({reason})")]
    Unauthorized {
        registry: String,
        repository: String,
        reason: String,
    },
    #[error("{registry}/{repository}: {what} not found")]
    NotFound {
        registry: String,
        repository: String,
        what: String,
    },
    #[error("{registry}: {what} answered HTTP {status}{}", fmt_message(.message))]
    Status {
        registry: String,
        what: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{registry}/{repository}: {what} does not match its digest (expected {expected}, got {actual})")]
    DigestMismatch {
        registry: String,
        repository: String,
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{registry}: invalid answer for {what}: {reason}")]
    Invalid {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("{registry}: connection lost during {what} ({reason})")]
    Interrupted {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("{last} (gave up after {attempts} attempts)")]
    Exhausted {
        attempts: u32,
        last: Box<RegistryError>,
    },
    /// The configured credentials could not be read: a configuration problem, not a
    /// registry one.
    #[error("{registry}: {source}")]
    Credentials {
        registry: String,
        #[source]
        source: credentials::CredentialError,
    },
    #[error("{registry}: TLS certificate not trusted ({reason}){hint}")]
    UntrustedCertificate {
        registry: String,
        reason: String,
        hint: &'static str,
    },
    #[error("{registry}: the registry does not answer with TLS ({reason}); set plain_http = true if it is meant to be plain HTTP")]
    NotTls { registry: String, reason: String },
    #[error("{registry}: ca_file {}: {reason}", .path.display())]
    CaFile {
        registry: String,
        path: std::path::PathBuf,
        reason: String,
    },
}

pub(super) fn fmt_message(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl RegistryError {
    /// Worth another attempt: the registry or the network may do better next time.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } | RegistryError::Interrupted { .. } => true,
            RegistryError::Status { status, .. } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
            }
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A problem with gantry's own settings (credentials, CA file): exit 2, like bad input.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            RegistryError::Credentials { .. } | RegistryError::CaFile { .. }
        )
    }

    /// The CLI's exit code: 2 for what only a change of input or settings fixes (nothing
    /// there, bad credentials or CA file), 1 for the registry or the network.
    pub fn exit_code(&self) -> i32 {
        if self.is_not_found() || self.is_configuration() {
            2
        } else {
            1
        }
    }

    /// The registry said a manifest, blob or repository does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
            || matches!(self, RegistryError::Exhausted { last, .. } if last.is_not_found())
    }
}

impl RegistryClient {
    pub(super) fn transport_error(&self, what: &str, e: &reqwest::Error) -> RegistryError {
        let reason = error_chain(e);
        if let Some(tls) = self.tls_error(&reason) {
            return tls;
        }
        if e.is_connect() && super::failure::is_refused(e) {
            RegistryError::Refused {
                registry: self.host.clone(),
                reason,
            }
        } else if e.is_connect() {
            RegistryError::Unreachable {
                registry: self.host.clone(),
                reason,
            }
        } else {
            RegistryError::Interrupted {
                registry: self.host.clone(),
                what: what.to_string(),
                reason,
            }
        }
    }

    pub(super) async fn status_error(
        &self,
        what: &str,
        response: reqwest::Response,
    ) -> RegistryError {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let message = error_message(response).await;
        RegistryError::Status {
            registry: self.host.clone(),
            what: what.to_string(),
            status,
            message,
            retry_after,
        }
    }

    pub(super) fn not_found(&self, repository: &str, what: String) -> RegistryError {
        RegistryError::NotFound {
            registry: self.host.clone(),
            repository: repository.to_string(),
            what,
        }
    }

    /// rustls says "invalid peer certificate: UnknownIssuer" deep in reqwest's error chain;
    /// people need to read "not trusted" and what to do about it.
    fn tls_error(&self, chain: &str) -> Option<RegistryError> {
        if let Some(at) = chain.find("invalid peer certificate") {
            let reason = chain[at + "invalid peer certificate".len()..]
                .trim_start_matches([':', ' '])
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            // An unknown issuer is what a private CA looks like; an expired certificate or
            // one for another name is not fixed by trusting more roots.
            let hint = if reason.contains("UnknownIssuer") {
                "; set ca_file for this environment if it uses a private CA"
            } else {
                ""
            };
            return Some(RegistryError::UntrustedCertificate {
                registry: self.host.clone(),
                reason: if reason.is_empty() {
                    "invalid peer certificate".into()
                } else {
                    reason
                },
                hint,
            });
        }
        if !self.plain_http
            && (chain.contains("InvalidContentType") || chain.contains("corrupt message"))
        {
            return Some(RegistryError::NotTls {
                registry: self.host.clone(),
                reason: "the TLS handshake got a non-TLS answer".into(),
            });
        }
        None
    }
}

/// The first error message of a registry's error body, or a short excerpt of the body.
pub(super) async fn error_message(response: reqwest::Response) -> String {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() > 64 * 1024 {
            break;
        }
    }
    if let Ok(errors) = serde_json::from_slice::<manifest::ErrorBody>(&body) {
        if let Some(first) = errors.errors.first() {
            return format!("{} {}", first.code, first.message)
                .trim()
                .to_string();
        }
    }
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    text.trim().to_string()
}

pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = inner.source();
    }
    parts.join(": ")
}

/// Removes a secret from text that may quote it back (token-service errors do).
pub(super) fn redact(text: &str, credentials: &Credentials) -> String {
    match credentials.secret() {
        Some(secret) => text.replace(secret, "<redacted>"),
        None => text.to_string(),
    }
}
