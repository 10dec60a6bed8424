//! Cutting release and hotfix branches through the real binary: names, refusals, pushes
//! to a bare remote, and a worktree that is never touched.

mod common;

use common::git::{
    gantry_command, gantry_git, git_case, short, standard_history, HttpRemote, TestRepo,
};
use common::{code, json, registries, stderr, stdout, Case};
use gantry::sandbox::{ImageSpec, SeedFormat};

fn seed_dev(case: &Case, sha: &str, seed: u64) -> String {
    case.seed_in(
        registries().dev.addr(),
        &case.service,
        short(sha),
        seed,
        &[],
        SeedFormat::Oci,
        ImageSpec::small(seed),
    )
}

/// Everything a cut must leave alone: HEAD, the index and the worktree as git reports them.
fn worktree_state(repo: &TestRepo) -> (String, String, String) {
    (
        repo.git(&["rev-parse", "HEAD"]),
        repo.git(&["symbolic-ref", "-q", "--short", "HEAD"]),
        repo.git(&["status", "--porcelain=v1", "--untracked-files=all"]),
    )
}

#[test]
fn release_cut_names_the_branch_and_leaves_the_worktree_alone() {
    let case = git_case("release-cut", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    seed_dev(&case, &c["d4"], 201);
    // A dirty checkout: a modified tracked file, a staged change and an untracked file.
    std::fs::write(repo.dir.join("changes.txt"), "edited, not committed\n").expect("edit");
    std::fs::write(repo.dir.join("staged.txt"), "staged\n").expect("write");
    repo.git(&["add", "staged.txt"]);
    std::fs::write(repo.dir.join("untracked.txt"), "scratch\n").expect("write");
    let before = worktree_state(&repo);

    let out = gantry_git(&case, &["release", "cut", short(&c["d4"]), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The highest release is 1.0.0 (release/v1.0.0-sha-...): the next minor is suggested.
    let expected = format!("release/v1.1.0-sha-{}", short(&c["d4"]));
    let outcome = json(&out);
    assert_eq!(outcome["branch"], expected.as_str());
    assert_eq!(outcome["version"], "1.1.0");
    assert_eq!(outcome["version_suggested"], true);
    assert_eq!(outcome["commit"]["subject"], "Add metrics");
    assert_eq!(repo.branch_at(&expected), Some(c["d4"].clone()));
    assert_eq!(worktree_state(&repo), before);

    // An explicit version, from a revision git understands.
    let out = gantry_git(
        &case,
        &["release", "cut", "develop~1", "--version", "2.0.0"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let named = format!("release/v2.0.0-sha-{}", short(&c["d4"]));
    assert!(
        stdout(&out).contains(&format!("created {named}")),
        "{}",
        stdout(&out)
    );
    assert_eq!(repo.branch_at(&named), Some(c["d4"].clone()));
    assert_eq!(worktree_state(&repo), before);

    // Cutting the same again: the branch exists, refused (3), nothing changed.
    let branches = repo.branches();
    let out = gantry_git(&case, &["release", "cut", &c["d4"], "--version", "2.0.0"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(repo.branches(), branches);
}

#[test]
fn release_cut_refusals_change_nothing() {
    let case = git_case("release-refusals", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    seed_dev(&case, &c["h1"], 211);
    let branches = repo.branches();
    let state = worktree_state(&repo);

    // Not on develop (a hotfix commit), even with an image: a rule, exit 3.
    let out = gantry_git(&case, &["release", "cut", short(&c["h1"])]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("not on develop"), "{}", stderr(&out));

    // No image of the commit in dev: refused with what is missing.
    let out = gantry_git(&case, &["release", "cut", short(&c["d5"])]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("no image sha-{}", short(&c["d5"]))) && err.contains(&case.service),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");

    // A commit that does not exist, a bad version: invalid input, exit 2.
    let out = gantry_git(&case, &["release", "cut", "0000000"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no commit `0000000`"),
        "{}",
        stderr(&out)
    );
    let out = gantry_git(&case, &["release", "cut", &c["d5"], "--version", "1.2"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid version"), "{}", stderr(&out));
    assert_eq!(repo.branches(), branches);
    assert_eq!(worktree_state(&repo), state);

    // --force cuts anyway and says what is missing.
    let out = gantry_git(&case, &["release", "cut", short(&c["d5"]), "--force"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "forced: no image of this commit for {}",
            case.service
        )),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!("no image sha-{}", short(&c["d5"]))),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        repo.branch_at(&format!("release/v1.1.0-sha-{}", short(&c["d5"]))),
        Some(c["d5"].clone())
    );
}

#[test]
fn an_ambiguous_short_sha_is_refused_with_its_candidates() {
    let case = git_case("ambiguous", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    standard_history(&repo);
    // Add blobs until two objects share their first four digits; deterministic contents,
    // so the same prefix every run.
    let blobs = case.dir.path().join("blobs");
    std::fs::create_dir_all(&blobs).expect("blob dir");
    let mut round = 0;
    let prefix = loop {
        let paths: Vec<String> = (0..400)
            .map(|i| {
                let path = blobs.join(format!("{round}-{i}"));
                std::fs::write(&path, format!("filler {round} {i}\n")).expect("blob");
                path.to_str().expect("utf-8").to_string()
            })
            .collect();
        let mut args = vec!["hash-object", "-w"];
        args.extend(paths.iter().map(String::as_str));
        repo.git(&args);
        let all = repo.git(&[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname)",
        ]);
        let mut seen = std::collections::HashSet::new();
        if let Some(p) = all.lines().map(|l| &l[..4]).find(|p| !seen.insert(*p)) {
            break p.to_string();
        }
        round += 1;
        assert!(round < 20, "no shared prefix found");
    };
    let branches = repo.branches();
    let out = gantry_git(&case, &["release", "cut", &prefix]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is ambiguous") && err.contains("give more digits"),
        "{err}"
    );
    assert!(
        err.matches(&prefix).count() >= 3,
        "candidates listed: {err}"
    );
    assert_eq!(repo.branches(), branches);
}

#[test]
fn release_push_reaches_a_bare_remote_and_a_failed_push_leaves_nothing() {
    let case = git_case("release-push", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    seed_dev(&case, &c["d3"], 221);
    let remote = case.dir.path().join("remote.git");
    repo.git(&["init", "-q", "--bare", remote.to_str().expect("utf-8")]);
    repo.git(&["remote", "add", "origin", remote.to_str().expect("utf-8")]);

    let out = gantry_git(&case, &["release", "cut", short(&c["d3"]), "--push"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let branch = format!("release/v1.1.0-sha-{}", short(&c["d3"]));
    assert!(
        stdout(&out).contains("pushed to origin"),
        "{}",
        stdout(&out)
    );
    let remote_head = repo.branch_in(&remote, &branch);
    assert_eq!(remote_head, c["d3"]);

    // A remote that cannot be reached: the push fails and the local branch goes again.
    repo.git(&["remote", "set-url", "origin", "/nonexistent/remote.git"]);
    let out = gantry_git(
        &case,
        &[
            "release",
            "cut",
            short(&c["d3"]),
            "--version",
            "3.0.0",
            "--push",
        ],
    );
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("push of") && err.contains("removed again"),
        "{err}"
    );
    assert_eq!(
        repo.branch_at(&format!("release/v3.0.0-sha-{}", short(&c["d3"]))),
        None
    );

    // Hotfixes push the same way.
    repo.git(&[
        "remote",
        "set-url",
        "origin",
        remote.to_str().expect("utf-8"),
    ]);
    let out = gantry_git(&case, &["hotfix", "start", "pushed", "--push"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let remote_head = repo.branch_in(&remote, "hotfix/pushed");
    assert_eq!(remote_head, c["mm2"]);
}

#[test]
fn hotfix_starts_from_main_or_what_production_runs() {
    let case = git_case("hotfix", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    // Detached HEAD and a dirty file: neither matters to cutting a branch.
    repo.git(&["checkout", "-q", "--detach", &c["d2"]]);
    std::fs::write(repo.dir.join("changes.txt"), "dirty\n").expect("edit");
    let state = worktree_state_detached(&repo);

    let out = gantry_git(&case, &["hotfix", "start", "card-timeout", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["branch"], "hotfix/card-timeout");
    assert_eq!(
        repo.branch_at("hotfix/card-timeout"),
        Some(c["mm2"].clone())
    );

    // From a commit on a release branch (what production runs before the merge to main).
    let out = gantry_git(
        &case,
        &["hotfix", "start", "from-release", "--from", short(&c["r1"])],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(repo.branch_at("hotfix/from-release"), Some(c["r1"].clone()));

    // A develop-only commit never reached production: refused.
    let out = gantry_git(
        &case,
        &["hotfix", "start", "too-new", "--from", short(&c["d5"])],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("not on main"), "{}", stderr(&out));
    assert_eq!(repo.branch_at("hotfix/too-new"), None);

    // Names git would refuse, and names taken.
    let out = gantry_git(&case, &["hotfix", "start", "bad..name"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a valid branch name"),
        "{}",
        stderr(&out)
    );
    let out = gantry_git(&case, &["hotfix", "start", "null-check"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(worktree_state_detached(&repo), state);
}

fn worktree_state_detached(repo: &TestRepo) -> (String, String) {
    (
        repo.git(&["rev-parse", "HEAD"]),
        repo.git(&["status", "--porcelain=v1", "--untracked-files=all"]),
    )
}

#[test]
fn push_over_http_asks_git_credential_helper_and_a_wrong_password_fails_once() {
    let case = git_case("release-http-push", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    seed_dev(&case, &c["d3"], 231);
    let served = case.dir.path().join("served");
    let remote = served.join("remote.git");
    repo.git(&["init", "-q", "--bare", remote.to_str().expect("utf-8")]);
    let server = HttpRemote::start(&served, "gantry", "s3cret");
    let url = format!("http://127.0.0.1:{}/remote.git", server.port);
    repo.git(&["remote", "add", "origin", &url]);
    // git's own `store` helper, configured in the repository as a user would globally.
    let store = case.dir.path().join("credentials");
    std::fs::write(
        &store,
        format!("http://gantry:s3cret@127.0.0.1:{}\n", server.port),
    )
    .expect("write credentials");
    repo.git(&[
        "config",
        "credential.helper",
        &format!("store --file={}", store.display()),
    ]);

    let out = gantry_git(&case, &["release", "cut", short(&c["d3"]), "--push"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let branch = format!("release/v1.1.0-sha-{}", short(&c["d3"]));
    let remote_head = repo.branch_in(&remote, &branch);
    assert_eq!(remote_head, c["d3"]);
    // The first request went without a password, as git's do; the helper answered the rest.
    assert!(
        server.refused() >= 1,
        "the server never asked for a password"
    );

    // A wrong password: refused, said so, offered once (no retry loop), nothing left behind.
    std::fs::write(
        &store,
        format!("http://gantry:wrong@127.0.0.1:{}\n", server.port),
    )
    .expect("write credentials");
    let refused_before = server.refused();
    let out = gantry_git(&case, &["hotfix", "start", "denied", "--push"]);
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("removed again"), "{err}");
    assert_eq!(repo.branch_at("hotfix/denied"), None);
    let refused = server.refused() - refused_before;
    assert!(
        (1..=3).contains(&refused),
        "{refused} refused requests: the credential must be offered once, not in a loop"
    );
    let listed = repo.git(&[
        "--git-dir",
        remote.to_str().expect("utf-8"),
        "branch",
        "--list",
        "hotfix/*",
    ]);
    assert_eq!(listed, "");
}

#[test]
fn push_over_https_loads_the_trust_roots_libgit2_started_without() {
    // libgit2 starts without a CA bundle (so local work skips loading it); an https
    // remote gets the roots just before the push: those of SSL_CERT_FILE here, a CA the
    // test made, so the push goes through, and without it the certificate is refused.
    let case = git_case("release-https-push", "repo", false);
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    seed_dev(&case, &c["d3"], 232);
    let served = case.dir.path().join("served");
    let remote = served.join("remote.git");
    repo.git(&["init", "-q", "--bare", remote.to_str().expect("utf-8")]);
    let ca = gantry::sandbox::TestCa::generate(&case.dir.path().join("ca")).expect("CA");
    let pair = ca.server_cert("git-https").expect("server certificate");
    let server = HttpRemote::start_with(&served, "gantry", "s3cret", Some(&pair));
    let url = format!("https://127.0.0.1:{}/remote.git", server.port);
    repo.git(&["remote", "add", "origin", &url]);
    let store = case.dir.path().join("credentials");
    std::fs::write(
        &store,
        format!("https://gantry:s3cret@127.0.0.1:{}\n", server.port),
    )
    .expect("write credentials");
    repo.git(&[
        "config",
        "credential.helper",
        &format!("store --file={}", store.display()),
    ]);

    // Untrusted: the system's roots do not know the test's CA.
    let untrusted = gantry_command(
        case.dir.path(),
        &case.config,
        &["hotfix", "start", "untrusted", "--push"],
    )
    .env_remove("SSL_CERT_FILE")
    .env_remove("SSL_CERT_DIR")
    .output()
    .expect("run gantry");
    assert_ne!(code(&untrusted), 0, "{}", stdout(&untrusted));
    assert_eq!(repo.branch_at("hotfix/untrusted"), None);

    let trusted = gantry_command(
        case.dir.path(),
        &case.config,
        &["release", "cut", short(&c["d3"]), "--push"],
    )
    .env("SSL_CERT_FILE", ca.cert_path())
    .output()
    .expect("run gantry");
    assert_eq!(code(&trusted), 0, "{}", stderr(&trusted));
    let branch = format!("release/v1.1.0-sha-{}", short(&c["d3"]));
    assert_eq!(repo.branch_in(&remote, &branch), c["d3"]);
}
