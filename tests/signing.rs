//! Cosign-compatible signing through the real binary against real registries: keys, signing
//! on promotion, carrying and merging signatures, verification, and an independent check of
//! our signatures in Python (`cryptography`), since cosign itself cannot be installed here.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{code, command_in, json, registries, stderr, stdout, Case};
use gantry::sandbox::{LocalRegistry, SeedFormat};

/// The password variable these tests name in `[signing] password_env`.
const PASSWORD_ENV: &str = "GANTRY_TEST_SIGNING_PASSWORD";

/// Runs gantry with this case's config and `envs` set (and COSIGN_PASSWORD removed, so
/// the developer's own environment cannot leak in).
fn run(case: &Case, config: &Path, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut all = vec!["--config", config.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    let mut command = command_in(case.dir.path(), &all);
    command
        .env_remove("COSIGN_PASSWORD")
        .env_remove(PASSWORD_ENV);
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("run gantry")
}

/// `gantry keys generate` into `dir`, the files renamed `<name>.key` / `<name>.pub` so
/// reports tell keys apart.
fn generate(case: &Case, name: &str, password: &str) -> (PathBuf, PathBuf) {
    let dir = case.dir.path().join(format!("keys-{name}"));
    let out = run(
        case,
        &case.config,
        &[("COSIGN_PASSWORD", password)],
        &[
            "keys",
            "generate",
            "--output-dir",
            dir.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (key, public) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    std::fs::rename(dir.join("cosign.key"), &key).expect("rename key");
    std::fs::rename(dir.join("cosign.pub"), &public).expect("rename pub");
    (key, public)
}

/// A copy of the case's config with `[signing]` and `sign = true` on `signing_env`.
fn signing_config(
    case: &Case,
    file: &str,
    signing_env: &str,
    key: &Path,
    public_keys: &[&Path],
) -> PathBuf {
    let mut text = std::fs::read_to_string(&case.config).expect("read config");
    let marker = format!("name = \"{signing_env}\"\n");
    assert!(text.contains(&marker), "no environment {signing_env}");
    text = text.replacen(&marker, &format!("{marker}sign = true\n"), 1);
    text.push_str(&format!(
        "\n[signing]\nkey = {:?}\npassword_env = \"{PASSWORD_ENV}\"\npublic_keys = [{}]\n",
        key.display().to_string(),
        public_keys
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let path = case.dir.path().join(file);
    std::fs::write(&path, text).expect("write config");
    path
}

/// A case with `sha-<commit>` (image `seed`) in dev, and `signing.toml`: its config with
/// stage signing under a fresh key `k` (no password) that it also trusts. Returns the
/// case, the image's digest and the signing config.
fn stage_signing_case(name: &str, commit: &str, seed: u64) -> (Case, String, PathBuf) {
    let case = Case::new(name);
    let digest = case.seed(commit, seed, &[], SeedFormat::Oci);
    let (key, public) = generate(&case, "k", "");
    let config = signing_config(&case, "signing.toml", "stage", &key, &[&public]);
    (case, digest, config)
}

fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// The independent verifier: fetches the `.sig` manifest and payloads over plain HTTP and
/// checks each layer's ECDSA P-256 signature over the exact payload bytes with `public`,
/// and the payload's docker-manifest-digest against `digest`. Prints one JSON object per layer.
const PY_VERIFY: &str = r#"
import base64, hashlib, json, sys, urllib.request
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

registry, repo, digest, public = sys.argv[1:5]
def get(path, accept=None):
    request = urllib.request.Request("http://%s/v2/%s/%s" % (registry, repo, path))
    if accept:
        request.add_header("Accept", accept)
    return urllib.request.urlopen(request, timeout=10).read()

manifest = json.loads(get("manifests/" + digest.replace(":", "-") + ".sig",
                          "application/vnd.oci.image.manifest.v1+json"))
key = serialization.load_pem_public_key(open(public, "rb").read())
assert isinstance(key.curve, ec.SECP256R1), key.curve
out = []
for layer in manifest["layers"]:
    payload = get("blobs/" + layer["digest"])
    assert "sha256:" + hashlib.sha256(payload).hexdigest() == layer["digest"]
    document = json.loads(payload)
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    try:
        key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        valid = True
    except InvalidSignature:
        valid = False
    out.append({
        "media_type": layer["mediaType"],
        "valid": valid,
        "signed_digest": document["critical"]["image"]["docker-manifest-digest"],
        "type": document["critical"]["type"],
        "reference": document["critical"]["identity"]["docker-reference"],
    })
print(json.dumps({"media_type": manifest.get("mediaType"), "layers": out}))
"#;

fn python_verify(
    registry: &LocalRegistry,
    repo: &str,
    digest: &str,
    public: &Path,
) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .args(["-c", PY_VERIFY, registry.addr(), repo, digest])
        .arg(public)
        .output()
        .expect("python3 (with the cryptography package) must be installed");
    assert!(
        out.status.success(),
        "python verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("verifier JSON")
}

/// Raw HTTP to the registry, from Python: a manifest's bytes, a blob's bytes.
fn http_get(registry: &LocalRegistry, path: &str) -> Vec<u8> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request\nr = urllib.request.Request(sys.argv[1], headers={'Accept': 'application/vnd.oci.image.manifest.v1+json'})\nsys.stdout.buffer.write(urllib.request.urlopen(r, timeout=10).read())",
            &format!("http://{}/v2/{path}", registry.addr()),
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

fn sig_manifest(registry: &LocalRegistry, repo: &str, digest: &str) -> serde_json::Value {
    let bytes = http_get(registry, &format!("{repo}/manifests/{}", sig_tag(digest)));
    serde_json::from_slice(&bytes).expect("sig manifest JSON")
}

#[test]
fn generated_key_signs_a_promotion_that_verifies_here_and_in_python() {
    let case = Case::new("sign-generated");
    let regs = registries();
    let digest = case.seed("5a5a5a5", 41, &["latest"], SeedFormat::Oci);
    let (key, public) = generate(&case, "release", "correct horse");
    // A second generate into the same place is refused and leaves the key alone.
    let before = std::fs::read(&public).expect("pub");
    std::fs::copy(&public, public.with_file_name("cosign.pub")).expect("copy");
    let again = run(
        &case,
        &case.config,
        &[],
        &[
            "keys",
            "generate",
            "--output-dir",
            public.parent().and_then(Path::to_str).expect("dir"),
        ],
    );
    assert_eq!(code(&again), 2, "{}", stdout(&again));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read(public.with_file_name("cosign.pub")).expect("pub"),
        before
    );
    assert!(!std::fs::read_to_string(&key)
        .expect("key")
        .contains("correct horse"));

    let config = signing_config(&case, "signing.toml", "stage", &key, &[&public]);
    let image = format!("{}:sha-5a5a5a5", case.service);
    let password = [(PASSWORD_ENV, "correct horse")];

    // A wrong password stops the promotion before anything is written.
    let wrong = run(
        &case,
        &config,
        &[(PASSWORD_ENV, "battery staple")],
        &["promote", &image, "--to", "stage"],
    );
    assert_eq!(code(&wrong), 2, "{}", stdout(&wrong));
    assert!(
        stderr(&wrong).contains(&format!("${PASSWORD_ENV}")),
        "{}",
        stderr(&wrong)
    );
    assert!(!stderr(&wrong).contains("battery"), "{}", stderr(&wrong));
    assert!(case.tags_at(&regs.stage, &case.service).is_empty());

    let out = run(
        &case,
        &config,
        &password,
        &["promote", &image, "--to", "stage", "--json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let signatures = &json(&out)[0]["outcome"]["plan"]["signatures"];
    assert_eq!(signatures["sign"], "sign", "{signatures}");
    assert_eq!(signatures["carried"], 0);

    // Signing never touches the image: skopeo sees the digest it pushed, in both places.
    assert_eq!(case.digest_at(&regs.stage, "sha-5a5a5a5"), digest);
    assert_eq!(case.digest_at(&regs.stage, "stage"), digest);
    assert_eq!(case.digest_at(&regs.dev, "sha-5a5a5a5"), digest);
    let tags = case.tags_at(&regs.stage, &case.service);
    let mut expected = vec![sig_tag(&digest), "sha-5a5a5a5".into(), "stage".to_string()];
    expected.sort();
    assert_eq!(tags, expected);

    let verified = run(
        &case,
        &config,
        &[],
        &["verify", &image, "--env", "stage", "--json"],
    );
    assert_eq!(code(&verified), 0, "{}", stdout(&verified));
    let report = json(&verified);
    assert_eq!(report["status"], "signed");
    assert_eq!(report["by"], serde_json::json!(["release.pub"]));
    assert_eq!(report["digest"], digest.as_str());
    // The mutable tag names the same image.
    let by_tag = run(
        &case,
        &config,
        &[],
        &[
            "verify",
            &format!("{}:stage", case.service),
            "--env",
            "stage",
        ],
    );
    assert_eq!(code(&by_tag), 0, "{}", stdout(&by_tag));
    assert!(
        stdout(&by_tag).contains("signed by release.pub"),
        "{}",
        stdout(&by_tag)
    );

    // The independent check: cosign's format, checked with another implementation.
    let checked = python_verify(&regs.stage, &case.service, &digest, &public);
    assert_eq!(
        checked["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let layers = checked["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{checked}");
    assert_eq!(
        layers[0]["media_type"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    assert_eq!(layers[0]["valid"], true, "{checked}");
    assert_eq!(layers[0]["signed_digest"], digest.as_str());
    assert_eq!(layers[0]["type"], "cosign container image signature");
    assert_eq!(
        layers[0]["reference"],
        format!("{}/{}", regs.stage.addr(), case.service)
    );
    // The verifier can say no: another key does not verify our signature.
    let (_, stranger) = generate(&case, "stranger", "");
    let rejected = python_verify(&regs.stage, &case.service, &digest, &stranger);
    assert_eq!(rejected["layers"][0]["valid"], false, "{rejected}");
    // And gantry says no too, with exit 3, when told to trust only that key.
    let untrusted = run(
        &case,
        &config,
        &[],
        &[
            "verify",
            &image,
            "--env",
            "stage",
            "--key",
            stranger.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&untrusted), 3, "{}", stdout(&untrusted));
    assert!(
        stdout(&untrusted).contains("invalid"),
        "{}",
        stdout(&untrusted)
    );

    // Promoting again adds nothing: the key's signature is already there.
    let again = run(
        &case,
        &config,
        &password,
        &["promote", &image, "--to", "stage", "--json"],
    );
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        json(&again)[0]["outcome"]["plan"]["signatures"]["sign"],
        "present"
    );
    let manifest = sig_manifest(&regs.stage, &case.service, &digest);
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(1));
}

#[test]
fn cosign_made_key_signs_and_verifies() {
    let case = Case::new("sign-cosign-fixture");
    let regs = registries();
    let digest = case.seed("c05161e", 42, &[], SeedFormat::Oci);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/cosign/cosign-generated-empty-password.key");
    // No public key configured: the key's own public part is trusted.
    let config = signing_config(&case, "fixture.toml", "stage", &fixture, &[]);
    let image = format!("{}:sha-c05161e", case.service);
    // The password variable is unset: cosign's empty password.
    let out = run(&case, &config, &[], &["promote", &image, "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("signed"), "{}", stdout(&out));
    assert_eq!(case.digest_at(&regs.stage, "sha-c05161e"), digest);

    let verified = run(
        &case,
        &config,
        &[],
        &["verify", &image, "--env", "stage", "--json"],
    );
    assert_eq!(code(&verified), 0, "{}", stdout(&verified));
    let report = json(&verified);
    assert_eq!(report["status"], "signed", "{report}");
    assert_eq!(
        report["signatures"][0]["valid_for"],
        serde_json::json!(["cosign-generated-empty-password.key (public part)"])
    );
}

#[test]
fn signatures_travel_dev_stage_prod_and_merge_with_a_prod_signature() {
    let case = Case::new("sign-carry");
    let regs = registries();
    let digest = case.seed("ca771ed", 43, &[], SeedFormat::Oci);
    let (stage_key, stage_pub) = generate(&case, "stage-signer", "s");
    let (prod_key, prod_pub) = generate(&case, "prod-signer", "p");
    let image = format!("{}:sha-ca771ed", case.service);

    let stage_config = signing_config(&case, "stage.toml", "stage", &stage_key, &[&stage_pub]);
    let out = run(
        &case,
        &stage_config,
        &[(PASSWORD_ENV, "s")],
        &["promote", &image, "--to", "stage"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stage_sig = sig_manifest(&regs.stage, &case.service, &digest);
    let stage_layer = stage_sig["layers"][0].clone();
    let layer_digest = stage_layer["digest"]
        .as_str()
        .expect("layer digest")
        .to_string();
    let stage_payload = http_get(
        &regs.stage,
        &format!("{}/blobs/{layer_digest}", case.service),
    );

    // Prod signs with its own key and trusts both.
    let prod_config = signing_config(
        &case,
        "prod.toml",
        "prod",
        &prod_key,
        &[&stage_pub, &prod_pub],
    );
    let dry = run(
        &case,
        &prod_config,
        &[(PASSWORD_ENV, "p")],
        &["promote", &image, "--to", "prod", "--dry-run", "--json"],
    );
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let planned = &json(&dry)[0]["outcome"]["plan"]["signatures"];
    assert_eq!(planned["source"], 1, "{planned}");
    assert_eq!(planned["carried"], 1, "{planned}");
    assert_eq!(planned["sign"], "sign", "{planned}");

    let out = run(
        &case,
        &prod_config,
        &[(PASSWORD_ENV, "p")],
        &["promote", &image, "--to", "prod"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 signature carried, signed"),
        "{}",
        stdout(&out)
    );
    assert_eq!(case.digest_at(&regs.prod, "sha-ca771ed"), digest);

    let prod_sig = sig_manifest(&regs.prod, &case.service, &digest);
    let layers = prod_sig["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2, "{prod_sig}");
    // The carried signature is the stage one, descriptor and payload bytes unchanged.
    assert_eq!(layers[0], stage_layer);
    assert_eq!(
        http_get(
            &regs.prod,
            &format!("{}/blobs/{layer_digest}", case.service)
        ),
        stage_payload
    );

    let verified = run(
        &case,
        &prod_config,
        &[],
        &["verify", &image, "--env", "prod", "--json"],
    );
    assert_eq!(code(&verified), 0, "{}", stdout(&verified));
    let report = json(&verified);
    assert_eq!(
        report["signatures"][0]["valid_for"],
        serde_json::json!(["stage-signer.pub"])
    );
    assert_eq!(
        report["signatures"][1]["valid_for"],
        serde_json::json!(["prod-signer.pub"])
    );
    // Independently: each layer verifies with its own key, not with the other.
    let by_stage = python_verify(&regs.prod, &case.service, &digest, &stage_pub);
    let by_prod = python_verify(&regs.prod, &case.service, &digest, &prod_pub);
    assert_eq!(by_stage["layers"][0]["valid"], true, "{by_stage}");
    assert_eq!(by_stage["layers"][1]["valid"], false, "{by_stage}");
    assert_eq!(by_prod["layers"][0]["valid"], false, "{by_prod}");
    assert_eq!(by_prod["layers"][1]["valid"], true, "{by_prod}");
    for layer in by_prod["layers"].as_array().expect("layers") {
        assert_eq!(layer["signed_digest"], digest.as_str());
    }

    // Once more: everything is there, nothing is added.
    let again = run(
        &case,
        &prod_config,
        &[(PASSWORD_ENV, "p")],
        &["promote", &image, "--to", "prod", "--json"],
    );
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let plan = &json(&again)[0]["outcome"]["plan"];
    assert_eq!(plan["signatures"]["carried"], 0, "{plan}");
    assert_eq!(plan["signatures"]["sign"], "present", "{plan}");
    assert_eq!(sig_manifest(&regs.prod, &case.service, &digest), prod_sig);
}

#[test]
fn unsigned_and_tampered_images_fail_verification() {
    let (case, digest, config) = stage_signing_case("sign-tamper", "7a3be4d", 44);
    let regs = registries();
    let image = format!("{}:sha-7a3be4d", case.service);

    let unsigned = run(
        &case,
        &config,
        &[],
        &["verify", &image, "--env", "dev", "--json"],
    );
    assert_eq!(code(&unsigned), 3, "{}", stderr(&unsigned));
    assert_eq!(json(&unsigned)["status"], "unsigned");

    let out = run(&case, &config, &[], &["promote", &image, "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ok = run(&case, &config, &[], &["verify", &image, "--env", "stage"]);
    assert_eq!(code(&ok), 0, "{}", stdout(&ok));

    // Rewrite the stage payload (another docker-reference), keep the signature: what a
    // registry-side forgery looks like. Written with plain HTTP from Python, not gantry.
    let tamper = r#"
import hashlib, json, sys, urllib.request
registry, repo, tag = sys.argv[1:4]
base = "http://%s/v2/%s/" % (registry, repo)
accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
manifest = json.loads(urllib.request.urlopen(urllib.request.Request(base + "manifests/" + tag, headers=accept)).read())
layer = manifest["layers"][0]
payload = urllib.request.urlopen(base + "blobs/" + layer["digest"]).read()
forged = payload.replace(b'"docker-reference":"', b'"docker-reference":"evil.example/')
digest = "sha256:" + hashlib.sha256(forged).hexdigest()
start = urllib.request.urlopen(urllib.request.Request(base + "blobs/uploads/", method="POST"))
location = start.headers["Location"]
if location.startswith("/"):
    location = "http://%s%s" % (registry, location)
location += ("&" if "?" in location else "?") + "digest=" + digest
urllib.request.urlopen(urllib.request.Request(location, data=forged, method="PUT", headers={"Content-Type": "application/octet-stream"}))
layer["digest"], layer["size"] = digest, len(forged)
body = json.dumps(manifest).encode()
urllib.request.urlopen(urllib.request.Request(base + "manifests/" + tag, data=body, method="PUT", headers={"Content-Type": manifest["mediaType"]}))
"#;
    let forged = std::process::Command::new("python3")
        .args([
            "-c",
            tamper,
            regs.stage.addr(),
            &case.service,
            &sig_tag(&digest),
        ])
        .output()
        .expect("python3");
    assert!(
        forged.status.success(),
        "{}",
        String::from_utf8_lossy(&forged.stderr)
    );

    let invalid = run(
        &case,
        &config,
        &[],
        &["verify", &image, "--env", "stage", "--json"],
    );
    assert_eq!(code(&invalid), 3, "{}", stderr(&invalid));
    let report = json(&invalid);
    assert_eq!(report["status"], "invalid", "{report}");
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.contains("does not verify")),
        "{report}"
    );
    assert!(report["signatures"][0]["docker_reference"]
        .as_str()
        .is_some_and(|r| r.starts_with("evil.example/")));
}

#[test]
fn dry_run_writes_no_signature() {
    let (case, digest, config) = stage_signing_case("sign-dry-run", "d47e1a5", 45);
    let regs = registries();
    let image = format!("{}:sha-d47e1a5", case.service);
    let out = run(
        &case,
        &config,
        &[],
        &["promote", &image, "--to", "stage", "--dry-run"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("sigs     signed"), "{}", stdout(&out));
    assert!(case.tags_at(&regs.stage, &case.service).is_empty());

    // Promoted without signing first, then into a signing configuration: only the
    // signature is missing, and the plan is not a no-op because of it.
    let plain = run(
        &case,
        &case.config,
        &[],
        &["promote", &image, "--to", "stage"],
    );
    assert_eq!(code(&plain), 0, "{}", stderr(&plain));
    let dry = run(
        &case,
        &config,
        &[],
        &["promote", &image, "--to", "stage", "--dry-run", "--json"],
    );
    let plan = &json(&dry)[0]["outcome"]["plan"];
    assert_eq!(plan["signatures"]["sign"], "sign", "{plan}");
    assert!(!case
        .tags_at(&regs.stage, &case.service)
        .contains(&sig_tag(&digest)));
    let signed = run(&case, &config, &[], &["promote", &image, "--to", "stage"]);
    assert_eq!(code(&signed), 0, "{}", stderr(&signed));
    assert!(case
        .tags_at(&regs.stage, &case.service)
        .contains(&sig_tag(&digest)));
}

#[test]
fn signing_configuration_errors_are_located() {
    let case = Case::new("sign-config");
    let base = std::fs::read_to_string(&case.config).expect("config");
    let cases: &[(&str, &str, &str)] = &[
        // sign = true with no key.
        (
            "name = \"stage\"\n",
            "sign = true\n",
            "no key is configured",
        ),
        ("", "[signing]\nkey = \"missing.key\"\n", "no such file"),
        (
            "",
            "[signing]\npublic_keys = [\"nope.pub\"]\n",
            "no such file",
        ),
        (
            "",
            "[signing]\npassword_env = \"not a name\"\n",
            "not an environment variable",
        ),
    ];
    for (i, (after, insert, words)) in cases.iter().enumerate() {
        let text = if after.is_empty() {
            format!("{base}\n{insert}")
        } else {
            base.replacen(after, &format!("{after}{insert}"), 1)
        };
        let path = case.dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&path, &text).expect("write");
        let out = run(&case, &path, &[], &["status"]);
        assert_eq!(code(&out), 2, "{insert}: {}", stderr(&out));
        let line = text[..text
            .find(insert.lines().last().unwrap_or_default())
            .expect("inserted")]
            .matches('\n')
            .count()
            + 1;
        let err = stderr(&out);
        assert!(
            err.contains(&format!("bad-{i}.toml:{line}:")) && err.contains(words),
            "{insert}: expected line {line} and {words:?} in {err}"
        );
    }
    // A SEC1 key is named as such, where it is configured.
    std::fs::write(
        case.dir.path().join("sec1.key"),
        "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
    )
    .expect("write");
    let path = case.dir.path().join("sec1.toml");
    std::fs::write(&path, format!("{base}\n[signing]\nkey = \"sec1.key\"\n")).expect("write");
    let out = run(&case, &path, &[], &["status"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("SEC1"), "{}", stderr(&out));
}
