//! Carrying out a retention plan: each image re-checked against the registry as it is now,
//! deleted by digest with the platform manifests only it used and its cosign signatures,
//! then recorded in the ledger. A registry that refuses deletion or fails stops the run,
//! and the outcome says what was and was not deleted; running again continues.

use std::collections::HashSet;

use super::super::{Engine, EngineError, EventKind, JobId};
use crate::domain::Digest;
use crate::ledger::{LedgerError, NewRecord, RecordKind};
use crate::registry::{RegistryClient, RegistryError};
use crate::retention::execute::{
    delete, failure_of, mutable_tag_on, stop_at, DeletedImage, RetentionOutcome, SkippedImage,
};
use crate::retention::listing::{describe, read_listing, Listing};
use crate::retention::{attachment_tags, PlannedImage, RetentionError, RetentionPlan};

/// Whether the ledger takes records; learnt from the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ledger {
    Unknown,
    On,
    Off,
}

impl Engine {
    /// Carries out `plan`: re-checks, deletes, records. `Err` only when nothing was tried
    /// (a read-only environment, another gantry writing the repository, a registry that
    /// cannot be read); a run that stops midway is an outcome with a `failure`.
    pub async fn execute_retention(
        &self,
        plan: &RetentionPlan,
    ) -> Result<RetentionOutcome, RetentionError> {
        let job = self.new_job();
        self.execute_retention_as(job, plan).await
    }

    /// `execute_retention` under a job id the caller chose (the console tracks its jobs):
    /// Started, a Deleted per image deleted, then Finished or Failed.
    pub async fn execute_retention_as(
        &self,
        job: JobId,
        plan: &RetentionPlan,
    ) -> Result<RetentionOutcome, RetentionError> {
        self.emit(
            job,
            EventKind::Started {
                label: format!("clean up {} in {}", plan.service, plan.environment),
            },
        );
        let result = self.run_plan(job, plan).await;
        let end = match &result {
            Ok(outcome) => match &outcome.failure {
                None => Ok(outcome.summary()),
                Some(failure) => Err((
                    format!("{}; {}", failure.message, outcome.summary()),
                    failure.exit_code,
                )),
            },
            Err(e) => Err((e.to_string(), e.exit_code())),
        };
        self.finish(job, end);
        result
    }

    async fn run_plan(
        &self,
        job: JobId,
        plan: &RetentionPlan,
    ) -> Result<RetentionOutcome, RetentionError> {
        let config = self.config();
        let env = config
            .environment(&plan.environment)
            .map_err(EngineError::from)?;
        let service = config.service(&plan.service).map_err(EngineError::from)?;
        if env.readonly {
            return Err(RetentionError::Refused(format!(
                "{} is read-only in the configuration: gantry deletes nothing there",
                env.name
            )));
        }
        let mut outcome = RetentionOutcome {
            service: plan.service.clone(),
            environment: plan.environment.clone(),
            repository: plan.repository.clone(),
            deleted: Vec::new(),
            kept: Vec::new(),
            not_deleted: Vec::new(),
            orphan_signatures_deleted: Vec::new(),
            failure: None,
            ledger_warnings: Vec::new(),
        };
        if plan.is_noop() {
            return Ok(outcome);
        }
        // Promotions into this repository hold the same lock: none moves a tag mid-run.
        let _lock = self
            .lock_repository(
                env,
                service,
                format_args!(
                    "cleaning up {} in {}, since {}",
                    service.name,
                    env.name,
                    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
                ),
            )
            .map_err(EngineError::from)?;
        let client = self.client(&env.name)?;
        // The registry as it is now, not as it was when the plan was made.
        let now = read_listing(client, env, service).await?;
        let tags_now = now.by_digest();
        let shared = self.children_in_use(client, &now, plan).await?;
        let mutable_tags = self.mutable_tag_names();
        let mut ledger = Ledger::Unknown;

        let order: Vec<&PlannedImage> = plan.delete.iter().rev().collect();
        for (i, image) in order.iter().enumerate() {
            let current = tags_now.get(&image.digest).cloned().unwrap_or_default();
            let added: Vec<&String> = current.iter().filter(|t| !image.tags.contains(t)).collect();
            if !added.is_empty() {
                outcome.kept.push(SkippedImage {
                    digest: image.digest.clone(),
                    tags: current.clone(),
                    reason: format!(
                        "tagged {} since the plan: left alone",
                        added
                            .iter()
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
                continue;
            }
            // A last look at the tags that move, right before the point of no return.
            match mutable_tag_on(client, &now.repository, &mutable_tags, &image.digest).await {
                Ok(Some(tag)) => {
                    outcome.kept.push(SkippedImage {
                        digest: image.digest.clone(),
                        tags: image.tags.clone(),
                        reason: format!("`{tag}` points at it now: left alone"),
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    outcome.failure = Some(failure_of(&e, &env.registry));
                    stop_at(&mut outcome, &order[i..], "its tags could not be checked");
                    break;
                }
            }
            if let Err(e) = delete(client, &now.repository, &image.digest).await {
                outcome.failure = Some(failure_of(&e, &env.registry));
                stop_at(
                    &mut outcome,
                    &order[i..],
                    "the registry refused or failed to delete it",
                );
                break;
            }
            let mut deleted = DeletedImage {
                digest: image.digest.clone(),
                tags: image.tags.clone(),
                signatures: Vec::new(),
                children: Vec::new(),
                ledger: None,
            };
            let leftovers = self
                .delete_remains(client, &now, image, &shared, &mut deleted)
                .await;
            self.emit(
                job,
                EventKind::Deleted {
                    image: format!(
                        "{}:{} ({})",
                        plan.service,
                        image.tags.join(","),
                        image.digest.short()
                    ),
                },
            );
            self.record_deletion(plan, image, &mut deleted, &mut ledger, &mut outcome)
                .await;
            outcome.deleted.push(deleted);
            if let Err((e, what)) = leftovers {
                let mut failure = failure_of(&e, &env.registry);
                failure.message = format!(
                    "{} was deleted, but not {what}: {}",
                    image.digest, failure.message
                );
                outcome.failure = Some(failure);
                stop_at(
                    &mut outcome,
                    &order[i + 1..],
                    "not reached: the run stopped first",
                );
                break;
            }
        }
        if outcome.failure.is_none() {
            self.delete_orphans(client, &now, plan, &mut ledger, &mut outcome)
                .await;
        }
        Ok(outcome)
    }

    /// Platform manifests that must stay: those of images not being deleted, including
    /// images pushed since the plan.
    async fn children_in_use(
        &self,
        client: &RegistryClient,
        now: &Listing,
        plan: &RetentionPlan,
    ) -> Result<HashSet<Digest>, RegistryError> {
        let deleting: HashSet<&Digest> = plan.delete.iter().map(|i| &i.digest).collect();
        let planned: HashSet<&Digest> = plan
            .keep
            .iter()
            .chain(plan.delete.iter())
            .map(|i| &i.digest)
            .collect();
        let mut in_use: HashSet<Digest> = now.digests.values().cloned().collect();
        for digest in now.digests.values().collect::<HashSet<_>>() {
            // Children of planned images were weighed by the planner; new ones are read now.
            if planned.contains(digest) || deleting.contains(digest) {
                continue;
            }
            if let Some((_, children)) = describe(client, &now.repository, digest, false).await? {
                in_use.extend(children);
            }
        }
        Ok(in_use)
    }

    fn mutable_tag_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .config()
            .environments
            .iter()
            .filter_map(|e| e.mutable_tag.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Deletes an image's platform manifests and signatures; on failure says which part
    /// was left.
    async fn delete_remains(
        &self,
        client: &RegistryClient,
        now: &Listing,
        image: &PlannedImage,
        shared: &HashSet<Digest>,
        deleted: &mut DeletedImage,
    ) -> Result<(), (RegistryError, String)> {
        for child in image.children.iter().filter(|c| !shared.contains(*c)) {
            delete(client, &now.repository, child).await.map_err(|e| {
                (
                    e,
                    format!("its platform manifest {child} (untagged now; delete it by digest)"),
                )
            })?;
            deleted.children.push(child.clone());
        }
        // Signatures of the image, and of any platform manifest that went with it.
        let present: HashSet<&String> = std::iter::once(&image.digest)
            .chain(deleted.children.iter())
            .filter_map(|d| now.attachments.get(d))
            .flatten()
            .chain(image.signatures.iter())
            .collect();
        let candidates: Vec<String> = std::iter::once(&image.digest)
            .chain(deleted.children.iter())
            .flat_map(attachment_tags)
            .collect();
        for tag in candidates {
            if !present.contains(&tag) {
                continue;
            }
            let what = || format!("its signature {tag} (a rerun deletes it)");
            let head = client
                .head_manifest(&now.repository, &tag)
                .await
                .map_err(|e| (e, what()))?;
            if let Some(head) = head {
                delete(client, &now.repository, &head.digest)
                    .await
                    .map_err(|e| (e, what()))?;
                deleted.signatures.push(tag);
            }
        }
        Ok(())
    }

    /// Signatures whose image was already gone when the plan was made.
    async fn delete_orphans(
        &self,
        client: &RegistryClient,
        now: &Listing,
        plan: &RetentionPlan,
        ledger: &mut Ledger,
        outcome: &mut RetentionOutcome,
    ) {
        let registry = self
            .config()
            .environment(&plan.environment)
            .map(|e| e.registry.clone())
            .unwrap_or_default();
        for orphan in &plan.orphan_signatures {
            let result = async {
                if client
                    .head_manifest(&now.repository, orphan.subject.as_str())
                    .await?
                    .is_some()
                {
                    return Ok(false);
                }
                match client.head_manifest(&now.repository, &orphan.tag).await? {
                    Some(head) => delete(client, &now.repository, &head.digest)
                        .await
                        .map(|()| true),
                    None => Ok(false),
                }
            }
            .await;
            match result {
                Ok(true) => {
                    outcome.orphan_signatures_deleted.push(orphan.tag.clone());
                    let new = NewRecord {
                        kind: RecordKind::Deletion,
                        service: Some(plan.service.clone()),
                        environment: Some(plan.environment.clone()),
                        digest: Some(orphan.subject.clone()),
                        tag: Some(orphan.tag.clone()),
                        details: serde_json::json!({
                            "repository": plan.repository,
                            "signature": orphan.digest,
                            "rule": orphan.decision.name(),
                        }),
                    };
                    self.append_deletion(new, ledger, outcome).await;
                }
                Ok(false) => {}
                Err(e) => {
                    outcome.failure = Some(failure_of(&e, &registry));
                    return;
                }
            }
        }
    }

    async fn record_deletion(
        &self,
        plan: &RetentionPlan,
        image: &PlannedImage,
        deleted: &mut DeletedImage,
        ledger: &mut Ledger,
        outcome: &mut RetentionOutcome,
    ) {
        let prefix = &self.config().tags.prefix;
        let tag = image
            .tags
            .iter()
            .find(|t| t.starts_with(prefix.as_str()))
            .or(image.tags.first())
            .cloned();
        let new = NewRecord {
            kind: RecordKind::Deletion,
            service: Some(plan.service.clone()),
            environment: Some(plan.environment.clone()),
            digest: Some(image.digest.clone()),
            tag,
            details: serde_json::json!({
                "repository": plan.repository,
                "tags": image.tags,
                "rule": image.decision.name(),
                "reason": image.reason,
                "signatures": deleted.signatures,
                "policy": plan.policy.summary(),
            }),
        };
        deleted.ledger = self.append_deletion(new, ledger, outcome).await;
    }

    /// Appends one deletion record; a ledger that is off is left alone without a word.
    async fn append_deletion(
        &self,
        new: NewRecord,
        ledger: &mut Ledger,
        outcome: &mut RetentionOutcome,
    ) -> Option<String> {
        if *ledger == Ledger::Off {
            return None;
        }
        let what = format!(
            "{}@{}",
            new.service.as_deref().unwrap_or("-"),
            new.digest.as_ref().map(Digest::short).unwrap_or("-")
        );
        match self.record(new).await {
            Ok(appended) => {
                *ledger = Ledger::On;
                if let Some(warning) = appended.warning {
                    outcome.ledger_warnings.push(warning);
                }
                Some(appended.record.id)
            }
            Err(LedgerError::Off(_)) => {
                *ledger = Ledger::Off;
                None
            }
            Err(e) => {
                outcome.ledger_warnings.push(format!(
                    "deletion of {what} not recorded in the ledger: {e}"
                ));
                None
            }
        }
    }
}
