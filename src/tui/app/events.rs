//! Events that do not come from the keyboard, routed to whoever owns what they carry:
//! loaded data to its screen or to the open dialog, the engine's reports to the
//! clean-up dialog or the Promotions screen; and what an outward change makes stale.

use chrono::{DateTime, Utc};

use super::{App, DataEvent, Dialog, Effect, Level};
use crate::config::keys::Screen;
use crate::engine::{EngineEvent, JobId, Plan};
use crate::git::fleet::FetchReport;
use crate::tui::context::{Change, Loadable};

impl App {
    /// A load's or an outward action's result. The current list is kept within its rows
    /// after, except when a reload starts (its rows are kept in when it arrives).
    pub fn on_data(&mut self, event: DataEvent) -> Vec<Effect> {
        let mut effects = Vec::new();
        match event {
            DataEvent::Images {
                service,
                env,
                result,
            } => effects = self.images.on_listing(service, env, result),
            DataEvent::Requests(result) => self.promotions.on_requests(result, &mut self.ctx),
            DataEvent::Audit(result) => self.audit.on_ledger(result),
            DataEvent::Approved(result) => {
                self.say_result(result);
                return self.reload_after(Change::Approved);
            }
            DataEvent::Signature {
                service,
                env,
                digest,
                mark,
            } => self.images.on_signature(service, env, digest, mark),
            DataEvent::Attached {
                service,
                env,
                digest,
                result,
            } => {
                self.images.attached.insert((service, env, digest), result);
            }
            DataEvent::Status(result) => self.environments.finish(result),
            DataEvent::StatusCell { load, cell } => self.environments.on_cell(load, *cell),
            DataEvent::StatusDone { load, report } => self.environments.on_done(load, *report),
            DataEvent::Commits(result) => self.commits.on_history(result),
            DataEvent::Branches { repository, result } => {
                // Another service's repository may have been asked for since.
                if repository == self.branches.repository {
                    self.branches.listing = result.into();
                }
            }
            DataEvent::Planned { request, result } => {
                if let Some(Dialog::Promotion(dialog)) = self.dialog.as_mut() {
                    dialog.on_planned(request, result);
                }
            }
            DataEvent::RolledBack {
                service,
                env,
                result,
            } => {
                self.say_result(result);
                return self.reload_after(Change::RolledBack { service, env });
            }
            DataEvent::Retention {
                service,
                env,
                result,
            } => {
                let shown = self.screen == Screen::Retention;
                self.retention
                    .on_plan((service, env), result, shown, &mut self.ctx);
            }
            DataEvent::Deployed {
                service,
                env,
                dry_run,
                result,
            } => {
                if let Some(Dialog::Deploy(dialog)) = self.dialog.as_mut() {
                    dialog.on_deployed(&service, &env, dry_run, result);
                }
            }
            DataEvent::CleanedUp { job, result } => {
                if let Some(Dialog::CleanUp(dialog)) = self.dialog.as_mut() {
                    dialog.on_cleaned(job, result);
                }
            }
            DataEvent::Registries(read) => self.ctx.learn_registries(read),
            DataEvent::Fetched(report) => effects = self.on_fetched(&report),
            DataEvent::Joined(join) => self.environments.on_join(join),
            DataEvent::Doctor(report) => self.doctor.on_report(report),
            DataEvent::BranchCut(result) => match self.dialog.as_mut() {
                Some(Dialog::Release(dialog)) => dialog.outcome = result.into(),
                Some(Dialog::Hotfix(dialog)) => dialog.outcome = result.into(),
                _ => {}
            },
        }
        self.clamp_current();
        effects
    }

    /// A background fetch ended: the matrix joins that repository again, and the git
    /// screens showing it reload.
    fn on_fetched(&mut self, report: &FetchReport) -> Vec<Effect> {
        let Some(entry) = self.ctx.repos.on_fetched(report) else {
            return Vec::new();
        };
        let recent_only = match &report.result {
            Ok(fetched) => fetched.shallow,
            Err(_) => return Vec::new(),
        };
        let services = entry.services.clone();
        let mut effects = Vec::new();
        if recent_only {
            // Cloned with its recent history: the rest follows, behind the others waiting.
            effects.extend(self.fetch(vec![report.url.clone()], false));
        }
        if self.environments.status.loaded().is_some() {
            effects.push(Effect::JoinStatus {
                url: report.url.clone(),
            });
        }
        let shown = self
            .ctx
            .git_service()
            .is_some_and(|s| services.iter().any(|x| x == s));
        if shown {
            if !matches!(self.commits.history, Loadable::Idle) {
                effects.extend(self.commits.load(true, &self.ctx));
            }
            if !matches!(self.branches.listing, Loadable::Idle) {
                effects.extend(self.branches.load(true, &self.ctx));
            }
        }
        effects
    }

    /// A summary in the footer, or why it failed.
    fn say_result(&mut self, result: Result<String, String>) {
        match result {
            Ok(summary) => self.ctx.say(Level::Info, summary),
            Err(e) => self.ctx.say(Level::Error, e),
        }
    }

    pub fn on_engine(&mut self, event: EngineEvent) -> Vec<Effect> {
        if let Some(Dialog::CleanUp(dialog)) = self.dialog.as_mut() {
            if dialog.on_engine(&event) {
                return Vec::new();
            }
        }
        self.promotions.on_engine(event, &mut self.ctx);
        self.settle(Vec::new())
    }

    /// The loop cancelled `job`'s task.
    pub fn on_cancelled(&mut self, job: JobId) {
        self.promotions.on_cancelled(job);
    }

    pub fn on_plan_for_job(&mut self, job: JobId, plan: Plan) {
        self.promotions.on_plan_for_job(job, plan);
    }

    pub fn on_tick(&mut self, now: DateTime<Utc>) {
        self.ctx.now = now;
    }

    /// Marks what `change` made stale, then loads what the current screen shows.
    pub(super) fn reload_after(&mut self, change: Change) -> Vec<Effect> {
        match change {
            Change::Promoted { service, env } => {
                // What the target holds changed: reload it next time it is shown.
                self.images.forget(&(service, env));
                self.environments.status = Loadable::Idle;
                self.commits.history = Loadable::Idle;
                // The promotion was recorded in the ledger.
                self.audit.ledger = Loadable::Idle;
            }
            Change::Approved => {
                self.promotions.requests = Loadable::Idle;
                self.audit.ledger = Loadable::Idle;
            }
            Change::RolledBack { service, env } => {
                self.images.forget(&(service, env));
                self.environments.status = Loadable::Idle;
                self.audit.ledger = Loadable::Idle;
            }
            Change::Deployed => {
                self.environments.status = Loadable::Idle;
                self.audit.ledger = Loadable::Idle;
            }
            Change::CleanedUp { service, env } => {
                let place = (service, env);
                self.images.forget(&place);
                self.retention.forget(&place);
                self.environments.status = Loadable::Idle;
                self.commits.history = Loadable::Idle;
                self.audit.ledger = Loadable::Idle;
            }
        }
        self.load_screen(false)
    }
}
