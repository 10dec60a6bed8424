//! Promotion gates against real registries and repositories: each blocks with a reason and
//! a remedy (exit 3, nothing written), `gantry why` explains, and satisfying it lets the
//! promotion through.

mod common;

use std::path::Path;
use std::process::Output;

use common::git::{gantry_git, git_case, short, standard_history, TestRepo};
use common::{code, json, registries, stderr, stdout, Case};
use gantry::sandbox::SeedFormat;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trivy")
        .join(name)
        .display()
        .to_string()
}

/// Adds `gates` (TOML lines) under the environment named `env` in the case's config.
fn gate(case: &Case, env: &str, gates: &str) {
    let mut text = std::fs::read_to_string(&case.config).expect("config");
    let marker = format!("name = \"{env}\"\n");
    let at = text.find(&marker).expect("environment in config");
    // The environment's table ends at the next table header (or the end).
    let rest = &text[at..];
    let end = rest[1..]
        .find("\n[")
        .map(|i| at + 1 + i + 1)
        .unwrap_or(text.len());
    let block = format!("\n[environment.gates]\n{gates}\n");
    text.insert_str(end, &block);
    std::fs::write(&case.config, text).expect("config");
}

fn why(case: &Case, image: &str, to: &str) -> Output {
    case.gantry(&["why", image, "--to", to])
}

#[test]
fn scan_gate_blocks_critical_findings_until_allow_listed() {
    let case = Case::new("gate-scan");
    let regs = registries();
    let digest = case.seed("5ca0001", 0x91, &[], SeedFormat::Oci);
    let image = format!("{}:sha-5ca0001", case.service);
    gate(
        &case,
        "stage",
        &format!(
            "scan = {{ report = {:?}, max_severity = \"CRITICAL\" }}",
            fixture("debian-buster.json")
        ),
    );

    let out = why(&case, &image, "stage");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("BLOCKED  scan") && text.contains("CVE-2019-18224"),
        "{text}"
    );
    assert!(text.contains("to pass:"), "{text}");
    let out = case.gantry(&["promote", &image, "--to", "stage"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("gate scan"), "{}", stderr(&out));
    assert!(case.tags_at(&regs.stage, &case.service).is_empty());

    // Accepted until a date in the future: the promotion goes through.
    let text = std::fs::read_to_string(&case.config).expect("config").replace(
        "max_severity = \"CRITICAL\" }",
        "max_severity = \"CRITICAL\", allow = [{ id = \"CVE-2019-18224\", until = \"2999-12-31\", reason = \"not reachable\" }] }",
    );
    std::fs::write(&case.config, text).expect("config");
    let out = case.gantry(&["why", &image, "--to", "stage", "--json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report = json(&out);
    assert_eq!(report["allowed"], true);
    assert_eq!(report["gates"][0]["gate"], "scan");
    assert_eq!(report["gates"][0]["result"], "pass");
    let out = case.gantry(&["promote", &image, "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.digest_at(&regs.stage, "sha-5ca0001"), digest);
}

#[test]
fn scan_gate_runs_a_scanner_command_and_distrusts_a_failing_one() {
    let case = Case::new("gate-scan-command");
    case.seed("5ca0002", 0x92, &[], SeedFormat::Oci);
    let image = format!("{}:sha-5ca0002", case.service);
    // The scanner gets the image reference; this one answers with a real report.
    let log = case.dir.path().join("scanned");
    gate(
        &case,
        "stage",
        &format!(
            "scan = {{ command = \"echo {{image}} > {} && cat {}\", max_severity = \"HIGH\" }}",
            log.display(),
            fixture("alpine-310.json")
        ),
    );
    let out = why(&case, &image, "stage");
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("4 finding(s), none HIGH or worse"),
        "{}",
        stdout(&out)
    );
    let scanned = std::fs::read_to_string(&log).expect("scanner ran");
    assert!(
        scanned.contains(&format!(
            "{}/{}@sha256:",
            registries().dev.addr(),
            case.service
        )),
        "{scanned}"
    );

    let text = std::fs::read_to_string(&case.config)
        .expect("config")
        .replace("echo {image}", "exit 7; echo {image}");
    std::fs::write(&case.config, text).expect("config");
    let out = why(&case, &image, "stage");
    assert_eq!(code(&out), 3);
    assert!(
        stdout(&out).contains("no usable vulnerability report")
            && stdout(&out).contains("exited with 7"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn signature_gate_refuses_unsigned_images() {
    let case = Case::new("gate-signature");
    case.seed("5ca0003", 0x93, &[], SeedFormat::Oci);
    gate(&case, "stage", "signature = true");
    let out = why(&case, &format!("{}:sha-5ca0003", case.service), "stage");
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("BLOCKED  signature"), "{text}");
}

#[test]
fn freeze_gate_blocks_and_an_override_must_be_recorded() {
    let case = Case::new("gate-freeze");
    let regs = registries();
    let digest = case.seed("5ca0004", 0x94, &[], SeedFormat::Oci);
    let image = format!("{}:sha-5ca0004", case.service);
    gate(
        &case,
        "stage",
        "freeze = [{ from = \"2000-01-01T00:00:00Z\", until = \"2999-01-01T00:00:00Z\", reason = \"audit\" }, { from = \"1999-01-01T00:00:00Z\", until = \"1999-02-01T00:00:00Z\" }]",
    );
    let out = case.gantry(&["promote", &image, "--to", "stage"]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("stage is frozen") && stderr(&out).contains("(audit)"),
        "{}",
        stderr(&out)
    );
    // No repository, so no ledger: an override that cannot be recorded is refused.
    let out = case.gantry(&[
        "promote",
        &image,
        "--to",
        "stage",
        "--override-freeze",
        "sev1 fix",
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be recorded"),
        "{}",
        stderr(&out)
    );
    assert!(case.tags_at(&regs.stage, &case.service).is_empty());
    let empty = case.gantry(&["promote", &image, "--to", "stage", "--override-freeze", " "]);
    assert_eq!(code(&empty), 2);
    let _ = digest;
}

#[test]
fn freeze_override_is_recorded_in_the_ledger_and_promotes() {
    let case = git_case("gate-freeze-ledger", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    repo.commit("Initial commit");
    repo.git(&["config", "user.email", "oncall@example.com"]);
    let regs = registries();
    let digest = case.seed("5ca0005", 0x95, &[], SeedFormat::Oci);
    gate(&case, "stage", "freeze = [{ days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], reason = \"always\" }]");
    let image = format!("{}:sha-5ca0005", case.service);
    let out = gantry_git(
        &case,
        &[
            "promote",
            &image,
            "--to",
            "stage",
            "--override-freeze",
            "sev1 payments down",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.digest_at(&regs.stage, "sha-5ca0005"), digest);
    let audit = gantry_git(&case, &["audit", "--json"]);
    assert_eq!(code(&audit), 0, "{}", stderr(&audit));
    let text = stdout(&audit);
    assert!(
        text.contains("override")
            && text.contains("sev1 payments down")
            && text.contains("oncall@example.com"),
        "{text}"
    );
    // The override comes before the promotion it allowed.
    assert!(
        text.find("\"override\"") < text.find("\"promotion\""),
        "{text}"
    );
}

#[test]
fn branch_gate_wants_release_commits_merged_to_main() {
    let case = git_case("gate-branch", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    let regs = registries();
    // d2 is on the release branch (and merged to main with it); d4 is develop only.
    for (name, seed) in [("d2", 0x96u64), ("d4", 0x97)] {
        let commit = short(&c[name]);
        case.seed(commit, seed, &[], SeedFormat::Oci);
    }
    gate(
        &case,
        "stage",
        "branches = [\"release/*\", \"hotfix/*\"]\nmerged_to = \"main\"",
    );
    let released = format!("{}:sha-{}", case.service, short(&c["d2"]));
    let develop_only = format!("{}:sha-{}", case.service, short(&c["d4"]));

    let out = gantry_git(&case, &["why", &develop_only, "--to", "stage"]);
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("is on no branch matching release/*, hotfix/*"),
        "{}",
        stdout(&out)
    );
    let out = gantry_git(&case, &["promote", &develop_only, "--to", "stage"]);
    assert_eq!(code(&out), 3);
    assert!(case.tags_at(&regs.stage, &case.service).is_empty());

    let out = gantry_git(&case, &["why", &released, "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("merged into main"),
        "{}",
        stdout(&out)
    );
    let out = gantry_git(&case, &["promote", &released, "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn soak_gate_counts_from_the_recorded_arrival() {
    let case = git_case("gate-soak", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    repo.commit("Initial commit");
    repo.git(&["config", "user.email", "release@example.com"]);
    case.seed("5ca0006", 0x98, &[], SeedFormat::Oci);
    let image = format!("{}:sha-5ca0006", case.service);
    gate(&case, "prod", "soak = \"2h\"");
    // Not in stage through gantry yet: nothing says when it arrived.
    let out = gantry_git(&case, &["why", &image, "--to", "prod", "--from", "dev"]);
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    assert!(stdout(&out).contains("no promotion of"), "{}", stdout(&out));

    let out = gantry_git(&case, &["promote", &image, "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = gantry_git(&case, &["why", &image, "--to", "prod"]);
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("BLOCKED  soak")
            && text.contains("of 2h")
            && text.contains("to pass: wait 1h"),
        "{text}"
    );
    let out = gantry_git(&case, &["promote", &image, "--to", "prod"]);
    assert_eq!(code(&out), 3);
    assert!(case.tags_at(&registries().prod, &case.service).is_empty());
}

#[test]
fn bad_gate_settings_are_located() {
    let case = Case::new("gate-config");
    gate(&case, "stage", "scan = { max_severity = \"SEVERE\" }");
    let out = case.gantry(&["status"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("gantry.toml:") && err.contains("SEVERE"),
        "{err}"
    );
}
