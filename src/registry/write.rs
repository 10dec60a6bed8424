//! Writing to a registry: manifests PUT as their exact bytes and DELETEd by digest, and
//! blob uploads (a cross-repository mount, else one streamed PUT).

use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};

use super::error::error_message;
use super::send::header_str;
use super::{Access, RawManifest, RegistryClient, RegistryError, UploadStart};
use crate::domain::Digest;

impl RegistryClient {
    /// PUT a manifest's exact bytes under `reference` (a tag or its digest).
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<(), RegistryError> {
        self.put_manifest_answer(repository, reference, manifest)
            .await
            .map(|_| ())
    }

    /// `put_manifest`, returning the `OCI-Subject` the registry answered with: a registry
    /// with the referrers API names the subject it indexed the manifest under.
    pub async fn put_manifest_answer(
        &self,
        repository: &str,
        reference: &str,
        manifest: &RawManifest,
    ) -> Result<Option<String>, RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let what = format!("manifest {repository}:{reference}");
        let response = self
            .send(repository, Access::Push, &what, &|http| {
                http.put(&url)
                    .header(CONTENT_TYPE, manifest.media_type.as_str())
                    .body(manifest.bytes.clone())
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error(&what, response).await);
        }
        if let Some(stored) = header_str(response.headers(), "docker-content-digest") {
            if stored != manifest.digest.as_str() {
                return Err(RegistryError::DigestMismatch {
                    registry: self.host.clone(),
                    repository: repository.to_string(),
                    what: format!("stored manifest `{reference}`"),
                    expected: manifest.digest.to_string(),
                    actual: stored.to_string(),
                });
            }
        }
        Ok(header_str(response.headers(), "oci-subject").map(str::to_string))
    }

    /// DELETE a manifest by digest (Distribution refuses deletion by tag).
    pub async fn delete_manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let what = format!("manifest {repository}@{digest}");
        let response = self
            .send(repository, Access::Delete, &what, &|http| http.delete(&url))
            .await?;
        match response.status().as_u16() {
            200 | 202 => Ok(()),
            404 => Err(self.not_found(repository, format!("manifest {digest}"))),
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Opens an upload; with `mount`, first asks the registry to link the blob from
    /// another repository of the same registry. A refused mount (202) hands back the
    /// session the registry opened, so nothing is left dangling.
    pub async fn start_upload(
        &self,
        repository: &str,
        mount: Option<(&Digest, &str)>,
    ) -> Result<UploadStart, RegistryError> {
        let mount = match mount {
            Some((digest, from)) => match self.authorize_mount(repository, from).await {
                Ok(()) => Some((digest, from)),
                // Without pull rights on the source there is no mount, but a copy may still work.
                Err(e) if !e.is_transient() => {
                    tracing::debug!(registry = %self.host, "no mount from {from}: {e}");
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let path = match mount {
            Some((digest, from)) => {
                format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}")
            }
            None => format!("/v2/{repository}/blobs/uploads/"),
        };
        let url = self.url(&path);
        let what = format!("upload to {repository}");
        let response = self
            .send(repository, Access::Push, &what, &|http| {
                http.post(&url).header(CONTENT_LENGTH, 0)
            })
            .await?;
        match response.status().as_u16() {
            201 if mount.is_some() => Ok(UploadStart::Mounted),
            202 => {
                let location = header_str(response.headers(), "location").ok_or_else(|| {
                    RegistryError::Invalid {
                        registry: self.host.clone(),
                        what: what.clone(),
                        reason: "upload started without a Location".into(),
                    }
                })?;
                Ok(UploadStart::Session(self.absolute(location)))
            }
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Completes an upload session with one streamed PUT of the whole blob.
    /// Not retried here: the body is a stream the caller must restart.
    pub async fn put_upload(
        &self,
        repository: &str,
        location: &str,
        digest: &Digest,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let what = format!("blob {repository}@{}", digest.short());
        let mut request = self
            .http
            .put(&url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        if let Some(header) = self.cached_auth(repository, Access::Push).await {
            request = request.header(AUTHORIZATION, header);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&what, &e))?;
        match response.status().as_u16() {
            201 | 204 => Ok(()),
            400 => {
                let message = error_message(response).await;
                if message.contains("DIGEST_INVALID") || message.to_lowercase().contains("digest") {
                    Err(RegistryError::DigestMismatch {
                        registry: self.host.clone(),
                        repository: repository.to_string(),
                        what: format!("uploaded blob {}", digest.short()),
                        expected: digest.to_string(),
                        actual: message,
                    })
                } else {
                    Err(RegistryError::Status {
                        registry: self.host.clone(),
                        what,
                        status: 400,
                        message,
                        retry_after: None,
                    })
                }
            }
            _ => Err(self.status_error(&what, response).await),
        }
    }

    /// Abandons an upload session (best effort: registries expire them anyway).
    pub async fn cancel_upload(&self, repository: &str, location: &str) {
        let mut request = self.http.delete(location);
        if let Some(header) = self.cached_auth(repository, Access::Push).await {
            request = request.header(AUTHORIZATION, header);
        }
        let _ = request.send().await;
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            self.url(location)
        }
    }
}
