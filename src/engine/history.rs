//! Joins the git history with the registries: the images of each commit, what each
//! environment runs, what a promotion brings, drift, and cutting release/hotfix branches.
//!
//! Registry traffic is one tag list per service x environment plus HEADs for the tags
//! an answer needs, never one request per commit. Git work runs on a blocking thread.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::inventory::{Behind, CommitRef, StatusCell};
use super::{Engine, EngineError};
use crate::config::{Environment, LookupError, Service};
use crate::domain::{is_commit_id, Digest};
use crate::git::{BranchInfo, BranchPlan, CommitInfo, GitError, GitRepo, Lookup};
use crate::registry::RegistryError;

/// HEAD requests in flight at once.
const HEAD_CONCURRENCY: usize = 8;
/// Commits listed (and counted) at most between two environments.
pub const RANGE_CAP: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("refused: {0}")]
    Refused(String),
    /// A registry that could not be read where the answer needs it.
    #[error("{0}")]
    Unreachable(String),
}

impl HistoryError {
    /// 1 registry or network, 2 invalid input or a git problem, 3 refused by a rule.
    pub fn exit_code(&self) -> i32 {
        match self {
            HistoryError::Git(e) => e.exit_code(),
            HistoryError::Engine(e) => e.exit_code(),
            HistoryError::Refused(_) => 3,
            HistoryError::Unreachable(_) => 1,
        }
    }
}

impl From<RegistryError> for HistoryError {
    fn from(e: RegistryError) -> Self {
        HistoryError::Engine(e.into())
    }
}

impl From<LookupError> for HistoryError {
    fn from(e: LookupError) -> Self {
        HistoryError::Engine(e.into())
    }
}

/// One environment's image of one commit.
#[derive(Debug, Clone, Serialize)]
pub struct ImageBadge {
    pub service: String,
    pub environment: String,
    pub tag: String,
    pub digest: Option<Digest>,
    /// The environment's mutable tag, when it points at this image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutable_tag: Option<String>,
    /// The same tag has another digest in another environment.
    pub drift: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommitRow {
    #[serde(flatten)]
    pub commit: CommitInfo,
    pub images: Vec<ImageBadge>,
}

/// An image tag placed in the repository but outside the rows shown.
#[derive(Debug, Clone, Serialize)]
pub struct PlacedTag {
    pub service: String,
    pub environment: String,
    pub tag: String,
    pub sha: String,
    pub subject: String,
    /// Commits between the branch head and this one; `None` when not on the branch.
    pub position: Option<usize>,
}

/// An image tag whose commit this repository does not have (or cannot tell).
#[derive(Debug, Clone, Serialize)]
pub struct UnknownTag {
    pub service: String,
    pub environment: String,
    pub tag: String,
    pub reason: String,
}

/// One tag with different digests in different environments: a rebuild.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub service: String,
    pub tag: String,
    /// environment -> digest, in configuration order.
    pub digests: Vec<(String, Digest)>,
}

/// A registry that could not be read; the rest of the answer still stands.
#[derive(Debug, Clone, Serialize)]
pub struct ListingError {
    pub service: String,
    pub environment: String,
    pub error: String,
}

/// `gantry commits`: a branch's newest commits joined with every environment's images.
#[derive(Debug, Clone, Serialize)]
pub struct CommitsView {
    pub branch: String,
    pub reference: String,
    pub commits: Vec<CommitRow>,
    /// Older commits exist beyond those listed.
    pub more: bool,
    /// Images of commits older than the rows shown, newest commit first.
    pub older: Vec<PlacedTag>,
    /// Images of commits in the repository but not on this branch.
    pub off_branch: Vec<PlacedTag>,
    /// Images whose commit is not in the repository, listed apart.
    pub unknown: Vec<UnknownTag>,
    pub drift: Vec<Drift>,
    pub errors: Vec<ListingError>,
    /// What the repository lacks (shallow, bare).
    pub notes: Vec<String>,
}

/// What one environment runs.
#[derive(Debug, Clone, Serialize)]
pub struct Running {
    pub tag: String,
    pub digest: Digest,
    /// `latest`, `stage`...: the mutable tag read; `None` when the newest image stands in.
    pub via: Option<String>,
    /// `None` when the tag's commit is not in the repository.
    pub commit: Option<CommitInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentState {
    pub environment: String,
    pub from: Option<String>,
    pub running: Option<Running>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `gantry diff`: what promoting `from` into `to` brings.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionDiff {
    pub service: String,
    pub from: EnvironmentState,
    pub to: EnvironmentState,
    /// Newest first; at most `RANGE_CAP`.
    pub commits: Vec<CommitInfo>,
    /// How many commits the promotion brings (a lower bound when `truncated`).
    pub count: usize,
    pub truncated: bool,
    /// Commits `to` runs that `from` does not (a hotfix not merged back, or a rollback).
    pub target_only: usize,
    pub drift: Vec<Drift>,
    pub notes: Vec<String>,
}

/// `gantry status` with the git join: cells plus why git is missing, if it is.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub cells: Vec<StatusCell>,
    pub drift: Vec<Drift>,
    /// Why commits and behind-counts are missing; `None` when git answered.
    pub git_unavailable: Option<String>,
    pub notes: Vec<String>,
}

/// A release or hotfix branch that was cut.
#[derive(Debug, Clone, Serialize)]
pub struct CutOutcome {
    #[serde(flatten)]
    pub plan: BranchPlan,
    /// Services without an image of the commit in the first environment (cut with --force).
    pub missing_images: Vec<String>,
    /// The remote pushed to.
    pub pushed: Option<String>,
    pub notes: Vec<String>,
}

/// One service x environment: its immutable tags, and digests read so far.
struct Listing {
    service: Service,
    env: Environment,
    immutable: Vec<String>,
    has_mutable: bool,
    digests: HashMap<String, Digest>,
    error: Option<String>,
}

impl Engine {
    /// Runs `work` on a blocking thread with the repository open; returns its answer and
    /// what the repository lacks.
    pub(crate) async fn with_git<T, F>(&self, work: F) -> Result<(T, Vec<String>), HistoryError>
    where
        T: Send + 'static,
        F: FnOnce(&GitRepo) -> Result<T, GitError> + Send + 'static,
    {
        let settings = self.config.git.clone();
        let short_len = self.config.tags.short_len;
        let cache_dir = super::lock::state_dir().join("git");
        tokio::task::spawn_blocking(move || {
            let repo = GitRepo::open(&settings, short_len)?.with_cache_dir(cache_dir);
            let answer = work(&repo)?;
            Ok((answer, repo.notes()))
        })
        .await
        .map_err(|e| EngineError::Input(format!("git task failed: {e}")))?
    }

    /// develop, main, release and hotfix branches with ahead/behind counts.
    pub async fn branches(&self) -> Result<(Vec<BranchInfo>, Vec<String>), HistoryError> {
        self.with_git(|repo| repo.branches()).await
    }

    /// Lists tags of every (service, environment); a registry that fails is recorded.
    async fn listings(&self, services: &[Service], envs: &[Environment]) -> Vec<Listing> {
        let pairs: Vec<(Service, Environment)> = services
            .iter()
            .flat_map(|s| envs.iter().map(move |e| (s.clone(), e.clone())))
            .collect();
        stream::iter(pairs)
            .map(|(service, env)| async move {
                let mut listing = Listing {
                    immutable: Vec::new(),
                    has_mutable: false,
                    digests: HashMap::new(),
                    error: None,
                    service,
                    env,
                };
                let result = match self.client(&listing.env.name) {
                    Ok(client) => client
                        .list_tags(&listing.env.repository(&listing.service))
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match result {
                    Ok(tags) => {
                        let tags_config = &self.config.tags;
                        listing.has_mutable = listing
                            .env
                            .mutable_tag
                            .as_ref()
                            .is_some_and(|m| tags.contains(m));
                        listing.immutable = tags
                            .into_iter()
                            .filter(|t| {
                                tags_config.is_immutable(t)
                                    && is_commit_id(&t[tags_config.prefix.len()..])
                            })
                            .collect();
                        listing.immutable.sort();
                    }
                    Err(e) => listing.error = Some(e),
                }
                listing
            })
            .buffered(HEAD_CONCURRENCY)
            .collect()
            .await
    }

    /// HEADs `(listing index, tag)` pairs, at most `HEAD_CONCURRENCY` at once, and records
    /// the digests; a failure marks its listing.
    async fn read_digests(&self, listings: &mut [Listing], wanted: Vec<(usize, String)>) {
        let requests: Vec<(usize, String, String, String)> = wanted
            .into_iter()
            .filter(|(i, tag)| {
                listings
                    .get(*i)
                    .is_some_and(|l| l.error.is_none() && !l.digests.contains_key(tag))
            })
            .map(|(i, tag)| {
                let l = &listings[i];
                (i, tag, l.env.name.clone(), l.env.repository(&l.service))
            })
            .collect();
        let answers: Vec<(usize, String, Result<Option<Digest>, String>)> = stream::iter(requests)
            .map(|(i, tag, env, repository)| async move {
                let answer = match self.client(&env) {
                    Ok(client) => client
                        .head_manifest(&repository, &tag)
                        .await
                        .map(|h| h.map(|h| h.digest))
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                (i, tag, answer)
            })
            .buffer_unordered(HEAD_CONCURRENCY)
            .collect()
            .await;
        for (i, tag, answer) in answers {
            let Some(listing) = listings.get_mut(i) else {
                continue;
            };
            match answer {
                Ok(Some(digest)) => {
                    listing.digests.insert(tag, digest);
                }
                Ok(None) => {}
                Err(e) => {
                    listing.error.get_or_insert(e);
                }
            }
        }
    }

    /// `branch`'s newest `limit` commits (develop when `None`), each with its images in
    /// every environment; images of other commits are placed or listed apart.
    pub async fn commits(
        &self,
        branch: Option<&str>,
        limit: usize,
    ) -> Result<CommitsView, HistoryError> {
        let branch = branch.unwrap_or(&self.config.git.develop).to_string();
        let services = self.config.services.clone();
        let envs = self.config.environments.clone();
        let walk_branch = branch.clone();
        // The walk and the tag lists do not depend on each other.
        let (history, mut listings) = tokio::join!(
            self.with_git(move |repo| repo.history(&walk_branch, limit)),
            self.listings(&services, &envs)
        );
        let (history, mut notes) = history?;

        // Each listed tag's digits, matched against the commits shown.
        let mut row_of: HashMap<String, usize> = HashMap::new();
        for (i, commit) in history.commits.iter().enumerate() {
            row_of.insert(commit.sha.clone(), i);
        }
        let mut by_prefix: HashMap<usize, HashMap<&str, usize>> = HashMap::new();
        let prefix_len = self.config.tags.prefix.len();
        let mut in_window: Vec<(usize, String, usize)> = Vec::new();
        let mut leftovers: Vec<(usize, String)> = Vec::new();
        for (li, listing) in listings.iter().enumerate() {
            for tag in &listing.immutable {
                let hex = tag[prefix_len..].to_ascii_lowercase();
                let index = by_prefix.entry(hex.len()).or_insert_with(|| {
                    history
                        .commits
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (&c.sha[..hex.len().min(c.sha.len())], i))
                        .collect()
                });
                match index.get(hex.as_str()) {
                    Some(&row) => in_window.push((li, tag.clone(), row)),
                    None => leftovers.push((li, tag.clone())),
                }
            }
        }

        // Digests of the images shown, and where each mutable tag points.
        let mut wanted: Vec<(usize, String)> = in_window
            .iter()
            .map(|(li, tag, _)| (*li, tag.clone()))
            .collect();
        for (li, listing) in listings.iter().enumerate() {
            if let (true, Some(mutable)) = (listing.has_mutable, &listing.env.mutable_tag) {
                wanted.push((li, mutable.clone()));
            }
        }
        let prefixes: Vec<String> = {
            let mut unique: Vec<String> = leftovers
                .iter()
                .map(|(_, tag)| tag[prefix_len..].to_ascii_lowercase())
                .collect();
            unique.sort();
            unique.dedup();
            unique
        };
        let locate_branch = branch.clone();
        let locate_prefixes = prefixes.clone();
        let (located, ()) = tokio::join!(
            async {
                if locate_prefixes.is_empty() {
                    Ok((Vec::new(), Vec::new()))
                } else {
                    self.with_git(move |repo| repo.locate(&locate_branch, &locate_prefixes))
                        .await
                }
            },
            self.read_digests(&mut listings, wanted)
        );
        // The walk's notes (a long walk without a usable commit-graph) after the history's;
        // what the repository lacks is said by both.
        let (located, walk_notes) = located?;
        for note in walk_notes {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        let located: HashMap<&str, &Lookup> = prefixes
            .iter()
            .map(String::as_str)
            .zip(located.iter())
            .collect();

        let mut rows: Vec<CommitRow> = history
            .commits
            .into_iter()
            .map(|commit| CommitRow {
                commit,
                images: Vec::new(),
            })
            .collect();
        for (li, tag, row) in &in_window {
            let listing = &listings[*li];
            let digest = listing.digests.get(tag).cloned();
            let mutable_tag =
                listing.env.mutable_tag.as_ref().filter(|m| {
                    digest.is_some() && listing.digests.get(m.as_str()) == digest.as_ref()
                });
            rows[*row].images.push(ImageBadge {
                service: listing.service.name.clone(),
                environment: listing.env.name.clone(),
                tag: tag.clone(),
                digest,
                mutable_tag: mutable_tag.cloned(),
                drift: false,
            });
        }
        let order = self.display_order();
        let mut drift = Vec::new();
        for row in &mut rows {
            row.images
                .sort_by_key(|b| order(&b.service, &b.environment));
            drift.extend(mark_drift(&mut row.images));
        }

        let mut older = Vec::new();
        let mut off_branch = Vec::new();
        let mut unknown = Vec::new();
        for (li, tag) in leftovers {
            let listing = &listings[li];
            let hex = tag[prefix_len..].to_ascii_lowercase();
            let (service, environment) = (listing.service.name.clone(), listing.env.name.clone());
            match located.get(hex.as_str()) {
                Some(Lookup::Commit { commit, position }) => {
                    let placed = PlacedTag {
                        service,
                        environment,
                        tag,
                        sha: commit.sha.clone(),
                        subject: commit.subject.clone(),
                        position: *position,
                    };
                    if position.is_some() {
                        older.push(placed);
                    } else {
                        off_branch.push(placed);
                    }
                }
                Some(Lookup::Ambiguous) => unknown.push(UnknownTag {
                    service,
                    environment,
                    tag,
                    reason: "its digits match several objects in the repository".into(),
                }),
                _ => unknown.push(UnknownTag {
                    service,
                    environment,
                    tag,
                    reason: "no such commit in the repository".into(),
                }),
            }
        }
        older.sort_by(|a, b| {
            a.position.cmp(&b.position).then_with(|| {
                order(&a.service, &a.environment).cmp(&order(&b.service, &b.environment))
            })
        });
        off_branch.sort_by(|a, b| {
            (order(&a.service, &a.environment), &a.tag)
                .cmp(&(order(&b.service, &b.environment), &b.tag))
        });
        unknown.sort_by(|a, b| {
            (order(&a.service, &a.environment), &a.tag)
                .cmp(&(order(&b.service, &b.environment), &b.tag))
        });

        Ok(CommitsView {
            branch,
            reference: history.reference,
            commits: rows,
            more: history.more,
            older,
            off_branch,
            unknown,
            drift,
            errors: listing_errors(&listings),
            notes,
        })
    }

    /// Sort key putting services, then environments, in configuration order.
    fn display_order(&self) -> impl Fn(&str, &str) -> (usize, usize) + '_ {
        move |service: &str, env: &str| {
            (
                self.config
                    .services
                    .iter()
                    .position(|s| s.name == service)
                    .unwrap_or(usize::MAX),
                self.config
                    .environments
                    .iter()
                    .position(|e| e.name == env)
                    .unwrap_or(usize::MAX),
            )
        }
    }

    /// What `from` and `to` run for `service`, and the commits promoting one into the
    /// other would bring. `from` defaults to `to`'s configured source.
    pub async fn promotion_diff(
        &self,
        service: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<PromotionDiff, HistoryError> {
        let service = self.config.service(service)?.clone();
        let from = self.source_environment(to, from)?.clone();
        let to = self.config.environment(to)?.clone();
        let (states, drift, mut notes) = self.service_state(&service, &[from, to]).await?;
        let [from_state, to_state]: [EnvironmentState; 2] = states
            .try_into()
            .map_err(|_| EngineError::Input("environment state missing".into()))?;
        for state in [&from_state, &to_state] {
            if let Some(error) = &state.error {
                return Err(HistoryError::Unreachable(format!(
                    "cannot read {} in {}: {error}",
                    service.name, state.environment
                )));
            }
        }
        let source = match &from_state.running {
            None => {
                return Err(EngineError::Input(format!(
                    "{} runs no image of {} (no {} tag and no {}* tags): nothing to promote",
                    from_state.environment,
                    service.name,
                    self.config
                        .environment(&from_state.environment)
                        .ok()
                        .and_then(|e| e.mutable_tag.clone())
                        .unwrap_or_else(|| "mutable".into()),
                    self.config.tags.prefix
                ))
                .into())
            }
            Some(Running {
                commit: None, tag, ..
            }) => {
                return Err(EngineError::Input(format!(
                    "{} runs {tag}, whose commit is not in the repository at {}",
                    from_state.environment,
                    self.config.git.path.display()
                ))
                .into())
            }
            Some(Running {
                commit: Some(commit),
                ..
            }) => commit.sha.clone(),
        };
        let target = match &to_state.running {
            Some(Running {
                commit: Some(commit),
                ..
            }) => Some(commit.sha.clone()),
            Some(Running {
                commit: None, tag, ..
            }) => {
                notes.push(format!(
                    "{} runs {tag}, whose commit is not in the repository: every commit up to {}'s is listed",
                    to_state.environment, from_state.environment
                ));
                None
            }
            None => None,
        };
        let ((range, target_only), _) = self
            .with_git(move |repo| {
                let range = repo.range(&source, target.as_deref(), RANGE_CAP)?;
                let target_only = match &target {
                    Some(target) => repo.range(target, Some(&source), RANGE_CAP)?.count,
                    None => 0,
                };
                Ok((range, target_only))
            })
            .await?;
        Ok(PromotionDiff {
            service: service.name.clone(),
            from: from_state,
            to: to_state,
            count: range.count,
            truncated: range.truncated,
            commits: range.commits,
            target_only,
            drift,
            notes,
        })
    }

    /// What each of `envs` runs for `service`, and the drift between them.
    async fn service_state(
        &self,
        service: &Service,
        envs: &[Environment],
    ) -> Result<(Vec<EnvironmentState>, Vec<Drift>, Vec<String>), HistoryError> {
        let mut listings = self.listings(std::slice::from_ref(service), envs).await;
        let prefix_len = self.config.tags.prefix.len();

        // Mutable tags first; tags present in two environments for drift.
        let mut wanted: Vec<(usize, String)> = Vec::new();
        let mut seen_in: HashMap<&str, Vec<usize>> = HashMap::new();
        for (li, listing) in listings.iter().enumerate() {
            if let (true, Some(mutable)) = (listing.has_mutable, &listing.env.mutable_tag) {
                wanted.push((li, mutable.clone()));
            }
            for tag in &listing.immutable {
                seen_in.entry(tag.as_str()).or_default().push(li);
            }
        }
        for (tag, lis) in &seen_in {
            if lis.len() > 1 {
                wanted.extend(lis.iter().map(|li| (*li, tag.to_string())));
            }
        }
        let mut all_prefixes: Vec<String> = seen_in
            .keys()
            .map(|t| t[prefix_len..].to_ascii_lowercase())
            .collect();
        all_prefixes.sort();
        all_prefixes.dedup();
        drop(seen_in);
        self.read_digests(&mut listings, wanted).await;

        // Where every tag's commit sits, to find the running image newest first.
        let develop = self.config.git.develop.clone();
        let prefixes = all_prefixes.clone();
        let (located, notes) = self
            .with_git(move |repo| repo.locate(&develop, &prefixes))
            .await?;
        let lookup: HashMap<&str, &Lookup> = all_prefixes
            .iter()
            .map(String::as_str)
            .zip(located.iter())
            .collect();
        let place = |tag: &str| -> (usize, Option<usize>) {
            match lookup.get(&tag[prefix_len..].to_ascii_lowercase().as_str()) {
                Some(Lookup::Commit {
                    position: Some(p), ..
                }) => (0, Some(*p)),
                Some(Lookup::Commit { .. }) => (1, None),
                _ => (2, None),
            }
        };
        let commit_of = |tag: &str| -> Option<CommitInfo> {
            match lookup.get(&tag[prefix_len..].to_ascii_lowercase().as_str()) {
                Some(Lookup::Commit { commit, .. }) => Some(commit.clone()),
                _ => None,
            }
        };

        // The running image: the immutable tag on the mutable tag's digest. Candidates are
        // HEADed newest commit first, a batch at a time, since `latest` is usually recent.
        for li in 0..listings.len() {
            let mut candidates: Vec<String> = listings[li].immutable.clone();
            candidates.sort_by_key(|t| (place(t), t.clone()));
            let target = listings[li]
                .env
                .mutable_tag
                .as_ref()
                .and_then(|m| listings[li].digests.get(m).cloned());
            let Some(target) = target else {
                // No mutable tag: the newest image stands in; its digest is all we need.
                if let Some(newest) = candidates.first().cloned() {
                    self.read_digests(&mut listings, vec![(li, newest)]).await;
                }
                continue;
            };
            for batch in candidates.chunks(HEAD_CONCURRENCY) {
                if listings[li]
                    .digests
                    .iter()
                    .any(|(t, d)| *d == target && t.starts_with(&self.config.tags.prefix))
                {
                    break;
                }
                let batch: Vec<(usize, String)> = batch.iter().map(|t| (li, t.clone())).collect();
                self.read_digests(&mut listings, batch).await;
                if listings[li].error.is_some() {
                    break;
                }
            }
        }

        let mut states = Vec::new();
        for listing in &listings {
            let mut state = EnvironmentState {
                environment: listing.env.name.clone(),
                from: listing.env.from.clone(),
                running: None,
                error: listing.error.clone(),
            };
            if listing.error.is_none() {
                let via = listing
                    .env
                    .mutable_tag
                    .clone()
                    .filter(|m| listing.digests.contains_key(m));
                let running_tag = match &via {
                    Some(m) => {
                        let target = &listing.digests[m];
                        let mut matching: Vec<&String> = listing
                            .immutable
                            .iter()
                            .filter(|t| listing.digests.get(*t) == Some(target))
                            .collect();
                        matching.sort_by_key(|t| (place(t), (*t).clone()));
                        matching.first().map(|t| (*t).clone())
                    }
                    None => {
                        let mut all: Vec<&String> = listing.immutable.iter().collect();
                        all.sort_by_key(|t| (place(t), (*t).clone()));
                        all.first().map(|t| (*t).clone())
                    }
                };
                if let Some(tag) = running_tag {
                    if let Some(digest) = listing.digests.get(&tag) {
                        state.running = Some(Running {
                            commit: commit_of(&tag),
                            digest: digest.clone(),
                            tag,
                            via,
                        });
                    }
                }
            }
            states.push(state);
        }
        let drift = drift_between(&listings);
        Ok((states, drift, notes))
    }

    /// The status matrix with, where the repository answers, each cell's commit and how
    /// far it is behind the environment it is promoted from; drift in any case.
    pub async fn status_report(&self) -> StatusReport {
        let mut cells = self.status().await;
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

    /// The environment images are first pushed to: the first one promoted from nowhere.
    fn first_environment(&self) -> Result<&Environment, HistoryError> {
        let envs = &self.config.environments;
        envs.iter()
            .find(|e| e.from.is_none())
            .or_else(|| envs.first())
            .ok_or_else(|| EngineError::Input("no environment is configured".into()).into())
    }

    /// Cuts a release branch from `commit` on develop, named by the template. Refuses
    /// (exit 3) when no image of the commit exists in the first environment for every
    /// service, unless `force`; pushes when asked, removing the branch again if that fails.
    pub async fn cut_release(
        &self,
        commit: &str,
        version: Option<&str>,
        push: bool,
        force: bool,
    ) -> Result<CutOutcome, HistoryError> {
        let spec = commit.to_string();
        let version = version.map(str::to_string);
        let (plan, mut notes) = self
            .with_git(move |repo| repo.plan_release(&spec, version.as_deref()))
            .await?;

        let env = self.first_environment()?.clone();
        let client = self.client(&env.name)?;
        let tag = self.config.tags.for_commit(&plan.commit.sha);
        let checks: Vec<(String, Result<bool, RegistryError>)> =
            stream::iter(self.config.services.clone())
                .map(|service| {
                    let repository = env.repository(&service);
                    let tag = tag.clone();
                    async move {
                        let found = client
                            .head_manifest(&repository, &tag)
                            .await
                            .map(|h| h.is_some());
                        (service.name, found)
                    }
                })
                .buffered(HEAD_CONCURRENCY)
                .collect()
                .await;
        let mut missing = Vec::new();
        for (service, found) in checks {
            match found {
                Ok(true) => {}
                Ok(false) => missing.push(service),
                Err(e) if force => {
                    notes.push(format!("could not check {service} in {}: {e}", env.name));
                    missing.push(service);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !missing.is_empty() {
            let what = format!("no image {tag} in {} for {}", env.name, missing.join(", "));
            if !force {
                return Err(HistoryError::Refused(format!(
                    "{what}: release a commit whose images were built, or pass --force"
                )));
            }
            notes.push(format!("--force: cutting anyway, though there is {what}"));
        }
        let pushed = self
            .create_and_push(&plan.branch, &plan.commit.sha, push)
            .await?;
        Ok(CutOutcome {
            plan,
            missing_images: missing,
            pushed,
            notes,
        })
    }

    /// Starts `hotfix/<name>` from main's head, or from `from` (on main or a release branch).
    pub async fn start_hotfix(
        &self,
        name: &str,
        from: Option<&str>,
        push: bool,
    ) -> Result<CutOutcome, HistoryError> {
        let name = name.to_string();
        let from = from.map(str::to_string);
        let (plan, notes) = self
            .with_git(move |repo| repo.plan_hotfix(&name, from.as_deref()))
            .await?;
        let pushed = self
            .create_and_push(&plan.branch, &plan.commit.sha, push)
            .await?;
        Ok(CutOutcome {
            plan,
            missing_images: Vec::new(),
            pushed,
            notes,
        })
    }

    async fn create_and_push(
        &self,
        branch: &str,
        sha: &str,
        push: bool,
    ) -> Result<Option<String>, HistoryError> {
        let branch = branch.to_string();
        let sha = sha.to_string();
        let remote = self.config.git.remote.clone();
        let (pushed, _) = self
            .with_git(move |repo| {
                repo.create_branch(&branch, &sha)?;
                if !push {
                    return Ok(None);
                }
                match repo.push_branch(&branch) {
                    Ok(()) => Ok(Some(remote)),
                    Err(e) => {
                        // Nothing changed: the local branch goes too, so a retry starts clean.
                        let cleanup = repo.delete_branch(&branch);
                        Err(match (e, cleanup) {
                            (
                                GitError::Push {
                                    remote,
                                    branch,
                                    reason,
                                    network,
                                    rejected,
                                },
                                Ok(()),
                            ) => GitError::Push {
                                remote,
                                branch,
                                reason: format!("{reason}; the local branch was removed again"),
                                network,
                                rejected,
                            },
                            (e, _) => e,
                        })
                    }
                }
            })
            .await?;
        Ok(pushed)
    }
}

/// Marks badges of one commit whose service has two digests for the same tag.
fn mark_drift(images: &mut [ImageBadge]) -> Vec<Drift> {
    let mut by_service: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, badge) in images.iter().enumerate() {
        if badge.digest.is_some() {
            by_service
                .entry((badge.service.clone(), badge.tag.clone()))
                .or_default()
                .push(i);
        }
    }
    let mut drift = Vec::new();
    for ((service, tag), indexes) in by_service {
        let digests: HashSet<&Digest> = indexes
            .iter()
            .filter_map(|i| images[*i].digest.as_ref())
            .collect();
        if digests.len() > 1 {
            drift.push(Drift {
                service,
                tag,
                digests: indexes
                    .iter()
                    .filter_map(|i| {
                        images[*i]
                            .digest
                            .clone()
                            .map(|d| (images[*i].environment.clone(), d))
                    })
                    .collect(),
            });
            for i in indexes {
                images[i].drift = true;
            }
        }
    }
    drift
}

/// Drift among listings of the same service: a tag HEADed in several environments.
fn drift_between(listings: &[Listing]) -> Vec<Drift> {
    let mut by_tag: BTreeMap<(String, String), Vec<(String, Digest)>> = BTreeMap::new();
    for listing in listings {
        for tag in &listing.immutable {
            if let Some(digest) = listing.digests.get(tag) {
                by_tag
                    .entry((listing.service.name.clone(), tag.clone()))
                    .or_default()
                    .push((listing.env.name.clone(), digest.clone()));
            }
        }
    }
    by_tag
        .into_iter()
        .filter(|(_, digests)| digests.iter().map(|(_, d)| d).collect::<HashSet<_>>().len() > 1)
        .map(|((service, tag), digests)| Drift {
            service,
            tag,
            digests,
        })
        .collect()
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

fn listing_errors(listings: &[Listing]) -> Vec<ListingError> {
    listings
        .iter()
        .filter_map(|l| {
            l.error.as_ref().map(|e| ListingError {
                service: l.service.name.clone(),
                environment: l.env.name.clone(),
                error: e.clone(),
            })
        })
        .collect()
}
