//! `gantry gc` against real registries (deletes enabled), a real git repository and the
//! ledger: the plan keeps exactly what is deployed, promoted, branched or too young, and
//! `--execute` deletes exactly the rest, as skopeo (not gantry) lists the tags afterwards.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use common::faults::{Fault, FaultProxy, Response, Rule};
use common::git::{gantry_command, short, TestRepo};
use common::{code, json, pipeline_config, registries, stderr, stdout, Case};
use gantry::sandbox::{
    seed_image_with_creds, skopeo_list_tags, skopeo_raw_manifest, ImageSpec, LocalRegistry,
    RegistryOptions, SeedFormat, TokenIssuer, TokenUsers,
};

/// Runs gantry with `config`, a sandboxed HOME (no personal git configuration) and no
/// signing password in the environment (the test key has none).
fn gantry(case: &Case, args: &[&str]) -> Output {
    gantry_command(case.dir.path(), &case.config, args)
        .env_remove("COSIGN_PASSWORD")
        .output()
        .expect("run gantry")
}

/// `gantry` with extra environment variables (a registry password).
fn gantry_with(case: &Case, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = gantry_command(case.dir.path(), &case.config, args);
    for (key, value) in vars {
        command.env(key, value);
    }
    command.output().expect("run gantry")
}

fn ok(out: Output) -> Output {
    assert_eq!(
        code(&out),
        0,
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// One image to seed: its tags and how it is built.
struct Seed {
    tags: Vec<String>,
    seed: u64,
    platforms: usize,
    created: String,
}

impl Seed {
    fn new(tag: String, seed: u64) -> Seed {
        Seed {
            tags: vec![tag],
            seed,
            platforms: 1,
            created: "2024-01-01T00:00:00Z".into(),
        }
    }
}

/// Pushes every image with skopeo, a few at a time; returns tag -> digest.
fn seed_all(case: &Case, registry: &str, seeds: &[Seed]) -> BTreeMap<String, String> {
    let digests = std::sync::Mutex::new(BTreeMap::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(seed) = seeds.get(i) else { return };
                let mut spec = ImageSpec::small(seed.seed);
                spec.platforms.truncate(seed.platforms.max(1));
                spec.layer_sizes = vec![512 + seed.seed as usize % 256];
                spec.created = seed.created.clone();
                let tags: Vec<&str> = seed.tags.iter().map(String::as_str).collect();
                let digest = gantry::sandbox::seed_image(
                    case.dir.path(),
                    registry,
                    &case.service,
                    &tags,
                    &spec,
                    SeedFormat::Oci,
                )
                .expect("seed image");
                let mut digests = digests.lock().expect("lock");
                for tag in &seed.tags {
                    digests.insert(tag.clone(), digest.clone());
                }
            });
        }
    });
    digests.into_inner().expect("lock")
}

fn tag_set(tags: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
    tags.into_iter().map(Into::into).collect()
}

fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// tag -> deciding rule name, for one environment's plan in a `gc --json` report.
fn decisions(report: &serde_json::Value, env: &str, list: &str) -> BTreeMap<String, String> {
    let result = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["environment"] == env)
        .unwrap_or_else(|| panic!("no result for {env}: {report}"));
    let mut out = BTreeMap::new();
    for image in result["plan"][list].as_array().expect("list") {
        for tag in image["tags"].as_array().expect("tags") {
            out.insert(
                tag.as_str().expect("tag").to_string(),
                image["decision"]["rule"]
                    .as_str()
                    .expect("rule")
                    .to_string(),
            );
        }
    }
    out
}

fn result<'a>(report: &'a serde_json::Value, env: &str) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["environment"] == env)
        .unwrap_or_else(|| panic!("no result for {env}: {report}"))
}

#[test]
fn plan_keeps_what_is_deployed_and_execute_deletes_exactly_the_rest() {
    let case = Case::new("gc-full");
    let regs = registries();

    // develop: d1..d32; a release branch cut at d10 with one commit of its own.
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    repo.git(&["config", "user.email", "ci@example.com"]);
    repo.commit("Initial commit");
    repo.checkout_new("develop", "main");
    let d: Vec<String> = (1..=32)
        .map(|i| repo.commit(&format!("Change {i}")))
        .collect();
    let dev_tag = |i: usize| format!("sha-{}", short(&d[i - 1]));
    let release = format!("release/v1.0.0-sha-{}", short(&d[9]));
    repo.checkout_new(&release, &d[9]);
    let r1 = repo.commit_file("RELEASE.txt", "Release notes");
    repo.checkout("develop");
    let r1_tag = format!("sha-{}", short(&r1));

    // Keys for the stage environment, which signs what is promoted into it.
    let keys = case.dir.path().join("keys");
    ok(gantry(
        &case,
        &[
            "keys",
            "generate",
            "--output-dir",
            keys.to_str().expect("utf-8"),
        ],
    ));
    let head = r#"
[git]
path = "repo"

[copy]
attempts = 2
backoff_ms = 20

[signing]
key = "keys/cosign.key"
"#;
    let dev = r#"[environment.retention]
keep = 5
exclude = ["sha-*-keep"]
min_age = "24h""#;
    let stage = "sign = true\n[environment.retention]\nkeep = 1";
    let config = pipeline_config(&case, head, [dev, stage, r#"retain_promoted = "7y""#]);
    std::fs::write(&case.config, config).expect("write config");

    // 35 images in dev, each its own digest; a few are two-platform indexes.
    let an_hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut seeds: Vec<Seed> = (1..=32)
        .map(|i| {
            let mut seed = Seed::new(dev_tag(i), 6_000 + i as u64);
            if i % 8 == 1 {
                seed.platforms = 2;
            }
            seed
        })
        .collect();
    seeds[1].tags.push("latest".into());
    seeds[2].tags.push(format!("{}-keep", dev_tag(3)));
    seeds.push(Seed::new(r1_tag.clone(), 6_100));
    // Commits the repository does not have: one built an hour ago, one long ago.
    let mut young = Seed::new("sha-0badc0d".into(), 6_101);
    young.created = an_hour_ago;
    seeds.push(young);
    seeds.push(Seed::new("sha-0badf00".into(), 6_102));
    let digests = seed_all(&case, regs.dev.addr(), &seeds);

    // d8 and d15 went to production; stage last got d25, after d10 and d12.
    for (i, to) in [
        (8, "stage"),
        (8, "prod"),
        (10, "stage"),
        (12, "stage"),
        (15, "stage"),
        (15, "prod"),
        (25, "stage"),
    ] {
        ok(gantry(
            &case,
            &[
                "promote",
                &format!("{}:{}", case.service, dev_tag(i)),
                "--to",
                to,
            ],
        ));
    }
    let stage_before = case.tags_at(&regs.stage, &case.service);
    assert!(
        stage_before.contains(&sig_tag(&digests[&dev_tag(10)])),
        "stage signs what it gets: {stage_before:?}"
    );

    // The plan, which changes nothing.
    let dev_before = case.tags_at(&regs.dev, &case.service);
    assert_eq!(dev_before.len(), 37);
    let out = ok(gantry(&case, &["gc", "--json"]));
    let report = json(&out);
    assert_eq!(report["executed"], false);
    let kept = decisions(&report, "dev", "keep");
    let mut expected_kept: BTreeMap<String, String> = BTreeMap::new();
    for (tag, rule) in [
        (dev_tag(2), "mutable_tag"),
        ("latest".to_string(), "mutable_tag"),
        (dev_tag(3), "outside_policy"),
        (format!("{}-keep", dev_tag(3)), "outside_policy"),
        (dev_tag(8), "retain_promoted"),
        (dev_tag(15), "runs"),
        (dev_tag(25), "runs"),
        (r1_tag.clone(), "branch_head"),
        ("sha-0badc0d".to_string(), "min_age"),
    ] {
        expected_kept.insert(tag, rule.to_string());
    }
    for i in 28..=32 {
        expected_kept.insert(dev_tag(i), "newest".into());
    }
    assert_eq!(kept, expected_kept);
    let deleted = decisions(&report, "dev", "delete");
    let mut expected_deleted: BTreeMap<String, String> = (1..=27)
        .filter(|i| ![2, 3, 8, 15, 25].contains(i))
        .map(|i| (dev_tag(i), "beyond_keep".to_string()))
        .collect();
    expected_deleted.insert("sha-0badf00".into(), "beyond_keep".into());
    assert_eq!(deleted, expected_deleted);
    // Ranked by git: d27 is the first past the newest five, the unknown old commit last.
    let dev = result(&report, "dev");
    assert_eq!(dev["plan"]["delete"][0]["tags"][0], dev_tag(27).as_str());
    assert_eq!(dev["plan"]["delete"][0]["decision"]["rank"], 6);
    assert_eq!(dev["plan"]["delete"][22]["tags"][0], "sha-0badf00");
    let d8 = dev["plan"]["keep"]
        .as_array()
        .expect("keep")
        .iter()
        .find(|i| i["tags"][0] == dev_tag(8).as_str())
        .expect("d8");
    assert_eq!(d8["decision"]["environment"], "prod");
    assert!(
        d8["decision"]["promoted_at"].is_string(),
        "dated by the ledger: {d8}"
    );
    let d15 = dev["plan"]["keep"]
        .as_array()
        .expect("keep")
        .iter()
        .find(|i| i["tags"][0] == dev_tag(15).as_str())
        .expect("d15");
    assert_eq!(d15["decision"]["environment"], "prod");
    assert_eq!(d15["also"][0]["rule"], "retain_promoted");

    let stage = result(&report, "stage");
    assert_eq!(
        decisions(&report, "stage", "keep"),
        BTreeMap::from([
            ("stage".to_string(), "mutable_tag".to_string()),
            (dev_tag(25), "mutable_tag".to_string()),
            (dev_tag(15), "runs".to_string()),
            (dev_tag(8), "retain_promoted".to_string()),
            (dev_tag(12), "newest".to_string()),
        ])
    );
    assert_eq!(
        decisions(&report, "stage", "delete"),
        BTreeMap::from([(dev_tag(10), "beyond_keep".to_string())])
    );
    let d10_sig = sig_tag(&digests[&dev_tag(10)]);
    assert_eq!(
        stage["plan"]["delete"][0]["signatures"][0],
        d10_sig.as_str()
    );
    assert_eq!(case.tags_at(&regs.dev, &case.service), dev_before);
    assert_eq!(case.tags_at(&regs.stage, &case.service), stage_before);

    // The text plan says the same, with the rule in words.
    let text = stdout(&ok(gantry(&case, &["gc", "--env", "dev"])));
    assert!(text.contains(&format!("head of {release}")), "{text}");
    assert!(text.contains("#6, beyond the newest 5"), "{text}");
    assert!(text.contains("gc --execute"), "{text}");

    // Carried out: exactly the planned images go, with d10's signature and the platform
    // manifests of the deleted indexes.
    let out = ok(gantry(&case, &["gc", "--execute", "--json"]));
    let report = json(&out);
    assert!(
        report["reclaim"]
            .as_str()
            .is_some_and(|r| r.contains("garbage-collect")),
        "{report}"
    );
    let dev_outcome = &result(&report, "dev")["outcome"];
    assert_eq!(dev_outcome["deleted"].as_array().map(Vec::len), Some(23));
    assert!(dev_outcome["failure"].is_null());
    assert!(
        dev_outcome["deleted"]
            .as_array()
            .expect("deleted")
            .iter()
            .all(|d| d["ledger"].is_string()),
        "each deletion recorded: {dev_outcome}"
    );
    let stage_outcome = &result(&report, "stage")["outcome"];
    assert_eq!(stage_outcome["deleted"][0]["tags"][0], dev_tag(10).as_str());
    assert_eq!(
        stage_outcome["deleted"][0]["signatures"][0],
        d10_sig.as_str()
    );
    let dev_after: BTreeSet<String> = case.tags_at(&regs.dev, &case.service).into_iter().collect();
    assert_eq!(dev_after, expected_kept.keys().cloned().collect());
    let stage_after: BTreeSet<String> = case
        .tags_at(&regs.stage, &case.service)
        .into_iter()
        .collect();
    let mut expected_stage = tag_set(stage_before.iter().cloned());
    expected_stage.remove(&dev_tag(10));
    expected_stage.remove(&d10_sig);
    assert_eq!(stage_after, expected_stage);
    // d9 was a two-platform index: its platform manifests are gone too.
    let index = skopeo_raw_manifest(
        &format!(
            "{}/{}@{}",
            regs.dev.addr(),
            case.service,
            digests[&dev_tag(9)]
        ),
        None,
    );
    assert!(index.is_err(), "the index is gone");
    let d17 = &digests[&dev_tag(17)];
    let children = dev_outcome["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .find(|d| d["digest"] == d17.as_str())
        .and_then(|d| d["children"].as_array())
        .cloned()
        .expect("d17 is an index whose platforms went with it");
    assert_eq!(children.len(), 2);
    for child in children {
        let child = child.as_str().expect("digest");
        assert!(
            skopeo_raw_manifest(
                &format!("{}/{}@{child}", regs.dev.addr(), case.service),
                None
            )
            .is_err(),
            "platform manifest {child} still there"
        );
    }

    // Every deletion is in the ledger.
    let audit = json(&ok(gantry(
        &case,
        &["audit", "--kind", "deletion", "--json"],
    )));
    let records = audit["records"].as_array().expect("records");
    assert_eq!(records.len(), 24);
    assert!(records
        .iter()
        .any(|r| r["environment"] == "stage" && r["tag"] == dev_tag(10).as_str()));

    // A rerun finds nothing to do.
    let out = ok(gantry(&case, &["gc", "--execute", "--json"]));
    let again = json(&out);
    for env in ["dev", "stage"] {
        let result = result(&again, env);
        assert_eq!(result["plan"]["delete"].as_array().map(Vec::len), Some(0));
        assert_eq!(
            result["outcome"]["deleted"].as_array().map(Vec::len),
            Some(0)
        );
    }
    assert!(again["reclaim"].is_null());
    assert_eq!(tag_set(case.tags_at(&regs.dev, &case.service)), dev_after);
}

/// A `docker-registry` started here with `storage.delete.enabled: false`; killed on drop.
struct NoDeleteRegistry {
    child: Child,
    addr: String,
}

impl NoDeleteRegistry {
    fn start(dir: &Path) -> NoDeleteRegistry {
        std::fs::create_dir_all(dir.join("data")).expect("data dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: false\nhttp:\n  addr: \"{addr}\"\n  secret: \"gantry-test\"\n",
                dir.join("data").display()
            ),
        )
        .expect("registry config");
        let binary =
            std::env::var("GANTRY_REGISTRY_BIN").unwrap_or_else(|_| "docker-registry".into());
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        // Ready once it accepts connections (it binds before serving).
        for _ in 0..200 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        NoDeleteRegistry { child, addr }
    }
}

impl Drop for NoDeleteRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config with one environment at `registry`, no git repository, keep = 1.
fn single_env_config(case: &Case, registry: &str, extra: &str) {
    std::fs::write(
        &case.config,
        format!(
            r#"
[copy]
attempts = 2
backoff_ms = 20

[[environment]]
name = "dev"
registry = "{registry}"
plain_http = true
mutable_tag = "latest"
{extra}
[environment.retention]
keep = 1

[[service]]
name = "{service}"
"#,
            service = case.service
        ),
    )
    .expect("write config");
}

/// Three images of unknown commits, newest last, so created time orders them.
fn three_images(case: &Case, registry: &str, base: u64) -> Vec<String> {
    let seeds: Vec<Seed> = (0..3)
        .map(|i| {
            let mut seed = Seed::new(format!("sha-{:07x}", base + i), base + i);
            seed.created = format!("2024-01-0{}T00:00:00Z", i + 1);
            seed
        })
        .collect();
    seed_all(case, registry, &seeds);
    seeds.into_iter().map(|s| s.tags[0].clone()).collect()
}

#[test]
fn a_registry_with_deletion_disabled_is_named_and_keeps_everything() {
    let case = Case::new("gc-no-delete");
    let registry = NoDeleteRegistry::start(&case.dir.path().join("no-delete"));
    let tags = three_images(&case, &registry.addr, 0x7100);
    single_env_config(&case, &registry.addr, "");
    let list = || {
        gantry::sandbox::skopeo_list_tags(&format!("{}/{}", registry.addr, case.service), None)
            .expect("list tags")
    };
    let before = list();

    let plan = json(&ok(gantry(&case, &["gc", "--json"])));
    assert_eq!(
        result(&plan, "dev")["plan"]["delete"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let out = gantry(&case, &["gc", "--execute"]);
    assert_eq!(code(&out), 3, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains(
            "deletion is disabled on this registry (storage.delete.enabled: true in its config)"
        ),
        "{}",
        stderr(&out)
    );
    // Both lists: nothing deleted, and what was not.
    let text = stdout(&out);
    assert!(text.contains("0 deleted, 2 not deleted"), "{text}");
    assert!(
        text.contains(&format!("NOT deleted  {}", tags[0])),
        "{text}"
    );
    assert_eq!(list(), before);

    // A read-only environment is refused before anything is tried.
    single_env_config(&case, &registry.addr, "readonly = true");
    let out = gantry(&case, &["gc", "--execute", "--json"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        result(&json(&out), "dev")["error"]
            .as_str()
            .is_some_and(|e| e.contains("read-only")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_registry_failing_midway_reports_both_lists_and_a_rerun_finishes() {
    let case = Case::new("gc-midway");
    let regs = registries();
    let seeds: Vec<Seed> = (0..4)
        .map(|i| {
            let mut seed = Seed::new(format!("sha-{:07x}", 0x7200 + i), 0x7200 + i);
            seed.created = format!("2024-02-0{}T00:00:00Z", i + 1);
            seed
        })
        .collect();
    let digests = seed_all(&case, regs.dev.addr(), &seeds);
    let tag = |i: usize| seeds[i].tags[0].clone();
    // Deleted oldest first: 0, then 1, which this registry refuses to delete for good.
    let proxy = FaultProxy::start(
        regs.dev.addr(),
        vec![Rule::new(
            "DELETE",
            &format!("/manifests/{}", digests[&tag(1)]),
            None,
            Fault::Respond(Response::status(500)),
        )],
    );
    single_env_config(&case, &proxy.addr, "");

    let out = gantry(&case, &["gc", "--execute", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let outcome = result(&json(&out), "dev")["outcome"].clone();
    let names = |list: &str| -> Vec<String> {
        outcome[list]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|i| i["tags"][0].as_str().expect("tag").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names("deleted"), [tag(0)]);
    assert_eq!(names("not_deleted"), [tag(1), tag(2)]);
    assert_eq!(outcome["failure"]["kind"], "registry");
    assert_eq!(
        tag_set(case.tags_at(&regs.dev, &case.service)),
        tag_set([tag(1), tag(2), tag(3)])
    );
    // No repository, so no ledger: nothing is said about it.
    assert!(!stderr(&out).contains("ledger"), "{}", stderr(&out));

    // The registry recovers; the same command finishes the job.
    proxy.set_rules(Vec::new());
    let out = ok(gantry(&case, &["gc", "--execute"]));
    assert!(stdout(&out).contains("2 deleted"), "{}", stdout(&out));
    assert_eq!(
        tag_set(case.tags_at(&regs.dev, &case.service)),
        tag_set([tag(3)])
    );
}

#[test]
fn a_signature_left_behind_by_a_failed_run_is_deleted_by_the_next() {
    let case = Case::new("gc-orphan-sig");
    let regs = registries();
    let tags = three_images(&case, regs.dev.addr(), 0x7400);
    let digest = case.digest_at(&regs.dev, &tags[0]);
    // Something under the oldest image's signature tag, as cosign would put it there.
    let signature = sig_tag(&digest);
    let sig_digest = seed_all(
        &case,
        regs.dev.addr(),
        &[Seed::new(signature.clone(), 0x7499)],
    )[&signature]
        .clone();
    let proxy = FaultProxy::start(
        regs.dev.addr(),
        vec![Rule::new(
            "DELETE",
            &format!("/manifests/{sig_digest}"),
            None,
            Fault::Respond(Response::status(503)),
        )],
    );
    single_env_config(&case, &proxy.addr, "");

    let plan = json(&ok(gantry(&case, &["gc", "--json"])));
    let delete = &result(&plan, "dev")["plan"]["delete"];
    assert_eq!(delete[1]["tags"][0], tags[0].as_str());
    assert_eq!(delete[1]["signatures"][0], signature.as_str());

    // The image goes, its signature does not: said so, exit 1.
    let out = gantry(&case, &["gc", "--execute", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let outcome = &result(&report, "dev")["outcome"];
    assert_eq!(outcome["deleted"][0]["tags"][0], tags[0].as_str());
    assert!(
        outcome["failure"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("not its signature {signature}"))),
        "{outcome}"
    );
    assert_eq!(outcome["not_deleted"][0]["tags"][0], tags[1].as_str());
    assert_eq!(
        tag_set(case.tags_at(&regs.dev, &case.service)),
        tag_set([tags[1].clone(), tags[2].clone(), signature.clone()])
    );

    // Next time the signature is an orphan, and goes with the rest.
    proxy.set_rules(Vec::new());
    let plan = json(&ok(gantry(&case, &["gc", "--json"])));
    let orphans = &result(&plan, "dev")["plan"]["orphan_signatures"];
    assert_eq!(orphans[0]["tag"], signature.as_str());
    assert_eq!(orphans[0]["decision"]["rule"], "orphan_signature");
    ok(gantry(&case, &["gc", "--execute"]));
    assert_eq!(
        tag_set(case.tags_at(&regs.dev, &case.service)),
        tag_set([tags[2].clone()])
    );
}

#[test]
fn a_token_registry_grants_deletion_through_the_delete_scope() {
    let case = Case::new("gc-token");
    let password = "gc-t0ken-pw";
    let mut users = TokenUsers::default();
    users.passwords.insert("ci".into(), password.into());
    let issuer = TokenIssuer::start(&case.dir.path().join("issuer"), users).expect("issuer");
    let registry = LocalRegistry::start_with(
        &case.dir.path().join("token-registry"),
        RegistryOptions {
            token: Some(issuer.auth()),
            ..RegistryOptions::default()
        },
    )
    .expect("token registry");
    let tags: Vec<String> = (0..2).map(|i| format!("sha-{:07x}", 0x7500 + i)).collect();
    for (i, tag) in tags.iter().enumerate() {
        let mut spec = ImageSpec::small(0x7500 + i as u64);
        spec.platforms.truncate(1);
        spec.created = format!("2024-03-0{}T00:00:00Z", i + 1);
        seed_image_with_creds(
            case.dir.path(),
            registry.addr(),
            &case.service,
            &[tag],
            &spec,
            SeedFormat::Oci,
            Some(("ci", password)),
        )
        .expect("seed");
    }
    single_env_config(
        &case,
        registry.addr(),
        "username = \"ci\"\npassword_env = \"GANTRY_TEST_GC_PASSWORD\"",
    );
    let out = gantry_with(
        &case,
        &[("GANTRY_TEST_GC_PASSWORD", password)],
        &["gc", "--execute"],
    );
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let left = skopeo_list_tags(
        &format!("{}/{}", registry.addr(), case.service),
        Some(("ci", password)),
    )
    .expect("list tags");
    assert_eq!(left, [tags[1].clone()]);
}

/// A case whose dev registry holds [`three_images`] under a keep-one policy, and an
/// engine on its configuration: for tests that drive the engine directly.
fn three_images_engine(name: &str, base: u64) -> (Case, Vec<String>, gantry::engine::Engine) {
    let case = Case::new(name);
    let regs = registries();
    let tags = three_images(&case, regs.dev.addr(), base);
    single_env_config(&case, regs.dev.addr(), "");
    let config = gantry::config::Config::load(&case.config).expect("config");
    let engine = gantry::engine::Engine::new(config).expect("engine");
    (case, tags, engine)
}

#[test]
fn a_tag_moved_onto_a_planned_image_before_execution_keeps_it() {
    let (case, tags, engine) = three_images_engine("gc-moved-tag", 0x7300);
    let regs = registries();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let plan = runtime
        .block_on(engine.retention_plan("dev", &case.service))
        .expect("plan");
    let planned: Vec<&str> = plan.delete.iter().map(|i| i.tags[0].as_str()).collect();
    assert_eq!(planned, [tags[1].as_str(), tags[0].as_str()]);

    // Someone points `latest` at the oldest image between the plan and its execution.
    let status = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{}", case.image(&regs.dev, &tags[0])),
            &format!("docker://{}", case.image(&regs.dev, "latest")),
        ])
        .stdout(Stdio::null())
        .status()
        .expect("skopeo copy");
    assert!(status.success());

    let outcome = runtime
        .block_on(engine.execute_retention(&plan))
        .expect("execute");
    assert_eq!(outcome.exit_code(), 0);
    let deleted: Vec<&str> = outcome.deleted.iter().map(|d| d.tags[0].as_str()).collect();
    assert_eq!(deleted, [tags[1].as_str()]);
    assert_eq!(outcome.kept.len(), 1);
    assert!(
        outcome.kept[0].reason.contains("`latest`"),
        "{:?}",
        outcome.kept[0]
    );
    assert_eq!(
        tag_set(case.tags_at(&regs.dev, &case.service)),
        tag_set([tags[0].clone(), tags[2].clone(), "latest".to_string()])
    );
}

#[test]
fn execution_reports_each_deletion_to_subscribers() {
    use gantry::engine::EventKind;

    let (case, tags, mut engine) = three_images_engine("gc-events", 0x7400);
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    engine.subscribe(sender);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (outcome, events) = runtime.block_on(async {
        let plan = engine
            .retention_plan("dev", &case.service)
            .await
            .expect("plan");
        let outcome = engine.execute_retention(&plan).await.expect("execute");
        drop(engine);
        let mut events = Vec::new();
        while let Some(event) = receiver.recv().await {
            events.push(event.kind);
        }
        (outcome, events)
    });
    assert_eq!(outcome.exit_code(), 0);
    // Progress displays count these: one per image deleted, naming it, none for the kept.
    let deleted: Vec<String> = events
        .iter()
        .filter_map(|kind| match kind {
            EventKind::Deleted { image } => Some(image.clone()),
            _ => None,
        })
        .collect();
    let named: BTreeSet<String> = outcome
        .deleted
        .iter()
        .map(|d| {
            format!(
                "{}:{} ({})",
                case.service,
                d.tags.join(","),
                d.digest.short()
            )
        })
        .collect();
    assert_eq!(deleted.len(), 2);
    assert_eq!(deleted.iter().cloned().collect::<BTreeSet<_>>(), named);
    assert_eq!(
        outcome
            .deleted
            .iter()
            .map(|d| d.tags[0].clone())
            .collect::<BTreeSet<_>>(),
        tag_set([tags[0].clone(), tags[1].clone()])
    );
    assert!(matches!(events.first(), Some(EventKind::Started { .. })));
    assert!(matches!(events.last(), Some(EventKind::Finished { .. })));
}

#[test]
fn retention_settings_errors_are_located() {
    let case = Case::new("gc-config");
    let regs = registries();
    for (extra, location, words) in [
        (
            "retain_promoted = \"7 years\"",
            ":11:19",
            "unknown unit `years`",
        ),
        ("[environment.retention]\nkeep = \"ten\"", ":12:8", "ten"),
    ] {
        std::fs::write(
            &case.config,
            format!(
                "[copy]\nattempts = 2\n\n[[service]]\nname = \"{}\"\n\n[[environment]]\nname = \"dev\"\nregistry = \"{}\"\nplain_http = true\n{extra}\n",
                case.service,
                regs.dev.addr()
            ),
        )
        .expect("write config");
        let out = gantry(&case, &["gc"]);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        let first = stderr(&out).lines().next().unwrap_or_default().to_string();
        assert!(
            first.contains(&format!("gantry.toml{location}")) && first.contains(words),
            "{first}"
        );
    }
    // No policy anywhere: said so, exit 2.
    single_env_config(&case, regs.dev.addr(), "");
    let text = std::fs::read_to_string(&case.config)
        .expect("read")
        .replace("[environment.retention]\nkeep = 1\n", "");
    std::fs::write(&case.config, text).expect("write");
    let out = gantry(&case, &["gc"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no environment"), "{}", stderr(&out));
}
