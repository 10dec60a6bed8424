//! Reading one environment's repository for retention: every tag and its digest, cosign
//! attachments aside, and each image's created time and platform manifests.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::attachment_subject;
use crate::config::{Environment, Service};
use crate::domain::Digest;
use crate::registry::manifest::{self, ImageConfig, Parsed};
use crate::registry::{RegistryClient, RegistryError};

/// Requests in flight at once while reading a repository.
pub(crate) const CONCURRENCY: usize = 8;

/// One environment's repository of the service: every tag and its digest.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    pub(crate) env: Environment,
    pub(crate) repository: String,
    /// Tag -> digest, signature tags aside.
    pub(crate) digests: BTreeMap<String, Digest>,
    /// Signature (and attestation) tags: subject digest -> tags.
    pub(crate) attachments: BTreeMap<Digest, Vec<String>>,
}

impl Listing {
    pub(crate) fn by_digest(&self) -> BTreeMap<Digest, Vec<String>> {
        let mut by_digest: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        for (tag, digest) in &self.digests {
            by_digest
                .entry(digest.clone())
                .or_default()
                .push(tag.clone());
        }
        by_digest
    }
}

/// Reads every tag of `service` in `env` and what it points at.
pub(crate) async fn read_listing(
    client: &RegistryClient,
    env: &Environment,
    service: &Service,
) -> Result<Listing, RegistryError> {
    let repository = env.repository(service);
    let tags = client.list_tags(&repository).await?;
    let mut attachments: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    let mut plain = Vec::new();
    for tag in tags {
        match attachment_subject(&tag) {
            Some(subject) => attachments.entry(subject).or_default().push(tag),
            None => plain.push(tag),
        }
    }
    let repository_ref = &repository;
    let heads: Vec<(String, Option<Digest>)> = stream::iter(plain)
        .map(|tag| async move {
            let head = client.head_manifest(repository_ref, &tag).await?;
            Ok::<_, RegistryError>((tag, head.map(|h| h.digest)))
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    for tags in attachments.values_mut() {
        tags.sort();
    }
    Ok(Listing {
        env: env.clone(),
        repository,
        // A tag deleted between the listing and its HEAD is simply not there.
        digests: heads
            .into_iter()
            .filter_map(|(tag, digest)| digest.map(|d| (tag, d)))
            .collect(),
        attachments,
    })
}

/// An image's created time and, for an index, its platform manifests.
pub(crate) type ImageFacts = (Option<DateTime<Utc>>, Vec<Digest>);

/// What [`ImageFacts`] says of one image; `None` when the manifest vanished since it was
/// listed.
/// The created time is read only when `want_created` (a config blob, and for an index its
/// first platform's manifest: two requests saved per image when git orders it).
pub(crate) async fn describe(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    want_created: bool,
) -> Result<Option<ImageFacts>, RegistryError> {
    let top = match client.get_manifest(repository, digest.as_str()).await {
        Ok(top) => top,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    // A manifest gantry cannot parse still gets a decision; only its age is unknown.
    let (config, children) = match manifest::parse(&top.media_type, &top.bytes) {
        Ok(Parsed::Image(parts)) => (Some(parts.config.digest), Vec::new()),
        Ok(Parsed::Index(children)) => {
            let children: Vec<Digest> = children
                .into_iter()
                .filter(|c| crate::domain::media::is_manifest(&c.media_type))
                .map(|c| c.digest)
                .collect();
            let config = match children.first().filter(|_| want_created) {
                Some(first) => match client.get_manifest(repository, first.as_str()).await {
                    Ok(raw) => match manifest::parse(&raw.media_type, &raw.bytes) {
                        Ok(Parsed::Image(parts)) => Some(parts.config.digest),
                        _ => None,
                    },
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            (config, children)
        }
        Err(_) => (None, Vec::new()),
    };
    let created = match config.filter(|_| want_created) {
        Some(config) => match client.get_blob_bytes(repository, &config).await {
            Ok(bytes) => serde_json::from_slice::<ImageConfig>(&bytes)
                .ok()
                .and_then(|c| c.created)
                .and_then(|c| DateTime::parse_from_rfc3339(&c).ok())
                .map(|c| c.with_timezone(&Utc)),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(Some((created, children)))
}
