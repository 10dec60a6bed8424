//! Sending one request: a 401 answered once with fresh credentials, transient failures
//! retried with backoff (Retry-After honoured), and bodies read under a size cap.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::StatusCode;

use super::error::error_message;
use super::{Access, RegistryClient, RegistryError};

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

impl RegistryClient {
    /// Sends one request (no retry), answering a 401 once with fresh credentials.
    /// `build` is called again for the second try, so it must be cheap and repeatable.
    pub(super) async fn send_once(
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
            let permit = match &self.limit {
                Some(limit) => limit.acquire().await.ok(),
                None => None,
            };
            let response = request
                .send()
                .await
                .map_err(|e| self.transport_error(what, &e))?;
            drop(permit);
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
    pub(super) async fn send(
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

    pub(super) async fn read_capped(
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

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(super) fn strip_params(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}
