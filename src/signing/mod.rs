//! Cosign-compatible image signatures: keys, simplesigning payloads, `.sig` manifests, verification.
//!
//! The cryptography is sigstore's: cosign's encrypted key format, key generation, ECDSA
//! signing and verification. The registry round trips are not: `.sig` manifests and their
//! blobs go through gantry's `RegistryClient` (see `remote`), because sigstore's client
//! would be a second HTTP path with its own credentials (no Docker credential helpers,
//! identity tokens or `ca_file`), no retries, and a `push_signature` that replaces the
//! `.sig` manifest instead of adding to it. What has to match cosign is the format:
//!
//! - tag `sha256-<hex>.sig` in the image's repository;
//! - an image manifest whose layers are `application/vnd.dev.cosign.simplesigning.v1+json`
//!   payloads, each annotated `dev.cosignproject.cosign/signature` with the base64 signature
//!   over the payload's exact bytes;
//! - the payload's `critical.image.docker-manifest-digest` is the signed image's digest.

mod keys;
mod manifest;
pub mod remote;
mod verify;

use std::path::PathBuf;

pub use crate::config::keyfiles::{check_private_key_file, DEFAULT_PASSWORD_ENV};
use crate::domain::Digest;

pub use keys::{generate_key_pair, KeyProblem, PublicKey, SigningKey};
pub use manifest::{payload, SigLayer, SigManifest};
pub use remote::SignatureStep;
pub use verify::{check_layer, LayerCheck, SignatureReport, SignatureStatus};

/// The media type of a cosign signature payload.
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of every cosign image signature.
pub const CRITICAL_TYPE: &str = "cosign container image signature";

pub(crate) const OCI_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const DOCKER_CONFIG_MEDIA_TYPE: &str = "application/vnd.docker.container.image.v1+json";
/// cosign's signature images carry go-containerregistry's zero time.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The tag cosign stores an image's signatures under.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A key file that cannot be read, decrypted or used: a configuration problem.
    #[error("{}: {reason}", .path.display())]
    Key { path: PathBuf, reason: String },
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// What is in the registry forbids the write (a `.sig` gantry cannot read and would
    /// otherwise overwrite).
    #[error("{0}")]
    Refused(String),
}

#[cfg(test)]
mod tests;
