//! Synthetic OCI image layouts with deterministic, incompressible layers.
//!
//! Layers are genuine `tar` archives wrapped in genuine gzip (using uncompressed "stored"
//! deflate blocks, so no compression library is needed). That keeps `diff_ids` truthful and,
//! more importantly, stops skopeo from re-compressing the blobs when converting to Docker
//! schema 2, which would change every digest and cost minutes on large layers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{SandboxError, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};

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

/// A ustar header for one regular file.
fn tar_header(name: &str, size: u64, mtime: u64) -> Result<[u8; 512], SandboxError> {
    // 11 octal digits is the ustar size limit.
    const MAX_SIZE: u64 = 0o77_777_777_777;
    if size > MAX_SIZE {
        return Err(SandboxError::Invalid(format!(
            "layer of {size} bytes exceeds the 8 GiB tar limit"
        )));
    }
    if name.len() > 100 {
        return Err(SandboxError::Invalid(format!(
            "tar entry name {name:?} is longer than 100 bytes"
        )));
    }
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    put_octal(&mut header[100..108], 0o644);
    put_octal(&mut header[108..116], 0);
    put_octal(&mut header[116..124], 0);
    put_octal(&mut header[124..136], size);
    put_octal(&mut header[136..148], mtime.min(MAX_SIZE));
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field set to spaces.
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(header)
}

fn put_octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    field[..width].copy_from_slice(&digits.as_bytes()[digits.len() - width..]);
    field[width] = 0;
}

/// `SplitMix64`: tiny, fast and fully specified, so layer bytes never change with a dependency
/// upgrade (unlike `rand`'s `StdRng`, whose algorithm is not a stability promise).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Passes bytes through while computing their SHA-256 and length.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Returns the inner writer, the lowercase hex digest and the byte count.
    fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Largest payload of one stored deflate block.
const STORED_BLOCK: usize = 65_535;

/// A gzip encoder that does not compress: the payload goes into "stored" deflate blocks.
/// Our random payload would not shrink anyway, and this needs no compression crate.
struct StoredGzip<W: Write> {
    inner: W,
    pending: Vec<u8>,
    crc: u32,
    len: u64,
}

impl<W: Write> StoredGzip<W> {
    fn new(mut inner: W) -> io::Result<Self> {
        // Magic, deflate, no flags, mtime 0 (reproducible), no extra flags, OS "unknown".
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        Ok(Self {
            inner,
            pending: Vec::with_capacity(STORED_BLOCK),
            crc: 0,
            len: 0,
        })
    }

    fn emit_block(&mut self, last: bool) -> io::Result<()> {
        // The block is never longer than STORED_BLOCK, so this cannot truncate.
        let len = self.pending.len() as u16;
        self.inner.write_all(&[u8::from(last)])?;
        self.inner.write_all(&len.to_le_bytes())?;
        self.inner.write_all(&(!len).to_le_bytes())?;
        self.inner.write_all(&self.pending)?;
        self.pending.clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.emit_block(true)?;
        self.inner.write_all(&self.crc.to_le_bytes())?;
        // ISIZE is the length modulo 2^32 by definition.
        self.inner.write_all(&(self.len as u32).to_le_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for StoredGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.crc = crc32_update(self.crc, buf);
        self.len += buf.len() as u64;
        let mut rest = buf;
        while !rest.is_empty() {
            let take = (STORED_BLOCK - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == STORED_BLOCK {
                self.emit_block(false)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// CRC-32 (IEEE) slice-by-8 tables; slicing keeps multi-hundred-MB layers fast even in
/// unoptimized test builds.
const CRC_TABLES: [[u32; 256]; 8] = {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        tables[0][i] = c;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
};

fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let t = &CRC_TABLES;
    let mut c = !crc;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let lo = c ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let hi = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = t[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn crc32_matches_reference_vector() {
        assert_eq!(crc32_update(0, b"123456789"), 0xCBF4_3926);
        // Incremental updates must agree with one-shot ones.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let split = crc32_update(crc32_update(0, &data[..333]), &data[333..]);
        assert_eq!(split, crc32_update(0, &data));
    }

    #[test]
    fn tar_header_checksum_is_valid() {
        let header = tar_header("a/b.bin", 1234, 1_700_000_000).expect("header");
        let mut copy = header;
        copy[148..156].fill(b' ');
        let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(&header[148..156], format!("{sum:06o}\0 ").as_bytes());
        assert_eq!(&header[124..136], b"00000002322\0");
    }

    #[test]
    fn rejects_bad_specs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spec = ImageSpec::small(1);
        spec.platforms = vec!["amd64".into(), "linux/amd64".into()];
        assert!(build_oci_layout(dir.path(), "v1", &spec).is_err());
        let mut spec = ImageSpec::small(1);
        spec.created = "yesterday".into();
        assert!(build_oci_layout(dir.path(), "v1", &spec).is_err());
        assert!(build_oci_layout(dir.path(), "bad:tag", &ImageSpec::small(1)).is_err());
    }
}
