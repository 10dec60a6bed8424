//! Talking to one OCI registry: manifests, blobs, tags, uploads, with auth and retries.
//!
//! Token negotiation goes through oci-client (`Client::auth`); the requests
//! themselves are made here with the same reqwest stack because oci-client
//! hides what a faithful copier needs: the manifest Content-Type, Retry-After,
//! a 202 answer to a mount, the tag list's Link header, and DELETE.

pub mod credentials;
pub mod failure;
pub mod manifest;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE,
};
use reqwest::StatusCode;
use tokio::sync::RwLock;

use crate::domain::{media, Digest};

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

/// How often and how patiently to retry transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    /// Retry-After values above this are clamped, so a registry cannot park us for hours.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_backoff: Duration::from_millis(200),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .first_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(10));
        retry_after.unwrap_or(exponential).min(self.max_wait)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Pull,
    Push,
    /// Deleting manifests: token services grant it as its own `delete` action.
    Delete,
}

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

fn fmt_message(message: &str) -> String {
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

    /// The registry said a manifest, blob or repository does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
            || matches!(self, RegistryError::Exhausted { last, .. } if last.is_not_found())
    }
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
    /// An HTTP client suitable for every registry; share one so TLS roots are loaded once.
    /// `read_timeout` bounds how long a registry may stay silent mid-answer before
    /// the request counts as dropped (and is retried).
    pub fn http_client(read_timeout: Duration) -> Result<reqwest::Client, RegistryError> {
        Self::http_builder(read_timeout)
            .build()
            .map_err(|e| RegistryError::Unreachable {
                registry: "-".into(),
                reason: format!("cannot build an HTTP client: {e}"),
            })
    }

    fn http_builder(read_timeout: Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(read_timeout)
            .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(16)
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
                reqwest::Certificate::from_pem(block.as_bytes())
                    .map_err(|e| error(format!("not a valid certificate: {e}")))?,
            );
        }
        let http = Self::http_builder(read_timeout)
            .tls_certs_merge(certificates)
            .build()
            .map_err(|e| {
                error(format!(
                    "not usable as a root certificate: {}",
                    error_chain(&e)
                ))
            })?;
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
        }
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

    /// The credentials for this registry, looked up once.
    async fn credentials(&self) -> Result<&Credentials, RegistryError> {
        let resolved = self
            .credentials
            .get_or_init(|| self.source.resolve(&self.host))
            .await;
        resolved
            .as_ref()
            .map_err(|source| RegistryError::Credentials {
                registry: self.host.clone(),
                source: source.clone(),
            })
    }

    /// oci-client is only needed to answer a challenge; built on first use since it
    /// loads its own TLS roots.
    fn oci(&self) -> Result<&oci_client::Client, RegistryError> {
        if let Some(client) = self.oci.get() {
            return Ok(client);
        }
        let protocol = if self.plain_http {
            oci_client::client::ClientProtocol::Http
        } else {
            oci_client::client::ClientProtocol::Https
        };
        let extra_root_certificates = self
            .extra_roots
            .iter()
            .map(|pem| oci_client::client::Certificate {
                encoding: oci_client::client::CertificateEncoding::Pem,
                data: pem.as_bytes().to_vec(),
            })
            .collect();
        // try_from, not new: `new` quietly falls back to a default client, which would
        // drop the extra roots and fail later with a confusing certificate error.
        let client = oci_client::Client::try_from(oci_client::client::ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            extra_root_certificates,
            ..Default::default()
        })
        .map_err(|e| RegistryError::Unreachable {
            registry: self.host.clone(),
            reason: format!("cannot build the token client: {e}"),
        })?;
        // A racing task may have set it first; either client is as good.
        let _ = self.oci.set(client);
        self.oci.get().ok_or_else(|| RegistryError::Unreachable {
            registry: self.host.clone(),
            reason: "cannot build the token client".into(),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn cached_auth(&self, repository: &str, access: Access) -> Option<HeaderValue> {
        let headers = self.auth_headers.read().await;
        headers
            .get(&(repository.to_string(), access))
            .or_else(|| {
                // A push token also allows pulls.
                (access == Access::Pull)
                    .then(|| headers.get(&(repository.to_string(), Access::Push)))
                    .flatten()
            })
            .cloned()
    }

    /// Answers a 401: asks oci-client to run the challenge (token service or Basic), or
    /// trades an identity token at the token service.
    async fn authorize(
        &self,
        repository: &str,
        access: Access,
    ) -> Result<HeaderValue, RegistryError> {
        let credentials = self.credentials().await?;
        let unauthorized = |reason: String| RegistryError::Unauthorized {
            registry: self.host.clone(),
            repository: repository.to_string(),
            reason,
        };
        let value = match credentials {
            Credentials::IdentityToken { token } => format!(
                "Bearer {}",
                self.exchange_identity_token(repository, access, token)
                    .await?
            ),
            Credentials::Anonymous | Credentials::Basic { .. } => {
                let reference = Reference::with_tag(
                    self.host.clone(),
                    repository.to_string(),
                    "latest".to_string(),
                );
                let auth = match credentials {
                    Credentials::Basic { username, password } => {
                        RegistryAuth::Basic(username.clone(), password.clone())
                    }
                    _ => RegistryAuth::Anonymous,
                };
                let operation = match access {
                    Access::Pull => RegistryOperation::Pull,
                    Access::Push | Access::Delete => RegistryOperation::Push,
                };
                let token = if access == Access::Delete {
                    // oci-client only asks for pull or push: `delete` is asked of the token
                    // service directly. A Basic registry needs no scope at all.
                    match self.challenge().await? {
                        Some(challenge) => Some(
                            self.fetch_token(
                                challenge,
                                repository,
                                &[scope(repository, access)],
                                credentials,
                            )
                            .await?,
                        ),
                        None => None,
                    }
                } else {
                    self.oci()?
                        .auth(&reference, &auth, operation)
                        .await
                        .map_err(|e| self.token_error(repository, credentials, &e))?
                };
                match (token, credentials) {
                    (Some(token), _) => format!("Bearer {token}"),
                    (None, Credentials::Basic { username, password }) => format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{username}:{password}"))
                    ),
                    _ => return Err(unauthorized(failure::NO_CREDENTIALS.into())),
                }
            }
        };
        let mut header = HeaderValue::from_str(&value)
            .map_err(|_| unauthorized("credentials contain characters HTTP cannot carry".into()))?;
        header.set_sensitive(true);
        self.auth_headers
            .write()
            .await
            .insert((repository.to_string(), access), header.clone());
        Ok(header)
    }

    /// An oci-client failure during the challenge: transport problems keep their meaning
    /// (unreachable, untrusted certificate); the rest is a refusal, with any echo of the
    /// secret removed.
    fn token_error(
        &self,
        repository: &str,
        credentials: &Credentials,
        e: &oci_client::errors::OciDistributionError,
    ) -> RegistryError {
        use oci_client::errors::OciDistributionError;
        let text = match e {
            OciDistributionError::RequestError(inner) => {
                return self.transport_error("the authentication challenge", inner)
            }
            // The token service's body: its error message if it sent one in the usual shape.
            OciDistributionError::AuthenticationFailure(body) => {
                let message = serde_json::from_str::<manifest::ErrorBody>(body)
                    .ok()
                    .and_then(|b| b.errors.into_iter().next())
                    .map(|first| first.message)
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| body.clone());
                format!("the token service refused the credentials: {message}")
            }
            other => other.to_string(),
        };
        let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
        RegistryError::Unauthorized {
            registry: self.host.clone(),
            repository: repository.to_string(),
            reason: redact(text.trim(), credentials),
        }
    }

    /// Trades a Docker identity token (an OAuth2 refresh token, as `docker login` stores
    /// for some registries) for an access token at the registry's token service.
    async fn exchange_identity_token(
        &self,
        repository: &str,
        access: Access,
        token: &str,
    ) -> Result<String, RegistryError> {
        let challenge = self.challenge().await?.ok_or_else(|| {
            RegistryError::Unauthorized {
                registry: self.host.clone(),
                repository: repository.to_string(),
                reason: "the Docker config holds an identity token for this registry, but the registry offers no token service to trade it at; identity tokens are unsupported here: use a username and password".into(),
            }
        })?;
        let credentials = Credentials::IdentityToken {
            token: token.to_string(),
        };
        self.fetch_token(
            challenge,
            repository,
            &[scope(repository, access)],
            &credentials,
        )
        .await
    }

    /// The registry's Bearer challenge (realm and service), asked once; `None` for a
    /// registry that wants Basic auth or none.
    async fn challenge(&self) -> Result<Option<&BearerChallenge>, RegistryError> {
        let challenge = self
            .challenge
            .get_or_try_init(|| async {
                let response = self
                    .http
                    .get(self.url("/v2/"))
                    .send()
                    .await
                    .map_err(|e| self.transport_error("GET /v2/", &e))?;
                Ok::<_, RegistryError>(
                    header_str(response.headers(), "www-authenticate")
                        .and_then(parse_bearer_challenge),
                )
            })
            .await?;
        Ok(challenge.as_ref())
    }

    /// A token for several scopes at once, which oci-client cannot ask for: OAuth2's
    /// refresh-token grant for an identity token, Docker's GET with Basic otherwise.
    async fn fetch_token(
        &self,
        challenge: &BearerChallenge,
        repository: &str,
        scopes: &[String],
        credentials: &Credentials,
    ) -> Result<String, RegistryError> {
        let unauthorized = |reason: String| RegistryError::Unauthorized {
            registry: self.host.clone(),
            repository: repository.to_string(),
            reason,
        };
        let what = "the token service";
        let request = match credentials {
            Credentials::IdentityToken { token } => {
                let joined = scopes.join(" ");
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("client_id", "gantry"),
                    ("refresh_token", token.as_str()),
                    ("scope", joined.as_str()),
                ];
                if let Some(service) = &challenge.service {
                    form.push(("service", service.as_str()));
                }
                let body = form
                    .iter()
                    .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                self.http
                    .post(&challenge.realm)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            Credentials::Basic { .. } | Credentials::Anonymous => {
                let mut query: Vec<(&str, &str)> =
                    scopes.iter().map(|s| ("scope", s.as_str())).collect();
                if let Some(service) = &challenge.service {
                    query.push(("service", service.as_str()));
                }
                let query = query
                    .iter()
                    .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                let separator = if challenge.realm.contains('?') {
                    '&'
                } else {
                    '?'
                };
                let mut request = self
                    .http
                    .get(format!("{}{separator}{query}", challenge.realm));
                if let Credentials::Basic { username, password } = credentials {
                    let mut header = HeaderValue::from_str(&format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{username}:{password}"))
                    ))
                    .map_err(|_| {
                        unauthorized("credentials contain characters HTTP cannot carry".into())
                    })?;
                    header.set_sensitive(true);
                    request = request.header(AUTHORIZATION, header);
                }
                request
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(what, &e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let message = redact(&error_message(response).await, credentials);
            return Err(unauthorized(format!(
                "the token service refused the credentials (HTTP {status}{})",
                fmt_message(&message)
            )));
        }
        let body = self.read_capped(response, 1024 * 1024, what).await?;
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| RegistryError::Invalid {
                registry: self.host.clone(),
                what: what.into(),
                reason: "the token service's answer is not a token".into(),
            })?;
        answer
            .access_token
            .or(answer.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Invalid {
                registry: self.host.clone(),
                what: what.into(),
                reason: "the token service's answer holds no access_token".into(),
            })
    }

    /// Before a cross-repository mount on a token registry: the push token must also
    /// grant pull on the source repository, or the registry answers 401 instead of
    /// mounting. Fetches one token with both scopes for the target. Registries that use
    /// Basic auth, or none, need nothing more.
    async fn authorize_mount(&self, repository: &str, from: &str) -> Result<(), RegistryError> {
        let key = (repository.to_string(), from.to_string());
        if self.auth_headers.read().await.is_empty() || self.mounts.read().await.contains(&key) {
            // Never challenged: an open registry, nothing to widen.
            return Ok(());
        }
        let Some(challenge) = self.challenge().await? else {
            return Ok(());
        };
        let credentials = self.credentials().await?;
        let token = self
            .fetch_token(
                challenge,
                repository,
                &[scope(repository, Access::Push), scope(from, Access::Pull)],
                credentials,
            )
            .await?;
        let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            RegistryError::Invalid {
                registry: self.host.clone(),
                what: "the token service".into(),
                reason: "the token holds characters HTTP cannot carry".into(),
            }
        })?;
        header.set_sensitive(true);
        self.auth_headers
            .write()
            .await
            .insert((repository.to_string(), Access::Push), header);
        self.mounts.write().await.insert(key);
        Ok(())
    }

    /// Sends one request (no retry), answering a 401 once with fresh credentials.
    /// `build` is called again for the second try, so it must be cheap and repeatable.
    async fn send_once(
        &self,
        repository: &str,
        access: Access,
        what: &str,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync),
    ) -> Result<reqwest::Response, RegistryError> {
        let mut auth = self.cached_auth(repository, access).await;
        for round in 0..2 {
            let mut request = build(&self.http);
            if let Some(header) = &auth {
                request = request.header(AUTHORIZATION, header.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.transport_error(what, &e))?;
            if response.status() == StatusCode::UNAUTHORIZED {
                if round == 0 {
                    auth = Some(self.authorize(repository, access).await?);
                    continue;
                }
                let message = error_message(response).await;
                return Err(RegistryError::Unauthorized {
                    registry: self.host.clone(),
                    repository: repository.to_string(),
                    reason: if message.is_empty() {
                        "credentials refused".into()
                    } else {
                        message
                    },
                });
            }
            return Ok(response);
        }
        unreachable!("the loop returns on its second round")
    }

    /// `send_once` with retries on transient failures; the response has a status the
    /// caller must interpret (anything but 408/429/5xx).
    async fn send(
        &self,
        repository: &str,
        access: Access,
        what: &str,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync),
    ) -> Result<reqwest::Response, RegistryError> {
        self.with_retries(|| async {
            let response = self.send_once(repository, access, what, build).await?;
            let status = response.status().as_u16();
            if matches!(status, 408 | 429 | 500 | 502 | 503 | 504) {
                return Err(self.status_error(what, response).await);
            }
            Ok(response)
        })
        .await
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts run out; a
    /// failure of the whole registry is remembered (see `last_failure`).
    pub async fn with_retries<T, F, Fut>(&self, attempt: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        let result = self.retrying(attempt).await;
        if let Err(e) = &result {
            self.remember(e);
        }
        result
    }

    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(err) if err.is_transient() && tries < self.retry.attempts => {
                    let wait = self.retry.backoff(tries, err.retry_after());
                    tracing::warn!(registry = %self.host, "attempt {tries} failed: {err}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                Err(err) if err.is_transient() && tries > 1 => {
                    return Err(RegistryError::Exhausted {
                        attempts: tries,
                        last: Box::new(err),
                    })
                }
                Err(err) => return Err(err),
            }
        }
    }

    fn transport_error(&self, what: &str, e: &reqwest::Error) -> RegistryError {
        let reason = error_chain(e);
        if let Some(tls) = self.tls_error(&reason) {
            return tls;
        }
        if e.is_connect() && failure::is_refused(e) {
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

    async fn status_error(&self, what: &str, response: reqwest::Response) -> RegistryError {
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

    fn not_found(&self, repository: &str, what: String) -> RegistryError {
        RegistryError::NotFound {
            registry: self.host.clone(),
            repository: repository.to_string(),
            what,
        }
    }

    /// Checks the registry answers at all (and that our credentials work, if it wants some).
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let url = self.url("/v2/");
        let response = self
            .with_retries(|| async {
                self.http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| self.transport_error("GET /v2/", &e))
            })
            .await?;
        match response.status().as_u16() {
            200 | 401 => Ok(()),
            _ => Err(self.status_error("/v2/", response).await),
        }
    }

    /// HEAD a manifest by tag or digest; `None` if the registry does not have it.
    pub async fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let what = format!("manifest {repository}:{reference}");
        let response = self
            .send(repository, Access::Pull, &what, &|http| {
                http.head(&url).header(ACCEPT, media::ACCEPT)
            })
            .await?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.status_error(&what, response).await),
        }
        let digest = header_str(response.headers(), "docker-content-digest")
            .and_then(|d| d.parse::<Digest>().ok());
        let media_type = header_str(response.headers(), CONTENT_TYPE.as_str())
            .map(strip_params)
            .filter(|t| media::is_index(t) || media::is_manifest(t));
        match (digest, media_type) {
            (Some(digest), Some(media_type)) => Ok(Some(ManifestHead { digest, media_type })),
            // Registries that omit the headers on HEAD: fall back to reading it.
            _ => match self.get_manifest(repository, reference).await {
                Ok(m) => Ok(Some(ManifestHead {
                    digest: m.digest,
                    media_type: m.media_type,
                })),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// GET a manifest's exact bytes, verifying them against the digest asked for
    /// (or the one the registry announces).
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let what = format!("manifest {repository}:{reference}");
        self.with_retries(|| async {
            let response = self
                .send_once(repository, Access::Pull, &what, &|http| {
                    http.get(&url).header(ACCEPT, media::ACCEPT)
                })
                .await?;
            match response.status().as_u16() {
                200 => {}
                404 => return Err(self.not_found(repository, format!("manifest `{reference}`"))),
                _ => return Err(self.status_error(&what, response).await),
            }
            let announced =
                header_str(response.headers(), "docker-content-digest").map(str::to_string);
            let content_type =
                header_str(response.headers(), CONTENT_TYPE.as_str()).map(strip_params);
            let bytes = self
                .read_capped(response, MAX_MANIFEST_BYTES, &what)
                .await?;
            let digest = Digest::of(&bytes);
            let expected = reference
                .parse::<Digest>()
                .ok()
                .map(|d| d.to_string())
                .or(announced);
            if let Some(expected) = expected {
                if expected != digest.as_str() {
                    return Err(RegistryError::DigestMismatch {
                        registry: self.host.clone(),
                        repository: repository.to_string(),
                        what: format!("manifest `{reference}`"),
                        expected,
                        actual: digest.to_string(),
                    });
                }
            }
            let media_type =
                manifest::media_type_of(content_type.as_deref(), &bytes).map_err(|reason| {
                    RegistryError::Invalid {
                        registry: self.host.clone(),
                        what: what.clone(),
                        reason,
                    }
                })?;
            Ok(RawManifest {
                digest,
                media_type,
                bytes,
            })
        })
        .await
    }

    /// PUT a manifest's exact bytes under `reference` (a tag or its digest).
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let what = format!("manifest {repository}:{reference}");
        let response = self
            .send(repository, Access::Push, &what, &|http| {
                http.put(&url)
                    .header(CONTENT_TYPE, manifest.media_type.as_str())
                    .body(manifest.bytes.clone())
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error(&what, response).await);
        }
        if let Some(stored) = header_str(response.headers(), "docker-content-digest") {
            if stored != manifest.digest.as_str() {
                return Err(RegistryError::DigestMismatch {
                    registry: self.host.clone(),
                    repository: repository.to_string(),
                    what: format!("stored manifest `{reference}`"),
                    expected: manifest.digest.to_string(),
                    actual: stored.to_string(),
                });
            }
        }
        Ok(())
    }

    /// DELETE a manifest by digest (Distribution refuses deletion by tag).
    pub async fn delete_manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let what = format!("manifest {repository}@{digest}");
        let response = self
            .send(repository, Access::Delete, &what, &|http| http.delete(&url))
            .await?;
        match response.status().as_u16() {
            200 | 202 => Ok(()),
            404 => Err(self.not_found(repository, format!("manifest {digest}"))),
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Every tag of a repository; empty if the repository does not exist.
    /// Follows the Link header, then `last=`, and stops when a page brings nothing new,
    /// since some registries (Distribution 2.8 among them) ignore `n` and `last`.
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        const PAGE: usize = 1000;
        let what = format!("tags of {repository}");
        let mut tags: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut next = Some(format!("/v2/{repository}/tags/list?n={PAGE}"));
        while let Some(path) = next.take() {
            let url = self.url(&path);
            let response = self
                .send(repository, Access::Pull, &what, &|http| http.get(&url))
                .await?;
            match response.status().as_u16() {
                200 => {}
                404 => return Ok(Vec::new()),
                _ => return Err(self.status_error(&what, response).await),
            }
            let link = header_str(response.headers(), "link").and_then(parse_next_link);
            let body = self
                .read_capped(response, MAX_MANIFEST_BYTES, &what)
                .await?;
            let page: manifest::TagList =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
                    registry: self.host.clone(),
                    what: what.clone(),
                    reason: format!("tag list is not valid JSON: {e}"),
                })?;
            let page_tags = page.tags.unwrap_or_default();
            let page_len = page_tags.len();
            let mut fresh = 0;
            for tag in page_tags {
                if seen.insert(tag.clone()) {
                    tags.push(tag);
                    fresh += 1;
                }
            }
            if tags.len() > MAX_TAGS {
                return Err(RegistryError::Invalid {
                    registry: self.host.clone(),
                    what,
                    reason: format!("more than {MAX_TAGS} tags"),
                });
            }
            if fresh == 0 {
                break;
            }
            next = match link {
                Some(link) => Some(if link.starts_with('/') {
                    link
                } else {
                    // An absolute URL: keep only the path so we stay on this registry.
                    link.split_once("://")
                        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
                        .unwrap_or_default()
                }),
                None if page_len >= PAGE => tags
                    .last()
                    .map(|last| format!("/v2/{repository}/tags/list?n={PAGE}&last={last}")),
                None => None,
            }
            .filter(|p| !p.is_empty());
        }
        Ok(tags)
    }

    pub async fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let what = format!("blob {repository}@{}", digest.short());
        let response = self
            .send(repository, Access::Pull, &what, &|http| http.head(&url))
            .await?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Starts a blob GET; the caller streams the body. Follows redirects (S3 and the like).
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let what = format!("blob {repository}@{}", digest.short());
        let response = self
            .send(repository, Access::Pull, &what, &|http| http.get(&url))
            .await?;
        match response.status().as_u16() {
            200 => Ok(response),
            404 => Err(self.not_found(repository, format!("blob {digest}"))),
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Reads a small blob (an image config) whole, verified against its digest.
    pub async fn get_blob_bytes(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Bytes, RegistryError> {
        let what = format!("blob {repository}@{}", digest.short());
        self.with_retries(|| async {
            let response = self.get_blob(repository, digest).await?;
            let bytes = self.read_capped(response, MAX_CONFIG_BYTES, &what).await?;
            let actual = Digest::of(&bytes);
            if &actual != digest {
                return Err(RegistryError::DigestMismatch {
                    registry: self.host.clone(),
                    repository: repository.to_string(),
                    what: format!("blob {}", digest.short()),
                    expected: digest.to_string(),
                    actual: actual.to_string(),
                });
            }
            Ok(bytes)
        })
        .await
    }

    /// Opens an upload; with `mount`, first asks the registry to link the blob from
    /// another repository of the same registry. A refused mount (202) hands back the
    /// session the registry opened, so nothing is left dangling.
    pub async fn start_upload(
        &self,
        repository: &str,
        mount: Option<(&Digest, &str)>,
    ) -> Result<UploadStart, RegistryError> {
        let mount = match mount {
            Some((digest, from)) => match self.authorize_mount(repository, from).await {
                Ok(()) => Some((digest, from)),
                // Without pull rights on the source there is no mount, but a copy may still work.
                Err(e) if !e.is_transient() => {
                    tracing::debug!(registry = %self.host, "no mount from {from}: {e}");
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let path = match mount {
            Some((digest, from)) => {
                format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}")
            }
            None => format!("/v2/{repository}/blobs/uploads/"),
        };
        let url = self.url(&path);
        let what = format!("upload to {repository}");
        let response = self
            .send(repository, Access::Push, &what, &|http| {
                http.post(&url).header(CONTENT_LENGTH, 0)
            })
            .await?;
        match response.status().as_u16() {
            201 if mount.is_some() => Ok(UploadStart::Mounted),
            202 => {
                let location = header_str(response.headers(), "location").ok_or_else(|| {
                    RegistryError::Invalid {
                        registry: self.host.clone(),
                        what: what.clone(),
                        reason: "upload started without a Location".into(),
                    }
                })?;
                Ok(UploadStart::Session(self.absolute(location)))
            }
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Completes an upload session with one streamed PUT of the whole blob.
    /// Not retried here: the body is a stream the caller must restart.
    pub async fn put_upload(
        &self,
        repository: &str,
        location: &str,
        digest: &Digest,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let what = format!("blob {repository}@{}", digest.short());
        let mut request = self
            .http
            .put(&url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        if let Some(header) = self.cached_auth(repository, Access::Push).await {
            request = request.header(AUTHORIZATION, header);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&what, &e))?;
        match response.status().as_u16() {
            201 | 204 => Ok(()),
            400 => {
                let message = error_message(response).await;
                if message.contains("DIGEST_INVALID") || message.to_lowercase().contains("digest") {
                    Err(RegistryError::DigestMismatch {
                        registry: self.host.clone(),
                        repository: repository.to_string(),
                        what: format!("uploaded blob {}", digest.short()),
                        expected: digest.to_string(),
                        actual: message,
                    })
                } else {
                    Err(RegistryError::Status {
                        registry: self.host.clone(),
                        what,
                        status: 400,
                        message,
                        retry_after: None,
                    })
                }
            }
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Abandons an upload session (best effort: registries expire them anyway).
    pub async fn cancel_upload(&self, repository: &str, location: &str) {
        let mut request = self.http.delete(location);
        if let Some(header) = self.cached_auth(repository, Access::Push).await {
            request = request.header(AUTHORIZATION, header);
        }
        let _ = request.send().await;
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            self.url(location)
        }
    }

    async fn read_capped(
        &self,
        response: reqwest::Response,
        cap: usize,
        what: &str,
    ) -> Result<Bytes, RegistryError> {
        if response
            .content_length()
            .is_some_and(|len| len as usize > cap)
        {
            return Err(RegistryError::Invalid {
                registry: self.host.clone(),
                what: what.to_string(),
                reason: format!("body larger than {cap} bytes"),
            });
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport_error(what, &e))?;
            if body.len() + chunk.len() > cap {
                return Err(RegistryError::Invalid {
                    registry: self.host.clone(),
                    what: what.to_string(),
                    reason: format!("body larger than {cap} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }
}

impl RegistryClient {
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

/// `Bearer realm="...",service="..."`: where to fetch a token.
#[derive(Debug, PartialEq, Eq)]
struct BearerChallenge {
    realm: String,
    service: Option<String>,
}

fn parse_bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        match key.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Some(BearerChallenge {
        realm: realm.filter(|r| r.starts_with("https://") || r.starts_with("http://"))?,
        service,
    })
}

/// A token scope for one repository.
fn scope(repository: &str, access: Access) -> String {
    match access {
        Access::Pull => format!("repository:{repository}:pull"),
        Access::Push => format!("repository:{repository}:pull,push"),
        Access::Delete => format!("repository:{repository}:delete"),
    }
}

/// A token service's answer: `access_token` in OAuth2 terms, `token` in Docker's.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// `application/x-www-form-urlencoded` for one key or value.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
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

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn strip_params(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `<...>; rel="next"` from a Link header.
pub fn parse_next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// The first error message of a registry's error body, or a short excerpt of the body.
async fn error_message(response: reqwest::Response) -> String {
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

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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
fn redact(text: &str, credentials: &Credentials) -> String {
    match credentials.secret() {
        Some(secret) => text.replace(secret, "<redacted>"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next() {
        assert_eq!(
            parse_next_link("</v2/a/tags/list?n=2&last=b>; rel=\"next\"").as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(parse_next_link("<https://x/y>; rel=\"prev\""), None);
    }

    #[test]
    fn backoff_doubles_and_honours_retry_after() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, None), Duration::from_millis(200));
        assert_eq!(policy.backoff(3, None), Duration::from_millis(800));
        assert_eq!(
            policy.backoff(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.backoff(1, Some(Duration::from_secs(3600))),
            policy.max_wait
        );
    }

    #[test]
    fn transient_errors() {
        let status = |status| RegistryError::Status {
            registry: "r".into(),
            what: "/".into(),
            status,
            message: String::new(),
            retry_after: None,
        };
        assert!(status(429).is_transient());
        assert!(status(503).is_transient());
        assert!(!status(404).is_transient());
        assert!(!status(400).is_transient());
    }

    #[test]
    fn bearer_challenges() {
        let challenge = parse_bearer_challenge(
            r#"Bearer realm="https://auth.example/token?a=1,b",service="registry.example",scope="repository:x:pull""#,
        )
        .expect("bearer");
        assert_eq!(challenge.realm, "https://auth.example/token?a=1,b");
        assert_eq!(challenge.service.as_deref(), Some("registry.example"));
        assert_eq!(
            parse_bearer_challenge(r#"bearer realm="http://r/t""#).map(|c| c.service),
            Some(None)
        );
        assert_eq!(parse_bearer_challenge(r#"Basic realm="gantry-test""#), None);
        // A realm that is not a URL would send the credentials who knows where.
        assert_eq!(
            parse_bearer_challenge(r#"Bearer realm="file:///etc""#),
            None
        );
        assert_eq!(parse_bearer_challenge(r#"Bearer realm="https://x"#), None);
    }

    #[test]
    fn form_encoding_and_pem_blocks() {
        assert_eq!(
            form_encode("repository:a/b:pull,push x"),
            "repository%3Aa%2Fb%3Apull%2Cpush+x"
        );
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let blocks = pem_certificates(pem);
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].contains("BBB") && !blocks[1].contains("AAA"));
        assert!(pem_certificates("no certificate here").is_empty());
    }

    #[test]
    fn credentials_never_print_the_password() {
        let creds = Credentials::Basic {
            username: "ci".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
        assert_eq!(redact("bad hunter2", &creds), "bad <redacted>");
    }
}
