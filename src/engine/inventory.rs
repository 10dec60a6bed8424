//! What the registries hold: resolving selectors, listing a service's images, the status matrix.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::plan::Resolved;
use super::{Engine, EngineError};
use crate::config::{Environment, Service};
use crate::domain::{Digest, ImageSelector};
use crate::registry::manifest::{self, ImageConfig, Parsed};
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

    /// HEADs every tag accepted by `filter`: tag -> digest.
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
        let found: Vec<Option<(String, Digest)>> = stream::iter(tags)
            .map(|tag| async move {
                Ok::<_, RegistryError>(
                    client
                        .head_manifest(repository, &tag)
                        .await?
                        .map(|head| (tag, head.digest)),
                )
            })
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// The SHA-tagged images of `service` in `env`, newest first.
    pub async fn images(&self, service: &str, env: &str) -> Result<EnvironmentImages, EngineError> {
        let service = self.config.service(service)?;
        let env = self.config.environment(env)?;
        let client = self.client(&env.name)?;
        let repository = env.repository(service);
        let all_tags = client.list_tags(&repository).await?;
        let (immutable, mutable): (Vec<String>, Vec<String>) = all_tags
            .into_iter()
            .partition(|t| self.config.tags.is_immutable(t));
        let repository_ref = &repository;
        let mutable_digests: Vec<(String, Option<Digest>)> = stream::iter(mutable)
            .map(|tag| async move {
                let head = client.head_manifest(repository_ref, &tag).await?;
                Ok::<_, RegistryError>((tag, head.map(|h| h.digest)))
            })
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut images: Vec<ImageInfo> = stream::iter(immutable)
            .map(|tag| describe(client, repository_ref, tag))
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut other_tags = Vec::new();
        for (tag, digest) in mutable_digests {
            let mut matched = false;
            for image in images
                .iter_mut()
                .filter(|i| Some(&i.digest) == digest.as_ref())
            {
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

    /// The service x environment matrix. A registry that cannot be read shows as an
    /// error in its cells; the others still answer.
    pub async fn status(&self) -> Vec<StatusCell> {
        // Owned pairs: borrowed ones make the future's Send-ness unprovable for tokio::spawn.
        let cells: Vec<(Service, Environment)> = self
            .config
            .services
            .iter()
            .flat_map(|service| {
                self.config
                    .environments
                    .iter()
                    .map(move |env| (service.clone(), env.clone()))
            })
            .collect();
        let cells: Vec<StatusCell> = stream::iter(cells)
            .map(|(service, env)| async move {
                let (service, env) = (&service, &env);
                let mut cell = StatusCell {
                    service: service.name.clone(),
                    environment: env.name.clone(),
                    mutable_tag: env.mutable_tag.clone(),
                    digest: None,
                    tags: Vec::new(),
                    image_count: 0,
                    error: None,
                    commit: None,
                    behind: None,
                    drift: Vec::new(),
                    digests: BTreeMap::new(),
                    deployed: None,
                };
                if let Err(e) = self.fill_status(&mut cell, service, env).await {
                    cell.error = Some(e.to_string());
                }
                cell
            })
            .buffered(LIST_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut cells = cells;
        self.attach_deployed(&mut cells).await;
        cells
    }

    async fn fill_status(
        &self,
        cell: &mut StatusCell,
        service: &Service,
        env: &Environment,
    ) -> Result<(), EngineError> {
        let client = self.client(&env.name)?;
        let repository = env.repository(service);
        let digests = self
            .tag_digests(client, &repository, |t| {
                self.config.tags.is_immutable(t) || env.mutable_tag.as_deref() == Some(t)
            })
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
