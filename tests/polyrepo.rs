//! One repository per service, through the real binary against real repositories: a bare
//! repository named by a file:// URL (gantry keeps a mirror of it under its state
//! directory and pushes there), a working repository named by a path relative to the
//! configuration (read in place), with branch names of its own; commits, branches, status,
//! release cuts and trains, hotfixes, diff and the branch gates, retention's branch heads,
//! a ledger in a repository of its own, and every way a repository can fail to be read.

mod common;

use std::path::{Path, PathBuf};

use common::git::{gantry_git, short, TestRepo};
use common::{code, json, registries, stderr, stdout, Case};
use gantry::sandbox::{ImageSpec, SeedFormat};

// The cases past the first ones, beside this file (a crate root finds modules in tests/).
#[path = "polyrepo/console_fetch.rs"]
mod console_fetch;
#[path = "polyrepo/http_auth.rs"]
mod http_auth;
#[path = "polyrepo/mirrored.rs"]
mod mirrored;
#[path = "polyrepo/mixed.rs"]
mod mixed;
#[path = "polyrepo/prefixes.rs"]
mod prefixes;

/// Two services with repositories of their own, on the shared registries:
/// - `<case>-pay`: develop/main, served by the bare `pay.git`, named by a file:// URL;
/// - `<case>-orders`: a working repository `orders/` beside the config, named by its
///   relative path, whose branches are `dev` and `master`.
struct Fleet {
    case: Case,
    /// Where pay's history is made; pushed to `pay_remote`.
    pay_work: TestRepo,
    pay_remote: PathBuf,
    orders: TestRepo,
    pay: String,
    orders_name: String,
    /// pay's develop, oldest first: d1, d2, d3; main at c0.
    pay_commits: Vec<String>,
    /// orders' dev, oldest first: o1, o2; master at its first commit.
    orders_commits: Vec<String>,
}

impl Fleet {
    fn new(name: &str, extra_config: &str) -> Fleet {
        let case = Case::new(name);
        let root = case.dir.path();
        let pay_work = TestRepo::init(&root.join("pay-work"));
        pay_work.commit("Pay: initial commit");
        pay_work.checkout_new("develop", "main");
        let pay_commits: Vec<String> = [
            "Pay: add card checks",
            "Pay: retry declines",
            "Pay: faster refunds",
        ]
        .iter()
        .map(|s| pay_work.commit(s))
        .collect();
        let pay_remote = root.join("pay.git");
        pay_work.git(&[
            "clone",
            "-q",
            "--bare",
            ".",
            pay_remote.to_str().expect("utf-8"),
        ]);
        pay_work.git(&[
            "remote",
            "add",
            "origin",
            pay_remote.to_str().expect("utf-8"),
        ]);

        let orders = TestRepo::init(&root.join("orders"));
        orders.commit("Orders: initial commit");
        orders.git(&["branch", "-m", "main", "master"]);
        orders.checkout_new("dev", "master");
        let orders_commits: Vec<String> = ["Orders: split baskets", "Orders: tax by region"]
            .iter()
            .map(|s| orders.commit(s))
            .collect();

        let pay = format!("{}-pay", case.service);
        let orders_name = format!("{}-orders", case.service);
        let regs = registries();
        let config = format!(
            r#"[copy]
attempts = 2
backoff_ms = 20
{extra_config}
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

[[service]]
name = "{pay}"
git = "file://{remote}"

[[service]]
name = "{orders_name}"
git = "orders"
develop = "dev"
main = "master"
"#,
            dev = regs.dev.addr(),
            stage = regs.stage.addr(),
            remote = pay_remote.display(),
        );
        std::fs::write(&case.config, config).expect("write config");
        Fleet {
            case,
            pay_work,
            pay_remote,
            orders,
            pay,
            orders_name,
            pay_commits,
            orders_commits,
        }
    }

    fn gantry(&self, args: &[&str]) -> std::process::Output {
        gantry_git(&self.case, args)
    }

    /// An image of `service` built from `sha` in `registry`, with `extra` tags.
    fn seed(&self, registry: &str, service: &str, sha: &str, seed: u64, extra: &[&str]) {
        self.case.seed_in(
            registry,
            service,
            short(sha),
            seed,
            extra,
            SeedFormat::Oci,
            ImageSpec::small(seed),
        );
    }

    /// Where `branch` points in pay's remote, if it is there.
    fn remote_branch(&self, branch: &str) -> Option<String> {
        self.pay_work
            .ref_at(Some(&self.pay_remote), &format!("refs/heads/{branch}"))
    }

    fn remote_branches(&self) -> Vec<String> {
        self.pay_work
            .git(&[
                "--git-dir",
                self.pay_remote.to_str().expect("utf-8"),
                "for-each-ref",
                "--format=%(refname:short)",
                "refs/heads",
            ])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Replaces `from` (which must be there) by `to` in the configuration.
    fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.case.config).expect("config");
        assert!(text.contains(from), "{from:?} not in {text}");
        std::fs::write(&self.case.config, text.replacen(from, to, 1)).expect("config");
    }

    fn mirrors(&self) -> Vec<PathBuf> {
        let dir = self.case.dir.path().join("state/gantry/repos");
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "git"))
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    }
}

/// The branch whose head keeps `tag` in `env`'s plan (the deciding rule or another one
/// that also applies), if one does.
fn protecting_branch(report: &serde_json::Value, env: &str, tag: &str) -> Option<String> {
    let result = report["results"]
        .as_array()?
        .iter()
        .find(|r| r["environment"] == env)?;
    let image = result["plan"]["keep"].as_array()?.iter().find(|i| {
        i["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == tag))
    })?;
    let also = image["also"].as_array().cloned().unwrap_or_default();
    std::iter::once(&image["decision"])
        .chain(also.iter())
        .find(|rule| rule["rule"] == "branch_head")
        .and_then(|rule| rule["branch"].as_str())
        .map(str::to_string)
}

fn subjects(view: &serde_json::Value) -> Vec<String> {
    view["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .map(|c| c["subject"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn each_service_reads_its_own_repository_a_url_through_a_mirror_a_path_in_place() {
    let fleet = Fleet::new("poly-read", "");
    let regs = registries();
    let [_, d2, d3] = [0, 1, 2].map(|i| fleet.pay_commits[i].clone());
    fleet.seed(regs.dev.addr(), &fleet.pay, &d3, 501, &["latest"]);
    fleet.seed(regs.dev.addr(), &fleet.pay, &d2, 502, &[]);
    fleet.seed(
        regs.dev.addr(),
        &fleet.orders_name,
        &fleet.orders_commits[1],
        503,
        &["latest"],
    );

    // Nothing fetched yet: `gantry fetch` clones the URL; the path needs nothing.
    assert!(fleet.mirrors().is_empty());
    let out = fleet.gantry(&["fetch"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("{}  file://", fleet.pay)), "{text}");
    assert!(text.contains("cloned"), "{text}");
    assert!(text.contains("read in place"), "{text}");
    assert_eq!(fleet.mirrors().len(), 1);

    // pay: its own history, its own images, where the repository is and when fetched.
    let out = fleet.gantry(&["commits", "--service", &fleet.pay, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    assert_eq!(
        subjects(&view),
        [
            "Pay: faster refunds",
            "Pay: retry declines",
            "Pay: add card checks",
            "Pay: initial commit"
        ]
    );
    assert_eq!(
        view["repository"],
        format!("file://{}", fleet.pay_remote.display()).as_str()
    );
    assert!(view["fetched_at"].as_i64().is_some(), "{view}");
    assert_eq!(view["services"], serde_json::json!([fleet.pay]));
    let badges = &view["commits"][0]["images"];
    assert_eq!(badges[0]["service"], fleet.pay.as_str());
    assert_eq!(badges[0]["mutable_tag"], "latest");
    assert_eq!(
        view["commits"][1]["images"][0]["tag"],
        format!("sha-{}", short(&d2)).as_str()
    );

    // orders: read in place, on its own branch names.
    let out = fleet.gantry(&["commits", "--service", &fleet.orders_name, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    assert_eq!(view["branch"], "dev");
    assert_eq!(
        subjects(&view),
        [
            "Orders: tax by region",
            "Orders: split baskets",
            "Orders: initial commit"
        ]
    );
    assert_eq!(
        view["commits"][0]["images"][0]["service"],
        fleet.orders_name.as_str()
    );
    assert!(view.get("fetched_at").is_none(), "{view}");

    // Without --service there is no one repository to show.
    let out = fleet.gantry(&["commits"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("name one with --service"),
        "{}",
        stderr(&out)
    );

    // The remote moves on: a command fetches before it reads.
    fleet.pay_work.checkout("develop");
    let d4 = fleet.pay_work.commit("Pay: audit trail");
    fleet.pay_work.git(&["push", "-q", "origin", "develop"]);
    let out = fleet.gantry(&["commits", "--service", &fleet.pay, "--json", "--limit", "1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["commits"][0]["sha"], d4.as_str());

    // Branches of each, with the service's own names.
    let out = fleet.gantry(&["branches", "--service", &fleet.orders_name, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let names: Vec<String> = json(&out)
        .as_array()
        .expect("branches")
        .iter()
        .map(|b| b["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        names.contains(&"dev".to_string()) && names.contains(&"master".to_string()),
        "{names:?}"
    );

    // The matrix joins each service with its own repository.
    let out = fleet.gantry(&["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cells = json(&out);
    let cell = |service: &str, env: &str| {
        cells
            .as_array()
            .expect("cells")
            .iter()
            .find(|c| c["service"] == service && c["environment"] == env)
            .cloned()
            .expect("cell")
    };
    assert_eq!(
        cell(&fleet.pay, "dev")["commit"]["subject"],
        "Pay: faster refunds"
    );
    assert_eq!(
        cell(&fleet.orders_name, "dev")["commit"]["subject"],
        "Orders: tax by region"
    );
}

#[test]
fn release_cuts_and_hotfixes_go_to_the_services_repository_and_trains_are_all_or_nothing() {
    let fleet = Fleet::new("poly-cut", "");
    let dev = registries().dev.addr();
    let [d1, d2, d3] = [0, 1, 2].map(|i| fleet.pay_commits[i].clone());
    let [o1, o2] = [0, 1].map(|i| fleet.orders_commits[i].clone());
    for (service, sha, seed) in [
        (&fleet.pay, &d3, 511),
        (&fleet.pay, &d2, 512),
        (&fleet.orders_name, &o2, 513),
        (&fleet.orders_name, &o1, 514),
    ] {
        fleet.seed(dev, service, sha, seed, &[]);
    }

    // A URL's repository is a mirror: the cut is pushed to the remote, even unasked.
    let out = fleet.gantry(&[
        "release",
        "cut",
        "--service",
        &fleet.pay,
        short(&d3),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let branch = format!("release/v0.1.0-sha-{}", short(&d3));
    assert_eq!(json(&out)["branch"], branch.as_str());
    assert_eq!(fleet.remote_branch(&branch), Some(d3.clone()));
    assert!(
        stderr(&out).contains("kept as a mirror"),
        "{}",
        stderr(&out)
    );

    // A path's repository gets the branch itself, with the service's release prefix.
    let out = fleet.gantry(&[
        "release",
        "cut",
        "--service",
        &fleet.orders_name,
        short(&o2),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let orders_branch = format!("release/v0.1.0-sha-{}", short(&o2));
    assert_eq!(fleet.orders.branch_at(&orders_branch), Some(o2.clone()));

    // A train where one stop has no image: refused, nothing cut anywhere.
    let pay_before = fleet.remote_branches();
    let orders_before = fleet.orders.branches();
    let no_image = fleet.orders.commit("Orders: not built yet");
    let out = fleet.gantry(&[
        "release",
        "cut",
        &format!("{}:{}", fleet.pay, short(&d2)),
        &format!("{}:{}", fleet.orders_name, short(&no_image)),
        "--version",
        "2.0.0",
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("nothing was cut"), "{err}");
    assert!(err.contains(&fleet.orders_name), "{err}");
    assert_eq!(fleet.remote_branches(), pay_before);
    assert_eq!(fleet.orders.branches(), orders_before);
    // A stop not on its develop refuses the train too, naming why.
    fleet.orders.checkout("master");
    let off_dev = fleet.orders.commit("Orders: only on master");
    fleet.orders.checkout("dev");
    let out = fleet.gantry(&[
        "release",
        "cut",
        &format!("{}:{}", fleet.pay, short(&d1)),
        &format!("{}:{}", fleet.orders_name, short(&off_dev)),
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("not on dev"), "{}", stderr(&out));
    assert_eq!(fleet.remote_branches(), pay_before);

    // Every stop has its images: one version, one branch in each repository.
    let out = fleet.gantry(&[
        "release",
        "cut",
        &format!("{}:{}", fleet.pay, short(&d2)),
        &format!("{}:{}", fleet.orders_name, short(&o1)),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let train = json(&out);
    // The next minor after the highest release of either repository (0.1.0).
    assert_eq!(train["version"], "0.2.0");
    let pay_train = format!("release/v0.2.0-sha-{}", short(&d2));
    let orders_train = format!("release/v0.2.0-sha-{}", short(&o1));
    assert_eq!(fleet.remote_branch(&pay_train), Some(d2.clone()));
    assert_eq!(fleet.orders.branch_at(&orders_train), Some(o1.clone()));
    assert_eq!(train["cuts"][0]["service"], fleet.pay.as_str());
    assert_eq!(train["cuts"][1]["branch"], orders_train.as_str());

    // A hotfix from the service's main, in its own repository.
    let out = fleet.gantry(&["hotfix", "start", "card-bug", "--service", &fleet.pay]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        fleet.remote_branch("hotfix/card-bug"),
        Some(fleet.pay_work.sha("main"))
    );
    let out = fleet.gantry(&[
        "hotfix",
        "start",
        "tax-bug",
        "--service",
        &fleet.orders_name,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        fleet.orders.branch_at("hotfix/tax-bug"),
        Some(fleet.orders.sha("master"))
    );
}

#[test]
fn diff_gates_and_retention_read_the_services_repository() {
    let gates = "";
    let fleet = Fleet::new("poly-gates", gates);
    // Stage admits only images merged to the service's main (orders': master).
    let text = std::fs::read_to_string(&fleet.case.config).expect("config");
    let text = text.replace(
        "from = \"dev\"\nplain_http = true\nmutable_tag = \"stage\"\n",
        "from = \"dev\"\nplain_http = true\nmutable_tag = \"stage\"\n\n[environment.gates]\nmerged_to = \"master\"\n\n[environment.retention]\nkeep = 0\n",
    );
    std::fs::write(&fleet.case.config, text).expect("config");
    let regs = registries();
    let [o1, o2] = [0, 1].map(|i| fleet.orders_commits[i].clone());
    let service = fleet.orders_name.clone();
    fleet.seed(regs.dev.addr(), &service, &o2, 521, &["latest"]);
    fleet.seed(regs.stage.addr(), &service, &o1, 522, &["stage"]);

    // diff: the commits between what stage and dev run, from orders' repository.
    let out = fleet.gantry(&["diff", &service, "--to", "stage", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let diff = json(&out);
    assert_eq!(diff["count"], 1);
    assert_eq!(diff["commits"][0]["subject"], "Orders: tax by region");

    // why: the merged_to gate asks orders' repository (master lacks o2).
    let image = format!("{service}:sha-{}", short(&o2));
    let out = fleet.gantry(&["why", &image, "--to", "stage"]);
    assert_eq!(code(&out), 3, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("master"), "{}", stdout(&out));
    fleet.orders.checkout("master");
    fleet.orders.merge("dev", "Merge dev into master");
    let out = fleet.gantry(&["why", &image, "--to", "stage"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));

    // Retention in stage keeps nothing but what is protected: the head of a release
    // branch in orders' repository is, by a real gc. Its commit (orders' first) runs
    // nowhere, so nothing else keeps it; master's merge commit is on no such head.
    let first = fleet.orders.sha("master~1");
    let release = format!("release/v1.0.0-sha-{}", short(&first));
    fleet.orders.git(&["branch", &release, &first]);
    let merge = fleet.orders.sha("master");
    fleet.seed(regs.stage.addr(), &service, &first, 523, &[]);
    fleet.seed(regs.stage.addr(), &service, &merge, 524, &[]);
    let out = fleet.gantry(&[
        "gc",
        "--env",
        "stage",
        "--service",
        &service,
        "--execute",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let first_tag = format!("sha-{}", short(&first));
    assert_eq!(
        protecting_branch(&report, "stage", &first_tag),
        Some(release),
        "{report}"
    );
    let mut left = fleet.case.tags_at(&regs.stage, &service);
    left.sort();
    let mut expected = vec![first_tag, format!("sha-{}", short(&o1)), "stage".into()];
    expected.sort();
    assert_eq!(left, expected, "{report}");
}

/// A bare repository for the ledger alone.
fn bare_ledger(dir: &Path) -> PathBuf {
    let path = dir.join("audit.git");
    let status = std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&path)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .expect("git init");
    assert!(status.success());
    path
}

fn ledger_head(fleet: &Fleet, repo: &Path) -> Option<String> {
    fleet.pay_work.ref_at(Some(repo), "refs/gantry/ledger")
}

#[test]
fn the_ledger_lives_in_a_repository_of_its_own_by_url_or_by_path() {
    for (name, by_url) in [("poly-ledger-url", true), ("poly-ledger-path", false)] {
        let root = tempfile::tempdir().expect("tempdir");
        let ledger = bare_ledger(root.path());
        let value = if by_url {
            format!("file://{}", ledger.display())
        } else {
            ledger.display().to_string()
        };
        let fleet = Fleet::new(name, &format!("\n[ledger]\nrepository = \"{value}\"\n"));
        // Records are written as the git identity of the one promoting: libgit2 reads it
        // from $HOME/.gitconfig (the sandbox's HOME), the ledger repository having none.
        std::fs::write(
            fleet.case.dir.path().join(".gitconfig"),
            "[user]\n\tname = Ada\n\temail = ada@example.invalid\n",
        )
        .expect("gitconfig");
        let d3 = fleet.pay_commits[2].clone();
        fleet.seed(registries().dev.addr(), &fleet.pay, &d3, 531, &["latest"]);
        let image = format!("{}:sha-{}", fleet.pay, short(&d3));
        let out = fleet.gantry(&["promote", &image, "--to", "stage"]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        assert!(
            ledger_head(&fleet, &ledger).is_some(),
            "{name}: no record in the ledger repository"
        );
        // Not in any service's repository.
        assert_eq!(ledger_head(&fleet, &fleet.pay_remote), None, "{name}");
        assert_eq!(
            ledger_head(&fleet, &fleet.orders.dir.join(".git")),
            None,
            "{name}"
        );

        let out = fleet.gantry(&["audit", "verify", "--json"]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let out = fleet.gantry(&["audit", "--json"]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let audit = json(&out);
        assert_eq!(audit["repository"], value.as_str(), "{name}");
        assert_eq!(audit["records"].as_array().map(Vec::len), Some(1), "{name}");
    }
}

#[test]
fn a_repository_that_cannot_be_read_says_what_still_works() {
    let case = Case::new("poly-broken");
    let root = case.dir.path();
    let regs = registries();
    // One good repository, then one of each failure.
    let good = TestRepo::init(&root.join("good"));
    good.commit("Good: initial commit");
    good.checkout_new("develop", "main");
    let good_head = good.commit("Good: first feature");
    std::fs::create_dir_all(root.join("plain-dir")).expect("dir");
    let shallow = root.join("shallow.git");
    good.git(&[
        "clone",
        "-q",
        "--bare",
        "--depth",
        "1",
        "--no-single-branch",
        &format!("file://{}", good.dir.display()),
        shallow.to_str().expect("utf-8"),
    ]);
    // The same shallow clone served over the network, where libgit2 cannot tell it from
    // a server that answers nonsense.
    let served = root.join("served");
    std::fs::create_dir_all(&served).expect("dir");
    good.git(&[
        "clone",
        "-q",
        "--bare",
        "--depth",
        "1",
        "--no-single-branch",
        &format!("file://{}", good.dir.display()),
        served.join("shallow.git").to_str().expect("utf-8"),
    ]);
    let daemon = common::git::GitDaemon::serve(&served);
    let services = [
        ("good", "good".to_string()),
        ("shallow-served", daemon.url("shallow.git")),
        ("missing", "no-such-repo".to_string()),
        ("plain", "plain-dir".to_string()),
        (
            "unreachable",
            format!("git://127.0.0.1:{}/app.git", regs.closed_port),
        ),
        ("shallow-url", format!("file://{}", shallow.display())),
        ("shallow-path", "shallow.git".to_string()),
    ];
    let mut config = format!(
        "[[environment]]\nname = \"dev\"\nregistry = \"{}\"\nplain_http = true\nmutable_tag = \"latest\"\n",
        regs.dev.addr()
    );
    for (suffix, git) in &services {
        config.push_str(&format!(
            "\n[[service]]\nname = \"{}-{suffix}\"\ngit = \"{git}\"\n",
            case.service
        ));
    }
    std::fs::write(&case.config, config).expect("config");
    let name = |suffix: &str| format!("{}-{suffix}", case.service);
    case.seed_in(
        regs.dev.addr(),
        &name("good"),
        short(&good_head),
        541,
        &["latest"],
        SeedFormat::Oci,
        ImageSpec::small(541),
    );

    let commits = |suffix: &str| gantry_git(&case, &["commits", "--service", &name(suffix)]);
    for (suffix, exit, words) in [
        ("missing", 2, "is missing: no such directory"),
        ("plain", 2, "is not a git repository"),
        ("unreachable", 1, "cannot be fetched"),
        ("shallow-url", 2, "shallow clone"),
        ("shallow-served", 2, "git fetch --unshallow"),
    ] {
        let out = commits(suffix);
        let err = stderr(&out);
        assert_eq!(code(&out), exit, "{suffix}: {err}");
        assert!(err.contains(&name(suffix)), "{suffix}: {err}");
        assert!(err.contains(words), "{suffix}: {err}");
        assert!(
            err.contains("images, status and promotions still work")
                && err.contains("release cut, hotfix"),
            "{suffix}: {err}"
        );
    }
    // A shallow clone named by path is read in place, with what it lacks said.
    let out = commits("shallow-path");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("shallow clone"), "{}", stderr(&out));

    // The matrix still answers, the good service joined, each broken one named once.
    let out = gantry_git(&case, &["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cells = json(&out);
    let good_cell = cells
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["service"] == name("good").as_str())
        .cloned()
        .expect("good cell");
    assert_eq!(good_cell["commit"]["subject"], "Good: first feature");
    let err = stderr(&out);
    for suffix in [
        "missing",
        "plain",
        "unreachable",
        "shallow-url",
        "shallow-served",
    ] {
        assert_eq!(
            err.matches(&format!("{}:", name(suffix))).count(),
            1,
            "{suffix}: {err}"
        );
    }

    // `gantry fetch` says which could not be fetched, and fails.
    let out = gantry_git(&case, &["fetch"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{}  git://", name("unreachable"))),
        "{text}"
    );
    assert!(text.contains("failed"), "{text}");
    let served_line = text
        .lines()
        .find(|l| l.starts_with(&name("shallow-served")))
        .unwrap_or_default();
    assert!(served_line.contains("a shallow clone"), "{text}");
}

/// The console in process on a polyrepo: nothing fetched when it opens, the URL's
/// repository fetched in the background and joined into the matrix, the fetch's age shown;
/// `]` on Commits shows the next service's own repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_fetches_in_the_background_and_follows_the_service_on_commits() {
    use gantry::config::keys::{Key, KeyChord};
    use gantry::tui::console::Console;
    use gantry::tui::repos::FetchState;

    let fleet = Fleet::new("poly-console", "");
    let dev = registries().dev.addr();
    let d3 = fleet.pay_commits[2].clone();
    fleet.seed(dev, &fleet.pay, &d3, 551, &["latest"]);
    fleet.seed(
        dev,
        &fleet.orders_name,
        &fleet.orders_commits[1],
        552,
        &["latest"],
    );
    // The console's engine keeps its mirrors under the state directory; this binary's
    // other tests run gantry as a child process with their own.
    std::env::set_var(
        "XDG_STATE_HOME",
        fleet.case.dir.path().join("console-state"),
    );
    let config = gantry::config::Config::load(&fleet.case.config).expect("config");
    let area = ratatui::layout::Rect::new(0, 0, 160, 30);
    let mut console = Console::open(config, false, chrono::Utc::now(), area).expect("opens");
    console.start();
    let pay = fleet.pay.clone();
    let joined = |app: &gantry::tui::app::App| {
        let fetched = matches!(
            app.ctx.repos.of(&pay).map(|e| &e.fetch),
            Some(FetchState::Fetched(Some(_)))
        );
        let commit = app.environments.status.loaded().is_some_and(|report| {
            report
                .cells
                .iter()
                .any(|c| c.service == pay && c.environment == "dev" && c.commit.is_some())
        });
        fetched && commit
    };
    common::until(&mut console, joined).await;
    let text = drawn(&console.app, area);
    assert!(text.contains("repositories: 1 of 1 fetched"), "{text}");
    assert!(text.contains("Pay: faster refunds"), "{text}");
    assert!(text.contains("Orders: tax by region"), "{text}");
    assert!(text.contains("GIT"), "{text}");

    // Commits follows the chosen service's repository: pay's, then orders' after `]`.
    console.press(KeyChord::plain(Key::Char('1')));
    common::until(&mut console, |app| {
        app.commits
            .history
            .loaded()
            .is_some_and(|v| v.services == [pay.clone()])
    })
    .await;
    let text = drawn(&console.app, area);
    assert!(text.contains("Pay: retry declines"), "{text}");
    assert!(text.contains("fetched"), "{text}");
    let orders = fleet.orders_name.clone();
    console.press(KeyChord::plain(Key::Char(']')));
    common::until(&mut console, |app| {
        app.commits
            .history
            .loaded()
            .is_some_and(|v| v.services == [orders.clone()])
    })
    .await;
    let text = drawn(&console.app, area);
    assert!(text.contains("dev history"), "{text}");
    assert!(text.contains("Orders: split baskets"), "{text}");
    assert!(!text.contains("Pay: retry declines"), "{text}");
    assert_eq!(console.close().await, 0);
}

/// `app` drawn as the loop draws it, its cells' symbols in one string.
fn drawn(app: &gantry::tui::app::App, area: ratatui::layout::Rect) -> String {
    let theme = gantry::tui::theme::Theme::parse(
        include_str!("../themes/dark.toml"),
        Path::new("themes/dark.toml"),
        true,
    )
    .expect("theme");
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(area.width, area.height))
            .expect("terminal");
    terminal
        .draw(|frame| gantry::tui::ui::render(frame, app, &theme))
        .expect("draws");
    let buffer = terminal.backend().buffer();
    buffer
        .content()
        .chunks(area.width as usize)
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>() + "\n")
        .collect()
}

/// A git server that accepts connections and never answers: a fetch from it hangs. The
/// console must draw the matrix from the registries anyway, with the repository shown as
/// being fetched, and say on Commits that it is not fetched yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_never_waits_for_a_fetch() {
    use gantry::config::keys::{Key, KeyChord};
    use gantry::tui::app::Loadable;
    use gantry::tui::console::Console;
    use gantry::tui::repos::FetchState;

    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let fleet = Fleet::new("poly-silent", "");
    let text = std::fs::read_to_string(&fleet.case.config).expect("config");
    let text = text.replace(
        &format!("git = \"file://{}\"", fleet.pay_remote.display()),
        &format!("git = \"git://127.0.0.1:{port}/pay.git\""),
    );
    std::fs::write(&fleet.case.config, text).expect("config");
    let d3 = fleet.pay_commits[2].clone();
    fleet.seed(registries().dev.addr(), &fleet.pay, &d3, 561, &["latest"]);

    std::env::set_var("XDG_STATE_HOME", fleet.case.dir.path().join("silent-state"));
    let config = gantry::config::Config::load(&fleet.case.config).expect("config");
    let area = ratatui::layout::Rect::new(0, 0, 160, 30);
    let mut console = Console::open(config, false, chrono::Utc::now(), area).expect("opens");
    console.start();
    common::until(&mut console, |app| app.environments.status.settled()).await;
    let pay = fleet.pay.clone();
    let app = &console.app;
    assert_eq!(
        app.ctx.repos.of(&pay).map(|e| e.fetch.clone()),
        Some(FetchState::Waiting(None)),
        "the fetch is still hanging"
    );
    let report = app.environments.status.loaded().expect("matrix");
    let cell = report
        .cells
        .iter()
        .find(|c| c.service == pay && c.environment == "dev")
        .expect("pay in dev");
    assert_eq!(cell.tags, [format!("sha-{}", short(&d3))]);
    assert!(cell.commit.is_none());
    let text = drawn(&console.app, area);
    assert!(
        text.contains("repositories: 0 of 1 fetched, 1 fetching"),
        "{text}"
    );

    console.press(KeyChord::plain(Key::Char('1')));
    common::until(&mut console, |app| app.commits.history.settled()).await;
    match &console.app.commits.history {
        Loadable::Failed(why) => assert!(why.contains("is not fetched yet"), "{why}"),
        other => panic!("expected not fetched yet, got {other:?}"),
    }
    drop(silent);
}

/// A repository of 1,050 commits served over the network, and its service's config.
fn long_served(name: &str) -> (Case, common::git::GitDaemon, Vec<String>) {
    let case = Case::new(name);
    let served = case.dir.path().join("served");
    std::fs::create_dir_all(&served).expect("dir");
    let chain = common::git::long_history(&served.join("long.git"), 1050);
    let daemon = common::git::GitDaemon::serve(&served);
    let regs = registries();
    std::fs::write(
        &case.config,
        format!(
            "[[environment]]\nname = \"dev\"\nregistry = \"{}\"\nplain_http = true\nmutable_tag = \"latest\"\n\n[[service]]\nname = \"{}\"\ngit = \"{}\"\n",
            regs.dev.addr(),
            case.service,
            daemon.url("long.git")
        ),
    )
    .expect("config");
    case.seed_in(
        regs.dev.addr(),
        &case.service,
        short(&chain[0]),
        571,
        &["latest"],
        SeedFormat::Oci,
        ImageSpec::small(571),
    );
    (case, daemon, chain)
}

#[test]
fn a_first_clone_for_status_brings_recent_history_and_a_command_completes_it() {
    let (case, _daemon, chain) = long_served("poly-recent");
    let out = gantry_git(&case, &["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("hold only the newest 1000 commits"),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&out)[0]["commit"]["subject"], "Change 1050");

    // A command that reads the history fetches the rest first.
    let out = gantry_git(
        &case,
        &[
            "commits",
            "--service",
            &case.service,
            "--limit",
            "1100",
            "--json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out)["commits"].as_array().map(Vec::len),
        Some(chain.len())
    );
    assert!(
        !stderr(&out).contains("only the newest"),
        "{}",
        stderr(&out)
    );
    let out = gantry_git(&case, &["status"]);
    assert!(
        !stderr(&out).contains("only the newest"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_clones_recent_history_first_then_completes_it() {
    use gantry::tui::console::Console;
    use gantry::tui::repos::FetchState;

    let (case, _daemon, _) = long_served("poly-recent-console");
    std::env::set_var("XDG_STATE_HOME", case.dir.path().join("console-state"));
    let config = gantry::config::Config::load(&case.config).expect("config");
    let area = ratatui::layout::Rect::new(0, 0, 160, 30);
    let mut console = Console::open(config, false, chrono::Utc::now(), area).expect("opens");
    console.start();
    let service = case.service.clone();
    let saw_recent = std::cell::Cell::new(false);
    common::until(&mut console, |app| {
        let Some(entry) = app.ctx.repos.of(&service) else {
            return false;
        };
        saw_recent.set(saw_recent.get() || entry.recent_only);
        saw_recent.get()
            && !entry.recent_only
            && matches!(entry.fetch, FetchState::Fetched(Some(_)))
    })
    .await;
    let summary = console.app.ctx.repos.summary().expect("a mirror");
    assert_eq!(summary, "repositories: 1 of 1 fetched");
    assert_eq!(console.close().await, 0);
}
