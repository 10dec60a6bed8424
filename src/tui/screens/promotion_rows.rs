//! The rows of the Promotions screen: requests waiting in the ledger, and the promotions
//! this session started (jobs), with what identifies a row across reloads.

use chrono::{DateTime, Utc};

use crate::engine::{JobId, Plan, Progress, PromotionRequest};
use crate::ledger::approvals::RequestState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Done,
    Failed,
    Refused,
    Cancelled,
}

/// A ledger request not carried out yet, as the Promotions screen lists it and the
/// approval dialog names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    pub id: String,
    pub service: String,
    pub tag: String,
    pub from: String,
    pub to: String,
    pub requester: String,
    /// Who approved it so far, each person once.
    pub approvers: Vec<String>,
    /// `[[environment]] approvals` of the target.
    pub needed: u32,
}

impl RequestRow {
    /// `service:tag`, as the rest of the console names an image.
    pub fn image(&self) -> String {
        format!("{}:{}", self.service, self.tag)
    }

    /// Has the approvals it needs: `gantry execute` carries it out.
    pub fn complete(&self) -> bool {
        self.approvers.len() >= self.needed as usize
    }
}

impl From<&RequestState> for RequestRow {
    fn from(state: &RequestState) -> RequestRow {
        RequestRow {
            id: state.id.clone(),
            service: state.service.clone(),
            tag: state.tag.clone(),
            from: state.from.clone(),
            to: state.to.clone(),
            requester: state.requester.clone(),
            approvers: state
                .approvals
                .approvers
                .iter()
                .map(|a| a.actor.clone())
                .collect(),
            needed: state.approvals.needed,
        }
    }
}

/// One row of the Promotions screen: waiting requests first, then this session's jobs.
#[derive(Debug, Clone, Copy)]
pub enum PromotionRow<'a> {
    Request(&'a RequestRow),
    Job(&'a JobView),
}

/// What a Promotions row is, whatever its position: a reload moves rows, not this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PromotionKey {
    Request(String),
    Job(JobId),
}

impl PromotionKey {
    pub(super) fn of(row: PromotionRow) -> PromotionKey {
        match row {
            PromotionRow::Request(request) => PromotionKey::Request(request.id.clone()),
            PromotionRow::Job(job) => PromotionKey::Job(job.id),
        }
    }
}

/// One promotion as the Promotions screen shows it.
#[derive(Debug, Clone)]
pub struct JobView {
    pub id: JobId,
    pub request: PromotionRequest,
    pub plan: Option<Plan>,
    pub state: JobState,
    pub progress: Option<Progress>,
    /// The engine's summary, or why it failed.
    pub outcome: Option<String>,
    pub started: DateTime<Utc>,
}

impl JobView {
    pub fn label(&self) -> String {
        self.request.selector.to_string()
    }
}
