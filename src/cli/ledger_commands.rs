//! The ledger's commands: request, approve, requests, execute, audit and audit verify,
//! plus how promotions and rollbacks report what the ledger made of them.

use clap::Subcommand;

use super::{exit, output, worst_exit_code, Failure};
use crate::domain::ImageSelector;
use crate::engine::ledger::{AuditFilter, AuditView, LedgerNote};
use crate::engine::{Engine, EngineError};
use crate::ledger::approvals::{RequestState, RequestStatus};
use crate::ledger::{LedgerError, Record, RecordKind};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain: exit 0 intact, 3 with the first edited, removed or reordered record
    Verify {
        #[arg(long)]
        json: bool,
    },
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

fn print_notes(notes: &[String]) {
    for note in notes {
        eprintln!("gantry: note: {note}");
    }
}

/// A write that stayed in this clone is a network failure for the command that made it.
fn push_warning(warning: &Option<String>) -> i32 {
    match warning {
        Some(warning) => {
            eprintln!("gantry: warning: {warning}");
            exit::REGISTRY
        }
        None => exit::OK,
    }
}

/// What the ledger made of a promotion or rollback, on stderr: never a failure of it.
pub(crate) fn print_ledger_note(what: &str, note: Option<&LedgerNote>) {
    let Some(note) = note else { return };
    if let Some(off) = &note.off {
        eprintln!("gantry: note: {what} not recorded, the ledger is off: {off}");
    }
    if let Some(warning) = &note.warning {
        eprintln!("gantry: warning: {what}: {warning}");
    }
}

fn approvals_line(state: &RequestState) -> String {
    let who: Vec<&str> = state
        .approvals
        .approvers
        .iter()
        .map(|a| a.actor.as_str())
        .collect();
    let status = match state.status {
        RequestStatus::Waiting => "waiting",
        RequestStatus::Approved => "approved",
        RequestStatus::Executed => "executed",
    };
    format!(
        "{status}, {} of {} approval{}{}",
        who.len(),
        state.approvals.needed,
        if state.approvals.needed == 1 { "" } else { "s" },
        if who.is_empty() {
            String::new()
        } else {
            format!(" ({})", who.join(", "))
        }
    )
}

pub async fn request(
    engine: &Engine,
    image: &str,
    to: &str,
    from: Option<&str>,
    json: bool,
) -> Result<i32, Failure> {
    let selector =
        ImageSelector::parse(image, &engine.config().tags.prefix).map_err(EngineError::from)?;
    let outcome = engine.request_promotion(&selector, from, to).await?;
    print_notes(&outcome.sharing.notes);
    let state = &outcome.request;
    if json {
        output::print_json(&outcome);
    } else {
        println!(
            "requested {}: {}:{} ({}) {} -> {} by {}",
            state.id, state.service, state.tag, state.digest, state.from, state.to, state.requester
        );
        if state.approvals.needed == 0 {
            println!(
                "  {} needs no approvals: `gantry execute` (or `gantry promote`) runs it",
                state.to
            );
        } else {
            println!(
                "  needs {} approval{} by others: `gantry approve {}`",
                state.approvals.needed,
                if state.approvals.needed == 1 { "" } else { "s" },
                state.id
            );
        }
    }
    Ok(push_warning(&outcome.sharing.warning))
}

pub async fn approve(engine: &Engine, id: &str, json: bool) -> Result<i32, Failure> {
    let outcome = engine.approve(id).await?;
    print_notes(&outcome.sharing.notes);
    let state = &outcome.request;
    if json {
        output::print_json(&outcome);
    } else {
        println!(
            "approved {}: {}:{} ({}) into {}: {}",
            state.id,
            state.service,
            state.tag,
            state.digest,
            state.to,
            approvals_line(state)
        );
        if state.status == RequestStatus::Approved {
            println!("  complete: `gantry execute` promotes it");
        }
    }
    Ok(push_warning(&outcome.sharing.warning))
}

pub async fn requests(engine: &Engine, all: bool, json: bool) -> Result<i32, Failure> {
    let view = engine.requests().await?;
    print_notes(&view.notes);
    let shown: Vec<&RequestState> = view
        .requests
        .iter()
        .filter(|r| all || r.status != RequestStatus::Executed)
        .collect();
    if json {
        output::print_json(&shown);
    } else if shown.is_empty() {
        println!("no pending requests");
    } else {
        for state in shown {
            println!(
                "{}  {}:{}  {} -> {}  by {}  {}",
                state.id,
                state.service,
                state.tag,
                state.from,
                state.to,
                state.requester,
                approvals_line(state)
            );
        }
    }
    Ok(exit::OK)
}

pub async fn execute(engine: &Engine, dry_run: bool, json: bool) -> Result<i32, Failure> {
    let report = engine.execute_approved(dry_run).await?;
    print_notes(&report.notes);
    if json {
        output::print_json(&report);
    } else {
        if report.executed.is_empty() {
            println!("nothing approved to execute");
        }
        for stale in &report.stale {
            println!("stale {}: {}", stale.request.id, stale.reason);
        }
        for run in &report.executed {
            match (&run.outcome, &run.error) {
                (Some(outcome), _) => {
                    println!("request {}:", run.request);
                    output::print_plan(&outcome.plan, outcome.executed);
                    if let Some(deploy) = &outcome.deploy {
                        super::deploy_commands::print_outcome(deploy, true);
                    }
                }
                (None, Some(error)) => eprintln!("gantry: request {}: {error}", run.request),
                (None, None) => {}
            }
        }
        for state in &report.waiting {
            println!(
                "waiting {}: {}:{} {} -> {}: {}",
                state.id,
                state.service,
                state.tag,
                state.from,
                state.to,
                approvals_line(state)
            );
        }
    }
    for run in &report.executed {
        let note = run.outcome.as_ref().and_then(|o| o.ledger.as_ref());
        print_ledger_note(&format!("request {}", run.request), note);
    }
    // A promotion whose deploy step failed ran, but CI must still see it (exit 4).
    Ok(worst_exit_code(report.executed.iter().map(
        |r| match &r.outcome {
            Some(outcome) if r.ok => super::deploy_commands::exit_code(outcome.deploy.as_ref()),
            _ => r.exit_code,
        },
    )))
}

pub async fn audit(
    engine: &Engine,
    command: Option<AuditCommand>,
    service: Option<String>,
    env: Option<String>,
    kind: Option<String>,
    json: bool,
) -> Result<i32, Failure> {
    if let Some(service) = &service {
        engine
            .config()
            .service(service)
            .map_err(EngineError::from)?;
    }
    if let Some(env) = &env {
        engine
            .config()
            .environment(env)
            .map_err(EngineError::from)?;
    }
    let filter = AuditFilter {
        service,
        environment: env,
        kind: kind.map(RecordKind::from),
    };
    let view = engine.audit(&filter).await?;
    print_notes(&view.notes);
    let code = if view.verification.intact {
        exit::OK
    } else {
        exit::REFUSED
    };
    match command {
        Some(AuditCommand::Verify { json }) => {
            if json {
                output::print_json(&view.verification);
            } else {
                print_verification(&view);
            }
        }
        None => {
            if json {
                output::print_json(&view);
            } else {
                print_records(&view.records);
            }
            if let Some(problem) = &view.verification.problem {
                eprintln!("gantry: the ledger fails verification: {problem}");
            }
        }
    }
    Ok(code)
}

fn print_verification(view: &AuditView) {
    let verification = &view.verification;
    match &verification.problem {
        None => println!(
            "intact: {} record{} on {} in {}{}",
            verification.records,
            if verification.records == 1 { "" } else { "s" },
            view.reference,
            view.repository,
            verification
                .head
                .as_deref()
                .map(|h| format!(" (head {})", &h[..h.len().min(12)]))
                .unwrap_or_default()
        ),
        Some(problem) => {
            println!("TAMPERED: {problem}");
            if let Some(commit) = &problem.commit {
                println!("  at position {}, commit {commit}", problem.position);
            }
        }
    }
}

fn print_records(records: &[Record]) {
    if records.is_empty() {
        println!("no records");
        return;
    }
    for record in records {
        let when = record.at.get(..19).unwrap_or(&record.at).replace('T', " ");
        let image = match (&record.service, &record.tag) {
            (Some(service), Some(tag)) => format!("{service}:{tag}"),
            (Some(service), None) => service.clone(),
            _ => "-".into(),
        };
        let digest = record.digest.as_ref().map_or("-", |d| d.short());
        let place = match (record.detail("from"), &record.environment) {
            (Some(from), Some(to)) if record.kind != RecordKind::Rollback => {
                format!("{from} -> {to}")
            }
            (_, Some(env)) => env.clone(),
            _ => "-".into(),
        };
        let extra = match &record.kind {
            RecordKind::Request => format!("id {}", record.id),
            RecordKind::Approval => format!("of {}", record.detail("request").unwrap_or("?")),
            RecordKind::Promotion => record
                .detail("request")
                .map(|r| format!("request {r}"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        println!(
            "#{:<4} {when}  {:<9} {:<28} {:<22} {:<16} {digest}  {extra}",
            record.seq,
            record.kind.name(),
            record.actor,
            image,
            place
        );
    }
}

/// Prints what the ledger made of a rollback (the CLI's rollback handler calls this).
pub(crate) fn print_rollback_note(note: Option<&LedgerNote>) {
    print_ledger_note("rollback", note);
}
