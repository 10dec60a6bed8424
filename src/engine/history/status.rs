//! `gantry status` joined with git: each cell's commit, how far it is behind the
//! environment it is promoted from, and drift across the cells.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Drift, StatusReport, RANGE_CAP};
use crate::config::Environment;
use crate::domain::{is_commit_id, Digest};
use crate::engine::inventory::{Behind, CommitRef, StatusCell};
use crate::engine::Engine;
use crate::git::{CommitInfo, GitError, Lookup};

impl Engine {
    /// The status matrix with, where the repository answers, each cell's commit and how
    /// far it is behind the environment it is promoted from; drift in any case.
    pub async fn status_report(&self) -> StatusReport {
        self.status_report_reading(self.is_fresh()).await
    }

    /// `status_report`, reading every tag live when `fresh`.
    pub async fn status_report_reading(&self, fresh: bool) -> StatusReport {
        self.status_report_streamed(self.matrix_order(), fresh, &|_| {})
            .await
    }

    /// The status report of the cells of `order`, each cell given to `sink` as soon as
    /// it is read (see `status_cells`); the git join and drift come with the report.
    pub async fn status_report_streamed(
        &self,
        order: Vec<(String, String)>,
        fresh: bool,
        sink: crate::engine::matrix::CellSink<'_>,
    ) -> StatusReport {
        let mut cells = self.status_cells(order, fresh, sink).await;
        let drift = status_drift(&self.config.environments, &mut cells);

        let prefix_len = self.config.tags.prefix.len();
        let mut prefixes: Vec<String> = cells
            .iter()
            .flat_map(|c| c.tags.iter())
            .map(|t| t[prefix_len..].to_ascii_lowercase())
            .filter(|hex| is_commit_id(hex))
            .collect();
        prefixes.sort();
        prefixes.dedup();
        let looked_up = prefixes.clone();
        let located = self
            .with_git(move |repo| {
                // Only the lookup is needed here, not the positions: no branch walk.
                Ok(looked_up.iter().map(|p| repo.lookup(p)).collect::<Vec<_>>())
            })
            .await;
        let (located, notes) = match located {
            Ok(found) => found,
            Err(e) => {
                return StatusReport {
                    cells,
                    drift,
                    git_unavailable: Some(e.to_string()),
                    notes: Vec::new(),
                }
            }
        };
        let commit_of: HashMap<&str, &CommitInfo> = prefixes
            .iter()
            .zip(located.iter())
            .filter_map(|(p, l)| match l {
                Lookup::Commit { commit, .. } => Some((p.as_str(), commit)),
                _ => None,
            })
            .collect();
        for cell in &mut cells {
            let commit = cell
                .tags
                .iter()
                .find_map(|t| commit_of.get(t[prefix_len..].to_ascii_lowercase().as_str()));
            cell.commit = commit.map(|c| CommitRef {
                sha: c.sha.clone(),
                short: c.short.clone(),
                subject: c.subject.clone(),
            });
        }

        // Behind-counts along each `from` edge where both ends have a commit.
        let mut pairs: Vec<(usize, String, String)> = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            let Some(from) = self
                .config
                .environment(&cell.environment)
                .ok()
                .and_then(|e| e.from.clone())
            else {
                continue;
            };
            let source = cells
                .iter()
                .find(|c| c.service == cell.service && c.environment == from)
                .and_then(|c| c.commit.as_ref());
            if let (Some(source), Some(here)) = (source, cell.commit.as_ref()) {
                pairs.push((i, source.sha.clone(), here.sha.clone()));
            }
        }
        let counted = self
            .with_git(move |repo| {
                pairs
                    .into_iter()
                    .map(|(i, source, here)| {
                        let range = repo.range(&source, Some(&here), RANGE_CAP)?;
                        Ok((i, range.count, range.truncated))
                    })
                    .collect::<Result<Vec<_>, GitError>>()
            })
            .await;
        let mut report_notes = notes;
        match counted {
            Ok((counts, _)) => {
                for (i, commits, truncated) in counts {
                    let from = self
                        .config
                        .environment(&cells[i].environment)
                        .ok()
                        .and_then(|e| e.from.clone())
                        .unwrap_or_default();
                    cells[i].behind = Some(Behind {
                        from,
                        commits,
                        truncated,
                    });
                }
            }
            Err(e) => report_notes.push(format!("behind-counts unavailable: {e}")),
        }
        StatusReport {
            cells,
            drift,
            git_unavailable: None,
            notes: report_notes,
        }
    }
}

/// Drift across the status cells (which already hold every tag's digest); marks the cells.
fn status_drift(envs: &[Environment], cells: &mut [StatusCell]) -> Vec<Drift> {
    let mut by_tag: BTreeMap<(String, String), Vec<(String, Digest)>> = BTreeMap::new();
    for cell in cells.iter() {
        for (tag, digest) in &cell.digests {
            if Some(tag) == cell.mutable_tag.as_ref() {
                continue;
            }
            by_tag
                .entry((cell.service.clone(), tag.clone()))
                .or_default()
                .push((cell.environment.clone(), digest.clone()));
        }
    }
    let env_index = |name: &str| envs.iter().position(|e| e.name == name);
    let mut drift = Vec::new();
    for ((service, tag), mut digests) in by_tag {
        if digests.iter().map(|(_, d)| d).collect::<HashSet<_>>().len() < 2 {
            continue;
        }
        digests.sort_by_key(|(env, _)| env_index(env));
        for cell in cells.iter_mut().filter(|c| c.service == service) {
            if digests.iter().any(|(env, _)| *env == cell.environment) {
                cell.drift.push(tag.clone());
            }
        }
        drift.push(Drift {
            service,
            tag,
            digests,
        });
    }
    drift
}
