//! What the registries hold: resolving selectors, listing a service's images, the status matrix.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::plan::Resolved;
use super::tag_reads::head_all;
use super::{Engine, EngineError};
use crate::config::{Environment, Service};
use crate::domain::{Digest, ImageSelector};
use crate::registry::manifest::{self, ImageConfig, Parsed};
use crate::registry::tag_cache::{ManifestFacts, TagCache, TagFacts};
use crate::registry::{RegistryClient, RegistryError};

/// Manifests read in flight while listing.
const LIST_CONCURRENCY: usize = 8;

/// One SHA-tagged image in one environment.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub tag: String,
    pub digest: Digest,
    pub media_type: String,
    /// `linux/amd64`, ...; one entry for a single-platform image.
    pub platforms: Vec<String>,
    /// From the image config (of the first platform of an index).
    pub created: Option<String>,
    /// Compressed size of every blob of every platform, as registries report it.
    pub size: u64,
    /// Mutable tags (`latest`, `stage`) pointing at the same digest.
    pub also_tagged: Vec<String>,
    /// What the image carries (SBOMs, attestations, signatures, scan), when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached: Option<crate::attestation::attached::Attached>,
}

/// A service's images in one environment.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentImages {
    pub environment: String,
    pub repository: String,
    pub images: Vec<ImageInfo>,
    /// Tags that are neither immutable nor pointing at an immutable-tagged image.
    pub other_tags: Vec<String>,
}

/// One cell of the service x environment matrix.
#[derive(Debug, Clone, Serialize)]
pub struct StatusCell {
    pub service: String,
    pub environment: String,
    /// The environment's mutable tag, when it has one.
    pub mutable_tag: Option<String>,
    /// What the mutable tag points at (or the newest image without one).
    pub digest: Option<Digest>,
    /// Immutable tags on that digest.
    pub tags: Vec<String>,
    /// How many immutable-tagged images the environment holds.
    pub image_count: usize,
    /// Set when the registry could not be read; the rest of the matrix still shows.
    pub error: Option<String>,
    /// The commit of the running image, when the git repository answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitRef>,
    /// How far this environment is behind the one it is promoted from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind: Option<Behind>,
    /// Immutable tags held here with another digest in another environment: rebuilds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    /// Every tag read and its digest; kept for the drift check, too long to print.
    #[serde(skip)]
    pub digests: BTreeMap<String, Digest>,
    /// What the environment's GitOps file pins, when it has one: promoted vs deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<crate::deploy::DeployedState>,
}

/// A commit named in the status matrix.
#[derive(Debug, Clone, Serialize)]
pub struct CommitRef {
    pub sha: String,
    pub short: String,
    pub subject: String,
}

/// Commits the environment promoted from runs that this one does not.
#[derive(Debug, Clone, Serialize)]
pub struct Behind {
    pub from: String,
    pub commits: usize,
    /// The count stopped at its cap: at least `commits`.
    pub truncated: bool,
}

impl Engine {
    /// Pins what `selector` means in `env`: its immutable tag and exact manifest.
    pub async fn resolve(
        &self,
        selector: &ImageSelector,
        env: &Environment,
    ) -> Result<Resolved, EngineError> {
        let service = self.config.service(selector.service())?;
        let client = self.client(&env.name)?;
        let repository = env.repository(service);
        let tags = &self.config.tags;
        match selector {
            ImageSelector::Tag { tag, .. } if tags.is_immutable(tag) => {
                let manifest = self.get_or_explain(client, env, service, tag).await?;
                Ok(Resolved {
                    tag: tag.clone(),
                    manifest,
                })
            }
            ImageSelector::Commit { sha, .. } if sha.len() >= tags.short_len => {
                let tag = tags.for_commit(sha);
                let manifest = self.get_or_explain(client, env, service, &tag).await?;
                Ok(Resolved { tag, manifest })
            }
            ImageSelector::Commit { sha, .. } => {
                let wanted = format!("{}{}", tags.prefix, sha);
                let all = client.list_tags(&repository).await?;
                let matching: Vec<_> = all.iter().filter(|t| t.starts_with(&wanted)).collect();
                match matching.as_slice() {
                    [tag] => {
                        let manifest = client.get_manifest(&repository, tag).await?;
                        Ok(Resolved {
                            tag: (*tag).clone(),
                            manifest,
                        })
                    }
                    [] => Err(EngineError::Input(format!(
                        "no image of commit {sha} in {} ({}): no tag starts with {wanted}",
                        env.name,
                        env.image_name(service)
                    ))),
                    many => Err(EngineError::Input(format!(
                        "commit {sha} is ambiguous in {}: {}; give more digits",
                        env.name,
                        many.iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))),
                }
            }
            ImageSelector::Tag { tag, .. } => {
                let manifest = self.get_or_explain(client, env, service, tag).await?;
                let tag = self
                    .immutable_tag_of(client, env, service, &manifest.digest)
                    .await?;
                Ok(Resolved { tag, manifest })
            }
            ImageSelector::Digest { digest, .. } => {
                let manifest = self
                    .get_or_explain(client, env, service, digest.as_str())
                    .await?;
                let tag = self.immutable_tag_of(client, env, service, digest).await?;
                Ok(Resolved { tag, manifest })
            }
        }
    }

    async fn get_or_explain(
        &self,
        client: &RegistryClient,
        env: &Environment,
        service: &Service,
        reference: &str,
    ) -> Result<crate::registry::RawManifest, EngineError> {
        match client
            .get_manifest(&env.repository(service), reference)
            .await
        {
            Ok(manifest) => Ok(manifest),
            Err(e) if e.is_not_found() => Err(EngineError::Input(format!(
                "{}: no image `{reference}` in {}",
                env.image_name(service),
                env.name
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The immutable tag on `digest`: an image is promoted under its commit tag, never bare.
    pub(crate) async fn immutable_tag_of(
        &self,
        client: &RegistryClient,
        env: &Environment,
        service: &Service,
        digest: &Digest,
    ) -> Result<String, EngineError> {
        let repository = env.repository(service);
        let digests = self
            .tag_digests(client, &repository, |t| self.config.tags.is_immutable(t))
            .await?;
        let mut matching: Vec<_> = digests
            .into_iter()
            .filter(|(_, d)| d == digest)
            .map(|(t, _)| t)
            .collect();
        matching.sort();
        match matching.len() {
            0 => Err(EngineError::Refused(format!(
                "{} in {} carries no {}* tag; gantry promotes images under their commit tag",
                digest, env.name, self.config.tags.prefix
            ))),
            1 => Ok(matching.remove(0)),
            _ => Err(EngineError::Input(format!(
                "{digest} carries several commit tags in {} ({}); name one",
                env.name,
                matching.join(", ")
            ))),
        }
    }

    /// HEADs every tag accepted by `filter`, live: tag -> digest.
    async fn tag_digests(
        &self,
        client: &RegistryClient,
        repository: &str,
        filter: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, Digest)>, RegistryError> {
        let tags: Vec<String> = client
            .list_tags(repository)
            .await?
            .into_iter()
            .filter(|t| filter(t))
            .collect();
        head_all(client, repository, tags).await
    }

    /// The SHA-tagged images of `service` in `env`, newest first. What an image is (its
    /// platforms, size, created time) comes from the tag cache when it knows the tag;
    /// mutable tags are read live (see `cached_tag_digests` for when cached answers are
    /// read again).
    pub async fn images(&self, service: &str, env: &str) -> Result<EnvironmentImages, EngineError> {
        self.images_reading(service, env, self.fresh).await
    }

    /// `images`, reading every tag live when `fresh`.
    pub async fn images_reading(
        &self,
        service: &str,
        env: &str,
        fresh: bool,
    ) -> Result<EnvironmentImages, EngineError> {
        let service = self.config.service(service)?;
        let env = self.config.environment(env)?;
        let client = self.client(&env.name)?;
        let repository = env.repository(service);
        let all_tags = client.list_tags(&repository).await?;
        let cache = self.tag_cache(&env.registry);
        cache.retain_listed(&repository, &all_tags);
        let (immutable, mutable): (Vec<String>, Vec<String>) = all_tags
            .into_iter()
            .partition(|t| self.config.tags.is_immutable(t));
        let mutable_digests = head_all(client, &repository, mutable).await?;
        let mut cached = Vec::new();
        let mut to_read = Vec::new();
        for tag in immutable {
            match (!fresh)
                .then(|| cached_image(&cache, &repository, &tag))
                .flatten()
            {
                Some(image) => cached.push(image),
                None => to_read.push(tag),
            }
        }
        let mut images = self.describe_all(client, &repository, to_read).await?;
        let unexplained = mutable_digests.iter().any(|(_, digest)| {
            !images
                .iter()
                .chain(cached.iter())
                .any(|i| &i.digest == digest)
        });
        if unexplained && !cached.is_empty() {
            // A SHA tag may have been pushed again: read what the cached ones are now.
            let again = cached.iter().map(|i| i.tag.clone()).collect();
            cached = self.describe_all(client, &repository, again).await?;
        }
        images.extend(cached);
        self.save_tag_caches();
        let mut other_tags = Vec::new();
        for (tag, digest) in mutable_digests {
            let mut matched = false;
            for image in images.iter_mut().filter(|i| i.digest == digest) {
                image.also_tagged.push(tag.clone());
                matched = true;
            }
            if !matched {
                other_tags.push(tag);
            }
        }
        other_tags.sort();
        // Newest first; tags break ties so the order is stable.
        for image in &mut images {
            image.also_tagged.sort();
        }
        images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.tag.cmp(&b.tag)));
        Ok(EnvironmentImages {
            environment: env.name.clone(),
            repository: env.image_name(service),
            images,
            other_tags,
        })
    }

    /// Reads each tag's image live and tells the tag cache what it is.
    async fn describe_all(
        &self,
        client: &RegistryClient,
        repository: &str,
        tags: Vec<String>,
    ) -> Result<Vec<ImageInfo>, RegistryError> {
        let images: Vec<ImageInfo> = stream::iter(tags)
            .map(|tag| describe(client, repository, tag))
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let cache = self.tag_cache(client.host());
        for image in &images {
            cache.put(
                repository,
                &image.tag,
                TagFacts {
                    digest: image.digest.clone(),
                    manifest: Some(ManifestFacts {
                        media_type: image.media_type.clone(),
                        platforms: image.platforms.clone(),
                        size: image.size,
                        created: image.created.clone(),
                    }),
                },
            );
        }
        Ok(images)
    }

    pub(crate) async fn fill_status(
        &self,
        cell: &mut StatusCell,
        service: &Service,
        env: &Environment,
        fresh: bool,
    ) -> Result<(), EngineError> {
        let client = self.client(&env.name)?;
        let repository = env.repository(service);
        let listed = client.list_tags(&repository).await?;
        let mutable = env.mutable_tag.as_deref();
        let digests = self
            .cached_tag_digests(
                client,
                env,
                &repository,
                listed,
                |t| mutable == Some(t),
                fresh,
            )
            .await?;
        let by_tag: BTreeMap<_, _> = digests.into_iter().collect();
        cell.image_count = by_tag
            .keys()
            .filter(|t| self.config.tags.is_immutable(t))
            .count();
        if let Some(mutable) = &env.mutable_tag {
            cell.digest = by_tag.get(mutable).cloned();
        }
        if let Some(digest) = &cell.digest {
            cell.tags = by_tag
                .iter()
                .filter(|(t, d)| *d == digest && self.config.tags.is_immutable(t))
                .map(|(t, _)| t.clone())
                .collect();
        }
        cell.digests = by_tag;
        Ok(())
    }
}

/// An image as the tag cache remembers it, when it knows more than the digest.
fn cached_image(cache: &TagCache, repository: &str, tag: &str) -> Option<ImageInfo> {
    let facts = cache.get(repository, tag)?;
    let manifest = facts.manifest?;
    Some(ImageInfo {
        tag: tag.to_string(),
        digest: facts.digest,
        media_type: manifest.media_type,
        platforms: manifest.platforms,
        created: manifest.created,
        size: manifest.size,
        also_tagged: Vec::new(),
        attached: None,
    })
}

/// Reads one image: manifest, platforms, size, and the created time from its config.
async fn describe(
    client: &RegistryClient,
    repository: &str,
    tag: String,
) -> Result<ImageInfo, RegistryError> {
    let top = client.get_manifest(repository, &tag).await?;
    let invalid = |reason: String| RegistryError::Invalid {
        registry: client.host().to_string(),
        what: format!("manifest {repository}:{tag}"),
        reason,
    };
    let parsed = manifest::parse(&top.media_type, &top.bytes).map_err(invalid)?;
    let (platforms, images) = match parsed {
        Parsed::Image(parts) => (Vec::new(), vec![parts]),
        Parsed::Index(children) => {
            let mut parts = Vec::new();
            for child in &children {
                if !crate::domain::media::is_manifest(&child.media_type) {
                    continue;
                }
                let raw = client
                    .get_manifest(repository, child.digest.as_str())
                    .await?;
                match manifest::parse(&raw.media_type, &raw.bytes).map_err(invalid)? {
                    Parsed::Image(image) => parts.push(image),
                    Parsed::Index(_) => {}
                }
            }
            (children.into_iter().map(|c| c.platform).collect(), parts)
        }
    };
    let size = images.iter().map(|i| i.total_size()).sum();
    let mut created = None;
    let mut platforms = platforms;
    if let Some(first) = images.first() {
        let config_bytes = client
            .get_blob_bytes(repository, &first.config.digest)
            .await?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes).unwrap_or_default();
        created = config.created;
        if platforms.is_empty() {
            platforms.push(format!(
                "{}/{}",
                config.os.unwrap_or_else(|| "unknown".into()),
                config.architecture.unwrap_or_else(|| "unknown".into())
            ));
        }
    }
    Ok(ImageInfo {
        tag,
        digest: top.digest,
        media_type: top.media_type,
        platforms,
        created,
        size,
        also_tagged: Vec::new(),
        attached: None,
    })
}
