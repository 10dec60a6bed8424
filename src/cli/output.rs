//! Text and JSON renderings of plans, image lists, the status matrix, and live progress.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::domain::human_bytes;
use crate::engine::inventory::{EnvironmentImages, StatusCell};
use crate::engine::plan::ManifestAction;
use crate::engine::{BlobAction, EngineEvent, EventKind, Plan, Step, TagAction};

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
    for tag in &plan.tags {
        let action = match &tag.action {
            TagAction::Create => "create".to_string(),
            TagAction::Unchanged => "unchanged".to_string(),
            TagAction::Move { from } => format!("move from {}", from.short()),
            TagAction::Conflict { current } => format!("CONFLICT: points at {}", current.short()),
        };
        out.push_str(&format!("  tag      {:8} {}\n", tag.tag, action));
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
    for cell in cells.iter().filter(|c| c.error.is_some()) {
        out.push_str(&format!(
            "{} in {}: {}\n",
            cell.service,
            cell.environment,
            cell.error.as_deref().unwrap_or_default()
        ));
    }
    print!("{out}");
}

fn status_text(cell: &StatusCell) -> String {
    if cell.error.is_some() {
        return "error".into();
    }
    match (&cell.digest, cell.tags.first()) {
        (Some(digest), Some(tag)) => format!("{tag} {}", &digest.hex()[..7]),
        (Some(digest), None) => format!("(untagged) {}", &digest.hex()[..7]),
        (None, _) if cell.image_count == 1 => "1 image".into(),
        (None, _) if cell.image_count > 1 => format!("{} images", cell.image_count),
        (None, _) => "-".into(),
    }
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
