//! The rows of the Promotions screen: requests waiting in the ledger, and the promotions
//! this session started (jobs); what identifies a row across reloads, and how a row and
//! its detail lines are drawn.

use chrono::{DateTime, Utc};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use crate::config::keys::{Action, Screen};
use crate::domain::human_bytes;
use crate::engine::{JobId, Plan, Progress, PromotionRequest, Step};
use crate::ledger::approvals::RequestState;
use crate::tui::context::Context;
use crate::tui::theme::Theme;
use crate::tui::widgets::progress_bar;

/// Where a promotion this session started is.
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

impl PromotionRow<'_> {
    /// `service:tag` as asked for, or the job's image as it was selected.
    pub fn image(&self) -> String {
        match self {
            PromotionRow::Request(r) => r.image(),
            PromotionRow::Job(j) => j.label(),
        }
    }

    pub fn route(&self) -> String {
        match self {
            PromotionRow::Request(r) => format!("{} → {}", r.from, r.to),
            PromotionRow::Job(j) => format!("{} → {}", j.request.from, j.request.to),
        }
    }

    /// The row's cells: state, image, route, progress (approvals for a request), result.
    pub fn cells(&self, theme: &Theme) -> Row<'static> {
        let job = match self {
            PromotionRow::Request(request) => {
                let (state, style) = if request.complete() {
                    ("approved", theme.ok)
                } else {
                    ("waiting", theme.warn)
                };
                return Row::new(vec![
                    Cell::from(Span::styled(state, style)),
                    Cell::from(self.image()),
                    Cell::from(self.route()),
                    Cell::from(format!(
                        "{}/{} approvals",
                        request.approvers.len(),
                        request.needed
                    )),
                    // The id first: it is what `gantry approve` and the ledger use.
                    Cell::from(format!("{} by {}", request.id, request.requester)),
                ]);
            }
            PromotionRow::Job(job) => job,
        };
        let (state, style) = match job.state {
            JobState::Running => ("running", theme.progress),
            JobState::Done => ("done", theme.ok),
            JobState::Failed => ("failed", theme.error),
            JobState::Refused => ("refused", theme.warn),
            JobState::Cancelled => ("cancelled", theme.muted),
        };
        Row::new(vec![
            Cell::from(Span::styled(state, style)),
            Cell::from(self.image()),
            Cell::from(self.route()),
            Cell::from(Span::styled(job.progress_text(), theme.progress)),
            Cell::from(job.outcome.clone().unwrap_or_default()),
        ])
    }

    /// The lines under the list about the selected row.
    pub fn detail(&self, ctx: &Context, theme: &Theme) -> Vec<Line<'static>> {
        match self {
            PromotionRow::Request(request) => request_detail(request, ctx, theme),
            PromotionRow::Job(job) => job_detail(job, theme),
        }
    }
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

    /// Its step, a bar of the bytes copied, blobs done of all, and bytes.
    fn progress_text(&self) -> String {
        match self.progress {
            Some(p) => {
                let step = match p.step {
                    Step::Resolving => "resolve",
                    Step::Planning => "plan",
                    Step::CopyingBlobs => "copy",
                    Step::PushingManifests => "manifests",
                    Step::Tagging => "tag",
                    Step::Deploying => "deploy",
                    Step::Done => "done",
                };
                format!(
                    "{step:9} {} {}/{} {}",
                    progress_bar(p.bytes_done, p.bytes_total, 8),
                    p.blobs_done,
                    p.blobs_total,
                    human_bytes(p.bytes_done)
                )
            }
            None if self.state == JobState::Running => "starting".into(),
            None => "-".into(),
        }
    }
}

/// The selected promotion's result in full: the column cuts it.
fn job_detail(job: &JobView, theme: &Theme) -> Vec<Line<'static>> {
    let Some(outcome) = &job.outcome else {
        return Vec::new();
    };
    let style = match job.state {
        JobState::Done => theme.ok,
        JobState::Refused => theme.warn,
        JobState::Failed => theme.error,
        JobState::Running | JobState::Cancelled => theme.muted,
    };
    vec![Line::from(vec![
        Span::styled(format!(" {}: ", job.label()), theme.title),
        Span::styled(outcome.clone(), style),
    ])]
}

/// Who asked for the selected request, who approved it, and what comes next.
fn request_detail(request: &RequestRow, ctx: &Context, theme: &Theme) -> Vec<Line<'static>> {
    let approvers = if request.approvers.is_empty() {
        String::new()
    } else {
        format!(" ({})", request.approvers.join(", "))
    };
    let mut spans = vec![
        Span::styled(format!(" request {}: ", request.id), theme.title),
        Span::styled(
            format!(
                "asked by {}; {} of {} approvals{approvers}",
                request.requester,
                request.approvers.len(),
                request.needed,
            ),
            theme.text,
        ),
    ];
    let next = if request.complete() {
        "   `gantry execute` promotes it".to_string()
    } else if ctx.allowed(Action::Approve) {
        format!(
            "   {} approves",
            ctx.key_name(Screen::Promotions, Action::Approve)
        )
    } else {
        String::new()
    };
    spans.push(Span::styled(next, theme.muted));
    vec![Line::from(spans)]
}
