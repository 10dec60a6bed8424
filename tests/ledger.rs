//! The ledger through the real binary, on real registries and real repositories:
//! requests, approvals by distinct people, `execute`, approvals bound to a digest, records
//! of promotions and rollbacks, tampering caught by `audit verify`, and two clones
//! sharing one chain through a bare remote.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::git::{gantry_command, TestRepo};
use common::{code, default_format, json, pipeline_config, registries, stderr, stdout, Case};

const ANA: &str = "ana@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const DAN: &str = "dan@example.com";
const CI: &str = "ci@example.com";

/// The environments of every ledger test; `repo` is the application repository's path
/// relative to the config file, or absent for a configuration without one.
fn config_text(case: &Case, repo: Option<&str>, stage: u32, prod: u32, extra: &str) -> String {
    let git = repo.map_or(String::new(), |r| format!("[git]\npath = \"{r}\"\n"));
    let head = format!("{git}\n[copy]\nattempts = 2\nbackoff_ms = 20\n\n{extra}\n");
    pipeline_config(
        case,
        &head,
        [
            "",
            &format!("approvals = {stage}"),
            &format!("approvals = {prod}"),
        ],
    )
}

/// A case with an (empty) application repository beside its config.
fn ledger_case(name: &str, stage: u32, prod: u32) -> (Case, TestRepo) {
    let case = Case::new(name);
    std::fs::write(
        &case.config,
        config_text(&case, Some("repo"), stage, prod, ""),
    )
    .expect("write config");
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    (case, repo)
}

/// Runs gantry with `config`, a sandboxed HOME (no global git identity), and `email` as
/// the repository's `user.email` (or none).
fn gantry_as(
    case: &Case,
    config: &Path,
    repo: &TestRepo,
    email: Option<&str>,
    args: &[&str],
) -> Output {
    match email {
        Some(email) => {
            repo.git(&["config", "user.email", email]);
        }
        None => {
            let _ = repo.git_output(&["config", "--unset", "user.email"]);
        }
    }
    gantry_command(case.dir.path(), config, args)
        .output()
        .expect("run gantry")
}

fn as_user(case: &Case, repo: &TestRepo, email: Option<&str>, args: &[&str]) -> Output {
    gantry_as(case, &case.config, repo, email, args)
}

fn ok(out: &Output) -> &Output {
    assert_eq!(
        code(out),
        0,
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    out
}

fn refused(out: &Output, words: &[&str]) {
    assert_eq!(
        code(out),
        3,
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    for word in words {
        assert!(
            stderr(out).contains(word),
            "{word:?} not in {}",
            stderr(out)
        );
    }
}

/// Tags of the service in a registry, or none when the repository does not exist yet.
fn tags_in(case: &Case, registry: &common::Registries, which: &str) -> Vec<String> {
    let addr = match which {
        "stage" => registry.stage.addr(),
        _ => registry.prod.addr(),
    };
    gantry::sandbox::skopeo_list_tags(&format!("{addr}/{}", case.service), None).unwrap_or_default()
}

/// `(kind, actor)` of each record, oldest first.
fn kinds_and_actors(audit: &serde_json::Value) -> Vec<(String, String)> {
    audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().expect("kind").to_string(),
                r["actor"].as_str().expect("actor").to_string(),
            )
        })
        .collect()
}

fn request_id(out: &Output) -> String {
    json(out)["request"]["id"]
        .as_str()
        .expect("request id")
        .to_string()
}

#[test]
fn two_approvals_then_execute_promote_the_approved_digest_and_record_it_all() {
    let (case, repo) = ledger_case("approved", 0, 2);
    let regs = registries();
    let digest = case.seed("a1a1a1a", 501, &[], default_format());
    let image = format!("{}:sha-a1a1a1a", case.service);

    // Stage needs no approvals: a direct promotion runs and records itself.
    ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &image, "--to", "stage"],
    ));

    // Prod needs two: refused, saying what would satisfy the rule, and nothing copied.
    let out = as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &image, "--to", "prod"],
    );
    refused(
        &out,
        &["needs 2 approvals", &digest, "has none", "gantry request"],
    );
    assert!(tags_in(&case, regs, "prod").is_empty());

    let out = ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["request", &image, "--to", "prod", "--json"],
    ))
    .clone();
    let id = request_id(&out);
    assert_eq!(json(&out)["request"]["digest"], digest.as_str());
    assert_eq!(json(&out)["request"]["from"], "stage");
    assert_eq!(json(&out)["request"]["status"], "waiting");

    let out = ok(&as_user(&case, &repo, Some(BOB), &["approve", &id])).clone();
    assert!(
        stdout(&out).contains("1 of 2 approvals (bob@example.com)"),
        "{}",
        stdout(&out)
    );
    let out = as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &image, "--to", "prod"],
    );
    refused(
        &out,
        &["has 1 (bob@example.com)", &format!("gantry approve {id}")],
    );

    // A unique prefix of the id is enough.
    let out = ok(&as_user(&case, &repo, Some(CAROL), &["approve", &id[..8]])).clone();
    assert!(stdout(&out).contains("complete"), "{}", stdout(&out));
    let out = ok(&as_user(&case, &repo, Some(CI), &["requests", "--json"])).clone();
    assert_eq!(json(&out)[0]["id"], id.as_str());
    assert_eq!(json(&out)[0]["status"], "approved");

    // The CI job: promotes what is approved, and the bytes arrive unchanged.
    let out = ok(&as_user(&case, &repo, Some(CI), &["execute", "--json"])).clone();
    let report = json(&out);
    assert_eq!(report["executed"][0]["request"], id.as_str());
    assert_eq!(report["executed"][0]["ok"], true);
    assert_eq!(case.digest_at(&regs.prod, "sha-a1a1a1a"), digest);
    assert_eq!(case.digest_at(&regs.prod, "prod"), digest);

    let audit = json(ok(&as_user(&case, &repo, Some(CI), &["audit", "--json"])));
    assert_eq!(
        kinds_and_actors(&audit),
        [
            ("promotion", ANA),
            ("request", ANA),
            ("approval", BOB),
            ("approval", CAROL),
            ("promotion", CI),
        ]
        .map(|(k, a)| (k.to_string(), a.to_string()))
    );
    let records = audit["records"].as_array().expect("records");
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["seq"], i as u64 + 1);
        assert_eq!(record["digest"], digest.as_str());
    }
    assert_eq!(records[0]["environment"], "stage");
    assert_eq!(records[4]["environment"], "prod");
    assert_eq!(records[4]["details"]["request"], id.as_str());
    assert_eq!(records[4]["details"]["from"], "stage");
    assert_eq!(audit["verification"]["intact"], true);

    // Executed once: a second run finds nothing, and records nothing.
    let out = ok(&as_user(&case, &repo, Some(CI), &["execute"])).clone();
    assert!(
        stdout(&out).contains("nothing approved"),
        "{}",
        stdout(&out)
    );
    let out = ok(&as_user(
        &case,
        &repo,
        Some(CI),
        &["requests", "--all", "--json"],
    ))
    .clone();
    assert_eq!(json(&out)[0]["status"], "executed");
    let out = ok(&as_user(&case, &repo, Some(CI), &["requests"])).clone();
    assert!(
        stdout(&out).contains("no pending requests"),
        "{}",
        stdout(&out)
    );

    // Plain git reads it: one commit per record, newest first.
    let log = repo.git(&["log", "--format=%s", "refs/gantry/ledger"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 5, "{log}");
    assert!(
        lines[0].starts_with(&format!("#5 promotion: {image}"))
            && lines[0].ends_with("by ci@example.com"),
        "{log}"
    );
    assert!(
        lines[2].starts_with(&format!("#3 approval of {id}")),
        "{log}"
    );
    let out = ok(&as_user(&case, &repo, Some(CI), &["audit", "verify"])).clone();
    assert!(
        stdout(&out).contains("intact: 5 records"),
        "{}",
        stdout(&out)
    );

    // Filters: by environment (as target or source) and by kind.
    let audit = json(ok(&as_user(
        &case,
        &repo,
        None,
        &["audit", "--env", "prod", "--kind", "approval", "--json"],
    )));
    assert_eq!(audit["records"].as_array().map(Vec::len), Some(2));
    let out = ok(&as_user(
        &case,
        &repo,
        None,
        &["audit", "--service", &case.service],
    ))
    .clone();
    assert_eq!(stdout(&out).lines().count(), 5, "{}", stdout(&out));
}

#[test]
fn approvals_must_come_from_someone_else_once_each() {
    let (case, repo) = ledger_case("self-approval", 1, 0);
    let digest = case.seed("b2b2b2b", 502, &[], default_format());
    let image = format!("{}:sha-b2b2b2b", case.service);

    // No identity: nothing is recorded, and the fix is named.
    let out = as_user(&case, &repo, None, &["request", &image, "--to", "stage"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("git config user.email"),
        "{}",
        stderr(&out)
    );

    let out = ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["request", &image, "--to", "stage", "--json"],
    ))
    .clone();
    let id = request_id(&out);
    // The same image again, while the first request is open: refused, naming it.
    let out = as_user(
        &case,
        &repo,
        Some(BOB),
        &["request", &image, "--to", "stage"],
    );
    refused(&out, &[&id, "already requested"]);

    let out = as_user(&case, &repo, Some(ANA), &["approve", &id]);
    refused(&out, &["ana@example.com requested", "someone else"]);
    ok(&as_user(&case, &repo, Some(BOB), &["approve", &id]));
    let out = as_user(&case, &repo, Some(BOB), &["approve", &id]);
    refused(&out, &["already approved", "once"]);

    // Ids that name no request are invalid input.
    for (bad, words) in [
        ("0123456789ab", "no request `0123456789ab`"),
        ("abc", "at least 6 digits"),
    ] {
        let out = as_user(&case, &repo, Some(CAROL), &["approve", bad]);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains(words), "{}", stderr(&out));
    }

    let audit = json(ok(&as_user(&case, &repo, None, &["audit", "--json"])));
    assert_eq!(
        kinds_and_actors(&audit),
        [("request", ANA), ("approval", BOB)].map(|(k, a)| (k.to_string(), a.to_string()))
    );
    assert_eq!(audit["records"][1]["digest"], digest.as_str());
}

#[test]
fn an_approval_binds_to_the_digest_and_stops_counting_when_the_tag_moves() {
    let (case, repo) = ledger_case("moved-tag", 1, 0);
    let regs = registries();
    let first = case.seed("c3c3c3c", 503, &[], default_format());
    let image = format!("{}:sha-c3c3c3c", case.service);
    let out = ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["request", &image, "--to", "stage", "--json"],
    ))
    .clone();
    let id = request_id(&out);
    ok(&as_user(&case, &repo, Some(BOB), &["approve", &id]));

    // Someone pushes another image under the same commit tag (a rebuild).
    let second = case.seed("c3c3c3c", 504, &[], default_format());
    assert_ne!(first, second);

    // The approval was of the first digest: the tag now names another image.
    let out = as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &image, "--to", "stage"],
    );
    refused(&out, &["needs 1 approval", &second, "has none"]);
    let out = as_user(&case, &repo, Some(CAROL), &["approve", &id]);
    refused(
        &out,
        &["now points at", &second, &first, "no longer stands"],
    );
    // The CI job runs nothing and says why; it is not the job's failure.
    let out = ok(&as_user(&case, &repo, Some(CI), &["execute", "--json"])).clone();
    let report = json(&out);
    assert_eq!(
        report["executed"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    assert_eq!(report["stale"][0]["request"]["id"], id.as_str());
    assert!(
        report["stale"][0]["reason"]
            .as_str()
            .is_some_and(|e| e.contains("now points at")),
        "{report}"
    );
    assert!(tags_in(&case, regs, "stage").is_empty());

    // The new digest, requested and approved on its own, goes through.
    let out = ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["request", &image, "--to", "stage", "--json"],
    ))
    .clone();
    let new_id = request_id(&out);
    assert_ne!(new_id, id);
    ok(&as_user(&case, &repo, Some(CAROL), &["approve", &new_id]));
    ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &image, "--to", "stage"],
    ));
    assert_eq!(case.digest_at(&regs.stage, "stage"), second);
    let audit = json(ok(&as_user(
        &case,
        &repo,
        None,
        &["audit", "--kind", "promotion", "--json"],
    )));
    assert_eq!(audit["records"][0]["details"]["request"], new_id.as_str());
}

/// The ledger's commit messages, oldest first, exactly as stored.
fn ledger_messages(repo: &TestRepo) -> Vec<String> {
    repo.git(&["rev-list", "--reverse", "refs/gantry/ledger"])
        .lines()
        .map(|commit| {
            let raw = repo.git_output(&["cat-file", "commit", commit]);
            let text = String::from_utf8_lossy(&raw.stdout).into_owned();
            text.split_once("\n\n").expect("commit body").1.to_string()
        })
        .collect()
}

/// Rewrites the ledger ref with the git CLI, one `commit-tree` per message, as someone
/// editing history by hand would.
fn rewrite_ledger(repo: &TestRepo, messages: &[String]) {
    let tree = repo.git(&["hash-object", "-w", "-t", "tree", "/dev/null"]);
    let mut parent: Option<String> = None;
    for (i, message) in messages.iter().enumerate() {
        let file = repo.dir.with_extension(format!("msg{i}"));
        std::fs::write(&file, message).expect("write message");
        let file = file.to_str().expect("utf-8").to_string();
        let mut args = vec!["commit-tree", tree.as_str(), "-F", file.as_str()];
        if let Some(parent) = &parent {
            args.extend(["-p", parent.as_str()]);
        }
        parent = Some(repo.git(&args));
    }
    let head = parent.expect("a record");
    repo.git(&["update-ref", "refs/gantry/ledger", &head]);
}

fn verify_fails(case: &Case, repo: &TestRepo, words: &[&str]) -> serde_json::Value {
    let out = as_user(case, repo, None, &["audit", "verify"]);
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    assert!(stdout(&out).contains("TAMPERED"), "{}", stdout(&out));
    for word in words {
        assert!(
            stdout(&out).contains(word),
            "{word:?} not in {}",
            stdout(&out)
        );
    }
    let out = as_user(case, repo, None, &["audit", "verify", "--json"]);
    assert_eq!(code(&out), 3);
    json(&out)
}

#[test]
fn audit_verify_catches_an_edited_a_removed_a_swapped_and_a_cut_record() {
    let (case, repo) = ledger_case("tamper", 0, 2);
    case.seed("d4d4d4d", 505, &[], default_format());
    let image = format!("{}:sha-d4d4d4d", case.service);
    ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &image, "--to", "stage"],
    ));
    let out = ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["request", &image, "--to", "prod", "--json"],
    ))
    .clone();
    let id = request_id(&out);
    ok(&as_user(&case, &repo, Some(BOB), &["approve", &id]));
    ok(&as_user(&case, &repo, Some(CAROL), &["approve", &id]));
    let original = repo.sha("refs/gantry/ledger");
    let messages = ledger_messages(&repo);
    assert_eq!(messages.len(), 4);

    // Record #3, bob's approval, now claims to be mallory's.
    let mut edited = messages.clone();
    edited[2] = edited[2].replace(BOB, "mallory@example.com");
    rewrite_ledger(&repo, &edited);
    let report = verify_fails(&case, &repo, &["record #3", "edited"]);
    assert_eq!(report["problem"]["kind"], "edited");
    assert_eq!(report["problem"]["position"], 3);
    // A ledger that fails verification takes no more records, and its approvals prove nothing.
    let out = as_user(&case, &repo, Some(CI), &["execute"]);
    refused(&out, &["fails verification"]);
    let out = as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &image, "--to", "prod"],
    );
    refused(&out, &["fails verification"]);
    // `audit` still lists what it can, and says so.
    let out = as_user(&case, &repo, None, &["audit"]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("fails verification"),
        "{}",
        stderr(&out)
    );

    // Record #2 (the request) removed.
    let mut removed = messages.clone();
    removed.remove(1);
    rewrite_ledger(&repo, &removed);
    let report = verify_fails(&case, &repo, &["record #2 is missing"]);
    assert_eq!(report["problem"]["kind"], "removed");

    // The two approvals swapped.
    let mut swapped = messages.clone();
    swapped.swap(2, 3);
    rewrite_ledger(&repo, &swapped);
    let report = verify_fails(&case, &repo, &["out of order", "record #4"]);
    assert_eq!(report["problem"]["kind"], "reordered");
    assert_eq!(report["problem"]["position"], 3);

    // Back to the original: intact again.
    repo.git(&["update-ref", "refs/gantry/ledger", &original]);
    ok(&as_user(&case, &repo, None, &["audit", "verify"]));

    // The newest record cut off leaves a consistent chain, but this clone saw #4.
    repo.git(&["update-ref", "refs/gantry/ledger", &format!("{original}~1")]);
    verify_fails(&case, &repo, &["record #4", "no longer in it"]);
    repo.git(&["update-ref", "refs/gantry/ledger", &original]);
    ok(&as_user(&case, &repo, None, &["audit", "verify"]));
}

/// A config for the clone at `repo_dir` (relative to the case's directory).
fn clone_config(case: &Case, name: &str, repo_dir: &str, prod: u32) -> PathBuf {
    let path = case.dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, config_text(case, Some(repo_dir), 0, prod, "")).expect("write config");
    path
}

#[test]
fn two_clones_share_one_chain_through_a_bare_remote() {
    let case = Case::new("clones");
    let regs = registries();
    let root = case.dir.path();
    let remote = TestRepo::init(&root.join("remote-src"));
    remote.git(&[
        "init",
        "-q",
        "--bare",
        root.join("remote.git").to_str().expect("utf-8"),
    ]);
    let remote_url = root.join("remote.git").to_str().expect("utf-8").to_string();
    let a = TestRepo::init(&root.join("a"));
    a.git(&["remote", "add", "origin", &remote_url]);
    let b = TestRepo::init(&root.join("b"));
    b.git(&["remote", "add", "origin", &remote_url]);
    let config_a = clone_config(&case, "a", "a", 2);
    let config_b = clone_config(&case, "b", "b", 2);
    let digest = case.seed("e5e5e5e", 506, &[], default_format());
    let image = format!("{}:sha-e5e5e5e", case.service);

    // a promotes to stage and requests prod; both records reach the remote.
    let out = gantry_as(
        &case,
        &config_a,
        &a,
        Some(ANA),
        &["promote", &image, "--to", "stage", "--json"],
    );
    ok(&out);
    assert!(
        json(&out)[0]["outcome"]["ledger"]["record"].is_string(),
        "{}",
        stdout(&out)
    );
    assert_eq!(json(&out)[0]["outcome"]["ledger"]["pushed_to"], "origin");
    let out = gantry_as(
        &case,
        &config_a,
        &a,
        Some(ANA),
        &["request", &image, "--to", "prod", "--json"],
    );
    let id = request_id(ok(&out));
    let remote_log = || {
        let out = Command::new("git")
            .args([
                "--git-dir",
                &remote_url,
                "log",
                "--format=%s",
                "refs/gantry/ledger",
            ])
            .output()
            .expect("git log");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(remote_log().len(), 2);

    // b approves while the remote is unreachable: kept in b, with a warning (exit 1)...
    b.git(&[
        "remote",
        "set-url",
        "origin",
        root.join("gone.git").to_str().expect("utf-8"),
    ]);
    let out = gantry_as(&case, &config_b, &b, Some(BOB), &["requests", "--json"]);
    // ...but b has never fetched the ledger: it does not know the request yet.
    assert!(
        stderr(&out).contains("could not fetch the ledger"),
        "{}",
        stderr(&out)
    );
    b.git(&["remote", "set-url", "origin", &remote_url]);
    ok(&gantry_as(&case, &config_b, &b, Some(BOB), &["requests"]));
    b.git(&[
        "remote",
        "set-url",
        "origin",
        root.join("gone.git").to_str().expect("utf-8"),
    ]);
    let out = gantry_as(&case, &config_b, &b, Some(BOB), &["approve", &id, "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("recorded in this clone"),
        "{}",
        stderr(&out)
    );
    let bob_approval = json(&out)["approval"]
        .as_str()
        .expect("approval id")
        .to_string();

    // ...meanwhile carol approves from a: the two chains diverge.
    ok(&gantry_as(
        &case,
        &config_a,
        &a,
        Some(CAROL),
        &["approve", &id],
    ));
    assert_eq!(remote_log().len(), 3);

    // b's next write re-chains its approval on top of the remote's and pushes both.
    b.git(&["remote", "set-url", "origin", &remote_url]);
    let out = gantry_as(&case, &config_b, &b, Some(BOB), &["audit", "--json"]);
    ok(&out);
    assert!(stderr(&out).contains("re-chained"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not on `origin` yet"),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&out)["unpushed"], 1);

    // a promotes another image, not knowing bob's approval: the chains diverge again.
    case.seed("f6f6f6f", 507, &[], default_format());
    let other = format!("{}:sha-f6f6f6f", case.service);
    ok(&gantry_as(
        &case,
        &config_a,
        &a,
        Some(ANA),
        &["promote", &other, "--to", "stage"],
    ));
    assert_eq!(remote_log().len(), 4);

    // Both clones write at once: whoever loses the race re-chains and pushes again.
    let spawn = |config: &Path, repo: &TestRepo, email: &str, args: &[&str]| {
        repo.git(&["config", "user.email", email]);
        gantry_command(root, config, args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn gantry")
    };
    let first = spawn(&config_a, &a, ANA, &["request", &other, "--to", "prod"]);
    let second = spawn(&config_b, &b, DAN, &["approve", &id]);
    for child in [first, second] {
        ok(&child.wait_with_output().expect("wait"));
    }

    let log = remote_log();
    assert_eq!(log.len(), 7, "{log:?}");
    for (config, repo) in [(&config_a, &a), (&config_b, &b)] {
        let out = gantry_as(
            &case,
            config,
            repo,
            Some(CI),
            &["audit", "verify", "--json"],
        );
        let verification = json(ok(&out)).clone();
        assert_eq!(verification["records"], 7);
        assert_eq!(
            verification["head"].as_str(),
            Some(repo.sha("refs/gantry/ledger").as_str())
        );
    }
    let audit = json(ok(&gantry_as(
        &case,
        &config_a,
        &a,
        Some(CI),
        &["audit", "--json"],
    )));
    let mut records = kinds_and_actors(&audit);
    let fixed: Vec<(String, String)> = records.drain(..4).collect();
    assert_eq!(
        fixed,
        [
            ("promotion", ANA),
            ("request", ANA),
            ("approval", CAROL),
            ("promotion", ANA)
        ]
        .map(|(k, a)| (k.to_string(), a.to_string()))
    );
    // The race decides where a's request lands; bob's approval stays before dan's.
    records.sort();
    assert_eq!(
        records,
        [("approval", BOB), ("approval", DAN), ("request", ANA)]
            .map(|(k, a)| (k.to_string(), a.to_string()))
    );
    let ids: Vec<&str> = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(
        ids.contains(&bob_approval.as_str()),
        "bob's approval kept its id: {ids:?}"
    );

    // The approvals of both clones count: the CI job in a executes the request.
    let out = ok(&gantry_as(
        &case,
        &config_a,
        &a,
        Some(CI),
        &["execute", "--json"],
    ))
    .clone();
    assert_eq!(json(&out)["executed"][0]["request"], id.as_str());
    assert_eq!(json(&out)["waiting"][0]["tag"], "sha-f6f6f6f");
    assert_eq!(case.digest_at(&regs.prod, "prod"), digest);
    assert_eq!(remote_log().len(), 8);
}

#[test]
fn execute_closes_a_request_whose_image_is_already_in_place() {
    // Stage needs no approvals, so a promotion there that changes nothing reads no
    // ledger; one that `execute` runs for a request still closes the request.
    let (case, repo) = ledger_case("noop-request", 0, 0);
    case.seed("d1d1d1d", 511, &[], default_format());
    let image = format!("{}:sha-d1d1d1d", case.service);
    ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &image, "--to", "stage"],
    ));
    // Asked for after the image arrived: its promotion will change nothing.
    let out = ok(&as_user(
        &case,
        &repo,
        Some(BOB),
        &["request", &image, "--to", "stage", "--json"],
    ))
    .clone();
    let id = request_id(&out);
    // A promotion by hand changes nothing and leaves the request open.
    ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &image, "--to", "stage"],
    ));
    let out = ok(&as_user(&case, &repo, Some(CI), &["requests", "--json"])).clone();
    assert_eq!(json(&out)[0]["id"], id.as_str(), "{}", stdout(&out));

    let out = ok(&as_user(&case, &repo, Some(CI), &["execute", "--json"])).clone();
    let report = json(&out);
    assert_eq!(report["executed"][0]["request"], id.as_str(), "{report}");
    assert_eq!(report["executed"][0]["ok"], true, "{report}");
    let out = ok(&as_user(&case, &repo, Some(CI), &["requests", "--json"])).clone();
    assert_eq!(
        json(&out),
        serde_json::json!([]),
        "the request is still open"
    );
    let out = ok(&as_user(&case, &repo, Some(CI), &["execute", "--json"])).clone();
    assert_eq!(json(&out)["executed"], serde_json::json!([]));
}

#[test]
fn promotions_and_rollbacks_record_themselves() {
    let (case, repo) = ledger_case("records", 0, 0);
    let regs = registries();
    let first = case.seed("a7a7a7a", 508, &[], default_format());
    let second = case.seed("b8b8b8b", 509, &[], default_format());
    let one = format!("{}:sha-a7a7a7a", case.service);
    let two = format!("{}:sha-b8b8b8b", case.service);
    let out = ok(&as_user(
        &case,
        &repo,
        Some(ANA),
        &["promote", &one, "--to", "stage", "--json"],
    ))
    .clone();
    let record = json(&out)[0]["outcome"]["ledger"]["record"]
        .as_str()
        .expect("record id")
        .to_string();
    ok(&as_user(
        &case,
        &repo,
        Some(BOB),
        &["promote", &two, "--to", "stage"],
    ));
    // Nothing to do: nothing recorded.
    ok(&as_user(
        &case,
        &repo,
        Some(BOB),
        &["promote", &two, "--to", "stage"],
    ));
    let out = ok(&as_user(
        &case,
        &repo,
        Some(CAROL),
        &[
            "rollback",
            &case.service,
            "--env",
            "stage",
            "--to",
            "sha-a7a7a7a",
            "--json",
        ],
    ))
    .clone();
    assert!(
        json(&out)["ledger"]["record"].is_string(),
        "{}",
        stdout(&out)
    );
    assert_eq!(case.digest_at(&regs.stage, "stage"), first);

    let audit = json(ok(&as_user(&case, &repo, None, &["audit", "--json"])));
    assert_eq!(
        kinds_and_actors(&audit),
        [("promotion", ANA), ("promotion", BOB), ("rollback", CAROL)]
            .map(|(k, a)| (k.to_string(), a.to_string()))
    );
    let records = &audit["records"];
    assert_eq!(records[0]["id"], record.as_str());
    assert_eq!(records[0]["tag"], "sha-a7a7a7a");
    assert_eq!(records[0]["details"]["from"], "dev");
    assert!(
        records[0]["details"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("promoted")),
        "{records}"
    );
    assert_eq!(records[1]["digest"], second.as_str());
    assert_eq!(records[2]["digest"], first.as_str());
    assert_eq!(records[2]["details"]["replaced"], second.as_str());
    assert_eq!(records[2]["details"]["tag"], "stage");

    // Without an identity the promotion still happens; the gap is said, not hidden.
    case.seed("c9c9c9c", 510, &[], default_format());
    let three = format!("{}:sha-c9c9c9c", case.service);
    let out = as_user(&case, &repo, None, &["promote", &three, "--to", "stage"]);
    ok(&out);
    assert!(
        stderr(&out).contains("not recorded in the ledger") && stderr(&out).contains("user.email"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        case.digest_at(&regs.stage, "stage"),
        case.digest_at(&regs.dev, "sha-c9c9c9c")
    );
    let audit = json(ok(&as_user(&case, &repo, None, &["audit", "--json"])));
    assert_eq!(audit["records"].as_array().map(Vec::len), Some(3));
}

#[test]
fn without_a_repository_promotions_still_run_and_say_the_ledger_is_off() {
    let case = Case::new("no-repo");
    std::fs::write(&case.config, config_text(&case, None, 0, 1, "")).expect("write config");
    let regs = registries();
    let digest = case.seed("d0d0d0d", 511, &[], default_format());
    let image = format!("{}:sha-d0d0d0d", case.service);
    let out = common::git::gantry_git(&case, &["promote", &image, "--to", "stage"]);
    ok(&out);
    assert!(
        stderr(&out).contains("the ledger is off") && stderr(&out).contains("not a git repository"),
        "{}",
        stderr(&out)
    );
    assert_eq!(case.digest_at(&regs.stage, "stage"), digest);

    // Approvals live in the ledger: without it, an environment that needs them is closed.
    let out = common::git::gantry_git(&case, &["promote", &image, "--to", "prod"]);
    refused(&out, &["ledger that holds them is off"]);
    let out = common::git::gantry_git(&case, &["audit"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the ledger is off"),
        "{}",
        stderr(&out)
    );

    // Switched off on purpose, even with a repository.
    TestRepo::init(&case.dir.path().join("repo"));
    std::fs::write(
        &case.config,
        config_text(&case, Some("repo"), 0, 0, "[ledger]\nenabled = false\n"),
    )
    .expect("write config");
    case.seed("e1e1e1e", 512, &[], default_format());
    let out = common::git::gantry_git(
        &case,
        &[
            "promote",
            &format!("{}:sha-e1e1e1e", case.service),
            "--to",
            "stage",
        ],
    );
    ok(&out);
    assert!(
        stderr(&out).contains("[ledger] enabled = false"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_ledger_settings_are_located() {
    let case = Case::new("bad-ledger");
    // The table for what only makes sense together, the key for a key gantry does not know.
    for (extra, at, words) in [
        (
            "[ledger]\nref = \"refs/heads/ledger\"\n",
            "gantry.toml:6:",
            "branch or a tag",
        ),
        (
            "[ledger]\nref = \"gantry/ledger\"\n",
            "gantry.toml:6:",
            "not a valid ref name",
        ),
        ("[ledger]\nattempts = 0\n", "gantry.toml:6:", "at least 1"),
        (
            "[ledger]\nremotes = \"origin\"\n",
            "gantry.toml:7:1",
            "unknown field `remotes`",
        ),
    ] {
        std::fs::write(&case.config, config_text(&case, None, 0, 0, extra)).expect("write config");
        let out = case.gantry(&["audit"]);
        assert_eq!(code(&out), 2, "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(at), "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(words), "{extra}: {}", stderr(&out));
    }
    let text = config_text(&case, None, 0, 0, "").replace(
        "approvals = 0\n\n[[service]]",
        "approvals = 50\n\n[[service]]",
    );
    std::fs::write(&case.config, text).expect("write config");
    let out = case.gantry(&["audit"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("approvals = 50 is more than 20"),
        "{}",
        stderr(&out)
    );

    // A remote named in [ledger] must exist.
    std::fs::write(
        &case.config,
        config_text(
            &case,
            Some("repo"),
            0,
            0,
            "[ledger]\nremote = \"upstream\"\n",
        ),
    )
    .expect("write config");
    TestRepo::init(&case.dir.path().join("repo"));
    let out = case.gantry(&["audit"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`upstream` is not a remote"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_example_configuration_documents_the_ledger() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config = gantry::config::Config::load(&path).expect("config.example.toml parses");
    assert_eq!(config.environment("prod").expect("prod").approvals, 2);
    assert_eq!(config.environment("stage").expect("stage").approvals, 0);
    assert!(config.ledger.enabled);
    assert_eq!(config.ledger.reference, "refs/gantry/ledger");
    assert_eq!(config.ledger.remote, None);
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/ci");
    for (file, runs) in [
        ("pr-check.yml", "audit verify"),
        ("build-dev.yml", "sha-"),
        ("promote-stage.yml", "--to stage"),
        ("promote-prod.yml", "execute"),
    ] {
        let text = std::fs::read_to_string(workflows.join(file)).expect(file);
        assert!(text.contains(runs), "{file} should run `{runs}`");
    }
}
