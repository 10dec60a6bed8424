//! Talking to one OCI registry: manifests, blobs, tags, uploads, with auth and retries.
//!
//! Token negotiation goes through oci-client (`Client::auth`); the requests
//! themselves are made here with the same reqwest stack because oci-client
//! hides what a faithful copier needs: the manifest Content-Type, Retry-After,
//! a 202 answer to a mount, the tag list's Link header, and DELETE.
//!
//! This file holds the client and its plain types; its children hold its requests:
//! `auth` and `token` (credentials, 401 challenges, the token service), `send` (one
//! request with retries), `read`, `tags` and `write` (the distribution API), `error`.

pub mod credentials;
pub mod failure;
pub mod manifest;
pub mod referrers;
pub mod tag_cache;

mod auth;
mod error;
mod read;
mod send;
mod tags;
mod tls;
mod token;
mod write;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderValue;
use tokio::sync::RwLock;

use crate::domain::Digest;

pub use error::RegistryError;
pub use send::RetryPolicy;
pub use tags::parse_next_link;

use error::error_chain;
use token::BearerChallenge;

/// Manifests larger than this are refused: Distribution itself caps them at 4 MiB,
/// and a registry that sends more is broken or hostile.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Config blobs are read whole for `images`; refuse absurd ones.
pub const MAX_CONFIG_BYTES: usize = 8 * 1024 * 1024;
/// A tag list that keeps paging past this is treated as hostile.
pub const MAX_TAGS: usize = 100_000;

/// Who we are to a registry.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// A Docker `identitytoken`: an OAuth2 refresh token exchanged at the token service.
    IdentityToken {
        token: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::IdentityToken { .. } => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credentials {
    /// The secret, to scrub from any text a server or library might echo back.
    fn secret(&self) -> Option<&str> {
        match self {
            Credentials::Anonymous => None,
            Credentials::Basic { password, .. } => Some(password.as_str()),
            Credentials::IdentityToken { token } => Some(token.as_str()),
        }
        .filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Pull,
    Push,
    /// Deleting manifests: token services grant it as its own `delete` action.
    Delete,
}

/// A manifest as the registry stores it: the exact bytes, their digest, their type.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Bytes,
}

/// What HEAD tells about a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    pub digest: Digest,
    pub media_type: String,
}

/// The registry's answer to starting an upload.
#[derive(Debug)]
pub enum UploadStart {
    /// A cross-repository mount succeeded: the blob is there.
    Mounted,
    /// An upload session to PUT the blob into.
    Session(String),
}

/// One registry host with one set of credentials.
pub struct RegistryClient {
    host: String,
    base: String,
    plain_http: bool,
    http: reqwest::Client,
    oci: tokio::sync::OnceCell<oci_client::Client>,
    /// Where credentials come from; resolved on the first challenge only.
    source: credentials::CredentialSource,
    credentials: tokio::sync::OnceCell<Result<Credentials, credentials::CredentialError>>,
    /// PEM certificates trusted for this registry on top of the system's.
    extra_roots: Vec<String>,
    retry: RetryPolicy,
    /// Authorization header per (repository, access), learnt from 401 challenges.
    auth_headers: RwLock<HashMap<(String, Access), HeaderValue>>,
    /// The registry's Bearer challenge, for tokens oci-client cannot fetch.
    challenge: tokio::sync::OnceCell<Option<BearerChallenge>>,
    /// (target, source) repositories whose push token also allows pulling the source.
    mounts: RwLock<std::collections::HashSet<(String, String)>>,
    /// The last whole-registry failure a request ended with, for listings to group by host.
    last_failure: std::sync::Mutex<Option<failure::HostFailure>>,
    /// Bounds the requests waiting for an answer from this host, shared by every client
    /// of the host (see `with_limit`).
    limit: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// Whether the registry answers the referrers API, once it said so. A cell, not a
    /// lock: the images of a train ask at once, and share the one probe in flight.
    referrers_api: tokio::sync::OnceCell<bool>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base", &self.base)
            .field("credentials", &self.source)
            .finish()
    }
}

impl RegistryClient {
    /// An HTTP client suitable for every registry. It reads the system's trust roots at
    /// its first TLS handshake (see `tls`), never before: plain-HTTP work loads none.
    /// `read_timeout` bounds how long a registry may stay silent mid-answer before
    /// the request counts as dropped (and is retried).
    pub fn http_client(read_timeout: Duration) -> Result<reqwest::Client, RegistryError> {
        Self::http_with_roots(read_timeout, Vec::new()).map_err(|reason| {
            RegistryError::Unreachable {
                registry: "-".into(),
                reason: format!("cannot build an HTTP client: {reason}"),
            }
        })
    }

    fn http_with_roots(
        read_timeout: Duration,
        extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    ) -> Result<reqwest::Client, String> {
        let tls = tls::client_config(extra_roots).map_err(|e| e.to_string())?;
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(read_timeout)
            .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(16)
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| error_chain(&e))
    }

    /// An HTTP client that also trusts the certificates of `ca_file` (PEM), for one
    /// environment's registry; returns it with the certificates, which the token client
    /// needs too. The system roots stay trusted.
    pub fn http_client_trusting(
        read_timeout: Duration,
        registry: &str,
        ca_file: &std::path::Path,
    ) -> Result<(reqwest::Client, Vec<String>), RegistryError> {
        let error = |reason: String| RegistryError::CaFile {
            registry: registry.to_string(),
            path: ca_file.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(ca_file).map_err(|e| error(e.to_string()))?;
        let blocks = pem_certificates(&text);
        if blocks.is_empty() {
            return Err(error(
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let mut certificates = Vec::with_capacity(blocks.len());
        for block in &blocks {
            certificates.push(
                tls::pem_to_der(block)
                    .ok_or_else(|| error("not a valid certificate: not base64 PEM".into()))?,
            );
        }
        let http = Self::http_with_roots(read_timeout, certificates)
            .map_err(|reason| error(format!("not usable as a root certificate: {reason}")))?;
        Ok((http, blocks))
    }

    /// A client for `host` over `http`, which may be shared with other registries.
    pub fn new(
        http: reqwest::Client,
        host: &str,
        plain_http: bool,
        credentials: Credentials,
        retry: RetryPolicy,
    ) -> Self {
        let scheme = if plain_http { "http" } else { "https" };
        RegistryClient {
            host: host.to_string(),
            base: format!("{scheme}://{host}"),
            plain_http,
            http,
            oci: tokio::sync::OnceCell::new(),
            source: credentials::CredentialSource::Fixed(credentials),
            credentials: tokio::sync::OnceCell::new(),
            extra_roots: Vec::new(),
            retry,
            auth_headers: RwLock::new(HashMap::new()),
            challenge: tokio::sync::OnceCell::new(),
            mounts: RwLock::new(std::collections::HashSet::new()),
            last_failure: std::sync::Mutex::new(None),
            limit: None,
            referrers_api: tokio::sync::OnceCell::new(),
        }
    }

    /// At most as many requests waiting for an answer as `limit` has permits (shared
    /// with the other clients of the same host). A permit is held until the answer's
    /// headers arrive, so a body streamed afterwards never blocks another request.
    pub fn with_limit(mut self, limit: std::sync::Arc<tokio::sync::Semaphore>) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Finds credentials through `source` when the registry first asks for them.
    pub fn with_credential_source(mut self, source: credentials::CredentialSource) -> Self {
        self.source = source;
        self
    }

    /// Trusts these PEM certificates in the token client too (the token service often
    /// lives on the same host, behind the same private CA). The HTTP client passed to
    /// `new` must already trust them: see `http_client_trusting`.
    pub fn with_extra_roots(mut self, pem_certificates: Vec<String>) -> Self {
        self.extra_roots = pem_certificates;
        self
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// The PEM blocks of certificates in `text`, each with its BEGIN and END lines.
fn pem_certificates(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let stop = start + len + END.len();
        blocks.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    blocks
}
