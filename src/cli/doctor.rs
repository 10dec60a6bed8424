//! `gantry doctor`: prints the engine's checks, one line each; exit 0 without errors, 1 with.

use super::{exit, output, Failure};
use crate::engine::doctor::{DoctorReport, Level};
use crate::engine::Engine;

pub async fn doctor(engine: &Engine, json: bool) -> Result<i32, Failure> {
    let report = engine.doctor().await;
    if json {
        output::print_json(&report);
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.ok { exit::OK } else { exit::REGISTRY })
}

/// `LEVEL    SCOPE    CHECK        message -> what to do`, aligned, then a summary line.
pub fn render(report: &DoctorReport) -> String {
    let scope_width = report
        .checks
        .iter()
        .map(|c| c.scope.len())
        .max()
        .unwrap_or(0);
    let check_width = report
        .checks
        .iter()
        .map(|c| c.check.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for check in &report.checks {
        out.push_str(&format!(
            "{:<7}  {:<scope_width$}  {:<check_width$}  {}",
            check.level.word(),
            check.scope,
            check.check,
            check.message
        ));
        if let Some(fix) = check.fix.as_ref().filter(|_| check.level != Level::Ok) {
            out.push_str(&format!(" -> {fix}"));
        }
        out.push('\n');
    }
    out.push_str(&report.summary());
    out.push('\n');
    out
}
