//! Plain types shared by every layer: digests, image selectors, media types, durations,
//! wildcard patterns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub mod duration;
pub mod pattern;
pub mod repo_location;
pub mod suggest;
pub mod trust_env;

/// A file name stem for `key` (a registry host, `host/repository`): its first `max`
/// characters with everything but ASCII letters and digits as `_`, then 12 hex digits of
/// its SHA-256, so two keys that read the same still get two files.
pub fn file_stem(key: &str, max: usize) -> String {
    let readable: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(max)
        .collect();
    format!(
        "{readable}-{}",
        hex::encode(&Sha256::digest(key.as_bytes())[..6])
    )
}

pub use repo_location::RepoLocation;

/// A content digest `sha256:<64 hex>`; other algorithms are refused on purpose,
/// because every registry we promote between speaks sha256 and a digest we cannot
/// recompute is a digest we cannot verify.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    pub fn from_sha256(hasher: Sha256) -> Self {
        Digest(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// `sha256:2b2e927f1a3c` style, for tables.
    pub fn short(&self) -> &str {
        &self.0[..("sha256:".len() + 12)]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a sha256 digest (expected sha256:<64 hex digits>)")]
pub struct BadDigest(pub String);

impl FromStr for Digest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_part = s
            .strip_prefix("sha256:")
            .ok_or_else(|| BadDigest(s.to_string()))?;
        if hex_part.len() == 64
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Digest(s.to_string()))
        } else {
            Err(BadDigest(s.to_string()))
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = BadDigest;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

/// How the user named the image to promote on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSelector {
    /// `service:sha-2b2e927` or any other tag such as `latest`.
    Tag { service: String, tag: String },
    /// `service:2b2e927` or a full 40-hex commit id.
    Commit { service: String, sha: String },
    /// `service@sha256:<hex>`.
    Digest { service: String, digest: Digest },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("`{0}`: expected SERVICE:TAG, SERVICE:GITSHA or SERVICE@sha256:<hex>")]
    Shape(String),
    #[error("`{input}`: {source}")]
    Digest { input: String, source: BadDigest },
    #[error("`{0}`: `{1}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)")]
    Tag(String, String),
}

impl ImageSelector {
    /// Parses `IMAGE`; `tag_prefix` is the immutable tag prefix (`sha-`), used to tell
    /// a tag that happens to be hex from a commit id.
    pub fn parse(input: &str, tag_prefix: &str) -> Result<Self, SelectorError> {
        if let Some((service, digest)) = input.split_once('@') {
            if service.is_empty() {
                return Err(SelectorError::Shape(input.to_string()));
            }
            let digest = digest.parse().map_err(|source| SelectorError::Digest {
                input: input.to_string(),
                source,
            })?;
            return Ok(ImageSelector::Digest {
                service: service.to_string(),
                digest,
            });
        }
        let (service, reference) = input
            .split_once(':')
            .ok_or_else(|| SelectorError::Shape(input.to_string()))?;
        if service.is_empty() || reference.is_empty() {
            return Err(SelectorError::Shape(input.to_string()));
        }
        if !reference.starts_with(tag_prefix) && is_commit_id(reference) {
            return Ok(ImageSelector::Commit {
                service: service.to_string(),
                sha: reference.to_ascii_lowercase(),
            });
        }
        if !is_valid_tag(reference) {
            return Err(SelectorError::Tag(input.to_string(), reference.to_string()));
        }
        Ok(ImageSelector::Tag {
            service: service.to_string(),
            tag: reference.to_string(),
        })
    }

    pub fn service(&self) -> &str {
        match self {
            ImageSelector::Tag { service, .. }
            | ImageSelector::Commit { service, .. }
            | ImageSelector::Digest { service, .. } => service,
        }
    }
}

impl fmt::Display for ImageSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSelector::Tag { service, tag } => write!(f, "{service}:{tag}"),
            ImageSelector::Commit { service, sha } => write!(f, "{service}:{sha}"),
            ImageSelector::Digest { service, digest } => write!(f, "{service}@{digest}"),
        }
    }
}

/// A git commit id as people type it: 4 to 40 hex digits.
pub fn is_commit_id(s: &str) -> bool {
    (4..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The distribution spec's tag grammar: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => {}
        _ => return false,
    }
    s.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Manifest media types gantry reads and writes (the four every copy tool accepts).
pub mod media {
    pub const OCI_MANIFEST: &str = oci_client::manifest::OCI_IMAGE_MEDIA_TYPE;
    pub const OCI_INDEX: &str = oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE;
    pub const DOCKER_MANIFEST: &str = oci_client::manifest::IMAGE_MANIFEST_MEDIA_TYPE;
    pub const DOCKER_LIST: &str = oci_client::manifest::IMAGE_MANIFEST_LIST_MEDIA_TYPE;
    pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_LIST
    }

    pub fn is_manifest(media_type: &str) -> bool {
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
    }

    /// Layers a registry must not redistribute (Windows base layers and the like):
    /// they live at their `urls`, and registries accept manifests without them.
    pub fn is_foreign_layer(media_type: &str) -> bool {
        media_type.contains("foreign") || media_type.contains("nondistributable")
    }
}

/// A span of seconds in its largest unit, as lists show ages: `45s`, `5m`, `3h`, `2d`;
/// `future` for a negative one (a clock behind another).
pub fn human_age(secs: i64) -> String {
    match secs {
        s if s < 0 => "future".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Human-readable byte counts in the units registries and docker print.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "2b2e927f1a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";

    #[test]
    fn selector_forms() {
        assert_eq!(
            ImageSelector::parse("payment-svc:sha-2b2e927", "sha-").unwrap(),
            ImageSelector::Tag {
                service: "payment-svc".into(),
                tag: "sha-2b2e927".into()
            }
        );
        assert_eq!(
            ImageSelector::parse("payment-svc:2B2E927", "sha-").unwrap(),
            ImageSelector::Commit {
                service: "payment-svc".into(),
                sha: "2b2e927".into()
            }
        );
        assert_eq!(
            ImageSelector::parse("payment-svc:latest", "sha-").unwrap(),
            ImageSelector::Tag {
                service: "payment-svc".into(),
                tag: "latest".into()
            }
        );
        let by_digest = ImageSelector::parse(&format!("payment-svc@sha256:{HEX}"), "sha-").unwrap();
        assert!(
            matches!(by_digest, ImageSelector::Digest { ref service, .. } if service == "payment-svc")
        );
    }

    #[test]
    fn selector_rejects_malformed_input() {
        for bad in [
            "payment-svc",
            ":sha-1",
            "svc:",
            "svc@sha256:abc",
            "svc@md5:00",
            "svc:-bad",
            "svc:has/slash",
        ] {
            assert!(ImageSelector::parse(bad, "sha-").is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn digest_checks_shape_and_computes() {
        assert!(format!("sha256:{HEX}").parse::<Digest>().is_ok());
        assert!(format!("sha256:{}", HEX.to_uppercase())
            .parse::<Digest>()
            .is_err());
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn bytes_are_humane() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(200_000_000), "200.0 MB");
    }
}
