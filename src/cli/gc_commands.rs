//! `gantry gc`: print each environment's retention plan (every image to delete and to keep,
//! with the rule that decided), and with `--execute` carry it out.

use serde::Serialize;

use super::{exit, output, worst_exit_code, Failure};
use crate::engine::Engine;
use crate::retention::{PlannedImage, RetentionError, RetentionOutcome, RetentionPlan};

impl From<RetentionError> for Failure {
    fn from(e: RetentionError) -> Self {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// One service in one environment: its plan, what running it did, or why neither.
#[derive(Serialize)]
struct GcResult {
    service: String,
    environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<RetentionPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<RetentionOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    exit_code: i32,
}

#[derive(Serialize)]
struct GcReport {
    executed: bool,
    results: Vec<GcResult>,
    /// How to get the disk space back, once something was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    reclaim: Option<&'static str>,
}

pub(super) async fn gc(
    engine: &Engine,
    env: Option<&str>,
    service: Option<&str>,
    execute: bool,
    json: bool,
) -> Result<i32, Failure> {
    let plans = engine.retention_plans(env, service).await?;
    let mut results = Vec::new();
    for planned in plans {
        let mut result = GcResult {
            service: planned.service,
            environment: planned.environment,
            plan: planned.plan,
            outcome: None,
            error: planned.error,
            exit_code: planned.exit_code,
        };
        if let (true, Some(plan)) = (execute, &result.plan) {
            match engine.execute_retention(plan).await {
                Ok(outcome) => {
                    result.exit_code = outcome.exit_code();
                    result.outcome = Some(outcome);
                }
                Err(e) => {
                    result.exit_code = e.exit_code();
                    result.error = Some(e.to_string());
                }
            }
        }
        results.push(result);
    }
    let deleted_any = results
        .iter()
        .filter_map(|r| r.outcome.as_ref())
        .any(|o| !o.deleted.is_empty() || !o.orphan_signatures_deleted.is_empty());
    let code = worst_exit_code(results.iter().map(|r| r.exit_code));
    let warnings: Vec<String> = results
        .iter()
        .filter_map(|r| r.outcome.as_ref())
        .flat_map(|o| o.ledger_warnings.iter().cloned())
        .collect();
    let nothing = results.is_empty();
    let prefix = engine.config().tags.prefix.clone();
    if json {
        output::print_json(&GcReport {
            executed: execute,
            results,
            reclaim: deleted_any.then_some(crate::retention::RECLAIM_HINT),
        });
    } else {
        let mut to_delete = 0;
        for result in &results {
            if let Some(plan) = &result.plan {
                print_plan(plan, &prefix);
                to_delete += plan.delete.len();
            }
            if let Some(outcome) = &result.outcome {
                print_outcome(outcome, &prefix);
            }
            if let Some(error) = &result.error {
                eprintln!(
                    "gantry: {} in {}: {error}",
                    result.service, result.environment
                );
            }
            if let Some(failure) = result.outcome.as_ref().and_then(|o| o.failure.as_ref()) {
                eprintln!(
                    "gantry: {} in {}: {}",
                    result.service, result.environment, failure.message
                );
            }
        }
        if !execute {
            if to_delete > 0 {
                println!(
                    "Nothing was deleted: `gantry gc --execute` (same options) deletes the {to_delete} image(s) above."
                );
            }
        } else if deleted_any {
            println!("{}", crate::retention::RECLAIM_HINT);
        }
    }
    for warning in &warnings {
        eprintln!("gantry: warning: {warning}");
    }
    Ok(if nothing { exit::OK } else { code })
}

fn print_plan(plan: &RetentionPlan, prefix: &str) {
    println!(
        "{} in {} ({}): {}",
        plan.service,
        plan.environment,
        plan.repository,
        plan.policy.summary()
    );
    let rows: Vec<(&str, &PlannedImage)> = plan
        .delete
        .iter()
        .map(|i| ("delete", i))
        .chain(plan.keep.iter().map(|i| ("keep", i)))
        .collect();
    let labels: Vec<String> = rows.iter().map(|(_, i)| i.label(prefix)).collect();
    let width = labels.iter().map(|l| l.len()).max().unwrap_or(0);
    for ((action, image), label) in rows.iter().zip(&labels) {
        println!(
            "  {action:<6}  {label:<width$}  {}  {:<20}  {}",
            image.digest.short(),
            image.created.as_deref().unwrap_or("-"),
            image.reason
        );
        if *action == "delete" {
            for signature in &image.signatures {
                println!("          + {signature}");
            }
            if !image.children.is_empty() {
                println!("          + {} platform manifest(s)", image.children.len());
            }
        }
    }
    for orphan in &plan.orphan_signatures {
        println!(
            "  delete  {}  {}  {}",
            orphan.tag,
            orphan.digest.short(),
            orphan.decision.describe()
        );
    }
    for note in &plan.notes {
        println!("  note: {note}");
    }
    println!("  {}", plan.summary());
}

fn print_outcome(outcome: &RetentionOutcome, prefix: &str) {
    let label = |tags: &[String]| {
        let mut tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        tags.sort_by_key(|t| (!t.starts_with(prefix), *t));
        tags.join(" ")
    };
    for deleted in &outcome.deleted {
        let mut line = format!(
            "  deleted      {}  {}",
            label(&deleted.tags),
            deleted.digest.short()
        );
        for signature in &deleted.signatures {
            line.push_str(&format!(" + {signature}"));
        }
        println!("{line}");
    }
    for signature in &outcome.orphan_signatures_deleted {
        println!("  deleted      {signature}");
    }
    for kept in &outcome.kept {
        println!(
            "  kept         {}  {}  {}",
            label(&kept.tags),
            kept.digest.short(),
            kept.reason
        );
    }
    for not in &outcome.not_deleted {
        println!(
            "  NOT deleted  {}  {}  {}",
            label(&not.tags),
            not.digest.short(),
            not.reason
        );
    }
    println!("  {}", outcome.summary());
}
