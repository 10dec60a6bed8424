//! The vulnerability-scan gate: trivy's JSON report read, filtered by policy, judged.

use serde::Deserialize;

use super::{ScanPolicy, Severity};

/// The parts of `trivy image --format json` (SchemaVersion 2) the gate reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    #[serde(default)]
    pub results: Option<Vec<ResultSet>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultSet {
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub vulnerabilities: Option<Vec<Vulnerability>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vulnerability {
    #[serde(rename = "VulnerabilityID")]
    pub id: String,
    #[serde(default)]
    pub pkg_name: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub fixed_version: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

impl Vulnerability {
    pub fn severity(&self) -> Severity {
        Severity::parse(&self.severity).unwrap_or(Severity::Unknown)
    }

    /// trivy marks fixable findings with a FixedVersion (and status "fixed").
    pub fn is_fixed(&self) -> bool {
        self.fixed_version.as_deref().is_some_and(|v| !v.is_empty())
            || self.status.as_deref() == Some("fixed")
    }
}

/// What the policy made of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Findings at or above the threshold that nothing excuses, worst first.
    pub blocking: Vec<Finding>,
    /// Findings excused by the allow-list (still valid entries only).
    pub allowed: Vec<String>,
    /// Findings at or above the threshold ignored because no fix exists.
    pub unfixed_ignored: usize,
    /// Every finding in the report.
    pub total: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub severity: Severity,
}

pub fn parse(json: &[u8]) -> Result<Report, String> {
    serde_json::from_slice(json).map_err(|e| format!("not a trivy JSON report: {e}"))
}

/// Judges `report` under `policy` on `today` (`YYYY-MM-DD`, for allow-list expiry).
pub fn judge(report: &Report, policy: &ScanPolicy, today: &str) -> Verdict {
    let findings: Vec<&Vulnerability> = report
        .results
        .iter()
        .flatten()
        .flat_map(|r| r.vulnerabilities.iter().flatten())
        .collect();
    let mut verdict = Verdict {
        blocking: Vec::new(),
        allowed: Vec::new(),
        unfixed_ignored: 0,
        total: findings.len(),
    };
    for finding in findings {
        if finding.severity() < policy.max_severity {
            continue;
        }
        let excused = policy
            .allow
            .iter()
            .find(|a| a.id == finding.id && a.until.as_str() >= today);
        if let Some(entry) = excused {
            verdict
                .allowed
                .push(format!("{} (until {})", entry.id, entry.until));
            continue;
        }
        if policy.ignore_unfixed && !finding.is_fixed() {
            verdict.unfixed_ignored += 1;
            continue;
        }
        verdict.blocking.push(Finding {
            id: finding.id.clone(),
            package: finding.pkg_name.clone(),
            severity: finding.severity(),
        });
    }
    verdict
        .blocking
        .sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    verdict.blocking.dedup();
    verdict.allowed.sort();
    verdict.allowed.dedup();
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::AllowEntry;

    fn fixture(name: &str) -> Report {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/trivy")
            .join(name);
        parse(&std::fs::read(&path).unwrap()).unwrap()
    }

    fn policy(max: Severity) -> ScanPolicy {
        ScanPolicy {
            max_severity: max,
            ..ScanPolicy::default()
        }
    }

    #[test]
    fn counts_match_the_real_reports() {
        // The fixtures' documented severity counts.
        let all = |name| judge(&fixture(name), &policy(Severity::Unknown), "2026-01-01");
        assert_eq!(all("alpine-310.json").total, 4);
        assert_eq!(all("alpine-39-high-critical.json").total, 2);
        assert_eq!(all("centos-7.json").total, 3);
        assert_eq!(all("debian-buster.json").total, 2);
        assert_eq!(all("distroless-base.json").total, 4);
    }

    #[test]
    fn threshold_blocks_at_or_above() {
        let critical = judge(
            &fixture("debian-buster.json"),
            &policy(Severity::Critical),
            "2026-01-01",
        );
        assert_eq!(critical.blocking.len(), 1);
        assert_eq!(critical.blocking[0].id, "CVE-2019-18224");
        let high = judge(
            &fixture("alpine-310.json"),
            &policy(Severity::High),
            "2026-01-01",
        );
        assert!(
            high.blocking.is_empty(),
            "alpine 3.10 has only MEDIUM findings"
        );
        let medium = judge(
            &fixture("alpine-310.json"),
            &policy(Severity::Medium),
            "2026-01-01",
        );
        assert_eq!(medium.blocking.len(), 4);
    }

    #[test]
    fn allow_list_entries_expire() {
        let mut p = policy(Severity::Critical);
        p.allow.push(AllowEntry {
            id: "CVE-2019-18224".into(),
            until: "2026-06-30".into(),
            reason: "not reachable".into(),
        });
        let before = judge(&fixture("debian-buster.json"), &p, "2026-06-30");
        assert!(before.blocking.is_empty());
        assert_eq!(before.allowed, ["CVE-2019-18224 (until 2026-06-30)"]);
        let after = judge(&fixture("debian-buster.json"), &p, "2026-07-01");
        assert_eq!(after.blocking.len(), 1);
    }

    #[test]
    fn unfixed_findings_can_be_ignored() {
        // centos-7: the MEDIUM finding has no fix in the report.
        let report = fixture("centos-7.json");
        let strict = judge(&report, &policy(Severity::Low), "2026-01-01");
        let mut lenient_policy = policy(Severity::Low);
        lenient_policy.ignore_unfixed = true;
        let lenient = judge(&report, &lenient_policy, "2026-01-01");
        assert!(lenient.blocking.len() < strict.blocking.len());
        assert_eq!(
            lenient.unfixed_ignored,
            strict.blocking.len() - lenient.blocking.len()
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse(b"<html>").is_err());
        assert!(parse(br#"{"Results": 3}"#).is_err());
        // A clean image: no Results at all.
        assert_eq!(
            judge(&parse(b"{}").unwrap(), &policy(Severity::Low), "2026-01-01").total,
            0
        );
    }
}
