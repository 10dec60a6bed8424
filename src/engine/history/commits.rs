//! `gantry commits`: a branch's newest commits, each with its images in every
//! environment; images of other commits placed further down, off the branch, or unknown.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::listing::Listing;
use super::{
    CommitRow, CommitsView, Drift, HistoryError, ImageBadge, ListingError, PlacedTag, UnknownTag,
};
use crate::domain::Digest;
use crate::engine::Engine;
use crate::git::Lookup;

impl Engine {
    /// `branch`'s newest `limit` commits (develop when `None`) in `service`'s repository
    /// (the default one when `None`), each with the images of the services built from that
    /// repository in every environment; images of other commits are placed or listed apart.
    pub async fn commits(
        &self,
        service: Option<&str>,
        branch: Option<&str>,
        limit: usize,
    ) -> Result<CommitsView, HistoryError> {
        self.commits_reading(service, branch, limit, self.is_fresh())
            .await
    }

    /// `commits`, reading every tag live when `fresh`.
    pub async fn commits_reading(
        &self,
        service: Option<&str>,
        branch: Option<&str>,
        limit: usize,
        fresh: bool,
    ) -> Result<CommitsView, HistoryError> {
        let repo = match service {
            Some(service) => self.service_repo(service)?,
            None => self.default_repo()?,
        };
        let branch = branch.unwrap_or(&repo.git.settings.develop).to_string();
        let services = repo.configured(&self.config);
        let envs = self.config.environments.clone();
        let walk_branch = branch.clone();
        // The walk and the tag lists do not depend on each other.
        let (history, mut listings) = tokio::join!(
            self.with_repo(&repo, move |repo| repo.history(&walk_branch, limit)),
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
                    self.with_repo(&repo, move |repo| {
                        repo.locate(&locate_branch, &locate_prefixes)
                    })
                    .await
                }
            },
            self.read_digests(&mut listings, wanted, fresh)
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
            services: repo.services.clone(),
            repository: repo.location(),
            fetched_at: repo
                .url
                .as_deref()
                .and_then(|url| self.mirrors().fetched_at(url)),
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
