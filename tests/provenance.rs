//! Promotion provenance and what an image shows it carries: `attest = true` attaches a
//! signed in-toto statement that an independent Python check (PyCA cryptography over the
//! DSSE PAE) verifies, `gantry verify` and the `attested_by` gate read it, the scan gate
//! reads an attached vulnerability attestation, `images --json` lists SBOMs, attestations,
//! signatures and the scan, and `gantry sbom` hands out the SBOM.

mod common;

use std::path::{Path, PathBuf};

use common::supply::{api_registries, seed, Seeded};
use common::{code, command_in, json, registries, stderr, stdout, Case};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/supply")
}

/// `gantry keys generate` into the case's directory (empty password).
fn generate_key(case: &Case) -> (PathBuf, PathBuf) {
    let dir = case.dir.path().join("keys");
    let out = command_in(
        case.dir.path(),
        &[
            "keys",
            "generate",
            "--output-dir",
            dir.to_str().expect("utf-8"),
        ],
    )
    .env_remove("COSIGN_PASSWORD")
    .output()
    .expect("run gantry");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    (dir.join("cosign.key"), dir.join("cosign.pub"))
}

/// dev (Distribution) -> stage (the API registry a, attest) -> prod (Distribution prod,
/// attest, attested_by stage); `stage_gates` and `prod_gates` go into their gates tables.
fn write_config(case: &Case, key: &Path, trusted: &[&Path], stage_gates: &str, prod_gates: &str) {
    let regs = registries();
    let api = api_registries();
    let keys: Vec<String> = trusted
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    let text = format!(
        r#"
[signing]
key = {key:?}
public_keys = [{keys}]

[[environment]]
name = "dev"
registry = "{dev}"
plain_http = true
mutable_tag = "latest"

[[environment]]
name = "stage"
registry = "{stage}"
from = "dev"
plain_http = true
mutable_tag = "stage"
attest = true
[environment.gates]
{stage_gates}

[[environment]]
name = "prod"
registry = "{prod}"
from = "stage"
plain_http = true
mutable_tag = "prod"
attest = true
[environment.gates]
attested_by = ["stage"]
{prod_gates}

[[service]]
name = "{service}"
"#,
        key = key.display().to_string(),
        keys = keys.join(", "),
        dev = regs.dev.addr(),
        stage = api.a.addr(),
        prod = regs.prod.addr(),
        service = case.service,
    );
    std::fs::write(&case.config, text).expect("write config");
}

fn seed_dev(case: &Case, commit: &str) -> Seeded {
    seed(
        case.dir.path(),
        registries().dev.addr(),
        &case.service,
        &format!("sha-{commit}"),
        true,
    )
}

/// The independent verifier (tests/fixtures/supply/verify_dsse.py).
fn python_verify(
    registry: &str,
    repository: &str,
    digest: &str,
    public: &Path,
) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .arg(fixtures().join("verify_dsse.py"))
        .args([registry, repository, digest])
        .arg(public)
        .output()
        .expect("python3 with cryptography");
    assert!(
        out.status.success(),
        "verify_dsse.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("verifier JSON")
}

#[test]
fn promotion_attestations_verify_in_python_and_gate_the_next_environment() {
    let case = Case::new("attest");
    let (key, public) = generate_key(&case);
    write_config(&case, &key, &[&public], "", "");
    let seeded = seed_dev(&case, "a77e57ed");
    let image = format!("{}:sha-a77e57ed", case.service);

    // Straight from dev to prod: dev never attested anything about it.
    let out = case.gantry(&["promote", &image, "--from", "dev", "--to", "prod"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no valid promotion attestation of stage"),
        "{}",
        stderr(&out)
    );

    let out = case.gantry(&["promote", &image, "--to", "stage", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let attestation = json(&out)[0]["outcome"]["attestation"]["manifest"]
        .as_str()
        .expect("an attestation was attached")
        .to_string();

    let api = api_registries();
    let checked = python_verify(api.a.addr(), &case.service, &seeded.digest, &public);
    let checked = checked.as_array().expect("list");
    assert_eq!(checked.len(), 1, "{checked:?}");
    let stage = &checked[0];
    assert_eq!(stage["valid"], true);
    assert_eq!(stage["subject_matches"], true);
    assert_eq!(stage["payload_type"], "application/vnd.in-toto+json");
    assert_eq!(stage["manifest_subject"], seeded.digest.as_str());
    let predicate = &stage["predicate"];
    assert_eq!(predicate["environment"], "stage");
    assert_eq!(predicate["source"]["environment"], "dev");
    assert_eq!(
        predicate["source"]["repository"],
        format!("{}/{}", registries().dev.addr(), case.service)
    );
    assert_eq!(
        predicate["target"]["repository"],
        format!("{}/{}", api.a.addr(), case.service)
    );
    assert_eq!(predicate["digest"], seeded.digest.as_str());
    assert!(predicate["promotedAt"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    // A key that did not sign it does not verify it.
    let stranger = seeded.key("auditor");
    let rejected = python_verify(api.a.addr(), &case.service, &seeded.digest, &stranger);
    assert_eq!(rejected[0]["valid"], false);

    let out = case.gantry(&["verify", &image, "--env", "stage", "--json"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let verified = json(&out);
    assert_eq!(verified["attested"], true);
    assert_eq!(
        verified["provenance"][0]["attestation"],
        attestation.as_str()
    );

    // stage -> prod: the gate finds stage's attestation, which travels along, and prod
    // adds its own.
    let out = case.gantry(&["promote", &image, "--to", "prod", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let gates = &json(&out)[0]["outcome"]["plan"]["gates"];
    assert!(
        gates.as_array().is_some_and(|g| g
            .iter()
            .any(|g| g["gate"] == "attested_by" && g["result"] == "pass")),
        "{gates}"
    );
    let in_prod = python_verify(
        registries().prod.addr(),
        &case.service,
        &seeded.digest,
        &public,
    );
    let mut environments: Vec<&str> = in_prod
        .as_array()
        .expect("list")
        .iter()
        .inspect(|c| assert_eq!(c["valid"], true, "{c}"))
        .map(|c| c["predicate"]["environment"].as_str().expect("environment"))
        .collect();
    environments.sort();
    assert_eq!(environments, ["prod", "stage"]);
    let out = case.gantry(&["verify", &image, "--env", "prod"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("promoted stage -> prod"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_scan_gate_reads_the_attached_vulnerability_attestation() {
    let case = Case::new("scan-attested");
    let (key, public) = generate_key(&case);
    let seeded = seed_dev(&case, "5ca11ed0");
    let signer = seeded.key("release-signer");
    // centos-7's report: 2 LOW, 1 MEDIUM.
    write_config(
        &case,
        &key,
        &[&public, &signer],
        "scan = { attestation = true, max_severity = \"MEDIUM\" }",
        "",
    );
    let image = format!("{}:sha-5ca11ed0", case.service);
    let out = case.gantry(&["promote", &image, "--to", "stage"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("MEDIUM"), "{}", stderr(&out));

    // Only a report signed by a trusted key counts.
    write_config(&case, &key, &[&public], "scan = { attestation = true }", "");
    let out = case.gantry(&["promote", &image, "--to", "stage"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not signed by a key trusted"),
        "{}",
        stderr(&out)
    );

    write_config(
        &case,
        &key,
        &[&public, &signer],
        "scan = { attestation = true }",
        "",
    );
    let out = case.gantry(&["promote", &image, "--to", "stage", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn images_json_lists_what_each_image_carries_and_sbom_hands_it_out() {
    let case = Case::new("shown");
    let (key, public) = generate_key(&case);
    let seeded = seed_dev(&case, "5b0a5b0a");
    write_config(
        &case,
        &key,
        &[
            &public,
            &seeded.key("release-signer"),
            &seeded.key("auditor"),
        ],
        "",
        "",
    );
    let out = case.gantry(&["images", &case.service, "--env", "dev", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listing = json(&out);
    let attached = &listing[0]["images"][0]["attached"];
    let mut sboms: Vec<String> = attached["sboms"]
        .as_array()
        .expect("sboms")
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["format"].as_str().unwrap_or("?"),
                s["via"].as_str().unwrap_or("?")
            )
        })
        .collect();
    sboms.sort();
    sboms.dedup();
    assert_eq!(
        sboms,
        [
            "CycloneDX referrer",
            "SPDX buildx",
            "SPDX cosign_tag",
            "SPDX referrer"
        ],
        "{attached}"
    );
    let predicates: Vec<&str> = attached["attestations"]
        .as_array()
        .expect("attestations")
        .iter()
        .filter_map(|a| a["predicate_type"].as_str())
        .collect();
    for wanted in [
        "https://slsa.dev/provenance/v1",
        "https://cosign.sigstore.dev/attestation/vuln/v1",
        "https://slsa.dev/provenance/v0.2",
        "https://spdx.dev/Document",
    ] {
        assert!(predicates.contains(&wanted), "{wanted}: {predicates:?}");
    }
    let mut keys: Vec<&str> = attached["signatures"]
        .as_array()
        .expect("signatures")
        .iter()
        .flat_map(|s| s["keys"].as_array().into_iter().flatten())
        .filter_map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(keys, ["auditor.pub", "release-signer.pub"], "{attached}");
    let scan = &attached["scan"];
    assert_eq!(scan["worst"], "MEDIUM", "{scan}");
    assert_eq!(scan["findings"], 3);
    assert_eq!(scan["finished"], "2024-05-02T10:15:09Z");

    let image = format!("{}:sha-5b0a5b0a", case.service);
    let saved = case.dir.path().join("sbom.json");
    let out = case.gantry(&[
        "sbom",
        &image,
        "--env",
        "dev",
        "--output",
        saved.to_str().expect("utf-8"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let spdx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&saved).expect("saved")).expect("json");
    let fixture: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("centos-7-spdx.json")).expect("fixture"),
    )
    .expect("json");
    assert_eq!(spdx, fixture);
    let out = case.gantry(&["sbom", &image, "--env", "dev", "--format", "cyclonedx"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cyclonedx = std::fs::read(fixtures().join("centos-7-cyclonedx.json")).expect("fixture");
    assert_eq!(out.stdout.trim_ascii_end(), cyclonedx.trim_ascii_end());
    let out = case.gantry(&["sbom", &image, "--env", "dev", "--format", "swid"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}
