//! The engine's side of the ledger: recording promotions and rollbacks, requests and
//! approvals, the approvals rule, `execute`, and the audit views the CLI and console show.
//!
//! Git work runs on a blocking thread (see `crate::ledger::store`); registry checks (does
//! the tag still point at the approved digest?) run here, before anything is recorded.

use std::collections::HashMap;

use serde::Serialize;

use super::plan::Plan;
use super::rollback::RollbackOutcome;
use super::{Engine, EngineError, PromotionOutcome, PromotionRequest};
use crate::config::notify::NotifyEvent;
use crate::domain::{Digest, ImageSelector};
use crate::ledger::approvals::{self, ApprovalState, FindError, RequestState, RequestStatus};
use crate::ledger::store::{Appended, Snapshot, Store};
use crate::ledger::{LedgerError, NewRecord, Record, RecordKind, Tamper, MIN_ID_PREFIX};

/// What the ledger made of a promotion or rollback. The action itself stands either way.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerNote {
    /// The record written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The remote the record was pushed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_to: Option<String>,
    /// Why the ledger is off, when it is: nothing was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off: Option<String>,
    /// What went wrong recording or sharing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl LedgerNote {
    fn from_append(result: Result<Option<Appended>, LedgerError>) -> LedgerNote {
        LedgerNote::from_append_as(result, "not recorded in the ledger")
    }

    /// As `from_append`, with `unrecorded` saying what was not recorded when appending failed.
    pub(crate) fn from_append_as(
        result: Result<Option<Appended>, LedgerError>,
        unrecorded: &str,
    ) -> LedgerNote {
        match result {
            Ok(None) => LedgerNote::default(),
            Ok(Some(appended)) => LedgerNote {
                record: Some(appended.record.id),
                pushed_to: appended.pushed_to,
                off: None,
                warning: appended.warning,
            },
            Err(LedgerError::Off(reason)) => LedgerNote {
                off: Some(reason),
                ..LedgerNote::default()
            },
            Err(e) => LedgerNote {
                warning: Some(format!("{unrecorded}: {e}")),
                ..LedgerNote::default()
            },
        }
    }
}

/// Which records `gantry audit` lists.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub service: Option<String>,
    pub environment: Option<String>,
    pub kind: Option<RecordKind>,
}

impl AuditFilter {
    fn keeps(&self, record: &Record) -> bool {
        let matches = |wanted: &Option<String>, have: &Option<String>| {
            wanted.is_none() || wanted.as_ref() == have.as_ref()
        };
        matches(&self.service, &record.service)
            && (matches(&self.environment, &record.environment)
                || self.environment.as_deref() == record.detail("from"))
            && self.kind.as_ref().is_none_or(|k| *k == record.kind)
    }
}

/// Whether the chain holds.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub intact: bool,
    /// Records in the chain.
    pub records: usize,
    /// The commit the ledger ref points at.
    pub head: Option<String>,
    pub problem: Option<Tamper>,
}

/// `gantry audit`: the records (filtered), and whether the whole chain verifies.
#[derive(Debug, Clone, Serialize)]
pub struct AuditView {
    pub records: Vec<Record>,
    pub verification: Verification,
    /// The ref and repository read.
    pub reference: String,
    pub repository: String,
    pub remote: Option<String>,
    /// Records written here and not pushed yet.
    pub unpushed: usize,
    pub notes: Vec<String>,
}

/// A request recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RequestOutcome {
    pub request: RequestState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub notes: Vec<String>,
}

/// An approval recorded, and where its request now stands.
#[derive(Debug, Clone, Serialize)]
pub struct ApproveOutcome {
    pub approval: String,
    pub request: RequestState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub notes: Vec<String>,
}

/// Requests and where they stand.
#[derive(Debug, Clone, Serialize)]
pub struct RequestsView {
    pub requests: Vec<RequestState>,
    pub notes: Vec<String>,
}

/// One approved request `gantry execute` ran (or would run).
#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    pub request: String,
    pub image: String,
    pub digest: Digest,
    pub from: String,
    pub to: String,
    pub ok: bool,
    pub exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<PromotionOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An approved request that can no longer run: its tag now names another image (or none).
#[derive(Debug, Clone, Serialize)]
pub struct StaleRequest {
    pub request: RequestState,
    pub reason: String,
}

/// `gantry execute`: what ran, what still waits for approvals, what no longer stands.
#[derive(Debug, Clone, Serialize)]
pub struct ExecuteReport {
    pub executed: Vec<Execution>,
    pub waiting: Vec<RequestState>,
    /// Approved, but the tag moved since: approvals bind to the digest, so these never run.
    pub stale: Vec<StaleRequest>,
    pub notes: Vec<String>,
}

impl Engine {
    /// Runs `work` on a blocking thread with the ledger open.
    async fn with_ledger<T, F>(&self, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, LedgerError> + Send + 'static,
    {
        let path = self.config.git.path.clone();
        let settings = self.config.ledger.clone();
        tokio::task::spawn_blocking(move || work(&Store::open(&path, &settings)?))
            .await
            .map_err(|e| LedgerError::Git {
                context: "ledger task".into(),
                message: e.to_string(),
            })?
    }

    /// Approvals each environment needs, for code running off the engine's thread.
    fn approvals_needed(&self) -> HashMap<String, u32> {
        self.config
            .environments
            .iter()
            .map(|e| (e.name.clone(), e.approvals))
            .collect()
    }

    /// The ledger as it stands, fetched from its remote first. A broken chain is reported
    /// in `problem`, not as an error, so it can be shown.
    pub async fn ledger_snapshot(&self) -> Result<Snapshot, LedgerError> {
        self.with_ledger(|store| store.load()).await
    }

    /// Appends a record by the current git identity (`user.email`) and pushes it. For
    /// kinds this module does not write itself (override, deletion, deploy...).
    pub async fn record(&self, new: NewRecord) -> Result<Appended, LedgerError> {
        self.with_ledger(move |store| store.append(new)).await
    }

    /// The history, filtered, with the verification of the whole chain.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<AuditView, LedgerError> {
        let snapshot = self.ledger_snapshot().await?;
        let total = snapshot.records.len();
        let records = snapshot
            .records
            .into_iter()
            .filter(|r| filter.keeps(r))
            .collect();
        Ok(AuditView {
            records,
            verification: Verification {
                intact: snapshot.problem.is_none(),
                records: total,
                head: snapshot.head,
                problem: snapshot.problem,
            },
            reference: self.config.ledger.reference.clone(),
            repository: self.config.git.path.display().to_string(),
            remote: snapshot.remote,
            unpushed: snapshot.unpushed,
            notes: snapshot.notes,
        })
    }

    /// Every request with its approvals, oldest first.
    pub async fn requests(&self) -> Result<RequestsView, LedgerError> {
        let snapshot = self.ledger_snapshot().await?;
        if let Some(problem) = snapshot.problem {
            return Err(LedgerError::Tampered(problem));
        }
        let needed = self.approvals_needed();
        Ok(RequestsView {
            requests: approvals::requests(&snapshot.records, |env| {
                needed.get(env).copied().unwrap_or(0)
            }),
            notes: snapshot.notes,
        })
    }

    /// Requests not carried out yet (waiting for approvals, or approved), oldest first.
    pub async fn pending_requests(&self) -> Result<Vec<RequestState>, LedgerError> {
        Ok(self
            .requests()
            .await?
            .requests
            .into_iter()
            .filter(|r| r.status != RequestStatus::Executed)
            .collect())
    }

    /// The approvals a promotion of `service@digest` into `environment` has and needs.
    /// A broken chain is an error: approvals read from it prove nothing.
    pub async fn approvals_for(
        &self,
        service: &str,
        digest: &Digest,
        environment: &str,
    ) -> Result<ApprovalState, LedgerError> {
        let needed = self
            .config
            .environment(environment)
            .map_err(EngineError::from)?
            .approvals;
        let snapshot = self.ledger_snapshot().await?;
        if let Some(problem) = snapshot.problem {
            return Err(LedgerError::Tampered(problem));
        }
        Ok(approvals::approvals_for(
            &snapshot.records,
            service,
            digest,
            environment,
            needed,
        ))
    }

    /// Why `plan` may not run for want of approvals; `None` when the target needs none or
    /// has enough.
    pub(crate) async fn approval_refusal(&self, plan: &Plan) -> Option<String> {
        let needed = self.config.environment(&plan.to).ok()?.approvals;
        if needed == 0 {
            return None;
        }
        let image = format!("{}:{}", plan.service, plan.tag);
        match self
            .approvals_for(&plan.service, &plan.digest, &plan.to)
            .await
        {
            Ok(state) => state.shortfall(&image, &plan.from),
            Err(LedgerError::Off(reason)) => Some(format!(
                "{} needs {needed} approval(s) and the ledger that holds them is off: {reason}",
                plan.to
            )),
            Err(e) => Some(format!(
                "{} needs {needed} approval(s), and they cannot be read: {e}",
                plan.to
            )),
        }
    }

    /// Records a promotion that was carried out, linked to the request it fulfils. One
    /// that changed nothing is recorded only when it fulfils a request; `None` when
    /// nothing was (or would have been) recorded.
    pub(crate) async fn record_promotion(&self, plan: &Plan) -> Option<LedgerNote> {
        let noop = plan.is_noop();
        let needed = self.approvals_needed();
        let (service, digest, to) = (plan.service.clone(), plan.digest.clone(), plan.to.clone());
        let mut details = serde_json::json!({
            "from": plan.from,
            "source": plan.source,
            "target": plan.target,
            "summary": plan.summary(true),
        });
        let base = NewRecord {
            kind: RecordKind::Promotion,
            service: Some(service.clone()),
            environment: Some(to.clone()),
            digest: Some(digest.clone()),
            tag: Some(plan.tag.clone()),
            details: serde_json::Value::Null,
        };
        let result = self
            .with_ledger(move |store| {
                store.append_with(|records| {
                    let fulfils =
                        approvals::requests(records, |env| needed.get(env).copied().unwrap_or(0))
                            .into_iter()
                            .rev()
                            .find(|r| {
                                r.status != RequestStatus::Executed
                                    && r.service == service
                                    && r.digest == digest
                                    && r.to == to
                            });
                    match (fulfils, details.as_object_mut()) {
                        (Some(request), Some(map)) => {
                            map.insert("request".into(), request.id.into());
                        }
                        _ if noop => return Ok(None),
                        _ => {}
                    }
                    Ok(Some(NewRecord {
                        details: details.clone(),
                        ..base.clone()
                    }))
                })
            })
            .await;
        match (noop, LedgerNote::from_append(result)) {
            (true, note) if note.record.is_none() && note.warning.is_none() => None,
            (_, note) => Some(note),
        }
    }

    /// Records a rollback that moved a tag.
    pub(crate) async fn record_rollback(&self, outcome: &RollbackOutcome) -> LedgerNote {
        let new = NewRecord {
            kind: RecordKind::Rollback,
            service: Some(outcome.service.clone()),
            environment: Some(outcome.environment.clone()),
            digest: Some(outcome.to.clone()),
            tag: Some(outcome.image_tag.clone()),
            details: serde_json::json!({
                "tag": outcome.tag,
                "replaced": outcome.from,
            }),
        };
        LedgerNote::from_append(self.record(new).await.map(Some))
    }

    /// Records a request to promote `selector` (resolved to its digest now) into `to`.
    /// Refused when the target is read-only or the same image already waits there.
    pub async fn request_promotion(
        &self,
        selector: &ImageSelector,
        from: Option<&str>,
        to: &str,
    ) -> Result<RequestOutcome, LedgerError> {
        let source = self.source_environment(to, from)?.clone();
        let target = self
            .config
            .environment(to)
            .map_err(EngineError::from)?
            .clone();
        self.config
            .service(selector.service())
            .map_err(EngineError::from)?;
        if target.readonly {
            return Err(LedgerError::Refused(format!(
                "{} is read-only in the configuration: gantry does not promote into it",
                target.name
            )));
        }
        // Who asks is known before the registry is asked anything.
        self.with_ledger(|store| store.identity().map(|_| ()))
            .await?;
        let resolved = self.resolve(selector, &source).await?;
        let needed = self.approvals_needed();
        let new = NewRecord {
            kind: RecordKind::Request,
            service: Some(selector.service().to_string()),
            environment: Some(target.name.clone()),
            digest: Some(resolved.manifest.digest.clone()),
            tag: Some(resolved.tag.clone()),
            details: serde_json::json!({ "from": source.name }),
        };
        let needed_in_closure = needed.clone();
        let appended = self
            .with_ledger(move |store| {
                store.append_with(|records| {
                    let open = approvals::requests(records, |env| {
                        needed_in_closure.get(env).copied().unwrap_or(0)
                    })
                    .into_iter()
                    .find(|r| {
                        r.status != RequestStatus::Executed
                            && Some(&r.service) == new.service.as_ref()
                            && Some(&r.digest) == new.digest.as_ref()
                            && Some(&r.to) == new.environment.as_ref()
                    });
                    if let Some(open) = open {
                        return Err(LedgerError::Refused(format!(
                            "{}:{} ({}) into {} is already requested as {} by {} ({} of {} approvals): approve it with `gantry approve {}`",
                            open.service,
                            open.tag,
                            open.digest,
                            open.to,
                            open.id,
                            open.requester,
                            open.approvals.approvers.len(),
                            open.approvals.needed,
                            open.id
                        )));
                    }
                    Ok(Some(new.clone()))
                })
            })
            .await?
            .ok_or_else(|| LedgerError::Refused("nothing was recorded".into()))?;
        let state = self.state_of(&appended.record.id, &needed, None).await?;
        self.notify_request(NotifyEvent::RequestWaiting, &state);
        Ok(RequestOutcome {
            request: state,
            pushed_to: appended.pushed_to,
            warning: appended.warning,
            notes: appended.notes,
        })
    }

    /// A request's state, read back from the ledger (or from `records` when given).
    async fn state_of(
        &self,
        id: &str,
        needed: &HashMap<String, u32>,
        records: Option<&[Record]>,
    ) -> Result<RequestState, LedgerError> {
        let owned;
        let records = match records {
            Some(records) => records,
            None => {
                owned = self.ledger_snapshot().await?.records;
                &owned
            }
        };
        approvals::requests(records, |env| needed.get(env).copied().unwrap_or(0))
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| LedgerError::UnknownRequest {
                id: id.to_string(),
                hint: String::new(),
            })
    }

    /// Refused unless the image `state` asks for is still behind its tag in the source.
    async fn check_still_tagged(&self, state: &RequestState) -> Result<(), LedgerError> {
        let service = self
            .config
            .service(&state.service)
            .map_err(EngineError::from)?;
        let source = self
            .config
            .environment(&state.from)
            .map_err(EngineError::from)?;
        let head = self
            .client(&source.name)?
            .head_manifest(&source.repository(service), &state.tag)
            .await
            .map_err(EngineError::from)?;
        match head {
            Some(head) if head.digest == state.digest => Ok(()),
            Some(head) => Err(LedgerError::Refused(format!(
                "request {}: {}:{} in {} now points at {}, not at the requested {}: approvals bind to the digest, so this request no longer stands; request the new image again",
                state.id, state.service, state.tag, state.from, head.digest, state.digest
            ))),
            None => Err(LedgerError::Refused(format!(
                "request {}: {}:{} is gone from {}: the requested image {} can no longer be promoted from there",
                state.id, state.service, state.tag, state.from, state.digest
            ))),
        }
    }

    /// Records an approval of request `id` (or a unique prefix of it) by the current
    /// identity. Refused for the requester, for a second approval by the same person, and
    /// when the requested tag no longer points at the requested digest.
    pub async fn approve(&self, id: &str) -> Result<ApproveOutcome, LedgerError> {
        let (who, snapshot) = self
            .with_ledger(|store| {
                let (_, email) = store.identity()?;
                Ok((email, store.load()?))
            })
            .await?;
        if let Some(problem) = snapshot.problem {
            return Err(LedgerError::Tampered(problem));
        }
        let request = approvals::find_request(&snapshot.records, id)
            .map_err(|e| unknown_request(id, e))?
            .clone();
        let needed = self.approvals_needed();
        let state = self
            .state_of(&request.id, &needed, Some(&snapshot.records))
            .await?;
        refuse_approval(&state, &who)?;
        self.check_still_tagged(&state).await?;
        let request_id = request.id.clone();
        let needed_in_closure = needed.clone();
        let appended = self
            .with_ledger(move |store| {
                store.append_with(|records| {
                    // Checked again on the ledger as fetched for the write.
                    let state = approvals::requests(records, |env| {
                        needed_in_closure.get(env).copied().unwrap_or(0)
                    })
                    .into_iter()
                    .find(|r| r.id == request_id)
                    .ok_or_else(|| LedgerError::UnknownRequest {
                        id: request_id.clone(),
                        hint: String::new(),
                    })?;
                    refuse_approval(&state, &who)?;
                    Ok(Some(NewRecord {
                        kind: RecordKind::Approval,
                        service: Some(state.service.clone()),
                        environment: Some(state.to.clone()),
                        digest: Some(state.digest.clone()),
                        tag: Some(state.tag.clone()),
                        details: serde_json::json!({ "request": state.id, "from": state.from }),
                    }))
                })
            })
            .await?
            .ok_or_else(|| LedgerError::Refused("nothing was recorded".into()))?;
        let state = self.state_of(&request.id, &needed, None).await?;
        self.notify_request(NotifyEvent::Approved, &state);
        Ok(ApproveOutcome {
            approval: appended.record.id,
            request: state,
            pushed_to: appended.pushed_to,
            warning: appended.warning,
            notes: appended.notes,
        })
    }

    /// Promotes every approved request that has not been carried out yet, oldest first,
    /// recording each promotion. Needs an identity unless `dry_run`.
    pub async fn execute_approved(&self, dry_run: bool) -> Result<ExecuteReport, LedgerError> {
        let snapshot = self
            .with_ledger(move |store| {
                if !dry_run {
                    store.identity()?;
                }
                store.load()
            })
            .await?;
        if let Some(problem) = snapshot.problem {
            return Err(LedgerError::Tampered(problem));
        }
        let needed = self.approvals_needed();
        let states = approvals::requests(&snapshot.records, |env| {
            needed.get(env).copied().unwrap_or(0)
        });
        let mut executed: Vec<Execution> = Vec::new();
        let mut waiting = Vec::new();
        let mut stale = Vec::new();
        for state in states {
            match state.status {
                RequestStatus::Executed => continue,
                RequestStatus::Waiting => {
                    waiting.push(state);
                    continue;
                }
                RequestStatus::Approved => {}
            }
            // Two approved requests of one image into one environment run once.
            if executed.iter().any(|e| {
                e.digest == state.digest
                    && e.to == state.to
                    && e.image.starts_with(&format!("{}:", state.service))
            }) {
                continue;
            }
            let image = format!("{}:{}", state.service, state.tag);
            let result = match self.check_still_tagged(&state).await {
                Err(LedgerError::Refused(reason)) => {
                    stale.push(StaleRequest {
                        request: state,
                        reason,
                    });
                    continue;
                }
                Ok(()) => {
                    let request = PromotionRequest {
                        selector: ImageSelector::Tag {
                            service: state.service.clone(),
                            tag: state.tag.clone(),
                        },
                        from: state.from.clone(),
                        to: state.to.clone(),
                    };
                    self.promote(&request, dry_run)
                        .await
                        .map_err(|e| (e.exit_code(), e.to_string()))
                }
                Err(e) => Err((e.exit_code(), e.to_string())),
            };
            executed.push(match result {
                Ok(outcome) => Execution {
                    request: state.id.clone(),
                    image,
                    digest: state.digest.clone(),
                    from: state.from.clone(),
                    to: state.to.clone(),
                    ok: true,
                    exit_code: 0,
                    outcome: Some(outcome),
                    error: None,
                },
                Err((code, error)) => Execution {
                    request: state.id.clone(),
                    image,
                    digest: state.digest.clone(),
                    from: state.from.clone(),
                    to: state.to.clone(),
                    ok: false,
                    exit_code: code,
                    outcome: None,
                    error: Some(error),
                },
            });
        }
        Ok(ExecuteReport {
            executed,
            waiting,
            stale,
            notes: snapshot.notes,
        })
    }

    /// Records a rollback after it happened; the outcome carries what the ledger said.
    pub(crate) async fn note_rollback(&self, mut outcome: RollbackOutcome) -> RollbackOutcome {
        if outcome.from.as_ref() != Some(&outcome.to) {
            outcome.ledger = Some(self.record_rollback(&outcome).await);
        }
        outcome
    }
}

fn unknown_request(id: &str, e: FindError) -> LedgerError {
    match e {
        FindError::TooShort => LedgerError::UnknownRequest {
            id: id.to_string(),
            hint: format!(
                ": give at least {MIN_ID_PREFIX} digits of the id (`gantry requests` lists them)"
            ),
        },
        FindError::Unknown => LedgerError::UnknownRequest {
            id: id.to_string(),
            hint: " (`gantry requests` lists them)".into(),
        },
        FindError::NotARequest(kind) => LedgerError::UnknownRequest {
            id: id.to_string(),
            hint: format!(": that record is a {kind}, not a request"),
        },
        FindError::Ambiguous(ids) => LedgerError::UnknownRequest {
            id: id.to_string(),
            hint: format!(": it starts several ({}); give more digits", ids.join(", ")),
        },
    }
}

/// The rules an approval must pass, whoever checks: not the requester, not twice.
fn refuse_approval(state: &RequestState, who: &str) -> Result<(), LedgerError> {
    if state.approvals.requesters.iter().any(|r| r == who) {
        return Err(LedgerError::Refused(format!(
            "{who} requested {}:{} into {} ({}): approvals must come from someone else",
            state.service, state.tag, state.to, state.id
        )));
    }
    if state.approvals.approvers.iter().any(|a| a.actor == who) {
        return Err(LedgerError::Refused(format!(
            "{who} already approved {}:{} ({}) into {}: each person counts once",
            state.service, state.digest, state.to, state.id
        )));
    }
    if state.status == RequestStatus::Executed {
        return Err(LedgerError::Refused(format!(
            "request {} was carried out already (promotion {})",
            state.id,
            state.promotion.as_deref().unwrap_or("?")
        )));
    }
    Ok(())
}
