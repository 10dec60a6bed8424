//! `[[notify]]`: where gantry tells a team's chat what happened (a Slack-compatible or a
//! plain JSON webhook), for which events and environments. The webhook URL is a secret
//! (it carries the token): it comes from an environment variable or a file, never from
//! the configuration itself.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// What can be announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A promotion request was recorded and waits for approvals.
    RequestWaiting,
    /// Someone approved a request.
    Approved,
    /// A promotion copied and tagged the image.
    PromotionFinished,
    /// A promotion failed or was refused.
    PromotionFailed,
    /// The environment's deploy step failed after a promotion or a rollback.
    DeployFailed,
    /// A freeze window was overridden (with its recorded reason).
    FreezeOverride,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 6] = [
        NotifyEvent::RequestWaiting,
        NotifyEvent::Approved,
        NotifyEvent::PromotionFinished,
        NotifyEvent::PromotionFailed,
        NotifyEvent::DeployFailed,
        NotifyEvent::FreezeOverride,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotifyEvent::RequestWaiting => "request_waiting",
            NotifyEvent::Approved => "approved",
            NotifyEvent::PromotionFinished => "promotion_finished",
            NotifyEvent::PromotionFailed => "promotion_failed",
            NotifyEvent::DeployFailed => "deploy_failed",
            NotifyEvent::FreezeOverride => "freeze_override",
        }
    }
}

/// The body a receiver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    /// `{"text": "..."}`: Slack's incoming webhooks, and the many chats that copy them.
    Slack,
    /// gantry's own JSON object with every field (see the README).
    Json,
}

/// Where the webhook URL is read, when a notification is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    Env(String),
    /// Absolute; its content, trailing newline removed.
    File(PathBuf),
}

/// One `[[notify]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    /// For logs and messages: never the URL.
    pub name: String,
    pub kind: NotifyKind,
    pub url: UrlSource,
    /// Empty: every event.
    pub events: Vec<NotifyEvent>,
    /// Empty: every environment.
    pub environments: Vec<String>,
}

impl NotifySettings {
    /// Whether `event` in `environment` goes to this entry.
    pub fn wants(&self, event: NotifyEvent, environment: &str) -> bool {
        (self.events.is_empty() || self.events.contains(&event))
            && (self.environments.is_empty() || self.environments.iter().any(|e| e == environment))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    #[serde(default)]
    name: Option<Spanned<String>>,
    kind: Spanned<String>,
    /// Accepted by the parser only to be refused with its location.
    #[serde(default)]
    url: Option<Spanned<toml::Value>>,
    #[serde(default)]
    url_env: Option<Spanned<String>>,
    #[serde(default)]
    url_file: Option<Spanned<String>>,
    #[serde(default)]
    events: Vec<Spanned<String>>,
    #[serde(default)]
    environments: Vec<Spanned<String>>,
}

/// Validates `[[notify]]` entries; an error is a span and a message, located by the caller.
/// `config_dir` resolves a relative `url_file`.
pub(crate) fn validate(
    raw: &[Spanned<RawNotify>],
    environments: &[String],
    config_dir: Option<&Path>,
) -> Result<Vec<NotifySettings>, (Range<usize>, String)> {
    let mut entries = Vec::with_capacity(raw.len());
    for (index, spanned) in raw.iter().enumerate() {
        let entry = spanned.get_ref();
        let name = match &entry.name {
            Some(name) if name.get_ref().trim().is_empty() => {
                return Err((name.span(), "notify.name is empty".into()))
            }
            Some(name) => name.get_ref().clone(),
            None => format!("notify #{}", index + 1),
        };
        if let Some(url) = &entry.url {
            return Err((
                url.span(),
                format!("{name}: a webhook URL carries its token, so it never goes in the configuration: put it in an environment variable and name it with url_env, or in a file named by url_file"),
            ));
        }
        let kind = match entry.kind.get_ref().as_str() {
            "slack" => NotifyKind::Slack,
            "json" => NotifyKind::Json,
            other => {
                return Err((
                    entry.kind.span(),
                    format!("{name}: kind `{other}` is unknown (known: slack, json)"),
                ))
            }
        };
        let url = match (&entry.url_env, &entry.url_file) {
            (Some(var), None) => {
                let value = var.get_ref();
                if !super::is_valid_env_var(value) {
                    return Err((
                        var.span(),
                        format!("{name}: url_env `{value}` is not an environment variable name (the name, not the URL)"),
                    ));
                }
                UrlSource::Env(value.clone())
            }
            (None, Some(file)) => {
                let value = file.get_ref();
                if value.trim().is_empty() {
                    return Err((file.span(), format!("{name}: url_file is empty")));
                }
                let path = PathBuf::from(value);
                UrlSource::File(match config_dir {
                    Some(dir) if path.is_relative() => dir.join(path),
                    _ => path,
                })
            }
            (Some(_), Some(file)) => {
                return Err((
                    file.span(),
                    format!("{name}: both url_env and url_file are set: keep one"),
                ))
            }
            (None, None) => {
                return Err((
                    spanned.span(),
                    format!("{name}: set url_env (a variable holding the webhook URL) or url_file"),
                ))
            }
        };
        let mut events = Vec::new();
        for event in &entry.events {
            let found = NotifyEvent::ALL
                .into_iter()
                .find(|e| e.name() == event.get_ref())
                .ok_or_else(|| {
                    let names = NotifyEvent::ALL.map(NotifyEvent::name);
                    (
                        event.span(),
                        format!(
                            "{name}: unknown event `{}` (known: {}){}",
                            event.get_ref(),
                            names.join(", "),
                            crate::domain::suggest::did_you_mean(event.get_ref(), names)
                        ),
                    )
                })?;
            events.push(found);
        }
        let mut names = Vec::new();
        for env in &entry.environments {
            if !environments.contains(env.get_ref()) {
                return Err((
                    env.span(),
                    format!(
                        "{name}: environments names `{}`, which is not configured (configured: {}){}",
                        env.get_ref(),
                        environments.join(", "),
                        crate::domain::suggest::did_you_mean(
                            env.get_ref(),
                            environments.iter().map(String::as_str)
                        )
                    ),
                ));
            }
            names.push(env.get_ref().clone());
        }
        entries.push(NotifySettings {
            name,
            kind,
            url,
            events,
            environments: names,
        });
    }
    Ok(entries)
}
