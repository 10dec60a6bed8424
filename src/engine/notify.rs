//! Announcing what the engine did to the `[[notify]]` webhooks: requests, approvals,
//! promotions finished or failed, failed deploys, freeze overrides. Sending happens in
//! the background (`crate::webhook`); nothing here waits for a receiver or can fail.

use std::time::Duration;

use super::{Engine, EngineError, PromotionOutcome, PromotionRequest};
use crate::config::notify::NotifyEvent;
use crate::deploy::DeployOutcome;
use crate::ledger::approvals::RequestState;
use crate::notify::{ApprovalCount, Notice};

/// How long a command waits at exit for notifications still being sent. A receiver that
/// is slower than this misses the message (the log says so); the command's result and
/// exit code never depend on it.
pub const FLUSH_AT_EXIT: Duration = Duration::from_secs(2);

impl Engine {
    /// Hands `notice` to every `[[notify]]` entry that wants it; returns at once.
    pub(crate) fn notify(&self, notice: Notice) {
        if self.config.notify.is_empty() {
            return;
        }
        for delivery in crate::notify::route(&self.config.notify, &notice, chrono::Utc::now()) {
            self.outbox.send(delivery);
        }
    }

    /// Waits at most `FLUSH_AT_EXIT` for notifications under way; how many were abandoned.
    pub async fn flush_notifications(&self) -> usize {
        self.outbox.flush(FLUSH_AT_EXIT).await
    }

    /// A promotion that ran (not a dry run): finished when it changed something, failed
    /// or refused otherwise.
    pub(crate) fn notify_promotion(
        &self,
        request: &PromotionRequest,
        result: &Result<PromotionOutcome, EngineError>,
    ) {
        let mut notice = match result {
            Ok(outcome) if outcome.executed && !outcome.plan.is_noop() => {
                let plan = &outcome.plan;
                Notice {
                    tag: Some(plan.tag.clone()),
                    digest: Some(plan.digest.to_string()),
                    ..Notice::new(NotifyEvent::PromotionFinished, &plan.service, &plan.to)
                }
            }
            Ok(_) => return,
            Err(e) => Notice {
                reason: Some(e.to_string()),
                ..Notice::new(
                    NotifyEvent::PromotionFailed,
                    request.selector.service(),
                    &request.to,
                )
            },
        };
        notice.from = Some(request.from.clone());
        if notice.tag.is_none() {
            notice.tag = Some(request.selector.to_string());
        }
        self.notify(notice);
    }

    pub(crate) fn notify_deploy_failed(&self, outcome: &DeployOutcome) {
        self.notify(Notice {
            tag: Some(outcome.tag.clone()),
            digest: Some(outcome.digest.to_string()),
            reason: outcome.reason.clone(),
            ..Notice::new(
                NotifyEvent::DeployFailed,
                &outcome.service,
                &outcome.environment,
            )
        });
    }

    /// A request recorded (`RequestWaiting`) or approved (`Approved`, by the last approver).
    pub(crate) fn notify_request(&self, event: NotifyEvent, state: &RequestState) {
        let actor = match event {
            NotifyEvent::Approved => state.approvals.approvers.last().map(|a| a.actor.clone()),
            _ => Some(state.requester.clone()),
        };
        self.notify(Notice {
            from: Some(state.from.clone()),
            tag: Some(state.tag.clone()),
            digest: Some(state.digest.to_string()),
            actor,
            request: Some(state.id.clone()),
            approvals: Some(ApprovalCount {
                have: state.approvals.approvers.len(),
                need: state.approvals.needed,
            }),
            ..Notice::new(event, &state.service, &state.to)
        });
    }
}
