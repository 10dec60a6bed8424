//! Keys, payloads, `.sig` manifests and verification, without a registry.

use std::path::Path;

use super::*;
use crate::config::keyfiles::private_pem_problem;
use crate::domain::media;

const DIGEST: &str = "sha256:2b2e927f1a3c2b2e927f1a3c2b2e927f1a3c2b2e927f1a3c2b2e927f1a3c2b2e";
const OTHER: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn fixture_key() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/cosign/cosign-generated-empty-password.key");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn digest(text: &str) -> Digest {
    text.parse().expect("digest")
}

fn pair(dir: &Path, password: &str) -> (SigningKey, PublicKey) {
    let (private, public) = generate_key_pair(dir, password.as_bytes()).expect("generate");
    let pem = std::fs::read(private).expect("read key");
    let key = SigningKey::from_pem(&pem, password.as_bytes(), "cosign.key").expect("load");
    (key, PublicKey::load(&public).expect("public"))
}

#[test]
fn cosign_made_key_loads_with_the_empty_password_and_signs() {
    let key = SigningKey::from_pem(&fixture_key(), b"", "fixture.key").expect("fixture key");
    let payload = payload(&digest(DIGEST), "registry.example/app");
    let signature = key.sign(&payload).expect("sign");
    assert!(key.public().verifies(&signature, &payload));
    assert!(!key.public().verifies(&signature, b"other bytes"));
    // A password where there is none is a decryption failure, said as such.
    assert!(matches!(
        SigningKey::from_pem(&fixture_key(), b"wrong", "fixture.key"),
        Err(KeyProblem::Decrypt)
    ));
}

#[test]
fn payload_is_cosigns_simplesigning_document() {
    let bytes = payload(&digest(DIGEST), "localhost:5000/app");
    assert_eq!(
        String::from_utf8(bytes).expect("utf-8"),
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"localhost:5000/app"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
    );
    assert_eq!(
        signature_tag(&digest(DIGEST)),
        format!("sha256-{}.sig", &DIGEST[7..])
    );
}

#[test]
fn generated_keys_are_encrypted_private_and_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = pair(dir.path(), "s3cret");
    let text = std::fs::read_to_string(dir.path().join("cosign.key")).expect("key");
    assert!(text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    assert!(!text.contains("s3cret"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("cosign.key"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "private key readable by others: {mode:o}");
    assert_eq!(public.id, key.public().id);
    assert!(matches!(
        SigningKey::from_pem(text.as_bytes(), b"", "cosign.key"),
        Err(KeyProblem::Decrypt)
    ));
    let before = std::fs::read(dir.path().join("cosign.pub")).expect("pub");
    assert!(generate_key_pair(dir.path(), b"").is_err());
    assert_eq!(
        std::fs::read(dir.path().join("cosign.pub")).expect("pub"),
        before
    );
}

#[test]
fn verification_needs_the_right_key_digest_and_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = pair(dir.path(), "");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let (_, stranger) = pair(other_dir.path(), "");
    let image = digest(DIGEST);
    let body = payload(&image, "r/app");
    let layer = SigLayer::new(&body, key.sign(&body).expect("sign"));

    let ok = check_layer(&layer, &body, &image, &[stranger.clone(), public.clone()]);
    assert_eq!(ok.valid_for, ["cosign.pub"]);
    assert_eq!(ok.problem, None);
    assert_eq!(
        SignatureStatus::from_checks(&[ok]),
        SignatureStatus::Signed {
            by: vec!["cosign.pub".into()]
        }
    );

    let by_stranger = check_layer(&layer, &body, &image, &[stranger]);
    assert!(by_stranger.valid_for.is_empty());
    assert!(matches!(
        SignatureStatus::from_checks(&[by_stranger]),
        SignatureStatus::Invalid { .. }
    ));

    // The same signature presented for another image: the payload names the first.
    let elsewhere = check_layer(&layer, &body, &digest(OTHER), std::slice::from_ref(&public));
    assert!(elsewhere
        .problem
        .expect("problem")
        .contains("not this image"));

    // One byte changed in the payload (still valid JSON naming the image).
    let tampered = String::from_utf8(body.clone())
        .expect("utf-8")
        .replace("r/app", "r/apq");
    let check = check_layer(&layer, tampered.as_bytes(), &image, &[public]);
    assert_eq!(
        check.problem.as_deref(),
        Some("signature does not verify with any trusted key")
    );
    assert_eq!(SignatureStatus::from_checks(&[]), SignatureStatus::Unsigned);
}

#[test]
fn merging_keeps_existing_descriptors_byte_for_byte_and_skips_duplicates() {
    // A descriptor as another tool wrote it: its own key order, spacing and annotations.
    let foreign = format!(
        r#"{{ "annotations": {{"dev.sigstore.cosign/bundle": "{{}}", "{SIGNATURE_ANNOTATION}": "c2ln"}}, "digest": "{OTHER}", "size": 7, "mediaType": "{SIMPLESIGNING_MEDIA_TYPE}" }}"#
    );
    let existing = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{OCI_CONFIG_MEDIA_TYPE}","size":2,"digest":"{OTHER}"}},"layers":[{foreign}],"annotations":{{"org.example":"kept"}}}}"#,
        media::OCI_MANIFEST
    );
    let mut manifest = SigManifest::parse(media::OCI_MANIFEST, existing.as_bytes()).expect("parse");
    assert_eq!(manifest.layers[0].signature.as_deref(), Some("c2ln"));
    let body = payload(&digest(DIGEST), "r/app");
    let layer = SigLayer::new(&body, "c2lnMg==".into());
    assert!(manifest.add(&layer));
    assert!(!manifest.add(&layer), "the same signature twice");
    let (bytes, config) = manifest.encode();
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    assert!(text.contains(&foreign), "{text}");
    assert!(
        text.contains(r#""annotations":{"org.example":"kept"}"#),
        "{text}"
    );

    let again = SigManifest::parse(media::OCI_MANIFEST, &bytes).expect("reparse");
    assert_eq!(again.layers.len(), 2);
    assert!(again.layers[1].same_as(&layer));
    let config_digest = Digest::of(&config);
    let config: serde_json::Value = serde_json::from_slice(&config).expect("config");
    assert_eq!(config["rootfs"]["diff_ids"][0], OTHER);
    assert_eq!(config["rootfs"]["diff_ids"][1], layer.digest.as_str());
    let manifest_json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(manifest_json["config"]["digest"], config_digest.as_str());
}

#[test]
fn wrong_key_files_are_named_for_what_they_are() {
    let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
    assert!(private_pem_problem(sec1, None)
        .expect_err("sec1")
        .contains("SEC1"));
    let public = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert!(private_pem_problem(public, None)
        .expect_err("public")
        .contains("public key"));
    assert!(private_pem_problem("not pem", None).is_err());
    assert!(PublicKey::from_pem(&fixture_key(), "x")
        .expect_err("private as public")
        .contains("private key"));
    assert!(SigManifest::parse(media::OCI_INDEX, b"{}").is_err());
}
