//! Retention: clean-up plans that know what is deployed.
//!
//! Per environment, a policy (`[environment.retention]`) says how many images to keep and
//! how old they may get; gantry adds what no registry's own retention knows: what every
//! environment's mutable tag points at and runs, the heads of open release and hotfix
//! branches, what the ledger says was promoted to an environment that keeps its images
//! for years (`retain_promoted`), and images too young to judge. The pieces:
//!
//! - `crate::config::retention`: the settings, validated with file:line:col;
//! - [`plan`]: a pure function from images, git places and protections to decisions;
//! - [`listing`] and [`places`]: reading a registry's tags and git's places into the
//!   planner's input;
//! - [`execute`]: what a run did, and deleting by digest (registries refuse deletion by
//!   tag);
//! - `crate::engine::retention`: the runs themselves, combining registries, git and the
//!   ledger, re-checking each image first and recording each deletion.

pub mod execute;
pub(crate) mod listing;
pub(crate) mod places;
pub mod plan;

use serde::Serialize;

use crate::domain::Digest;
use crate::git::GitError;
use crate::ledger::LedgerError;
use crate::registry::RegistryError;

pub use crate::config::retention::RetentionPolicy;
pub use crate::domain::duration::RetentionDuration;
pub use crate::domain::pattern::TagPattern;
pub use execute::{DeletedImage, ExecutionFailure, FailureKind, RetentionOutcome, SkippedImage};
pub use plan::{Decision, Image, Place, Protection, Rule, Target};

/// Suffixes of the tags cosign hangs on an image (`sha256-<hex>.sig` and the like).
const ATTACHMENTS: [&str; 3] = ["sig", "att", "sbom"];

/// How to get the space back, said after every run that deleted something.
pub const RECLAIM_HINT: &str = "Deleting manifests frees no disk space by itself: the registry's garbage collection removes the blobs no manifest references any more.
  Distribution (docker-registry): stop it or set storage.maintenance.readonly.enabled: true, then run
    docker-registry garbage-collect /etc/docker/registry/config.yml
  (upstream binary: registry garbage-collect <config>), and restart it writable.
  Harbor: Administration > Garbage Collection (run now or on a schedule). ECR, Artifact Registry, GHCR: the registry reclaims space itself.";

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A step outside retention failed (an unknown service, a lock); the engine converts
    /// its errors into this.
    #[error("{message}")]
    Step { message: String, exit_code: i32 },
    #[error(transparent)]
    Git(#[from] GitError),
    /// An environment retains promoted images and the ledger that dates promotions
    /// cannot be read: what it protects is unknown, so nothing is planned.
    #[error("{context}: {source}")]
    Ledger {
        context: String,
        #[source]
        source: Box<LedgerError>,
    },
    /// Another environment's registry could not be read: what it runs is unknown.
    #[error("{0}")]
    Unreadable(String),
    /// Bad input: an environment without a policy, say.
    #[error("{0}")]
    Input(String),
    /// Refused before anything was deleted (a read-only environment, a busy lock).
    #[error("refused: {0}")]
    Refused(String),
}

impl RetentionError {
    /// 1 registry or network, 2 invalid input or configuration, 3 refused.
    pub fn exit_code(&self) -> i32 {
        match self {
            RetentionError::Registry(e) => e.exit_code(),
            RetentionError::Step { exit_code, .. } => *exit_code,
            RetentionError::Git(e) => e.exit_code(),
            RetentionError::Ledger { source, .. } => match source.as_ref() {
                LedgerError::Tampered(_) => 3,
                other => other.exit_code(),
            },
            RetentionError::Unreadable(_) => 1,
            RetentionError::Input(_) => 2,
            RetentionError::Refused(_) => 3,
        }
    }
}

/// One image in a plan, with the rule that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedImage {
    pub digest: Digest,
    /// Every tag on the digest: deleting it deletes them all.
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// cosign signatures (and attestations) hanging on it, deleted with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
    /// Platform manifests of an index that no kept image shares: deleted with it, or the
    /// registry's garbage collection would keep their layers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Digest>,
    pub decision: Rule,
    /// The decision in words.
    pub reason: String,
    /// Other protections that hold too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Rule>,
}

impl PlannedImage {
    /// The commit tags first, as people name an image.
    pub fn label(&self, prefix: &str) -> String {
        let mut tags: Vec<&str> = self.tags.iter().map(String::as_str).collect();
        tags.sort_by_key(|t| (!t.starts_with(prefix), *t));
        tags.join(" ")
    }
}

/// A signature whose image is gone: an earlier run stopped between the two deletions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedSignature {
    pub tag: String,
    pub digest: Digest,
    pub subject: Digest,
    pub decision: Rule,
}

/// What a clean-up of one service in one environment would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionPlan {
    pub service: String,
    pub environment: String,
    /// `host/repository`.
    pub repository: String,
    pub policy: RetentionPolicy,
    pub planned_at: String,
    /// Newest first; carried out oldest first.
    pub delete: Vec<PlannedImage>,
    /// Newest first.
    pub keep: Vec<PlannedImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orphan_signatures: Vec<PlannedSignature>,
    /// What the plan could not know, and what it assumed instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl RetentionPlan {
    pub fn is_noop(&self) -> bool {
        self.delete.is_empty() && self.orphan_signatures.is_empty()
    }

    /// `payment-svc in dev: 3 to delete (2 signature(s)), 31 kept`, for confirmations and logs.
    pub fn summary(&self) -> String {
        format!(
            "{} in {}: {}",
            self.service,
            self.environment,
            self.counts()
        )
    }

    /// `3 to delete (2 signature(s)), 31 kept`: the summary where the place is already said.
    pub fn counts(&self) -> String {
        let signatures: usize = self
            .delete
            .iter()
            .map(|i| i.signatures.len())
            .sum::<usize>()
            + self.orphan_signatures.len();
        let mut text = format!("{} to delete", self.delete.len());
        if signatures > 0 {
            text.push_str(&format!(" ({signatures} signature(s))"));
        }
        text.push_str(&format!(", {} kept", self.keep.len()));
        text
    }
}

/// A plan, or why there is none, for one service in one environment.
#[derive(Debug, Serialize)]
pub struct PlanResult {
    pub service: String,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<RetentionPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub exit_code: i32,
}

/// The subject of a cosign attachment tag: `sha256-<hex>.sig` -> `sha256:<hex>`.
pub fn attachment_subject(tag: &str) -> Option<Digest> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = rest.split_once('.')?;
    if !ATTACHMENTS.contains(&suffix) {
        return None;
    }
    format!("sha256:{hex}").parse().ok()
}

/// The attachment tags cosign would use for `digest`.
pub fn attachment_tags(digest: &Digest) -> Vec<String> {
    ATTACHMENTS
        .iter()
        .map(|suffix| format!("sha256-{}.{suffix}", digest.hex()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_tags_name_their_subject() {
        let digest = Digest::of(b"image");
        for tag in attachment_tags(&digest) {
            assert_eq!(attachment_subject(&tag), Some(digest.clone()), "{tag}");
        }
        assert_eq!(attachment_subject("sha-2b2e927"), None);
        assert_eq!(
            attachment_subject(&format!("sha256-{}.txt", digest.hex())),
            None
        );
        assert_eq!(attachment_subject("sha256-abc.sig"), None);
    }
}
