//! The engine: promotions and inventory as background jobs, reporting through events.
//!
//! The CLI and (later) the console drive the same `Engine`; neither talks to a
//! registry directly. Each job reports `EngineEvent`s on a channel, coalesced at
//! the source so a fast copy does not flood a slow screen.

mod copy;
pub mod doctor;
pub mod failures;
pub mod history;
pub mod inventory;
pub mod ledger;
pub mod lock;
mod notify;
pub mod plan;
pub mod rollback;
pub mod tag_reads;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};

use crate::config::{Config, Environment, LookupError};
use crate::domain::{ImageSelector, SelectorError};
use crate::registry::credentials::{CredentialSource, DockerConfigFile};
use crate::registry::{Credentials, RegistryClient, RegistryError, RetryPolicy};

pub use plan::{BlobAction, Plan, TagAction};

/// Identifies one job (one image's promotion, one listing) in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct JobId(pub u64);

#[derive(Debug, Clone, Serialize)]
pub struct EngineEvent {
    pub job: JobId,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Started {
        label: String,
    },
    Progress(Progress),
    Log {
        message: String,
    },
    /// A clean-up deleted one image (`service:tags (digest)`): counted by progress displays.
    Deleted {
        image: String,
    },
    Finished {
        summary: String,
    },
    Failed {
        reason: String,
        exit_code: i32,
    },
}

/// Where a promotion is, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Resolving,
    Planning,
    CopyingBlobs,
    PushingManifests,
    Tagging,
    /// The environment's deploy step (`crate::deploy`), after the image is promoted.
    Deploying,
    Done,
}

impl Step {
    fn from_u8(value: u8) -> Step {
        match value {
            0 => Step::Resolving,
            1 => Step::Planning,
            2 => Step::CopyingBlobs,
            3 => Step::PushingManifests,
            4 => Step::Tagging,
            5 => Step::Deploying,
            _ => Step::Done,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub step: Step,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub blobs_done: u64,
    pub blobs_total: u64,
}

/// Counters a job updates from many tasks; a reporter samples them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    step: AtomicU8,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    blobs_done: AtomicU64,
    blobs_total: AtomicU64,
}

impl Counters {
    pub(crate) fn set_step(&self, step: Step) {
        self.step.store(step as u8, Ordering::Relaxed);
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes_done.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes back bytes of a failed attempt, so a retry does not count them twice.
    pub(crate) fn sub_bytes(&self, n: u64) {
        self.bytes_done.fetch_sub(n, Ordering::Relaxed);
    }

    pub(crate) fn blob_done(&self) {
        self.blobs_done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_totals(&self, bytes: u64, blobs: u64) {
        self.bytes_total.store(bytes, Ordering::Relaxed);
        self.blobs_total.store(blobs, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Progress {
        Progress {
            step: Step::from_u8(self.step.load(Ordering::Relaxed)),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            blobs_done: self.blobs_done.load(Ordering::Relaxed),
            blobs_total: self.blobs_total.load(Ordering::Relaxed),
        }
    }
}

/// At most this often per job, and only on change.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Selector(#[from] SelectorError),
    #[error("{0}")]
    Input(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Deploy(#[from] crate::deploy::DeployError),
}

impl EngineError {
    /// The CLI's exit code: 1 registry or network, 2 invalid input, 3 refused by a rule.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Lookup(_) | EngineError::Selector(_) | EngineError::Input(_) => 2,
            EngineError::Refused(_) | EngineError::Lock(lock::LockError::Busy { .. }) => 3,
            EngineError::Lock(_) => 1,
            EngineError::Registry(e) if e.is_not_found() || e.is_configuration() => 2,
            EngineError::Registry(_) => 1,
            EngineError::Deploy(e) => e.exit_code(),
        }
    }
}

fn retry_policy(config: &Config) -> RetryPolicy {
    RetryPolicy {
        attempts: config.copy.attempts,
        first_backoff: Duration::from_millis(config.copy.backoff_ms),
        ..RetryPolicy::default()
    }
}

/// One promotion to run: which image, from where, to where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionRequest {
    pub selector: ImageSelector,
    pub from: String,
    pub to: String,
}

/// What a finished promotion did.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionOutcome {
    pub plan: Plan,
    /// False for a dry run.
    pub executed: bool,
    /// The ledger record of a promotion that changed something (or fulfilled a request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<ledger::LedgerNote>,
    /// The environment's deploy step: `None` when it has none. A failed deploy leaves
    /// the promotion standing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::deploy::DeployOutcome>,
}

pub struct Engine {
    config: Arc<Config>,
    gate_overrides: crate::gates::GateOverrides,
    pub(crate) state_dir: std::path::PathBuf,
    http: reqwest::Client,
    /// Built on first use: an environment the command never touches costs nothing, not
    /// even the TLS roots of its `ca_file`.
    clients: HashMap<String, OnceLock<Arc<RegistryClient>>>,
    /// HTTP clients trusting a `ca_file`, by file, shared by environments naming the same one.
    ca_clients: std::sync::Mutex<HashMap<std::path::PathBuf, (reqwest::Client, Vec<String>)>>,
    docker_config: Arc<DockerConfigFile>,
    blob_slots: Arc<Semaphore>,
    image_slots: Arc<Semaphore>,
    next_job: AtomicU64,
    pub(crate) events: Option<mpsc::UnboundedSender<EngineEvent>>,
    /// `[signing] key`, decrypted on first use (see `crate::signing`).
    pub(crate) signing_key_cache: tokio::sync::OnceCell<Arc<crate::signing::SigningKey>>,
    /// Notifications being delivered in the background (see `notify`).
    outbox: crate::webhook::Outbox,
    /// What SHA tags point at, per registry host (see `tag_reads`).
    tag_caches: std::sync::Mutex<HashMap<String, Arc<crate::registry::tag_cache::TagCache>>>,
    /// `--fresh`: listings read every tag live (and refresh the tag caches).
    fresh: bool,
}

impl Engine {
    /// Prepares a registry client per environment, built on first use. Credentials come
    /// from the environment's `username` and `password_env`/`password_file`, else from the
    /// Docker config, and are only looked up when a registry asks for them.
    pub fn new(config: Config) -> Result<Self, EngineError> {
        let http = RegistryClient::http_client(Duration::from_secs(config.copy.read_timeout_secs))?;
        let clients = config
            .environments
            .iter()
            .map(|env| (env.name.clone(), OnceLock::new()))
            .collect();
        Ok(Engine {
            gate_overrides: Default::default(),
            ca_clients: std::sync::Mutex::new(HashMap::new()),
            docker_config: Arc::new(DockerConfigFile::from_env()),
            state_dir: lock::state_dir(),
            http,
            blob_slots: Arc::new(Semaphore::new(config.copy.parallel_blobs)),
            image_slots: Arc::new(Semaphore::new(config.copy.parallel_images)),
            config: Arc::new(config),
            clients,
            next_job: AtomicU64::new(1),
            events: None,
            signing_key_cache: tokio::sync::OnceCell::new(),
            outbox: Default::default(),
            tag_caches: Default::default(),
            fresh: false,
        })
    }

    /// Replaces an environment's credentials (from the hardening layer or tests).
    pub fn set_credentials(
        &mut self,
        env: &str,
        credentials: Credentials,
    ) -> Result<(), EngineError> {
        let environment = self.config.environment(env)?;
        let client = self.build_client(environment, Some(credentials))?;
        self.clients
            .insert(env.to_string(), OnceLock::from(Arc::new(client)));
        Ok(())
    }

    fn build_client(
        &self,
        environment: &Environment,
        credentials: Option<Credentials>,
    ) -> Result<RegistryClient, EngineError> {
        let (http, roots) = match &environment.ca_file {
            Some(ca_file) => {
                let mut cache = self
                    .ca_clients
                    .lock()
                    .map_err(|_| EngineError::Input("a CA client build panicked".into()))?;
                match cache.get(ca_file) {
                    Some(built) => built.clone(),
                    None => {
                        let built = RegistryClient::http_client_trusting(
                            Duration::from_secs(self.config.copy.read_timeout_secs),
                            &environment.registry,
                            ca_file,
                        )?;
                        cache.insert(ca_file.clone(), built.clone());
                        built
                    }
                }
            }
            None => (self.http.clone(), Vec::new()),
        };
        let source = match (credentials, &environment.login) {
            (Some(credentials), _) => CredentialSource::Fixed(credentials),
            (None, Some(login)) => CredentialSource::Configured(login.clone()),
            (None, None) => CredentialSource::Docker(self.docker_config.clone()),
        };
        Ok(RegistryClient::new(
            http,
            &environment.registry,
            environment.plain_http,
            Credentials::Anonymous,
            retry_policy(&self.config),
        )
        .with_credential_source(source)
        .with_extra_roots(roots))
    }

    /// Sends every job's events to `sender` from now on.
    pub fn subscribe(&mut self, sender: mpsc::UnboundedSender<EngineEvent>) {
        self.events = Some(sender);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn client(&self, env: &str) -> Result<&Arc<RegistryClient>, EngineError> {
        let cell = self.clients.get(env).ok_or_else(|| {
            EngineError::Lookup(LookupError::Environment {
                name: env.to_string(),
                known: self
                    .config
                    .environments
                    .iter()
                    .map(|e| e.name.clone())
                    .collect(),
            })
        })?;
        if let Some(client) = cell.get() {
            return Ok(client);
        }
        let client = self.build_client(self.config.environment(env)?, None)?;
        // A racing caller may have built one too; either is as good.
        Ok(cell.get_or_init(|| Arc::new(client)))
    }

    pub(crate) fn new_job(&self) -> JobId {
        JobId(self.next_job.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn emit(&self, job: JobId, kind: EventKind) {
        if let Some(events) = &self.events {
            let _ = events.send(EngineEvent { job, kind });
        }
    }

    /// The environment a promotion into `to` comes from: `from` if given, else the
    /// target's configured `from`.
    pub fn source_environment<'a>(
        &'a self,
        to: &str,
        from: Option<&'a str>,
    ) -> Result<&'a Environment, EngineError> {
        let target = self.config.environment(to)?;
        let from = match from {
            Some(from) => from,
            None => target.from.as_deref().ok_or_else(|| {
                EngineError::Input(format!(
                    "environment `{to}` has no `from` in the configuration; pass --from ENV"
                ))
            })?,
        };
        if from == to {
            return Err(EngineError::Input(format!(
                "cannot promote from `{from}` into itself"
            )));
        }
        Ok(self.config.environment(from)?)
    }

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
        let _slot = self
            .image_slots
            .acquire()
            .await
            .map_err(|_| EngineError::Input("engine is shutting down".into()))?;
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
                self.emit(
                    job,
                    EventKind::Finished {
                        summary: match &outcome.deploy {
                            // The promotion stands either way; its deploy's result is news.
                            Some(deploy) => format!(
                                "{}; {}",
                                outcome.plan.summary(outcome.executed),
                                deploy.summary()
                            ),
                            None => outcome.plan.summary(outcome.executed),
                        },
                    },
                );
            }
            Err(e) => self.emit(
                job,
                EventKind::Failed {
                    reason: e.to_string(),
                    exit_code: e.exit_code(),
                },
            ),
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
            Some(lock::acquire(
                &self.state_dir,
                &target_env.image_name(service),
                &format!(
                    "pid {}, {}:{} from {}, since {}",
                    std::process::id(),
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
            });
        }
        self.record_overrides(&plan).await?;
        copy::execute(self, &plan, counters).await?;
        self.save_tag_caches();
        // After the copy: a ledger failure is a warning on a promotion that happened.
        let ledger = self.record_promotion(&plan).await;
        counters.set_step(Step::Deploying);
        let record = ledger.as_ref().and_then(|l| l.record.clone());
        let deploy = self
            .deploy_step(job, &deploy_request(&plan, target_env, record), false)
            .await;
        counters.set_step(Step::Done);
        Ok(PromotionOutcome {
            plan,
            executed: true,
            ledger,
            deploy,
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
