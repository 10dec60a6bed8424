//! Webhook delivery: JSON bodies POSTed from background tasks, with retries and a
//! timeout, so that a slow or dead receiver never holds up the work that announced
//! something. Failures are logged, never returned: a notification is a courtesy.
//!
//! The URL is a secret (chat webhooks carry their token in it): it is read when sending,
//! and never appears in a log line or an error, which name the target instead.

use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::config::notify::UrlSource;

/// One attempt may take this long, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per delivery: a 5xx, 429, timeout or dropped connection is tried again.
pub const ATTEMPTS: u32 = 3;
/// Pause before the second attempt; doubled before the third.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The URL, read when sending: from its variable or file, trimmed, http(s) only. The
/// error names where it looked, never what it found.
fn read_url(source: &UrlSource) -> Result<String, String> {
    let url = match source {
        UrlSource::Env(var) => {
            std::env::var(var).map_err(|_| format!("${var} (url_env) is not set"))?
        }
        UrlSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("url_file {}: {e}", path.display()))?,
    };
    let url = url.trim().to_string();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(match source {
            UrlSource::Env(var) => format!("${var} does not hold an http(s) URL"),
            UrlSource::File(path) => format!("{} does not hold an http(s) URL", path.display()),
        });
    }
    Ok(url)
}

/// One message for one receiver.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// How logs name the receiver (its `[[notify]] name`).
    pub target: String,
    pub url: UrlSource,
    pub body: Vec<u8>,
}

/// Deliveries under way; `flush` waits for them, a bounded time.
#[derive(Default)]
pub struct Outbox {
    http: std::sync::OnceLock<Option<reqwest::Client>>,
    pending: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

impl Outbox {
    /// Starts delivering in the background and returns at once. Must be called on a
    /// tokio runtime.
    pub fn send(&self, delivery: Delivery) {
        let http = self
            .http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(ATTEMPT_TIMEOUT)
                    .connect_timeout(ATTEMPT_TIMEOUT)
                    .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| tracing::warn!("notifications are off: no HTTP client: {e}"))
                    .ok()
            })
            .clone();
        let Some(http) = http else { return };
        let task = tokio::spawn(deliver(http, delivery));
        if let Ok(mut pending) = self.pending.lock() {
            pending.retain(|t| !t.is_finished());
            pending.push(task);
        }
    }

    /// Waits up to `bound` for the deliveries under way; returns how many were still
    /// going (they are abandoned, and logged as such).
    pub async fn flush(&self, bound: Duration) -> usize {
        let tasks: Vec<JoinHandle<()>> = match self.pending.lock() {
            Ok(mut pending) => pending.drain(..).collect(),
            Err(_) => return 0,
        };
        if tasks.is_empty() {
            return 0;
        }
        let deadline = tokio::time::Instant::now() + bound;
        let mut abandoned = 0;
        for task in tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abandoned += 1;
            }
        }
        if abandoned > 0 {
            tracing::warn!(
                "{abandoned} notification(s) not delivered within {bound:?} of exiting: abandoned"
            );
        }
        abandoned
    }
}

async fn deliver(http: reqwest::Client, delivery: Delivery) {
    let target = &delivery.target;
    let url = match read_url(&delivery.url) {
        Ok(url) => url,
        Err(why) => {
            tracing::warn!("notification to {target} not sent: {why}");
            return;
        }
    };
    let mut wait = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let answer = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(delivery.body.clone())
            .send()
            .await;
        let retry = match answer {
            Ok(response) if response.status().is_success() => {
                tracing::info!("notification to {target} delivered ({})", response.status());
                return;
            }
            Ok(response) => {
                let status = response.status();
                let again = status.is_server_error() || status.as_u16() == 429;
                tracing::warn!(
                    "notification to {target}: attempt {attempt} answered HTTP {status}"
                );
                again
            }
            Err(e) => {
                // reqwest's message names the URL, which holds the token: drop it.
                tracing::warn!(
                    "notification to {target}: attempt {attempt} failed: {}",
                    e.without_url()
                );
                true
            }
        };
        if !retry || attempt == ATTEMPTS {
            break;
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    tracing::warn!("notification to {target} not delivered");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_read_from_its_variable_or_file_and_must_be_http() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("hook");
        std::fs::write(&file, "https://chat.example/hook/T0K3N\n").expect("write");
        assert_eq!(
            read_url(&UrlSource::File(file.clone())).as_deref(),
            Ok("https://chat.example/hook/T0K3N")
        );
        std::fs::write(&file, "not a url").expect("write");
        let why = read_url(&UrlSource::File(file)).expect_err("refused");
        assert!(
            !why.contains("not a url"),
            "the content is never quoted: {why}"
        );
        assert!(read_url(&UrlSource::Env("GANTRY_TEST_SURELY_UNSET_VAR".into())).is_err());
    }
}
