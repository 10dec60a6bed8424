//! Deploying as the engine runs it: the step after a promotion or rollback (events and the
//! ledger), `gantry deploy`, and what the GitOps files say each environment runs.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::join_all;
use serde::Serialize;

use super::inventory::StatusCell;
use super::{Engine, EngineError, EngineEvent, EventKind, JobId, Progress, Step};
use crate::config::deploy::DeployMethod;
use crate::config::{Environment, Service};
use crate::deploy::{
    gitops, DeployError, DeployOutcome, DeployedState, Log, Pinned, Reason, Request,
};
use crate::domain::Digest;
use crate::ledger::{LedgerNote, NewRecord, RecordKind};

/// Which image `gantry deploy` points the environment at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployTarget {
    /// What the environment's mutable tag points at.
    Running,
    Digest(Digest),
    Tag(String),
}

/// `gantry deploy`: the image chosen and what its deploy step did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub service: String,
    pub environment: String,
    /// `registry/repository`.
    pub image: String,
    pub tag: String,
    pub digest: Digest,
    pub outcome: DeployOutcome,
}

impl Engine {
    /// Log lines of `job`: to its events and to gantry's log file.
    fn job_log(&self, job: JobId) -> Log {
        let events = self.events.clone();
        Arc::new(move |message: String| {
            tracing::info!(job = job.0, "{message}");
            if let Some(events) = &events {
                let _ = events.send(EngineEvent {
                    job,
                    kind: EventKind::Log { message },
                });
            }
        })
    }

    /// The deploy step of a promotion or rollback that already happened: runs it, records
    /// the attempt in the ledger, and never fails the caller (the outcome says how it went).
    pub(crate) async fn deploy_step(
        &self,
        job: JobId,
        request: &Request,
        dry_run: bool,
    ) -> Option<DeployOutcome> {
        let env = self.config().environment(&request.environment).ok()?;
        let log = self.job_log(job);
        let mut outcome =
            crate::deploy::run(&env.deploy, &self.state_dir, request, dry_run, log.clone()).await?;
        if !dry_run {
            if outcome.failed() {
                self.notify_deploy_failed(&outcome);
            }
            let note = self.record_deploy(request, &outcome).await;
            if let Some(warning) = &note.warning {
                log(warning.clone());
            }
            outcome.ledger = Some(note);
        }
        Some(outcome)
    }

    /// `gantry deploy`: (re)runs only the deploy step of `env` for `service`, for what the
    /// environment runs or a given image there, under the same lock as a promotion.
    pub async fn deploy(
        &self,
        service: &str,
        env: &str,
        target: DeployTarget,
        dry_run: bool,
    ) -> Result<DeployReport, EngineError> {
        let job = self.new_job();
        self.emit(
            job,
            EventKind::Started {
                label: format!("deploy {service} in {env}"),
            },
        );
        let result = self.deploy_job(job, service, env, target, dry_run).await;
        let end = match &result {
            Ok(report) if report.outcome.failed() => Err((
                report.outcome.reason.clone().unwrap_or_default(),
                report.outcome.exit_code.unwrap_or(1),
            )),
            Ok(report) => Ok(report.outcome.summary()),
            Err(e) => Err((e.to_string(), e.exit_code())),
        };
        self.finish(job, end);
        result
    }

    async fn deploy_job(
        &self,
        job: JobId,
        service: &str,
        env: &str,
        target: DeployTarget,
        dry_run: bool,
    ) -> Result<DeployReport, EngineError> {
        let service = self.config().service(service)?.clone();
        let env = self.config().environment(env)?.clone();
        if env.readonly && !dry_run {
            return Err(EngineError::Refused(format!(
                "{} is read-only in the configuration: gantry does not write to it",
                env.name
            )));
        }
        check_has_deploy(&env, &service)?;
        let (tag, digest) = self.pick_image(&env, &service, &target).await?;
        let _lock = if dry_run {
            None
        } else {
            Some(self.lock_repository(
                &env,
                &service,
                format_args!("deploy of {}:{} in {}", service.name, tag, env.name),
            )?)
        };
        self.emit(
            job,
            EventKind::Progress(Progress {
                step: Step::Deploying,
                bytes_done: 0,
                bytes_total: 0,
                blobs_done: 0,
                blobs_total: 0,
            }),
        );
        let request = Request {
            service: service.name.clone(),
            environment: env.name.clone(),
            image_name: env.image_name(&service),
            tag: tag.clone(),
            digest: digest.clone(),
            reason: Reason::Manual,
            ledger_record: None,
        };
        let outcome = self
            .deploy_step(job, &request, dry_run)
            .await
            .ok_or_else(|| no_deploy(&env, &service))?;
        Ok(DeployReport {
            image: env.image_name(&service),
            service: service.name,
            environment: env.name.clone(),
            tag,
            digest,
            outcome,
        })
    }

    /// The immutable tag and digest `target` names in `env`.
    async fn pick_image(
        &self,
        env: &Environment,
        service: &Service,
        target: &DeployTarget,
    ) -> Result<(String, Digest), EngineError> {
        let client = self.client(&env.name)?;
        let digest = match target {
            DeployTarget::Running => {
                let mutable = env.mutable_tag.as_deref().ok_or_else(|| {
                    EngineError::Input(format!(
                        "{} has no mutable_tag, so gantry cannot tell what it runs: say which image with --tag or --digest",
                        env.name
                    ))
                })?;
                self.digest_in(env, service, mutable).await?
            }
            DeployTarget::Tag(tag) => self.digest_in(env, service, tag).await?,
            DeployTarget::Digest(digest) => self.digest_in(env, service, digest.as_str()).await?,
        };
        let tag = match target {
            DeployTarget::Tag(tag) if self.config().tags.is_immutable(tag) => tag.clone(),
            _ => self.immutable_tag_of(client, env, service, &digest).await?,
        };
        Ok((tag, digest))
    }

    /// Records one deploy attempt and its result. The deploy stands whatever the ledger says.
    async fn record_deploy(&self, request: &Request, outcome: &DeployOutcome) -> LedgerNote {
        let mut details = serde_json::json!({
            "method": outcome.method,
            "result": outcome.state,
            "reason": request.reason,
        });
        if let Some(map) = details.as_object_mut() {
            if let Some(why) = &outcome.reason {
                map.insert("error".into(), why.clone().into());
            }
            if let Some(record) = &request.ledger_record {
                map.insert("follows".into(), record.clone().into());
            }
            if let Some(g) = &outcome.gitops {
                map.insert("repository".into(), g.bump.repository.clone().into());
                map.insert("branch".into(), g.bump.branch.clone().into());
                map.insert("file".into(), g.bump.file.clone().into());
                if let Some(commit) = &g.commit {
                    map.insert("commit".into(), commit.clone().into());
                }
            }
            if let Some(c) = &outcome.command {
                map.insert("command".into(), c.command.clone().into());
                if let Some(code) = c.result.as_ref().and_then(|r| r.exit_code) {
                    map.insert("exit_code".into(), code.into());
                }
                if c.result.as_ref().is_some_and(|r| r.timed_out) {
                    map.insert("timed_out".into(), true.into());
                }
            }
            if let Some(r) = &outcome.rollout {
                map.insert("rollout".into(), serde_json::json!(r.state));
            }
        }
        let record = NewRecord {
            kind: RecordKind::Deploy,
            service: Some(request.service.clone()),
            environment: Some(request.environment.clone()),
            digest: Some(request.digest.clone()),
            tag: Some(request.tag.clone()),
            details,
        };
        LedgerNote::from_append_as(
            self.record(record).await.map(Some),
            "deploy not recorded in the ledger",
        )
    }

    /// What `env`'s GitOps file pins for `service` at the head of its branch (fetched
    /// first); `None` when the environment is not deployed through GitOps.
    pub async fn deployed_digest(
        &self,
        service: &str,
        env: &str,
    ) -> Result<Option<Pinned>, EngineError> {
        self.config().service(service)?;
        let env = self.config().environment(env)?.clone();
        let DeployMethod::GitOps(settings) = env.deploy.method else {
            return Ok(None);
        };
        if !settings.files.contains_key(service) {
            return Ok(None);
        }
        let state_dir = self.state_dir.clone();
        let service = service.to_string();
        let read = tokio::task::spawn_blocking(move || {
            let (_, pinned) = gitops::Cache::open(&state_dir, &settings)?.read_all()?;
            match pinned.into_iter().find(|(s, _)| *s == service) {
                Some((_, Ok(pinned))) => Ok(pinned),
                Some((_, Err(why))) => Err(DeployError::Repository(why)),
                None => Ok(Pinned::default()),
            }
        })
        .await
        .map_err(|e| EngineError::Input(format!("reading the manifests failed: {e}")))??;
        Ok(Some(read))
    }

    /// Fills each cell's `deployed` from its environment's GitOps file, one fetch per
    /// environment; a repository that cannot be read shows as an error in its cells.
    pub(crate) async fn attach_deployed(&self, cells: &mut [StatusCell]) {
        let reads = self
            .config()
            .environments
            .iter()
            .filter_map(|env| match &env.deploy.method {
                DeployMethod::GitOps(settings) => Some((env.name.clone(), settings.clone())),
                _ => None,
            })
            .map(|(env, settings)| {
                let state_dir = self.state_dir.clone();
                async move {
                    let files = settings.files.clone();
                    let read = tokio::task::spawn_blocking(move || {
                        gitops::Cache::open(&state_dir, &settings)?.read_all()
                    })
                    .await
                    .map_err(|e| DeployError::Repository(e.to_string()))
                    .and_then(|r| r);
                    (env, files, read)
                }
            });
        let mut states: HashMap<(String, String), DeployedState> = HashMap::new();
        for (env, files, read) in join_all(reads).await {
            match read {
                Ok((head, pinned)) => {
                    for (service, result) in pinned {
                        let file = files
                            .get(&service)
                            .map(|f| f.path.clone())
                            .unwrap_or_default();
                        let state = match result {
                            Ok(p) => DeployedState {
                                file,
                                tag: p.tag,
                                digest: p.digest,
                                commit: Some(head.clone()),
                                in_sync: None,
                                error: None,
                            },
                            Err(why) => DeployedState {
                                file,
                                tag: None,
                                digest: None,
                                commit: Some(head.clone()),
                                in_sync: None,
                                error: Some(why),
                            },
                        };
                        states.insert((service, env.clone()), state);
                    }
                }
                Err(e) => {
                    for (service, target) in files {
                        states.insert(
                            (service, env.clone()),
                            DeployedState {
                                file: target.path,
                                tag: None,
                                digest: None,
                                commit: None,
                                in_sync: None,
                                error: Some(e.to_string()),
                            },
                        );
                    }
                }
            }
        }
        for cell in cells {
            if let Some(mut state) =
                states.remove(&(cell.service.clone(), cell.environment.clone()))
            {
                state.compare(cell.digest.as_ref(), &cell.tags);
                cell.deployed = Some(state);
            }
        }
    }
}

fn check_has_deploy(env: &Environment, service: &Service) -> Result<(), EngineError> {
    match &env.deploy.method {
        DeployMethod::None => Err(no_deploy(env, service)),
        DeployMethod::GitOps(g) if !g.files.contains_key(&service.name) => {
            Err(no_deploy(env, service))
        }
        _ => Ok(()),
    }
}

fn no_deploy(env: &Environment, service: &Service) -> EngineError {
    match &env.deploy.method {
        DeployMethod::GitOps(_) => EngineError::Input(format!(
            "{} has no deploy file for {} ([environment.deploy.files])",
            env.name, service.name
        )),
        _ => EngineError::Input(format!(
            "{} has no deploy step: promotion only (set [environment.deploy] kind = \"gitops\" or \"command\")",
            env.name
        )),
    }
}
