//! Supply-chain artifacts travel with a promotion, on both registry kinds: Distribution 2.8
//! (no referrers API: the `sha256-<hex>` fallback tag) and ferro-oci-server (the referrers
//! API). The image and what is attached to it are seeded by skopeo and oras-py, and what
//! arrives is read back by oras-py, not by gantry.

mod common;

use common::supply::{api_registries, read_attached, seed, supply_config, Seeded};
use common::{code, json, registries, stderr, Case};
use gantry::sandbox::skopeo_digest;

/// A case whose config has both registry kinds (see `supply_config`), `head` first.
fn supply_case(name: &str, head: &str) -> Case {
    let case = Case::new(name);
    std::fs::write(&case.config, supply_config(&case.service, head)).expect("write config");
    case
}

/// Seeds `sha-<commit>` where `env` keeps it; the fallback indexes only where there is no API.
fn seed_in(case: &Case, env: &str, commit: &str) -> Seeded {
    let (registry, fallback) = match env {
        "dev" => (registries().dev.addr().to_string(), true),
        "fdev" => (api_registries().a.addr().to_string(), false),
        other => panic!("no seeding in {other}"),
    };
    seed(
        case.dir.path(),
        &registry,
        &case.service,
        &format!("sha-{commit}"),
        fallback,
    )
}

/// Registry address and repository of the case's service in `env`.
fn place(case: &Case, env: &str) -> (String, String) {
    let regs = registries();
    let api = api_registries();
    match env {
        "dev" => (regs.dev.addr().into(), case.service.clone()),
        "stage" => (regs.stage.addr().into(), case.service.clone()),
        "fdev" => (api.a.addr().into(), case.service.clone()),
        "fstage" => (api.b.addr().into(), case.service.clone()),
        "xapi" => (api.b.addr().into(), format!("x/{}", case.service)),
        "xtag" => (regs.prod.addr().into(), format!("x/{}", case.service)),
        other => panic!("unknown environment {other}"),
    }
}

fn attached(case: &Case, env: &str, digest: &str) -> serde_json::Value {
    let (registry, repository) = place(case, env);
    read_attached(&registry, &repository, digest)
}

/// Promotes `sha-<commit>` from `from` to `to` and checks, with oras-py and skopeo, that
/// everything attached in the source arrived with the same digests, listed the way the
/// target registry lists referrers.
fn promote_and_compare(name: &str, from: &str, to: &str, target_has_api: bool) {
    let case = supply_case(name, "");
    let commit = "5eed0017";
    let seeded = seed_in(&case, from, commit);
    let before = attached(&case, from, &seeded.digest);
    // SPDX, CycloneDX, SLSA provenance and a vulnerability report on the index, a signature
    // on the SPDX SBOM, a CycloneDX SBOM on the amd64 image.
    assert_eq!(
        before["referrers"][&seeded.digest].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(before["referrers"].as_object().map(|m| m.len()), Some(3));
    assert_eq!(before["sig_layers"], 2);

    let attachments = promote_attachments(&case, commit, from, to);
    // 6 referrers and the .sig, .att and .sbom tags.
    assert_eq!(attachments["found"], 9, "{attachments}");
    assert_eq!(attachments["present"], 0, "{attachments}");

    let (registry, repository) = place(&case, to);
    assert_eq!(
        skopeo_digest(&format!("{registry}/{repository}:sha-{commit}"), None).expect("skopeo"),
        seeded.digest
    );
    let after = attached(&case, to, &seeded.digest);
    assert_eq!(after["api"], target_has_api);
    assert_eq!(after["referrers"], before["referrers"]);
    assert_eq!(after["tags"], before["tags"]);
    assert_eq!(after["sig_layers"], 2);

    // Again: everything is there, nothing moves.
    let plan = promote_attachments(&case, commit, from, to);
    // The .sig is now the signing step's (it merges into the target's).
    assert_eq!(plan["present"], 8, "{plan}");
    assert!(plan.get("referrers").is_none(), "{plan}");
}

/// `gantry promote service:sha-<commit> --from --to --json`: the plan's attachments part.
fn promote_attachments(case: &Case, commit: &str, from: &str, to: &str) -> serde_json::Value {
    let out = case.gantry(&[
        "promote",
        &format!("{}:sha-{commit}", case.service),
        "--from",
        from,
        "--to",
        to,
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    json(&out)[0]["outcome"]["plan"]["attachments"].clone()
}

#[test]
fn distribution_to_distribution_carries_every_attachment_through_fallback_tags() {
    promote_and_compare("dist-dist", "dev", "stage", false);
}

#[test]
fn api_to_api_carries_every_referrer_through_the_api() {
    promote_and_compare("api-api", "fdev", "fstage", true);
}

#[test]
fn fallback_tags_are_read_and_the_api_is_written() {
    promote_and_compare("dist-api", "dev", "xapi", true);
}

#[test]
fn the_api_is_read_and_fallback_tags_are_written() {
    promote_and_compare("api-dist", "fdev", "xtag", false);
}

#[test]
fn artifact_type_filter_and_switch() {
    let case = supply_case(
        "filter",
        "[copy]\nartifact_types = [\"application/spdx+json\"]\n",
    );
    let seeded = seed_in(&case, "dev", "f1175e7");
    let out = case.gantry(&[
        "promote",
        &format!("{}:sha-f1175e7", case.service),
        "--to",
        "stage",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let after = attached(&case, "stage", &seeded.digest);
    let on_index = after["referrers"][&seeded.digest]
        .as_array()
        .expect("referrers of the index")
        .clone();
    assert_eq!(on_index.len(), 1, "{after}");
    assert_eq!(on_index[0][1], "application/spdx+json");
    // The SBOM's own signature travels with it; nothing else does but the image's
    // signatures, which are not filtered (cosign's `.sbom` holds text/spdx+json).
    assert_eq!(after["referrers"].as_object().map(|m| m.len()), Some(2));
    let tags: Vec<&String> = after["tags"].as_object().expect("tags").keys().collect();
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert!(tags[0].ends_with(".sig"), "{tags:?}");

    let off = supply_case("switch-off", "[copy]\nreferrers = false\n");
    let seeded = seed_in(&off, "fdev", "0ff0ff0");
    let out = off.gantry(&[
        "promote",
        &format!("{}:sha-0ff0ff0", off.service),
        "--to",
        "fstage",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let after = attached(&off, "fstage", &seeded.digest);
    assert!(after["referrers"].as_object().is_some_and(|r| r.is_empty()));
}

#[test]
fn a_referrer_that_cannot_be_copied_leaves_the_target_tags_untouched() {
    let case = supply_case("broken", "");
    let seeded = seed_in(&case, "dev", "b40ce11");
    // The CycloneDX SBOM's layer disappears from the source registry.
    let cyclonedx = seeded.json["referrers"]
        .as_array()
        .expect("referrers")
        .iter()
        .find(|r| r["artifactType"] == "application/vnd.cyclonedx+json")
        .expect("a CycloneDX referrer")["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let (registry, repository) = place(&case, "dev");
    let manifest: serde_json::Value = serde_json::from_slice(&http(
        "GET",
        &format!("http://{registry}/v2/{repository}/manifests/{cyclonedx}"),
    ))
    .expect("manifest");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
    http(
        "DELETE",
        &format!("http://{registry}/v2/{repository}/blobs/{layer}"),
    );

    let out = case.gantry(&[
        "promote",
        &format!("{}:sha-b40ce11", case.service),
        "--to",
        "stage",
    ]);
    assert_ne!(code(&out), 0, "a promotion missing an attachment must fail");
    assert!(stderr(&out).contains("blob"), "{}", stderr(&out));
    let regs = registries();
    let tags = case.tags_at(&regs.stage, &case.service);
    assert!(
        !tags.iter().any(|t| t == "sha-b40ce11" || t == "stage"),
        "{tags:?}"
    );
}

/// One request from Python's standard library; the body it answers.
fn http(method: &str, url: &str) -> Vec<u8> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request\nr = urllib.request.Request(sys.argv[2], method=sys.argv[1], headers={'Accept': 'application/vnd.oci.image.manifest.v1+json'})\nsys.stdout.buffer.write(urllib.request.urlopen(r, timeout=10).read())",
            method,
            url,
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
