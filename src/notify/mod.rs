//! Which event goes to which `[[notify]]` entry, and what it says: a Slack-compatible
//! `{"text": ...}` or gantry's own JSON object. Only names, tags, digests, identities and
//! reasons go in: never a credential or the webhook URL.

use serde::Serialize;

use crate::config::notify::{NotifyEvent, NotifyKind, NotifySettings};
use crate::webhook::Delivery;

/// Approvals so far and needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApprovalCount {
    pub have: usize,
    pub need: u32,
}

/// Something that happened, as announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub event: NotifyEvent,
    pub service: String,
    /// The environment it is about: a promotion's or request's target.
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Who did it (git's user.email), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The request it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalCount>,
    /// Why it failed, or the override's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Notice {
    /// A notice with only what every event has.
    pub fn new(event: NotifyEvent, service: &str, environment: &str) -> Notice {
        Notice {
            event,
            service: service.to_string(),
            environment: environment.to_string(),
            from: None,
            tag: None,
            digest: None,
            actor: None,
            request: None,
            approvals: None,
            reason: None,
        }
    }

    /// One line for a chat: what, where, who.
    pub fn text(&self) -> String {
        let image = match &self.tag {
            Some(tag) => format!("{}:{tag}", self.service),
            None => self.service.clone(),
        };
        let digest = self
            .digest
            .as_deref()
            .map(|d| format!(" ({})", d.get(..19).unwrap_or(d)))
            .unwrap_or_default();
        let route = match &self.from {
            Some(from) => format!("{from} -> {}", self.environment),
            None => self.environment.clone(),
        };
        let by = self
            .actor
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default();
        let approvals = self
            .approvals
            .map(|a| format!(", {}/{} approvals", a.have, a.need))
            .unwrap_or_default();
        let request = self
            .request
            .as_deref()
            .map(|r| format!(" (request {r}{approvals})"))
            .unwrap_or_default();
        let reason = self
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        let what = match self.event {
            NotifyEvent::RequestWaiting => "waits for approval",
            NotifyEvent::Approved => "approved",
            NotifyEvent::PromotionFinished => "promoted",
            NotifyEvent::PromotionFailed => "promotion failed",
            NotifyEvent::DeployFailed => "deploy failed",
            NotifyEvent::FreezeOverride => "freeze overridden",
        };
        format!("[gantry] {image}{digest} {route}: {what}{by}{request}{reason}")
    }
}

/// gantry's JSON payload: the notice's fields, plus who sent it and when.
#[derive(Serialize)]
struct JsonPayload<'a> {
    source: &'static str,
    version: &'static str,
    at: String,
    text: String,
    #[serde(flatten)]
    notice: &'a Notice,
}

/// The body `kind` wants for `notice`.
pub fn payload(kind: NotifyKind, notice: &Notice, at: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let value = match kind {
        NotifyKind::Slack => serde_json::json!({ "text": notice.text() }),
        NotifyKind::Json => serde_json::to_value(JsonPayload {
            source: "gantry",
            version: env!("CARGO_PKG_VERSION"),
            at: at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            text: notice.text(),
            notice,
        })
        .unwrap_or_default(),
    };
    value.to_string().into_bytes()
}

/// One delivery per entry that wants this event in this environment.
pub fn route(
    entries: &[NotifySettings],
    notice: &Notice,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<Delivery> {
    entries
        .iter()
        .filter(|entry| entry.wants(notice.event, &notice.environment))
        .map(|entry| Delivery {
            target: entry.name.clone(),
            url: entry.url.clone(),
            body: payload(entry.kind, notice, at),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::notify::UrlSource;

    fn entry(
        name: &str,
        kind: NotifyKind,
        events: &[NotifyEvent],
        envs: &[&str],
    ) -> NotifySettings {
        NotifySettings {
            name: name.into(),
            kind,
            url: UrlSource::Env("HOOK".into()),
            events: events.to_vec(),
            environments: envs.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn promoted() -> Notice {
        Notice {
            from: Some("stage".into()),
            tag: Some("sha-2b2e927".into()),
            digest: Some(format!("sha256:{}", "6f1c0e9a4b2d".repeat(5) + "abcd")),
            actor: Some("ci@example.com".into()),
            ..Notice::new(NotifyEvent::PromotionFinished, "payment-svc", "prod")
        }
    }

    #[test]
    fn entries_get_only_their_events_and_environments() {
        let entries = [
            entry("all", NotifyKind::Json, &[], &[]),
            entry(
                "prod-failures",
                NotifyKind::Slack,
                &[NotifyEvent::PromotionFailed],
                &["prod"],
            ),
            entry("prod", NotifyKind::Slack, &[], &["prod"]),
            entry("stage", NotifyKind::Slack, &[], &["stage"]),
        ];
        let at = chrono::Utc::now();
        let targets: Vec<String> = route(&entries, &promoted(), at)
            .into_iter()
            .map(|d| d.target)
            .collect();
        assert_eq!(targets, ["all", "prod"]);
    }

    #[test]
    fn slack_gets_one_line_and_json_every_field() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let slack: serde_json::Value =
            serde_json::from_slice(&payload(NotifyKind::Slack, &promoted(), at)).expect("json");
        assert_eq!(
            slack,
            serde_json::json!({ "text": "[gantry] payment-svc:sha-2b2e927 (sha256:6f1c0e9a4b2d) stage -> prod: promoted by ci@example.com" })
        );
        let json: serde_json::Value =
            serde_json::from_slice(&payload(NotifyKind::Json, &promoted(), at)).expect("json");
        assert_eq!(json["event"], "promotion_finished");
        assert_eq!(json["source"], "gantry");
        assert_eq!(json["at"], "2026-11-23T10:00:00Z");
        assert_eq!(json["environment"], "prod");
        assert_eq!(json["from"], "stage");
        assert!(json.get("reason").is_none());
    }

    #[test]
    fn a_request_says_how_many_approvals_it_has() {
        let notice = Notice {
            request: Some("3f9a2c1b7e4d".into()),
            approvals: Some(ApprovalCount { have: 1, need: 2 }),
            actor: Some("kofi@example.com".into()),
            tag: Some("sha-2b2e927".into()),
            ..Notice::new(NotifyEvent::Approved, "payment-svc", "prod")
        };
        assert_eq!(
            notice.text(),
            "[gantry] payment-svc:sha-2b2e927 prod: approved by kofi@example.com (request 3f9a2c1b7e4d, 1/2 approvals)"
        );
    }
}
