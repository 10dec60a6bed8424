//! The clean-up dialog: what a retention plan deletes, asked first; then the deletions
//! counted as the engine reports them; then what was deleted, kept or left for a rerun.

use ratatui::text::{Line, Span};

use super::{cancels, confirms, Content};
use crate::config::keys::KeyChord;
use crate::engine::{EngineEvent, EventKind, JobId};
use crate::retention::{RetentionOutcome, RetentionPlan, RECLAIM_HINT};
use crate::tui::context::{Ask, Change, Context, Loadable};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::styled_line;

/// Images listed by name in the confirmation; the rest are counted.
const CLEANUP_LISTED: usize = 8;

#[derive(Debug, Clone)]
pub struct CleanUpDialog {
    pub plan: RetentionPlan,
    /// Set once confirmed: the engine's job, whose events count the deletions.
    pub job: Option<JobId>,
    /// The latest thing the run said (`deleted payment-svc:sha-… (…)`).
    pub last: Option<String>,
    pub deleted: usize,
    pub outcome: Loadable<RetentionOutcome>,
}

impl CleanUpDialog {
    pub fn new(plan: RetentionPlan) -> CleanUpDialog {
        CleanUpDialog {
            plan,
            job: None,
            last: None,
            deleted: 0,
            outcome: Loadable::Idle,
        }
    }

    pub fn on_key(&mut self, chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
        let (confirm, cancel) = (confirms(chord), cancels(chord));
        match &self.outcome {
            Loadable::Idle if confirm => {
                let id = ctx.new_job();
                self.job = Some(id);
                self.outcome = Loadable::Loading;
                return vec![Effect::CleanUp {
                    job: id,
                    plan: self.plan.clone(),
                }];
            }
            Loadable::Idle if cancel => ctx.ask(Ask::Close),
            // Deleting cannot be taken back halfway; the dialog stays until it is done.
            Loadable::Loading | Loadable::Idle => {}
            Loadable::Loaded(_) | Loadable::Failed(_) if confirm || cancel => {
                ctx.ask(Ask::Close);
                // The registry changed: every view of it is stale.
                ctx.ask(Ask::Reload(Change::CleanedUp {
                    service: self.plan.service.clone(),
                    env: self.plan.environment.clone(),
                }));
            }
            Loadable::Loaded(_) | Loadable::Failed(_) => {}
        }
        Vec::new()
    }

    /// Counts what the run deletes; false when `event` is not about this run.
    pub fn on_engine(&mut self, event: &EngineEvent) -> bool {
        if self.job != Some(event.job) {
            return false;
        }
        match &event.kind {
            EventKind::Deleted { image } => {
                self.deleted += 1;
                self.last = Some(format!("deleted {image}"));
            }
            EventKind::Log { message } => self.last = Some(message.clone()),
            _ => {}
        }
        true
    }

    /// The run's result, if it is this run's.
    pub fn on_cleaned(&mut self, job: JobId, result: Result<RetentionOutcome, String>) {
        if self.job == Some(job) {
            self.outcome = result.into();
        }
    }

    /// `tag_prefix` names an image by its commit tag first.
    pub fn content(&self, tag_prefix: &str, theme: &Theme) -> Content {
        let CleanUpDialog {
            plan,
            last,
            deleted,
            outcome,
            ..
        } = self;
        let (lines, keys) = match outcome {
            Loadable::Idle => {
                let mut lines = vec![
                    styled_line(plan.summary(), theme.warn),
                    styled_line(plan.repository.clone(), theme.muted),
                ];
                for image in plan.delete.iter().take(CLEANUP_LISTED) {
                    lines.push(Line::from(vec![
                        Span::styled("delete ", theme.error),
                        Span::styled(image.label(tag_prefix), theme.text),
                        Span::styled(
                            format!("  {}  {}", image.digest.short(), image.reason),
                            theme.muted,
                        ),
                    ]));
                }
                if plan.delete.len() > CLEANUP_LISTED {
                    lines.push(Line::from(Span::styled(
                        format!(
                            "… and {} more (the Retention screen lists them all)",
                            plan.delete.len() - CLEANUP_LISTED
                        ),
                        theme.muted,
                    )));
                }
                if !plan.orphan_signatures.is_empty() {
                    lines.push(Line::from(Span::styled(
                        format!(
                            "and {} signature(s) whose image is already gone",
                            plan.orphan_signatures.len()
                        ),
                        theme.muted,
                    )));
                }
                lines.push(Line::from(Span::styled(
                    "deleted by digest with their signatures; each is checked again first and kept if a tag moved onto it since",
                    theme.muted,
                )));
                (lines, "y/enter delete · esc cancel")
            }
            Loadable::Loading => {
                let mut lines = vec![Line::from(Span::styled(
                    format!("deleting… {deleted} of {} done", plan.delete.len()),
                    theme.progress,
                ))];
                if let Some(last) = last {
                    lines.push(styled_line(last.to_string(), theme.muted));
                }
                (lines, "deleting: a stop now leaves the rest for a rerun")
            }
            Loadable::Loaded(done) => {
                let mut lines = vec![Line::from(Span::styled(
                    done.summary(),
                    if done.failure.is_some() {
                        theme.warn
                    } else {
                        theme.ok
                    },
                ))];
                if let Some(failure) = &done.failure {
                    lines.push(Line::from(Span::styled(
                        failure.message.clone(),
                        theme.error,
                    )));
                }
                for kept in &done.kept {
                    lines.push(Line::from(Span::styled(
                        format!("kept {}: {}", kept.tags.join(","), kept.reason),
                        theme.warn,
                    )));
                }
                if !done.not_deleted.is_empty() {
                    lines.push(Line::from(Span::styled(
                        format!(
                            "{} not deleted: run the clean-up again to continue",
                            done.not_deleted.len()
                        ),
                        theme.warn,
                    )));
                }
                for warning in &done.ledger_warnings {
                    lines.push(styled_line(warning.clone(), theme.warn));
                }
                if !done.deleted.is_empty() || !done.orphan_signatures_deleted.is_empty() {
                    lines.push(Line::from(""));
                    lines.extend(
                        RECLAIM_HINT
                            .lines()
                            .map(|l| styled_line(l.to_string(), theme.muted)),
                    );
                }
                (lines, "enter/esc close")
            }
            Loadable::Failed(e) => (
                vec![
                    styled_line(e.clone(), theme.error),
                    styled_line("nothing was deleted", theme.muted),
                ],
                "enter/esc close",
            ),
        };
        Content {
            title: "Clean up",
            lines,
            keys,
        }
    }
}
