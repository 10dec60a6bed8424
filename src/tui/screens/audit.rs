//! The Audit screen: the ledger's records newest first, whether its hash chain holds
//! (or where it breaks), and the selected record in full.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};
use ratatui::Frame;

use crate::config::keys::Screen;
use crate::engine::ledger::AuditView;
use crate::ledger::{Record, RecordKind};
use crate::tui::context::{Context, Loadable};
use crate::tui::effects::Effect;
use crate::tui::theme::Theme;
use crate::tui::widgets::{
    age, filter_span, fitting_columns, kept_columns, placeholder, render_table, split_detail,
    split_title, styled_line, title_line, TableSpec,
};

/// What the Audit screen's filter matches a record against: every column it shows, and
/// the full digest and ids, so a digest or request id pasted from elsewhere finds it.
pub fn audit_text(record: &Record) -> String {
    let field = |value: &Option<String>| value.clone().unwrap_or_default();
    format!(
        "{} {} {} {} {} {} {} {} {}",
        record.kind,
        record.actor,
        field(&record.service),
        record.detail("from").unwrap_or_default(),
        field(&record.environment),
        field(&record.tag),
        record
            .digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        record.id,
        record.detail("request").unwrap_or_default(),
    )
}

#[derive(Debug, Default)]
pub struct AuditScreen {
    /// The ledger, its records newest first.
    pub ledger: Loadable<AuditView>,
}

impl AuditScreen {
    pub fn load(&mut self, force: bool) -> Vec<Effect> {
        self.ledger.load(force, Effect::LoadAudit)
    }

    /// The ledger's records, newest first, that match the filter.
    pub fn rows(&self, ctx: &Context) -> Vec<&Record> {
        let Loadable::Loaded(view) = &self.ledger else {
            return Vec::new();
        };
        ctx.filtered(Screen::Audit, &view.records, audit_text)
    }

    pub fn on_ledger(&mut self, result: Result<AuditView, String>) {
        self.ledger = result
            .map(|mut view| {
                // Sequence numbers order the chain whatever order the store read it in.
                view.records.sort_by_key(|r| std::cmp::Reverse(r.seq));
                view
            })
            .into();
    }

    pub fn render(&self, frame: &mut Frame, ctx: &Context, theme: &Theme, body: Rect) {
        let (title, rest) = split_title(body, 2);
        let mut first = vec![Span::styled("ledger", theme.title)];
        let mut second = Vec::new();
        if let Loadable::Loaded(view) = &self.ledger {
            first.push(Span::styled(
                format!("   {} in {}", view.reference, view.repository),
                theme.muted,
            ));
            if let Some(remote) = &view.remote {
                first.push(Span::styled(
                    format!("   shared with {remote}"),
                    theme.muted,
                ));
            }
            second.extend(verification_spans(view, theme));
        }
        first.extend(filter_span(ctx, theme, Screen::Audit));
        let [line1, line2] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(title);
        frame.render_widget(title_line(theme, first), line1);
        frame.render_widget(title_line(theme, second), line2);
        if let Some(p) = placeholder(&self.ledger, "the ledger", theme) {
            frame.render_widget(p, rest);
            return;
        }
        let rows = self.rows(ctx);
        let list = ctx.list(Screen::Audit);
        let (rest, detail) = split_detail(rest);
        // The selected record in full: its id, exact time and what it says.
        if let (Some(area), Some(record), Loadable::Loaded(view)) =
            (detail, rows.get(list.selected), &self.ledger)
        {
            frame.render_widget(Paragraph::new(audit_detail(record, view, theme)), area);
        }
        let content = |text: &dyn Fn(&Record) -> String, min: usize, max: usize| {
            rows.iter()
                .map(|r| text(r).chars().count())
                .max()
                .unwrap_or(0)
                .clamp(min, max) as u16
        };
        let who_width = content(&|r| r.actor.clone(), 3, 28);
        let service_width = content(&|r| audit_service(r).to_string(), 7, 24);
        let place_width = content(&audit_place, 5, 24);
        let tag_width = content(&|r| audit_tag(r).to_string(), 3, 24);
        // Narrow terminals drop the digest, the request, then the tag; what happened, to
        // what, where and by whom stay.
        let columns = [
            ("AGE", 5, 1),
            ("KIND", 9, 0),
            ("WHO", who_width, 3),
            ("SERVICE", service_width, 2),
            ("WHERE", place_width, 2),
            ("TAG", tag_width, 4),
            ("DIGEST", 19, 6),
            ("REQUEST", 12, 5),
        ];
        let kept = fitting_columns(rest.width, &columns);
        let (header, widths) = kept_columns(&kept, &columns);
        let empty = if ctx.filter(Screen::Audit).is_empty() {
            "the ledger has no records yet: promotions, approvals and rollbacks are recorded here"
        } else {
            "no record matches the filter"
        };
        let now = ctx.now;
        let spec = TableSpec::rows(header, widths, rows.len(), list, empty);
        render_table(frame, theme, rest, spec, |i| {
            let record = rows[i];
            let kind_style = match record.kind {
                RecordKind::Promotion | RecordKind::Deploy => theme.ok,
                RecordKind::Rollback | RecordKind::Override | RecordKind::Deletion => theme.warn,
                RecordKind::Request | RecordKind::Approval | RecordKind::Other(_) => theme.accent,
            };
            let cell = |c: usize| match c {
                0 => Cell::from(Span::styled(age(Some(&record.at), now), theme.muted)),
                1 => Cell::from(Span::styled(record.kind.name().to_string(), kind_style)),
                2 => Cell::from(record.actor.clone()),
                3 => Cell::from(audit_service(record).to_string()),
                4 => Cell::from(audit_place(record)),
                5 => Cell::from(audit_tag(record).to_string()),
                6 => Cell::from(Span::styled(
                    record
                        .digest
                        .as_ref()
                        .map_or("-", |d| d.short())
                        .to_string(),
                    theme.muted,
                )),
                _ => Cell::from(Span::styled(
                    audit_request(record).unwrap_or("-").to_string(),
                    theme.muted,
                )),
            };
            Row::new(kept.iter().map(|&c| cell(c)).collect::<Vec<_>>())
        });
    }
}

/// Whether the chain holds (how long it is and where its head is), or where it breaks.
fn verification_spans(view: &AuditView, theme: &Theme) -> Vec<Span<'static>> {
    let verification = &view.verification;
    let mut spans = match &verification.problem {
        None => {
            let head = verification
                .head
                .as_deref()
                .map(|h| format!(", head {}", h.get(..12).unwrap_or(h)))
                .unwrap_or_default();
            let records = verification.records;
            let plural = if records == 1 { "" } else { "s" };
            vec![Span::styled(
                format!("✓ chain intact: {records} record{plural}{head}"),
                theme.ok,
            )]
        }
        Some(problem) => {
            let commit = problem
                .commit
                .as_deref()
                .map(|c| format!(" (commit {})", c.get(..12).unwrap_or(c)))
                .unwrap_or_default();
            // The message first: on a narrow terminal the commit is what gets cut.
            vec![Span::styled(
                format!(
                    "✗ chain broken at record {}: {problem}{commit}",
                    problem.position
                ),
                theme.error,
            )]
        }
    };
    if view.unpushed > 0 {
        spans.push(Span::styled(
            format!("   {} not pushed yet", view.unpushed),
            theme.warn,
        ));
    }
    for note in &view.notes {
        spans.push(Span::styled(format!("   {note}"), theme.muted));
    }
    spans
}

fn audit_service(record: &Record) -> &str {
    record.service.as_deref().unwrap_or("-")
}

fn audit_tag(record: &Record) -> &str {
    record.tag.as_deref().unwrap_or("-")
}

/// `from → to` for what moves between environments; a rollback stays in its environment.
fn audit_place(record: &Record) -> String {
    match (record.detail("from"), &record.environment) {
        (Some(from), Some(to)) if record.kind != RecordKind::Rollback => format!("{from} → {to}"),
        (_, Some(env)) => env.clone(),
        _ => "-".into(),
    }
}

/// The request a record is about: a request's own id, the one approved or carried out.
fn audit_request(record: &Record) -> Option<&str> {
    match record.kind {
        RecordKind::Request => Some(record.id.as_str()),
        _ => record.detail("request"),
    }
}

/// The selected record in words (its summary names the image and who did it), then its
/// id and exact time, and whether the chain breaks at it.
fn audit_detail(record: &Record, view: &AuditView, theme: &Theme) -> Vec<Line<'static>> {
    let when = record.at.get(..19).unwrap_or(&record.at).replace('T', " ");
    let mut second = vec![Span::styled(
        format!(" id {}  {when} UTC", record.id),
        theme.muted,
    )];
    let breaks_here = view
        .verification
        .problem
        .as_ref()
        .is_some_and(|p| p.position as u64 == record.seq);
    if breaks_here {
        second.push(Span::styled("  ✗ the chain breaks here", theme.error));
    }
    vec![
        styled_line(format!(" {}", record.summary()), theme.text),
        Line::from(second),
    ]
}
