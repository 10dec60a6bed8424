//! Text and JSON renderings of plans, image lists, the status matrix, and live progress.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::domain::human_bytes;
use crate::engine::history::{CommitsView, CutOutcome, Drift, ImageBadge, PromotionDiff, Running};
use crate::engine::inventory::{EnvironmentImages, StatusCell};
use crate::engine::plan::ManifestAction;
use crate::engine::{BlobAction, EngineEvent, EventKind, Plan, Step, TagAction};
use crate::git::{BranchInfo, CommitInfo};

pub fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("gantry: cannot encode JSON: {e}"),
    }
}

pub fn print_plan(plan: &Plan, executed: bool) {
    let mut out = String::new();
    let header = match (executed, plan.is_noop()) {
        (_, true) => "unchanged",
        (true, false) => "promoted",
        (false, false) => "plan",
    };
    out.push_str(&format!(
        "{header}: {}:{}  {} -> {}\n  source  {}@{}\n  target  {}:{}\n",
        plan.service, plan.tag, plan.from, plan.to, plan.source, plan.digest, plan.target, plan.tag
    ));
    if !plan.platforms.is_empty() {
        out.push_str(&format!("  platforms  {}\n", plan.platforms.join(", ")));
    }
    for manifest in &plan.manifests {
        let action = match manifest.action {
            ManifestAction::Push => "push",
            ManifestAction::Present => "present",
        };
        out.push_str(&format!(
            "  manifest {:8} {}  {}\n",
            action,
            manifest.digest.short(),
            manifest.platform
        ));
    }
    for blob in &plan.blobs {
        let action = match blob.action {
            BlobAction::Copy => "copy",
            BlobAction::Mount => "mount",
            BlobAction::Present => "present",
            BlobAction::Foreign => "foreign",
        };
        out.push_str(&format!(
            "  blob     {:8} {}  {}\n",
            action,
            blob.digest.short(),
            human_bytes(blob.size)
        ));
    }
    let signatures = &plan.signatures;
    if signatures.source + signatures.present > 0 || signatures.writes() {
        let doing = signatures.describe();
        out.push_str(&format!(
            "  sigs     {}  (source has {}, target has {})\n",
            if doing.is_empty() {
                "unchanged"
            } else {
                &doing
            },
            signatures.source,
            signatures.present
        ));
    }
    for tag in &plan.tags {
        let action = match &tag.action {
            TagAction::Create => "create".to_string(),
            TagAction::Unchanged => "unchanged".to_string(),
            TagAction::Move { from } => format!("move from {}", from.short()),
            TagAction::Conflict { current } => format!("CONFLICT: points at {}", current.short()),
        };
        out.push_str(&format!("  tag      {:8} {}\n", tag.tag, action));
    }
    for gate in &plan.gates {
        match &gate.outcome {
            crate::gates::GateOutcome::Pass { detail } => {
                out.push_str(&format!("  gate     {:<8} pass: {detail}\n", gate.gate))
            }
            crate::gates::GateOutcome::Blocked { reason, remedy } => out.push_str(&format!(
                "  gate     {:<8} BLOCKED: {reason} (to pass: {remedy})\n",
                gate.gate
            )),
        }
    }
    out.push_str(&format!("  {}\n", plan.summary(executed)));
    print!("{out}");
}

pub fn print_images(listings: &[EnvironmentImages]) {
    let mut out = String::new();
    for listing in listings {
        out.push_str(&format!(
            "{}  {}\n",
            listing.environment, listing.repository
        ));
        if listing.images.is_empty() {
            out.push_str("  (no images)\n");
        } else {
            let rows: Vec<[String; 6]> = listing
                .images
                .iter()
                .map(|i| {
                    [
                        i.tag.clone(),
                        i.digest.short().to_string(),
                        i.platforms.join(","),
                        i.created.clone().unwrap_or_else(|| "-".into()),
                        human_bytes(i.size),
                        i.also_tagged.join(","),
                    ]
                })
                .collect();
            out.push_str(&table(
                &["TAG", "DIGEST", "PLATFORMS", "CREATED", "SIZE", "ALSO"],
                &rows,
                "  ",
            ));
        }
        if !listing.other_tags.is_empty() {
            out.push_str(&format!(
                "  other tags: {}\n",
                listing.other_tags.join(", ")
            ));
        }
    }
    print!("{out}");
}

pub fn print_status(config: &Config, cells: &[StatusCell]) {
    let by_key: BTreeMap<(&str, &str), &StatusCell> = cells
        .iter()
        .map(|c| ((c.service.as_str(), c.environment.as_str()), c))
        .collect();
    let mut headers = vec!["SERVICE".to_string()];
    headers.extend(config.environments.iter().map(|e| e.name.to_uppercase()));
    let rows: Vec<Vec<String>> = config
        .services
        .iter()
        .map(|service| {
            let mut row = vec![service.name.clone()];
            for env in &config.environments {
                let text = match by_key.get(&(service.name.as_str(), env.name.as_str())) {
                    Some(cell) => status_text(cell),
                    None => "-".into(),
                };
                row.push(text);
            }
            row
        })
        .collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut out = table(&header_refs, &rows, "");
    for cell in cells {
        if let Some(why) = cell.deployed.as_ref().and_then(|d| d.error.as_ref()) {
            out.push_str(&format!(
                "{} in {}: deployed state unknown: {why}\n",
                cell.service, cell.environment
            ));
        }
    }
    print!("{out}");
}

fn status_text(cell: &StatusCell) -> String {
    if cell.error.is_some() {
        return "error".into();
    }
    let mut text = match (&cell.digest, cell.tags.first()) {
        (Some(digest), Some(tag)) => format!("{tag} {}", &digest.hex()[..7]),
        (Some(digest), None) => format!("(untagged) {}", &digest.hex()[..7]),
        (None, _) if cell.image_count == 1 => "1 image".into(),
        (None, _) if cell.image_count > 1 => format!("{} images", cell.image_count),
        (None, _) => "-".into(),
    };
    if let Some(commit) = &cell.commit {
        text.push_str(&format!(" \"{}\"", clip(&commit.subject, 24)));
    }
    if let Some(behind) = &cell.behind {
        text.push_str(&format!(
            " {}{} behind {}",
            behind.commits,
            if behind.truncated { "+" } else { "" },
            behind.from
        ));
    }
    if !cell.drift.is_empty() {
        text.push_str(" DRIFT");
    }
    if let Some(deployed) = &cell.deployed {
        text.push_str(&deployed_text(deployed));
    }
    text
}

/// Promoted vs deployed: ` deployed`, ` NOT DEPLOYED (manifests: sha-1 89abcde)`.
fn deployed_text(deployed: &crate::deploy::DeployedState) -> String {
    if deployed.error.is_some() {
        return " deployed:?".into();
    }
    let pinned = match (&deployed.tag, &deployed.digest) {
        (Some(tag), Some(digest)) => format!("{tag} {}", short_digest(digest)),
        (Some(tag), None) => tag.clone(),
        (None, Some(digest)) => short_digest(digest),
        (None, None) => "nothing".into(),
    };
    match deployed.in_sync {
        Some(true) => " deployed".into(),
        Some(false) => format!(" NOT DEPLOYED (manifests: {pinned})"),
        None => format!(" (manifests: {pinned})"),
    }
}

fn short_digest(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.chars().take(7).collect()
}

/// At most `width` characters, with an ellipsis when cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Tags whose digest differs between environments: each a rebuild to look into.
pub fn print_drift(drift: &[Drift]) {
    let mut out = String::new();
    for d in drift {
        let digests: Vec<String> = d
            .digests
            .iter()
            .map(|(env, digest)| format!("{env} {}", digest.short()))
            .collect();
        out.push_str(&format!(
            "DRIFT {} {}: different digests ({}); the image was rebuilt, not promoted\n",
            d.service,
            d.tag,
            digests.join(", ")
        ));
    }
    print!("{out}");
}

/// `dev[latest] stage`: where a commit's image is, and which mutable tags point at it.
fn badges(config: &Config, images: &[ImageBadge]) -> String {
    let several = config.services.len() > 1;
    let mut parts: Vec<String> = Vec::new();
    for service in &config.services {
        let envs: Vec<String> = images
            .iter()
            .filter(|b| b.service == service.name)
            .map(|b| {
                let mut text = b.environment.clone();
                if let Some(m) = &b.mutable_tag {
                    text.push_str(&format!("[{m}]"));
                }
                if b.drift {
                    text.push_str("!drift");
                }
                text
            })
            .collect();
        if envs.is_empty() {
            continue;
        }
        if several {
            parts.push(format!("{}: {}", service.name, envs.join(" ")));
        } else {
            parts.push(envs.join(" "));
        }
    }
    parts.join("; ")
}

fn day(date: &str) -> &str {
    date.get(..10).unwrap_or(date)
}

pub fn print_commits(config: &Config, view: &CommitsView) {
    let mut out = format!("{} ({})\n", view.branch, view.reference);
    let rows: Vec<[String; 5]> = view
        .commits
        .iter()
        .map(|row| {
            [
                row.commit.short.clone(),
                day(&row.commit.date).to_string(),
                clip(&row.commit.author, 16),
                clip(&row.commit.subject, 50),
                badges(config, &row.images),
            ]
        })
        .collect();
    out.push_str(&table(
        &["COMMIT", "DATE", "AUTHOR", "SUBJECT", "IMAGES"],
        &rows,
        "",
    ));
    if view.more {
        out.push_str("(older commits not shown: raise --limit)\n");
    }
    if !view.older.is_empty() {
        let depth = view
            .older
            .iter()
            .filter_map(|t| t.position)
            .max()
            .unwrap_or(0);
        out.push_str(&format!(
            "{} more image(s) of older commits, down to {} commits below the head (raise --limit)\n",
            view.older.len(),
            depth
        ));
    }
    if !view.off_branch.is_empty() {
        out.push_str(&format!("images of commits not on {}:\n", view.branch));
        for t in &view.off_branch {
            out.push_str(&format!(
                "  {} {} {}  {}\n",
                t.service,
                t.environment,
                t.tag,
                clip(&t.subject, 50)
            ));
        }
    }
    if !view.unknown.is_empty() {
        out.push_str("images of commits not in the repository:\n");
        for t in &view.unknown {
            out.push_str(&format!(
                "  {} {} {}  ({})\n",
                t.service, t.environment, t.tag, t.reason
            ));
        }
    }
    print!("{out}");
    print_drift(&view.drift);
}

pub fn print_branches(config: &Config, branches: &[BranchInfo]) {
    let count = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 5]> = branches
        .iter()
        .map(|b| {
            [
                b.name.clone(),
                format!("{} {}", b.head.short, clip(&b.head.subject, 40)),
                format!(
                    "+{}/-{}",
                    count(b.ahead_of_develop),
                    count(b.behind_develop)
                ),
                format!("+{}/-{}", count(b.ahead_of_main), count(b.behind_main)),
                day(&b.head.date).to_string(),
            ]
        })
        .collect();
    let develop = format!("VS {}", config.git.develop.to_uppercase());
    let main = format!("VS {}", config.git.main.to_uppercase());
    print!(
        "{}",
        table(&["BRANCH", "HEAD", &develop, &main, "DATE"], &rows, "")
    );
}

fn running_text(running: &Option<Running>) -> String {
    match running {
        None => "nothing".into(),
        Some(r) => {
            let via = match &r.via {
                Some(tag) => format!("`{tag}`"),
                None => "newest image".into(),
            };
            match &r.commit {
                Some(c) => format!("{} ({via}, {}) {}", r.tag, r.digest.short(), c.subject),
                None => format!(
                    "{} ({via}, {}), a commit not in the repository",
                    r.tag,
                    r.digest.short()
                ),
            }
        }
    }
}

fn commit_rows(commits: &[CommitInfo]) -> Vec<[String; 4]> {
    commits
        .iter()
        .map(|c| {
            [
                c.short.clone(),
                day(&c.date).to_string(),
                clip(&c.author, 16),
                clip(&c.subject, 60),
            ]
        })
        .collect()
}

pub fn print_diff(diff: &PromotionDiff) {
    let mut out = format!(
        "{}: {} -> {}\n  {:6} runs {}\n  {:6} runs {}\n",
        diff.service,
        diff.from.environment,
        diff.to.environment,
        diff.from.environment,
        running_text(&diff.from.running),
        diff.to.environment,
        running_text(&diff.to.running),
    );
    let plus = if diff.truncated { "+" } else { "" };
    if diff.count == 0 {
        out.push_str(&format!(
            "  a promotion brings no new commit: {} already has everything {} runs\n",
            diff.to.environment, diff.from.environment
        ));
    } else {
        out.push_str(&format!(
            "  a promotion brings {}{plus} commit{}:\n",
            diff.count,
            if diff.count == 1 { "" } else { "s" }
        ));
        out.push_str(&table(
            &["COMMIT", "DATE", "AUTHOR", "SUBJECT"],
            &commit_rows(&diff.commits),
            "    ",
        ));
    }
    if diff.target_only > 0 {
        out.push_str(&format!(
            "  {} runs {} commit(s) that {} does not (a hotfix not merged back, or a rollback)\n",
            diff.to.environment, diff.target_only, diff.from.environment
        ));
    }
    print!("{out}");
    print_drift(&diff.drift);
}

pub fn print_cut(outcome: &CutOutcome) {
    let plan = &outcome.plan;
    let mut out = format!(
        "created {} at {} {}\n",
        plan.branch, plan.commit.short, plan.commit.subject
    );
    if let (Some(version), true) = (&plan.version, plan.version_suggested) {
        out.push_str(&format!(
            "  version {version} (suggested: the next minor; --version X.Y.Z to choose)\n"
        ));
    }
    if !outcome.missing_images.is_empty() {
        out.push_str(&format!(
            "  forced: no image of this commit for {}\n",
            outcome.missing_images.join(", ")
        ));
    }
    match &outcome.pushed {
        Some(remote) => out.push_str(&format!("  pushed to {remote}\n")),
        None => out.push_str("  not pushed (--push to push it)\n"),
    }
    print!("{out}");
}

fn table<R: AsRef<[String]>>(headers: &[&str], rows: &[R], indent: &str) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.as_ref().iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = indent.to_string();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{:width$}  ", cell, width = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.as_ref().iter().map(String::as_str).collect()));
    }
    out
}

/// Redraws one line per job on stderr (a terminal) until the engine stops sending.
pub async fn render_progress(mut events: mpsc::UnboundedReceiver<EngineEvent>) {
    let mut lines: BTreeMap<u64, (String, String)> = BTreeMap::new();
    let mut drawn = 0usize;
    while let Some(event) = events.recv().await {
        let entry = lines
            .entry(event.job.0)
            .or_insert_with(|| (String::new(), String::new()));
        match event.kind {
            EventKind::Started { label } => entry.0 = label,
            EventKind::Progress(p) => {
                let step = match p.step {
                    Step::Resolving => "resolving",
                    Step::Planning => "planning",
                    Step::CopyingBlobs => "copying",
                    Step::PushingManifests => "manifests",
                    Step::Tagging => "tagging",
                    Step::Deploying => "deploying",
                    Step::Done => "done",
                };
                entry.1 = format!(
                    "{step:9} {}/{} blobs  {} / {}",
                    p.blobs_done,
                    p.blobs_total,
                    human_bytes(p.bytes_done),
                    human_bytes(p.bytes_total)
                );
            }
            EventKind::Log { message } => entry.1 = message,
            EventKind::Deleted { image } => entry.1 = format!("deleted {image}"),
            EventKind::Finished { .. } => entry.1 = "done".into(),
            EventKind::Failed { .. } => entry.1 = "failed".into(),
        }
        let mut stderr = std::io::stderr().lock();
        if drawn > 0 {
            let _ = write!(stderr, "\x1b[{drawn}A");
        }
        for (label, state) in lines.values() {
            let _ = writeln!(stderr, "\r\x1b[K{label}  {state}");
        }
        drawn = lines.len();
        let _ = stderr.flush();
    }
}
