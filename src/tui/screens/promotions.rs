//! The Promotions screen: requests waiting in the ledger first, then the promotions this
//! session started, live; approve a request, open or cancel a promotion, roll it back.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::promotion_rows::PromotionKey;
pub use super::promotion_rows::{JobState, JobView, PromotionRow, RequestRow};
use crate::config::keys::{Action, Screen};
use crate::domain::Digest;
use crate::engine::{EngineEvent, EventKind, JobId, Plan, PromotionRequest, TagAction};
use crate::tui::context::{Ask, Change, Context, Level, ListView, Loadable};
use crate::tui::dialogs::Dialog;
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    filter_span, render_table, split_detail, split_title, title_line, TableSpec,
};

/// What read-only answers to an approval, from a key or from the palette.
pub const READONLY_APPROVE: &str = "read-only: approving is disabled";

/// What approving says on the screens that do not list requests.
pub const APPROVE_HERE: &str =
    "requests are approved on the Promotions screen, where they are listed";

#[derive(Debug, Default)]
pub struct PromotionsScreen {
    /// Requests waiting for approvals or execution.
    pub requests: Loadable<Vec<RequestRow>>,
    /// This session's promotions, oldest first.
    pub jobs: Vec<JobView>,
}

impl PromotionsScreen {
    pub fn load(&mut self, force: bool) -> Vec<Effect> {
        self.requests.load(force, Effect::LoadRequests)
    }

    /// Requests not carried out yet, oldest first, that match the filter.
    pub fn request_rows(&self, ctx: &Context) -> Vec<&RequestRow> {
        let Loadable::Loaded(requests) = &self.requests else {
            return Vec::new();
        };
        ctx.filtered(Screen::Promotions, requests, |r| {
            format!("{} {} {} {} {}", r.id, r.image(), r.from, r.to, r.requester)
        })
    }

    /// This session's promotions that match the filter, newest first.
    pub fn job_rows(&self, ctx: &Context) -> Vec<&JobView> {
        ctx.filtered(Screen::Promotions, self.jobs.iter().rev(), |j| {
            format!("{} {} {}", j.label(), j.request.from, j.request.to)
        })
    }

    /// The screen's rows: what waits for someone's approval comes first.
    pub fn rows(&self, ctx: &Context) -> Vec<PromotionRow<'_>> {
        self.request_rows(ctx)
            .into_iter()
            .map(PromotionRow::Request)
            .chain(self.job_rows(ctx).into_iter().map(PromotionRow::Job))
            .collect()
    }

    pub fn selected(&self, ctx: &Context) -> Option<PromotionRow<'_>> {
        self.rows(ctx)
            .get(ctx.selected(Screen::Promotions))
            .copied()
    }

    pub fn selected_request(&self, ctx: &Context) -> Option<&RequestRow> {
        match self.selected(ctx)? {
            PromotionRow::Request(request) => Some(request),
            PromotionRow::Job(_) => None,
        }
    }

    fn selected_job(&self, ctx: &Context) -> Option<&JobView> {
        match self.selected(ctx)? {
            PromotionRow::Job(job) => Some(job),
            PromotionRow::Request(_) => None,
        }
    }

    /// Whether the selected row takes `action`: a request is approved, a job cancelled
    /// or rolled back.
    pub fn applies(&self, action: Action, ctx: &Context) -> bool {
        match action {
            Action::Approve => self.selected_request(ctx).is_some(),
            Action::CancelJob | Action::Rollback => self.selected_request(ctx).is_none(),
            _ => true,
        }
    }

    /// How many promotions are running.
    pub fn running(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| j.state == JobState::Running)
            .count()
    }

    pub fn update(&mut self, action: Action, ctx: &mut Context) -> Vec<Effect> {
        match action {
            Action::Select => {
                match self.selected(ctx) {
                    Some(PromotionRow::Job(job)) => ctx.ask(Ask::Open(Dialog::Job(job.id))),
                    Some(PromotionRow::Request(request)) => {
                        let text = format!(
                            "request {}: {} approves it (asks first)",
                            request.id,
                            ctx.key_name(Screen::Promotions, Action::Approve)
                        );
                        ctx.say(Level::Info, text);
                    }
                    None => {}
                }
                Vec::new()
            }
            Action::CancelJob => self.cancel_selected_job(ctx),
            Action::Rollback => {
                if let Some(request) = self.selected_request(ctx) {
                    let text = format!(
                        "request {} was never promoted: nothing to roll back",
                        request.id
                    );
                    ctx.say(Level::Info, text);
                } else if let Some(job) = self.selected_job(ctx) {
                    let (service, env) = (
                        job.request.selector.service().to_string(),
                        job.request.to.clone(),
                    );
                    ctx.ask(Ask::Rollback { service, env });
                }
                Vec::new()
            }
            Action::Approve => {
                self.begin_approval(ctx);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn cancel_selected_job(&self, ctx: &mut Context) -> Vec<Effect> {
        if let Some(request) = self.selected_request(ctx) {
            let text = format!(
                "request {} is not a running promotion: {} approves it",
                request.id,
                ctx.key_name(Screen::Promotions, Action::Approve)
            );
            ctx.say(Level::Info, text);
            return Vec::new();
        }
        match self.selected_job(ctx).map(|j| (j.id, j.state)) {
            Some((id, JobState::Running)) => vec![Effect::CancelJob(id)],
            Some(_) => {
                ctx.say(Level::Info, "that promotion is not running");
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Shows exactly which request is approved, then asks: the ledger keeps approvals forever.
    fn begin_approval(&self, ctx: &mut Context) {
        if let Some(request) = self.selected_request(ctx).cloned() {
            ctx.ask(Ask::Open(Dialog::Approve(request)));
            return;
        }
        let why = match &self.requests {
            Loadable::Idle | Loadable::Loading => {
                "the waiting requests are still loading (ctrl-r reloads)".to_string()
            }
            Loadable::Failed(reason) => format!("cannot list the waiting requests: {reason}"),
            Loadable::Loaded(_) if self.request_rows(ctx).is_empty() => {
                if ctx.filter(Screen::Promotions).is_empty() {
                    "no request waits for approval (`gantry request` asks for one)".to_string()
                } else {
                    "no waiting request matches the filter (esc clears it)".to_string()
                }
            }
            Loadable::Loaded(_) => {
                "select a request (the rows above the promotions) to approve it".to_string()
            }
        };
        ctx.say(Level::Warn, why);
    }

    pub fn on_requests(&mut self, result: Result<Vec<RequestRow>, String>, ctx: &mut Context) {
        // Requests come first in the list: the selected row stays selected however many
        // arrived or went above it.
        let selected = self.selected(ctx).map(PromotionKey::of);
        self.requests = result.into();
        let found = selected.and_then(|wanted| {
            self.rows(ctx)
                .into_iter()
                .position(|row| PromotionKey::of(row) == wanted)
        });
        if let Some(index) = found {
            let len = self.rows(ctx).len();
            ctx.lists.entry(Screen::Promotions).or_default().selected = index;
            ctx.clamp(Screen::Promotions, len);
        }
    }

    /// Starts the promotion of `request` (planned as `plan`, when the dialog showed one).
    pub fn start(
        &mut self,
        request: PromotionRequest,
        plan: Option<Plan>,
        ctx: &mut Context,
    ) -> Vec<Effect> {
        let id = ctx.new_job();
        self.jobs.push(JobView {
            id,
            request: request.clone(),
            plan,
            state: JobState::Running,
            progress: None,
            outcome: None,
            started: ctx.now,
        });
        // The new job is the first job row, under the waiting requests.
        let first_job = ListView {
            selected: self.request_rows(ctx).len(),
            offset: 0,
        };
        ctx.lists.insert(Screen::Promotions, first_job);
        vec![Effect::StartPromotion { job: id, request }]
    }

    /// A job's progress or end; a finished promotion makes what shows its target stale.
    pub fn on_engine(&mut self, event: EngineEvent, ctx: &mut Context) {
        let Some(job) = self.jobs.iter_mut().find(|j| j.id == event.job) else {
            return;
        };
        match event.kind {
            EventKind::Started { .. } | EventKind::Log { .. } | EventKind::Deleted { .. } => {}
            EventKind::Progress(progress) => job.progress = Some(progress),
            EventKind::Finished { summary } => {
                job.state = JobState::Done;
                job.outcome = Some(summary);
                ctx.ask(Ask::Reload(Change::Promoted {
                    service: job.request.selector.service().to_string(),
                    env: job.request.to.clone(),
                }));
            }
            EventKind::Failed { reason, exit_code } => {
                job.state = if exit_code == 3 {
                    JobState::Refused
                } else {
                    JobState::Failed
                };
                job.outcome = Some(reason);
            }
        }
    }

    /// The loop cancelled `job`'s task.
    pub fn on_cancelled(&mut self, job: JobId) {
        if let Some(view) = self
            .jobs
            .iter_mut()
            .find(|j| j.id == job && j.state == JobState::Running)
        {
            view.state = JobState::Cancelled;
            view.outcome = Some(
                "cancelled; no tag was written unless the promotion had reached tagging".into(),
            );
        }
    }

    pub fn on_plan_for_job(&mut self, job: JobId, plan: Plan) {
        if let Some(view) = self.jobs.iter_mut().find(|j| j.id == job) {
            view.plan = Some(plan);
        }
    }

    /// Where the last promotion of this session into `env` moved `service`'s mutable tag
    /// from: the image it pointed at before, after the one it points at now.
    pub fn last_move(&self, service: &str, env: &str) -> Option<((String, Digest), Digest)> {
        self.jobs.iter().rev().find_map(|j| {
            let plan = j.plan.as_ref()?;
            (j.state == JobState::Done && plan.service == service && plan.to == env).then(|| {
                plan.tags.iter().find_map(|t| match &t.action {
                    TagAction::Move { from } => {
                        Some(((plan.tag.clone(), plan.digest.clone()), from.clone()))
                    }
                    _ => None,
                })
            })?
        })
    }

    pub fn render(&self, frame: &mut Frame, ctx: &Context, theme: &Theme, body: Rect) {
        let (title, rest) = split_title(body, 1);
        let running = self.running();
        let mut parts = vec![
            Span::styled("promotions", theme.title),
            Span::styled(
                format!("   {running} running, {} in this session", self.jobs.len()),
                theme.muted,
            ),
        ];
        if let Some(requests) = self.requests.loaded().filter(|r| !r.is_empty()) {
            let waiting = requests.iter().filter(|r| !r.complete()).count();
            parts.push(Span::styled("   requests: ", theme.muted));
            parts.push(Span::styled(
                format!("{waiting} waiting"),
                if waiting > 0 { theme.warn } else { theme.muted },
            ));
            parts.push(Span::styled(
                format!(", {} approved", requests.len() - waiting),
                theme.muted,
            ));
        }
        if let Loadable::Failed(error) = &self.requests {
            // Otherwise a ledger that cannot be read looks like one with nothing waiting.
            let first_line = error.lines().next().unwrap_or_default();
            parts.push(Span::styled(
                format!("   requests: cannot load: {first_line}"),
                theme.error,
            ));
        }
        parts.extend(filter_span(ctx, theme, Screen::Promotions));
        frame.render_widget(title_line(theme, parts), title);
        // Requests waiting for approvals come first, then this session's promotions: one
        // list, so the same keys move over both and a click lands on the row it hits.
        let rows = self.rows(ctx);
        let list = ctx.list(Screen::Promotions);
        let (rest, detail) = split_detail(rest);
        if let Some(area) = detail {
            let lines = rows
                .get(list.selected)
                .map_or_else(Vec::new, |row| row.detail(ctx, theme));
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
        }
        let content = |text: &dyn Fn(&PromotionRow) -> String, min: usize| {
            rows.iter()
                .map(|row| text(row).chars().count())
                .max()
                .unwrap_or(0)
                .max(min) as u16
        };
        let image_width = content(&|row| row.image(), 5);
        let route_width = content(&|row| row.route(), 5);
        render_table(
            frame,
            theme,
            rest,
            TableSpec {
                header: vec!["STATE", "IMAGE", "ROUTE", "PROGRESS", "RESULT"],
                widths: vec![
                    Constraint::Length(9),
                    Constraint::Length(image_width),
                    Constraint::Length(route_width),
                    Constraint::Length(30),
                    Constraint::Min(10),
                ],
                len: rows.len(),
                list,
                empty: "no promotion yet: press p on an image, a commit or an environment",
                row_highlight: true,
            },
            |i| rows[i].cells(theme),
        );
    }
}
