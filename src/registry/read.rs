//! Reading from a registry: ping, manifests by tag or digest (HEAD and GET, checked
//! against their digest) and blobs (existence, a stream, or a small one whole).

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::send::{header_str, strip_params};
use super::{
    manifest, Access, ManifestHead, RawManifest, RegistryClient, RegistryError, MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
};
use crate::domain::{media, Digest};

impl RegistryClient {
    /// Checks the registry answers at all (and that our credentials work, if it wants some).
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let url = self.url("/v2/");
        let response = self
            .with_retries(|| async {
                self.http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| self.transport_error("GET /v2/", &e))
            })
            .await?;
        match response.status().as_u16() {
            200 | 401 => Ok(()),
            _ => Err(self.status_error("/v2/", response).await),
        }
    }

    /// HEAD a manifest by tag or digest; `None` if the registry does not have it.
    pub async fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let what = format!("manifest {repository}:{reference}");
        let response = self
            .send(repository, Access::Pull, &what, &|http| {
                http.head(&url).header(ACCEPT, media::ACCEPT)
            })
            .await?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.status_error(&what, response).await),
        }
        let digest = header_str(response.headers(), "docker-content-digest")
            .and_then(|d| d.parse::<Digest>().ok());
        let media_type = header_str(response.headers(), CONTENT_TYPE.as_str())
            .map(strip_params)
            .filter(|t| media::is_index(t) || media::is_manifest(t));
        match (digest, media_type) {
            (Some(digest), Some(media_type)) => Ok(Some(ManifestHead { digest, media_type })),
            // Registries that omit the headers on HEAD: fall back to reading it.
            _ => match self.get_manifest(repository, reference).await {
                Ok(m) => Ok(Some(ManifestHead {
                    digest: m.digest,
                    media_type: m.media_type,
                })),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// GET a manifest's exact bytes, verifying them against the digest asked for
    /// (or the one the registry announces).
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<RawManifest, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let what = format!("manifest {repository}:{reference}");
        self.with_retries(|| async {
            let response = self
                .send_once(repository, Access::Pull, &what, &|http| {
                    http.get(&url).header(ACCEPT, media::ACCEPT)
                })
                .await?;
            match response.status().as_u16() {
                200 => {}
                404 => return Err(self.not_found(repository, format!("manifest `{reference}`"))),
                _ => return Err(self.status_error(&what, response).await),
            }
            let announced =
                header_str(response.headers(), "docker-content-digest").map(str::to_string);
            let content_type =
                header_str(response.headers(), CONTENT_TYPE.as_str()).map(strip_params);
            let bytes = self
                .read_capped(response, MAX_MANIFEST_BYTES, &what)
                .await?;
            let digest = Digest::of(&bytes);
            let expected = reference
                .parse::<Digest>()
                .ok()
                .map(|d| d.to_string())
                .or(announced);
            if let Some(expected) = expected {
                if expected != digest.as_str() {
                    return Err(RegistryError::DigestMismatch {
                        registry: self.host.clone(),
                        repository: repository.to_string(),
                        what: format!("manifest `{reference}`"),
                        expected,
                        actual: digest.to_string(),
                    });
                }
            }
            let media_type =
                manifest::media_type_of(content_type.as_deref(), &bytes).map_err(|reason| {
                    RegistryError::Invalid {
                        registry: self.host.clone(),
                        what: what.clone(),
                        reason,
                    }
                })?;
            Ok(RawManifest {
                digest,
                media_type,
                bytes,
            })
        })
        .await
    }

    pub async fn blob_exists(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let what = format!("blob {repository}@{}", digest.short());
        let response = self
            .send(repository, Access::Pull, &what, &|http| http.head(&url))
            .await?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Starts a blob GET; the caller streams the body. Follows redirects (S3 and the like).
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let what = format!("blob {repository}@{}", digest.short());
        let response = self
            .send(repository, Access::Pull, &what, &|http| http.get(&url))
            .await?;
        match response.status().as_u16() {
            200 => Ok(response),
            404 => Err(self.not_found(repository, format!("blob {digest}"))),
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Reads a small blob (an image config) whole, verified against its digest.
    pub async fn get_blob_bytes(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Bytes, RegistryError> {
        let what = format!("blob {repository}@{}", digest.short());
        self.with_retries(|| async {
            let response = self.get_blob(repository, digest).await?;
            let bytes = self.read_capped(response, MAX_CONFIG_BYTES, &what).await?;
            let actual = Digest::of(&bytes);
            if &actual != digest {
                return Err(RegistryError::DigestMismatch {
                    registry: self.host.clone(),
                    repository: repository.to_string(),
                    what: format!("blob {}", digest.short()),
                    expected: digest.to_string(),
                    actual: actual.to_string(),
                });
            }
            Ok(bytes)
        })
        .await
    }
}
