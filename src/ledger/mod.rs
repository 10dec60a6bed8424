//! The ledger: an append-only, hash-chained list of what happened (requests, approvals,
//! promotions, rollbacks...), kept in the application repository under its own ref.
//!
//! Each record is one commit on `refs/gantry/ledger`: the message is a summary line, a
//! blank line, then the record's canonical JSON, so `git log refs/gantry/ledger` reads
//! as a history. Every record carries the sha256 of the previous record's JSON (`prev`)
//! and an `id` hashed from its own content, so an edited, removed or reordered record
//! breaks the chain where it happened. Nothing here touches a registry; git work lives
//! in [`store`], the rules about requests and approvals in [`approvals`].

pub mod approvals;
mod note;
pub(crate) mod store;

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::domain::Digest;

pub use note::LedgerNote;

/// Hex digits of a record id: short enough to type, long enough never to collide in one ledger.
pub const ID_LEN: usize = 12;
/// The shortest id prefix `gantry approve` accepts.
pub const MIN_ID_PREFIX: usize = 6;

/// What a record is about. Open: kinds added later (by retention, deploy...) are kept as
/// their name, so an older gantry still reads, lists and verifies them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RecordKind {
    Request,
    Approval,
    Promotion,
    Rollback,
    Override,
    Deletion,
    Deploy,
    Other(String),
}

impl RecordKind {
    pub fn name(&self) -> &str {
        match self {
            RecordKind::Request => "request",
            RecordKind::Approval => "approval",
            RecordKind::Promotion => "promotion",
            RecordKind::Rollback => "rollback",
            RecordKind::Override => "override",
            RecordKind::Deletion => "deletion",
            RecordKind::Deploy => "deploy",
            RecordKind::Other(name) => name,
        }
    }
}

impl From<String> for RecordKind {
    fn from(name: String) -> Self {
        match name.as_str() {
            "request" => RecordKind::Request,
            "approval" => RecordKind::Approval,
            "promotion" => RecordKind::Promotion,
            "rollback" => RecordKind::Rollback,
            "override" => RecordKind::Override,
            "deletion" => RecordKind::Deletion,
            "deploy" => RecordKind::Deploy,
            _ => RecordKind::Other(name),
        }
    }
}

impl From<RecordKind> for String {
    fn from(kind: RecordKind) -> String {
        kind.name().to_string()
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One entry of the ledger, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// 1-based position in the chain.
    pub seq: u64,
    /// [`ID_LEN`] hex digits of the sha256 of the content (everything but `seq`, `id`
    /// and `prev`), so an id survives being re-chained after a push race.
    pub id: String,
    pub kind: RecordKind,
    /// UTC, RFC 3339 with microseconds.
    pub at: String,
    /// git `user.email` of whoever did it.
    pub actor: String,
    pub service: Option<String>,
    /// The environment acted on: a promotion's or request's target, a rollback's environment.
    pub environment: Option<String>,
    pub digest: Option<Digest>,
    /// The immutable tag of the image.
    pub tag: Option<String>,
    /// Kind-specific facts (`from`, `request`, the plan summary...). Never a secret.
    pub details: serde_json::Value,
    /// `sha256:<hex>` of the previous record's JSON; `None` for the first record.
    pub prev: Option<String>,
}

/// What a caller records; the store fills in who, when and the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub kind: RecordKind,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub digest: Option<Digest>,
    pub tag: Option<String>,
    pub details: serde_json::Value,
}

/// The hashed part of a record: what it says, not where it stands in the chain.
#[derive(Serialize)]
struct Content<'a> {
    kind: &'a RecordKind,
    at: &'a str,
    actor: &'a str,
    service: &'a Option<String>,
    environment: &'a Option<String>,
    digest: &'a Option<Digest>,
    tag: &'a Option<String>,
    details: &'a serde_json::Value,
}

impl Record {
    /// A record at the end of a chain whose last record's JSON hashes to `prev`.
    pub fn new(new: NewRecord, actor: &str, at: &str, seq: u64, prev: Option<String>) -> Record {
        let mut record = Record {
            seq,
            id: String::new(),
            kind: new.kind,
            at: at.to_string(),
            actor: actor.to_string(),
            service: new.service,
            environment: new.environment,
            digest: new.digest,
            tag: new.tag,
            details: new.details,
            prev,
        };
        record.id = record.content_id();
        record
    }

    /// The id this record's content hashes to.
    pub fn content_id(&self) -> String {
        let content = Content {
            kind: &self.kind,
            at: &self.at,
            actor: &self.actor,
            service: &self.service,
            environment: &self.environment,
            digest: &self.digest,
            tag: &self.tag,
            details: &self.details,
        };
        // Serialising plain strings and JSON values cannot fail.
        let bytes = serde_json::to_vec(&content).unwrap_or_default();
        let mut id = hex::encode(Sha256::digest(&bytes));
        id.truncate(ID_LEN);
        id
    }

    /// The stored form: compact JSON, fields in declaration order.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A string field of `details`, if present.
    pub fn detail(&self, key: &str) -> Option<&str> {
        self.details.get(key).and_then(|v| v.as_str())
    }

    /// One line saying what happened, the first line of the record's commit.
    pub fn summary(&self) -> String {
        let service = self.service.as_deref().unwrap_or("-");
        let env = self.environment.as_deref().unwrap_or("-");
        let image = match (&self.tag, &self.digest) {
            (Some(tag), Some(digest)) => format!("{service}:{tag} ({})", digest.short()),
            (Some(tag), None) => format!("{service}:{tag}"),
            (None, Some(digest)) => format!("{service}@{}", digest.short()),
            (None, None) => service.to_string(),
        };
        let from = self.detail("from").unwrap_or("?");
        let what = match &self.kind {
            RecordKind::Request => format!("request {}: {image} {from} -> {env}", self.id),
            RecordKind::Approval => format!(
                "approval of {}: {image} into {env}",
                self.detail("request").unwrap_or("?")
            ),
            RecordKind::Promotion => format!("promotion: {image} {from} -> {env}"),
            RecordKind::Rollback => format!("rollback: {service} in {env} to {image}"),
            other => format!("{other}: {image} in {env}"),
        };
        format!("#{} {what} by {}", self.seq, self.actor)
    }

    /// The commit message that stores this record.
    pub fn message(&self) -> String {
        format!("{}\n\n{}\n", self.summary(), self.canonical_json())
    }
}

/// `sha256:<hex>` of a record's stored JSON: what the next record's `prev` names.
pub fn chain_hash(json: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(json.as_bytes())))
}

/// A record's commit as read from git, before any of it is trusted.
#[derive(Debug, Clone)]
pub struct RawEntry {
    pub commit: String,
    pub parents: usize,
    pub message: String,
}

impl RawEntry {
    /// The summary line and the JSON of the message, if it has that shape.
    fn split(&self) -> Option<(&str, &str)> {
        let (summary, rest) = self.message.split_once("\n\n")?;
        Some((summary, rest.trim_end_matches('\n')))
    }

    /// The stored JSON (the whole message when it has no summary line).
    pub fn json(&self) -> &str {
        self.split().map_or(self.message.as_str(), |(_, json)| json)
    }

    pub fn parse(&self) -> Result<Record, String> {
        let (_, json) = self
            .split()
            .ok_or("no blank line between the summary and the record")?;
        serde_json::from_str(json).map_err(|e| e.to_string())
    }
}

/// How a chain was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TamperKind {
    /// A record's content or summary no longer matches what was written.
    Edited,
    /// A record is missing.
    Removed,
    /// Records stand in another order than they were written in.
    Reordered,
    /// A commit on the ref is not a ledger record (or is a merge).
    Malformed,
}

/// The first place a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tamper {
    pub kind: TamperKind,
    /// 1-based position in the chain where it shows.
    pub position: usize,
    /// The commit at that position, when there is one.
    pub commit: Option<String>,
    /// The record concerned, by id, when known.
    pub record: Option<String>,
    pub message: String,
}

impl fmt::Display for Tamper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The newest record this copy knew to be in the ledger: a later chain that lacks it was
/// rewritten, even when the rewrite left a consistent chain behind.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub seq: u64,
    pub id: String,
    pub hash: String,
    pub summary: String,
}

/// Checks `entries` (oldest first) as a chain; returns the records that parse and the
/// first problem, if any.
pub fn verify(entries: &[RawEntry], anchor: Option<&Anchor>) -> (Vec<Record>, Option<Tamper>) {
    let parsed: Vec<Result<Record, String>> = entries.iter().map(RawEntry::parse).collect();
    let records: Vec<Record> = parsed
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .cloned()
        .collect();
    let problem = first_problem(entries, &parsed).or_else(|| {
        let anchor = anchor?;
        let position = usize::try_from(anchor.seq).ok()?;
        let kept = entries
            .get(position.wrapping_sub(1))
            .is_some_and(|entry| chain_hash(entry.json()) == anchor.hash);
        (!kept).then(|| Tamper {
            kind: TamperKind::Removed,
            position,
            commit: None,
            record: Some(anchor.id.clone()),
            message: format!(
                "record #{} ({}), seen in this ledger before, is no longer in it: the ledger was cut back or rewritten",
                anchor.seq, anchor.summary
            ),
        })
    });
    (records, problem)
}

fn first_problem(entries: &[RawEntry], parsed: &[Result<Record, String>]) -> Option<Tamper> {
    let at = |position: usize, kind, record: Option<&Record>, message: String| Tamper {
        kind,
        position,
        commit: entries.get(position - 1).map(|e| e.commit.clone()),
        record: record.map(|r| r.id.clone()),
        message,
    };
    for (index, (entry, record)) in entries.iter().zip(parsed).enumerate() {
        let position = index + 1;
        let short = &entry.commit[..entry.commit.len().min(12)];
        if entry.parents > 1 {
            return Some(at(
                position,
                TamperKind::Malformed,
                None,
                format!("commit {short} at position {position} is a merge: the ledger is a single line of records"),
            ));
        }
        let record = match record {
            Ok(record) => record,
            Err(why) => {
                return Some(at(
                    position,
                    TamperKind::Malformed,
                    None,
                    format!("commit {short} at position {position} is not a ledger record: {why}"),
                ))
            }
        };
        if record.seq != position as u64 {
            let later_holds = |seq: u64| {
                parsed[index + 1..]
                    .iter()
                    .flatten()
                    .any(|later| later.seq == seq)
            };
            let earlier_holds = |seq: u64| parsed[..index].iter().flatten().any(|r| r.seq == seq);
            let (kind, message) = if record.seq > position as u64 && later_holds(position as u64) {
                (
                    TamperKind::Reordered,
                    format!(
                        "records out of order: position {position} holds record #{} ({}, commit {short}), which was written after record #{position}",
                        record.seq, record.id
                    ),
                )
            } else if record.seq > position as u64 {
                let missing = if record.seq == position as u64 + 1 {
                    format!("record #{position} is")
                } else {
                    format!("records #{position} to #{} are", record.seq - 1)
                };
                (
                    TamperKind::Removed,
                    format!(
                        "{missing} missing: position {position} holds record #{} ({}, commit {short})",
                        record.seq, record.id
                    ),
                )
            } else if earlier_holds(record.seq) {
                (
                    TamperKind::Edited,
                    format!(
                        "record #{} appears twice: again at position {position} (commit {short})",
                        record.seq
                    ),
                )
            } else {
                (
                    TamperKind::Reordered,
                    format!(
                        "records out of order: position {position} holds record #{} ({}, commit {short})",
                        record.seq, record.id
                    ),
                )
            };
            return Some(at(position, kind, Some(record), message));
        }
        if record.content_id() != record.id {
            return Some(at(
                position,
                TamperKind::Edited,
                Some(record),
                format!(
                    "record #{position} ({}, commit {short}) was edited: its content no longer hashes to its id",
                    record.id
                ),
            ));
        }
        let expected = index
            .checked_sub(1)
            .map(|previous| chain_hash(entries[previous].json()));
        if record.prev != expected {
            let message = match index.checked_sub(1) {
                Some(previous) => format!(
                    "record #{previous_position} ({}) was changed after record #{position} was written: #{position} names a predecessor hashing to {}, #{previous_position} now hashes to {}",
                    parsed[previous].as_ref().map(|r| r.id.as_str()).unwrap_or("?"),
                    record.prev.as_deref().unwrap_or("nothing"),
                    expected.as_deref().unwrap_or("nothing"),
                    previous_position = position - 1,
                ),
                None => format!(
                    "record #1 ({}) names a predecessor: the records before it were removed",
                    record.id
                ),
            };
            let kind = if index == 0 {
                TamperKind::Removed
            } else {
                TamperKind::Edited
            };
            return Some(Tamper {
                position: if index == 0 { 1 } else { position - 1 },
                commit: Some(entries[index.saturating_sub(1)].commit.clone()),
                record: index
                    .checked_sub(1)
                    .and_then(|p| parsed[p].as_ref().ok())
                    .map_or(Some(record.id.clone()), |r| Some(r.id.clone())),
                kind,
                message,
            });
        }
        if entry.split().map(|(summary, _)| summary) != Some(record.summary().as_str()) {
            return Some(at(
                position,
                TamperKind::Edited,
                Some(record),
                format!(
                    "the summary line of record #{position} ({}, commit {short}) was edited: it should read `{}`",
                    record.id,
                    record.summary()
                ),
            ));
        }
    }
    None
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger is off: {0}")]
    Off(String),
    #[error("who are you? the ledger records each action under git's user.email, and {} has none: `git config user.email you@example.com` there (or globally)", .repo.display())]
    NoIdentity { repo: std::path::PathBuf },
    #[error("{0}")]
    Config(String),
    #[error("no request `{id}` in the ledger{hint}")]
    UnknownRequest { id: String, hint: String },
    #[error("refused: {0}")]
    Refused(String),
    #[error("refused: the ledger fails verification: {0} (see `gantry audit verify`)")]
    Tampered(Tamper),
    #[error("ledger: {context}: {message}")]
    Git { context: String, message: String },
    /// A step the action depends on failed outside the ledger (resolving the image, a
    /// registry); the engine converts its errors into this.
    #[error("{message}")]
    Step { message: String, exit_code: i32 },
}

impl LedgerError {
    /// 1 registry or network, 2 invalid input or a git problem, 3 refused by a rule.
    pub fn exit_code(&self) -> i32 {
        match self {
            LedgerError::Refused(_) | LedgerError::Tampered(_) => 3,
            LedgerError::Step { exit_code, .. } => *exit_code,
            _ => 2,
        }
    }

    pub(crate) fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> LedgerError {
        let context = context.into();
        move |e| LedgerError::Git {
            context,
            message: e.message().to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
