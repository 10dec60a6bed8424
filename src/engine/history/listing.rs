//! The registry side of every join: each (service, environment)'s commit tags, listed
//! once, and the digests of the tags an answer needs, HEADed a few at a time.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt};

use super::HEAD_CONCURRENCY;
use crate::config::{Environment, Service};
use crate::domain::{is_commit_id, Digest};
use crate::engine::Engine;
/// One service x environment: its immutable tags, and digests read so far.
pub(super) struct Listing {
    pub(super) service: Service,
    pub(super) env: Environment,
    pub(super) immutable: Vec<String>,
    pub(super) has_mutable: bool,
    pub(super) digests: HashMap<String, Digest>,
    pub(super) error: Option<String>,
}

impl Engine {
    /// Lists tags of every (service, environment); a registry that fails is recorded.
    pub(super) async fn listings(
        &self,
        services: &[Service],
        envs: &[Environment],
    ) -> Vec<Listing> {
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
                        self.tag_cache(&listing.env.registry)
                            .retain_listed(&listing.env.repository(&listing.service), &tags);
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
    /// the digests; a failure marks its listing. SHA tags the tag cache knows are not
    /// asked again (unless `--fresh`); what is read is remembered there.
    pub(super) async fn read_digests(
        &self,
        listings: &mut [Listing],
        wanted: Vec<(usize, String)>,
        fresh: bool,
    ) {
        let wanted = if fresh {
            wanted
        } else {
            self.digests_from_cache(listings, wanted)
        };
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
                    if self.config.tags.is_immutable(&tag) {
                        self.tag_cache(&listing.env.registry).put_digest(
                            &listing.env.repository(&listing.service),
                            &tag,
                            &digest,
                        );
                    }
                    listing.digests.insert(tag, digest);
                }
                Ok(None) => {}
                Err(e) => {
                    listing.error.get_or_insert(e);
                }
            }
        }
    }

    /// Fills in the SHA tags the tag cache knows; returns the pairs still to read.
    fn digests_from_cache(
        &self,
        listings: &mut [Listing],
        wanted: Vec<(usize, String)>,
    ) -> Vec<(usize, String)> {
        wanted
            .into_iter()
            .filter(|(i, tag)| {
                let Some(listing) = listings.get_mut(*i) else {
                    return true;
                };
                if !self.config.tags.is_immutable(tag) {
                    return true;
                }
                let cache = self.tag_cache(&listing.env.registry);
                match cache.get(&listing.env.repository(&listing.service), tag) {
                    Some(facts) => {
                        listing.digests.insert(tag.clone(), facts.digest);
                        false
                    }
                    None => true,
                }
            })
            .collect()
    }
}
