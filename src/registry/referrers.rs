//! OCI 1.1 referrers: listing what points at a manifest (its `subject`), through the
//! referrers API where the registry has it and through the referrers tag schema's
//! `sha256-<hex>` index where it has not, and keeping that index up to date on writes.
//!
//! Nothing is guessed: a registry has the API when `GET /v2/<name>/referrers/<digest>`
//! answers 200 with an image index, and a manifest PUT was indexed by the registry when
//! the answer carries `OCI-Subject` (distribution spec v1.1, "Pushing Manifests with
//! Subject"); otherwise the client keeps the fallback tag.

use std::collections::BTreeMap;

use bytes::Bytes;
use reqwest::header::ACCEPT;
use serde::{Deserialize, Serialize};

use super::send::header_str;
use super::{parse_next_link, Access, RawManifest, RegistryClient, RegistryError};
use crate::domain::{media, Digest};

/// Pages of a referrers listing followed at most; a registry that keeps paging is hostile.
const MAX_PAGES: usize = 100;
/// Attempts at adding to a fallback index another writer changes under us.
const INDEX_ATTEMPTS: usize = 3;

/// One referrer as a referrers index lists it: the descriptor of a manifest whose `subject`
/// is the digest asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Where a listing came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferrersSource {
    /// `GET /v2/<name>/referrers/<digest>`.
    Api,
    /// The `sha256-<hex>` tag (the registry has no referrers API).
    FallbackTag,
}

/// The referrers of one subject in one repository.
#[derive(Debug, Clone)]
pub struct Referrers {
    pub source: ReferrersSource,
    pub referrers: Vec<Referrer>,
}

#[derive(Deserialize)]
struct IndexBody {
    #[serde(default)]
    manifests: Vec<Referrer>,
}

/// The referrers tag schema's tag for `subject`: `sha256-<hex>`.
pub fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// What a manifest declares about itself for its referrer descriptor: `artifactType` (or,
/// without one, its config's media type, as the image spec says) and its annotations.
pub fn describe_referrer(manifest: &RawManifest) -> Result<(Option<Digest>, Referrer), String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        #[serde(default)]
        artifact_type: Option<String>,
        #[serde(default)]
        config: Option<ConfigShape>,
        #[serde(default)]
        subject: Option<SubjectShape>,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ConfigShape {
        media_type: String,
    }
    #[derive(Deserialize)]
    struct SubjectShape {
        digest: Digest,
    }
    let shape: Shape = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| format!("manifest {} does not parse: {e}", manifest.digest.short()))?;
    let artifact_type = shape.artifact_type.or(shape.config.map(|c| c.media_type));
    Ok((
        shape.subject.map(|s| s.digest),
        Referrer {
            media_type: manifest.media_type.clone(),
            digest: manifest.digest.clone(),
            size: manifest.bytes.len() as u64,
            artifact_type,
            annotations: shape.annotations,
        },
    ))
}

impl RegistryClient {
    /// Every referrer of `subject` in `repository`: through the API when the registry
    /// answers it with an index, else from the fallback tag (none if that tag is absent).
    pub async fn list_referrers(
        &self,
        repository: &str,
        subject: &Digest,
    ) -> Result<Referrers, RegistryError> {
        if let Some(referrers) = self.referrers_from_api(repository, subject).await? {
            return Ok(Referrers {
                source: ReferrersSource::Api,
                referrers,
            });
        }
        let referrers = match self.get_manifest(repository, &fallback_tag(subject)).await {
            Ok(index) => self.index_entries(repository, &index)?,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Referrers {
            source: ReferrersSource::FallbackTag,
            referrers,
        })
    }

    /// Whether the registry has the referrers API, asked of one repository and subject;
    /// the first definite answer is kept for the registry. Callers asking while a probe is
    /// under way wait for its answer instead of sending their own; a probe that fails
    /// leaves the question open for the next caller.
    pub async fn has_referrers_api(
        &self,
        repository: &str,
        subject: &Digest,
    ) -> Result<bool, RegistryError> {
        self.referrers_api
            .get_or_try_init(|| async {
                Ok(self
                    .referrers_from_api(repository, subject)
                    .await?
                    .is_some())
            })
            .await
            .copied()
    }

    /// `None` when the registry has no referrers API (its answer is 404).
    async fn referrers_from_api(
        &self,
        repository: &str,
        subject: &Digest,
    ) -> Result<Option<Vec<Referrer>>, RegistryError> {
        if self.referrers_api.get() == Some(&false) {
            return Ok(None);
        }
        let what = format!("referrers of {repository}@{}", subject.short());
        let mut referrers = Vec::new();
        let mut next = Some(format!("/v2/{repository}/referrers/{subject}"));
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(self.invalid(&what, format!("more than {MAX_PAGES} pages")));
            }
            let url = self.url(&path);
            let response = self
                .send(repository, Access::Pull, &what, &|http| {
                    http.get(&url).header(ACCEPT, media::OCI_INDEX)
                })
                .await?;
            match response.status().as_u16() {
                200 => {}
                // The API answers any subject, known or not, with an index: a 404 means the
                // registry has no such endpoint (Distribution 2.8's router answers it).
                404 if pages == 1 => {
                    let _ = self.referrers_api.set(false);
                    return Ok(None);
                }
                _ => return Err(self.status_error(&what, response).await),
            }
            let link = header_str(response.headers(), "link").and_then(parse_next_link);
            let body = self
                .read_capped(response, super::MAX_MANIFEST_BYTES, &what)
                .await?;
            let page: IndexBody = serde_json::from_slice(&body)
                .map_err(|e| self.invalid(&what, format!("not an image index: {e}")))?;
            let _ = self.referrers_api.set(true);
            referrers.extend(page.manifests);
            next = link.map(|link| match link.split_once("://") {
                Some((_, rest)) => rest
                    .find('/')
                    .map_or_else(String::new, |i| rest[i..].into()),
                None => link,
            });
            next = next.filter(|p| p.starts_with('/'));
        }
        Ok(Some(referrers))
    }

    fn index_entries(
        &self,
        repository: &str,
        index: &RawManifest,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let what = format!("referrers index {repository}@{}", index.digest.short());
        if !media::is_index(&index.media_type) {
            return Err(self.invalid(&what, format!("is a {}, not an index", index.media_type)));
        }
        let body: IndexBody = serde_json::from_slice(&index.bytes)
            .map_err(|e| self.invalid(&what, format!("does not parse: {e}")))?;
        Ok(body.manifests)
    }

    fn invalid(&self, what: &str, reason: String) -> RegistryError {
        RegistryError::Invalid {
            registry: self.host.clone(),
            what: what.to_string(),
            reason,
        }
    }

    /// PUTs a referrer manifest by digest and makes it listable under `subject`: a
    /// registry that indexed it says so with `OCI-Subject`; for one that did not, the
    /// referrer is added to the fallback tag's index. Returns how it was recorded.
    pub async fn put_referrer(
        &self,
        repository: &str,
        subject: &Digest,
        manifest: &RawManifest,
        descriptor: &Referrer,
    ) -> Result<ReferrersSource, RegistryError> {
        let indexed = self
            .put_manifest_answer(repository, manifest.digest.as_str(), manifest)
            .await?
            .is_some_and(|answered| answered == subject.as_str());
        if indexed {
            return Ok(ReferrersSource::Api);
        }
        self.add_to_fallback_index(repository, subject, std::slice::from_ref(descriptor))
            .await?;
        Ok(ReferrersSource::FallbackTag)
    }

    /// Adds `descriptors` to `subject`'s fallback index (created if absent), keeping every
    /// entry already there as it is. Re-reads after writing, and tries again when another
    /// writer's index replaced ours in between.
    pub async fn add_to_fallback_index(
        &self,
        repository: &str,
        subject: &Digest,
        descriptors: &[Referrer],
    ) -> Result<(), RegistryError> {
        let tag = fallback_tag(subject);
        for _ in 0..INDEX_ATTEMPTS {
            let current = match self.get_manifest(repository, &tag).await {
                Ok(index) => Some(index),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            };
            let entries = match &current {
                Some(index) => self.index_entries(repository, index)?,
                None => Vec::new(),
            };
            let missing: Vec<&Referrer> = descriptors
                .iter()
                .filter(|d| !entries.iter().any(|e| e.digest == d.digest))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            let bytes = match &current {
                Some(index) => append_to_index(&index.bytes, &missing)
                    .map_err(|reason| self.invalid(&format!("{repository}:{tag}"), reason))?,
                None => new_index(&missing),
            };
            let index = RawManifest {
                digest: Digest::of(&bytes),
                media_type: media::OCI_INDEX.to_string(),
                bytes: Bytes::from(bytes),
            };
            self.put_manifest(repository, &tag, &index).await?;
        }
        Err(self.invalid(
            &format!("{repository}:{tag}"),
            format!("changed by another writer {INDEX_ATTEMPTS} times while gantry added to it"),
        ))
    }
}

/// A new referrers index holding `entries`.
fn new_index(entries: &[&Referrer]) -> Vec<u8> {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": entries,
    });
    serde_json::to_vec(&index).unwrap_or_default()
}

/// `index` with `entries` appended to its `manifests`; everything else it holds (other
/// writers' fields, annotations) is kept.
fn append_to_index(index: &[u8], entries: &[&Referrer]) -> Result<Vec<u8>, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(index).map_err(|e| format!("does not parse: {e}"))?;
    let manifests = value
        .get_mut("manifests")
        .and_then(|m| m.as_array_mut())
        .ok_or("has no manifests list")?;
    for entry in entries {
        manifests.push(serde_json::to_value(entry).map_err(|e| e.to_string())?);
    }
    serde_json::to_vec(&value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referrer(hex_digit: char) -> Referrer {
        Referrer {
            media_type: media::OCI_MANIFEST.into(),
            digest: format!("sha256:{}", hex_digit.to_string().repeat(64))
                .parse()
                .expect("digest"),
            size: 10,
            artifact_type: Some("application/spdx+json".into()),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn appending_keeps_what_another_writer_put_in_the_index() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":3,"x-other":"kept"}],"annotations":{"a":"b"}}"#;
        let grown = append_to_index(index, &[&referrer('a')]).expect("append");
        let value: serde_json::Value = serde_json::from_slice(&grown).expect("json");
        assert_eq!(value["annotations"]["a"], "b");
        assert_eq!(value["manifests"][0]["x-other"], "kept");
        assert_eq!(
            value["manifests"][1]["artifactType"],
            "application/spdx+json"
        );
        assert!(append_to_index(br#"{"schemaVersion":2}"#, &[&referrer('a')]).is_err());
    }

    #[test]
    fn a_referrer_without_artifact_type_is_typed_by_its_config() {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.example.sbom","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","size":7},"annotations":{"k":"v"}}"#;
        let manifest = RawManifest {
            digest: Digest::of(bytes),
            media_type: media::OCI_MANIFEST.into(),
            bytes: Bytes::from_static(bytes),
        };
        let (subject, described) = describe_referrer(&manifest).expect("describe");
        assert_eq!(
            subject.map(|s| s.to_string()),
            Some(format!("sha256:{}", "3".repeat(64)))
        );
        assert_eq!(
            described.artifact_type.as_deref(),
            Some("application/vnd.example.sbom")
        );
        assert_eq!(described.annotations["k"], "v");
        assert_eq!(described.size, bytes.len() as u64);
    }
}
