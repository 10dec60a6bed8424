//! What a retention run did (deleted, kept, not deleted, why it stopped) and the registry
//! side of deleting: by digest, since Distribution refuses deletion by tag, with an image
//! already gone counting as done so a rerun continues where the last one stopped.
//! `crate::engine::retention` runs the plan.

use serde::Serialize;

use super::PlannedImage;
use crate::domain::Digest;
use crate::registry::{RegistryClient, RegistryError};

/// An image that was deleted.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedImage {
    pub digest: Digest,
    pub tags: Vec<String>,
    /// Signature and attestation tags deleted with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
    /// Platform manifests deleted with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Digest>,
    /// The ledger record of the deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<String>,
}

/// An image of the plan that was not deleted, and why.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedImage {
    pub digest: Digest,
    pub tags: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The registry does not allow deleting manifests (405 / UNSUPPORTED).
    DeletionDisabled,
    /// Anything else: network, permissions, a registry error.
    Registry,
}

/// Why a run stopped before the end of its plan.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionFailure {
    pub kind: FailureKind,
    pub message: String,
    pub exit_code: i32,
}

/// What carrying out a plan did.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionOutcome {
    pub service: String,
    pub environment: String,
    pub repository: String,
    /// In the order deleted: oldest first.
    pub deleted: Vec<DeletedImage>,
    /// Planned for deletion, but protected by the time its turn came (a tag moved onto it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<SkippedImage>,
    /// Planned, and not deleted because the run stopped first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_deleted: Vec<SkippedImage>,
    /// Signatures whose image was already gone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orphan_signatures_deleted: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<ExecutionFailure>,
    /// Deletions that happened but could not be recorded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ledger_warnings: Vec<String>,
}

impl RetentionOutcome {
    /// 0 all done, 1 a registry failure (the run stopped midway), 3 deletion disabled.
    pub fn exit_code(&self) -> i32 {
        self.failure.as_ref().map_or(0, |f| f.exit_code)
    }

    pub fn summary(&self) -> String {
        let signatures: usize = self
            .deleted
            .iter()
            .map(|d| d.signatures.len())
            .sum::<usize>()
            + self.orphan_signatures_deleted.len();
        let mut text = format!(
            "{} in {}: {} deleted",
            self.service,
            self.environment,
            self.deleted.len()
        );
        if signatures > 0 {
            text.push_str(&format!(" ({signatures} signature(s))"));
        }
        if !self.kept.is_empty() {
            text.push_str(&format!(
                ", {} kept (protected since the plan)",
                self.kept.len()
            ));
        }
        if !self.not_deleted.is_empty() {
            text.push_str(&format!(", {} not deleted", self.not_deleted.len()));
        }
        text
    }
}

/// True when the registry says deleting is not allowed at all.
pub(crate) fn deletion_disabled(e: &RegistryError) -> bool {
    match e {
        RegistryError::Status {
            status, message, ..
        } => *status == 405 || message.starts_with("UNSUPPORTED"),
        RegistryError::Exhausted { last, .. } => deletion_disabled(last),
        _ => false,
    }
}

pub(crate) fn failure_of(e: &RegistryError, registry: &str) -> ExecutionFailure {
    if deletion_disabled(e) {
        ExecutionFailure {
            kind: FailureKind::DeletionDisabled,
            message: format!(
                "{registry}: deletion is disabled on this registry (storage.delete.enabled: true in its config) ({e})"
            ),
            exit_code: 3,
        }
    } else {
        ExecutionFailure {
            kind: FailureKind::Registry,
            message: e.to_string(),
            exit_code: 1,
        }
    }
}

/// DELETE by digest; already gone counts as done, so a rerun never trips on its own work.
pub(crate) async fn delete(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
) -> Result<(), RegistryError> {
    match client.delete_manifest(repository, digest).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// The mutable tag (of any environment) that points at `digest` right now, if one does.
pub(crate) async fn mutable_tag_on(
    client: &RegistryClient,
    repository: &str,
    names: &[String],
    digest: &Digest,
) -> Result<Option<String>, RegistryError> {
    for name in names {
        if let Some(head) = client.head_manifest(repository, name).await? {
            if head.digest == *digest {
                return Ok(Some(name.clone()));
            }
        }
    }
    Ok(None)
}

/// Lists `rest` as not deleted: the first for `first`, the others as never reached.
pub(crate) fn stop_at(outcome: &mut RetentionOutcome, rest: &[&PlannedImage], first: &str) {
    outcome
        .not_deleted
        .extend(rest.iter().enumerate().map(|(i, image)| SkippedImage {
            digest: image.digest.clone(),
            tags: image.tags.clone(),
            reason: if i == 0 {
                first.to_string()
            } else {
                "not reached: the run stopped first".to_string()
            },
        }));
}
