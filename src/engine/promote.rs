//! Promotions as jobs: checking a request, planning it (gates included), copying, tagging,
//! recording overrides and the promotion in the ledger, then the deploy step.

use std::sync::Arc;

use super::{
    copy, plan, Counters, Engine, EngineError, EngineEvent, EventKind, JobId, Plan, Progress,
    PromotionOutcome, PromotionRequest, Step, PROGRESS_INTERVAL,
};
use crate::config::Environment;

/// Copies at least this large take an image slot (`[copy] parallel_images`).
const LARGE_IMAGE_BYTES: u64 = 64 * 1024 * 1024;

impl Engine {
    /// Validates a request without touching the network: known service and environments.
    pub fn check_request(&self, request: &PromotionRequest) -> Result<(), EngineError> {
        self.config.service(request.selector.service())?;
        self.config.environment(&request.from)?;
        self.config.environment(&request.to)?;
        Ok(())
    }

    /// Plans a promotion and, unless `dry_run`, carries it out. Emits events for the job.
    pub async fn promote(
        &self,
        request: &PromotionRequest,
        dry_run: bool,
    ) -> Result<PromotionOutcome, EngineError> {
        self.promote_as(self.new_job(), request, dry_run).await
    }

    /// The plan of a promotion, refusal included, without running it or emitting events.
    pub async fn plan_only(&self, request: &PromotionRequest) -> Result<Plan, EngineError> {
        let service = self.config.service(request.selector.service())?;
        let source_env = self.config.environment(&request.from)?;
        let target_env = self.config.environment(&request.to)?;
        let resolved = self.resolve(&request.selector, source_env).await?;
        let mut plan = plan::build(self, service, source_env, target_env, resolved).await?;
        if plan.refusal.is_none() && !plan.is_noop() {
            plan.gates = self.evaluate_gates(&plan, &self.gate_overrides).await;
            plan.refusal = crate::gates::refusal(&plan.gates);
        }
        Ok(plan)
    }

    /// Overrides (a freeze) apply to every promotion of this engine from now on.
    pub fn set_gate_overrides(&mut self, overrides: crate::gates::GateOverrides) {
        self.gate_overrides = overrides;
    }

    /// An override is only valid once recorded: refuse the promotion if it cannot be.
    async fn record_overrides(&self, plan: &Plan) -> Result<(), EngineError> {
        let Some(reason) = &self.gate_overrides.freeze_reason else {
            return Ok(());
        };
        let used = plan.gates.iter().any(|g| {
            g.gate == "freeze"
                && matches!(&g.outcome, crate::gates::GateOutcome::Pass { detail } if detail.contains("overridden"))
        });
        if !used {
            return Ok(());
        }
        let record = crate::ledger::NewRecord {
            kind: crate::ledger::RecordKind::Override,
            service: Some(plan.service.clone()),
            environment: Some(plan.to.clone()),
            digest: Some(plan.digest.clone()),
            tag: Some(plan.tag.clone()),
            details: serde_json::json!({ "gate": "freeze", "reason": reason }),
        };
        self.record(record).await.map_err(|e| {
            EngineError::Refused(format!(
                "the freeze override cannot be recorded ({e}); overrides are only allowed on the record"
            ))
        })?;
        self.notify(crate::notify::Notice {
            from: Some(plan.from.clone()),
            tag: Some(plan.tag.clone()),
            digest: Some(plan.digest.to_string()),
            reason: Some(reason.clone()),
            ..crate::notify::Notice::new(
                crate::config::notify::NotifyEvent::FreezeOverride,
                &plan.service,
                &plan.to,
            )
        });
        Ok(())
    }

    /// `promote` under a job id the caller chose (the console tracks its own jobs).
    pub async fn promote_as(
        &self,
        job: JobId,
        request: &PromotionRequest,
        dry_run: bool,
    ) -> Result<PromotionOutcome, EngineError> {
        self.emit(
            job,
            EventKind::Started {
                label: format!("{} {} -> {}", request.selector, request.from, request.to),
            },
        );
        let _running = Running::start(self);
        let counters = Arc::new(Counters::default());
        let last_sent = Arc::new(std::sync::Mutex::new(None));
        let reporter = self.spawn_reporter(job, counters.clone(), last_sent.clone());
        let result = self.promote_job(job, request, dry_run, &counters).await;
        if !dry_run {
            self.notify_promotion(request, &result);
        }
        if let Some(reporter) = reporter {
            reporter.abort();
            let _ = reporter.await;
        }
        match &result {
            Ok(outcome) => {
                tracing::info!(job = job.0, "{}", outcome.plan.summary(outcome.executed))
            }
            Err(e) => tracing::warn!(
                job = job.0,
                "{} {} -> {}: {e}",
                request.selector,
                request.from,
                request.to
            ),
        }
        match &result {
            Ok(outcome) => {
                if let Some(warning) = outcome.ledger.as_ref().and_then(|l| l.warning.as_ref()) {
                    self.emit(
                        job,
                        EventKind::Log {
                            message: warning.clone(),
                        },
                    );
                }
                let now = counters.snapshot();
                let changed = last_sent
                    .lock()
                    .map(|last| *last != Some(now))
                    .unwrap_or(true);
                if changed {
                    self.emit(job, EventKind::Progress(now));
                }
                let summary = outcome.plan.summary(outcome.executed);
                self.finish(
                    job,
                    Ok(match &outcome.deploy {
                        // The promotion stands either way; its deploy's result is news.
                        Some(deploy) => format!("{summary}; {}", deploy.summary()),
                        None => summary,
                    }),
                );
            }
            Err(e) => self.finish(job, Err((e.to_string(), e.exit_code()))),
        }
        result
    }

    async fn promote_job(
        &self,
        job: JobId,
        request: &PromotionRequest,
        dry_run: bool,
        counters: &Arc<Counters>,
    ) -> Result<PromotionOutcome, EngineError> {
        counters.set_step(Step::Resolving);
        let service = self.config.service(request.selector.service())?;
        let source_env = self.config.environment(&request.from)?;
        let target_env = self.config.environment(&request.to)?;
        if target_env.readonly && !dry_run {
            return Err(EngineError::Refused(format!(
                "{} is read-only in the configuration: gantry does not write to it",
                target_env.name
            )));
        }
        let resolved = self.resolve(&request.selector, source_env).await?;
        // Held from planning to the last tag, so the plan still holds when it is carried out.
        let _lock = if dry_run {
            None
        } else {
            Some(self.lock_repository(
                target_env,
                service,
                format_args!(
                    "{}:{} from {}, since {}",
                    service.name,
                    resolved.tag,
                    source_env.name,
                    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
                ),
            )?)
        };
        counters.set_step(Step::Planning);
        let mut plan = plan::build(self, service, source_env, target_env, resolved).await?;
        if plan.refusal.is_none() && !plan.is_noop() {
            plan.gates = self.evaluate_gates(&plan, &self.gate_overrides).await;
            plan.refusal = crate::gates::refusal(&plan.gates);
        }
        counters.set_totals(plan.bytes_to_transfer(), plan.blobs_to_transfer());
        if let Some(refusal) = &plan.refusal {
            return Err(EngineError::Refused(refusal.clone()));
        }
        if dry_run {
            let deploy = self
                .deploy_step(job, &deploy_request(&plan, target_env, None), true)
                .await;
            return Ok(PromotionOutcome {
                plan,
                executed: false,
                ledger: None,
                deploy,
                attestation: None,
            });
        }
        self.record_overrides(&plan).await?;
        // Every image of a train plans at once; only large copies take one of the
        // `parallel_images` slots, small ones are bounded by the blob slots alone.
        let _slot = if plan.bytes_to_transfer() >= LARGE_IMAGE_BYTES {
            Some(
                self.image_slots
                    .acquire()
                    .await
                    .map_err(|_| EngineError::Input("engine is shutting down".into()))?,
            )
        } else {
            None
        };
        // An image already in place with its tags writes nothing, so there is nothing to
        // check tags against nor to teach the tag cache (loading it would cost more than
        // the whole no-op).
        if !plan.is_noop() {
            copy::execute(self, &plan, counters).await?;
        }
        // After the copy: a ledger failure is a warning on a promotion that happened.
        let ledger = self.record_promotion(&plan).await;
        counters.set_step(Step::Deploying);
        let record = ledger.as_ref().and_then(|l| l.record.clone());
        let attestation = if target_env.attest && !plan.is_noop() {
            Some(self.attest_promotion(&plan, record.as_deref()).await)
        } else {
            None
        };
        let deploy = self
            .deploy_step(job, &deploy_request(&plan, target_env, record), false)
            .await;
        counters.set_step(Step::Done);
        Ok(PromotionOutcome {
            plan,
            executed: true,
            ledger,
            deploy,
            attestation,
        })
    }

    fn spawn_reporter(
        &self,
        job: JobId,
        counters: Arc<Counters>,
        last_sent: Arc<std::sync::Mutex<Option<Progress>>>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let events = self.events.clone()?;
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
            loop {
                tick.tick().await;
                let now = counters.snapshot();
                let changed = match last_sent.lock() {
                    Ok(mut last) if *last != Some(now) => {
                        *last = Some(now);
                        true
                    }
                    _ => false,
                };
                if changed
                    && events
                        .send(EngineEvent {
                            job,
                            kind: EventKind::Progress(now),
                        })
                        .is_err()
                {
                    return;
                }
            }
        }))
    }
}

/// One promotion running. The images of a train run at once, so when the last of them
/// ends (done, failed or dropped) the tag caches are saved once for all: one locked
/// read-merge-rename of each cache file per train instead of one per image.
struct Running<'a>(&'a Engine);

impl<'a> Running<'a> {
    fn start(engine: &'a Engine) -> Self {
        engine
            .promotions_running
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Running(engine)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let before = self
            .0
            .promotions_running
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        if before == 1 {
            self.0.save_tag_caches();
        }
    }
}

/// The deploy that follows `plan` in `target`.
fn deploy_request(
    plan: &Plan,
    target: &Environment,
    ledger_record: Option<String>,
) -> crate::deploy::Request {
    crate::deploy::Request {
        service: plan.service.clone(),
        environment: target.name.clone(),
        image_name: plan.target.clone(),
        tag: plan.tag.clone(),
        digest: plan.digest.clone(),
        reason: crate::deploy::Reason::Promotion,
        ledger_record,
    }
}
