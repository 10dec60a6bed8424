//! The job dialog: one promotion of this session in full, its plan and its result, as
//! they are now (a running one updates while it is open).

use ratatui::text::Line;

use super::super::context::{Ask, Context};
use super::super::effects::Effect;
use super::super::screens::promotions::JobView;
use super::super::theme::Theme;
use super::promotion::plan_lines;
use super::{cancels, confirms, Content};
use crate::engine::JobId;
use crate::keys::KeyChord;

pub fn on_key(chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
    if cancels(chord) || confirms(chord) {
        ctx.ask(Ask::Close);
    }
    Vec::new()
}

/// What job `id` shows; nothing when the job is not among `jobs`.
pub fn content(id: JobId, jobs: &[JobView], theme: &Theme) -> Option<Content> {
    let job = jobs.iter().find(|j| j.id == id)?;
    let mut lines = Vec::new();
    match &job.plan {
        Some(plan) => lines.extend(plan_lines(plan, theme)),
        None => lines.push(Line::from(job.label())),
    }
    if let Some(outcome) = &job.outcome {
        lines.push(Line::from(""));
        lines.push(Line::from(outcome.clone()));
    }
    Some(Content {
        title: "Promotion",
        lines,
        keys: "esc close",
    })
}
