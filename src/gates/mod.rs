//! Promotion gates: scan, signature, approvals, branch, soak and freeze rules, each
//! answering Pass or Blocked with the reason and what would satisfy it. The verdicts are
//! functions of what the engine gathered (ledger records, git lookups, signature checks,
//! scanner reports); `crate::engine::gates` gathers and combines them.

pub mod scan;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use crate::config::gates::{
    parse_duration, AllowEntry, DurationText, FreezeWindow, GatesConfig, ScanPolicy, Severity,
};
use crate::domain::Digest;
use crate::ledger::{Record, RecordKind};
use crate::signing::SignatureStatus;

/// What the gates judge: one digest of one service, from one environment into another.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub service: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub tag: &'a str,
    pub digest: &'a Digest,
    /// `host/repository` in the source environment.
    pub source: &'a str,
}

/// One gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateResult {
    pub gate: String,
    #[serde(flatten)]
    pub outcome: GateOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum GateOutcome {
    Pass { detail: String },
    Blocked { reason: String, remedy: String },
}

impl GateResult {
    pub fn pass(gate: &str, detail: impl Into<String>) -> GateResult {
        GateResult {
            gate: gate.into(),
            outcome: GateOutcome::Pass {
                detail: detail.into(),
            },
        }
    }

    pub fn blocked(gate: &str, reason: impl Into<String>, remedy: impl Into<String>) -> GateResult {
        GateResult {
            gate: gate.into(),
            outcome: GateOutcome::Blocked {
                reason: reason.into(),
                remedy: remedy.into(),
            },
        }
    }

    pub fn is_blocked(&self) -> bool {
        matches!(self.outcome, GateOutcome::Blocked { .. })
    }
}

/// The refusal a set of gate answers makes, naming every blocking gate.
pub fn refusal(results: &[GateResult]) -> Option<String> {
    let blocked: Vec<String> = results
        .iter()
        .filter_map(|r| match &r.outcome {
            GateOutcome::Blocked { reason, remedy } => {
                Some(format!("gate {}: {reason} (to pass: {remedy})", r.gate))
            }
            GateOutcome::Pass { .. } => None,
        })
        .collect();
    (!blocked.is_empty()).then(|| blocked.join("; "))
}

/// Options a person (or CI) gives for one run.
#[derive(Debug, Clone, Default)]
pub struct GateOverrides {
    /// Promote through a freeze window; the reason is recorded in the ledger.
    pub freeze_reason: Option<String>,
}

pub use crate::domain::pattern::glob_match;

/// The approvals gate: `refusal` is what the ledger's approvals lack, if anything.
pub fn approvals(candidate: Candidate<'_>, required: u32, refusal: Option<String>) -> GateResult {
    match refusal {
        None => GateResult::pass(
            "approvals",
            format!(
                "{required} approval(s) of this digest into {}",
                candidate.to
            ),
        ),
        Some(reason) => GateResult::blocked(
            "approvals",
            reason,
            format!("{required} distinct approvals, none by the requester"),
        ),
    }
}

/// The freeze gate at `now`: the first window covering it blocks unless overridden.
pub fn freeze(
    candidate: Candidate<'_>,
    windows: &[FreezeWindow],
    overrides: &GateOverrides,
    now: DateTime<Utc>,
) -> GateResult {
    let Some(window) = windows.iter().find(|w| w.covers(now)) else {
        return GateResult::pass("freeze", "no freeze window now");
    };
    match &overrides.freeze_reason {
        Some(reason) => GateResult::pass(
            "freeze",
            format!("freeze {} overridden: {reason}", window.describe()),
        ),
        None => GateResult::blocked(
            "freeze",
            format!("{} is frozen {}", candidate.to, window.describe()),
            "wait for the window to end, or pass --override-freeze REASON (recorded in the ledger)",
        ),
    }
}

/// Where the candidate's commit is, as git answered.
#[derive(Debug, Clone)]
pub struct BranchFacts {
    /// The commit's short id.
    pub short: String,
    /// Branches matching the gate's patterns that contain the commit.
    pub on: Vec<String>,
    /// Whether the commit is merged into `merged_to`, when the gate names one.
    pub merged: Option<bool>,
}

/// The branch gate: the commit must be on a matching branch and merged where asked.
pub fn branch(
    candidate: Candidate<'_>,
    gates: &GatesConfig,
    lookup: Result<BranchFacts, String>,
) -> GateResult {
    let wanted = if gates.branches.is_empty() {
        String::new()
    } else {
        format!("on {}", gates.branches.join(" or "))
    };
    match lookup {
        Err(e) => GateResult::blocked(
            "branch",
            format!("cannot tell which branches hold {}: {e}", candidate.tag),
            "a readable [git] repository that has the commit",
        ),
        Ok(BranchFacts { short, on, merged }) => {
            if !gates.branches.is_empty() && on.is_empty() {
                return GateResult::blocked(
                    "branch",
                    format!(
                        "commit {short} is on no branch matching {}",
                        gates.branches.join(", ")
                    ),
                    format!(
                        "promote an image built from a commit {wanted} (cut a release branch from it)"
                    ),
                );
            }
            if let (Some(false), Some(branch)) = (merged, &gates.merged_to) {
                return GateResult::blocked(
                    "branch",
                    format!("commit {short} is not merged into {branch}"),
                    format!("merge it into {branch} first"),
                );
            }
            let mut detail = format!("commit {short}");
            if !on.is_empty() {
                detail.push_str(&format!(" is on {}", on.join(", ")));
            }
            if let Some(branch) = &gates.merged_to {
                detail.push_str(&format!(", merged into {branch}"));
            }
            GateResult::pass("branch", detail)
        }
    }
}

/// When the candidate's digest first arrived in its source environment, by the ledger.
pub fn arrival(candidate: Candidate<'_>, records: &[Record]) -> Option<DateTime<Utc>> {
    records
        .iter()
        .filter(|r| {
            r.kind == RecordKind::Promotion
                && r.environment.as_deref() == Some(candidate.from)
                && r.digest.as_ref() == Some(candidate.digest)
        })
        .filter_map(|r| DateTime::parse_from_rfc3339(&r.at).ok())
        .map(|t| t.with_timezone(&Utc))
        .min()
}

/// The soak gate at `now`: `arrived` is `arrival` over the ledger, or why it cannot be read.
pub fn soak(
    candidate: Candidate<'_>,
    soak: &DurationText,
    arrived: Result<Option<DateTime<Utc>>, String>,
    now: DateTime<Utc>,
) -> GateResult {
    let arrived = match arrived {
        Ok(arrived) => arrived,
        Err(e) => {
            return GateResult::blocked(
                "soak",
                format!(
                    "cannot tell how long {} has been in {}: {e}",
                    candidate.digest.short(),
                    candidate.from
                ),
                "the ledger (a [git] repository) that records promotions",
            )
        }
    };
    let Some(arrived) = arrived else {
        return GateResult::blocked(
            "soak",
            format!(
                "the ledger has no promotion of {} into {}",
                candidate.digest.short(),
                candidate.from
            ),
            format!(
                "promote it into {} through gantry and let it soak {}",
                candidate.from, soak.text
            ),
        );
    };
    let age = (now - arrived).to_std().unwrap_or_default();
    if age >= soak.duration {
        GateResult::pass(
            "soak",
            format!(
                "in {} since {}",
                candidate.from,
                arrived.format("%Y-%m-%d %H:%M UTC")
            ),
        )
    } else {
        let left = soak.duration - age;
        GateResult::blocked(
            "soak",
            format!(
                "in {} only since {} ({} of {})",
                candidate.from,
                arrived.format("%Y-%m-%d %H:%M UTC"),
                human_duration(age),
                soak.text
            ),
            format!("wait {} more", human_duration(left)),
        )
    }
}

/// The signature gate over the source image's signatures (or why they cannot be read).
pub fn signature(candidate: Candidate<'_>, status: Result<SignatureStatus, String>) -> GateResult {
    match status {
        Ok(SignatureStatus::Signed { by }) => {
            GateResult::pass("signature", format!("signed by {}", by.join(", ")))
        }
        Ok(SignatureStatus::Unsigned) => GateResult::blocked(
            "signature",
            format!(
                "{}@{} in {} carries no signature",
                candidate.service,
                candidate.digest.short(),
                candidate.from
            ),
            "sign it with a trusted key (promote it through an environment with sign = true)",
        ),
        Ok(SignatureStatus::Invalid { reason }) => GateResult::blocked(
            "signature",
            format!("no valid signature by a trusted key: {reason}"),
            "a signature by one of the keys in [signing] public_keys / verify_keys",
        ),
        Err(e) => GateResult::blocked(
            "signature",
            format!("signatures cannot be read: {e}"),
            "a reachable source registry and configured verification keys",
        ),
    }
}

/// The scanner command and the report path (as configured, unresolved) with the
/// candidate's placeholders filled in.
pub fn scan_sources(candidate: Candidate<'_>, policy: &ScanPolicy) -> (String, Option<String>) {
    let image = format!("{}@{}", candidate.source, candidate.digest);
    let fill = |template: &str| {
        template
            .replace("{image}", &image)
            .replace("{service}", candidate.service)
            .replace("{tag}", candidate.tag)
            .replace("{digest}", candidate.digest.as_str())
            .replace("{env}", candidate.from)
    };
    (fill(&policy.command), policy.report.as_deref().map(fill))
}

/// The scan gate over a report's bytes (or why there is none), judged on `today` (YYYY-MM-DD).
pub fn scan_verdict(
    policy: &ScanPolicy,
    report: Result<Vec<u8>, String>,
    today: &str,
) -> GateResult {
    let report = match report.and_then(|bytes| scan::parse(&bytes)) {
        Ok(r) => r,
        Err(e) => {
            return GateResult::blocked(
                "scan",
                format!("no usable vulnerability report: {e}"),
                "a scanner that runs here (trivy), or a report file",
            )
        }
    };
    let verdict = scan::judge(&report, policy, today);
    if verdict.blocking.is_empty() {
        let mut detail = format!(
            "{} finding(s), none {} or worse",
            verdict.total, policy.max_severity
        );
        if !verdict.allowed.is_empty() {
            detail.push_str(&format!("; allowed: {}", verdict.allowed.join(", ")));
        }
        if verdict.unfixed_ignored > 0 {
            detail.push_str(&format!(
                "; {} without a fix ignored",
                verdict.unfixed_ignored
            ));
        }
        GateResult::pass("scan", detail)
    } else {
        let shown: Vec<String> = verdict
            .blocking
            .iter()
            .take(5)
            .map(|f| format!("{} {} ({})", f.severity, f.id, f.package))
            .collect();
        let more = verdict.blocking.len().saturating_sub(shown.len());
        GateResult::blocked(
            "scan",
            format!(
                "{} finding(s) at {} or above: {}{}",
                verdict.blocking.len(),
                policy.max_severity,
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
            "fix them and rebuild, or allow-list each id with an expiry date",
        )
    }
}

/// Runs the scanner through `sh -c` and returns its stdout; a timeout or a non-zero exit
/// is an error, since a report cut short could hide findings.
pub async fn run_scanner(command: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run `{command}`: {e}"))?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => Err(format!(
            "`{command}` did not finish within {}s",
            timeout.as_secs()
        )),
        Ok(Err(e)) => Err(format!("`{command}` failed: {e}")),
        Ok(Ok(out)) if !out.status.success() => Err(format!(
            "`{command}` exited with {}: {}",
            out.status
                .code()
                .map_or("a signal".to_string(), |c| c.to_string()),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        )),
        Ok(Ok(out)) => Ok(out.stdout),
    }
}

fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_branch_patterns() {
        assert!(glob_match("release/*", "release/v1.2.0-sha-2b2e927"));
        assert!(glob_match("hotfix/*", "hotfix/x"));
        assert!(!glob_match("release/*", "hotfix/x"));
        assert!(glob_match("main", "main"));
        assert!(!glob_match("main", "mainline"));
        assert!(glob_match("release/*-sha-*", "release/v1-sha-abc"));
        assert!(!glob_match("release/*-sha-*", "release/v1"));
    }

    #[test]
    fn refusal_names_every_blocking_gate() {
        let results = vec![
            GateResult::pass("approvals", "2 of 2"),
            GateResult::blocked("scan", "1 CRITICAL", "fix it"),
            GateResult::blocked("soak", "too fresh", "wait 3h"),
        ];
        let text = refusal(&results).unwrap();
        assert!(
            text.contains("gate scan: 1 CRITICAL")
                && text.contains("gate soak")
                && !text.contains("approvals")
        );
        assert_eq!(refusal(&results[..1]), None);
    }
}
