//! What travels with an image besides its layers: OCI referrers (SBOMs, attestations,
//! signatures pointing at it with `subject`) of the image, of each child manifest and,
//! recursively, of each referrer; and cosign's tag-scheme attachments (`.att`, `.sbom`,
//! and `.sig` of anything but the image itself, whose signatures `crate::signing` merges).
//!
//! Planned with the image (what the target lacks), carried out after the image's manifests
//! and before any tag, so a tagged image always has its attachments and a failure leaves
//! the target's tags as they were.

use std::collections::{HashSet, VecDeque};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::plan::{blob_step, BlobStep};
use super::EngineError;
use crate::domain::{human_bytes, Digest};
use crate::registry::manifest::{self, Parsed};
use crate::registry::referrers::{describe_referrer, fallback_tag, Referrer};
use crate::registry::{RawManifest, RegistryClient, RegistryError};

/// Blob HEADs in flight while planning attachments.
const PLAN_CONCURRENCY: usize = 8;
/// How deep referrers of referrers are followed (a signature of an SBOM is depth 2).
const MAX_DEPTH: usize = 8;
/// cosign's tag-scheme suffixes carried as attachments.
const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// Which attachments a promotion carries (`[copy] referrers`, `[copy] artifact_types`).
#[derive(Debug, Clone, Default)]
pub struct AttachmentFilter {
    pub enabled: bool,
    /// Artifact types carried; empty: every type. Applies to what is attached to the image
    /// and its child manifests; what is attached to a carried artifact travels with it.
    pub artifact_types: Vec<String>,
}

impl AttachmentFilter {
    fn admits(&self, artifact_type: Option<&str>) -> bool {
        self.artifact_types.is_empty()
            || artifact_type.is_some_and(|t| self.artifact_types.iter().any(|a| a == t))
    }
}

/// The attachments part of a plan: shown by dry runs, carried out by `apply`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttachmentStep {
    /// Attachments the source has (after the filter).
    pub found: usize,
    /// Of those, the ones the target already has.
    pub present: usize,
    /// Referrers to write, parents before what refers to them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<ReferrerStep>,
    /// cosign tags to write.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<AttachedTagStep>,
    /// Blobs of the attachments the target lacks, beside the image's own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<BlobStep>,
    /// What was found but is not carried, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReferrerStep {
    pub subject: Digest,
    pub digest: Digest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub action: ReferrerAction,
    #[serde(skip)]
    descriptor: Referrer,
    #[serde(skip)]
    manifest: Option<RawManifest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferrerAction {
    /// The manifest is copied and listed under its subject.
    Push,
    /// The target has the manifest but does not list it under its subject yet.
    List,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachedTagStep {
    pub tag: String,
    pub digest: Digest,
    #[serde(skip)]
    manifest: RawManifest,
}

impl AttachmentStep {
    pub fn writes(&self) -> bool {
        !self.referrers.is_empty() || !self.tags.is_empty()
    }

    /// A few words for summaries; empty when nothing is attached.
    pub fn describe(&self) -> String {
        if self.found == 0 {
            return String::new();
        }
        let carried = self.referrers.len() + self.tags.len();
        let bytes: u64 = self.blobs.iter().map(|b| b.size).sum();
        if carried == 0 {
            format!("{} attachments already there", self.found)
        } else {
            format!(
                "{carried} of {} attachments carried ({})",
                self.found,
                human_bytes(bytes)
            )
        }
    }
}

/// One side of a promotion: a registry and a repository in it.
#[derive(Clone, Copy)]
pub(crate) struct Side<'a> {
    pub client: &'a RegistryClient,
    pub repository: &'a str,
}

/// What the source repository holds that decides which attachments exist: its tags
/// (fallback indexes, cosign tags, and the image's own `.sig` for the signing step) and
/// whether its registry has the referrers API.
pub(crate) struct SourceFacts {
    pub tags: HashSet<String>,
    pub api: bool,
}

/// Reads the source's `SourceFacts` in one round trip (the tag listing and the referrers
/// probe at once; the probe is sent once per registry client), or `None` when attachments
/// are not carried.
pub(crate) async fn source_facts(
    source: Side<'_>,
    top: &Digest,
    filter: &AttachmentFilter,
) -> Result<Option<SourceFacts>, EngineError> {
    if !filter.enabled {
        return Ok(None);
    }
    let (tags, api) = futures_util::future::try_join(
        source.client.list_tags(source.repository),
        source.client.has_referrers_api(source.repository, top),
    )
    .await?;
    Ok(Some(SourceFacts {
        tags: tags.into_iter().collect(),
        api,
    }))
}

/// Plans carrying the attachments of `top` and of its `children` from `source`, whose
/// `facts` were read before (none: attachments are not carried), to `target`.
/// `image_blobs` are the blobs the image itself brings (not planned twice).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn plan(
    source: Side<'_>,
    target: Side<'_>,
    facts: Option<&SourceFacts>,
    top: &Digest,
    children: &[Digest],
    image_blobs: &HashSet<Digest>,
    same_registry: bool,
    filter: &AttachmentFilter,
) -> Result<AttachmentStep, EngineError> {
    let mut step = AttachmentStep::default();
    let Some(facts) = facts.filter(|_| filter.enabled) else {
        return Ok(step);
    };
    // One tag listing per side tells which fallback indexes and cosign tags exist, so a
    // registry without the referrers API costs no request per subject.
    let source_tags = &facts.tags;
    let source_api = facts.api;
    let mut target_tags: Option<HashSet<String>> = None;

    let mut queue: VecDeque<(Digest, usize)> = std::iter::once(top.clone())
        .chain(children.iter().cloned())
        .map(|d| (d, 0))
        .collect();
    let mut seen: HashSet<Digest> = queue.iter().map(|(d, _)| d.clone()).collect();
    let mut manifests_to_push = Vec::new();
    while let Some((subject, depth)) = queue.pop_front() {
        let referrers = if source_api || source_tags.contains(&fallback_tag(&subject)) {
            source
                .client
                .list_referrers(source.repository, &subject)
                .await?
                .referrers
        } else {
            Vec::new()
        };
        let referrers: Vec<Referrer> = referrers
            .into_iter()
            .filter(|r| depth > 0 || filter.admits(r.artifact_type.as_deref()))
            .filter(|r| seen.insert(r.digest.clone()))
            .collect();
        let suffixes: Vec<&str> = COSIGN_SUFFIXES
            .iter()
            .copied()
            .filter(|suffix| source_tags.contains(&cosign_tag(&subject, suffix)))
            .collect();
        if referrers.is_empty() && suffixes.is_empty() {
            continue;
        }
        let target_tags = match &target_tags {
            Some(tags) => tags,
            None => target_tags.insert(
                target
                    .client
                    .list_tags(target.repository)
                    .await?
                    .into_iter()
                    .collect(),
            ),
        };
        // The image's own `.sig` is copied whole only where the target has none, so its
        // digest stays; otherwise the signing step merges the signatures into the target's.
        let suffixes: Vec<&str> = suffixes
            .into_iter()
            .filter(|suffix| {
                !(*suffix == "sig"
                    && subject == *top
                    && target_tags.contains(&cosign_tag(&subject, suffix)))
            })
            .collect();

        if !referrers.is_empty() {
            let listed = target
                .client
                .list_referrers(target.repository, &subject)
                .await?
                .referrers;
            for referrer in referrers {
                step.found += 1;
                if depth + 1 < MAX_DEPTH {
                    queue.push_back((referrer.digest.clone(), depth + 1));
                }
                if listed.iter().any(|l| l.digest == referrer.digest) {
                    step.present += 1;
                    continue;
                }
                let there = target
                    .client
                    .head_manifest(target.repository, referrer.digest.as_str())
                    .await?
                    .is_some();
                let (action, manifest, descriptor) = if there {
                    (ReferrerAction::List, None, referrer)
                } else {
                    let raw = source
                        .client
                        .get_manifest(source.repository, referrer.digest.as_str())
                        .await?;
                    let (declared, descriptor) =
                        describe_referrer(&raw).map_err(|reason| invalid(source, reason))?;
                    if declared.as_ref() != Some(&subject) {
                        step.notes.push(format!(
                            "{} is listed under {} but its subject is {}: not carried",
                            referrer.digest.short(),
                            subject.short(),
                            declared.map_or_else(|| "missing".to_string(), |d| d.to_string())
                        ));
                        step.found -= 1;
                        continue;
                    }
                    manifests_to_push.push(raw.clone());
                    (ReferrerAction::Push, Some(raw), descriptor)
                };
                step.referrers.push(ReferrerStep {
                    subject: subject.clone(),
                    digest: descriptor.digest.clone(),
                    artifact_type: descriptor.artifact_type.clone(),
                    action,
                    descriptor,
                    manifest,
                });
            }
        }

        for suffix in suffixes {
            let tag = cosign_tag(&subject, suffix);
            let raw = source.client.get_manifest(source.repository, &tag).await?;
            if depth == 0 && !filter.admits(first_layer_type(&raw).as_deref()) {
                continue;
            }
            step.found += 1;
            if target_tags.contains(&tag) {
                let current = target.client.head_manifest(target.repository, &tag).await?;
                if current.as_ref().map(|h| &h.digest) != Some(&raw.digest) {
                    step.notes.push(format!(
                        "{}:{tag} differs from the source's and is kept as it is",
                        target.repository
                    ));
                }
                step.present += 1;
                continue;
            }
            manifests_to_push.push(raw.clone());
            step.tags.push(AttachedTagStep {
                tag,
                digest: raw.digest.clone(),
                manifest: raw,
            });
        }
    }

    let mut planned: HashSet<Digest> = image_blobs.clone();
    let mut wanted = Vec::new();
    for raw in &manifests_to_push {
        match manifest::parse(&raw.media_type, &raw.bytes) {
            Ok(Parsed::Image(parts)) => wanted.extend(
                parts
                    .blobs()
                    .filter(|b| planned.insert(b.digest.clone()))
                    .cloned(),
            ),
            Ok(Parsed::Index(_)) => {
                return Err(EngineError::Input(format!(
                    "attachment {} is an index, which gantry does not carry yet",
                    raw.digest.short()
                )))
            }
            Err(reason) => return Err(invalid(source, reason).into()),
        }
    }
    step.blobs = stream::iter(wanted)
        .map(|blob| blob_step(target.client, target.repository, blob, same_registry))
        .buffered(PLAN_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(step)
}

/// Writes the planned attachments (their blobs are already in): each referrer manifest by
/// digest, then the fallback index of each subject whose registry did not index them, then
/// the cosign tags, none of which may exist by now.
pub(crate) async fn apply(target: Side<'_>, step: &AttachmentStep) -> Result<(), EngineError> {
    let mut unindexed: Vec<(&Digest, Vec<Referrer>)> = Vec::new();
    for referrer in &step.referrers {
        let indexed = match &referrer.manifest {
            Some(raw) => target
                .client
                .put_manifest_answer(target.repository, raw.digest.as_str(), raw)
                .await?
                .is_some_and(|subject| subject == referrer.subject.as_str()),
            None => false,
        };
        if indexed {
            continue;
        }
        match unindexed.iter_mut().find(|(s, _)| **s == referrer.subject) {
            Some((_, list)) => list.push(referrer.descriptor.clone()),
            None => unindexed.push((&referrer.subject, vec![referrer.descriptor.clone()])),
        }
    }
    for (subject, descriptors) in unindexed {
        // A registry with the API lists what it holds by itself.
        if target
            .client
            .has_referrers_api(target.repository, subject)
            .await?
        {
            continue;
        }
        target
            .client
            .add_to_fallback_index(target.repository, subject, &descriptors)
            .await?;
    }
    for tag in &step.tags {
        if let Some(head) = target
            .client
            .head_manifest(target.repository, &tag.tag)
            .await?
        {
            if head.digest != tag.digest {
                return Err(EngineError::Refused(format!(
                    "{}:{} appeared while this promotion ran (as {}); no image tag was written",
                    target.repository, tag.tag, head.digest
                )));
            }
            continue;
        }
        target
            .client
            .put_manifest(target.repository, &tag.tag, &tag.manifest)
            .await?;
    }
    Ok(())
}

/// The media type of a manifest's first layer: what a cosign tag holds (`text/spdx+json`
/// in `.sbom`, `application/vnd.dsse.envelope.v1+json` in `.att`), its artifact type.
fn first_layer_type(raw: &RawManifest) -> Option<String> {
    match manifest::parse(&raw.media_type, &raw.bytes) {
        Ok(Parsed::Image(parts)) => parts.layers.first().map(|l| l.media_type.clone()),
        _ => None,
    }
}

/// cosign's tag for what is attached to `digest`: `sha256-<hex>.<suffix>`.
pub fn cosign_tag(digest: &Digest, suffix: &str) -> String {
    format!("sha256-{}.{suffix}", digest.hex())
}

fn invalid(side: Side<'_>, reason: String) -> RegistryError {
    RegistryError::Invalid {
        registry: side.client.host().to_string(),
        what: format!("attachment in {}", side.repository),
        reason,
    }
}
