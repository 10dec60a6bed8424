//! Planning a promotion: what the target already has, what to copy, mount or skip, which tags move.

use std::collections::HashSet;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::{Engine, EngineError};
use crate::config::{Environment, Service};
use crate::domain::{human_bytes, media, Digest};
use crate::registry::manifest::{self, Parsed};
use crate::registry::RawManifest;

/// HEAD requests in flight while planning.
const PLAN_CONCURRENCY: usize = 8;

/// The source image, pinned: its immutable tag and the exact manifest bytes.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub tag: String,
    pub manifest: RawManifest,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub service: String,
    pub from: String,
    pub to: String,
    /// `host/repository` in the source environment.
    pub source: String,
    pub target: String,
    pub tag: String,
    pub digest: Digest,
    pub media_type: String,
    pub platforms: Vec<String>,
    /// Child manifests first, the top manifest last: the order they are pushed in.
    pub manifests: Vec<ManifestStep>,
    pub blobs: Vec<BlobStep>,
    pub tags: Vec<TagStep>,
    /// Signatures carried from the source and added (`crate::signing`).
    pub signatures: crate::signing::SignatureStep,
    /// Referrers and cosign attachments carried with the image.
    pub attachments: super::attachments::AttachmentStep,
    /// Why the promotion must not happen, if a rule forbids it.
    pub refusal: Option<String>,
    /// What each gate of the target said (empty when it has none, or nothing would change).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<crate::gates::GateResult>,
    #[serde(skip)]
    pub(crate) from_env: String,
    #[serde(skip)]
    pub(crate) source_repository: String,
    #[serde(skip)]
    pub(crate) target_repository: String,
    /// Manifests to push, in `manifests` order (only those with `Push`).
    #[serde(skip)]
    pub(crate) to_push: Vec<RawManifest>,
    #[serde(skip)]
    pub(crate) top: RawManifest,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestStep {
    pub digest: Digest,
    pub media_type: String,
    pub platform: String,
    pub action: ManifestAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestAction {
    Push,
    Present,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlobStep {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub action: BlobAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobAction {
    /// Streamed from the source registry to the target.
    Copy,
    /// Linked from the source repository on the same registry, no bytes moved.
    Mount,
    /// Already in the target repository.
    Present,
    /// A non-distributable layer: registries keep only its URL.
    Foreign,
}

#[derive(Debug, Clone, Serialize)]
pub struct TagStep {
    pub tag: String,
    pub action: TagAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TagAction {
    Create,
    Unchanged,
    Move {
        from: Digest,
    },
    /// The immutable tag points elsewhere: the promotion is refused.
    Conflict {
        current: Digest,
    },
}

impl Plan {
    /// A plan that only describes a promotion: the caller fills in its steps. It holds no
    /// manifest bytes, so it can be shown (the console's tests draw it) but never carried
    /// out; the engine executes only plans it built itself.
    pub fn outline(
        service: &str,
        from: &str,
        to: &str,
        source: &str,
        target: &str,
        tag: &str,
        digest: Digest,
    ) -> Plan {
        let top = RawManifest {
            digest: digest.clone(),
            media_type: media::OCI_INDEX.to_string(),
            bytes: Default::default(),
        };
        Plan {
            service: service.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            source: source.to_string(),
            target: target.to_string(),
            tag: tag.to_string(),
            digest,
            media_type: top.media_type.clone(),
            platforms: Vec::new(),
            manifests: Vec::new(),
            blobs: Vec::new(),
            tags: Vec::new(),
            signatures: Default::default(),
            attachments: Default::default(),
            refusal: None,
            gates: Vec::new(),
            from_env: from.to_string(),
            source_repository: String::new(),
            target_repository: String::new(),
            to_push: Vec::new(),
            top,
        }
    }

    /// The image's blobs and its attachments'.
    fn all_blobs(&self) -> impl Iterator<Item = &BlobStep> {
        self.blobs.iter().chain(self.attachments.blobs.iter())
    }

    pub fn bytes_to_transfer(&self) -> u64 {
        self.all_blobs()
            .filter(|b| b.action == BlobAction::Copy)
            .map(|b| b.size)
            .sum()
    }

    pub fn blobs_to_transfer(&self) -> u64 {
        self.all_blobs()
            .filter(|b| matches!(b.action, BlobAction::Copy | BlobAction::Mount))
            .count() as u64
    }

    fn count(&self, action: BlobAction) -> usize {
        self.all_blobs().filter(|b| b.action == action).count()
    }

    /// True when the target already has everything and no tag moves.
    pub fn is_noop(&self) -> bool {
        self.blobs_to_transfer() == 0
            && self
                .manifests
                .iter()
                .all(|m| m.action == ManifestAction::Present)
            && self.tags.iter().all(|t| t.action == TagAction::Unchanged)
            && !self.signatures.writes()
            && !self.attachments.writes()
    }

    /// One line for logs and the CLI.
    pub fn summary(&self, executed: bool) -> String {
        if self.is_noop() {
            return format!(
                "{}:{} already in {} as {}",
                self.service,
                self.tag,
                self.to,
                self.digest.short()
            );
        }
        let verb = if executed {
            "promoted"
        } else {
            "would promote"
        };
        let signatures = [self.signatures.describe(), self.attachments.describe()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        format!(
            "{verb} {}:{} {} -> {} ({}): {} blobs copied ({}), {} mounted, {} present; tags {}{}{}",
            self.service,
            self.tag,
            self.from,
            self.to,
            self.digest.short(),
            self.count(BlobAction::Copy),
            human_bytes(self.bytes_to_transfer()),
            self.count(BlobAction::Mount),
            self.count(BlobAction::Present),
            self.tags
                .iter()
                .map(|t| t.tag.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if signatures.is_empty() { "" } else { "; " },
            signatures
        )
    }
}

pub(crate) async fn build(
    engine: &Engine,
    service: &Service,
    source_env: &Environment,
    target_env: &Environment,
    resolved: Resolved,
) -> Result<Plan, EngineError> {
    let mut plan = build_image(engine, service, source_env, target_env, resolved).await?;
    // Planned at once with the image, the attachments may list a blob the image copies
    // too: it is copied once, with the image.
    let image_blobs: HashSet<Digest> = plan.blobs.iter().map(|b| b.digest.clone()).collect();
    plan.attachments
        .blobs
        .retain(|blob| !image_blobs.contains(&blob.digest));
    Ok(plan)
}

/// The plan: tags, manifests, blobs, signatures and attachments, in as few dependent
/// round trips as they allow.
async fn build_image(
    engine: &Engine,
    service: &Service,
    source_env: &Environment,
    target_env: &Environment,
    resolved: Resolved,
) -> Result<Plan, EngineError> {
    let target = engine.client(&target_env.name)?;
    let source = engine.client(&source_env.name)?;
    let source_repository = source_env.repository(service);
    let target_repository = target_env.repository(service);
    let digest = resolved.manifest.digest.clone();
    let top = resolved.manifest;

    let mut plan = Plan {
        service: service.name.clone(),
        from: source_env.name.clone(),
        to: target_env.name.clone(),
        source: source_env.image_name(service),
        target: target_env.image_name(service),
        tag: resolved.tag.clone(),
        digest: digest.clone(),
        media_type: top.media_type.clone(),
        platforms: Vec::new(),
        manifests: Vec::new(),
        blobs: Vec::new(),
        tags: Vec::new(),
        signatures: Default::default(),
        attachments: Default::default(),
        refusal: None,
        gates: Vec::new(),
        from_env: source_env.name.clone(),
        source_repository: source_repository.clone(),
        target_repository: target_repository.clone(),
        to_push: Vec::new(),
        top: top.clone(),
    };

    let parsed = manifest::parse(&top.media_type, &top.bytes).map_err(|reason| {
        crate::registry::RegistryError::Invalid {
            registry: source.host().to_string(),
            what: format!("manifest {}", digest.short()),
            reason,
        }
    })?;
    if let Parsed::Index(children) = &parsed {
        plan.platforms = children.iter().map(|c| c.platform.clone()).collect();
    }

    let copy = &engine.config().copy;
    let filter = super::attachments::AttachmentFilter {
        enabled: copy.referrers,
        artifact_types: copy.artifact_types.clone(),
    };
    let source_side = super::attachments::Side {
        client: source,
        repository: &source_repository,
    };
    let target_side = super::attachments::Side {
        client: target,
        repository: &target_repository,
    };
    // Everything the target holds of the image, and the source's tag list (what is
    // attached, whether it is signed), asked at once. The immutable tag decides: if it
    // points elsewhere nothing else matters, but reading the rest meanwhile costs nothing
    // in time, where asking after it would cost a round trip per image.
    let mutable = target_env.mutable_tag.as_deref();
    let (existing, mutable_head, top_head, source_facts) = tokio::try_join!(
        async {
            target
                .head_manifest(&target_repository, &resolved.tag)
                .await
                .map_err(EngineError::from)
        },
        async {
            match mutable {
                Some(tag) => target
                    .head_manifest(&target_repository, tag)
                    .await
                    .map_err(EngineError::from),
                None => Ok(None),
            }
        },
        async {
            target
                .head_manifest(&target_repository, digest.as_str())
                .await
                .map_err(EngineError::from)
        },
        super::attachments::source_facts(source_side, &digest, &filter),
    )?;
    match &existing {
        Some(head) if head.digest != digest => {
            plan.refusal = Some(format!(
                "{}:{} already exists in {} with digest {} but the image being promoted is {}; immutable tags are never moved",
                target_env.image_name(service),
                resolved.tag,
                target_env.name,
                head.digest,
                digest
            ));
            plan.tags.push(TagStep {
                tag: resolved.tag.clone(),
                action: TagAction::Conflict {
                    current: head.digest.clone(),
                },
            });
            return Ok(plan);
        }
        Some(_) => plan.tags.push(TagStep {
            tag: resolved.tag.clone(),
            action: TagAction::Unchanged,
        }),
        None => plan.tags.push(TagStep {
            tag: resolved.tag.clone(),
            action: TagAction::Create,
        }),
    }
    if let Some(mutable) = mutable {
        let action = match mutable_head {
            None => TagAction::Create,
            Some(head) if head.digest == digest => TagAction::Unchanged,
            Some(head) => TagAction::Move { from: head.digest },
        };
        plan.tags.push(TagStep {
            tag: mutable.to_string(),
            action,
        });
    }

    // A manifest the registry accepted has all its blobs and children: no need to walk it.
    let top_present = existing.is_some() || top_head.is_some();
    let top_step = ManifestStep {
        digest: digest.clone(),
        media_type: top.media_type.clone(),
        platform: match &parsed {
            Parsed::Index(_) => "index".into(),
            Parsed::Image(_) => "image".into(),
        },
        action: if top_present {
            ManifestAction::Present
        } else {
            ManifestAction::Push
        },
    };
    let (children, own_blobs): (Vec<Digest>, HashSet<Digest>) = match &parsed {
        Parsed::Index(children) => (
            children.iter().map(|c| c.digest.clone()).collect(),
            HashSet::new(),
        ),
        Parsed::Image(parts) => (
            Vec::new(),
            parts.blobs().map(|b| b.digest.clone()).collect(),
        ),
    };
    let same_registry = source_env.registry == target_env.registry;
    // Then, at once: signatures, attachments, and what of the image the target lacks.
    let (signatures, attachments, walked) = tokio::join!(
        engine.plan_signatures(
            service,
            (source, &source_repository),
            target_env,
            (target, &target_repository),
            &digest,
            source_facts.as_ref().map(|facts| &facts.tags),
        ),
        super::attachments::plan(
            source_side,
            target_side,
            source_facts.as_ref(),
            &digest,
            &children,
            &own_blobs,
            same_registry,
            &filter,
        ),
        async {
            if top_present {
                Ok(None)
            } else {
                walk(source_side, target_side, parsed, same_registry)
                    .await
                    .map(Some)
            }
        },
    );
    plan.signatures = signatures?;
    plan.attachments = attachments?;
    match walked? {
        None => plan.manifests.push(top_step),
        Some(walked) => {
            plan.manifests = walked.manifests;
            plan.manifests.push(top_step);
            plan.to_push = walked.to_push;
            plan.to_push.push(top.clone());
            plan.blobs = walked.blobs;
        }
    }
    Ok(plan)
}

/// What of an image the target lacks: its child manifests (in index order, the manifests
/// to push among them) and its blobs.
struct Walked {
    manifests: Vec<ManifestStep>,
    to_push: Vec<RawManifest>,
    blobs: Vec<BlobStep>,
}

/// Walks an image the target does not have: each child manifest (HEAD in the target, GET
/// from the source if missing), then each blob of what is pushed.
async fn walk(
    source_side: super::attachments::Side<'_>,
    target_side: super::attachments::Side<'_>,
    parsed: Parsed,
    same_registry: bool,
) -> Result<Walked, EngineError> {
    let (source, source_repository) = (source_side.client, source_side.repository);
    let (target, target_repository) = (target_side.client, target_side.repository);
    let mut walked = Walked {
        manifests: Vec::new(),
        to_push: Vec::new(),
        blobs: Vec::new(),
    };
    let mut images = Vec::new();
    match parsed {
        Parsed::Image(parts) => images.push(parts),
        Parsed::Index(children) => {
            let checked: Vec<_> = stream::iter(children)
                .map(|child| async move {
                    if media::is_index(&child.media_type) {
                        return Err(EngineError::Input(format!(
                            "{} is an index nested in an index, which gantry does not promote yet",
                            child.digest
                        )));
                    }
                    let present = target
                        .head_manifest(target_repository, child.digest.as_str())
                        .await?
                        .is_some();
                    let raw = if present {
                        None
                    } else {
                        Some(
                            source
                                .get_manifest(source_repository, child.digest.as_str())
                                .await?,
                        )
                    };
                    Ok::<_, EngineError>((child, raw))
                })
                .buffered(PLAN_CONCURRENCY)
                .try_collect()
                .await?;
            for (child, raw) in checked {
                let action = match raw {
                    Some(raw) => {
                        let parts = match manifest::parse(&raw.media_type, &raw.bytes) {
                            Ok(Parsed::Image(parts)) => parts,
                            Ok(Parsed::Index(_)) => {
                                return Err(EngineError::Input(format!(
                                    "{} is an index nested in an index, which gantry does not promote yet",
                                    child.digest
                                )))
                            }
                            Err(reason) => {
                                return Err(crate::registry::RegistryError::Invalid {
                                    registry: source.host().to_string(),
                                    what: format!("manifest {}", child.digest.short()),
                                    reason,
                                }
                                .into())
                            }
                        };
                        images.push(parts);
                        walked.to_push.push(raw);
                        ManifestAction::Push
                    }
                    None => ManifestAction::Present,
                };
                walked.manifests.push(ManifestStep {
                    digest: child.digest,
                    media_type: child.media_type,
                    platform: child.platform,
                    action,
                });
            }
        }
    }

    let mut seen = HashSet::new();
    let wanted: Vec<_> = images
        .iter()
        .flat_map(|image| image.blobs())
        .filter(|blob| seen.insert(blob.digest.clone()))
        .cloned()
        .collect();
    walked.blobs = stream::iter(wanted)
        .map(|blob| blob_step(target, target_repository, blob, same_registry))
        .buffered(PLAN_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(walked)
}

/// What to do with one blob the target needs: skip it if there, else mount or copy it.
pub(crate) async fn blob_step(
    target: &crate::registry::RegistryClient,
    target_repository: &str,
    blob: manifest::Blob,
    same_registry: bool,
) -> Result<BlobStep, EngineError> {
    let action = if media::is_foreign_layer(&blob.media_type) {
        BlobAction::Foreign
    } else if target.blob_exists(target_repository, &blob.digest).await? {
        BlobAction::Present
    } else if same_registry {
        BlobAction::Mount
    } else {
        BlobAction::Copy
    };
    Ok(BlobStep {
        digest: blob.digest,
        size: blob.size,
        media_type: blob.media_type,
        action,
    })
}
