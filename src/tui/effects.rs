//! Side effects as values: what the console asks for (`Effect`), what comes back
//! (`DataEvent`), and `perform`, which carries effects out as tasks on the engine.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::app::App;
use super::console::Msg;
use super::screens::images::SigMark;
use super::screens::promotions::RequestRow;
use crate::domain::Digest;
use crate::engine::deploy::DeployReport;
use crate::engine::doctor::DoctorReport;
use crate::engine::history::status::StatusJoin;
use crate::engine::history::{CommitsView, CutOutcome, StatusReport};
use crate::engine::inventory::EnvironmentImages;
use crate::engine::ledger::AuditView;
use crate::engine::{Engine, JobId, Plan, PromotionRequest};
use crate::git::fleet::FetchReport;
use crate::git::BranchInfo;
use crate::registry::failure::HostFailure;
use crate::retention::{RetentionOutcome, RetentionPlan};

/// Side effects the event loop carries out; results come back as `DataEvent`s.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadImages {
        service: String,
        env: String,
    },
    /// Requests waiting for approvals, from the ledger.
    LoadRequests,
    /// The whole ledger, unfiltered, with whether its chain verifies.
    LoadAudit,
    /// Approve a ledger request as the repository's git identity.
    Approve(String),
    /// What each listed image carries.
    LoadAttached {
        service: String,
        env: String,
        digests: Vec<Digest>,
    },
    /// Signature status of each listed image (nothing comes back if no key is trusted).
    LoadSignatures {
        service: String,
        env: String,
        digests: Vec<Digest>,
    },
    LoadStatus,
    LoadCommits,
    LoadBranches,
    /// A dry run whose plan fills the confirmation dialog.
    PlanPromotion(PromotionRequest),
    StartPromotion {
        job: JobId,
        request: PromotionRequest,
    },
    CancelJob(JobId),
    Rollback {
        service: String,
        env: String,
        to: Digest,
    },
    CutRelease {
        commit: String,
        version: Option<String>,
        force: bool,
    },
    StartHotfix {
        name: String,
    },
    /// The clean-up plan of one service in one environment.
    LoadRetention {
        service: String,
        env: String,
    },
    /// Deploy what `env` runs for `service`; `dry_run` only says what would change.
    Deploy {
        service: String,
        env: String,
        dry_run: bool,
    },
    /// Carry out a plan the user confirmed; the engine re-checks every image first.
    CleanUp {
        job: JobId,
        plan: RetentionPlan,
    },
    /// `gantry doctor`'s checks; nothing is written anywhere.
    RunDoctor,
    /// Fetch these service repositories in the background (the loop's fetch queue);
    /// `urgent` ones before those already waiting.
    Fetch {
        urls: Vec<String>,
        urgent: bool,
    },
    /// Those of these fetches still waiting go first: what the screen shows.
    PreferFetch(Vec<String>),
    /// The status matrix's commits and behind-counts from the repository at `url`, just
    /// fetched.
    JoinStatus {
        url: String,
    },
    /// The load inside, reading every tag from the registries (not the tag cache).
    Fresh(Box<Effect>),
    Quit,
}

/// Results of effects, delivered to `App::on_data`.
// One message per load, moved once: boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum DataEvent {
    /// Requests not carried out yet, oldest first.
    Requests(Result<Vec<RequestRow>, String>),
    /// The ledger's records (in any order: the console shows them newest first).
    Audit(Result<AuditView, String>),
    Approved(Result<String, String>),
    Signature {
        service: String,
        env: String,
        digest: Digest,
        mark: SigMark,
    },
    /// What one listed image carries (SBOMs, attestations, signatures, scan).
    Attached {
        service: String,
        env: String,
        digest: Digest,
        result: Result<crate::attestation::attached::Attached, String>,
    },
    Images {
        service: String,
        env: String,
        result: Result<EnvironmentImages, String>,
    },
    Status(Result<StatusReport, String>),
    /// One cell of the matrix, read by status load `load`, as soon as it is read.
    StatusCell {
        load: u64,
        cell: Box<crate::engine::inventory::StatusCell>,
    },
    /// Status load `load` ended: the whole report.
    StatusDone {
        load: u64,
        report: Box<StatusReport>,
    },
    Commits(Result<CommitsView, String>),
    /// The branches of `repository` (`Context::git_repository` when it was asked for).
    Branches {
        repository: Option<String>,
        result: Result<Vec<BranchInfo>, String>,
    },
    Planned {
        request: PromotionRequest,
        result: Result<Plan, String>,
    },
    RolledBack {
        service: String,
        env: String,
        result: Result<String, String>,
    },
    BranchCut(Result<CutOutcome, String>),
    Retention {
        service: String,
        env: String,
        result: Result<RetentionPlan, String>,
    },
    CleanedUp {
        job: JobId,
        result: Result<RetentionOutcome, String>,
    },
    Deployed {
        service: String,
        env: String,
        dry_run: bool,
        result: Result<DeployReport, String>,
    },
    /// What a load learnt of each environment's registry it read: how it failed as a
    /// whole, or `None` when it answered. Sent just before the load's own result.
    Registries(Vec<(String, Option<HostFailure>)>),
    Doctor(DoctorReport),
    /// A background fetch of a service repository ended.
    Fetched(FetchReport),
    /// One repository's part of the status matrix's git join.
    Joined(StatusJoin),
}

/// Superseded loads kept for `Loads::take_superseded`; older ones are forgotten.
const SUPERSEDED_KEPT: usize = 16;

/// The console's loads that a newer one replaces (the status matrix's): starting one
/// stops the one before it, whose requests end there, and numbers it, so cells the
/// stopped one sent before it stopped are told apart and dropped.
#[derive(Debug, Default)]
pub struct Loads {
    counter: u64,
    status: Option<JoinHandle<()>>,
    superseded: Vec<JoinHandle<()>>,
}

impl Loads {
    fn replace_status(&mut self, handle: JoinHandle<()>) {
        if let Some(old) = self.status.replace(handle) {
            if !old.is_finished() {
                old.abort();
                self.superseded.push(old);
                let excess = self.superseded.len().saturating_sub(SUPERSEDED_KEPT);
                self.superseded.drain(..excess);
            }
        }
    }

    /// The loads stopped by newer ones since the last call: each ends as cancelled.
    pub fn take_superseded(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.superseded)
    }

    /// Stops every load (the console is closing).
    pub fn stop_all(&mut self) {
        if let Some(load) = self.status.take() {
            load.abort();
        }
    }
}

/// Starts each effect as a task whose result comes back on `tx`.
pub(super) fn perform(
    effects: Vec<Effect>,
    engine: &Arc<Engine>,
    tx: &mpsc::UnboundedSender<Msg>,
    jobs: &mut HashMap<JobId, JoinHandle<()>>,
    loads: &mut Loads,
    app: &mut App,
) {
    for effect in effects {
        let engine = engine.clone();
        let tx = tx.clone();
        let (effect, fresh) = match effect {
            Effect::Fresh(inner) => (*inner, true),
            effect => (effect, engine.is_fresh()),
        };
        match effect {
            Effect::Quit | Effect::Fresh(_) => {}
            Effect::LoadRequests => {
                tokio::spawn(async move {
                    let result = engine
                        .pending_requests()
                        .await
                        .map(|requests| requests.iter().map(RequestRow::from).collect())
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::Requests(result)));
                });
            }
            Effect::LoadAudit => {
                tokio::spawn(async move {
                    // The whole ledger: the screen's own filter narrows it as it is typed.
                    let result = engine
                        .audit(&crate::engine::ledger::AuditFilter::default())
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::Audit(result)));
                });
            }
            Effect::Approve(id) => {
                tokio::spawn(async move {
                    let result = engine
                        .approve(&id)
                        .await
                        .map(|o| {
                            format!(
                                "approved {} ({}:{} → {}): {}/{}",
                                o.request.id,
                                o.request.service,
                                o.request.tag,
                                o.request.to,
                                o.request.approvals.approvers.len(),
                                o.request.approvals.needed
                            )
                        })
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::Approved(result)));
                });
            }
            Effect::LoadSignatures {
                service,
                env,
                digests,
            } => {
                tokio::spawn(async move {
                    // Without a trusted key there is nothing to say: leave the column blank.
                    if engine.trusted_keys(&env).await.is_err() {
                        return;
                    }
                    for digest in digests {
                        let mark = match engine.signature_status(&service, &env, &digest).await {
                            Ok(crate::signing::SignatureStatus::Signed { .. }) => SigMark::Signed,
                            Ok(crate::signing::SignatureStatus::Unsigned) => SigMark::Unsigned,
                            Ok(crate::signing::SignatureStatus::Invalid { .. }) => SigMark::Invalid,
                            Err(_) => continue,
                        };
                        let event = DataEvent::Signature {
                            service: service.clone(),
                            env: env.clone(),
                            digest,
                            mark,
                        };
                        if tx.send(Msg::Data(event)).is_err() {
                            return;
                        }
                    }
                });
            }
            Effect::LoadAttached {
                service,
                env,
                digests,
            } => {
                tokio::spawn(async move {
                    for digest in digests {
                        let result = engine
                            .attached(&service, &env, &digest)
                            .await
                            .map_err(|e| e.to_string());
                        let event = DataEvent::Attached {
                            service: service.clone(),
                            env: env.clone(),
                            digest,
                            result,
                        };
                        if tx.send(Msg::Data(event)).is_err() {
                            return;
                        }
                    }
                });
            }
            Effect::LoadImages { service, env } => {
                tokio::spawn(async move {
                    let result = engine.images_reading(&service, &env, fresh).await;
                    let failure = result.as_ref().err().and_then(|e| e.host_failure());
                    let read = vec![(env.clone(), failure)];
                    let _ = tx.send(Msg::Data(DataEvent::Registries(read)));
                    let result = result.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::Images {
                        service,
                        env,
                        result,
                    }));
                });
            }
            Effect::LoadStatus => {
                loads.counter += 1;
                let load = loads.counter;
                let order = app.environments.load_order(&app.ctx);
                app.environments.begin(load, order.len());
                let handle = tokio::spawn(async move {
                    let cells = tx.clone();
                    let sink = move |cell: &crate::engine::inventory::StatusCell| {
                        let cell = Box::new(cell.clone());
                        let _ = cells.send(Msg::Data(DataEvent::StatusCell { load, cell }));
                    };
                    let report = engine.status_report_streamed(order, fresh, &sink).await;
                    let failed = report.cells.iter().filter(|c| c.error.is_some());
                    let read = registries_read(&engine, failed.map(|c| c.environment.as_str()));
                    let _ = tx.send(Msg::Data(DataEvent::Registries(read)));
                    let report = Box::new(report);
                    let _ = tx.send(Msg::Data(DataEvent::StatusDone { load, report }));
                });
                loads.replace_status(handle);
            }
            Effect::LoadCommits => {
                let service = app.ctx.git_service().map(str::to_string);
                tokio::spawn(async move {
                    let result = engine
                        .commits_reading(service.as_deref(), None, 500, fresh)
                        .await
                        .map_err(|e| e.to_string());
                    engine.save_tag_caches();
                    if let Ok(view) = &result {
                        let failed = view.errors.iter().map(|e| e.environment.as_str());
                        let read = registries_read(&engine, failed);
                        let _ = tx.send(Msg::Data(DataEvent::Registries(read)));
                    }
                    let _ = tx.send(Msg::Data(DataEvent::Commits(result)));
                });
            }
            Effect::LoadBranches => {
                let service = app.ctx.git_service().map(str::to_string);
                let repository = app.ctx.git_repository();
                tokio::spawn(async move {
                    let result = engine
                        .branches(service.as_deref())
                        .await
                        .map(|(b, _)| b)
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::Branches { repository, result }));
                });
            }
            Effect::PlanPromotion(request) => {
                tokio::spawn(async move {
                    let result = engine.plan_only(&request).await.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::Planned { request, result }));
                });
            }
            Effect::StartPromotion { job, request } => {
                let handle = tokio::spawn(async move {
                    let plan = engine
                        .promote_as(job, &request, false)
                        .await
                        .ok()
                        .map(|o| Box::new(o.plan));
                    let _ = tx.send(Msg::JobDone { job, plan });
                });
                jobs.insert(job, handle);
            }
            Effect::CancelJob(job) => {
                if let Some(handle) = jobs.remove(&job) {
                    handle.abort();
                    app.on_cancelled(job);
                }
            }
            Effect::Rollback { service, env, to } => {
                tokio::spawn(async move {
                    let result = engine
                        .rollback(&service, &env, &to)
                        .await
                        .map(|o| o.summary())
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::RolledBack {
                        service,
                        env,
                        result,
                    }));
                });
            }
            Effect::CutRelease {
                commit,
                version,
                force,
            } => {
                let service = app.ctx.git_service().map(str::to_string);
                tokio::spawn(async move {
                    let result = engine
                        .cut_release(
                            service.as_deref(),
                            &commit,
                            version.as_deref(),
                            false,
                            force,
                        )
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::BranchCut(result)));
                });
            }
            Effect::LoadRetention { service, env } => {
                tokio::spawn(async move {
                    let result = engine
                        .retention_plan(&env, &service)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::Retention {
                        service,
                        env,
                        result,
                    }));
                });
            }
            Effect::Deploy {
                service,
                env,
                dry_run,
            } => {
                tokio::spawn(async move {
                    let result = engine
                        .deploy(
                            &service,
                            &env,
                            crate::engine::deploy::DeployTarget::Running,
                            dry_run,
                        )
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::Deployed {
                        service,
                        env,
                        dry_run,
                        result,
                    }));
                });
            }
            Effect::CleanUp { job, plan } => {
                tokio::spawn(async move {
                    let result = engine
                        .execute_retention_as(job, &plan)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::CleanedUp { job, result }));
                });
            }
            // The loop's fetch queue carries these out before effects get here.
            Effect::Fetch { .. } | Effect::PreferFetch(_) => {}
            Effect::JoinStatus { url } => {
                let Some(report) = app.environments.status.loaded() else {
                    continue;
                };
                let Some(repo) = app
                    .ctx
                    .repos
                    .services_of(&url)
                    .first()
                    .and_then(|s| engine.service_repo(s).ok())
                else {
                    continue;
                };
                let cells: Vec<_> = report
                    .cells
                    .iter()
                    .filter(|c| repo.services.contains(&c.service))
                    .cloned()
                    .collect();
                tokio::spawn(async move {
                    let join = engine.join_status(&cells, &repo).await;
                    let _ = tx.send(Msg::Data(DataEvent::Joined(join)));
                });
            }
            Effect::RunDoctor => {
                tokio::spawn(async move {
                    let report = engine.doctor().await;
                    let _ = tx.send(Msg::Data(DataEvent::Doctor(report)));
                });
            }
            Effect::StartHotfix { name } => {
                let service = app.ctx.git_service().map(str::to_string);
                tokio::spawn(async move {
                    let result = engine
                        .start_hotfix(service.as_deref(), &name, None, false)
                        .await
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Data(DataEvent::BranchCut(result)));
                });
            }
        }
    }
}

/// What a load that read every environment's registry learnt of them: for each
/// environment where something `failed`, how its registry failed as a whole (if it did);
/// `None` for the others, which answered.
fn registries_read<'a>(
    engine: &Engine,
    failed: impl Iterator<Item = &'a str>,
) -> Vec<(String, Option<HostFailure>)> {
    let failed: Vec<&str> = failed.collect();
    engine
        .config()
        .environments
        .iter()
        .map(|env| {
            let failure = failed
                .contains(&env.name.as_str())
                .then(|| engine.host_failure(&env.name))
                .flatten();
            (env.name.clone(), failure)
        })
        .collect()
}
