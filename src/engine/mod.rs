//! The engine: promotions and inventory as background jobs, reporting through events.
//!
//! The CLI and (later) the console drive the same `Engine`; neither talks to a
//! registry directly. Each job reports `EngineEvent`s on a channel, coalesced at
//! the source so a fast copy does not flood a slow screen.

mod approvals;
pub mod attachments;
mod copy;
pub mod deploy;
pub mod doctor;
mod events;
pub mod failures;
mod gates;
pub mod history;
pub mod inventory;
pub mod ledger;
pub mod lock;
pub mod matrix;
mod notify;
pub mod plan;
mod promote;
pub mod provenance;
pub mod repos;
mod retention;
pub mod rollback;
mod signing;
pub mod tag_reads;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};

use crate::config::{Config, Environment, LookupError};
use crate::domain::{ImageSelector, SelectorError};
use crate::registry::credentials::{CredentialSource, DockerConfigFile};
use crate::registry::{Credentials, RegistryClient, RegistryError, RetryPolicy};

pub(crate) use events::{Counters, PROGRESS_INTERVAL};
pub use events::{EngineEvent, EventKind, JobId, Progress, Step};
pub use plan::{BlobAction, Plan, TagAction};

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
            EngineError::Registry(e) => e.exit_code(),
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
    /// The promotion attestation, for an `attest = true` target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<provenance::AttestationNote>,
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
    /// Service repositories fetched by this process (see `repos`).
    fetching: repos::Fetching,
    /// What SHA tags point at, per registry host (see `tag_reads`).
    tag_caches: std::sync::Mutex<HashMap<String, Arc<crate::registry::tag_cache::TagCache>>>,
    /// `--fresh`: listings read every tag live (and refresh the tag caches).
    fresh: bool,
    /// Requests in flight per registry host (`[copy] requests_per_host`).
    host_limits: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Promotions running now: the last one to finish saves the tag caches, so a train
    /// writes each cache file once, not once per image (see `promote`).
    promotions_running: AtomicUsize,
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
            fetching: Default::default(),
            tag_caches: Default::default(),
            fresh: false,
            host_limits: Default::default(),
            promotions_running: AtomicUsize::new(0),
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
        .with_extra_roots(roots)
        .with_limit(self.host_limit(&environment.registry)))
    }

    /// The bound on requests to one registry host, shared by every environment on it.
    fn host_limit(&self, registry: &str) -> Arc<Semaphore> {
        per_host(&self.host_limits, registry, || {
            Semaphore::new(self.config.copy.requests_per_host)
        })
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

    /// Locks `service`'s repository in `env` against other gantry processes; `doing`
    /// completes the holder line they show (`pid N, <doing>`).
    pub(crate) fn lock_repository(
        &self,
        env: &Environment,
        service: &crate::config::Service,
        doing: std::fmt::Arguments<'_>,
    ) -> Result<lock::PromotionLock, lock::LockError> {
        lock::acquire(
            &self.state_dir,
            &env.image_name(service),
            &format!("pid {}, {doing}", std::process::id()),
        )
    }

    /// Ends `job`: `Finished` with its summary, or `Failed` with the reason and exit code.
    pub(crate) fn finish(&self, job: JobId, end: Result<String, (String, i32)>) {
        self.emit(
            job,
            match end {
                Ok(summary) => EventKind::Finished { summary },
                Err((reason, exit_code)) => EventKind::Failed { reason, exit_code },
            },
        );
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
}

/// The value `map` holds for registry host `host`, made by `make` the first time: one per
/// host, shared by the environments on it.
pub(crate) fn per_host<T>(
    map: &std::sync::Mutex<HashMap<String, Arc<T>>>,
    host: &str,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(host.to_string())
        .or_insert_with(|| Arc::new(make()))
        .clone()
}
