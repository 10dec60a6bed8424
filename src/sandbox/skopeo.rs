//! Thin wrappers around the `skopeo` CLI for seeding and inspecting sandbox registries.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::{build_oci_layout, ImageSpec, SandboxError};

/// Manifest format to push with [`skopeo_copy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedFormat {
    /// Push the OCI manifest/index as built, byte for byte (digest preserved).
    Oci,
    /// Let skopeo convert to Docker schema 2 (an index becomes a manifest list), as older CI
    /// pipelines produce. Digests change.
    DockerV2s2,
}

/// Copies `oci:<layout>:<tag>` to `docker://<dest>` (e.g. `"127.0.0.1:5001/dev/svc:sha-1"`) over
/// plain HTTP with `skopeo copy --all`, preserving digests for [`SeedFormat::Oci`].
pub fn skopeo_copy(
    layout: &Path,
    tag: &str,
    dest: &str,
    format: SeedFormat,
    creds: Option<(&str, &str)>,
) -> Result<(), SandboxError> {
    copy(layout, tag, dest, format, creds, None)
}

/// Digest (`sha256:<hex>`) of the manifest bytes the registry serves for `image`
/// (`host:port/repo:tag` or `host:port/repo@sha256:...`).
pub fn skopeo_digest(image: &str, creds: Option<(&str, &str)>) -> Result<String, SandboxError> {
    let raw = skopeo_raw_manifest(image, creds)?;
    Ok(format!("sha256:{}", hex::encode(Sha256::digest(&raw))))
}

/// The raw manifest (or index/list) bytes the registry serves for `image`.
pub fn skopeo_raw_manifest(
    image: &str,
    creds: Option<(&str, &str)>,
) -> Result<Vec<u8>, SandboxError> {
    let mut args = args(["inspect", "--raw", "--tls-verify=false"]);
    push_creds(&mut args, "--creds", creds);
    args.push(format!("docker://{image}").into());
    run_skopeo(&args)
}

/// Sorted tags of `repo` (`host:port/name`); empty if the repository does not exist.
pub fn skopeo_list_tags(
    repo: &str,
    creds: Option<(&str, &str)>,
) -> Result<Vec<String>, SandboxError> {
    let mut args = args(["list-tags", "--tls-verify=false"]);
    push_creds(&mut args, "--creds", creds);
    args.push(format!("docker://{repo}").into());
    let stdout = match run_skopeo(&args) {
        Ok(stdout) => stdout,
        // skopeo 1.9 only reports the status ("invalid status code from registry 404 (Not
        // Found)"); newer versions print the registry's NAME_UNKNOWN message.
        Err(SandboxError::CommandFailed { stderr, .. })
            if stderr.contains("registry 404") || stderr.contains("repository name not known") =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let list: TagList = serde_json::from_slice(&stdout).map_err(|source| SandboxError::Json {
        context: format!("parsing `skopeo list-tags` output for {repo}"),
        source,
    })?;
    let mut tags = list.tags.unwrap_or_default();
    tags.sort();
    Ok(tags)
}

/// Builds `spec` as an OCI layout in a scratch subdirectory of `work`, pushes it to
/// `<registry_addr>/<repository>:<tag>` for every tag (the first push uploads the blobs, the
/// others only the manifests) and returns the digest the registry now serves.
pub fn seed_image(
    work: &Path,
    registry_addr: &str,
    repository: &str,
    tags: &[&str],
    spec: &ImageSpec,
    format: SeedFormat,
) -> Result<String, SandboxError> {
    seed_image_with_creds(work, registry_addr, repository, tags, spec, format, None)
}

/// [`seed_image`] for a registry that needs basic auth.
pub fn seed_image_with_creds(
    work: &Path,
    registry_addr: &str,
    repository: &str,
    tags: &[&str],
    spec: &ImageSpec,
    format: SeedFormat,
    creds: Option<(&str, &str)>,
) -> Result<String, SandboxError> {
    if tags.is_empty() {
        return Err(SandboxError::Invalid(
            "seed_image needs at least one tag".to_string(),
        ));
    }
    let layout = work.join(format!("oci-layout-{:016x}", rand::random::<u64>()));
    let result = (|| {
        build_oci_layout(&layout, "seed", spec)?;
        let digest_file = layout.join("pushed-digest");
        let mut pushed = String::new();
        for tag in tags {
            let dest = format!("{registry_addr}/{repository}:{tag}");
            copy(&layout, "seed", &dest, format, creds, Some(&digest_file))?;
            let digest = fs::read_to_string(&digest_file)
                .map_err(SandboxError::io("reading skopeo's --digestfile"))?;
            pushed = digest.trim().to_string();
        }
        Ok(pushed)
    })();
    // Layouts of big benchmark images would otherwise pile up in `work`.
    let _ = fs::remove_dir_all(&layout);
    result
}

/// `skopeo list-tags` output; `Tags` is null for a repository whose tags were all deleted.
#[derive(serde::Deserialize)]
struct TagList {
    #[serde(rename = "Tags", default)]
    tags: Option<Vec<String>>,
}

fn copy(
    layout: &Path,
    tag: &str,
    dest: &str,
    format: SeedFormat,
    creds: Option<(&str, &str)>,
    digest_file: Option<&Path>,
) -> Result<(), SandboxError> {
    let layout = layout.to_str().ok_or_else(|| {
        SandboxError::Invalid(format!("layout path {} is not UTF-8", layout.display()))
    })?;
    // The oci: transport splits its argument at the first ':'.
    if layout.contains(':') {
        return Err(SandboxError::Invalid(format!(
            "layout path {layout:?} contains ':', which skopeo's oci: transport cannot express"
        )));
    }
    let mut args = args(["copy", "--all", "--quiet", "--dest-tls-verify=false"]);
    match format {
        SeedFormat::Oci => args.push("--preserve-digests".into()),
        // Conversion rewrites manifests, which --preserve-digests would forbid.
        SeedFormat::DockerV2s2 => args.extend(["--format".into(), "v2s2".into()]),
    }
    push_creds(&mut args, "--dest-creds", creds);
    if let Some(path) = digest_file {
        args.push("--digestfile".into());
        args.push(path.into());
    }
    args.push(format!("oci:{layout}:{tag}").into());
    args.push(format!("docker://{dest}").into());
    run_skopeo(&args).map(|_| ())
}

fn args<const N: usize>(fixed: [&str; N]) -> Vec<OsString> {
    fixed.iter().map(OsString::from).collect()
}

fn push_creds(args: &mut Vec<OsString>, flag: &str, creds: Option<(&str, &str)>) {
    if let Some((user, password)) = creds {
        args.push(flag.into());
        args.push(format!("{user}:{password}").into());
    }
}

/// Runs skopeo and returns its stdout. `--insecure-policy` spares machines without
/// /etc/containers/policy.json; sandbox images are unsigned anyway.
fn run_skopeo(args: &[OsString]) -> Result<Vec<u8>, SandboxError> {
    let shown = display_command(args);
    let output = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                SandboxError::ToolMissing {
                    tool: "skopeo",
                    hint: "apt-get install skopeo",
                }
            } else {
                SandboxError::Io {
                    context: format!("running {shown}"),
                    source: e,
                }
            }
        })?;
    if !output.status.success() {
        return Err(SandboxError::CommandFailed {
            command: shown,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}

/// The command line for error messages, with passwords masked.
fn display_command(args: &[OsString]) -> String {
    let mut shown = vec!["skopeo".to_string()];
    let mut mask_next = false;
    for arg in args {
        let text = arg.to_string_lossy();
        if mask_next {
            let user = text.split(':').next().unwrap_or_default();
            shown.push(format!("{user}:***"));
        } else {
            shown.push(text.into_owned());
        }
        mask_next = arg == OsStr::new("--creds") || arg == OsStr::new("--dest-creds");
    }
    shown.join(" ")
}
