//! These tests start real registries and run skopeo, so they need docker-registry, skopeo and
//! htpasswd installed (see the module docs).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create tempdir")
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

fn media_type(manifest: &Value) -> &str {
    manifest["mediaType"].as_str().unwrap_or_default()
}

fn read_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    std::fs::read(layout.join("blobs/sha256").join(hex)).expect("blob exists")
}

/// Layer digests of every platform manifest below `top` in a layout.
fn layout_layer_digests(layout: &Path, top: &str) -> BTreeSet<String> {
    let index = json(&read_blob(layout, top));
    let mut digests = BTreeSet::new();
    for entry in index["manifests"].as_array().expect("index") {
        let manifest = json(&read_blob(
            layout,
            entry["digest"].as_str().expect("digest"),
        ));
        for layer in manifest["layers"].as_array().expect("layers") {
            digests.insert(layer["digest"].as_str().expect("digest").to_string());
        }
    }
    digests
}

#[test]
fn layout_is_deterministic_and_layers_are_real_tar_gzip() {
    let (a, b) = (tempdir(), tempdir());
    let spec = ImageSpec::small(7);
    let first = build_oci_layout(a.path(), "v1", &spec).expect("build a");
    let second = build_oci_layout(b.path(), "v1", &spec).expect("build b");
    assert_eq!(first, second, "same spec, same digest");
    let other = build_oci_layout(b.path(), "v2", &ImageSpec::small(8)).expect("build other");
    assert_ne!(first, other, "seed changes the image");

    let index = json(&read_blob(a.path(), &first));
    assert_eq!(media_type(&index), OCI_INDEX);
    let entries = index["manifests"].as_array().expect("manifests");
    let arches: Vec<&str> = entries
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);

    let manifest = json(&read_blob(
        a.path(),
        entries[0]["digest"].as_str().expect("digest"),
    ));
    assert_eq!(media_type(&manifest), OCI_MANIFEST);
    let config = json(&read_blob(
        a.path(),
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest"),
    ));
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["Labels"]["dev.gantry.sandbox.seed"], "7");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2);
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        assert_eq!(layer["mediaType"], OCI_LAYER_GZIP);
        let path = a.path().join("blobs/sha256").join(
            layer["digest"]
                .as_str()
                .expect("digest")
                .trim_start_matches("sha256:"),
        );
        // gzip verifies the CRC; tar verifies the headers.
        let out = Command::new("gzip")
            .arg("-dc")
            .arg(&path)
            .output()
            .expect("run gzip");
        assert!(out.status.success(), "gzip -dc failed");
        let unpacked = format!("sha256:{}", hex::encode(Sha256::digest(&out.stdout)));
        assert_eq!(diff_id.as_str(), Some(unpacked.as_str()));
        let list = Command::new("tar")
            .arg("-tzf")
            .arg(&path)
            .output()
            .expect("run tar");
        assert!(list.status.success(), "tar -tzf failed");
        assert!(String::from_utf8_lossy(&list.stdout).contains("gantry-sandbox/layer-"));
    }

    // index.json names both tags; rebuilding a tag replaces its entry.
    build_oci_layout(b.path(), "v1", &ImageSpec::small(9)).expect("rebuild v1");
    let names = json(&std::fs::read(b.path().join("index.json")).expect("index.json"));
    let refs: BTreeSet<&str> = names["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert_eq!(refs, BTreeSet::from(["v1", "v2"]));
    assert_eq!(names["manifests"].as_array().map(Vec::len), Some(2));
}

#[test]
fn oci_seed_preserves_digest() {
    let work = tempdir();
    let registry = LocalRegistry::start(&work.path().join("reg")).expect("start registry");
    let layout = work.path().join("layout");
    let built = build_oci_layout(&layout, "v1", &ImageSpec::small(1)).expect("build");
    let image = format!("{}/dev/payment-svc:sha-1234567", registry.addr());
    skopeo_copy(&layout, "v1", &image, SeedFormat::Oci, None).expect("copy");

    assert_eq!(skopeo_digest(&image, None).expect("digest"), built);
    let raw = skopeo_raw_manifest(&image, None).expect("raw");
    assert_eq!(media_type(&json(&raw)), OCI_INDEX);
    let by_digest = format!("{}/dev/payment-svc@{built}", registry.addr());
    assert_eq!(
        skopeo_raw_manifest(&by_digest, None).expect("by digest"),
        raw
    );

    let repo = format!("{}/dev/payment-svc", registry.addr());
    assert_eq!(
        skopeo_list_tags(&repo, None).expect("tags"),
        ["sha-1234567"]
    );
    let missing = format!("{}/no/such-repo", registry.addr());
    assert!(skopeo_list_tags(&missing, None)
        .expect("missing repo")
        .is_empty());
}

#[test]
fn docker_seed_yields_manifest_list_with_same_layers() {
    let work = tempdir();
    let registry = LocalRegistry::start(&work.path().join("reg")).expect("start registry");
    let spec = ImageSpec::small(2);
    let digest = seed_image(
        work.path(),
        registry.addr(),
        "dev/api",
        &["sha-abc", "latest"],
        &spec,
        SeedFormat::DockerV2s2,
    )
    .expect("seed");

    let repo = format!("{}/dev/api", registry.addr());
    assert_eq!(
        skopeo_list_tags(&repo, None).expect("tags"),
        ["latest", "sha-abc"]
    );
    for tag in ["sha-abc", "latest"] {
        assert_eq!(
            skopeo_digest(&format!("{repo}:{tag}"), None).expect("digest"),
            digest
        );
    }
    let list = json(&skopeo_raw_manifest(&format!("{repo}:latest"), None).expect("raw"));
    assert_eq!(media_type(&list), DOCKER_MANIFEST_LIST);

    // The stored-gzip layers must pass through unchanged: skopeo did not recompress them.
    let layout = work.path().join("reference-layout");
    let oci_top = build_oci_layout(&layout, "v1", &spec).expect("build reference");
    assert_ne!(oci_top, digest);
    let mut pushed_layers = BTreeSet::new();
    for entry in list["manifests"].as_array().expect("manifests") {
        let child = format!("{repo}@{}", entry["digest"].as_str().expect("digest"));
        let manifest = json(&skopeo_raw_manifest(&child, None).expect("child manifest"));
        assert_eq!(media_type(&manifest), DOCKER_MANIFEST);
        for layer in manifest["layers"].as_array().expect("layers") {
            pushed_layers.insert(layer["digest"].as_str().expect("digest").to_string());
        }
    }
    assert_eq!(pushed_layers, layout_layer_digests(&layout, &oci_top));
    // seed_image cleans up its scratch layout.
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .expect("read work")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("oci-layout-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn single_platform_pushes_plain_manifests() {
    let work = tempdir();
    let registry = LocalRegistry::start(&work.path().join("reg")).expect("start registry");
    let mut spec = ImageSpec::small(3);
    spec.platforms = vec!["amd64".to_string()];
    let oci = seed_image(
        work.path(),
        registry.addr(),
        "one/oci",
        &["v1"],
        &spec,
        SeedFormat::Oci,
    )
    .expect("seed oci");
    let docker = seed_image(
        work.path(),
        registry.addr(),
        "one/docker",
        &["v1"],
        &spec,
        SeedFormat::DockerV2s2,
    )
    .expect("seed docker");
    assert_ne!(oci, docker);
    let oci_raw = skopeo_raw_manifest(&format!("{}/one/oci:v1", registry.addr()), None);
    assert_eq!(media_type(&json(&oci_raw.expect("raw"))), OCI_MANIFEST);
    let docker_raw = skopeo_raw_manifest(&format!("{}/one/docker:v1", registry.addr()), None);
    assert_eq!(
        media_type(&json(&docker_raw.expect("raw"))),
        DOCKER_MANIFEST
    );
}

#[test]
fn restart_keeps_port_and_data() {
    let work = tempdir();
    let mut registry = LocalRegistry::start(&work.path().join("reg")).expect("start registry");
    let digest = seed_image(
        work.path(),
        registry.addr(),
        "keep/me",
        &["v1"],
        &ImageSpec::small(4),
        SeedFormat::Oci,
    )
    .expect("seed");
    let port = registry.port();
    let image = format!("{}/keep/me:v1", registry.addr());

    registry.stop();
    registry.stop();
    assert!(
        skopeo_digest(&image, None).is_err(),
        "stopped registry answered"
    );

    registry.restart().expect("restart");
    assert_eq!(registry.port(), port);
    assert_eq!(
        skopeo_digest(&image, None).expect("digest after restart"),
        digest
    );
}

#[test]
fn basic_auth_requires_credentials() {
    let work = tempdir();
    let registry = LocalRegistry::start_with_basic_auth(&work.path().join("reg"), "ci", "s3:cret")
        .expect("start registry");
    let creds = registry.credentials();
    assert_eq!(creds, Some(("ci", "s3:cret")));
    let layout = work.path().join("layout");
    let built = build_oci_layout(&layout, "v1", &ImageSpec::small(5)).expect("build");
    let image = format!("{}/secure/app:v1", registry.addr());

    let refused = skopeo_copy(&layout, "v1", &image, SeedFormat::Oci, None);
    assert!(
        matches!(refused, Err(SandboxError::CommandFailed { .. })),
        "anonymous push succeeded: {refused:?}"
    );
    let wrong = skopeo_copy(&layout, "v1", &image, SeedFormat::Oci, Some(("ci", "nope")));
    let message = wrong.expect_err("wrong password accepted").to_string();
    assert!(
        !message.contains("nope"),
        "password leaked into error: {message}"
    );

    skopeo_copy(&layout, "v1", &image, SeedFormat::Oci, creds).expect("authenticated push");
    assert!(
        skopeo_digest(&image, None).is_err(),
        "anonymous read succeeded"
    );
    assert_eq!(skopeo_digest(&image, creds).expect("digest"), built);
    let repo = format!("{}/secure/app", registry.addr());
    assert_eq!(skopeo_list_tags(&repo, creds).expect("tags"), ["v1"]);
}

#[test]
fn registries_get_distinct_ports() {
    let (a, b) = (tempdir(), tempdir());
    let first = LocalRegistry::start(a.path()).expect("first");
    let second = LocalRegistry::start(b.path()).expect("second");
    assert_ne!(first.port(), second.port());
    assert_eq!(first.addr(), format!("127.0.0.1:{}", first.port()));
    assert!(first.log_path().exists());
}

/// Run with `cargo test --lib sandbox -- --ignored` to check that big layers stream.
#[test]
#[ignore = "writes and pushes 200 MB"]
fn large_layer_streams_through() {
    let work = tempdir();
    let registry = LocalRegistry::start(&work.path().join("reg")).expect("start registry");
    let mut spec = ImageSpec::small(6);
    spec.platforms = vec!["amd64".to_string()];
    spec.layer_sizes = vec![200 * 1024 * 1024];
    let digest = seed_image(
        work.path(),
        registry.addr(),
        "big/one",
        &["v1"],
        &spec,
        SeedFormat::Oci,
    )
    .expect("seed");
    let image = format!("{}/big/one:v1", registry.addr());
    assert_eq!(skopeo_digest(&image, None).expect("digest"), digest);
}
