//! The git join through the real binary: commits with their images, branches, promotion
//! diffs, drift and the status matrix, on real repositories and real registries.

mod common;

use common::git::{gantry_git, git_case, short, standard_history, TestRepo};
use common::{code, json, registries, stderr, stdout, Case};
use gantry::sandbox::{ImageSpec, SeedFormat};

/// Seeds `service:sha-<short>` (plus `extra` tags) in `registry`; returns the digest.
fn seed(case: &Case, registry: &str, sha: &str, seed: u64, extra: &[&str]) -> String {
    case.seed_in(
        registry,
        &case.service,
        short(sha),
        seed,
        extra,
        SeedFormat::Oci,
        ImageSpec::small(seed),
    )
}

fn tags_of(rows: &serde_json::Value) -> Vec<(String, String)> {
    rows.as_array()
        .expect("array")
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().expect("tag").to_string(),
                t["environment"].as_str().expect("environment").to_string(),
            )
        })
        .collect()
}

#[test]
fn commits_join_images_to_their_commits_in_history_order() {
    let case = git_case("commits-join", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    let regs = registries();
    // Pushed oldest-last on purpose: the order shown must come from history, not push time.
    let d5 = seed(&case, regs.dev.addr(), &c["d5"], 101, &["latest"]);
    let d1 = seed(&case, regs.dev.addr(), &c["d1"], 102, &[]);
    let d2 = seed(&case, regs.dev.addr(), &c["d2"], 103, &[]);
    seed(&case, regs.stage.addr(), &c["d2"], 103, &["stage"]);
    seed(&case, regs.prod.addr(), &c["d1"], 102, &["prod"]);
    // Built from the feature branch: in the repository, not on develop's first parents.
    seed(&case, regs.dev.addr(), &c["f1"], 104, &[]);
    // A commit this repository never had.
    seed(&case, regs.dev.addr(), "deadbee", 105, &[]);

    let out = gantry_git(&case, &["commits", "--limit", "4", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    let shas: Vec<&str> = view["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .map(|r| r["sha"].as_str().expect("sha"))
        .collect();
    assert_eq!(shas, [&c["d5"], &c["d4"], &c["d3"], &c["m1"]]);
    assert_eq!(view["more"], true);
    let newest = &view["commits"][0];
    assert_eq!(newest["subject"], "Bump dependencies");
    assert_eq!(newest["author"], "Ada Lovelace");
    assert_eq!(newest["images"].as_array().map(Vec::len), Some(1));
    assert_eq!(newest["images"][0]["environment"], "dev");
    assert_eq!(newest["images"][0]["digest"], d5.as_str());
    assert_eq!(newest["images"][0]["mutable_tag"], "latest");
    assert!(view["commits"][1]["images"]
        .as_array()
        .is_some_and(|a| a.is_empty()));

    // Older images ordered by where their commit sits: d2 (4 below the head) before d1.
    let older = &view["older"];
    let d2_tag = format!("sha-{}", short(&c["d2"]));
    let d1_tag = format!("sha-{}", short(&c["d1"]));
    assert_eq!(
        tags_of(older),
        [
            (d2_tag.clone(), "dev".to_string()),
            (d2_tag.clone(), "stage".to_string()),
            (d1_tag.clone(), "dev".to_string()),
            (d1_tag.clone(), "prod".to_string()),
        ]
    );
    assert_eq!(older[0]["position"], 4);
    assert_eq!(older[2]["position"], 5);
    assert_eq!(
        tags_of(&view["off_branch"]),
        [(format!("sha-{}", short(&c["f1"])), "dev".to_string())]
    );
    assert_eq!(view["off_branch"][0]["subject"], "Login form");
    assert_eq!(
        tags_of(&view["unknown"]),
        [("sha-deadbee".to_string(), "dev".to_string())]
    );
    assert_eq!(view["drift"].as_array().map(Vec::len), Some(0));

    // With a longer window the older images sit on their rows, mutable tags included.
    let out = gantry_git(&case, &["commits", "--limit", "10", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    let row = |sha: &str| {
        view["commits"]
            .as_array()
            .expect("commits")
            .iter()
            .find(|r| r["sha"] == sha)
            .cloned()
            .expect("row")
    };
    let d2_row = row(&c["d2"]);
    assert_eq!(
        tags_of(&d2_row["images"]),
        [
            (d2_tag.clone(), "dev".to_string()),
            (d2_tag.clone(), "stage".to_string())
        ]
    );
    assert_eq!(d2_row["images"][0]["digest"], d2.as_str());
    assert!(d2_row["images"][0]["mutable_tag"].is_null());
    assert_eq!(d2_row["images"][1]["mutable_tag"], "stage");
    assert_eq!(row(&c["d1"])["images"][1]["mutable_tag"], "prod");
    assert_eq!(row(&c["d1"])["images"][0]["digest"], d1.as_str());
    assert_eq!(view["older"].as_array().map(Vec::len), Some(0));
    assert_eq!(view["more"], false);

    // The text view: subjects, badges, and the tags listed apart.
    let out = gantry_git(&case, &["commits", "--limit", "10"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Add retries"), "{text}");
    assert!(text.contains("dev[latest]"), "{text}");
    assert!(text.contains("dev stage[stage]"), "{text}");
    assert!(text.contains("not in the repository"), "{text}");
    assert!(text.contains("sha-deadbee"), "{text}");

    // Another branch: main's history, where the release commit sits.
    let out = gantry_git(&case, &["commits", "--branch", "main", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    assert_eq!(view["commits"][0]["sha"], c["mm2"].as_str());
    assert_eq!(view["reference"], "refs/heads/main");
}

#[test]
fn drift_is_flagged_everywhere_it_shows() {
    let case = git_case("drift", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    let regs = registries();
    let dev = seed(&case, regs.dev.addr(), &c["d3"], 111, &["latest"]);
    // Same commit tag, different bytes: a rebuild in stage.
    let stage = seed(&case, regs.stage.addr(), &c["d3"], 112, &["stage"]);
    assert_ne!(dev, stage);
    let tag = format!("sha-{}", short(&c["d3"]));

    let out = gantry_git(&case, &["commits", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    assert_eq!(view["drift"][0]["tag"], tag.as_str());
    assert_eq!(
        view["drift"][0]["digests"][0],
        serde_json::json!(["dev", dev])
    );
    assert_eq!(
        view["drift"][0]["digests"][1],
        serde_json::json!(["stage", stage])
    );
    let row = view["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .find(|r| r["sha"] == c["d3"].as_str())
        .cloned()
        .expect("d3 row");
    assert!(row["images"]
        .as_array()
        .expect("images")
        .iter()
        .all(|b| b["drift"] == true));

    let out = gantry_git(&case, &["status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("DRIFT {} {tag}", case.service)),
        "{}",
        stdout(&out)
    );
    let out = gantry_git(&case, &["status", "--json"]);
    let cells = json(&out);
    let stage_cell = cells
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["environment"] == "stage")
        .cloned()
        .expect("stage cell");
    assert_eq!(stage_cell["drift"], serde_json::json!([tag]));

    let out = gantry_git(&case, &["diff", &case.service, "--to", "stage", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let diff = json(&out);
    assert_eq!(diff["drift"][0]["tag"], tag.as_str());
    // Same commit on both sides: nothing to bring.
    assert_eq!(diff["count"], 0);
}

#[test]
fn diff_lists_what_each_promotion_brings() {
    let case = git_case("diff", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    let regs = registries();
    seed(&case, regs.dev.addr(), &c["d5"], 121, &["latest"]);
    seed(&case, regs.dev.addr(), &c["d2"], 122, &[]);
    seed(&case, regs.stage.addr(), &c["d2"], 122, &["stage"]);
    // prod runs a hotfix image: commits stage does not have.
    seed(&case, regs.prod.addr(), &c["h1"], 123, &["prod"]);

    let out = gantry_git(
        &case,
        &[
            "diff",
            &case.service,
            "--from",
            "dev",
            "--to",
            "stage",
            "--json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let diff = json(&out);
    assert_eq!(
        diff["from"]["running"]["tag"],
        format!("sha-{}", short(&c["d5"]))
    );
    assert_eq!(diff["from"]["running"]["via"], "latest");
    assert_eq!(diff["to"]["running"]["commit"]["subject"], "Add retries");
    let brought: Vec<&str> = diff["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .map(|c| c["sha"].as_str().expect("sha"))
        .collect();
    // First parents: the merged feature shows as its merge commit.
    assert_eq!(brought, [&c["d5"], &c["d4"], &c["d3"], &c["m1"]]);
    assert_eq!(diff["count"], 4);
    assert_eq!(diff["target_only"], 0);

    // --from defaults to the target's `from`; prod runs two commits stage lacks.
    let out = gantry_git(&case, &["diff", &case.service, "--to", "prod", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let diff = json(&out);
    assert_eq!(diff["from"]["environment"], "stage");
    assert_eq!(diff["count"], 0);
    assert_eq!(diff["target_only"], 2);

    let out = gantry_git(&case, &["diff", &case.service, "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("a promotion brings 4 commits"), "{text}");
    assert!(text.contains("Merge feature/login"), "{text}");
    assert!(!text.contains("Login form"), "{text}");

    // Bad input: unknown service or environment, exit 2.
    let out = gantry_git(&case, &["diff", "nope", "--to", "stage"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = gantry_git(&case, &["diff", &case.service, "--to", "nowhere"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn status_gains_commits_and_behind_counts() {
    let case = git_case("status-git", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    let regs = registries();
    seed(&case, regs.dev.addr(), &c["d5"], 131, &["latest"]);
    seed(&case, regs.stage.addr(), &c["d2"], 132, &["stage"]);
    seed(&case, regs.prod.addr(), &c["d1"], 133, &["prod"]);

    let out = gantry_git(&case, &["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
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
    assert_eq!(cell("dev")["commit"]["subject"], "Bump dependencies");
    assert_eq!(cell("dev")["commit"]["short"], short(&c["d5"]));
    assert!(cell("dev")["behind"].is_null());
    assert_eq!(cell("stage")["behind"]["from"], "dev");
    assert_eq!(cell("stage")["behind"]["commits"], 4);
    assert_eq!(cell("prod")["behind"]["commits"], 1);
    assert!(!stderr(&out).contains("git unavailable"));

    let out = gantry_git(&case, &["status"]);
    let text = stdout(&out);
    assert!(text.contains("\"Add retries\" 4 behind dev"), "{text}");
    assert!(text.contains("1 behind stage"), "{text}");
}

#[test]
fn status_without_a_repository_says_so_once() {
    // `[git] path` points at a plain directory; the `down` registry errors as before.
    let case = git_case("status-nogit", "not-a-repo", true);
    std::fs::create_dir_all(case.dir.path().join("not-a-repo")).expect("dir");
    let regs = registries();
    case.seed("abcdef1", 141, &["latest"], SeedFormat::Oci);
    let _ = regs;
    let out = gantry_git(&case, &["status"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stdout(&out).contains("sha-abcdef1"), "{}", stdout(&out));
    assert_eq!(
        stderr(&out).matches("git unavailable").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("not a git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn branches_report_ahead_and_behind_like_git() {
    let case = git_case("branches", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    standard_history(&repo);
    let out = gantry_git(&case, &["branches", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let branches = json(&out);
    let names: Vec<&str> = branches
        .as_array()
        .expect("branches")
        .iter()
        .map(|b| b["name"].as_str().expect("name"))
        .collect();
    let release = names
        .iter()
        .find(|n| n.starts_with("release/"))
        .expect("a release branch")
        .to_string();
    assert_eq!(names, ["develop", "main", &release, "hotfix/null-check"]);
    assert!(!names.contains(&"feature/login"));
    for branch in branches.as_array().expect("branches") {
        let name = branch["name"].as_str().expect("name");
        for (base, ahead_key, behind_key) in [
            ("develop", "ahead_of_develop", "behind_develop"),
            ("main", "ahead_of_main", "behind_main"),
        ] {
            // git's own count is the reference.
            let counts = repo.git(&[
                "rev-list",
                "--left-right",
                "--count",
                &format!("{name}...{base}"),
            ]);
            let mut parts = counts
                .split_whitespace()
                .map(|n| n.parse::<u64>().expect("count"));
            let (ahead, behind) = (parts.next(), parts.next());
            assert_eq!(branch[ahead_key].as_u64(), ahead, "{name} vs {base}");
            assert_eq!(branch[behind_key].as_u64(), behind, "{name} vs {base}");
        }
        assert_eq!(branch["head"]["sha"], repo.sha(name).as_str());
    }
    assert_eq!(branches[2]["kind"], "release");
    assert_eq!(branches[3]["kind"], "hotfix");
}

#[test]
fn bad_repositories_get_a_clear_message_and_exit_2() {
    // Not a repository.
    let case = git_case("bad-repos", "missing", false);
    let out = gantry_git(&case, &["commits"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a git repository"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));

    // A detached HEAD with no develop branch: said plainly, nothing changed.
    let case = git_case("detached", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let first = repo.commit("Initial commit");
    repo.commit("Second");
    repo.git(&["checkout", "-q", "--detach", &first]);
    let out = gantry_git(&case, &["commits"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no branch `develop`") && err.contains("HEAD is detached"),
        "{err}"
    );
    assert_eq!(repo.sha("HEAD"), first);
    // Reading another branch by name works whatever HEAD is.
    let out = gantry_git(&case, &["commits", "--branch", "main", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["commits"].as_array().map(Vec::len), Some(2));
}

#[test]
fn shallow_and_bare_clones_work_with_what_they_have() {
    let case = git_case("shallow", "shallow", false);
    let origin = TestRepo::init(&case.dir.path().join("origin"));
    let c = standard_history(&origin);
    let regs = registries();
    seed(&case, regs.dev.addr(), &c["d5"], 151, &["latest"]);
    // An image of a commit the shallow clone does not have (4 generations below develop).
    seed(&case, regs.dev.addr(), &c["m1"], 152, &[]);
    let url = format!("file://{}", origin.dir.display());
    origin.git(&[
        "clone",
        "-q",
        "--depth",
        "3",
        "--branch",
        "develop",
        "--no-single-branch",
        &url,
        case.dir.path().join("shallow").to_str().expect("utf-8"),
    ]);
    let out = gantry_git(&case, &["commits", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("shallow clone"), "{}", stderr(&out));
    let view = json(&out);
    assert_eq!(view["commits"].as_array().map(Vec::len), Some(3));
    assert_eq!(view["commits"][0]["sha"], c["d5"].as_str());
    // The missing commit's image is listed apart, not dropped.
    assert_eq!(
        tags_of(&view["unknown"]),
        [(format!("sha-{}", short(&c["m1"])), "dev".to_string())]
    );
    // A clone's develop may only exist as origin/develop: read it from there.
    let out = gantry_git(&case, &["commits", "--branch", "main", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["reference"], "refs/remotes/origin/main");

    let case = git_case("bare", "bare.git", false);
    origin.git(&[
        "clone",
        "-q",
        "--bare",
        &url,
        case.dir.path().join("bare.git").to_str().expect("utf-8"),
    ]);
    let out = gantry_git(&case, &["commits", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("bare repository"), "{}", stderr(&out));
    assert_eq!(json(&out)["commits"][0]["sha"], c["d5"].as_str());
}

#[test]
fn tag_positions_follow_develop_as_it_moves_and_is_rewritten() {
    let case = git_case("chain-cache", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    let regs = registries();
    let place = |tag_sha: &str| {
        let out = gantry_git(&case, &["commits", "--limit", "1", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let view = json(&out);
        let tag = format!("sha-{}", short(tag_sha));
        let found = |list: &str| {
            view[list]
                .as_array()
                .expect("list")
                .iter()
                .find(|t| t["tag"] == tag.as_str())
                .cloned()
        };
        match (found("older"), found("off_branch")) {
            (Some(t), _) => Some(t["position"].as_u64().expect("position")),
            (None, Some(_)) => None,
            (None, None) => panic!("{tag} neither placed nor off the branch: {view}"),
        }
    };
    // develop: d5 d4 d3 m1 d2 d1. Only d4 at first: the walk stops there and caches
    // the two commits it read.
    seed(&case, regs.dev.addr(), &c["d4"], 164, &[]);
    assert_eq!(place(&c["d4"]), Some(1));
    seed(&case, regs.dev.addr(), &c["d1"], 161, &[]);
    seed(&case, regs.dev.addr(), &c["d5"], 162, &[]);
    // Off develop's first parents: placing it walks the whole chain, which is then cached.
    seed(&case, regs.dev.addr(), &c["f1"], 163, &[]);
    // d1 lies below the cached part: the walk resumes under it, counting on from there.
    assert_eq!(place(&c["d1"]), Some(5));
    assert_eq!(place(&c["f1"]), None);
    let cached: Vec<_> = std::fs::read_dir(case.dir.path().join("state/gantry/git"))
        .map(|d| d.filter_map(Result::ok).collect())
        .unwrap_or_default();
    assert_eq!(cached.len(), 1, "one cached chain");

    // Two commits on top: the cached chain is extended, not trusted as it was.
    repo.commit("Add tracing");
    repo.commit("Add alerts");
    assert_eq!(place(&c["d1"]), Some(7));
    assert_eq!(place(&c["d5"]), Some(2));
    assert_eq!(place(&c["d4"]), Some(3));

    // develop rewritten below d5: d5's image is now off the branch, d1 moves up.
    repo.git(&["reset", "-q", "--hard", &c["d3"]]);
    repo.commit("Rewritten work");
    assert_eq!(place(&c["d5"]), None);
    assert_eq!(place(&c["d1"]), Some(4));
}

#[test]
fn tag_positions_are_the_same_whatever_commit_graph_git_wrote() {
    let case = git_case("graphs", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    let regs = registries();
    for (i, name) in ["c0", "d1", "d4", "f1"].into_iter().enumerate() {
        seed(&case, regs.dev.addr(), &c[name], 170 + i as u64, &[]);
    }
    let info = repo.dir.join(".git/objects/info");
    let no_graph = || {
        let _ = std::fs::remove_file(info.join("commit-graph"));
        let _ = std::fs::remove_dir_all(info.join("commit-graphs"));
    };
    // A first run each time (no chain cache), so the walk reads whatever graph is there.
    let placed = || {
        let _ = std::fs::remove_dir_all(case.dir.path().join("state"));
        let out = gantry_git(&case, &["commits", "--limit", "1", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let view = json(&out);
        let positions: Vec<(String, u64)> = view["older"]
            .as_array()
            .expect("older")
            .iter()
            .map(|t| {
                (
                    t["tag"].as_str().expect("tag").to_string(),
                    t["position"].as_u64().expect("position"),
                )
            })
            .collect();
        (positions, tags_of(&view["off_branch"]))
    };
    let baseline = placed();
    let tag = |name: &str| format!("sha-{}", short(&c[name]));
    assert_eq!(
        baseline.0,
        [(tag("d4"), 1), (tag("d1"), 5), (tag("c0"), 6)],
        "develop: d5 d4 d3 m1 d2 d1 c0"
    );
    assert_eq!(baseline.1, [(tag("f1"), "dev".to_string())]);

    let graphs: [&[&str]; 3] = [
        &["commit-graph", "write", "--reachable"],
        &[
            "-c",
            "commitGraph.generationVersion=1",
            "commit-graph",
            "write",
            "--reachable",
        ],
        &["commit-graph", "write", "--reachable", "--split"],
    ];
    for args in graphs {
        no_graph();
        repo.git(args);
        assert_eq!(placed(), baseline, "after git {args:?}");
    }

    // Commits on top of the graph: read as objects down to it, then from it.
    repo.commit("Add tracing");
    repo.commit("Add alerts");
    let stale = placed();
    assert_eq!(stale.0[0], (tag("d4"), 3));
    no_graph();
    assert_eq!(placed(), stale);

    // A damaged graph is passed over.
    repo.git(&["commit-graph", "write", "--reachable"]);
    let file = info.join("commit-graph");
    let bytes = std::fs::read(&file).expect("graph");
    std::fs::write(&file, &bytes[..bytes.len() - 30]).expect("cut");
    assert_eq!(placed(), stale);
}
