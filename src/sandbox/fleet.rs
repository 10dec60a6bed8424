//! A fleet of services in one registry, built fast for scale tests and benchmarks: a few
//! shared blobs uploaded once, mounted into every repository, and one small manifest PUT
//! per image (a 1,000-service x 3-environment fleet is about 18,000 requests, not 9,000
//! skopeo runs). Images of one commit are byte-identical in every environment, as
//! promoted images are; each environment's mutable tag points at its newest image.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{SandboxError, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};

/// The repository holding the shared blobs every fleet repository mounts.
const BLOB_SOURCE: &str = "fleet-blobs/base";

/// One environment of the fleet: a path prefix in the shared registry.
#[derive(Debug, Clone)]
pub struct FleetEnvironment {
    /// `dev`: repositories are `dev/<service>`.
    pub path: String,
    /// Tag moved to the newest image the environment holds (`latest`, `stage`); none: only
    /// immutable tags.
    pub mutable_tag: Option<String>,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    /// Services are `<service_prefix>-0001`, `-0002`, ...
    pub service_prefix: String,
    pub services: usize,
    /// First is the newest (dev): each later one holds images one commit older.
    pub environments: Vec<FleetEnvironment>,
    /// SHA-tagged images per repository.
    pub images_per_repository: usize,
    /// Commits (full hex ids), oldest first, that the images are tagged with; the fleet needs
    /// `images_per_repository + environments - 1` of them. Empty: made up per service.
    pub commits: Vec<String>,
    /// Tag prefix of immutable tags, and their length in hex digits.
    pub tag_prefix: String,
    pub short_len: usize,
    /// Requests in flight.
    pub parallel: usize,
}

impl FleetSpec {
    /// 3 environments (`dev` with `latest`, `stage`, `prod`) in one registry.
    pub fn shared_layout(services: usize) -> FleetSpec {
        let env = |path: &str, mutable: &str| FleetEnvironment {
            path: path.into(),
            mutable_tag: Some(mutable.into()),
        };
        FleetSpec {
            service_prefix: "svc".into(),
            services,
            environments: vec![
                env("dev", "latest"),
                env("stage", "stage"),
                env("prod", "prod"),
            ],
            images_per_repository: 3,
            commits: Vec::new(),
            tag_prefix: "sha-".into(),
            short_len: 7,
            parallel: 16,
        }
    }

    pub fn service_name(&self, index: usize) -> String {
        format!("{}-{:04}", self.service_prefix, index + 1)
    }

    fn commits_needed(&self) -> usize {
        self.images_per_repository + self.environments.len().saturating_sub(1)
    }

    /// Commit `j` (0 oldest) of service `index`.
    fn commit(&self, index: usize, j: usize) -> String {
        match self.commits.get(j) {
            Some(commit) => commit.clone(),
            None => {
                let hash = Sha256::digest(format!("{}:{j}", self.service_name(index)));
                hex::encode(&hash[..20])
            }
        }
    }

    /// The immutable tag of commit `j` of service `index`.
    pub fn tag(&self, index: usize, j: usize) -> String {
        let commit = self.commit(index, j);
        let short = &commit[..self.short_len.min(commit.len())];
        format!("{}{short}", self.tag_prefix)
    }

    /// Commits (0 oldest) the environment at `position` holds: dev the newest ones.
    pub fn held_commits(&self, position: usize) -> std::ops::Range<usize> {
        let start = self.environments.len().saturating_sub(1 + position);
        start..start + self.images_per_repository
    }
}

/// What was built.
#[derive(Debug, Clone)]
pub struct FleetReport {
    pub repositories: usize,
    pub immutable_tags: usize,
    pub mutable_tags: usize,
    pub requests: usize,
    /// `<path>/<service>:<tag>` -> digest, for the images' immutable tags.
    pub digests: BTreeMap<String, String>,
}

/// Builds `spec` in the plain-HTTP registry at `addr` (`127.0.0.1:PORT`). Blocks; runs its
/// own runtime on a thread of its own, so it may be called from async code too.
pub fn build_fleet(addr: &str, spec: &FleetSpec) -> Result<FleetReport, SandboxError> {
    let addr = addr.to_string();
    let spec = spec.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(SandboxError::io("starting a runtime for the fleet builder"))?;
        runtime.block_on(build(&addr, &spec))
    })
    .join()
    .map_err(|_| SandboxError::Invalid("the fleet builder panicked".into()))?
}

/// Pushes one single-platform image with one layer of `layer_bytes` pseudo-random bytes
/// (from `seed`) to `repository` under `tags`; returns its digest, the same for the same
/// seed and size in any repository. For trains, where every image needs blobs of its own.
pub fn push_sized_image(
    addr: &str,
    repository: &str,
    tags: &[String],
    layer_bytes: usize,
    seed: u64,
) -> Result<String, SandboxError> {
    let (addr, repository, tags) = (addr.to_string(), repository.to_string(), tags.to_vec());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SandboxError::io("starting a runtime for the image pusher"))?;
        runtime.block_on(async {
            let pusher = Pusher::new(&addr)?;
            let layer = pseudo_random(layer_bytes, seed);
            let config = config_blob(&layer, seed);
            let layer_digest = pusher.upload(&repository, layer.clone()).await?;
            let config_digest = pusher.upload(&repository, config.clone()).await?;
            let manifest = manifest_bytes(
                (&config_digest, config.len()),
                (&layer_digest, layer.len()),
                &format!("seed-{seed}"),
                "sized",
            );
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
            for tag in &tags {
                pusher.put_manifest(&repository, tag, &manifest).await?;
            }
            Ok(digest)
        })
    })
    .join()
    .map_err(|_| SandboxError::Invalid("the image pusher panicked".into()))?
}

async fn build(addr: &str, spec: &FleetSpec) -> Result<FleetReport, SandboxError> {
    if !spec.commits.is_empty() && spec.commits.len() < spec.commits_needed() {
        return Err(SandboxError::Invalid(format!(
            "the fleet needs {} commits, {} given",
            spec.commits_needed(),
            spec.commits.len()
        )));
    }
    if spec.commits.iter().any(|c| c.len() < spec.short_len) {
        return Err(SandboxError::Invalid(
            "a commit is shorter than the tag's short length".into(),
        ));
    }
    let pusher = Pusher::new(addr)?;
    let layer = pseudo_random(2048, 7);
    let config = config_blob(&layer, 7);
    let layer_blob = (
        pusher.upload(BLOB_SOURCE, layer.clone()).await?,
        layer.len(),
    );
    let config_blob = (
        pusher.upload(BLOB_SOURCE, config.clone()).await?,
        config.len(),
    );
    let mut requests = 4;

    let mut repositories = Vec::new();
    for (position, env) in spec.environments.iter().enumerate() {
        for index in 0..spec.services {
            repositories.push((position, env, index));
        }
    }
    let pusher = &pusher;
    let (layer_blob, config_blob) = (&layer_blob, &config_blob);
    let built: Vec<BuiltRepository> = stream::iter(repositories)
        .map(|(position, env, index)| async move {
            let service = spec.service_name(index);
            let repository = format!("{}/{service}", env.path);
            pusher.mount(&repository, &layer_blob.0).await?;
            pusher.mount(&repository, &config_blob.0).await?;
            let mut sent = 2;
            let mut tagged = Vec::new();
            let mut newest = None;
            for j in spec.held_commits(position) {
                let manifest = manifest_bytes(
                    (&config_blob.0, config_blob.1),
                    (&layer_blob.0, layer_blob.1),
                    &spec.commit(index, j),
                    &service,
                );
                let tag = spec.tag(index, j);
                pusher.put_manifest(&repository, &tag, &manifest).await?;
                sent += 1;
                tagged.push((
                    format!("{repository}:{tag}"),
                    format!("sha256:{}", hex::encode(Sha256::digest(&manifest))),
                ));
                newest = Some(manifest);
            }
            let mut moved = false;
            if let (Some(mutable), Some(newest)) = (&env.mutable_tag, newest) {
                pusher.put_manifest(&repository, mutable, &newest).await?;
                sent += 1;
                moved = true;
            }
            Ok::<_, SandboxError>((sent, tagged, moved))
        })
        .buffer_unordered(spec.parallel.max(1))
        .try_collect()
        .await?;

    let mut report = FleetReport {
        repositories: built.len(),
        immutable_tags: 0,
        mutable_tags: 0,
        requests,
        digests: BTreeMap::new(),
    };
    for (sent, tagged, moved) in built {
        requests += sent;
        report.immutable_tags += tagged.len();
        report.mutable_tags += usize::from(moved);
        report.digests.extend(tagged);
    }
    report.requests = requests;
    Ok(report)
}

/// One repository built: requests sent, `repository:tag` -> digest of its SHA tags, and
/// whether its mutable tag was set.
type BuiltRepository = (usize, Vec<(String, String)>, bool);

/// Plain HTTP requests to one registry, on kept-alive connections.
struct Pusher {
    http: reqwest::Client,
    base: String,
}

impl Pusher {
    fn new(addr: &str) -> Result<Pusher, SandboxError> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| SandboxError::Invalid(format!("cannot build an HTTP client: {e}")))?;
        Ok(Pusher {
            http,
            base: format!("http://{addr}"),
        })
    }

    fn failed(what: &str, detail: impl std::fmt::Display) -> SandboxError {
        SandboxError::Invalid(format!("{what}: {detail}"))
    }

    /// Uploads `bytes` monolithically (POST, then PUT with the digest); returns the digest.
    async fn upload(&self, repository: &str, bytes: Vec<u8>) -> Result<String, SandboxError> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        let what = format!("uploading {digest} to {repository}");
        let started = self
            .http
            .post(format!("{}/v2/{repository}/blobs/uploads/", self.base))
            .send()
            .await
            .map_err(|e| Self::failed(&what, e))?;
        if started.status().as_u16() != 202 {
            return Err(Self::failed(&what, started.status()));
        }
        let location = started
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Self::failed(&what, "no Location"))?;
        let url = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_string()
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        let done = self
            .http
            .put(format!("{url}{separator}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| Self::failed(&what, e))?;
        if done.status().as_u16() != 201 {
            return Err(Self::failed(&what, done.status()));
        }
        Ok(digest)
    }

    async fn mount(&self, repository: &str, digest: &str) -> Result<(), SandboxError> {
        let what = format!("mounting {digest} into {repository}");
        let response = self
            .http
            .post(format!(
                "{}/v2/{repository}/blobs/uploads/?mount={digest}&from={BLOB_SOURCE}",
                self.base
            ))
            .send()
            .await
            .map_err(|e| Self::failed(&what, e))?;
        match response.status().as_u16() {
            201 => Ok(()),
            status => Err(Self::failed(&what, status)),
        }
    }

    async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        bytes: &[u8],
    ) -> Result<(), SandboxError> {
        let what = format!("putting {repository}:{reference}");
        let response = self
            .http
            .put(format!(
                "{}/v2/{repository}/manifests/{reference}",
                self.base
            ))
            .header("content-type", OCI_MANIFEST)
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| Self::failed(&what, e))?;
        match response.status().as_u16() {
            201 => Ok(()),
            status => {
                let body = response.text().await.unwrap_or_default();
                Err(Self::failed(&what, format!("{status} {body}")))
            }
        }
    }
}

/// Deterministic bytes that do not compress (SplitMix64).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn config_blob(layer: &[u8], seed: u64) -> Vec<u8> {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Labels": {"dev.gantry.sandbox.seed": seed.to_string()}},
        "rootfs": {
            "type": "layers",
            "diff_ids": [format!("sha256:{}", hex::encode(Sha256::digest(layer)))]
        }
    })
    .to_string()
    .into_bytes()
}

/// An OCI image manifest; the annotations make each commit's image a digest of its own.
fn manifest_bytes(
    config: (&str, usize),
    layer: (&str, usize),
    revision: &str,
    title: &str,
) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.0, "size": config.1},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.0, "size": layer.1}],
        "annotations": {
            "org.opencontainers.image.revision": revision,
            "org.opencontainers.image.title": title
        }
    })
    .to_string()
    .into_bytes()
}
