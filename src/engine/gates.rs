//! The gates of a promotion: gathers what each gate judges (ledger, git, signatures,
//! scanner reports) and asks `crate::gates` for the verdicts, in a fixed order.

use std::time::Duration;

use chrono::Utc;

use super::{Engine, Plan};
use crate::gates::{self, BranchFacts, Candidate, GateOverrides, GateResult, GatesConfig};

impl Plan {
    /// The digest, service and environments the gates judge.
    pub fn candidate(&self) -> Candidate<'_> {
        Candidate {
            service: &self.service,
            from: &self.from,
            to: &self.to,
            tag: &self.tag,
            digest: &self.digest,
            source: &self.source,
        }
    }
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
        let candidate = plan.candidate();
        if target.approvals > 0 {
            let refusal = self.approval_refusal(plan).await;
            results.push(gates::approvals(candidate, target.approvals, refusal));
        }
        let config = &target.gates;
        if !config.freeze.is_empty() {
            results.push(gates::freeze(
                candidate,
                &config.freeze,
                overrides,
                Utc::now(),
            ));
        }
        if !config.branches.is_empty() || config.merged_to.is_some() {
            let facts = self.branch_facts(plan, config).await;
            results.push(gates::branch(candidate, config, facts));
        }
        if let Some(soak) = &config.soak {
            let arrived = match self.ledger_snapshot().await {
                Ok(snapshot) => Ok(gates::arrival(candidate, &snapshot.records)),
                Err(e) => Err(e.to_string()),
            };
            results.push(gates::soak(candidate, soak, arrived, Utc::now()));
        }
        if config.signature {
            let status = self
                .signature_status(&plan.service, &plan.from, &plan.digest)
                .await
                .map_err(|e| e.to_string());
            results.push(gates::signature(candidate, status));
        }
        if let Some(policy) = &config.scan {
            let (command, report_path) = gates::scan_sources(candidate, policy);
            let report = match report_path {
                _ if policy.attestation => self.attested_scan_report(plan).await,
                Some(path) => {
                    let path = self.config_relative(&path);
                    std::fs::read(&path)
                        .map_err(|e| format!("cannot read report {}: {e}", path.display()))
                }
                None => {
                    gates::run_scanner(&command, Duration::from_secs(policy.timeout_secs)).await
                }
            };
            let today = Utc::now().format("%Y-%m-%d").to_string();
            results.push(gates::scan_verdict(policy, report, &today));
        }
        if !config.attested_by.is_empty() {
            results.push(self.attested_gate(plan, &config.attested_by).await);
        }
        results
    }

    /// Which matching branches hold the plan's commit, and whether it is merged where asked.
    async fn branch_facts(&self, plan: &Plan, config: &GatesConfig) -> Result<BranchFacts, String> {
        let short = plan
            .tag
            .strip_prefix(&self.config().tags.prefix)
            .unwrap_or(&plan.tag)
            .to_string();
        let patterns = config.branches.clone();
        let merged_to = config.merged_to.clone();
        self.with_git(move |repo| {
            let commit = repo.resolve(&short)?;
            let on = repo.branches_containing(&commit.sha, &patterns)?;
            let merged = match &merged_to {
                Some(branch) => Some(repo.is_on(&commit.sha, branch)?),
                None => None,
            };
            Ok(BranchFacts {
                short: commit.short,
                on,
                merged,
            })
        })
        .await
        .map(|(facts, _notes)| facts)
        .map_err(|e| e.to_string())
    }
}
