//! `gantry sbom`, what `images --json` says each image carries, and the digest an IMAGE
//! argument names in an environment (shared with `verify`).

use std::path::Path;

use futures_util::stream::{self, StreamExt};

use super::{exit, Failure};
use crate::config::{Environment, Service};
use crate::domain::{Digest, ImageSelector};
use crate::engine::inventory::EnvironmentImages;
use crate::engine::{Engine, EngineError};

/// Images whose attachments are read at once.
const ATTACHED_CONCURRENCY: usize = 4;

/// The service, environment and digest `image` names in `env`.
pub(super) async fn resolve_digest(
    engine: &Engine,
    image: &str,
    env: &str,
) -> Result<(Service, Environment, Digest), Failure> {
    let config = engine.config();
    let selector = ImageSelector::parse(image, &config.tags.prefix).map_err(EngineError::from)?;
    let service = config
        .service(selector.service())
        .map_err(EngineError::from)?
        .clone();
    let environment = config.environment(env).map_err(EngineError::from)?.clone();
    let digest: Digest = match &selector {
        ImageSelector::Digest { digest, .. } => digest.clone(),
        ImageSelector::Tag { tag, .. } => engine.digest_in(&environment, &service, tag).await?,
        ImageSelector::Commit { .. } => {
            engine
                .resolve(&selector, &environment)
                .await?
                .manifest
                .digest
        }
    };
    Ok((service, environment, digest))
}

/// `gantry sbom IMAGE [--env ENV] [--format F] [--output FILE]`: exit 3 when none is attached.
pub(super) async fn sbom(
    engine: &Engine,
    image: &str,
    env: Option<&str>,
    format: Option<&str>,
    output: Option<&Path>,
) -> Result<i32, Failure> {
    if let Some(format) = format {
        if !["spdx", "cyclonedx"].contains(&format.to_ascii_lowercase().as_str()) {
            return Err(Failure {
                code: exit::INPUT,
                message: format!("--format {format}: give spdx or cyclonedx"),
            });
        }
    }
    let env = match env {
        Some(env) => env.to_string(),
        None => engine
            .config()
            .environments
            .first()
            .map(|e| e.name.clone())
            .unwrap_or_default(),
    };
    let (service, environment, digest) = resolve_digest(engine, image, &env).await?;
    let Some((found, document)) = engine.sbom(&service.name, &env, &digest, format).await? else {
        return Err(Failure {
            code: exit::REFUSED,
            message: format!(
                "{}@{} in {env} has no {}SBOM attached",
                environment.image_name(&service),
                digest.short(),
                format.map(|f| format!("{f} ")).unwrap_or_default()
            ),
        });
    };
    match output {
        Some(path) => {
            std::fs::write(path, &document).map_err(|e| Failure {
                code: exit::INPUT,
                message: format!("cannot write {}: {e}", path.display()),
            })?;
            eprintln!(
                "{found} SBOM of {} written to {}",
                digest.short(),
                path.display()
            );
        }
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&document);
            if !document.ends_with(b"\n") {
                let _ = stdout.write_all(b"\n");
            }
        }
    }
    Ok(exit::OK)
}

/// Adds to each listed image what it carries. A registry that cannot say leaves the
/// image without `attached` (the listing itself was read).
pub(super) async fn fill_attached(
    engine: &Engine,
    service: &str,
    listings: &mut [EnvironmentImages],
) {
    for listing in listings.iter_mut() {
        let env = listing.environment.clone();
        let found: Vec<_> = stream::iter(listing.images.iter().map(|i| i.digest.clone()))
            .map(|digest| {
                let env = env.clone();
                async move { engine.attached(service, &env, &digest).await }
            })
            .buffered(ATTACHED_CONCURRENCY)
            .collect()
            .await;
        for (image, attached) in listing.images.iter_mut().zip(found) {
            match attached {
                Ok(attached) => image.attached = Some(attached),
                Err(e) => tracing::warn!("attachments of {} in {env}: {e}", image.digest),
            }
        }
    }
}
