//! The registry's token service, asked directly for what oci-client cannot ask for: an
//! identity token's exchange, the `delete` scope, and one token for several scopes.

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};

use super::error::{error_message, fmt_message, redact};
use super::send::header_str;
use super::{Access, Credentials, RegistryClient, RegistryError};

impl RegistryClient {
    /// Trades a Docker identity token (an OAuth2 refresh token, as `docker login` stores
    /// for some registries) for an access token at the registry's token service.
    pub(super) async fn exchange_identity_token(
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
    pub(super) async fn challenge(&self) -> Result<Option<&BearerChallenge>, RegistryError> {
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
    pub(super) async fn fetch_token(
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
}

/// `Bearer realm="...",service="..."`: where to fetch a token.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BearerChallenge {
    pub(super) realm: String,
    pub(super) service: Option<String>,
}

pub(super) fn parse_bearer_challenge(header: &str) -> Option<BearerChallenge> {
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
pub(super) fn scope(repository: &str, access: Access) -> String {
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
pub(super) fn form_encode(text: &str) -> String {
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
