//! The Retention screen: the chosen service's clean-up plan in the chosen environment,
//! what goes first and why, what stays and by which rule; deleting asks first.

use std::collections::BTreeMap;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};
use ratatui::Frame;

use super::images::Place;
use crate::config::keys::{Action, Screen};
use crate::retention::{PlannedImage, PlannedSignature, RetentionPlan};
use crate::tui::context::{Ask, Context, Level, Loadable};
use crate::tui::dialogs::cleanup::CleanUpDialog;
use crate::tui::dialogs::Dialog;
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    age, filter_span, fitting_columns, kept_columns, placeholder, render_table, split_detail,
    split_title, styled_line, title_line, TableSpec,
};

/// One row of the Retention screen.
#[derive(Debug, Clone, Copy)]
pub enum RetentionRow<'a> {
    Delete(&'a PlannedImage),
    /// A signature left behind by an earlier run that stopped between two deletions.
    Orphan(&'a PlannedSignature),
    Keep(&'a PlannedImage),
}

#[derive(Debug, Default)]
pub struct RetentionScreen {
    /// (service, environment) -> its clean-up plan.
    pub plans: BTreeMap<Place, Loadable<RetentionPlan>>,
}

impl RetentionScreen {
    /// Plans the chosen service in the chosen environment, if it has a policy.
    pub fn load(&mut self, force: bool, ctx: &Context) -> Vec<Effect> {
        let (Some(service), Some(env)) = (
            ctx.service().map(str::to_string),
            ctx.environment()
                .filter(|e| e.retention)
                .map(|e| e.name.clone()),
        ) else {
            return Vec::new();
        };
        self.plans
            .entry((service.clone(), env.clone()))
            .or_default()
            .load(force, Effect::LoadRetention { service, env })
    }

    /// The chosen service's plan in the chosen environment, if one is loaded or loading.
    pub fn plan(&self, ctx: &Context) -> Option<&Loadable<RetentionPlan>> {
        let (service, env) = (ctx.service()?, ctx.environment()?);
        self.plans.get(&(service.to_string(), env.name.clone()))
    }

    /// What goes first, then signatures left by an earlier run, then what stays, each
    /// newest first: the rows a user must check before confirming come first.
    pub fn rows(&self, ctx: &Context) -> Vec<RetentionRow<'_>> {
        let Some(Loadable::Loaded(plan)) = self.plan(ctx) else {
            return Vec::new();
        };
        let image_text =
            |i: &PlannedImage| format!("{} {} {}", i.tags.join(" "), i.digest, i.reason);
        plan.delete
            .iter()
            .map(RetentionRow::Delete)
            .chain(plan.orphan_signatures.iter().map(RetentionRow::Orphan))
            .chain(plan.keep.iter().map(RetentionRow::Keep))
            .filter(|row| {
                let text = match row {
                    RetentionRow::Delete(i) => format!("delete {}", image_text(i)),
                    RetentionRow::Orphan(s) => format!("delete {} {}", s.tag, s.digest),
                    RetentionRow::Keep(i) => format!("keep {}", image_text(i)),
                };
                ctx.matches(Screen::Retention, &text)
            })
            .collect()
    }

    /// Asks before deleting what the loaded plan deletes.
    pub fn update(&mut self, action: Action, ctx: &mut Context) -> Vec<Effect> {
        if action != Action::CleanUp {
            return Vec::new();
        }
        let Some(env) = ctx.environment().cloned() else {
            return Vec::new();
        };
        if env.readonly {
            ctx.say(
                Level::Warn,
                format!("{} is read-only: gantry deletes nothing there", env.name),
            );
            return Vec::new();
        }
        match self.plan(ctx) {
            Some(Loadable::Loaded(plan)) if plan.is_noop() => {
                let text = format!("nothing to delete: {}", plan.summary());
                ctx.say(Level::Info, text);
            }
            Some(Loadable::Loaded(plan)) => {
                let dialog = CleanUpDialog::new(plan.clone());
                ctx.ask(Ask::Open(Dialog::CleanUp(dialog)));
            }
            _ => ctx.say(
                Level::Warn,
                "no plan yet: wait for it to load (ctrl-r reloads)",
            ),
        }
        Vec::new()
    }

    /// A plan arrived; `shown` when the screen shows it right now.
    pub fn on_plan(
        &mut self,
        place: Place,
        result: Result<RetentionPlan, String>,
        shown: bool,
        ctx: &mut Context,
    ) {
        let (service, env) = &place;
        let current = ctx.service() == Some(service.as_str())
            && ctx.environment().map(|e| e.name.as_str()) == Some(env.as_str());
        if let (true, Ok(plan)) = (current && shown, &result) {
            // What the plan could not know matters before anyone confirms it.
            if !plan.notes.is_empty() {
                ctx.say(Level::Warn, format!("note: {}", plan.notes.join("; ")));
            }
        }
        self.plans.insert(place, result.into());
    }

    /// What `service` in `env` holds changed: plan it again next time it is shown.
    pub fn forget(&mut self, place: &Place) {
        self.plans.remove(place);
    }

    pub fn render(&self, frame: &mut Frame, ctx: &Context, theme: &Theme, body: Rect) {
        let (title, rest) = split_title(body, 2);
        let service = ctx.service().unwrap_or("-").to_string();
        let env = ctx.environment().cloned();
        let env_name = env
            .as_ref()
            .map_or_else(|| "-".to_string(), |e| e.name.clone());
        let loadable = self.plan(ctx).cloned().unwrap_or_default();
        let mut first = vec![
            Span::styled("service ", theme.muted),
            Span::styled(format!("‹ {service} ›"), theme.accent),
            Span::styled("   environment ", theme.muted),
            Span::styled(format!("‹ {env_name} ›"), theme.accent),
        ];
        let mut second = Vec::new();
        if let Loadable::Loaded(plan) = &loadable {
            first.push(Span::styled(format!("   {}", plan.repository), theme.muted));
            let counts = plan.counts();
            second.push(if plan.is_noop() {
                Span::styled(format!("nothing to delete: {counts}"), theme.ok)
            } else {
                Span::styled(counts, theme.warn)
            });
            second.push(Span::styled(
                format!("   policy: {}", plan.policy.summary()),
                theme.muted,
            ));
        }
        first.extend(filter_span(ctx, theme, Screen::Retention));
        let [line1, line2] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(title);
        frame.render_widget(title_line(theme, first), line1);
        frame.render_widget(title_line(theme, second), line2);

        if !env.as_ref().is_some_and(|e| e.retention) {
            let with: Vec<&str> = ctx
                .environments
                .iter()
                .filter(|e| e.retention)
                .map(|e| e.name.as_str())
                .collect();
            let hint = if with.is_empty() {
                " no environment has one: add it to the configuration (see config.example.toml)"
                    .to_string()
            } else {
                format!(
                    " environments with one: {} (e / E to switch)",
                    with.join(", ")
                )
            };
            frame.render_widget(
                Paragraph::new(vec![
                    Line::from(Span::styled(
                        format!(" {env_name} has no [environment.retention] policy: nothing is planned here"),
                        theme.text,
                    )),
                    styled_line(hint, theme.muted),
                ])
                .wrap(Wrap { trim: false }),
                rest,
            );
            return;
        }
        if let Some(p) = placeholder(
            &loadable,
            &format!("the clean-up plan of {service} in {env_name}"),
            theme,
        ) {
            frame.render_widget(p, rest);
            return;
        }
        let rows = self.rows(ctx);
        let now = ctx.now;
        let label = |row: &RetentionRow| match row {
            RetentionRow::Delete(i) | RetentionRow::Keep(i) => i.label(&ctx.tag_prefix),
            // The full tag repeats a 64-digit digest: shortened here, whole in the detail.
            RetentionRow::Orphan(s) => short_attachment(&s.tag),
        };
        let list = ctx.list(Screen::Retention);
        let (rest, detail) = split_detail(rest);
        // The selected row in full: the WHY column cuts long reasons.
        if let (Some(area), Some(row)) = (detail, rows.get(list.selected)) {
            frame.render_widget(
                Paragraph::new(retention_detail(*row, theme)).wrap(Wrap { trim: false }),
                area,
            );
        }
        let tag_width = rows
            .iter()
            .map(|r| label(r).chars().count())
            .max()
            .unwrap_or(0)
            .clamp(4, 40) as u16;
        // Narrow terminals drop the digest, then the age; what happens and why always stay.
        let columns = [
            ("ACTION", 6, 0),
            ("TAGS", tag_width, 1),
            ("DIGEST", 19, 4),
            ("AGE", 6, 3),
            ("WHY", 20, 2),
        ];
        // The planner reads created times only when its policy or ordering needs them.
        let any_created = rows.iter().any(
            |r| matches!(r, RetentionRow::Delete(i) | RetentionRow::Keep(i) if i.created.is_some()),
        );
        let mut kept = fitting_columns(rest.width, &columns);
        if !any_created {
            kept.retain(|&c| columns[c].0 != "AGE");
        }
        let (header, widths) = kept_columns(&kept, &columns);
        let empty = "no image matches the filter";
        let spec = TableSpec::rows(header, widths, rows.len(), list, empty);
        render_table(frame, theme, rest, spec, |i| {
            let row = rows[i];
            let (action, style) = match row {
                RetentionRow::Delete(_) | RetentionRow::Orphan(_) => ("delete", theme.error),
                RetentionRow::Keep(_) => ("keep", theme.ok),
            };
            let (digest, created, why) = match row {
                RetentionRow::Delete(image) | RetentionRow::Keep(image) => {
                    let mut why = image.reason.clone();
                    // What goes with it, in short: the detail lines name it.
                    if matches!(row, RetentionRow::Delete(_)) {
                        if !image.signatures.is_empty() {
                            why.push_str(&format!("  +{} sig", image.signatures.len()));
                        }
                        if !image.children.is_empty() {
                            why.push_str(&format!("  +{} manifests", image.children.len()));
                        }
                    }
                    (
                        image.digest.short().to_string(),
                        image.created.as_deref(),
                        why,
                    )
                }
                RetentionRow::Orphan(signature) => (
                    signature.digest.short().to_string(),
                    None,
                    signature.decision.describe(),
                ),
            };
            let cell = |c: usize| match c {
                0 => Cell::from(Span::styled(action, style)),
                1 => Cell::from(label(&row)),
                2 => Cell::from(Span::styled(digest.clone(), theme.muted)),
                3 => Cell::from(age(created, now)),
                _ => Cell::from(Span::styled(why.clone(), theme.text)),
            };
            Row::new(kept.iter().map(|&c| cell(c)).collect::<Vec<_>>())
        });
    }
}

/// `sha256-<12 digits>….sig`: a cosign attachment tag repeats a whole digest.
fn short_attachment(tag: &str) -> String {
    match (tag.get(..19), tag.rsplit_once('.')) {
        (Some(start), Some((_, suffix))) if tag.len() > 24 => format!("{start}….{suffix}"),
        _ => tag.to_string(),
    }
}

/// Two lines on the selected retention row: what it is, then why and what goes with it.
fn retention_detail(row: RetentionRow, theme: &Theme) -> Vec<Line<'static>> {
    match row {
        RetentionRow::Delete(image) | RetentionRow::Keep(image) => {
            let deleting = matches!(row, RetentionRow::Delete(_));
            let first = vec![
                Span::styled(format!(" {}", image.tags.join(" ")), theme.title),
                Span::styled(format!("  {}", image.digest), theme.muted),
            ];
            let mut why = vec![Span::styled(
                if deleting { " delete: " } else { " keep: " },
                if deleting { theme.error } else { theme.ok },
            )];
            why.push(Span::styled(image.reason.clone(), theme.text));
            if !image.also.is_empty() {
                let also: Vec<String> = image.also.iter().map(|r| r.describe()).collect();
                why.push(Span::styled(
                    format!("; also {}", also.join("; ")),
                    theme.muted,
                ));
            }
            if deleting {
                let mut with: Vec<String> = image
                    .signatures
                    .iter()
                    .map(|tag| short_attachment(tag))
                    .collect();
                if !image.children.is_empty() {
                    with.push(format!("{} platform manifest(s)", image.children.len()));
                }
                if !with.is_empty() {
                    why.push(Span::styled(
                        format!("; with it: {}", with.join(", ")),
                        theme.muted,
                    ));
                }
            }
            vec![Line::from(first), Line::from(why)]
        }
        RetentionRow::Orphan(signature) => vec![
            styled_line(format!(" {}", signature.tag), theme.title),
            Line::from(vec![
                Span::styled(" delete: ", theme.error),
                Span::styled(signature.decision.describe(), theme.text),
                Span::styled(
                    " (an earlier run stopped between the two deletions)",
                    theme.muted,
                ),
            ]),
        ],
    }
}
