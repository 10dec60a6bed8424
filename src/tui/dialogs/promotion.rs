//! The promotion dialog: what promoting one image into one environment would do (tab
//! cycles the targets), confirmed before anything is copied. A plan a rule refused is
//! shown, never carried out. `plan_lines` also serves the job dialog.

use ratatui::text::{Line, Span};

use super::{cancels, confirms, Content, Dialog};
use crate::config::keys::{Key, KeyChord};
use crate::domain::{human_bytes, ImageSelector};
use crate::engine::plan::ManifestAction;
use crate::engine::{BlobAction, Plan, PromotionRequest, TagAction};
use crate::gates::GateOutcome;
use crate::tui::context::{Ask, Context, Level, Loadable};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::styled_line;

#[derive(Debug, Clone)]
pub struct PromotionDialog {
    pub request: PromotionRequest,
    /// Targets the image can go to; `Tab` cycles them.
    pub targets: Vec<String>,
    pub plan: Loadable<Plan>,
}

impl PromotionDialog {
    /// Opens on `request` and asks for its plan.
    pub fn open(request: PromotionRequest, targets: Vec<String>, ctx: &mut Context) -> Vec<Effect> {
        ctx.ask(Ask::Open(Dialog::Promotion(PromotionDialog {
            request: request.clone(),
            targets,
            plan: Loadable::Loading,
        })));
        vec![Effect::PlanPromotion(request)]
    }

    /// Opens on the image `selector` in `from`, into the first environment promoted from it.
    pub fn open_from(selector: ImageSelector, from: String, ctx: &mut Context) -> Vec<Effect> {
        let targets = ctx.targets_from(&from);
        let Some(to) = targets.first().cloned() else {
            ctx.say(
                Level::Warn,
                format!("no environment is promoted from {from}"),
            );
            return Vec::new();
        };
        PromotionDialog::open(PromotionRequest { selector, from, to }, targets, ctx)
    }

    fn carried_out(&self) -> bool {
        matches!(&self.plan, Loadable::Loaded(p) if p.refusal.is_none())
    }

    pub fn on_key(&mut self, chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
        if cancels(chord) {
            ctx.ask(Ask::Close);
        } else if chord.key == Key::Tab && self.targets.len() > 1 {
            let targets = &self.targets;
            let i = targets
                .iter()
                .position(|t| *t == self.request.to)
                .unwrap_or(0);
            self.request.to = targets[(i + 1) % targets.len()].clone();
            self.plan = Loadable::Loading;
            return vec![Effect::PlanPromotion(self.request.clone())];
        } else if confirms(chord) && self.carried_out() {
            ctx.ask(Ask::Close);
            ctx.ask(Ask::Promote {
                request: self.request.clone(),
                plan: self.plan.loaded().cloned(),
            });
        }
        Vec::new()
    }

    /// The plan of `request`, if it is still the one shown (tab may have moved on).
    pub fn on_planned(&mut self, request: PromotionRequest, result: Result<Plan, String>) {
        if self.request == request {
            self.plan = result.into();
        }
    }

    pub fn content(&self, theme: &Theme) -> Content {
        let PromotionDialog {
            request,
            targets,
            plan,
        } = self;
        let mut lines = Vec::new();
        // A loaded plan names the image itself, as resolved.
        if !matches!(plan, Loadable::Loaded(_)) {
            lines.push(Line::from(vec![
                Span::styled("promote ", theme.text),
                Span::styled(request.selector.to_string(), theme.accent),
                Span::styled(format!("  {} → {}", request.from, request.to), theme.text),
            ]));
        }
        if targets.len() > 1 {
            lines.push(Line::from(Span::styled(
                format!("targets: {} (tab: next)", targets.join(", ")),
                theme.muted,
            )));
        }
        match plan {
            Loadable::Loaded(p) => lines.extend(plan_lines(p, theme)),
            Loadable::Failed(e) => lines.push(styled_line(e.clone(), theme.error)),
            _ => lines.push(styled_line("planning…", theme.muted)),
        }
        let keys = if self.carried_out() {
            "y/enter promote · esc cancel"
        } else {
            "esc close"
        };
        Content {
            title: "Promote",
            lines,
            keys,
        }
    }
}

/// What a promotion will do, most important first (tags, refusal, volume, then where
/// from and to), so a small terminal cuts the least important lines.
pub fn plan_lines(plan: &Plan, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{}:{}", plan.service, plan.tag), theme.title),
        Span::styled(format!("  {} → {}", plan.from, plan.to), theme.text),
    ])];
    for tag in &plan.tags {
        let (text, style) = match &tag.action {
            TagAction::Create => ("create".to_string(), theme.ok),
            TagAction::Unchanged => ("unchanged".to_string(), theme.muted),
            TagAction::Move { from } => (format!("move from {}", from.short()), theme.warn),
            TagAction::Conflict { current } => (
                format!("CONFLICT: points at {}", current.short()),
                theme.error,
            ),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("tag {:<14}", tag.tag), theme.text),
            Span::styled(text, style),
        ]));
    }
    for gate in &plan.gates {
        let line = match &gate.outcome {
            GateOutcome::Pass { detail } => Line::from(vec![
                Span::styled(format!("gate {:<13}", gate.gate), theme.text),
                Span::styled(format!("pass  {detail}"), theme.ok),
            ]),
            GateOutcome::Blocked { reason, remedy } => Line::from(vec![
                Span::styled(format!("gate {:<13}", gate.gate), theme.text),
                Span::styled(format!("BLOCKED  {reason}; to pass: {remedy}"), theme.error),
            ]),
        };
        lines.push(line);
    }
    // Blocked gates already say why; repeat the refusal only when no gate explains it.
    if let Some(refusal) = &plan.refusal {
        if !plan.gates.iter().any(|g| g.is_blocked()) {
            lines.push(Line::from(Span::styled(
                format!("refused: {refusal}"),
                theme.error,
            )));
        }
    }
    let count = |a: BlobAction| plan.blobs.iter().filter(|b| b.action == a).count();
    let pushes = plan
        .manifests
        .iter()
        .filter(|m| m.action == ManifestAction::Push)
        .count();
    // A refused plan stops before counting blobs: no line of zeros.
    if !(plan.blobs.is_empty() && plan.manifests.is_empty()) {
        lines.push(Line::from(format!(
            "blobs: {} copy ({}), {} mount, {} present;  manifests: {} push",
            count(BlobAction::Copy),
            human_bytes(plan.bytes_to_transfer()),
            count(BlobAction::Mount),
            count(BlobAction::Present),
            pushes
        )));
    }
    lines.push(Line::from(Span::styled(
        format!("source {}@{}", plan.source, plan.digest.short()),
        theme.muted,
    )));
    lines.push(Line::from(Span::styled(
        format!("target {}", plan.target),
        theme.muted,
    )));
    if !plan.platforms.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("platforms {}", plan.platforms.join(", ")),
            theme.muted,
        )));
    }
    lines
}
