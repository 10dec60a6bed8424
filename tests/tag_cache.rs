//! The tag cache against a real registry: a warm `status` asks only for tag lists and
//! mutable tags, a SHA tag pushed again is noticed within one refresh of its environment,
//! a damaged cache file is ignored and rebuilt, two gantry processes writing the cache at
//! once lose nothing. Requests are counted by a pass-through proxy in front of the
//! registry, which logs each one as it arrives.

mod common;

use common::faults::FaultProxy;
use common::{code, command_in, registries, stderr};
use gantry::sandbox::push_sized_image;
use serde_json::Value;

/// A test's corner: its services in `dev/` and `stage/` of the shared dev registry,
/// reached through a counting proxy, and its own state directory.
struct Fleet {
    dir: tempfile::TempDir,
    proxy: FaultProxy,
    prefix: String,
}

impl Fleet {
    fn new(name: &str) -> Fleet {
        Fleet {
            dir: tempfile::tempdir().expect("tempdir"),
            proxy: FaultProxy::start(registries().dev.addr(), Vec::new()),
            prefix: format!("tc-{name}"),
        }
    }

    fn service(&self, n: usize) -> String {
        format!("{}-{n}", self.prefix)
    }

    /// A configuration with `services` (numbered from 1) in dev and stage; `latest` and
    /// `stage` as their mutable tags.
    fn config(&self, file: &str, services: &[usize]) -> std::path::PathBuf {
        let mut text = format!(
            "[git]\npath = \"no-repository\"\n\n[ledger]\nenabled = false\n\n\
             [[environment]]\nname = \"dev\"\nregistry = \"{addr}\"\npath = \"dev\"\nplain_http = true\nmutable_tag = \"latest\"\n\n\
             [[environment]]\nname = \"stage\"\nregistry = \"{addr}\"\npath = \"stage\"\nplain_http = true\nmutable_tag = \"stage\"\nfrom = \"dev\"\n",
            addr = self.proxy.addr
        );
        for n in services {
            text.push_str(&format!("\n[[service]]\nname = \"{}\"\n", self.service(*n)));
        }
        let path = self.dir.path().join(file);
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Pushes image `seed` to `<env>/<service n>` under `tags`, past the proxy.
    fn push(&self, env: &str, n: usize, tags: &[&str], seed: u64) -> String {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let repository = format!("{env}/{}", self.service(n));
        push_sized_image(registries().dev.addr(), &repository, &tags, 512, seed).expect("push")
    }

    fn status(&self, config: &std::path::Path, extra: &[&str]) -> (Value, Vec<(String, String)>) {
        let before = self.proxy.requests().len();
        let mut args = vec!["--config", config.to_str().expect("utf-8"), "status"];
        args.extend_from_slice(extra);
        args.push("--json");
        let out = command_in(self.dir.path(), &args).output().expect("run");
        assert_eq!(code(&out), 0, "status failed: {}", stderr(&out));
        let json: Value = serde_json::from_slice(&out.stdout).expect("json");
        (json, self.proxy.requests()[before..].to_vec())
    }

    fn cache_files(&self) -> Vec<std::path::PathBuf> {
        let dir = self.dir.path().join("state/gantry/tag-cache");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "tags"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

fn cell<'a>(json: &'a Value, service: &str, env: &str) -> &'a Value {
    json.as_array()
        .expect("status --json is the cells")
        .iter()
        .find(|c| c["service"] == service && c["environment"] == env)
        .unwrap_or_else(|| panic!("no cell {service} in {env}: {json}"))
}

/// HEADs of manifests by SHA tag among `requests`.
fn sha_heads(requests: &[(String, String)]) -> Vec<String> {
    requests
        .iter()
        .filter(|(method, path)| method == "HEAD" && path.contains("/manifests/sha-"))
        .map(|(_, path)| path.clone())
        .collect()
}

#[test]
fn warm_status_reads_only_tag_lists_and_mutable_tags() {
    let fleet = Fleet::new("warm");
    let a = fleet.push("dev", 1, &["sha-aaaaaa1", "sha-aaaaaa2", "latest"], 11);
    fleet.push("stage", 1, &["sha-aaaaaa1", "stage"], 11);
    let config = fleet.config("gantry.toml", &[1]);

    let (cold, cold_requests) = fleet.status(&config, &[]);
    assert_eq!(cell(&cold, &fleet.service(1), "dev")["digest"], a);
    assert_eq!(sha_heads(&cold_requests).len(), 3, "{cold_requests:?}");

    let (warm, warm_requests) = fleet.status(&config, &[]);
    assert_eq!(cell(&warm, &fleet.service(1), "dev")["digest"], a);
    assert_eq!(
        cell(&warm, &fleet.service(1), "dev")["tags"],
        cold_cell_tags(&cold, &fleet)
    );
    assert_eq!(cell(&warm, &fleet.service(1), "dev")["image_count"], 2);
    // Per cell: its tag list and its mutable tag, nothing else.
    let mut seen: Vec<String> = warm_requests
        .iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    seen.sort();
    let service = fleet.service(1);
    assert_eq!(
        seen,
        vec![
            format!("GET /v2/dev/{service}/tags/list?n=1000"),
            format!("GET /v2/stage/{service}/tags/list?n=1000"),
            format!("HEAD /v2/dev/{service}/manifests/latest"),
            format!("HEAD /v2/stage/{service}/manifests/stage"),
        ]
    );

    // --fresh reads every tag again.
    let (_, fresh_requests) = fleet.status(&config, &["--fresh"]);
    assert_eq!(sha_heads(&fresh_requests).len(), 3, "{fresh_requests:?}");
}

fn cold_cell_tags(json: &Value, fleet: &Fleet) -> Value {
    cell(json, &fleet.service(1), "dev")["tags"].clone()
}

#[test]
fn a_sha_tag_pushed_again_is_noticed_within_one_refresh_of_its_environment() {
    let fleet = Fleet::new("repush");
    let original = fleet.push("dev", 1, &["sha-bbbbbb1", "latest"], 21);
    fleet.push("stage", 1, &["sha-bbbbbb1", "stage"], 21);
    let config = fleet.config("gantry.toml", &[1]);
    let service = fleet.service(1);
    let (before, _) = fleet.status(&config, &[]);
    assert_eq!(cell(&before, &service, "dev")["digest"], original);
    assert!(cell(&before, &service, "dev").get("drift").is_none());

    // CI rebuilds the commit and pushes its tag and `latest` again: another digest.
    let rebuilt = fleet.push("dev", 1, &["sha-bbbbbb1", "latest"], 22);
    assert_ne!(rebuilt, original);
    let (after, requests) = fleet.status(&config, &[]);
    let dev = cell(&after, &service, "dev");
    assert_eq!(dev["digest"], rebuilt);
    assert_eq!(dev["tags"], serde_json::json!(["sha-bbbbbb1"]));
    assert_eq!(dev["drift"], serde_json::json!(["sha-bbbbbb1"]));
    assert_eq!(
        cell(&after, &service, "stage")["drift"],
        serde_json::json!(["sha-bbbbbb1"])
    );
    assert!(
        sha_heads(&requests).contains(&format!("/v2/dev/{service}/manifests/sha-bbbbbb1")),
        "the cached tag was not read again: {requests:?}"
    );
    // Stage's cached answer explained its mutable tag: not asked again.
    assert!(!sha_heads(&requests).contains(&format!("/v2/stage/{service}/manifests/sha-bbbbbb1")));

    // Pushed again without moving `latest`: nothing points at the new image, so only a
    // fresh read shows it (the README says so).
    fleet.push("stage", 1, &["sha-bbbbbb1"], 23);
    let (_, quiet) = fleet.status(&config, &[]);
    assert!(sha_heads(&quiet).is_empty(), "{quiet:?}");
    let (fresh, _) = fleet.status(&config, &["--fresh"]);
    assert_eq!(
        cell(&fresh, &service, "stage")["drift"],
        serde_json::json!(["sha-bbbbbb1"])
    );
}

#[test]
fn a_damaged_cache_file_is_ignored_and_rebuilt() {
    let fleet = Fleet::new("damaged");
    let digest = fleet.push("dev", 1, &["sha-ccccccc", "latest"], 31);
    let config = fleet.config("gantry.toml", &[1]);
    fleet.status(&config, &[]);
    let files = fleet.cache_files();
    assert_eq!(files.len(), 1, "one registry, one file: {files:?}");
    let file = &files[0];
    let good = std::fs::read_to_string(file).expect("read cache");
    assert!(good.contains(&digest));

    // A forged digest (checksum no longer matches), a torn file, another program's file.
    let forged = good.replace(
        &digest,
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    );
    for (what, damaged) in [
        ("forged", forged),
        ("torn", good[..good.len() / 2].to_string()),
        ("foreign", "{\"cache\": true}\n".to_string()),
    ] {
        std::fs::write(file, &damaged).expect("damage the cache");
        let (json, requests) = fleet.status(&config, &[]);
        assert_eq!(
            cell(&json, &fleet.service(1), "dev")["digest"],
            digest,
            "{what} cache trusted"
        );
        assert_eq!(
            sha_heads(&requests).len(),
            1,
            "{what}: not read live: {requests:?}"
        );
        let rebuilt = std::fs::read_to_string(file).expect("read cache");
        assert!(rebuilt.contains(&digest), "{what}: not rebuilt");
        // Rebuilt for real: the next status trusts it.
        let (_, next) = fleet.status(&config, &[]);
        assert!(
            sha_heads(&next).is_empty(),
            "{what}: rebuilt file not used: {next:?}"
        );
    }
}

#[test]
fn two_processes_writing_the_cache_at_once_lose_nothing() {
    let fleet = Fleet::new("twoproc");
    let services: Vec<usize> = (1..=6).collect();
    let mut digests = Vec::new();
    for &n in &services {
        digests.push(fleet.push("dev", n, &["sha-ddddddd", "latest"], 40 + n as u64));
    }
    let first = fleet.config("first.toml", &[1, 2, 3]);
    let second = fleet.config("second.toml", &[4, 5, 6]);
    let both = fleet.config("both.toml", &services);
    for round in 0..3 {
        if round > 0 {
            std::fs::remove_dir_all(fleet.dir.path().join("state/gantry/tag-cache"))
                .expect("clear cache");
        }
        let spawn = |config: &std::path::Path| {
            command_in(
                fleet.dir.path(),
                &["--config", config.to_str().expect("utf-8"), "status"],
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
        };
        let (a, b) = (spawn(&first), spawn(&second));
        for child in [a, b] {
            let out = child.wait_with_output().expect("wait");
            assert_eq!(code(&out), 0, "{}", stderr(&out));
        }
        // Every SHA tag either process read is in the one file, which is whole.
        let (json, requests) = fleet.status(&both, &[]);
        assert!(
            sha_heads(&requests).is_empty(),
            "round {round}: facts lost: {requests:?}"
        );
        for (i, &n) in services.iter().enumerate() {
            assert_eq!(cell(&json, &fleet.service(n), "dev")["digest"], digests[i]);
        }
    }
}

#[test]
fn images_are_described_from_the_cache_and_a_rebuild_is_read_again() {
    let fleet = Fleet::new("images");
    fleet.push("dev", 1, &["sha-eeeeee1", "latest"], 51);
    fleet.push("dev", 1, &["sha-eeeeee2"], 52);
    let config = fleet.config("gantry.toml", &[1]);
    let service = fleet.service(1);
    let images = |extra: &[&str]| {
        let before = fleet.proxy.requests().len();
        let mut args = vec![
            "--config",
            config.to_str().expect("utf-8"),
            "images",
            service.as_str(),
            "--env",
            "dev",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = command_in(fleet.dir.path(), &args).output().expect("run");
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let json: Value = serde_json::from_slice(&out.stdout).expect("json");
        (json, fleet.proxy.requests()[before..].to_vec())
    };
    // Describing an image reads its manifest by tag and its config blob (what it carries,
    // SBOMs and signatures, is looked up live apart from that).
    let manifest_reads = |requests: &[(String, String)]| {
        requests
            .iter()
            .filter(|(m, p)| m == "GET" && (p.contains("/manifests/sha-") || p.contains("/blobs/")))
            .count()
    };
    let (cold, cold_requests) = images(&[]);
    assert_eq!(manifest_reads(&cold_requests), 4, "{cold_requests:?}");
    let (warm, warm_requests) = images(&[]);
    assert_eq!(manifest_reads(&warm_requests), 0, "{warm_requests:?}");
    assert_eq!(cold, warm, "the cache answered differently");

    // Rebuilt and re-tagged `latest`: the cached facts are read again.
    let rebuilt = fleet.push("dev", 1, &["sha-eeeeee1", "latest"], 53);
    let (after, _) = images(&[]);
    let text = after.to_string();
    assert!(text.contains(&rebuilt), "rebuild not shown: {text}");
}
