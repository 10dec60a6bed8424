//! `gantry status` joined with git: each cell's commit, how far it is behind the
//! environment it is promoted from, and drift across the cells.

use std::collections::{BTreeMap, HashSet};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::{Drift, StatusReport, RANGE_CAP};
use crate::config::Environment;
use crate::domain::{human_age, is_commit_id, Digest};
use crate::engine::inventory::{Behind, CommitRef, StatusCell};
use crate::engine::repos::{recent_only_note, FetchWhich, ServiceRepo};
use crate::engine::Engine;
use crate::git::{CommitInfo, Lookup};

/// Repositories joined at once: each is a blocking thread opening one.
const JOIN_CONCURRENCY: usize = 4;

/// One repository's part of the status join: the commits of its services' cells and how
/// far each is behind the environment it is promoted from.
#[derive(Debug, Clone)]
pub struct StatusJoin {
    pub repository: RepoState,
    /// (service, environment, the commit its image was built from)
    pub commits: Vec<(String, String, CommitRef)>,
    /// (service, environment, behind)
    pub behind: Vec<(String, String, Behind)>,
    pub notes: Vec<String>,
}

/// A repository as the status join found it.
#[derive(Debug, Clone, Serialize)]
pub struct RepoState {
    pub services: Vec<String>,
    /// As configured: a path or URL.
    pub location: String,
    /// A URL kept as a mirror (fetched), not a path read where it is.
    pub mirror: bool,
    /// When the mirror was last fetched, in seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<i64>,
    /// A mirror holding its recent history only (cloned so, not completed yet).
    pub recent_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Engine {
    /// The status matrix with, where a service's repository answers, each cell's commit
    /// and how far it is behind the environment it is promoted from; drift in any case.
    /// Mirrors are read as last fetched; a command fetches those never fetched first,
    /// while the registries are read (the console fetches them in the background, and
    /// joins each as it lands).
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
        let repos = self.service_repos();
        let fetch_new = async {
            match self.fetches_in_background() {
                true => Vec::new(),
                false => self.fetch_repos(&repos, FetchWhich::NeverFetched).await,
            }
        };
        let (mut cells, fetched) = tokio::join!(self.status_cells(order, fresh, sink), fetch_new);
        let drift = status_drift(&self.config.environments, &mut cells);

        let read = &cells;
        let joins: Vec<StatusJoin> = stream::iter(repos.iter().cloned())
            .map(|repo| async move { self.join_status(read, &repo).await })
            .buffered(JOIN_CONCURRENCY)
            .collect()
            .await;
        let mut notes = Vec::new();
        let mut git_unavailable = None;
        let mut repositories = Vec::new();
        for join in joins {
            apply_join(&mut cells, &join);
            for note in &join.notes {
                if !notes.contains(note) {
                    notes.push(note.clone());
                }
            }
            if let Some(problem) = &join.repository.problem {
                if repos.len() == 1 {
                    git_unavailable = Some(problem.clone());
                }
            }
            repositories.push(join.repository);
        }
        let partial = repositories.iter().filter(|r| r.recent_only).count();
        if partial > 0 {
            notes.push(format!(
                "{partial} service repositor{} hold only the newest {} commits of each branch so far: older images are not placed and counts past them fall short (`gantry fetch` fetches the rest)",
                if partial == 1 { "y" } else { "ies" },
                crate::git::fleet::RECENT_COMMITS
            ));
        }
        let now = chrono::Utc::now().timestamp();
        let fetched_now: Vec<&str> = fetched.iter().map(|f| f.url.as_str()).collect();
        let as_fetched: Vec<i64> = repositories
            .iter()
            .filter(|r| r.mirror && !fetched_now.contains(&r.location.as_str()))
            .filter_map(|r| r.fetched_at)
            .collect();
        notes.extend(stale_mirrors_note(now, &as_fetched));
        StatusReport {
            cells,
            drift,
            git_unavailable,
            notes,
            repositories,
        }
    }

    /// `repo`'s part of the status join over `cells` (the cells of other services are
    /// left alone). Never fetches: a mirror is read as last fetched.
    pub async fn join_status(&self, cells: &[StatusCell], repo: &ServiceRepo) -> StatusJoin {
        let mut join = StatusJoin {
            repository: RepoState {
                services: repo.services.clone(),
                location: repo.location(),
                mirror: repo.url.is_some(),
                fetched_at: repo
                    .url
                    .as_deref()
                    .and_then(|url| self.mirrors().fetched_at(url)),
                problem: None,
                recent_only: false,
            },
            commits: Vec::new(),
            behind: Vec::new(),
            notes: Vec::new(),
        };
        let cells: Vec<&StatusCell> = cells
            .iter()
            .filter(|c| repo.services.contains(&c.service))
            .collect();
        let prefix_len = self.config.tags.prefix.len();
        let mut prefixes: Vec<String> = cells
            .iter()
            .flat_map(|c| c.tags.iter())
            .map(|t| t[prefix_len..].to_ascii_lowercase())
            .filter(|hex| is_commit_id(hex))
            .collect();
        prefixes.sort();
        prefixes.dedup();
        if prefixes.is_empty() {
            // Nothing to place, but a repository that cannot be read is still said.
            if let Err(e) = self.with_repo_as_fetched(repo, |_| Ok(())).await {
                join.repository.problem = Some(e.to_string());
            }
            return join;
        }

        // The commit of each cell, then the behind-counts along each `from` edge where
        // both ends have one: one opening of the repository for both.
        let source_of = |cell: &StatusCell| {
            self.config
                .environment(&cell.environment)
                .ok()
                .and_then(|e| e.from.clone())
        };
        let edges: Vec<(usize, usize)> = cells
            .iter()
            .enumerate()
            .filter_map(|(i, cell)| {
                let from = source_of(cell)?;
                let source = cells
                    .iter()
                    .position(|c| c.service == cell.service && c.environment == from)?;
                Some((source, i))
            })
            .collect();
        let tags: Vec<Vec<String>> = cells
            .iter()
            .map(|c| {
                c.tags
                    .iter()
                    .map(|t| t[prefix_len..].to_ascii_lowercase())
                    .collect()
            })
            .collect();
        let looked_up = prefixes.clone();
        let develop = repo.git.settings.develop.clone();
        let answer = self
            .with_repo_as_fetched(repo, move |repo| {
                // Only the lookup is needed here, not the positions: no branch walk,
                // except for digits that match several objects (in a big repository a
                // blob or a tree can share a commit's first 7): the walk of develop
                // finds the commit among them.
                let mut found: Vec<Lookup> = looked_up.iter().map(|p| repo.lookup(p)).collect();
                let ambiguous: Vec<usize> = (0..found.len())
                    .filter(|&i| found[i] == Lookup::Ambiguous)
                    .collect();
                if !ambiguous.is_empty() {
                    let digits: Vec<String> =
                        ambiguous.iter().map(|&i| looked_up[i].clone()).collect();
                    if let Ok(placed) = repo.locate(&develop, &digits) {
                        for (i, lookup) in ambiguous.into_iter().zip(placed) {
                            found[i] = lookup;
                        }
                    }
                }
                let commit_of = |cell: usize| -> Option<CommitInfo> {
                    tags[cell].iter().find_map(|hex| {
                        let at = looked_up.binary_search(hex).ok()?;
                        match &found[at] {
                            Lookup::Commit { commit, .. } => Some(commit.clone()),
                            _ => None,
                        }
                    })
                };
                let commits: Vec<Option<CommitInfo>> = (0..tags.len()).map(commit_of).collect();
                let mut counts = Vec::new();
                let mut count_error = None;
                for (source_index, here_index) in edges {
                    let (Some(source), Some(here)) = (&commits[source_index], &commits[here_index])
                    else {
                        continue;
                    };
                    match repo.range(&source.sha, Some(&here.sha), RANGE_CAP) {
                        Ok(range) => counts.push((here_index, range)),
                        Err(e) => count_error = Some(e.to_string()),
                    }
                }
                Ok((commits, counts, count_error))
            })
            .await;
        let ((commits, counts, count_error), notes) = match answer {
            Ok(answer) => answer,
            Err(e) => {
                join.repository.problem = Some(e.to_string());
                return join;
            }
        };
        // A mirror with its recent history only is counted once for the whole matrix.
        let recent_only = recent_only_note(repo);
        join.repository.recent_only = notes.contains(&recent_only);
        join.notes = notes.into_iter().filter(|n| *n != recent_only).collect();
        if let Some(e) = count_error {
            join.notes.push(format!("behind-counts unavailable: {e}"));
        }
        for (cell, commit) in cells.iter().zip(&commits) {
            if let Some(c) = commit {
                join.commits.push((
                    cell.service.clone(),
                    cell.environment.clone(),
                    CommitRef {
                        sha: c.sha.clone(),
                        short: c.short.clone(),
                        subject: c.subject.clone(),
                    },
                ));
            }
        }
        for (index, range) in counts {
            let cell = cells[index];
            join.behind.push((
                cell.service.clone(),
                cell.environment.clone(),
                Behind {
                    from: source_of(cell).unwrap_or_default(),
                    commits: range.count,
                    truncated: range.truncated,
                },
            ));
        }
        join
    }
}

/// Puts a repository's join into the matrix.
pub fn apply_join<'a>(cells: impl IntoIterator<Item = &'a mut StatusCell>, join: &StatusJoin) {
    for cell in cells {
        if let Some((_, _, commit)) = join
            .commits
            .iter()
            .find(|(s, e, _)| *s == cell.service && *e == cell.environment)
        {
            cell.commit = Some(commit.clone());
        }
        if let Some((_, _, behind)) = join
            .behind
            .iter()
            .find(|(s, e, _)| *s == cell.service && *e == cell.environment)
        {
            cell.behind = Some(behind.clone());
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

/// Mirrors fetched this long ago or less are as good as fetched now: no note for them.
const FRESH_MIRROR_SECS: i64 = 300;

/// The note for mirrors read as last fetched (`fetched_at`, in seconds since the epoch),
/// when one of them is older than a few minutes; right after `gantry fetch` it would
/// only be noise.
fn stale_mirrors_note(now: i64, fetched_at: &[i64]) -> Option<String> {
    let oldest = fetched_at.iter().min()?;
    if now - oldest <= FRESH_MIRROR_SECS {
        return None;
    }
    Some(format!(
        "{} service repositor{} read as last fetched (the oldest {} ago): `gantry fetch` brings them up to date",
        fetched_at.len(),
        if fetched_at.len() == 1 { "y" } else { "ies" },
        human_age(now - oldest)
    ))
}

#[cfg(test)]
mod stale_note_tests {
    use super::stale_mirrors_note;

    #[test]
    fn mirrors_fetched_minutes_ago_are_not_noted_older_ones_are_with_the_oldest_age() {
        let now = 1_000_000;
        assert_eq!(stale_mirrors_note(now, &[]), None);
        assert_eq!(stale_mirrors_note(now, &[now, now - 60]), None);
        let note = stale_mirrors_note(now, &[now - 60, now - 7200]).expect("a note");
        assert!(
            note.starts_with("2 service repositories read as last fetched"),
            "{note}"
        );
        assert!(note.contains("2h"), "{note}");
    }
}
