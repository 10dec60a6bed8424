//! The engine's supply-chain side: promotion attestations written after a promotion into
//! an `attest = true` environment, checked by `gantry verify` and the `attested_by` gate;
//! what an image carries (`images --json`, the console) and its SBOM (`gantry sbom`).

use bytes::Bytes;
use serde::Serialize;

use super::{Engine, EngineError, Plan};
use crate::attestation as att;
use crate::attestation::attached::{self, Attached};
use crate::attestation::promotion::{
    self, GateEvidence, Location, PromotionCheck, PromotionPredicate,
};
use crate::domain::{media, Digest};
use crate::gates::{GateOutcome, GateResult};
use crate::registry::referrers::describe_referrer;
use crate::registry::RawManifest;

/// The promotion attestation of one promotion, or why there is none.
#[derive(Debug, Clone, Serialize)]
pub struct AttestationNote {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Engine {
    /// Attaches a signed promotion statement to the promoted digest in the target. After
    /// the promotion, like the ledger record it names: a failure is a warning on a
    /// promotion that happened (and the `attested_by` gate downstream will say so).
    pub(crate) async fn attest_promotion(
        &self,
        plan: &Plan,
        record: Option<&str>,
    ) -> AttestationNote {
        match self.write_attestation(plan, record).await {
            Ok(manifest) => AttestationNote {
                manifest: Some(manifest),
                warning: None,
            },
            Err(e) => AttestationNote {
                manifest: None,
                warning: Some(format!("the promotion attestation was not attached: {e}")),
            },
        }
    }

    async fn write_attestation(
        &self,
        plan: &Plan,
        record: Option<&str>,
    ) -> Result<Digest, EngineError> {
        let key = self.signing_key().await?;
        let approvers = match self
            .approvals_for(&plan.service, &plan.digest, &plan.to)
            .await
        {
            Ok(state) => state.approvers.into_iter().map(|a| a.actor).collect(),
            Err(_) => Vec::new(),
        };
        let predicate = PromotionPredicate {
            environment: plan.to.clone(),
            source: Location {
                environment: plan.from.clone(),
                repository: plan.source.clone(),
            },
            target: Location {
                environment: plan.to.clone(),
                repository: plan.target.clone(),
            },
            digest: plan.digest.clone(),
            tag: plan.tag.clone(),
            gates: plan
                .gates
                .iter()
                .filter_map(|g| match &g.outcome {
                    GateOutcome::Pass { detail } => Some(GateEvidence {
                        gate: g.gate.clone(),
                        evidence: detail.clone(),
                    }),
                    GateOutcome::Blocked { .. } => None,
                })
                .collect(),
            approvers,
            ledger_record: record.map(str::to_string),
            promoted_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        };
        let statement = predicate.statement().map_err(EngineError::Input)?;
        let envelope =
            att::seal(&statement, &key).map_err(|e| EngineError::Input(e.to_string()))?;
        let client = self.client(&plan.to)?;
        let repository = &plan.target_repository;
        let raw = artifact_manifest(
            &plan.top,
            envelope.into(),
            promotion::PREDICATE_TYPE,
            client,
            repository,
        )
        .await?;
        let (_, descriptor) = describe_referrer(&raw).map_err(EngineError::Input)?;
        client
            .put_referrer(repository, &plan.digest, &raw, &descriptor)
            .await?;
        Ok(raw.digest)
    }

    /// Every promotion attestation on `digest` in `env`, checked with the keys trusted there
    /// (or `keys`).
    pub async fn verify_provenance(
        &self,
        service: &str,
        env: &str,
        digest: &Digest,
        keys: Option<Vec<crate::signing::PublicKey>>,
    ) -> Result<Vec<PromotionCheck>, EngineError> {
        let svc = self.config().service(service)?;
        let environment = self.config().environment(env)?;
        let keys = match keys {
            Some(keys) => keys,
            None => self.trusted_keys(env).await?,
        };
        Ok(attached::promotion_checks(
            self.client(env)?,
            &environment.repository(svc),
            digest,
            &keys,
        )
        .await?)
    }

    /// The `attested_by` gate: the image in the source carries a valid promotion
    /// attestation of each named environment, signed by a key trusted in the target.
    pub(crate) async fn attested_gate(&self, plan: &Plan, stages: &[String]) -> GateResult {
        let keys = match self.trusted_keys(&plan.to).await {
            Ok(keys) => keys,
            Err(e) => {
                return GateResult::blocked(
                    "attested_by",
                    e.to_string(),
                    "[signing] public_keys or verify_keys",
                )
            }
        };
        let checks = match self
            .verify_provenance(&plan.service, &plan.from, &plan.digest, Some(keys))
            .await
        {
            Ok(checks) => checks,
            Err(e) => {
                return GateResult::blocked("attested_by", e.to_string(), "a registry that answers")
            }
        };
        let missing: Vec<&String> = stages
            .iter()
            .filter(|stage| !checks.iter().any(|c| c.proves(stage)))
            .collect();
        if missing.is_empty() {
            GateResult::pass(
                "attested_by",
                format!(
                    "promotion attestations of {} signed by {}",
                    stages.join(", "),
                    checks
                        .iter()
                        .filter(|c| c.problem.is_none())
                        .flat_map(|c| c.signed_by.iter().cloned())
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        } else {
            GateResult::blocked(
                "attested_by",
                format!(
                    "{}@{} has no valid promotion attestation of {}",
                    plan.source,
                    plan.digest.short(),
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "promote it through those environments with attest = true",
            )
        }
    }

    /// The scan gate's report when it reads the image's vulnerability attestation: the
    /// newest one in the source, signed by a key trusted in the target.
    pub(crate) async fn attested_scan_report(&self, plan: &Plan) -> Result<Vec<u8>, String> {
        let keys = self
            .trusted_keys(&plan.to)
            .await
            .map_err(|e| e.to_string())?;
        let client = self.client(&plan.from).map_err(|e| e.to_string())?;
        match attached::vulnerability_report(client, &plan.source_repository, &plan.digest, &keys)
            .await
        {
            Ok(Some(report)) if !report.summary.signed_by.is_empty() => Ok(report.report),
            Ok(Some(report)) => Err(format!(
                "the vulnerability attestation {} is not signed by a key trusted in {}",
                report.manifest.short(),
                plan.to
            )),
            Ok(None) => Err(format!(
                "no vulnerability attestation is attached to {}@{}",
                plan.source,
                plan.digest.short()
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// What `service@digest` carries in `env`.
    pub async fn attached(
        &self,
        service: &str,
        env: &str,
        digest: &Digest,
    ) -> Result<Attached, EngineError> {
        let svc = self.config().service(service)?;
        let environment = self.config().environment(env)?;
        let keys = self.trusted_keys(env).await.unwrap_or_default();
        let client = self.client(env)?;
        let repository = environment.repository(svc);
        let top = client.get_manifest(&repository, digest.as_str()).await?;
        Ok(attached::read(client, &repository, &top, &keys).await?)
    }

    /// The SBOM attached to `service@digest` in `env` (`format`: SPDX or CycloneDX).
    pub async fn sbom(
        &self,
        service: &str,
        env: &str,
        digest: &Digest,
        format: Option<&str>,
    ) -> Result<Option<(String, Bytes)>, EngineError> {
        let svc = self.config().service(service)?;
        let environment = self.config().environment(env)?;
        let client = self.client(env)?;
        let repository = environment.repository(svc);
        let top = client.get_manifest(&repository, digest.as_str()).await?;
        Ok(attached::sbom_document(client, &repository, &top, format).await?)
    }
}

/// An OCI 1.1 artifact holding `envelope` with `subject` as its subject: blobs pushed,
/// the manifest returned (not pushed).
async fn artifact_manifest(
    subject: &RawManifest,
    envelope: Bytes,
    predicate_type: &str,
    client: &crate::registry::RegistryClient,
    repository: &str,
) -> Result<RawManifest, EngineError> {
    let empty = Bytes::from_static(b"{}");
    let empty_digest = Digest::of(&empty);
    let layer_digest = Digest::of(&envelope);
    let layer_size = envelope.len();
    crate::signing::remote::put_blob(client, repository, &empty_digest, empty).await?;
    crate::signing::remote::put_blob(client, repository, &layer_digest, envelope).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": att::DSSE,
        "config": {"mediaType": att::EMPTY_CONFIG, "digest": empty_digest, "size": 2},
        "layers": [{
            "mediaType": att::DSSE,
            "digest": layer_digest,
            "size": layer_size,
            "annotations": {att::PREDICATE_ANNOTATION: predicate_type},
        }],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.bytes.len()},
        "annotations": {
            att::PREDICATE_ANNOTATION: predicate_type,
            "org.opencontainers.image.created": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        },
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| EngineError::Input(e.to_string()))?;
    Ok(RawManifest {
        digest: Digest::of(&bytes),
        media_type: media::OCI_MANIFEST.to_string(),
        bytes: Bytes::from(bytes),
    })
}
