//! `gantry diff`: what two environments run for a service and the commits a promotion
//! from one into the other brings.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::listing::Listing;
use super::{
    Drift, EnvironmentState, HistoryError, PromotionDiff, Running, HEAD_CONCURRENCY, RANGE_CAP,
};
use crate::config::{Environment, Service};
use crate::domain::Digest;
use crate::engine::{Engine, EngineError};
use crate::git::{CommitInfo, Lookup};

impl Engine {
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
                    self.service_repo(&service.name)?.location()
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
            .with_service_git(&service.name, move |repo| {
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
        self.read_digests(&mut listings, wanted, self.is_fresh())
            .await;

        // Where every tag's commit sits, to find the running image newest first.
        let repo = self.service_repo(&service.name)?;
        let develop = repo.git.settings.develop.clone();
        let prefixes = all_prefixes.clone();
        let (located, notes) = self
            .with_repo(&repo, move |repo| repo.locate(&develop, &prefixes))
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
                    self.read_digests(&mut listings, vec![(li, newest)], self.is_fresh())
                        .await;
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
                self.read_digests(&mut listings, batch, self.is_fresh())
                    .await;
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
