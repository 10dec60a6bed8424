//! Requests and approvals as the engine runs them: the approvals rule a promotion must
//! pass, `gantry request`, `gantry approve` (checking the tag still names the approved
//! digest) and `gantry execute`, which promotes what is approved.

use std::collections::HashMap;

use serde::Serialize;

use super::plan::Plan;
use super::{Engine, EngineError, PromotionOutcome, PromotionRequest};
use crate::config::notify::NotifyEvent;
use crate::domain::{Digest, ImageSelector};
use crate::ledger::approvals::{self, ApprovalState, FindError, RequestState, RequestStatus};
use crate::ledger::store::Appended;
use crate::ledger::{LedgerError, NewRecord, Record, RecordKind, MIN_ID_PREFIX};

/// Where a new record went beyond this clone (shown beside requests and approvals).
#[derive(Debug, Clone, Serialize)]
pub struct Sharing {
    /// The remote it was pushed to; `None` with no remote, or when the push failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_to: Option<String>,
    /// Why it is only in this clone, when a remote is configured and the push failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub notes: Vec<String>,
}

impl Sharing {
    fn of(appended: Appended) -> (String, Sharing) {
        let sharing = Sharing {
            pushed_to: appended.pushed_to,
            warning: appended.warning,
            notes: appended.notes,
        };
        (appended.record.id, sharing)
    }
}

/// A request recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RequestOutcome {
    pub request: RequestState,
    #[serde(flatten)]
    pub sharing: Sharing,
}

/// An approval recorded, and where its request now stands.
#[derive(Debug, Clone, Serialize)]
pub struct ApproveOutcome {
    pub approval: String,
    pub request: RequestState,
    #[serde(flatten)]
    pub sharing: Sharing,
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
        let (id, sharing) = Sharing::of(appended);
        let state = self.state_of(&id, &needed, None).await?;
        self.notify_request(NotifyEvent::RequestWaiting, &state);
        Ok(RequestOutcome {
            request: state,
            sharing,
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
        let (approval, sharing) = Sharing::of(appended);
        Ok(ApproveOutcome {
            approval,
            request: state,
            sharing,
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
                    match self.promote(&request, dry_run).await {
                        // Already in place: still the promotion that carries the request out.
                        Ok(mut outcome)
                            if !dry_run && outcome.plan.is_noop() && outcome.ledger.is_none() =>
                        {
                            outcome.ledger = self.record_carried_out(&outcome.plan).await;
                            Ok(outcome)
                        }
                        result => result.map_err(|e| (e.exit_code(), e.to_string())),
                    }
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
