//! Real local registries and skopeo-seeded test images, for tests, `gantry demo` and benchmarks.
//!
//! Everything here is synchronous (`std::process`) and shells out to Debian's `docker-registry`
//! (CNCF Distribution), `skopeo`, `htpasswd` and `openssl` (a private CA, a token
//! service's signatures), so tests exercise gantry against the real thing
//! rather than a mock.

mod demo_repo;
mod fleet;
mod layout;
mod referrers_registry;
mod registry;
mod skopeo;
mod tls;
mod token;

#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

pub use demo_repo::{bare_copy, build_demo_repo, build_history, DemoHistory, DemoRepo};
pub use fleet::{build_fleet, push_sized_image, FleetEnvironment, FleetReport, FleetSpec};
pub use layout::{build_oci_layout, ImageSpec};
pub use referrers_registry::ReferrersRegistry;
pub use registry::{LocalRegistry, RegistryOptions};
pub use skopeo::{
    seed_image, seed_image_with_creds, skopeo_copy, skopeo_digest, skopeo_list_tags,
    skopeo_raw_manifest, SeedFormat,
};
pub use tls::{CertPair, TestCa};
pub use token::{TokenAuth, TokenIssuer, TokenUsers, TOKEN_ISSUER, TOKEN_SERVICE};

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config blob.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a gzip-compressed OCI layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of a Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Media type of a Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Everything that can go wrong while running sandbox registries or seeding images.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A required external program is not installed.
    #[error("{tool} not found: {hint}")]
    ToolMissing {
        tool: &'static str,
        hint: &'static str,
    },
    /// A filesystem or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// docker-registry exited or never answered `GET /v2/`.
    #[error("docker-registry on {addr} failed to start: {reason}\n--- tail of {} ---\n{log_tail}", log.display())]
    RegistryStart {
        addr: String,
        reason: String,
        log: PathBuf,
        log_tail: String,
    },
    /// Another registry server exited or never answered `GET /v2/`.
    #[error("{server} on {addr} failed to start: {reason}\n--- tail of {} ---\n{log_tail}", log.display())]
    ServerStart {
        server: &'static str,
        addr: String,
        reason: String,
        log: PathBuf,
        log_tail: String,
    },
    /// An external command exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line, with credentials redacted.
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// JSON that we wrote or a tool printed could not be parsed.
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    /// The caller asked for something this module cannot produce.
    #[error("invalid sandbox request: {0}")]
    Invalid(String),
}

impl SandboxError {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> SandboxError {
        let context = context.into();
        move |source| SandboxError::Io { context, source }
    }
}
