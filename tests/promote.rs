//! Promotions through the real binary against real registries, checked with skopeo.

mod common;

use std::process::Output;

use common::{code, json, registries, stderr, stdout, Case};
use gantry::sandbox::{skopeo_raw_manifest, ImageSpec, SeedFormat};

fn blob_actions(report: &serde_json::Value) -> Vec<String> {
    report["outcome"]["plan"]["blobs"]
        .as_array()
        .expect("blobs")
        .iter()
        .map(|b| b["action"].as_str().expect("action").to_string())
        .collect()
}

/// `gantry promote <service>:sha-<commit> --to stage --json`.
fn promote_to_stage(case: &Case, commit: &str) -> Output {
    case.gantry(&[
        "promote",
        &format!("{}:sha-{commit}", case.service),
        "--to",
        "stage",
        "--json",
    ])
}

#[test]
fn per_registry_promotion_keeps_the_digest_and_tags_last() {
    let case = Case::new("per-registry");
    let regs = registries();
    let digest = case.seed("2b2e927", 11, &["latest"], SeedFormat::Oci);

    let out = promote_to_stage(&case, "2b2e927");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = &json(&out)[0];
    assert_eq!(report["ok"], true);
    assert_eq!(report["outcome"]["plan"]["digest"], digest.as_str());
    // Two platforms, each a config and two layers, all copied across registries.
    let actions = blob_actions(report);
    assert_eq!(actions.len(), 6, "{actions:?}");
    assert!(actions.iter().all(|a| a == "copy"), "{actions:?}");

    assert_eq!(case.digest_at(&regs.stage, "sha-2b2e927"), digest);
    assert_eq!(case.digest_at(&regs.stage, "stage"), digest);
    let raw = skopeo_raw_manifest(&case.image(&regs.stage, "sha-2b2e927"), None).expect("raw");
    let index: serde_json::Value = serde_json::from_slice(&raw).expect("index json");
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        case.tags_at(&regs.stage, &case.service),
        ["sha-2b2e927", "stage"]
    );
}

#[test]
fn second_promotion_is_a_no_op() {
    let case = Case::new("already-present");
    let regs = registries();
    let digest = case.seed("aaaaaaa", 12, &[], SeedFormat::Oci);
    let image = format!("{}:sha-aaaaaaa", case.service);
    let first = case.gantry(&["promote", &image, "--to", "stage"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));

    let again = case.gantry(&["promote", &image, "--to", "stage", "--json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let plan = &json(&again)[0]["outcome"]["plan"];
    assert_eq!(plan["blobs"].as_array().map(Vec::len), Some(0), "{plan}");
    assert_eq!(plan["manifests"][0]["action"], "present");
    assert!(plan["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .all(|t| t["action"]["kind"] == "unchanged"));
    assert_eq!(case.digest_at(&regs.stage, "sha-aaaaaaa"), digest);
}

#[test]
fn blobs_already_in_the_target_are_skipped() {
    let case = Case::new("blob-skip");
    let regs = registries();
    // Same layers, different config (a label): most blobs are shared between the two.
    let spec_a = ImageSpec::small(13);
    let mut spec_b = ImageSpec::small(13);
    spec_b.labels.insert("build".into(), "second".into());
    case.seed_in(
        regs.dev.addr(),
        &case.service,
        "1111111",
        13,
        &[],
        SeedFormat::Oci,
        spec_a,
    );
    let digest_b = case.seed_in(
        regs.dev.addr(),
        &case.service,
        "2222222",
        13,
        &[],
        SeedFormat::Oci,
        spec_b,
    );
    assert_eq!(code(&promote_to_stage(&case, "1111111")), 0);
    let out = promote_to_stage(&case, "2222222");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let actions = blob_actions(&json(&out)[0]);
    assert_eq!(
        actions.iter().filter(|a| *a == "present").count(),
        4,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "copy").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(case.digest_at(&regs.stage, "sha-2222222"), digest_b);
    assert_eq!(case.digest_at(&regs.stage, "stage"), digest_b);
}

#[test]
fn shared_registry_layout_mounts_blobs() {
    let case = Case::new("shared-layout");
    let regs = registries();
    let digest = case.seed("3c3c3c3", 14, &[], SeedFormat::Oci);
    let image = format!("{}:sha-3c3c3c3", case.service);
    assert_eq!(code(&case.gantry(&["promote", &image, "--to", "stage"])), 0);

    // qa lives on the stage registry under `qa/`: the blobs are mounted, not copied.
    let out = case.gantry(&["promote", &image, "--to", "qa", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = &json(&out)[0];
    assert_eq!(
        report["outcome"]["plan"]["target"],
        format!("{}/qa/{}", regs.stage.addr(), case.service)
    );
    let actions = blob_actions(report);
    assert!(
        !actions.is_empty() && actions.iter().all(|a| a == "mount"),
        "{actions:?}"
    );
    let qa_image = format!("{}/qa/{}:sha-3c3c3c3", regs.stage.addr(), case.service);
    assert_eq!(
        gantry::sandbox::skopeo_digest(&qa_image, None).expect("inspect"),
        digest
    );
    assert_eq!(
        case.tags_at(&regs.stage, &format!("qa/{}", case.service)),
        ["qa", "sha-3c3c3c3"]
    );
}

#[test]
fn docker_manifest_list_is_copied_byte_for_byte() {
    let case = Case::new("docker-list");
    let regs = registries();
    let digest = case.seed("4d4d4d4", 15, &[], SeedFormat::DockerV2s2);
    let out = promote_to_stage(&case, "4d4d4d4");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out)[0]["outcome"]["plan"]["media_type"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    assert_eq!(case.digest_at(&regs.stage, "sha-4d4d4d4"), digest);
    let raw = skopeo_raw_manifest(&case.image(&regs.stage, "sha-4d4d4d4"), None).expect("raw");
    let source = skopeo_raw_manifest(&case.image(&regs.dev, "sha-4d4d4d4"), None).expect("raw");
    assert_eq!(raw, source);
}

#[test]
fn single_platform_image_is_promoted() {
    let case = Case::new("single-platform");
    let regs = registries();
    let mut spec = ImageSpec::small(16);
    spec.platforms = vec!["amd64".into()];
    let digest = case.seed_in(
        regs.dev.addr(),
        &case.service,
        "5e5e5e5",
        16,
        &[],
        SeedFormat::Oci,
        spec,
    );
    let out = promote_to_stage(&case, "5e5e5e5");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out)[0]["outcome"]["plan"]["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(case.digest_at(&regs.stage, "sha-5e5e5e5"), digest);
}

#[test]
fn immutable_tag_on_another_digest_is_refused_and_nothing_changes() {
    let case = Case::new("immutable-guard");
    let regs = registries();
    case.seed("6f6f6f6", 17, &[], SeedFormat::Oci);
    // Stage already has sha-6f6f6f6, but a different image (a rebuild) behind it.
    let other = case.seed_in(
        regs.stage.addr(),
        &case.service,
        "6f6f6f6",
        99,
        &["stage"],
        SeedFormat::Oci,
        ImageSpec::small(99),
    );

    let out = case.gantry(&[
        "promote",
        &format!("{}:sha-6f6f6f6", case.service),
        "--to",
        "stage",
    ]);
    assert_eq!(
        code(&out),
        3,
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("immutable tags are never moved"),
        "{}",
        stderr(&out)
    );
    assert_eq!(case.digest_at(&regs.stage, "sha-6f6f6f6"), other);
    assert_eq!(case.digest_at(&regs.stage, "stage"), other);

    // A dry run reports the same refusal.
    let dry = case.gantry(&[
        "promote",
        &format!("{}:sha-6f6f6f6", case.service),
        "--to",
        "stage",
        "--dry-run",
    ]);
    assert_eq!(code(&dry), 3);
}

#[test]
fn dry_run_changes_nothing() {
    let case = Case::new("dry-run");
    let regs = registries();
    case.seed("7a7a7a7", 18, &[], SeedFormat::Oci);
    let out = case.gantry(&[
        "promote",
        &format!("{}:sha-7a7a7a7", case.service),
        "--to",
        "stage",
        "--dry-run",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("would promote") && text.contains("copy"),
        "{text}"
    );
    assert!(case.tags_at(&regs.stage, &case.service).is_empty());
}

#[test]
fn images_are_named_by_commit_digest_or_mutable_tag() {
    let case = Case::new("selectors");
    let regs = registries();
    let first = case.seed("8b8b8b8", 19, &[], SeedFormat::Oci);
    let second = case.seed("9c9c9c9", 20, &["latest"], SeedFormat::Oci);
    let svc = &case.service;

    // A long commit id is cut to the tag's length.
    let out = case.gantry(&["promote", &format!("{svc}:8b8b8b8f00d"), "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.digest_at(&regs.stage, "sha-8b8b8b8"), first);

    // A mutable tag is promoted under the commit tag it shares a digest with.
    let out = case.gantry(&["promote", &format!("{svc}:latest"), "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.digest_at(&regs.stage, "sha-9c9c9c9"), second);
    assert_eq!(case.digest_at(&regs.stage, "stage"), second);

    // A digest from stage onward to prod.
    let out = case.gantry(&["promote", &format!("{svc}@{first}"), "--to", "prod"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.digest_at(&regs.prod, "sha-8b8b8b8"), first);
    assert_eq!(case.digest_at(&regs.prod, "prod"), first);

    // A short prefix that matches one tag works; one that matches none says so.
    let out = case.gantry(&[
        "promote",
        &format!("{svc}:9c9c"),
        "--to",
        "prod",
        "--from",
        "dev",
        "--dry-run",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = case.gantry(&["promote", &format!("{svc}:dead"), "--to", "stage"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no image of commit dead"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ambiguous_short_commit_is_refused() {
    let case = Case::new("ambiguous");
    case.seed("abcd111", 21, &[], SeedFormat::Oci);
    case.seed("abcd222", 22, &[], SeedFormat::Oci);
    let out = case.gantry(&[
        "promote",
        &format!("{}:abcd", case.service),
        "--to",
        "stage",
    ]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("ambiguous") && err.contains("sha-abcd111") && err.contains("sha-abcd222"),
        "{err}"
    );
}

#[test]
fn mutable_tag_moves_to_the_newest_promotion() {
    let case = Case::new("mutable-moves");
    let regs = registries();
    let first = case.seed("1a1a1a1", 23, &[], SeedFormat::Oci);
    let second = case.seed("2b2b2b2", 24, &[], SeedFormat::Oci);
    let svc = &case.service;
    assert_eq!(
        code(&case.gantry(&["promote", &format!("{svc}:sha-1a1a1a1"), "--to", "stage"])),
        0
    );
    assert_eq!(case.digest_at(&regs.stage, "stage"), first);
    let out = case.gantry(&[
        "promote",
        &format!("{svc}:sha-2b2b2b2"),
        "--to",
        "stage",
        "--json",
    ]);
    assert_eq!(code(&out), 0);
    let tags = &json(&out)[0]["outcome"]["plan"]["tags"];
    assert_eq!(tags[1]["action"]["kind"], "move");
    assert_eq!(tags[1]["action"]["from"], first.as_str());
    assert_eq!(case.digest_at(&regs.stage, "stage"), second);
    // The earlier image keeps its own immutable tag.
    assert_eq!(case.digest_at(&regs.stage, "sha-1a1a1a1"), first);
}

#[test]
fn several_images_promote_concurrently() {
    let case = Case::new("several");
    let regs = registries();
    // A second service in the same config: one image per service per promotion.
    let other = format!("{}-b", case.service);
    let mut text = std::fs::read_to_string(&case.config).expect("config");
    text.push_str(&format!("\n[[service]]\nname = \"{other}\"\n"));
    std::fs::write(&case.config, text).expect("config");
    let a = case.seed("c1c1c1c", 25, &[], SeedFormat::Oci);
    let b = case.seed_in(
        regs.dev.addr(),
        &other,
        "c2c2c2c",
        26,
        &[],
        SeedFormat::DockerV2s2,
        ImageSpec::small(26),
    );
    let svc = &case.service;
    let out = case.gantry(&[
        "promote",
        &format!("{svc}:sha-c1c1c1c"),
        &format!("{other}:sha-c2c2c2c"),
        "--to",
        "stage",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out).as_array().map(Vec::len), Some(2));
    assert_eq!(case.digest_at(&regs.stage, "sha-c1c1c1c"), a);
    let other_image = format!("{}/{other}:sha-c2c2c2c", regs.stage.addr());
    assert_eq!(
        gantry::sandbox::skopeo_digest(&other_image, None).expect("digest"),
        b
    );
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let case = Case::new("bad-input");
    let regs = registries();
    case.seed("d1d1d1d", 27, &[], SeedFormat::Oci);
    let svc = &case.service;
    let good = format!("{svc}:sha-d1d1d1d");

    let unknown_service = case.gantry(&["promote", &good, "nope:sha-1234567", "--to", "stage"]);
    assert_eq!(code(&unknown_service), 2);
    assert!(
        stderr(&unknown_service).contains("unknown service `nope`"),
        "{}",
        stderr(&unknown_service)
    );
    // The valid image next to it was not promoted either.
    assert!(case.tags_at(&regs.stage, svc).is_empty());

    let unknown_env = case.gantry(&["promote", &good, "--to", "staging"]);
    assert_eq!(code(&unknown_env), 2);
    assert!(stderr(&unknown_env).contains("unknown environment `staging`"));
    assert!(stderr(&unknown_env).contains("dev, stage, prod"));

    let unknown_tag = case.gantry(&["promote", &format!("{svc}:sha-0000000"), "--to", "stage"]);
    assert_eq!(code(&unknown_tag), 2);
    assert!(
        stderr(&unknown_tag).contains("no image `sha-0000000`"),
        "{}",
        stderr(&unknown_tag)
    );

    let malformed = case.gantry(&["promote", svc, "--to", "stage"]);
    assert_eq!(code(&malformed), 2);
    assert!(stderr(&malformed).contains("SERVICE:TAG"));

    let no_from = case.gantry(&["promote", &good, "--to", "dev"]);
    assert_eq!(code(&no_from), 2);
    assert!(stderr(&no_from).contains("--from"), "{}", stderr(&no_from));
    // No backtraces for user errors.
    for out in [
        &unknown_service,
        &unknown_env,
        &unknown_tag,
        &malformed,
        &no_from,
    ] {
        assert!(
            !stderr(out).contains("stack backtrace") && stderr(out).lines().count() <= 2,
            "{}",
            stderr(out)
        );
    }
}

#[test]
fn unreachable_registry_fails_with_exit_1() {
    let case = Case::new("unreachable");
    case.seed("e1e1e1e", 28, &[], SeedFormat::Oci);
    let out = case.gantry(&[
        "promote",
        &format!("{}:sha-e1e1e1e", case.service),
        "--to",
        "down",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot connect") && err.contains(&registries().closed_port.to_string()),
        "{err}"
    );
}

#[test]
fn images_and_status_report_what_the_registries_hold() {
    let case = Case::new("inventory");
    let regs = registries();
    let old = case.seed("f1f1f1f", 29, &[], SeedFormat::Oci);
    let mut newer_spec = ImageSpec::small(30);
    newer_spec.created = "2026-01-01T00:00:00Z".into();
    let new = case.seed_in(
        regs.dev.addr(),
        &case.service,
        "f2f2f2f",
        30,
        &["latest"],
        SeedFormat::Oci,
        newer_spec,
    );
    assert_eq!(
        code(&case.gantry(&[
            "promote",
            &format!("{}:sha-f1f1f1f", case.service),
            "--to",
            "stage"
        ])),
        0
    );

    let out = case.gantry(&["images", &case.service, "--env", "dev", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listing = &json(&out)[0];
    let images = listing["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    // Newest first, with platforms, size and the mutable tag on it.
    assert_eq!(images[0]["tag"], "sha-f2f2f2f");
    assert_eq!(images[0]["digest"], new.as_str());
    assert_eq!(
        images[0]["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    assert_eq!(images[0]["also_tagged"], serde_json::json!(["latest"]));
    assert!(images[0]["size"].as_u64().unwrap_or(0) > 4 * 1024 * 2);
    assert_eq!(images[1]["digest"], old.as_str());

    let out = case.gantry(&["status", "--json"]);
    // The `down` environment cannot be read: status says so but still shows the rest.
    assert_eq!(code(&out), 1);
    let cells = json(&out);
    let cell = |env: &str| {
        cells
            .as_array()
            .expect("cells")
            .iter()
            .find(|c| c["environment"] == env)
            .cloned()
            .expect("cell")
    };
    assert_eq!(cell("dev")["digest"], new.as_str());
    assert_eq!(cell("dev")["tags"], serde_json::json!(["sha-f2f2f2f"]));
    assert_eq!(cell("stage")["digest"], old.as_str());
    assert_eq!(cell("prod")["image_count"], 0);
    assert!(cell("down")["error"]
        .as_str()
        .unwrap_or_default()
        .contains("cannot connect"));

    let text = case.gantry(&["status"]);
    assert!(stdout(&text).contains("sha-f1f1f1f"), "{}", stdout(&text));
}

#[test]
fn engine_reports_progress_from_background_tasks() {
    use gantry::config::Config;
    use gantry::domain::ImageSelector;
    use gantry::engine::{Engine, EventKind, PromotionRequest};

    let case = Case::new("progress-events");
    let mut spec = ImageSpec::small(31);
    spec.layer_sizes = vec![2 * 1024 * 1024, 1024 * 1024];
    case.seed_in(
        registries().dev.addr(),
        &case.service,
        "0a0a0a0",
        31,
        &[],
        SeedFormat::Oci,
        spec,
    );
    let config = Config::load(&case.config).expect("config");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let events = runtime.block_on(async {
        let mut engine = Engine::new(config).expect("engine");
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        engine.subscribe(sender);
        let request = PromotionRequest {
            selector: ImageSelector::parse(&format!("{}:sha-0a0a0a0", case.service), "sha-")
                .expect("selector"),
            from: "dev".into(),
            to: "stage".into(),
        };
        let job = tokio::spawn(async move { engine.promote(&request, false).await.map(|_| ()) });
        let mut events = Vec::new();
        while let Some(event) = receiver.recv().await {
            let last = matches!(
                event.kind,
                EventKind::Finished { .. } | EventKind::Failed { .. }
            );
            events.push(event);
            if last {
                break;
            }
        }
        job.await.expect("join").expect("promotion");
        events
    });
    assert!(matches!(
        events.first().map(|e| &e.kind),
        Some(EventKind::Started { .. })
    ));
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::Finished { .. })
    ));
    let progress: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Progress(p) => Some(*p),
            _ => None,
        })
        .collect();
    let last = progress.last().expect("progress events");
    assert!(last.bytes_total > 6 * 1024 * 1024, "{last:?}");
    assert_eq!(last.bytes_done, last.bytes_total);
    assert_eq!(last.blobs_done, last.blobs_total);
    assert_eq!(last.blobs_total, 6);
    // Coalesced: never two identical reports in a row.
    assert!(progress.windows(2).all(|w| w[0] != w[1]));
}

#[test]
fn read_only_environment_is_never_written() {
    let case = Case::new("read-only-env");
    let regs = registries();
    let digest = case.seed("ab12ab1", 32, &[], SeedFormat::Oci);
    let mut text = std::fs::read_to_string(&case.config).expect("config");
    text.push_str(&format!(
        "\n[[environment]]\nname = \"frozen\"\nregistry = \"{}\"\npath = \"frozen\"\nfrom = \"dev\"\nplain_http = true\nmutable_tag = \"frozen\"\nreadonly = true\n",
        regs.prod.addr()
    ));
    std::fs::write(&case.config, text).expect("config");
    let image = format!("{}:sha-ab12ab1", case.service);

    // A dry run still shows the plan; a real run is refused and writes nothing.
    let dry = case.gantry(&["promote", &image, "--to", "frozen", "--dry-run"]);
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let out = case.gantry(&["promote", &image, "--to", "frozen"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("frozen is read-only"),
        "{}",
        stderr(&out)
    );
    assert!(case
        .tags_at(&regs.prod, &format!("frozen/{}", case.service))
        .is_empty());
    let rollback = case.gantry(&[
        "rollback",
        &case.service,
        "--env",
        "frozen",
        "--to",
        &digest,
    ]);
    assert_eq!(code(&rollback), 3, "{}", stderr(&rollback));
}

#[test]
fn rollback_moves_only_the_mutable_tag_back() {
    let case = Case::new("rollback");
    let regs = registries();
    let first = case.seed("1b1b1b1", 33, &[], SeedFormat::Oci);
    let second = case.seed("2c2c2c2", 34, &[], SeedFormat::Oci);
    let svc = &case.service;
    for commit in ["1b1b1b1", "2c2c2c2"] {
        let out = case.gantry(&["promote", &format!("{svc}:sha-{commit}"), "--to", "stage"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    assert_eq!(case.digest_at(&regs.stage, "stage"), second);

    let out = case.gantry(&[
        "rollback",
        svc,
        "--env",
        "stage",
        "--to",
        "sha-1b1b1b1",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["from"], second.as_str());
    assert_eq!(report["to"], first.as_str());
    assert_eq!(case.digest_at(&regs.stage, "stage"), first);
    // Both immutable tags stay where they were.
    assert_eq!(case.digest_at(&regs.stage, "sha-2c2c2c2"), second);
    assert_eq!(
        case.tags_at(&regs.stage, svc),
        ["sha-1b1b1b1", "sha-2c2c2c2", "stage"]
    );

    // An image the environment does not hold cannot be rolled back to.
    let out = case.gantry(&["rollback", svc, "--env", "stage", "--to", "sha-9999999"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no image `sha-9999999`"),
        "{}",
        stderr(&out)
    );
}
