//! Synthetic OCI image layouts with deterministic, incompressible layers.
//!
//! Layers are genuine `tar` archives wrapped in genuine gzip (using uncompressed "stored"
//! deflate blocks, so no compression library is needed). That keeps `diff_ids` truthful and,
//! more importantly, stops skopeo from re-compressing the blobs when converting to Docker
//! schema 2, which would change every digest and cost minutes on large layers.
//!
//! This file lays out the image (blobs, manifests, index); `archive` writes a layer's bytes.

mod archive;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{SandboxError, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use archive::{tar_header, HashingWriter, SplitMix64, StoredGzip};

const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A synthetic image: one manifest per platform, each with its own layers of pseudo-random
/// bytes (incompressible, deterministic from `seed`), so equal specs give equal digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Architectures such as `"amd64"`, `"arm64"` or `"arm/v7"`; the OS is always linux
    /// (a leading `"linux/"` is accepted and ignored).
    pub platforms: Vec<String>,
    /// Payload bytes per layer; each blob is slightly larger (tar and gzip framing).
    pub layer_sizes: Vec<usize>,
    /// Seed for layer contents; different seeds give different digests.
    pub seed: u64,
    /// RFC 3339 creation time written into each config.
    pub created: String,
    /// Labels written into each config (`config.Labels`).
    pub labels: BTreeMap<String, String>,
}

impl ImageSpec {
    /// A quick two-platform (amd64 + arm64) image with two layers of a few KiB.
    pub fn small(seed: u64) -> Self {
        let labels = BTreeMap::from([
            (
                "org.opencontainers.image.source".to_string(),
                "https://example.invalid/gantry/sandbox".to_string(),
            ),
            ("dev.gantry.sandbox.seed".to_string(), seed.to_string()),
        ]);
        Self {
            platforms: vec!["amd64".to_string(), "arm64".to_string()],
            layer_sizes: vec![4 * 1024, 3 * 1024 + 17],
            seed,
            created: "2024-01-01T00:00:00Z".to_string(),
            labels,
        }
    }
}

/// Writes an OCI image layout in `dir` (creating it or adding to it) holding the image under
/// ref name `tag`, replacing any previous image of that name.
///
/// One platform gives a plain OCI image manifest, several give an OCI image index. Layer blobs
/// are streamed to disk and hashed on the way, so multi-GB layers cost no memory.
/// Returns the digest (`sha256:<hex>`) of the top manifest or index.
pub fn build_oci_layout(dir: &Path, tag: &str, spec: &ImageSpec) -> Result<String, SandboxError> {
    validate_tag(tag)?;
    let created = chrono::DateTime::parse_from_rfc3339(&spec.created).map_err(|e| {
        SandboxError::Invalid(format!("created {:?} is not RFC 3339: {e}", spec.created))
    })?;
    // Tar headers cannot hold negative times; clamp rather than reject pre-1970 dates.
    let mtime = u64::try_from(created.timestamp()).unwrap_or(0);
    let platforms = parse_platforms(&spec.platforms)?;

    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs)
        .map_err(SandboxError::io(format!("creating {}", blobs.display())))?;
    write_file_atomically(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;

    let mut manifests = Vec::with_capacity(platforms.len());
    for platform in &platforms {
        let manifest = write_platform_image(&blobs, spec, platform, mtime)?;
        manifests.push((platform, manifest));
    }

    let top = match manifests.as_slice() {
        [(_, only)] => only.clone(),
        _ => {
            let entries: Vec<Value> = manifests
                .iter()
                .map(|(platform, desc)| {
                    let mut entry = desc.to_json();
                    entry["platform"] = platform.to_json();
                    entry
                })
                .collect();
            let index = json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": entries,
            });
            write_json_blob(&blobs, OCI_INDEX, &index)?
        }
    };
    add_to_index_json(dir, tag, &top)?;
    Ok(top.digest)
}

#[derive(Debug, Clone)]
struct Descriptor {
    media_type: &'static str,
    digest: String,
    size: u64,
}

impl Descriptor {
    fn to_json(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.size })
    }
}

#[derive(Debug)]
struct Platform {
    /// The spelling the caller used; it also keys layer contents, so reordering platforms
    /// does not change any image.
    name: String,
    architecture: String,
    variant: Option<String>,
}

impl Platform {
    fn to_json(&self) -> Value {
        let mut value = json!({ "architecture": self.architecture, "os": "linux" });
        if let Some(variant) = &self.variant {
            value["variant"] = json!(variant);
        }
        value
    }
}

fn parse_platforms(names: &[String]) -> Result<Vec<Platform>, SandboxError> {
    if names.is_empty() {
        return Err(SandboxError::Invalid(
            "an image needs at least one platform".to_string(),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut platforms = Vec::with_capacity(names.len());
    for name in names {
        let bare = name.strip_prefix("linux/").unwrap_or(name);
        let mut parts = bare.split('/');
        let architecture = parts.next().unwrap_or_default();
        let variant = parts.next();
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        if !valid(architecture) || variant.is_some_and(|v| !valid(v)) || parts.next().is_some() {
            return Err(SandboxError::Invalid(format!(
                "platform {name:?} is not of the form ARCH or ARCH/VARIANT"
            )));
        }
        if !seen.insert(bare.to_string()) {
            return Err(SandboxError::Invalid(format!(
                "platform {name:?} listed twice"
            )));
        }
        platforms.push(Platform {
            name: bare.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        });
    }
    Ok(platforms)
}

/// Docker's tag grammar, which is also a valid OCI ref name, so the same string works on both
/// sides of a `skopeo copy`.
fn validate_tag(tag: &str) -> Result<(), SandboxError> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && tag.len() <= 128 {
        Ok(())
    } else {
        Err(SandboxError::Invalid(format!(
            "tag {tag:?} is not a valid image tag"
        )))
    }
}

fn write_platform_image(
    blobs: &Path,
    spec: &ImageSpec,
    platform: &Platform,
    mtime: u64,
) -> Result<Descriptor, SandboxError> {
    let mut layers = Vec::with_capacity(spec.layer_sizes.len());
    let mut diff_ids = Vec::with_capacity(spec.layer_sizes.len());
    for (index, &size) in spec.layer_sizes.iter().enumerate() {
        let stream_seed = layer_stream_seed(spec.seed, &platform.name, index);
        let file_name = format!("gantry-sandbox/layer-{index}.bin");
        let (layer, diff_id) = write_layer(blobs, &file_name, size as u64, mtime, stream_seed)?;
        layers.push(layer.to_json());
        diff_ids.push(diff_id);
    }

    let mut config = json!({
        "architecture": platform.architecture,
        "os": "linux",
        "created": spec.created,
        "config": { "Labels": spec.labels },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    if let Some(variant) = &platform.variant {
        config["variant"] = json!(variant);
    }
    let config = write_json_blob(blobs, OCI_CONFIG, &config)?;

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": layers,
    });
    write_json_blob(blobs, OCI_MANIFEST, &manifest)
}

fn layer_stream_seed(seed: u64, platform: &str, index: usize) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(b"gantry-sandbox-layer\0");
    hasher.update(seed.to_le_bytes());
    hasher.update(platform.as_bytes());
    hasher.update([0]);
    hasher.update((index as u64).to_le_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// Streams one layer (tar with a single file of `size` random bytes, gzip-framed) into the
/// blob store. Returns its descriptor and its `diff_id` (digest of the uncompressed tar).
fn write_layer(
    blobs: &Path,
    file_name: &str,
    size: u64,
    mtime: u64,
    stream_seed: u64,
) -> Result<(Descriptor, String), SandboxError> {
    let header = tar_header(file_name, size, mtime)?;
    let tmp = temp_path(blobs);
    let result = (|| -> io::Result<(String, String, u64)> {
        let file = File::create(&tmp)?;
        let blob = HashingWriter::new(BufWriter::with_capacity(1 << 16, file));
        let mut tar = HashingWriter::new(StoredGzip::new(blob)?);
        tar.write_all(&header)?;

        let mut rng = SplitMix64(stream_seed);
        let mut buf = vec![0u8; 1 << 16];
        let mut remaining = size;
        while remaining > 0 {
            let n = remaining.min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..n]);
            tar.write_all(&buf[..n])?;
            remaining -= n as u64;
        }
        let padding = (512 - size % 512) % 512;
        tar.write_all(&[0u8; 512][..padding as usize])?;
        // Two zero records mark the end of a tar archive.
        tar.write_all(&[0u8; 1024])?;

        let (gzip, diff_id, _) = tar.finish();
        let (buffered, blob_hex, blob_size) = gzip.finish()?.finish();
        buffered
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        Ok((diff_id, blob_hex, blob_size))
    })();
    let (diff_id, blob_hex, blob_size) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(SandboxError::Io {
                context: format!("writing layer blob {}", tmp.display()),
                source: e,
            });
        }
    };
    let target = blobs.join(&blob_hex);
    fs::rename(&tmp, &target).map_err(SandboxError::io(format!(
        "moving layer blob to {}",
        target.display()
    )))?;
    let descriptor = Descriptor {
        media_type: OCI_LAYER_GZIP,
        digest: format!("sha256:{blob_hex}"),
        size: blob_size,
    };
    Ok((descriptor, format!("sha256:{diff_id}")))
}

fn write_json_blob(
    blobs: &Path,
    media_type: &'static str,
    value: &Value,
) -> Result<Descriptor, SandboxError> {
    let bytes = serde_json::to_vec(value).map_err(|source| SandboxError::Json {
        context: format!("serializing {media_type}"),
        source,
    })?;
    let hex = hex::encode(Sha256::digest(&bytes));
    write_file_atomically(&blobs.join(&hex), &bytes)?;
    Ok(Descriptor {
        media_type,
        digest: format!("sha256:{hex}"),
        size: bytes.len() as u64,
    })
}

fn add_to_index_json(dir: &Path, tag: &str, top: &Descriptor) -> Result<(), SandboxError> {
    let path = dir.join("index.json");
    let mut manifests: Vec<Value> = match fs::read(&path) {
        Ok(bytes) => {
            let index: Value =
                serde_json::from_slice(&bytes).map_err(|source| SandboxError::Json {
                    context: format!("parsing {}", path.display()),
                    source,
                })?;
            match index.get("manifests") {
                Some(Value::Array(entries)) => entries.clone(),
                _ => Vec::new(),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(SandboxError::Io {
                context: format!("reading {}", path.display()),
                source: e,
            })
        }
    };
    manifests.retain(|entry| {
        entry
            .get("annotations")
            .and_then(|a| a.get(REF_NAME_ANNOTATION))
            .and_then(Value::as_str)
            != Some(tag)
    });
    let mut entry = top.to_json();
    entry["annotations"] = json!({ REF_NAME_ANNOTATION: tag });
    manifests.push(entry);

    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let bytes = serde_json::to_vec_pretty(&index).map_err(|source| SandboxError::Json {
        context: "serializing index.json".to_string(),
        source,
    })?;
    write_file_atomically(&path, &bytes)
}

/// Writes via a temporary file and rename so a crashed run never leaves a truncated blob
/// whose name claims a digest it does not have.
fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_path(parent);
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    result.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        SandboxError::Io {
            context: format!("writing {}", path.display()),
            source,
        }
    })
}

fn temp_path(dir: &Path) -> PathBuf {
    dir.join(format!(".tmp-{:016x}", rand::random::<u64>()))
}
