//! The engine's side of the ledger: recording promotions and rollbacks, and the audit
//! views the CLI and console show; requests and approvals are in `super::approvals`.
//!
//! Git work runs on a blocking thread (see `crate::ledger::store`); registry checks (does
//! the tag still point at the approved digest?) run here, before anything is recorded.

use std::collections::HashMap;

use serde::Serialize;

use super::plan::Plan;
use super::rollback::RollbackOutcome;
use super::{Engine, EngineError};
use crate::domain::RepoLocation;
use crate::ledger::approvals::{self, RequestStatus};
use crate::ledger::store::{Appended, Snapshot, Store};
use crate::ledger::{LedgerError, NewRecord, Record, RecordKind, Tamper};

pub use super::approvals::{
    ApproveOutcome, ExecuteReport, Execution, RequestOutcome, RequestsView, Sharing, StaleRequest,
};
pub use crate::ledger::LedgerNote;

impl From<EngineError> for LedgerError {
    fn from(e: EngineError) -> Self {
        LedgerError::Step {
            message: e.to_string(),
            exit_code: e.exit_code(),
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

impl Engine {
    /// Runs `work` on a blocking thread with the ledger open.
    pub(crate) async fn with_ledger<T, F>(&self, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, LedgerError> + Send + 'static,
    {
        let mut settings = self.config.ledger.clone();
        let location = self.ledger_location();
        let mirrors = crate::git::fleet::Mirrors::new(self.state_dir.join("ledger"));
        tokio::task::spawn_blocking(move || {
            let path = match &location {
                RepoLocation::Path(path) => path.clone(),
                RepoLocation::Url(url) => {
                    // Kept as a repository of its own under the state directory, whose
                    // remote is the URL: the ledger's ref is fetched and pushed there.
                    settings.remote = Some(crate::git::fleet::MIRROR_REMOTE.into());
                    mirrors.remote_only(url).map_err(|e| LedgerError::Git {
                        context: format!("the ledger repository {url}"),
                        message: e.reason,
                    })?
                }
            };
            work(&Store::open(&path, &settings)?)
        })
        .await
        .map_err(|e| LedgerError::Git {
            context: "ledger task".into(),
            message: e.to_string(),
        })?
    }

    /// Where the ledger lives: `[ledger] repository`, else `[git] path`.
    pub fn ledger_location(&self) -> RepoLocation {
        match &self.config.ledger.repository {
            Some(value) => RepoLocation::parse(value, None),
            None => RepoLocation::Path(self.config.git.path.clone()),
        }
    }

    /// Approvals each environment needs, for code running off the engine's thread.
    pub(crate) fn approvals_needed(&self) -> HashMap<String, u32> {
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
            repository: self.ledger_location().to_string(),
            remote: snapshot.remote,
            unpushed: snapshot.unpushed,
            notes: snapshot.notes,
        })
    }

    /// Records a promotion that was carried out, linked to the request it fulfils. One
    /// that changed nothing is recorded only when it fulfils a request of an environment
    /// that needs approvals; `None` when nothing was (or would have been) recorded.
    pub(crate) async fn record_promotion(&self, plan: &Plan) -> Option<LedgerNote> {
        let noop = plan.is_noop();
        let needed = self.approvals_needed();
        // A promotion that changed nothing is recorded only as the one that carried out
        // a request; into an environment that needs no approvals, `execute` closes those
        // itself, so the ledger (and libgit2's start-up) is not worth reading here.
        if noop && needed.get(&plan.to).copied().unwrap_or(0) == 0 {
            return None;
        }
        self.record_carried_out(plan).await
    }

    /// `record_promotion` for a promotion `execute` ran: a no-op one still closes the
    /// request it carried out, whatever its environment needs.
    pub(crate) async fn record_carried_out(&self, plan: &Plan) -> Option<LedgerNote> {
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

    /// Records a rollback after it happened; the outcome carries what the ledger said.
    pub(crate) async fn note_rollback(&self, mut outcome: RollbackOutcome) -> RollbackOutcome {
        if outcome.from.as_ref() != Some(&outcome.to) {
            outcome.ledger = Some(self.record_rollback(&outcome).await);
        }
        outcome
    }
}
