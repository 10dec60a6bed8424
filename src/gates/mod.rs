//! Promotion gates: scan, signature, approvals, branch, soak and freeze rules, each
//! answering Pass or Blocked with the reason and what would satisfy it.

pub mod scan;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Plan};

/// `[environment.gates]`: the rules a promotion into the environment must pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesConfig {
    #[serde(default)]
    pub scan: Option<ScanPolicy>,
    /// The image must carry a valid signature by a trusted key (`[signing]`, `verify_keys`).
    #[serde(default)]
    pub signature: bool,
    /// Branch patterns (`release/*`) the image's commit must be on.
    #[serde(default)]
    pub branches: Vec<String>,
    /// And the commit must be merged into this branch (e.g. `main` for hotfixes).
    #[serde(default)]
    pub merged_to: Option<String>,
    /// How long the digest must have been in the source environment (`24h`, `3d`).
    #[serde(default)]
    pub soak: Option<DurationText>,
    /// Periods when promotions here are refused unless overridden (and recorded).
    #[serde(default)]
    pub freeze: Vec<FreezeWindow>,
    /// Environments whose signed promotion attestation the image must carry.
    #[serde(default)]
    pub attested_by: Vec<String>,
}

impl GatesConfig {
    pub fn is_empty(&self) -> bool {
        self == &GatesConfig::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanPolicy {
    /// Run to produce the report; `{image}` is `registry/repository@digest`, also
    /// `{service}`, `{tag}`, `{digest}`, `{env}`.
    #[serde(default = "default_scan_command")]
    pub command: String,
    /// Read this report instead of running a scanner (same placeholders; relative to
    /// the configuration file).
    #[serde(default)]
    pub report: Option<String>,
    /// Read the vulnerability attestation attached to the image instead of running a
    /// scanner (the newest one; it must be signed by a key trusted in the target).
    #[serde(default)]
    pub attestation: bool,
    /// Findings at or above this severity block.
    #[serde(default = "default_severity")]
    pub max_severity: Severity,
    /// Findings without a fixed version do not block.
    #[serde(default)]
    pub ignore_unfixed: bool,
    /// Accepted findings, each until a date.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
    #[serde(default = "default_scan_timeout")]
    pub timeout_secs: u64,
}

impl Default for ScanPolicy {
    fn default() -> Self {
        ScanPolicy {
            command: default_scan_command(),
            report: None,
            attestation: false,
            max_severity: default_severity(),
            ignore_unfixed: false,
            allow: Vec::new(),
            timeout_secs: default_scan_timeout(),
        }
    }
}

fn default_scan_command() -> String {
    "trivy image --format json --quiet {image}".into()
}

fn default_severity() -> Severity {
    Severity::High
}

fn default_scan_timeout() -> u64 {
    600
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    pub id: String,
    /// `YYYY-MM-DD`: the last day the exception holds.
    #[serde(deserialize_with = "date")]
    pub until: String,
    #[serde(default)]
    pub reason: String,
}

fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map(|_| text.clone())
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a date (YYYY-MM-DD)")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text.to_ascii_uppercase().as_str() {
            "UNKNOWN" => Severity::Unknown,
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        })
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Severity::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a severity (LOW, MEDIUM, HIGH, CRITICAL)"
            ))
        })
    }
}

/// A duration as people write it: `90s`, `30m`, `24h`, `7d`, `2w`, `1y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationText {
    pub text: String,
    pub duration: Duration,
}

pub fn parse_duration(text: &str) -> Option<Duration> {
    crate::retention::policy::RetentionDuration::parse(text)
        .ok()
        .map(|d| Duration::from_secs(d.seconds))
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let duration = crate::retention::policy::RetentionDuration::parse(&text)
            .map(|d| Duration::from_secs(d.seconds))
            .map_err(serde::de::Error::custom)?;
        Ok(DurationText { text, duration })
    }
}

/// A period when promotions are refused: between two instants, or on days of the week.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindow {
    #[serde(default, deserialize_with = "instant")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "instant")]
    pub until: Option<DateTime<Utc>>,
    /// `mon` ... `sun` (UTC): every such day, all day.
    #[serde(default, deserialize_with = "weekdays")]
    pub days: Vec<chrono::Weekday>,
    #[serde(default)]
    pub reason: String,
}

fn instant<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "`{text}` is not an RFC 3339 time (2026-12-20T00:00:00Z)"
            ))
        })
}

fn weekdays<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<chrono::Weekday>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    names
        .iter()
        .map(|n| {
            n.parse::<chrono::Weekday>().map_err(|_| {
                serde::de::Error::custom(format!("`{n}` is not a day of the week (mon ... sun)"))
            })
        })
        .collect()
}

impl FreezeWindow {
    pub fn covers(&self, now: DateTime<Utc>) -> bool {
        let in_range = match (self.from, self.until) {
            (None, None) => true,
            (from, until) => from.is_none_or(|f| now >= f) && until.is_none_or(|u| now < u),
        };
        let on_day = self.days.is_empty() || self.days.contains(&now.weekday());
        in_range && on_day && (self.from.is_some() || self.until.is_some() || !self.days.is_empty())
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(from) = self.from {
            parts.push(format!("from {}", from.format("%Y-%m-%d %H:%M UTC")));
        }
        if let Some(until) = self.until {
            parts.push(format!("until {}", until.format("%Y-%m-%d %H:%M UTC")));
        }
        if !self.days.is_empty() {
            let days: Vec<String> = self.days.iter().map(|d| d.to_string()).collect();
            parts.push(format!("on {}", days.join(", ")));
        }
        if !self.reason.is_empty() {
            parts.push(format!("({})", self.reason));
        }
        parts.join(" ")
    }
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
    pub(crate) fn pass(gate: &str, detail: impl Into<String>) -> GateResult {
        GateResult {
            gate: gate.into(),
            outcome: GateOutcome::Pass {
                detail: detail.into(),
            },
        }
    }

    pub(crate) fn blocked(
        gate: &str,
        reason: impl Into<String>,
        remedy: impl Into<String>,
    ) -> GateResult {
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

/// Glob (`*`, `?`) as branch patterns are written: the matcher retention's tag patterns use.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    crate::retention::policy::glob(pattern.as_bytes(), text.as_bytes())
}

impl Engine {
    /// `path` as written in the configuration: relative to the configuration file.
    fn config_relative(&self, path: &str) -> std::path::PathBuf {
        let path = std::path::Path::new(path);
        if path.is_absolute() {
            return path.to_path_buf();
        }
        self.config()
            .source
            .parent()
            .map(|dir| dir.join(path))
            .unwrap_or_else(|| path.to_path_buf())
    }

    /// Every gate of the target environment, in a fixed order; approvals first.
    pub async fn evaluate_gates(&self, plan: &Plan, overrides: &GateOverrides) -> Vec<GateResult> {
        let mut results = Vec::new();
        let Ok(target) = self.config().environment(&plan.to) else {
            return results;
        };
        let target = target.clone();
        if target.approvals > 0 {
            results.push(match self.approval_refusal(plan).await {
                None => GateResult::pass(
                    "approvals",
                    format!(
                        "{} approval(s) of this digest into {}",
                        target.approvals, plan.to
                    ),
                ),
                Some(reason) => GateResult::blocked(
                    "approvals",
                    reason,
                    format!(
                        "{} distinct approvals, none by the requester",
                        target.approvals
                    ),
                ),
            });
        }
        let gates = &target.gates;
        if !gates.freeze.is_empty() {
            results.push(self.freeze_gate(plan, gates, overrides).await);
        }
        if !gates.branches.is_empty() || gates.merged_to.is_some() {
            results.push(self.branch_gate(plan, gates).await);
        }
        if let Some(soak) = &gates.soak {
            results.push(self.soak_gate(plan, soak).await);
        }
        if gates.signature {
            results.push(self.signature_gate(plan).await);
        }
        if let Some(policy) = &gates.scan {
            results.push(self.scan_gate(plan, policy).await);
        }
        if !gates.attested_by.is_empty() {
            results.push(self.attested_gate(plan, &gates.attested_by).await);
        }
        results
    }

    async fn freeze_gate(
        &self,
        plan: &Plan,
        gates: &GatesConfig,
        overrides: &GateOverrides,
    ) -> GateResult {
        let now = Utc::now();
        let Some(window) = gates.freeze.iter().find(|w| w.covers(now)) else {
            return GateResult::pass("freeze", "no freeze window now");
        };
        match &overrides.freeze_reason {
            Some(reason) => GateResult::pass(
                "freeze",
                format!("freeze {} overridden: {reason}", window.describe()),
            ),
            None => GateResult::blocked(
                "freeze",
                format!("{} is frozen {}", plan.to, window.describe()),
                "wait for the window to end, or pass --override-freeze REASON (recorded in the ledger)",
            ),
        }
    }

    async fn branch_gate(&self, plan: &Plan, gates: &GatesConfig) -> GateResult {
        let short = plan
            .tag
            .strip_prefix(&self.config().tags.prefix)
            .unwrap_or(&plan.tag)
            .to_string();
        let patterns = gates.branches.clone();
        let merged_to = gates.merged_to.clone();
        let lookup = self
            .with_git(move |repo| {
                let commit = repo.resolve(&short)?;
                let on = repo.branches_containing(&commit.sha, &patterns)?;
                let merged = match &merged_to {
                    Some(branch) => Some(repo.is_on(&commit.sha, branch)?),
                    None => None,
                };
                Ok((commit, on, merged))
            })
            .await;
        let wanted = if gates.branches.is_empty() {
            String::new()
        } else {
            format!("on {}", gates.branches.join(" or "))
        };
        match lookup {
            Err(e) => GateResult::blocked(
                "branch",
                format!("cannot tell which branches hold {}: {e}", plan.tag),
                "a readable [git] repository that has the commit",
            ),
            Ok(((commit, on, merged), _)) => {
                if !gates.branches.is_empty() && on.is_empty() {
                    return GateResult::blocked(
                        "branch",
                        format!("commit {} is on no branch matching {}", commit.short, gates.branches.join(", ")),
                        format!("promote an image built from a commit {wanted} (cut a release branch from it)"),
                    );
                }
                if let (Some(false), Some(branch)) = (merged, &gates.merged_to) {
                    return GateResult::blocked(
                        "branch",
                        format!("commit {} is not merged into {branch}", commit.short),
                        format!("merge it into {branch} first"),
                    );
                }
                let mut detail = format!("commit {}", commit.short);
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

    async fn soak_gate(&self, plan: &Plan, soak: &DurationText) -> GateResult {
        let snapshot = match self.ledger_snapshot().await {
            Ok(s) => s,
            Err(e) => {
                return GateResult::blocked(
                    "soak",
                    format!(
                        "cannot tell how long {} has been in {}: {e}",
                        plan.digest.short(),
                        plan.from
                    ),
                    "the ledger (a [git] repository) that records promotions",
                )
            }
        };
        let arrived = snapshot
            .records
            .iter()
            .filter(|r| {
                r.kind == crate::ledger::RecordKind::Promotion
                    && r.environment.as_deref() == Some(plan.from.as_str())
                    && r.digest.as_ref() == Some(&plan.digest)
            })
            .filter_map(|r| DateTime::parse_from_rfc3339(&r.at).ok())
            .map(|t| t.with_timezone(&Utc))
            .min();
        let Some(arrived) = arrived else {
            return GateResult::blocked(
                "soak",
                format!(
                    "the ledger has no promotion of {} into {}",
                    plan.digest.short(),
                    plan.from
                ),
                format!(
                    "promote it into {} through gantry and let it soak {}",
                    plan.from, soak.text
                ),
            );
        };
        let age = (Utc::now() - arrived).to_std().unwrap_or_default();
        if age >= soak.duration {
            GateResult::pass(
                "soak",
                format!(
                    "in {} since {}",
                    plan.from,
                    arrived.format("%Y-%m-%d %H:%M UTC")
                ),
            )
        } else {
            let left = soak.duration - age;
            GateResult::blocked(
                "soak",
                format!(
                    "in {} only since {} ({} of {})",
                    plan.from,
                    arrived.format("%Y-%m-%d %H:%M UTC"),
                    human_duration(age),
                    soak.text
                ),
                format!("wait {} more", human_duration(left)),
            )
        }
    }

    async fn signature_gate(&self, plan: &Plan) -> GateResult {
        use crate::signing::SignatureStatus;
        match self
            .signature_status(&plan.service, &plan.from, &plan.digest)
            .await
        {
            Ok(SignatureStatus::Signed { by }) => {
                GateResult::pass("signature", format!("signed by {}", by.join(", ")))
            }
            Ok(SignatureStatus::Unsigned) => GateResult::blocked(
                "signature",
                format!(
                    "{}@{} in {} carries no signature",
                    plan.service,
                    plan.digest.short(),
                    plan.from
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

    async fn scan_gate(&self, plan: &Plan, policy: &ScanPolicy) -> GateResult {
        // Placeholders are filled before any await: a borrowing closure held across an
        // await makes the future's Send-ness unprovable for tokio::spawn.
        let (command, report_path) = {
            let image = format!("{}@{}", plan.source, plan.digest);
            let fill = |template: &str| {
                template
                    .replace("{image}", &image)
                    .replace("{service}", &plan.service)
                    .replace("{tag}", &plan.tag)
                    .replace("{digest}", plan.digest.as_str())
                    .replace("{env}", &plan.from)
            };
            (fill(&policy.command), policy.report.as_deref().map(fill))
        };
        let report = match report_path {
            _ if policy.attestation => self.attested_scan_report(plan).await,
            Some(path) => {
                let path = self.config_relative(&path);
                std::fs::read(&path)
                    .map_err(|e| format!("cannot read report {}: {e}", path.display()))
            }
            None => run_scanner(&command, Duration::from_secs(policy.timeout_secs)).await,
        };
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
        let today = Utc::now().format("%Y-%m-%d").to_string();
        let verdict = scan::judge(&report, policy, &today);
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
}

/// Runs the scanner through `sh -c` and returns its stdout; a timeout or a non-zero exit
/// is an error, since a report cut short could hide findings.
async fn run_scanner(command: &str, timeout: Duration) -> Result<Vec<u8>, String> {
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
    fn durations_parse() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(
            parse_duration("1y"),
            Some(Duration::from_secs(365 * 86_400))
        );
        for bad in ["", "h", "24", "24x", "-1d", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn freeze_windows_cover_ranges_and_days() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let range = FreezeWindow {
            from: Some(at("2026-12-20T00:00:00Z")),
            until: Some(at("2027-01-04T00:00:00Z")),
            days: Vec::new(),
            reason: "year end".into(),
        };
        assert!(range.covers(at("2026-12-25T12:00:00Z")));
        assert!(!range.covers(at("2027-01-04T00:00:00Z")));
        assert!(!range.covers(at("2026-12-19T23:59:59Z")));
        let weekend = FreezeWindow {
            from: None,
            until: None,
            days: vec![chrono::Weekday::Sat, chrono::Weekday::Sun],
            reason: String::new(),
        };
        // 2026-11-21 is a Saturday.
        assert!(weekend.covers(at("2026-11-21T10:00:00Z")));
        assert!(!weekend.covers(at("2026-11-23T10:00:00Z")));
    }

    #[test]
    fn gates_config_is_validated_with_locations() {
        let bad = "scan = { max_severity = \"SEVERE\" }\n";
        let err = toml::from_str::<GatesConfig>(bad).unwrap_err();
        assert!(err.message().contains("SEVERE"), "{}", err.message());
        let bad = "soak = \"a while\"\n";
        assert!(toml::from_str::<GatesConfig>(bad).is_err());
        let good = "signature = true\nbranches = [\"release/*\"]\nsoak = \"2h\"\nfreeze = [{ days = [\"sat\", \"sun\"] }]\nscan = { report = \"r.json\", allow = [{ id = \"CVE-1\", until = \"2027-01-01\" }] }\n";
        let config: GatesConfig = toml::from_str(good).unwrap();
        assert!(config.signature && config.scan.is_some());
        assert_eq!(config.soak.unwrap().duration, Duration::from_secs(7200));
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
