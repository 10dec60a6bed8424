//! Faults between gantry and real registries: every promotion completes with the exact
//! digest or fails clearly with the target's tags untouched, and a rerun converges.

mod common;

use common::faults::{Fault, FaultProxy, Gate, Response, Rule};
use common::{code, registries, stderr, Case};
use gantry::sandbox::{ImageSpec, LocalRegistry, SeedFormat};

/// Layers big enough that "mid-blob" means mid-blob.
fn sized_spec(seed: u64) -> ImageSpec {
    let mut spec = ImageSpec::small(seed);
    spec.layer_sizes = vec![300 * 1024, 200 * 1024];
    spec
}

fn seed_sized(case: &Case, commit: &str, seed: u64) -> String {
    case.seed_in(
        registries().dev.addr(),
        &case.service,
        commit,
        seed,
        &[],
        SeedFormat::Oci,
        sized_spec(seed),
    )
}

/// The case's service at `sha-<commit>`.
fn image(case: &Case, commit: &str) -> String {
    format!("{}:sha-{commit}", case.service)
}

fn promote(case: &Case, commit: &str, to: &str) -> std::process::Output {
    case.gantry(&["promote", &image(case, commit), "--to", to])
}

/// `promote`, started in the background (for races and kills).
fn spawn_promote(case: &Case, commit: &str, to: &str) -> std::process::Child {
    case.spawn_gantry(&["promote", &image(case, commit), "--to", to])
}

/// A fault proxy before `registry` that holds the first blob upload until `gate` opens,
/// added to `case` as the environment `target` (promoted from dev).
fn held_upload_target(case: &Case, registry: &str, gate: &Gate) -> FaultProxy {
    let proxy = FaultProxy::start(
        registry,
        vec![Rule::new(
            "PUT",
            "/blobs/uploads/",
            Some(1),
            Fault::Hold(gate.clone()),
        )],
    );
    case.add_environment("target", &proxy.addr, "dev");
    proxy
}

/// Runs one fault scenario against the prod registry (behind the proxy), checks the
/// promotion survived it with the exact digest, then that a clean rerun converges.
fn scenario(name: &str, seed: u64, source_side: bool, rules: Vec<Rule>) {
    let case = Case::new(name);
    let regs = registries();
    let commit = format!("{seed:07x}");
    let digest = seed_sized(&case, &commit, seed);
    let upstream = if source_side {
        regs.dev.addr()
    } else {
        regs.prod.addr()
    };
    let proxy = FaultProxy::start(upstream, rules);
    if source_side {
        // The proxy stands in for dev: promote from it to prod.
        case.add_environment("flaky-dev", &proxy.addr, "dev");
        case.add_environment("target", regs.prod.addr(), "flaky-dev");
    } else {
        case.add_environment("target", &proxy.addr, "dev");
    }
    let out = promote(&case, &commit, "target");
    assert!(proxy.faults_injected() > 0, "{name}: no fault was injected");
    // Transient faults within the retry budget: the promotion goes through, exactly.
    assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
    assert_eq!(
        case.digest_at(&regs.prod, &format!("sha-{commit}")),
        digest,
        "{name}"
    );
    assert_eq!(case.digest_at(&regs.prod, "target"), digest, "{name}");
    // A rerun with the registry healthy converges on the same state (a no-op).
    proxy.set_rules(Vec::new());
    let rerun = promote(&case, &commit, "target");
    assert_eq!(code(&rerun), 0, "{name} rerun: {}", stderr(&rerun));
    assert_eq!(
        case.digest_at(&regs.prod, &format!("sha-{commit}")),
        digest,
        "{name}"
    );
    assert_eq!(case.digest_at(&regs.prod, "target"), digest, "{name}");
}

#[test]
fn connection_dropped_mid_blob_download_is_retried() {
    scenario(
        "fault-drop-download",
        0x51,
        true,
        vec![Rule::new(
            "GET",
            "/blobs/sha256",
            Some(2),
            Fault::DropResponseAfter(50_000),
        )],
    );
}

#[test]
fn connection_dropped_mid_blob_upload_is_retried() {
    scenario(
        "fault-drop-upload",
        0x52,
        false,
        vec![Rule::new(
            "PUT",
            "/blobs/uploads/",
            Some(2),
            Fault::DropRequestAfter(70_000),
        )],
    );
}

#[test]
fn server_errors_with_retry_after_are_retried() {
    scenario(
        "fault-5xx-429",
        0x53,
        false,
        vec![
            Rule::new(
                "PUT",
                "/manifests/",
                Some(1),
                Fault::Respond(Response::status(500)),
            ),
            Rule::new(
                "POST",
                "/blobs/uploads/",
                Some(1),
                Fault::Respond(Response::status(429).header("Retry-After", "1")),
            ),
            Rule::new(
                "PUT",
                "/blobs/uploads/",
                Some(1),
                Fault::Respond(Response::status(502)),
            ),
        ],
    );
}

#[test]
fn stalled_blob_download_times_out_and_is_retried() {
    scenario(
        "fault-stall",
        0x54,
        true,
        vec![Rule::new(
            "GET",
            "/blobs/sha256",
            Some(1),
            Fault::StallAfter(10_000),
        )],
    );
}

#[test]
fn truncated_manifest_is_retried() {
    scenario(
        "fault-truncate",
        0x55,
        true,
        vec![Rule::new(
            "GET",
            "/manifests/",
            Some(1),
            Fault::DropResponseAfter(40),
        )],
    );
}

#[test]
fn tag_write_failing_for_good_leaves_no_tag() {
    let name = "fault-tag-write";
    let case = Case::new(name);
    let regs = registries();
    let digest = seed_sized(&case, "5656565", 0x56);
    // Manifests by digest go through; writing the tag never does.
    let proxy = FaultProxy::start(
        regs.prod.addr(),
        vec![Rule::new(
            "PUT",
            "/manifests/sha-",
            None,
            Fault::Respond(Response::status(503)),
        )],
    );
    case.add_environment("target", &proxy.addr, "dev");
    let out = promote(&case, "5656565", "target");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("gave up after 3 attempts"),
        "{}",
        stderr(&out)
    );
    assert!(case.tags_at(&regs.prod, &case.service).is_empty());
    proxy.set_rules(Vec::new());
    assert_eq!(code(&promote(&case, "5656565", "target")), 0);
    assert_eq!(case.digest_at(&regs.prod, "sha-5656565"), digest);
}

#[test]
fn mutable_tag_write_failing_after_the_sha_tag_keeps_the_sha_tag_exact_and_the_mutable_tag_as_it_was(
) {
    let case = Case::new("fault-mutable-tag-write");
    let regs = registries();
    let digest = seed_sized(&case, "5858585", 0x5c);
    // The target's mutable tag points at an older image before the promotion.
    let older = gantry::sandbox::push_sized_image(
        regs.prod.addr(),
        &case.service,
        &["target".to_string()],
        1024,
        0x5cff,
    )
    .expect("push the older image");
    // Everything goes through but the mutable tag's write, which never does.
    let proxy = FaultProxy::start(
        regs.prod.addr(),
        vec![Rule::new(
            "PUT",
            &format!("/{}/manifests/target", case.service),
            None,
            Fault::Respond(Response::status(503)),
        )],
    );
    case.add_environment("target", &proxy.addr, "dev");
    let out = promote(&case, "5858585", "target");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(proxy.faults_injected() > 0);
    // The SHA tag was written (last but one) and is exact; the mutable tag was not moved.
    assert_eq!(case.digest_at(&regs.prod, "sha-5858585"), digest);
    assert_eq!(case.digest_at(&regs.prod, "target"), older);
    // A rerun with the registry healthy moves the mutable tag and changes nothing else.
    proxy.set_rules(Vec::new());
    let rerun = promote(&case, "5858585", "target");
    assert_eq!(code(&rerun), 0, "{}", stderr(&rerun));
    assert_eq!(case.digest_at(&regs.prod, "sha-5858585"), digest);
    assert_eq!(case.digest_at(&regs.prod, "target"), digest);
}

#[test]
fn target_registry_killed_mid_copy_then_restarted_rerun_completes() {
    let case = Case::new("fault-kill-target");
    let digest = seed_sized(&case, "5757575", 0x57);
    let mut target = LocalRegistry::start(&case.dir.path().join("own-target")).expect("registry");
    let gate = Gate::default();
    let proxy = held_upload_target(&case, target.addr(), &gate);

    let child = spawn_promote(&case, "5757575", "target");
    // The first blob upload is in flight: kill the registry under it.
    proxy.wait_held();
    target.stop();
    gate.open();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("gave up"), "{}", stderr(&out));

    target.restart().expect("restart");
    let rerun = promote(&case, "5757575", "target");
    assert_eq!(code(&rerun), 0, "{}", stderr(&rerun));
    let image = format!("{}/{}", target.addr(), case.service);
    assert_eq!(
        gantry::sandbox::skopeo_digest(&format!("{image}:sha-5757575"), None).expect("digest"),
        digest
    );
    assert_eq!(
        gantry::sandbox::skopeo_digest(&format!("{image}:target"), None).expect("digest"),
        digest
    );
}

#[test]
fn concurrent_promotions_of_one_service_one_wins_other_changes_nothing() {
    let case = Case::new("fault-race");
    let regs = registries();
    let first = seed_sized(&case, "5858581", 0x58);
    let second = seed_sized(&case, "5858582", 0x59);
    let gate = Gate::default();
    let proxy = held_upload_target(&case, regs.prod.addr(), &gate);

    let winner = spawn_promote(&case, "5858581", "target");
    proxy.wait_held();
    // While the first is mid-copy, the second must refuse at once and write nothing.
    let loser = promote(&case, "5858582", "target");
    assert_eq!(code(&loser), 3, "{}", stderr(&loser));
    let err = stderr(&loser);
    assert!(
        err.contains("being promoted by another gantry") && err.contains("sha-5858581"),
        "{err}"
    );
    let writes_by_loser = proxy
        .requests()
        .iter()
        .filter(|(method, path)| method != "GET" && method != "HEAD" && path.contains("5858582"))
        .count();
    assert_eq!(writes_by_loser, 0);

    gate.open();
    let out = winner.wait_with_output().expect("wait");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.digest_at(&regs.prod, "target"), first);
    assert_eq!(
        case.tags_at(&regs.prod, &case.service),
        ["sha-5858581", "target"]
    );
    // Afterwards the second goes through normally and moves the mutable tag.
    assert_eq!(code(&promote(&case, "5858582", "target")), 0);
    assert_eq!(case.digest_at(&regs.prod, "target"), second);
}

#[test]
fn same_service_twice_in_one_command_is_refused() {
    let case = Case::new("fault-twice");
    case.seed("5959591", 0x5a, &[], SeedFormat::Oci);
    let svc = &case.service;
    let out = case.gantry(&[
        "promote",
        &format!("{svc}:sha-5959591"),
        &format!("{svc}:latest"),
        "--to",
        "stage",
    ]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("named twice"), "{}", stderr(&out));
}

#[test]
fn a_train_with_one_image_failing_leaves_the_others_done_and_its_target_untouched() {
    let case = Case::new("fault-train");
    let regs = registries();
    let services: Vec<String> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|s| format!("t-train-{s}"))
        .collect();
    let tag = "sha-7a7a7a7";
    let mut digests = Vec::new();
    for (i, service) in services.iter().enumerate() {
        let tags = [tag.to_string(), "latest".to_string()];
        let digest = gantry::sandbox::push_sized_image(
            regs.dev.addr(),
            service,
            &tags,
            200 * 1024,
            0x7a00 + i as u64,
        )
        .expect("push");
        digests.push(digest);
    }
    // What the failing service's target held before: it must hold it after.
    let failing = &services[2];
    let older = gantry::sandbox::push_sized_image(
        regs.prod.addr(),
        failing,
        &["sha-0ld0ld0".to_string(), "target".to_string()],
        1024,
        0x7aff,
    )
    .expect("push the older image");
    // Every write of the failing service's manifests fails for good; one other image's
    // blob upload drops once mid-body and is retried.
    let proxy = FaultProxy::start(
        regs.prod.addr(),
        vec![
            Rule::new(
                "PUT",
                &format!("/{failing}/manifests/"),
                None,
                Fault::Respond(Response::status(500)),
            ),
            Rule::new(
                "PUT",
                &format!("/{}/blobs/uploads/", services[4]),
                Some(1),
                Fault::DropRequestAfter(4096),
            ),
        ],
    );
    let mut config = format!(
        "[copy]\nattempts = 3\nbackoff_ms = 20\nread_timeout_secs = 5\n\n\
         [git]\npath = \"no-repository\"\n\n[ledger]\nenabled = false\n\n\
         [[environment]]\nname = \"dev\"\nregistry = \"{}\"\nplain_http = true\nmutable_tag = \"latest\"\n\n\
         [[environment]]\nname = \"target\"\nregistry = \"{}\"\nplain_http = true\nmutable_tag = \"target\"\nfrom = \"dev\"\n",
        regs.dev.addr(),
        proxy.addr
    );
    for service in &services {
        config.push_str(&format!("\n[[service]]\nname = \"{service}\"\n"));
    }
    std::fs::write(&case.config, config).expect("write config");

    let images: Vec<String> = services.iter().map(|s| format!("{s}:{tag}")).collect();
    let mut args = vec!["promote"];
    args.extend(images.iter().map(String::as_str));
    args.extend(["--to", "target", "--json"]);
    let out = case.gantry(&args);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let reports = common::json(&out);
    let reports = reports.as_array().expect("one report per image");
    assert_eq!(reports.len(), services.len());
    for (i, service) in services.iter().enumerate() {
        let at = |t: &str| {
            gantry::sandbox::skopeo_digest(&format!("{}/{service}:{t}", regs.prod.addr()), None)
        };
        if service == failing {
            assert_eq!(reports[i]["ok"], false, "{}", reports[i]);
            assert_eq!(
                case.tags_at(&regs.prod, service),
                ["sha-0ld0ld0", "target"],
                "the failing image's target changed"
            );
            assert_eq!(at("target").expect("digest"), older);
        } else {
            assert_eq!(reports[i]["ok"], true, "{}", reports[i]);
            assert_eq!(at(tag).expect("digest"), digests[i], "{service}");
            assert_eq!(at("target").expect("digest"), digests[i], "{service}");
        }
    }
    assert!(proxy.faults_injected() > 1);

    // The registry recovers: the same train completes the one left, changes nothing else.
    proxy.set_rules(Vec::new());
    let again = case.gantry(&args);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        gantry::sandbox::skopeo_digest(&format!("{}/{failing}:target", regs.prod.addr()), None)
            .expect("digest"),
        digests[2]
    );
}
