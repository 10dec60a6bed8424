//! Listing a repository's tags page by page, for registries that page properly and for
//! those (Distribution 2.8 among them) that ignore `n` and `last`.

use super::send::header_str;
use super::{manifest, Access, RegistryClient, RegistryError, MAX_MANIFEST_BYTES, MAX_TAGS};

impl RegistryClient {
    /// Every tag of a repository; empty if the repository does not exist.
    /// Follows the Link header, then `last=`, and stops when a page brings nothing new,
    /// since some registries (Distribution 2.8 among them) ignore `n` and `last`.
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        const PAGE: usize = 1000;
        let what = format!("tags of {repository}");
        let mut tags: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut next = Some(format!("/v2/{repository}/tags/list?n={PAGE}"));
        while let Some(path) = next.take() {
            let url = self.url(&path);
            let response = self
                .send(repository, Access::Pull, &what, &|http| http.get(&url))
                .await?;
            match response.status().as_u16() {
                200 => {}
                404 => return Ok(Vec::new()),
                _ => return Err(self.status_error(&what, response).await),
            }
            let link = header_str(response.headers(), "link").and_then(parse_next_link);
            let body = self
                .read_capped(response, MAX_MANIFEST_BYTES, &what)
                .await?;
            let page: manifest::TagList =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
                    registry: self.host.clone(),
                    what: what.clone(),
                    reason: format!("tag list is not valid JSON: {e}"),
                })?;
            let page_tags = page.tags.unwrap_or_default();
            let page_len = page_tags.len();
            let mut fresh = 0;
            for tag in page_tags {
                if seen.insert(tag.clone()) {
                    tags.push(tag);
                    fresh += 1;
                }
            }
            if tags.len() > MAX_TAGS {
                return Err(RegistryError::Invalid {
                    registry: self.host.clone(),
                    what,
                    reason: format!("more than {MAX_TAGS} tags"),
                });
            }
            if fresh == 0 {
                break;
            }
            next = match link {
                Some(link) => Some(if link.starts_with('/') {
                    link
                } else {
                    // An absolute URL: keep only the path so we stay on this registry.
                    link.split_once("://")
                        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
                        .unwrap_or_default()
                }),
                None if page_len >= PAGE => tags
                    .last()
                    .map(|last| format!("/v2/{repository}/tags/list?n={PAGE}&last={last}")),
                None => None,
            }
            .filter(|p| !p.is_empty());
        }
        Ok(tags)
    }
}

/// `<...>; rel="next"` from a Link header.
pub fn parse_next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}
