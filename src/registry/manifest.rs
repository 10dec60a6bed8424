//! Reading manifests: media type, children of an index, blobs of an image, platforms.

use oci_client::manifest::{ImageIndexEntry, OciDescriptor, OciImageIndex, OciImageManifest};
use serde::Deserialize;

use crate::domain::{media, Digest};

/// `GET /v2/<name>/tags/list`; Distribution answers `"tags": null` for an empty repository.
#[derive(Debug, Deserialize)]
pub struct TagList {
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// The distribution spec's error body.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
    #[serde(default)]
    schema_version: Option<u32>,
}

/// The manifest's media type: the Content-Type when it is one of the four we handle,
/// else the `mediaType` in the body, else inferred from the shape (an OCI index may omit it).
pub fn media_type_of(content_type: Option<&str>, bytes: &[u8]) -> Result<String, String> {
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| format!("manifest is not valid JSON: {e}"))?;
    if probe.schema_version != Some(2) {
        return Err(format!(
            "unsupported manifest schemaVersion {} (only 2 is supported)",
            probe
                .schema_version
                .map_or_else(|| "missing".to_string(), |v| v.to_string())
        ));
    }
    let known = |t: &str| media::is_index(t) || media::is_manifest(t);
    if let Some(declared) = probe.media_type.as_deref() {
        if !known(declared) {
            return Err(format!("unsupported manifest media type `{declared}`"));
        }
        if let Some(header) = content_type.filter(|h| known(h)) {
            if header != declared {
                return Err(format!(
                    "Content-Type `{header}` contradicts the manifest's mediaType `{declared}`"
                ));
            }
        }
        return Ok(declared.to_string());
    }
    if let Some(header) = content_type.filter(|h| known(h)) {
        return Ok(header.to_string());
    }
    match (probe.manifests.is_some(), probe.layers.is_some()) {
        (true, false) => Ok(media::OCI_INDEX.to_string()),
        (false, true) => Ok(media::OCI_MANIFEST.to_string()),
        _ => Err("cannot tell whether this is an image manifest or an index".into()),
    }
}

/// A manifest parsed just enough to walk it.
#[derive(Debug, Clone)]
pub enum Parsed {
    Index(Vec<Child>),
    Image(ImageParts),
}

/// A manifest an index points at.
#[derive(Debug, Clone)]
pub struct Child {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// `linux/arm64/v8`, or `unknown` for attestations and the like.
    pub platform: String,
}

#[derive(Debug, Clone)]
pub struct ImageParts {
    pub config: Blob,
    pub layers: Vec<Blob>,
}

#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

impl ImageParts {
    /// Config first, then layers: everything a registry needs before the manifest PUT.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }

    pub fn total_size(&self) -> u64 {
        self.blobs().map(|b| b.size).sum()
    }
}

pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Parsed, String> {
    if media::is_index(media_type) {
        let index: OciImageIndex =
            serde_json::from_slice(bytes).map_err(|e| format!("index does not parse: {e}"))?;
        let children = index
            .manifests
            .iter()
            .map(child)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Parsed::Index(children))
    } else if media::is_manifest(media_type) {
        let image: OciImageManifest =
            serde_json::from_slice(bytes).map_err(|e| format!("manifest does not parse: {e}"))?;
        Ok(Parsed::Image(ImageParts {
            config: blob(&image.config)?,
            layers: image.layers.iter().map(blob).collect::<Result<_, _>>()?,
        }))
    } else {
        Err(format!("unsupported manifest media type `{media_type}`"))
    }
}

fn child(entry: &ImageIndexEntry) -> Result<Child, String> {
    if !(media::is_manifest(&entry.media_type) || media::is_index(&entry.media_type)) {
        return Err(format!(
            "index entry {} has unsupported media type `{}`",
            entry.digest, entry.media_type
        ));
    }
    let platform = entry.platform.as_ref().map_or_else(
        || "unknown".to_string(),
        |p| {
            let mut s = format!("{}/{}", p.os, p.architecture);
            if let Some(variant) = &p.variant {
                s.push('/');
                s.push_str(variant);
            }
            s
        },
    );
    Ok(Child {
        digest: entry
            .digest
            .parse()
            .map_err(|e| format!("index entry: {e}"))?,
        media_type: entry.media_type.clone(),
        size: non_negative(entry.size, &entry.digest)?,
        platform,
    })
}

fn blob(descriptor: &OciDescriptor) -> Result<Blob, String> {
    Ok(Blob {
        digest: descriptor
            .digest
            .parse()
            .map_err(|e| format!("descriptor: {e}"))?,
        size: non_negative(descriptor.size, &descriptor.digest)?,
        media_type: descriptor.media_type.clone(),
    })
}

fn non_negative(size: i64, digest: &str) -> Result<u64, String> {
    u64::try_from(size).map_err(|_| format!("descriptor {digest} has a negative size"))
}

/// The parts of an image config that `images` shows.
#[derive(Debug, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":10,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#;

    #[test]
    fn oci_index_without_media_type_is_inferred() {
        assert_eq!(
            media_type_of(None, INDEX.as_bytes()).unwrap(),
            media::OCI_INDEX
        );
        match parse(media::OCI_INDEX, INDEX.as_bytes()).unwrap() {
            Parsed::Index(children) => {
                assert_eq!(children.len(), 1);
                assert_eq!(children[0].platform, "linux/arm64/v8");
                assert_eq!(children[0].size, 10);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn contradictory_and_garbage_manifests_are_refused() {
        let docker = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}"#;
        assert!(media_type_of(Some(media::OCI_MANIFEST), docker.as_bytes()).is_err());
        assert!(media_type_of(None, b"<html>").is_err());
        assert!(media_type_of(None, br#"{"schemaVersion":1}"#).is_err());
        assert!(media_type_of(None, br#"{"schemaVersion":2,"mediaType":"text/plain"}"#).is_err());
    }

    #[test]
    fn empty_tag_list_may_be_null() {
        let list: TagList = serde_json::from_str(r#"{"name":"x","tags":null}"#).unwrap();
        assert_eq!(list.tags, None);
        let list: TagList = serde_json::from_str(r#"{"name":"x","tags":["a"]}"#).unwrap();
        assert_eq!(list.tags.unwrap(), ["a"]);
    }

    #[test]
    fn negative_sizes_are_refused() {
        let bad = INDEX.replace("\"size\":10", "\"size\":-1");
        assert!(parse(media::OCI_INDEX, bad.as_bytes()).is_err());
    }
}
