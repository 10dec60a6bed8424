//! The deploy dialog: what deploying an environment's image would change (a dry run
//! first: the GitOps diff or the command), confirmed, then what it did. A deploy that
//! started runs to its end.

use ratatui::text::{Line, Span};

use super::{cancels, confirms, Content, Dialog};
use crate::config::keys::KeyChord;
use crate::engine::deploy::DeployReport;
use crate::tui::context::{Ask, Change, Context, EnvInfo, Level, Loadable};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::styled_line;

#[derive(Debug, Clone)]
pub struct DeployDialog {
    pub service: String,
    pub env: String,
    /// The dry run: what would change.
    pub plan: Loadable<DeployReport>,
    pub outcome: Loadable<DeployReport>,
}

impl DeployDialog {
    /// Shows what deploying `service` in `env` would change, then asks.
    pub fn open(service: String, env: &EnvInfo, ctx: &mut Context) -> Vec<Effect> {
        if env.readonly {
            ctx.say(
                Level::Warn,
                format!("{} is read-only: nothing is deployed there", env.name),
            );
            return Vec::new();
        }
        if !env.deploys {
            ctx.say(
                Level::Warn,
                format!(
                    "{} has no [environment.deploy] step: promoting is all gantry does there",
                    env.name
                ),
            );
            return Vec::new();
        }
        ctx.ask(Ask::Open(Dialog::Deploy(DeployDialog {
            service: service.clone(),
            env: env.name.clone(),
            plan: Loadable::Loading,
            outcome: Loadable::Idle,
        })));
        vec![Effect::Deploy {
            service,
            env: env.name.clone(),
            dry_run: true,
        }]
    }

    pub fn on_key(&mut self, chord: KeyChord, ctx: &mut Context) -> Vec<Effect> {
        let (confirm, cancel) = (confirms(chord), cancels(chord));
        match &self.outcome {
            Loadable::Idle if confirm => {
                // Only a change that was shown, and that would not fail, is carried out.
                if matches!(&self.plan, Loadable::Loaded(p) if !p.outcome.failed()) {
                    self.outcome = Loadable::Loading;
                    return vec![Effect::Deploy {
                        service: self.service.clone(),
                        env: self.env.clone(),
                        dry_run: false,
                    }];
                }
            }
            Loadable::Idle if cancel => ctx.ask(Ask::Close),
            // A deploy that started runs to its end (a half-pushed commit helps nobody).
            Loadable::Loading | Loadable::Idle => {}
            Loadable::Loaded(_) | Loadable::Failed(_) if confirm || cancel => {
                ctx.ask(Ask::Close);
                ctx.ask(Ask::Reload(Change::Deployed));
            }
            Loadable::Loaded(_) | Loadable::Failed(_) => {}
        }
        Vec::new()
    }

    /// A dry run's or a deploy's result, if it is about what this dialog shows.
    pub fn on_deployed(
        &mut self,
        service: &str,
        env: &str,
        dry_run: bool,
        result: Result<DeployReport, String>,
    ) {
        if self.service == service && self.env == env {
            let target = if dry_run {
                &mut self.plan
            } else {
                &mut self.outcome
            };
            *target = result.into();
        }
    }

    pub fn content(&self, theme: &Theme) -> Content {
        let DeployDialog {
            service,
            env,
            plan,
            outcome,
        } = self;
        let failed = |e: &String| {
            vec![
                styled_line(format!("{service} in {env}"), theme.title),
                styled_line(e.clone(), theme.error),
            ]
        };
        let (lines, keys) = match (plan, outcome) {
            (_, Loadable::Loaded(done)) => (deploy_lines(done, theme), "enter/esc close"),
            (_, Loadable::Failed(e)) => (failed(e), "enter/esc close"),
            (Loadable::Loaded(planned), Loadable::Loading) => {
                let mut lines = deploy_lines(planned, theme);
                lines.push(styled_line("deploying…", theme.progress));
                (lines, "deploying: wait for the result")
            }
            (Loadable::Loaded(planned), _) => {
                let keys = if planned.outcome.failed() {
                    "esc close"
                } else {
                    "y/enter deploy · esc cancel"
                };
                (deploy_lines(planned, theme), keys)
            }
            (Loadable::Failed(e), _) => (failed(e), "esc close"),
            _ => (
                vec![
                    styled_line(format!("{service} in {env}"), theme.title),
                    styled_line("reading what would change…", theme.muted),
                ],
                "esc cancel",
            ),
        };
        Content {
            title: "Deploy",
            lines,
            keys,
        }
    }
}

/// Diff lines shown in the deploy dialog; `gantry deploy --dry-run` prints them all.
const DEPLOY_DIFF_LINES: usize = 12;

/// What a deploy would change (a dry run), or what it did.
fn deploy_lines(report: &DeployReport, theme: &Theme) -> Vec<Line<'static>> {
    let outcome = &report.outcome;
    let style = if outcome.failed() {
        theme.error
    } else {
        theme.ok
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{}:{}", report.service, report.tag), theme.title),
            Span::styled(format!("  {}", report.digest.short()), theme.muted),
            Span::styled(format!("  → {}", report.environment), theme.text),
        ]),
        styled_line(outcome.summary(), style),
    ];
    if let Some(reason) = &outcome.reason {
        lines.push(styled_line(reason.clone(), theme.error));
    }
    if outcome.dry_run {
        if let Some(gitops) = &outcome.gitops {
            if gitops.bump.diff.is_empty() {
                lines.push(Line::from(Span::styled(
                    format!("{} already pins this image: no commit", gitops.bump.file),
                    theme.muted,
                )));
            } else {
                lines.push(Line::from(Span::styled(
                    format!(
                        "commit to {} of {}:",
                        gitops.bump.branch, gitops.bump.repository
                    ),
                    theme.text,
                )));
                let diff: Vec<&str> = gitops.bump.diff.lines().collect();
                for line in diff.iter().take(DEPLOY_DIFF_LINES) {
                    let style = match line.chars().next() {
                        Some('+') if !line.starts_with("+++") => theme.ok,
                        Some('-') if !line.starts_with("---") => theme.error,
                        _ => theme.muted,
                    };
                    lines.push(styled_line(format!("  {line}"), style));
                }
                if diff.len() > DEPLOY_DIFF_LINES {
                    lines.push(Line::from(Span::styled(
                        format!("  … {} more lines", diff.len() - DEPLOY_DIFF_LINES),
                        theme.muted,
                    )));
                }
            }
        }
        if let Some(command) = &outcome.command {
            lines.push(Line::from(Span::styled(
                format!(
                    "would run (timeout {} s): {}",
                    command.timeout_secs, command.command
                ),
                theme.text,
            )));
        }
    }
    if let Some(rollout) = &outcome.rollout {
        lines.push(Line::from(Span::styled(
            format!("rollout: {}", rollout.command),
            theme.muted,
        )));
    }
    if let Some(retry) = &outcome.retry {
        lines.push(Line::from(Span::styled(
            format!("retry: {retry}"),
            theme.muted,
        )));
    }
    lines
}
