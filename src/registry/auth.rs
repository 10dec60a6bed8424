//! Credentials and Authorization headers: the credentials looked up once, a header learnt
//! per repository and access from each 401 challenge, and a push token widened for mounts.

use std::time::Duration;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use reqwest::header::HeaderValue;

use super::error::redact;
use super::token::scope;
use super::{manifest, Access, Credentials, RegistryClient, RegistryError};

impl RegistryClient {
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

    pub(super) async fn cached_auth(
        &self,
        repository: &str,
        access: Access,
    ) -> Option<HeaderValue> {
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
    pub(super) async fn authorize(
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
                    _ => return Err(unauthorized(super::failure::NO_CREDENTIALS.into())),
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

    /// Before a cross-repository mount on a token registry: the push token must also
    /// grant pull on the source repository, or the registry answers 401 instead of
    /// mounting. Fetches one token with both scopes for the target. Registries that use
    /// Basic auth, or none, need nothing more.
    pub(super) async fn authorize_mount(
        &self,
        repository: &str,
        from: &str,
    ) -> Result<(), RegistryError> {
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
}
