//! `.sig` manifests in registries: reading them, carrying them with a promotion, adding ours.
//!
//! Everything goes through `RegistryClient`, so signatures get the same credentials,
//! CA roots, retries and exact-bytes handling as the images they sign.

use std::collections::HashSet;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::{
    check_layer, payload, signature_tag, LayerCheck, PublicKey, SigLayer, SigManifest,
    SignatureStatus, SigningError, SigningKey,
};
use crate::domain::Digest;
use crate::registry::{RawManifest, RegistryClient, RegistryError, UploadStart};

/// Payload blobs fetched at once while checking a `.sig`.
const FETCH_CONCURRENCY: usize = 4;

/// What a registry holds under an image's `.sig` tag.
#[derive(Debug, Clone)]
pub enum SigRead {
    Absent,
    /// Something is there, but not a manifest gantry can read as signatures.
    Malformed(String),
    Present(SigManifest),
}

/// Reads `sha256-<hex>.sig` for `digest` in `repository`.
pub async fn read(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
) -> Result<SigRead, RegistryError> {
    let tag = signature_tag(digest);
    match client.get_manifest(repository, &tag).await {
        Ok(raw) => Ok(match SigManifest::parse(&raw.media_type, &raw.bytes) {
            Ok(manifest) => SigRead::Present(manifest),
            Err(reason) => SigRead::Malformed(format!("{repository}:{tag} {reason}")),
        }),
        Err(e) if e.is_not_found() => Ok(SigRead::Absent),
        Err(RegistryError::Invalid { reason, .. }) => Ok(SigRead::Malformed(format!(
            "{repository}:{tag} is not a manifest gantry can read ({reason})"
        ))),
        Err(e) => Err(e),
    }
}

/// Whether gantry adds its own signature in a promotion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignAction {
    /// The target environment does not sign.
    #[default]
    No,
    /// Sign the promoted digest with the configured key.
    Sign,
    /// The configured key's signature is already there (or arrives with the image).
    Present,
}

/// What a promotion does with signatures: the plan's part, shown by dry runs and the console.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SignatureStep {
    /// Signatures the source image carries.
    pub source: usize,
    /// Signatures the target already has for this digest (counted when the promotion may
    /// write to its `.sig`: the source has signatures or the target signs; see `plan`).
    pub present: usize,
    /// Source signatures the target lacks: copied with the image.
    pub carried: usize,
    pub sign: SignAction,
    /// Why the source's signatures are not carried, if they cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip)]
    carry: Vec<SigLayer>,
    #[serde(skip)]
    new: Option<(SigLayer, Bytes)>,
}

impl SignatureStep {
    /// True if the promotion writes to the target's `.sig`.
    pub fn writes(&self) -> bool {
        self.carried > 0 || self.sign == SignAction::Sign
    }

    /// A few words for summaries; empty when nothing happens with signatures.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.carried > 0 {
            parts.push(format!(
                "{} signature{} carried",
                self.carried,
                if self.carried == 1 { "" } else { "s" }
            ));
        }
        match self.sign {
            SignAction::Sign => parts.push("signed".to_string()),
            SignAction::Present => parts.push("already signed".to_string()),
            SignAction::No => {}
        }
        parts.join(", ")
    }
}

/// Plans the signature step of a promotion: which source signatures the target lacks, and
/// whether `signer` (with the target's `host/repository`) has to sign. The signature itself
/// is made here, so carrying out the plan is registry work only.
///
/// `source_tags`, the source repository's tags when the caller has already listed them,
/// spares the reads when nothing can come of them: without a source `.sig` tag there is
/// nothing to carry, and a target that does not sign then gets no signature write, so
/// neither `.sig` is read (`present` stays 0: the target's signatures are not counted).
pub(crate) async fn plan(
    source: &RegistryClient,
    source_repository: &str,
    target: &RegistryClient,
    target_repository: &str,
    digest: &Digest,
    signer: Option<(&SigningKey, &str)>,
    source_tags: Option<&HashSet<String>>,
) -> Result<SignatureStep, SigningError> {
    let source_signed = source_tags.is_none_or(|tags| tags.contains(&signature_tag(digest)));
    if !source_signed && signer.is_none() {
        return Ok(SignatureStep::default());
    }
    let (source_sig, target_sig) = futures_util::future::try_join(
        async {
            if source_signed {
                read(source, source_repository, digest).await
            } else {
                Ok(SigRead::Absent)
            }
        },
        read(target, target_repository, digest),
    )
    .await?;
    let mut step = SignatureStep::default();
    let source_layers = match source_sig {
        SigRead::Present(manifest) => manifest.layers,
        SigRead::Malformed(reason) => {
            // A broken source `.sig` must not block a promotion that does not need it; the
            // signature gate is where a missing signature stops one.
            tracing::warn!("source signatures not carried: {reason}");
            step.note = Some(format!("source signatures not carried: {reason}"));
            Vec::new()
        }
        SigRead::Absent => Vec::new(),
    };
    let target_layers = match &target_sig {
        SigRead::Present(manifest) => manifest.layers.clone(),
        _ => Vec::new(),
    };
    step.source = source_layers.len();
    step.present = target_layers.len();
    step.carry = source_layers
        .into_iter()
        .filter(|layer| !target_layers.iter().any(|t| t.same_as(layer)))
        .collect();
    step.carried = step.carry.len();

    if let Some((key, docker_reference)) = signer {
        let already = signed_by(
            key.public(),
            digest,
            target,
            target_repository,
            &target_layers,
        )
        .await?
            || signed_by(key.public(), digest, source, source_repository, &step.carry).await?;
        if already {
            step.sign = SignAction::Present;
        } else {
            let payload = payload(digest, docker_reference);
            let signature = key.sign(&payload)?;
            step.new = Some((SigLayer::new(&payload, signature), Bytes::from(payload)));
            step.sign = SignAction::Sign;
        }
    }
    if step.writes() {
        if let SigRead::Malformed(reason) = target_sig {
            return Err(SigningError::Refused(format!(
                "{reason}; gantry will not overwrite it with signatures"
            )));
        }
    }
    Ok(step)
}

/// True if one of `layers` is a valid signature of `digest` by `key`.
async fn signed_by(
    key: &PublicKey,
    digest: &Digest,
    client: &RegistryClient,
    repository: &str,
    layers: &[SigLayer],
) -> Result<bool, RegistryError> {
    for layer in layers {
        if let Some(payload) = fetch_payload(client, repository, layer).await? {
            if !check_layer(layer, &payload, digest, std::slice::from_ref(key))
                .valid_for
                .is_empty()
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A layer's payload, or `None` if the registry lacks it or it does not match its digest.
async fn fetch_payload(
    client: &RegistryClient,
    repository: &str,
    layer: &SigLayer,
) -> Result<Option<Bytes>, RegistryError> {
    match client.get_blob_bytes(repository, &layer.digest).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() || matches!(e, RegistryError::DigestMismatch { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Carries out a signature step after the image's manifests are in the target and before
/// its tags are written, so a tagged image always has its signatures. The target's current
/// `.sig` is read again and added to, never replaced: its layers stay byte for byte.
pub(crate) async fn apply(
    source: &RegistryClient,
    source_repository: &str,
    target: &RegistryClient,
    target_repository: &str,
    digest: &Digest,
    step: &SignatureStep,
) -> Result<(), SigningError> {
    if !step.writes() {
        return Ok(());
    }
    let mut manifest = match read(target, target_repository, digest).await? {
        SigRead::Absent => SigManifest::empty(),
        SigRead::Present(manifest) => manifest,
        SigRead::Malformed(reason) => {
            return Err(SigningError::Refused(format!(
                "{reason}; gantry will not overwrite it with signatures"
            )))
        }
    };
    let mut added = false;
    for layer in &step.carry {
        if manifest.add(layer) {
            added = true;
            if !target.blob_exists(target_repository, &layer.digest).await? {
                let bytes = source
                    .get_blob_bytes(source_repository, &layer.digest)
                    .await?;
                put_blob(target, target_repository, &layer.digest, bytes).await?;
            }
        }
    }
    if let Some((layer, payload)) = &step.new {
        if manifest.add(layer) {
            added = true;
            put_blob(target, target_repository, &layer.digest, payload.clone()).await?;
        }
    }
    if !added {
        return Ok(());
    }
    write(target, target_repository, digest, &manifest).await
}

/// Pushes `manifest` (config blob first) as `digest`'s `.sig`.
pub async fn write(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    manifest: &SigManifest,
) -> Result<(), SigningError> {
    let (bytes, config) = manifest.encode();
    let config = Bytes::from(config);
    put_blob(client, repository, &Digest::of(&config), config).await?;
    let raw = RawManifest {
        digest: Digest::of(&bytes),
        media_type: manifest.media_type.clone(),
        bytes: Bytes::from(bytes),
    };
    client
        .put_manifest(repository, &signature_tag(digest), &raw)
        .await?;
    Ok(())
}

/// Uploads a small blob whole, unless the repository has it.
pub async fn put_blob(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    bytes: Bytes,
) -> Result<(), RegistryError> {
    if client.blob_exists(repository, digest).await? {
        return Ok(());
    }
    client
        .with_retries(|| async {
            let location = match client.start_upload(repository, None).await? {
                UploadStart::Mounted => return Ok(()),
                UploadStart::Session(location) => location,
            };
            let result = client
                .put_upload(
                    repository,
                    &location,
                    digest,
                    bytes.len() as u64,
                    reqwest::Body::from(bytes.clone()),
                )
                .await;
            if result.is_err() {
                client.cancel_upload(repository, &location).await;
            }
            result
        })
        .await
}

/// Checks every signature of `digest` in `repository` against `keys`.
pub async fn check(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    keys: &[PublicKey],
) -> Result<(SignatureStatus, Vec<LayerCheck>), RegistryError> {
    let manifest = match read(client, repository, digest).await? {
        SigRead::Absent => return Ok((SignatureStatus::Unsigned, Vec::new())),
        SigRead::Malformed(reason) => return Ok((SignatureStatus::Invalid { reason }, Vec::new())),
        SigRead::Present(manifest) => manifest,
    };
    // Owned layers: borrowed stream items make callers' futures unprovably Send.
    let checks: Vec<LayerCheck> = stream::iter(manifest.layers.clone())
        .map(|layer| async move {
            let check = match client.get_blob_bytes(repository, &layer.digest).await {
                Ok(payload) => check_layer(&layer, &payload, digest, keys),
                Err(e) if e.is_not_found() => missing(&layer, "payload blob is missing"),
                Err(RegistryError::DigestMismatch { .. }) => {
                    missing(&layer, "payload does not match its digest")
                }
                Err(e) => return Err(e),
            };
            Ok(check)
        })
        .buffered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;
    Ok((SignatureStatus::from_checks(&checks), checks))
}

fn missing(layer: &SigLayer, problem: &str) -> LayerCheck {
    LayerCheck {
        layer: layer.digest.clone(),
        docker_reference: None,
        valid_for: Vec::new(),
        problem: Some(problem.to_string()),
    }
}
