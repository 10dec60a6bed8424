//! Rollback: point an environment's mutable tag back at an image it already holds.

use super::{Engine, EngineError};
use crate::domain::Digest;

/// What a rollback did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollbackOutcome {
    pub service: String,
    pub environment: String,
    pub tag: String,
    pub from: Option<Digest>,
    pub to: Digest,
    /// The immutable tag of the image rolled back to.
    pub image_tag: String,
    /// The ledger record of a rollback that moved the tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<super::ledger::LedgerNote>,
    /// The environment's deploy step, re-run with the digest rolled back to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::deploy::DeployOutcome>,
}

impl RollbackOutcome {
    pub fn summary(&self) -> String {
        format!(
            "rolled back {} in {}: {} -> {} ({})",
            self.service,
            self.environment,
            self.from.as_ref().map_or("nothing", |d| d.short()),
            self.to.short(),
            self.image_tag
        )
    }
}

impl Engine {
    /// The digest `reference` (a tag) names in `env`; an unknown tag is invalid input.
    pub async fn digest_in(
        &self,
        env: &crate::config::Environment,
        service: &crate::config::Service,
        reference: &str,
    ) -> Result<Digest, EngineError> {
        let client = self.client(&env.name)?;
        match client
            .head_manifest(&env.repository(service), reference)
            .await?
        {
            Some(head) => Ok(head.digest),
            None => Err(EngineError::Input(format!(
                "{}: no image `{reference}` in {}",
                env.image_name(service),
                env.name
            ))),
        }
    }

    /// Moves `env`'s mutable tag for `service` to `to`, which must already be in `env`
    /// under an immutable tag: nothing is copied, only the tag moves, under the same lock
    /// and re-check as a promotion.
    pub async fn rollback(
        &self,
        service: &str,
        env: &str,
        to: &Digest,
    ) -> Result<RollbackOutcome, EngineError> {
        let service = self.config.service(service)?.clone();
        let env = self.config.environment(env)?.clone();
        if env.readonly {
            return Err(EngineError::Refused(format!(
                "{} is read-only in the configuration: gantry does not write to it",
                env.name
            )));
        }
        let mutable = env.mutable_tag.clone().ok_or_else(|| {
            EngineError::Input(format!(
                "{} has no mutable_tag: there is nothing to roll back, each image is addressed by its own tag",
                env.name
            ))
        })?;
        let client = self.client(&env.name)?;
        let repository = env.repository(&service);
        let manifest = match client.get_manifest(&repository, to.as_str()).await {
            Ok(m) => m,
            Err(e) if e.is_not_found() => {
                return Err(EngineError::Input(format!(
                    "{} is not in {} ({}): promote it there instead",
                    to,
                    env.name,
                    env.image_name(&service)
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let image_tag = self.immutable_tag_of(client, &env, &service, to).await?;
        let _lock = self.lock_repository(
            &env,
            &service,
            format_args!("rollback of {} to {}", service.name, image_tag),
        )?;
        let from = client
            .head_manifest(&repository, &mutable)
            .await?
            .map(|h| h.digest);
        if from.as_ref() != Some(to) {
            client
                .put_manifest(&repository, &mutable, &manifest)
                .await?;
        }
        let image_name = env.image_name(&service);
        let outcome = RollbackOutcome {
            service: service.name,
            environment: env.name,
            tag: mutable,
            from,
            to: to.clone(),
            image_tag,
            ledger: None,
            deploy: None,
        };
        let mut outcome = self.note_rollback(outcome).await;
        // Still under the lock: the environment is pointed back before anyone promotes again.
        let request = crate::deploy::Request {
            service: outcome.service.clone(),
            environment: outcome.environment.clone(),
            image_name,
            tag: outcome.image_tag.clone(),
            digest: outcome.to.clone(),
            reason: crate::deploy::Reason::Rollback,
            ledger_record: outcome.ledger.as_ref().and_then(|l| l.record.clone()),
        };
        outcome.deploy = self.deploy_step(self.new_job(), &request, false).await;
        Ok(outcome)
    }
}
