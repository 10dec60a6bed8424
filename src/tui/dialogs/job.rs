//! The job dialog: one promotion of this session in full, its plan and its result, as
//! they are now (a running one updates while it is open).

use ratatui::text::Line;

use super::promotion::plan_lines;
use super::{cancels, confirms, Content};
use crate::config::keys::KeyChord;
use crate::engine::JobId;
use crate::tui::context::{Ask, Context};
use crate::tui::effects::Effect;
use crate::tui::screens::promotions::JobView;
use crate::tui::theme::Theme;

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
