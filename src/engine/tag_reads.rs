//! Tag digests read through the tag cache (`registry::tag_cache`): a SHA tag's digest
//! from the cache when it knows it, every other tag live, and a repository's cached
//! answers read again when they cannot explain what its mutable tag points at.
//!
//! The cache is only for looking: promotions, rollbacks, approvals and clean-ups read
//! every tag they act on live.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::Engine;
use crate::config::Environment;
use crate::domain::Digest;
use crate::registry::tag_cache::TagCache;
use crate::registry::{RegistryClient, RegistryError};

/// HEADs in flight for one repository.
const HEAD_CONCURRENCY: usize = 8;

impl Engine {
    /// The tag cache of a registry host (`host:port`), shared by the environments on it.
    pub(crate) fn tag_cache(&self, registry: &str) -> Arc<TagCache> {
        super::per_host(&self.tag_caches, registry, || {
            TagCache::open(&self.state_dir, registry)
        })
    }

    /// Writes what this run learnt into the tag caches; a cache that cannot be written
    /// costs requests next time, nothing else, so it is only logged.
    pub fn save_tag_caches(&self) {
        let caches: Vec<Arc<TagCache>> = self
            .tag_caches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect();
        for cache in caches {
            if let Err(e) = cache.save() {
                tracing::warn!("tag cache {} not saved: {e}", cache.path().display());
            }
        }
    }

    /// Every cached answer is re-read from the registries from now on (`--fresh`).
    pub fn set_fresh(&mut self, fresh: bool) {
        self.fresh = fresh;
    }

    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The digest of every tag in `listed` that is a SHA tag or for which `live` says
    /// yes (the mutable tags wanted), from the cache or the registry. `fresh` reads every
    /// one live. SHA tags no longer listed are forgotten by the cache.
    ///
    /// A mutable tag is read live every time; if it points at a digest that none of the
    /// SHA tags carries and some of those came from the cache, a SHA tag may have been
    /// pushed again with other contents (a rebuild): the cached ones are read again, so
    /// the rebuilt tag shows, and its drift, within this very refresh.
    pub(crate) async fn cached_tag_digests(
        &self,
        client: &RegistryClient,
        env: &Environment,
        repository: &str,
        listed: Vec<String>,
        live: impl Fn(&str) -> bool,
        fresh: bool,
    ) -> Result<Vec<(String, Digest)>, RegistryError> {
        let tags = &self.config.tags;
        let cache = self.tag_cache(&env.registry);
        cache.retain_listed(repository, &listed);
        let mut cached = Vec::new();
        let mut to_read = Vec::new();
        for tag in listed {
            if tags.is_immutable(&tag) {
                match (!fresh).then(|| cache.get(repository, &tag)).flatten() {
                    Some(facts) => cached.push((tag, facts.digest)),
                    None => to_read.push(tag),
                }
            } else if live(&tag) {
                to_read.push(tag);
            }
        }
        let mut read = head_all(client, repository, to_read).await?;
        remember(&cache, repository, &read, |t| tags.is_immutable(t));

        let carried: HashSet<&Digest> = read
            .iter()
            .chain(cached.iter())
            .filter(|(tag, _)| tags.is_immutable(tag))
            .map(|(_, digest)| digest)
            .collect();
        let unexplained = read
            .iter()
            .any(|(tag, digest)| !tags.is_immutable(tag) && !carried.contains(digest));
        if unexplained && !cached.is_empty() {
            let again: Vec<String> = cached.iter().map(|(tag, _)| tag.clone()).collect();
            cached = head_all(client, repository, again).await?;
            remember(&cache, repository, &cached, |_| true);
        }
        read.extend(cached);
        Ok(read)
    }
}

fn remember(
    cache: &TagCache,
    repository: &str,
    read: &[(String, Digest)],
    immutable: impl Fn(&str) -> bool,
) {
    for (tag, digest) in read.iter().filter(|(tag, _)| immutable(tag)) {
        cache.put_digest(repository, tag, digest);
    }
}

/// HEADs `tags`, a few at a time: tag -> digest of those that exist.
pub(crate) async fn head_all(
    client: &RegistryClient,
    repository: &str,
    tags: Vec<String>,
) -> Result<Vec<(String, Digest)>, RegistryError> {
    let found: Vec<Option<(String, Digest)>> = stream::iter(tags)
        .map(|tag| async move {
            Ok::<_, RegistryError>(
                client
                    .head_manifest(repository, &tag)
                    .await?
                    .map(|head| (tag, head.digest)),
            )
        })
        .buffer_unordered(HEAD_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}
