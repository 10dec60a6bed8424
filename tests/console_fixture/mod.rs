//! A console fixture shared by the snapshot and key tests: a three-environment config
//! and hand-made but realistic registry and git data (and the same with two registries
//! down), `gantry doctor` reports, at a fixed `now`.
#![allow(dead_code)]

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use gantry::config::keys::{Key, KeyChord};
use gantry::config::Config;
use gantry::deploy::Bump;
use gantry::deploy::{DeployOutcome, DeployState, GitOpsResult};
use gantry::domain::Digest;
use gantry::engine::deploy::DeployReport;
use gantry::engine::doctor::{Check, DoctorReport, Level};
use gantry::engine::history::{
    CommitRow, CommitsView, CutOutcome, Drift, ImageBadge, ListingError, StatusReport,
};
use gantry::engine::inventory::{Behind, CommitRef, EnvironmentImages, ImageInfo, StatusCell};
use gantry::engine::ledger::{AuditView, Verification};
use gantry::engine::plan::{BlobStep, ManifestAction, ManifestStep, TagStep};
use gantry::engine::{BlobAction, Plan, PromotionRequest, TagAction};
use gantry::git::{BranchInfo, BranchKind, BranchPlan, CommitInfo};
use gantry::ledger::{chain_hash, NewRecord, Record, RecordKind, Tamper, TamperKind};
use gantry::registry::failure::{FailureKind, HostFailure};
use gantry::retention::{
    DeletedImage, PlannedImage, PlannedSignature, RetentionOutcome, RetentionPlan, Rule,
};
use gantry::tui::app::{App, DataEvent, Effect, RequestRow};

pub const CONFIG: &str = r#"
[git]
path = "."

[[environment]]
name = "dev"
registry = "registry.dev.example.com"
mutable_tag = "latest"

[environment.retention]
keep = 1
min_age = "24h"

[[environment]]
name = "stage"
registry = "registry.stage.example.com"
from = "dev"
mutable_tag = "stage"

[environment.deploy]
kind = "gitops"
repository = "../manifests.git"
files.payment-svc = { path = "stage/payment-svc/kustomization.yaml", image = "registry.stage.example.com/payment-svc" }

[[environment]]
name = "prod"
registry = "registry.prod.example.com"
from = "stage"
mutable_tag = "prod"

[[service]]
name = "payment-svc"

[[service]]
name = "ledger-api"
repository = "team-money/ledger-api"

[[service]]
name = "web-frontend"
"#;

pub fn config_from(text: &str) -> Config {
    Config::parse(text, Path::new("/srv/gantry/gantry.toml")).expect("fixture config parses")
}

pub fn config() -> Config {
    config_from(CONFIG)
}

/// Friday 14 March 2025, noon UTC: every age on screen is measured from here.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-03-14T12:00:00Z")
        .expect("fixed time")
        .with_timezone(&Utc)
}

fn ago(d: Duration) -> String {
    (now() - d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn app() -> App {
    App::new(&config(), false, now())
}

pub fn readonly_app() -> App {
    App::new(&config(), true, now())
}

// ---- git ------------------------------------------------------------------------

/// (sha, author, subject, age) of develop's newest commits, newest first.
pub const COMMITS: [(&str, &str, &str, i64); 6] = [
    (
        "c4e1f0a9d2b7c3e58f1a6b0d9e2c4f7a8b3d5e61",
        "Ana Ruiz",
        "Merge pull request #412: retry idempotent payment captures",
        2 * 3600,
    ),
    (
        "9b27d3e5a1c84f0b6d2e9a7c3f5b1d8e4a6c2f90",
        "Tom Okafor",
        "ledger: batch journal writes behind a flag",
        5 * 3600,
    ),
    (
        "7a1c9e02b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3",
        "Ana Ruiz",
        "Bump base image to debian 12.9",
        26 * 3600,
    ),
    (
        "3f9a2c1b7e4d8a0f6c2b9e5d1a7f3c8b4e0d6a25",
        "Mei Chen",
        "Fix currency rounding for JPY",
        3 * 86_400,
    ),
    (
        "e81d44c7f2a9b6e0d3c1f8a5b2e7d4c9a6f0b3e8",
        "Mei Chen",
        "Changelog for 1.8.0",
        6 * 86_400,
    ),
    (
        "52b0a6fd8c3e1b7a9d4f2c6e0b8a5d3f1c7e9b42",
        "Tom Okafor",
        "Add refund webhook",
        9 * 86_400,
    ),
];

pub fn commit(i: usize) -> CommitInfo {
    let (sha, author, subject, age) = COMMITS[i];
    let date = now() - Duration::seconds(age);
    CommitInfo {
        sha: sha.to_string(),
        short: sha[..7].to_string(),
        author: author.to_string(),
        email: format!(
            "{}@example.com",
            author.split(' ').next().unwrap_or("dev").to_lowercase()
        ),
        date: date.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        commit_time: date.timestamp(),
        subject: subject.to_string(),
        parents: if subject.starts_with("Merge") { 2 } else { 1 },
    }
}

pub fn tag_of(i: usize) -> String {
    format!("sha-{}", &COMMITS[i].0[..7])
}

/// A stable, realistic-looking digest per name.
pub fn digest(name: &str) -> Digest {
    Digest::of(name.as_bytes())
}

/// The digest of commit `i`'s image of `service` (the same in every environment).
pub fn image_digest(service: &str, i: usize) -> Digest {
    digest(&format!("{service}:{}", tag_of(i)))
}

/// Which commits of payment-svc each environment holds, and where its mutable tag points.
pub fn payment_holdings(env: &str) -> (&'static [usize], usize) {
    match env {
        "dev" => (&[0, 1, 2, 3, 4], 0),
        "stage" => (&[2, 3, 4], 2),
        _ => (&[3, 4], 3),
    }
}

fn mutable_of(env: &str) -> &'static str {
    match env {
        "dev" => "latest",
        "stage" => "stage",
        _ => "prod",
    }
}

pub fn commits_view() -> CommitsView {
    let service = "payment-svc";
    let commits = (0..COMMITS.len())
        .map(|i| {
            let mut images = Vec::new();
            for env in ["dev", "stage", "prod"] {
                let (held, current) = payment_holdings(env);
                if held.contains(&i) {
                    images.push(ImageBadge {
                        service: service.into(),
                        environment: env.into(),
                        tag: tag_of(i),
                        digest: Some(image_digest(service, i)),
                        mutable_tag: (current == i).then(|| mutable_of(env).to_string()),
                        drift: false,
                    });
                }
            }
            // ledger-api's rebuilt 1.8.0 image: drift, shown only when ledger-api is selected.
            if i == 4 {
                for env in ["stage", "prod"] {
                    images.push(ImageBadge {
                        service: "ledger-api".into(),
                        environment: env.into(),
                        tag: tag_of(4),
                        digest: Some(digest(&format!("ledger-api:{env}:rebuilt"))),
                        mutable_tag: None,
                        drift: true,
                    });
                }
            }
            CommitRow {
                commit: commit(i),
                images,
            }
        })
        .collect();
    CommitsView {
        branch: "develop".into(),
        reference: "refs/heads/develop".into(),
        commits,
        more: true,
        older: Vec::new(),
        off_branch: Vec::new(),
        unknown: Vec::new(),
        drift: Vec::new(),
        errors: Vec::new(),
        notes: Vec::new(),
    }
}

pub fn branches() -> Vec<BranchInfo> {
    let branch = |name: &str,
                  kind,
                  head: usize,
                  dev: Option<(usize, usize)>,
                  main: Option<(usize, usize)>| {
        BranchInfo {
            name: name.into(),
            kind,
            head: commit(head),
            ahead_of_develop: dev.map(|d| d.0),
            behind_develop: dev.map(|d| d.1),
            ahead_of_main: main.map(|m| m.0),
            behind_main: main.map(|m| m.1),
        }
    };
    vec![
        branch(
            "develop",
            BranchKind::Develop,
            0,
            Some((0, 0)),
            Some((14, 0)),
        ),
        branch("main", BranchKind::Main, 3, Some((0, 14)), Some((0, 0))),
        branch(
            "release/v1.8.0-sha-e81d44c",
            BranchKind::Release,
            4,
            Some((0, 9)),
            Some((2, 1)),
        ),
        branch(
            "hotfix/jpy-rounding",
            BranchKind::Hotfix,
            3,
            Some((1, 3)),
            Some((1, 0)),
        ),
    ]
}

// ---- registries -----------------------------------------------------------------

const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

pub fn images(service: &str, env: &str) -> EnvironmentImages {
    let (held, current) = payment_holdings(env);
    let images = held
        .iter()
        .map(|&i| ImageInfo {
            tag: tag_of(i),
            digest: image_digest(service, i),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            platforms: if i == 2 {
                vec!["linux/amd64".into()]
            } else {
                PLATFORMS.iter().map(|p| p.to_string()).collect()
            },
            created: Some(ago(Duration::seconds(COMMITS[i].3 - 600))),
            size: 48_213_504 + 1_048_576 * i as u64,
            also_tagged: if i == current {
                vec![mutable_of(env).to_string()]
            } else {
                Vec::new()
            },
            attached: None,
        })
        .collect();
    let repository = match service {
        "ledger-api" => "team-money/ledger-api",
        other => other,
    };
    EnvironmentImages {
        environment: env.into(),
        repository: format!("registry.{env}.example.com/{repository}"),
        images,
        other_tags: vec!["buildcache".into()],
    }
}

fn cell(service: &str, env: &str, i: Option<usize>) -> StatusCell {
    StatusCell {
        service: service.into(),
        environment: env.into(),
        mutable_tag: Some(mutable_of(env).to_string()),
        digest: i.map(|i| image_digest(service, i)),
        tags: i.map(tag_of).into_iter().collect(),
        image_count: if i.is_some() { 3 } else { 0 },
        error: None,
        commit: i.map(|i| CommitRef {
            sha: COMMITS[i].0.into(),
            short: COMMITS[i].0[..7].into(),
            subject: COMMITS[i].2.into(),
        }),
        behind: None,
        drift: Vec::new(),
        digests: Default::default(),
        deployed: None,
    }
}

fn behind(from: &str, commits: usize) -> Option<Behind> {
    Some(Behind {
        from: from.into(),
        commits,
        truncated: false,
    })
}

/// What runs where: payment-svc flows normally, ledger-api has a rebuilt tag in prod,
/// web-frontend's stage registry is down and prod has never had it.
pub fn status() -> StatusReport {
    let mut cells = vec![
        cell("payment-svc", "dev", Some(0)),
        StatusCell {
            behind: behind("dev", 2),
            ..cell("payment-svc", "stage", Some(2))
        },
        StatusCell {
            behind: behind("stage", 1),
            ..cell("payment-svc", "prod", Some(3))
        },
        cell("ledger-api", "dev", Some(1)),
        StatusCell {
            behind: behind("dev", 0),
            ..cell("ledger-api", "stage", Some(1))
        },
        StatusCell {
            behind: behind("stage", 3),
            drift: vec![tag_of(4)],
            ..cell("ledger-api", "prod", Some(4))
        },
        cell("web-frontend", "dev", Some(0)),
        StatusCell {
            error: Some(
                "registry.stage.example.com: 503 Service Unavailable after 5 attempts".into(),
            ),
            ..cell("web-frontend", "stage", None)
        },
        cell("web-frontend", "prod", None),
    ];
    cells[8].mutable_tag = Some("prod".into());
    StatusReport {
        cells,
        drift: vec![Drift {
            service: "ledger-api".into(),
            tag: tag_of(4),
            digests: vec![
                ("stage".into(), digest("ledger-api:stage:rebuilt")),
                ("prod".into(), digest("ledger-api:prod:rebuilt")),
            ],
        }],
        git_unavailable: None,
        notes: Vec::new(),
    }
}

// ---- plans ------------------------------------------------------------------------

fn blob(name: &str, size: u64, action: BlobAction) -> BlobStep {
    BlobStep {
        digest: digest(name),
        size,
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        action,
    }
}

/// Promoting payment-svc's sha-7a1c9e0 from stage to prod: two layers copied, one mounted,
/// the base present; the immutable tag created, `prod` moved off sha-3f9a2c1.
pub fn plan_for(request: &PromotionRequest) -> Plan {
    let service = request.selector.service();
    let tag = match &request.selector {
        gantry::domain::ImageSelector::Tag { tag, .. } => tag.clone(),
        gantry::domain::ImageSelector::Commit { sha, .. } => format!("sha-{}", &sha[..7]),
        gantry::domain::ImageSelector::Digest { .. } => tag_of(2),
    };
    let index = COMMITS
        .iter()
        .position(|c| tag == format!("sha-{}", &c.0[..7]))
        .unwrap_or(2);
    let mut plan = Plan::outline(
        service,
        &request.from,
        &request.to,
        &format!("registry.{}.example.com/{service}", request.from),
        &format!("registry.{}.example.com/{service}", request.to),
        &tag,
        image_digest(service, index),
    );
    plan.platforms = PLATFORMS.iter().map(|p| p.to_string()).collect();
    plan.manifests = PLATFORMS
        .iter()
        .map(|p| ManifestStep {
            digest: digest(&format!("{tag}:{p}")),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platform: p.to_string(),
            action: ManifestAction::Push,
        })
        .collect();
    plan.blobs = vec![
        blob("base-debian-12.9", 29_124_608, BlobAction::Present),
        blob("app-layer-amd64", 18_350_080, BlobAction::Copy),
        blob("app-layer-arm64", 17_825_792, BlobAction::Copy),
        blob("config-amd64", 7_340, BlobAction::Mount),
    ];
    let (_, current) = payment_holdings(&request.to);
    plan.tags = vec![
        TagStep {
            tag: tag.clone(),
            action: TagAction::Create,
        },
        TagStep {
            tag: mutable_of(&request.to).into(),
            action: TagAction::Move {
                from: image_digest(service, current),
            },
        },
    ];
    plan
}

/// The same promotion refused: prod already has that tag with another digest.
pub fn refused_plan_for(request: &PromotionRequest) -> Plan {
    let mut plan = plan_for(request);
    let other = digest("rebuilt elsewhere");
    plan.blobs.clear();
    plan.manifests.clear();
    plan.refusal = Some(format!(
        "{}:{} already exists in {} with digest {} but the image being promoted is {}; immutable tags are never moved",
        plan.target, plan.tag, plan.to, other, plan.digest
    ));
    plan.tags = vec![TagStep {
        tag: plan.tag.clone(),
        action: TagAction::Conflict { current: other },
    }];
    plan
}

pub fn cut_outcome(version: &str) -> CutOutcome {
    CutOutcome {
        plan: BranchPlan {
            branch: format!("release/v{version}-sha-{}", &COMMITS[2].0[..7]),
            commit: commit(2),
            version: Some(version.into()),
            version_suggested: false,
        },
        missing_images: vec!["web-frontend".into()],
        pushed: None,
        notes: Vec::new(),
    }
}

// ---- retention ----------------------------------------------------------------------

/// Images of payment-svc in dev older than the commits the fixture's history shows:
/// (tag, days old).
pub const OLD_IMAGES: [(&str, i64); 3] = [
    ("sha-1a2b3c4", 20),
    ("sha-0d9e8f7", 31),
    ("sha-5c6d7e8", 45),
];

fn planned(tags: &[&str], digest: Digest, created: String, decision: Rule) -> PlannedImage {
    PlannedImage {
        digest,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        created: Some(created),
        signatures: Vec::new(),
        children: Vec::new(),
        reason: decision.describe(),
        decision,
        also: Vec::new(),
    }
}

/// The clean-up plan the planner makes for `service` in `env` under the fixture's policy
/// (keep = 1, min_age = "24h"): for payment-svc in dev, three old images go, one with a
/// signature and one an index, plus a signature an earlier run left; elsewhere nothing.
pub fn retention_plan(service: &str, env: &str) -> RetentionPlan {
    let policy = config()
        .environment(env)
        .ok()
        .and_then(|e| e.retention.clone())
        .expect("the fixture's environment has a policy");
    let created = |i: usize| ago(Duration::seconds(COMMITS[i].3));
    let mut plan = RetentionPlan {
        service: service.to_string(),
        environment: env.to_string(),
        repository: format!("registry.{env}.example.com/{service}"),
        policy,
        planned_at: now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        delete: Vec::new(),
        keep: Vec::new(),
        orphan_signatures: Vec::new(),
        notes: Vec::new(),
    };
    if service != "payment-svc" || env != "dev" {
        plan.keep.push(planned(
            &[&tag_of(0)],
            image_digest(service, 0),
            created(0),
            Rule::Newest { rank: 1, keep: 1 },
        ));
        return plan;
    }
    let latest = tag_of(0);
    let mut head = planned(
        &[&latest, "latest"],
        image_digest(service, 0),
        created(0),
        Rule::MutableTag {
            tag: "latest".into(),
            environment: "dev".into(),
        },
    );
    head.also.push(Rule::MinAge {
        min_age: "24h".into(),
        created: Some(created(0)),
    });
    plan.keep = vec![
        head,
        planned(
            &[&tag_of(1)],
            image_digest(service, 1),
            created(1),
            Rule::MinAge {
                min_age: "24h".into(),
                created: Some(created(1)),
            },
        ),
        planned(
            &[&tag_of(2)],
            image_digest(service, 2),
            created(2),
            Rule::Runs {
                environment: "stage".into(),
                tag: tag_of(2),
            },
        ),
        planned(
            &[&tag_of(3)],
            image_digest(service, 3),
            created(3),
            Rule::Runs {
                environment: "prod".into(),
                tag: tag_of(3),
            },
        ),
        planned(
            &[&tag_of(4)],
            image_digest(service, 4),
            created(4),
            Rule::Newest { rank: 1, keep: 1 },
        ),
    ];
    plan.delete = OLD_IMAGES
        .iter()
        .enumerate()
        .map(|(i, (tag, days))| {
            let digest = digest(&format!("{service}:{tag}"));
            planned(
                &[tag],
                digest,
                ago(Duration::days(*days)),
                Rule::BeyondKeep {
                    rank: i + 2,
                    keep: 1,
                },
            )
        })
        .collect();
    let signed = plan.delete[0].digest.clone();
    plan.delete[0].signatures = vec![format!("sha256-{}.sig", signed.hex())];
    plan.delete[1].children = vec![digest("old-amd64"), digest("old-arm64")];
    let gone = digest("payment-svc:sha-99aa00b");
    plan.orphan_signatures.push(PlannedSignature {
        tag: format!("sha256-{}.sig", gone.hex()),
        digest: digest("orphan signature"),
        subject: gone.clone(),
        decision: Rule::OrphanSignature { subject: gone },
    });
    plan
}

/// What carrying out `plan` reports when every deletion succeeds.
pub fn cleanup_outcome(plan: &RetentionPlan) -> RetentionOutcome {
    RetentionOutcome {
        service: plan.service.clone(),
        environment: plan.environment.clone(),
        repository: plan.repository.clone(),
        deleted: plan
            .delete
            .iter()
            .rev()
            .map(|image| DeletedImage {
                digest: image.digest.clone(),
                tags: image.tags.clone(),
                signatures: image.signatures.clone(),
                children: image.children.clone(),
                ledger: None,
            })
            .collect(),
        kept: Vec::new(),
        not_deleted: Vec::new(),
        orphan_signatures_deleted: plan
            .orphan_signatures
            .iter()
            .map(|s| s.tag.clone())
            .collect(),
        failure: None,
        ledger_warnings: Vec::new(),
    }
}

// ---- deploy -------------------------------------------------------------------------

/// `gantry deploy` of what stage runs (commit 2's image), as a dry run or carried out.
pub fn deploy_report(service: &str, env: &str, dry_run: bool) -> DeployReport {
    let tag = tag_of(2);
    let digest = image_digest(service, 2);
    let file = format!("{env}/{service}/kustomization.yaml");
    let diff = format!(
        "--- a/{file}\n+++ b/{file}\n@@ -4,3 +4,3 @@ images:\n   - name: registry.{env}.example.com/{service}\n-    newTag: {old}\n-    digest: {old_digest}\n+    newTag: {tag}\n+    digest: {digest}\n",
        old = tag_of(3),
        old_digest = image_digest(service, 3),
    );
    DeployReport {
        service: service.to_string(),
        environment: env.to_string(),
        image: format!("registry.{env}.example.com/{service}"),
        tag: tag.clone(),
        digest: digest.clone(),
        outcome: DeployOutcome {
            service: service.to_string(),
            environment: env.to_string(),
            tag,
            digest,
            method: "gitops",
            state: if dry_run {
                DeployState::Planned
            } else {
                DeployState::Deployed
            },
            dry_run,
            reason: None,
            exit_code: None,
            gitops: Some(GitOpsResult {
                bump: Bump {
                    repository: "/srv/manifests.git".into(),
                    branch: "main".into(),
                    file,
                    base: "5d1c0e7a".into(),
                    diff,
                    before: "before".into(),
                    after: "after".into(),
                },
                commit: (!dry_run).then(|| "8e2f4a1c9b0d".to_string()),
                attempts: u32::from(!dry_run),
            }),
            command: None,
            rollout: None,
            retry: None,
            ledger: None,
        },
    }
}

// ---- ledger -------------------------------------------------------------------------

/// One entry of the fixture ledger: (kind, actor, service, from, to, tag index, age, request).
type Entry = (
    RecordKind,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    usize,
    Duration,
);

/// The ledger as the store reads it, oldest first: a request into prod, its two
/// approvals, the promotion that carried it out, a later promotion into stage and a
/// rollback in prod. Ids and the chain are computed as the store computes them.
pub fn ledger_records() -> Vec<Record> {
    let entries: [Entry; 6] = [
        (
            RecordKind::Request,
            "ana@example.com",
            "payment-svc",
            Some("stage"),
            "prod",
            3,
            Duration::days(2),
        ),
        (
            RecordKind::Approval,
            "tom@example.com",
            "payment-svc",
            Some("stage"),
            "prod",
            3,
            Duration::hours(30),
        ),
        (
            RecordKind::Approval,
            "mei@example.com",
            "payment-svc",
            Some("stage"),
            "prod",
            3,
            Duration::hours(26),
        ),
        (
            RecordKind::Promotion,
            "ana@example.com",
            "payment-svc",
            Some("stage"),
            "prod",
            3,
            Duration::hours(25),
        ),
        (
            RecordKind::Promotion,
            "ci@example.com",
            "ledger-api",
            Some("dev"),
            "stage",
            1,
            Duration::hours(3),
        ),
        (
            RecordKind::Rollback,
            "tom@example.com",
            "payment-svc",
            None,
            "prod",
            4,
            Duration::minutes(40),
        ),
    ];
    let mut records: Vec<Record> = Vec::new();
    let mut request_id: Option<String> = None;
    for (kind, actor, service, from, to, image, age) in entries {
        let mut details = serde_json::Map::new();
        if let Some(from) = from {
            details.insert("from".into(), from.into());
        }
        if let (RecordKind::Approval | RecordKind::Promotion, Some(id), "prod") =
            (&kind, &request_id, to)
        {
            details.insert("request".into(), id.clone().into());
        }
        let new = NewRecord {
            kind: kind.clone(),
            service: Some(service.into()),
            environment: Some(to.into()),
            digest: Some(image_digest(service, image)),
            tag: Some(tag_of(image)),
            details: serde_json::Value::Object(details),
        };
        let at = (now() - age).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let prev = records.last().map(|r| chain_hash(&r.canonical_json()));
        let record = Record::new(new, actor, &at, records.len() as u64 + 1, prev);
        if kind == RecordKind::Request {
            request_id = Some(record.id.clone());
        }
        records.push(record);
    }
    records
}

/// The whole fixture ledger, its chain intact, one record not pushed yet.
pub fn audit_view() -> AuditView {
    let records = ledger_records();
    AuditView {
        verification: Verification {
            intact: true,
            records: records.len(),
            head: Some("8c1f5e0a92d44b7e6f3a1c9d2b8e7f60a5d4c3b2".into()),
            problem: None,
        },
        records,
        reference: "refs/gantry/ledger".into(),
        repository: "/srv/gantry".into(),
        remote: Some("origin".into()),
        unpushed: 1,
        notes: Vec::new(),
    }
}

/// The fixture ledger with its fourth record edited after the fact.
pub fn tampered_audit_view() -> AuditView {
    let mut view = audit_view();
    view.unpushed = 0;
    view.verification.intact = false;
    view.verification.problem = Some(Tamper {
        kind: TamperKind::Edited,
        position: 4,
        commit: Some("5d0c9b1e7a3f48c2b6e1d9a0f7c3b5e2d8a4f6c1".into()),
        record: Some(view.records[3].id.clone()),
        message: "record #4 no longer hashes to its id: its content was edited".into(),
    });
    view
}

/// The ledger's requests not carried out yet: one waiting for a second approval into
/// prod, one that has its approval and waits for `gantry execute`.
pub fn pending_requests() -> Vec<RequestRow> {
    vec![
        RequestRow {
            id: "3f9a2c1b7e4d".into(),
            service: "payment-svc".into(),
            tag: tag_of(1),
            from: "stage".into(),
            to: "prod".into(),
            requester: "ana@example.com".into(),
            approvers: vec!["li@example.com".into()],
            needed: 2,
        },
        RequestRow {
            id: "9b0e4d7a21c5".into(),
            service: "ledger-api".into(),
            tag: tag_of(3),
            from: "dev".into(),
            to: "stage".into(),
            requester: "sam@example.com".into(),
            approvers: vec!["ana@example.com".into()],
            needed: 1,
        },
    ]
}

/// The Promotions screen with everything loaded and the ledger's requests listed.
pub fn promotions_with_requests() -> App {
    let mut app = loaded_app('5');
    app.on_data(DataEvent::Requests(Ok(pending_requests())));
    app
}

// ---- driving ------------------------------------------------------------------------

pub fn key(c: char) -> KeyChord {
    KeyChord::plain(Key::Char(c))
}

pub fn special(k: Key) -> KeyChord {
    KeyChord::plain(k)
}

/// Presses every key of `keys` (characters), returning every effect in order.
pub fn type_keys(app: &mut App, keys: &str) -> Vec<Effect> {
    keys.chars().flat_map(|c| app.on_key(key(c))).collect()
}

/// Answers every load effect with the fixture's data; returns the effects that were not loads.
pub fn answer(app: &mut App, effects: Vec<Effect>) -> Vec<Effect> {
    let mut rest = Vec::new();
    for effect in effects {
        let event = match effect {
            Effect::LoadStatus => DataEvent::Status(Ok(status())),
            Effect::LoadCommits => DataEvent::Commits(Ok(commits_view())),
            Effect::LoadBranches => DataEvent::Branches(Ok(branches())),
            Effect::LoadImages { service, env } => DataEvent::Images {
                result: Ok(images(&service, &env)),
                service,
                env,
            },
            Effect::LoadAudit => DataEvent::Audit(Ok(audit_view())),
            Effect::LoadRetention { service, env } => DataEvent::Retention {
                result: Ok(retention_plan(&service, &env)),
                service,
                env,
            },
            other => {
                rest.push(other);
                continue;
            }
        };
        let more = app.on_data(event);
        rest.extend(answer(app, more));
    }
    rest
}

/// An app on `screen`'s number key with everything loaded.
pub fn loaded_app(screen_key: char) -> App {
    answered_app(screen_key, answer)
}

/// An app on `screen`'s number key, every load on the way answered by `answer`.
fn answered_app(screen_key: char, answer: fn(&mut App, Vec<Effect>) -> Vec<Effect>) -> App {
    let mut app = app();
    let effects = app.start();
    answer(&mut app, effects);
    let effects = app.on_key(key(screen_key));
    answer(&mut app, effects);
    app
}

// ---- registries down -----------------------------------------------------------------

pub const STAGE_REFUSED: &str = "registry.stage.example.com: cannot connect (error sending request for url (https://registry.stage.example.com/v2/): client error (Connect): tcp connect error: Connection refused (os error 111))";

pub fn prod_refused(service: &str) -> String {
    format!("registry.prod.example.com: not authorized for {service} (the registry refused the credentials of `ci` (password from $PROD_PASSWORD))")
}

/// The two registries that fail as a whole: stage's is down, prod's refuses the credentials.
pub fn registries_down() -> Vec<(String, Option<HostFailure>)> {
    vec![
        ("dev".into(), None),
        (
            "stage".into(),
            Some(HostFailure {
                host: "registry.stage.example.com".into(),
                kind: FailureKind::Refused,
                summary: "connection refused".into(),
                detail: STAGE_REFUSED.into(),
            }),
        ),
        (
            "prod".into(),
            Some(HostFailure {
                host: "registry.prod.example.com".into(),
                kind: FailureKind::CredentialsRefused,
                summary: "401: credentials refused".into(),
                detail: prod_refused("web-frontend"),
            }),
        ),
    ]
}

fn down_error(env: &str, service: &str) -> Option<String> {
    match env {
        "stage" => Some(STAGE_REFUSED.into()),
        "prod" => Some(prod_refused(service)),
        _ => None,
    }
}

/// The matrix with stage's and prod's registries failing: only dev answers.
pub fn status_registries_down() -> StatusReport {
    let mut report = status();
    report.drift.clear();
    for cell in &mut report.cells {
        if let Some(error) = down_error(&cell.environment, &cell.service) {
            *cell = StatusCell {
                error: Some(error),
                ..self::cell(&cell.service, &cell.environment, None)
            };
        }
    }
    report
}

/// The history with stage's and prod's registries failing: only dev's badges are known.
pub fn commits_registries_down() -> CommitsView {
    let mut view = commits_view();
    for row in &mut view.commits {
        row.images.retain(|b| b.environment == "dev");
    }
    for service in ["payment-svc", "ledger-api", "web-frontend"] {
        for env in ["stage", "prod"] {
            view.errors.push(ListingError {
                service: service.into(),
                environment: env.into(),
                error: down_error(env, service).unwrap_or_default(),
            });
        }
    }
    view
}

/// Answers every load effect as the registries of stage and prod fail, sending what the
/// loads learnt of the registries before their data, as the console's effects do.
pub fn answer_registries_down(app: &mut App, effects: Vec<Effect>) -> Vec<Effect> {
    let mut rest = Vec::new();
    for effect in effects {
        let (registries, event) = match effect {
            Effect::LoadStatus => (
                registries_down(),
                DataEvent::Status(Ok(status_registries_down())),
            ),
            Effect::LoadCommits => (
                registries_down(),
                DataEvent::Commits(Ok(commits_registries_down())),
            ),
            Effect::LoadImages { service, env } => {
                let read: Vec<_> = registries_down()
                    .into_iter()
                    .filter(|(e, _)| *e == env)
                    .collect();
                let result = match down_error(&env, &service) {
                    Some(error) => Err(error),
                    None => Ok(images(&service, &env)),
                };
                (
                    read,
                    DataEvent::Images {
                        result,
                        service,
                        env,
                    },
                )
            }
            other => {
                rest.extend(answer(app, vec![other]));
                continue;
            }
        };
        app.on_data(DataEvent::Registries(registries));
        let more = app.on_data(event);
        rest.extend(answer_registries_down(app, more));
    }
    rest
}

/// An app on `screen`'s number key with stage's and prod's registries failing.
pub fn registries_down_app(screen_key: char) -> App {
    answered_app(screen_key, answer_registries_down)
}

// ---- doctor ---------------------------------------------------------------------------

fn check(level: Level, scope: &str, check: &'static str, message: &str, fix: &str) -> Check {
    Check {
        level,
        scope: scope.into(),
        check,
        message: message.into(),
        fix: (!fix.is_empty()).then(|| fix.to_string()),
    }
}

/// What `gantry doctor` finds on the fixture's set-up when everything answers.
pub fn doctor_all_ok() -> DoctorReport {
    let mut checks = vec![check(
        Level::Ok,
        "config",
        "file",
        "/srv/gantry/gantry.toml: 3 environment(s), 3 service(s)",
        "",
    )];
    for env in ["dev", "stage", "prod"] {
        let host = format!("registry.{env}.example.com");
        checks.push(check(
            Level::Ok,
            env,
            "registry",
            &format!("{host} answers over https"),
            "",
        ));
        checks.push(check(
            Level::Ok,
            env,
            "tls",
            "certificate trusted (system roots)",
            "",
        ));
        checks.push(check(
            Level::Ok,
            env,
            "credentials",
            "Docker config /home/ana/.docker/config.json: credential helper `docker-credential-pass` (credHelpers)",
            "",
        ));
        checks.push(check(
            Level::Ok,
            env,
            "access",
            "reads payment-svc (42 tag(s)) as ci",
            "",
        ));
    }
    checks.extend([
        check(Level::Ok, "git", "repository", "/srv/gantry", ""),
        check(
            Level::Ok,
            "git",
            "branch",
            "develop at c4e1f0a \"Merge pull request #412: retry idempotent payment captures\"",
            "",
        ),
        check(
            Level::Ok,
            "git",
            "identity",
            "ana@example.com (user.email)",
            "",
        ),
        check(
            Level::Ok,
            "ledger",
            "ref",
            "refs/gantry/ledger: 6 record(s), the chain verifies",
            "",
        ),
    ]);
    DoctorReport::new(checks)
}

/// The same set-up with stage's credentials refused, prod's CA untrusted, stage's deploy
/// hook missing and no ledger remote.
pub fn doctor_with_errors() -> DoctorReport {
    let mut checks = doctor_all_ok().checks;
    checks.retain(|c| !(c.scope == "prod" && c.check != "registry"));
    checks.retain(|c| !(c.scope == "stage" && c.check == "access"));
    let stage_access = checks
        .iter()
        .position(|c| c.scope == "stage" && c.check == "credentials")
        .map_or(checks.len(), |i| i + 1);
    checks.insert(
        stage_access,
        check(
            Level::Error,
            "stage",
            "access",
            "registry.stage.example.com: 401: credentials refused reading payment-svc (config: user `ci`, password from $STAGE_PASSWORD)",
            "check the password for `ci` ($STAGE_PASSWORD)",
        ),
    );
    checks.insert(
        stage_access + 1,
        check(
            Level::Error,
            "stage",
            "hook",
            "`kubectl` (from `kubectl set image deploy/{service} app={image}`) is not on PATH",
            "install kubectl where gantry runs, or give its full path",
        ),
    );
    let prod = checks
        .iter()
        .position(|c| c.scope == "prod")
        .map_or(checks.len(), |i| i + 1);
    checks.insert(
        prod,
        check(
            Level::Error,
            "prod",
            "tls",
            "registry.prod.example.com: TLS: unknown CA (set ca_file)",
            "set ca_file to the PEM of the CA that signed the registry's certificate",
        ),
    );
    checks.push(check(
        Level::Warning,
        "ledger",
        "remote",
        "no remote: records stay in this clone and nobody else sees requests or approvals",
        "add an `origin` remote to the repository, or name one in [ledger] remote",
    ));
    DoctorReport::new(checks)
}
