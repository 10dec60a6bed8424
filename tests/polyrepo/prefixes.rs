//! Release and hotfix prefixes of a service's own (`rel/`, `fix/` for pay's mirror,
//! `bugfix/` for orders' path) used by every command that makes or reads those branches:
//! release cut and its next version, hotfix start, the mirror's fetch, branches, commits,
//! status, and retention's protection of their heads by a real `gc --execute`.

use super::*;

fn branch_kinds(out: &std::process::Output) -> Vec<(String, String)> {
    json(out)
        .as_array()
        .expect("branches")
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or_default().to_string(),
                b["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_services_own_release_and_hotfix_prefixes_are_cut_fetched_read_and_protected() {
    let fleet = Fleet::new("poly-prefix", "");
    fleet.edit_config(
        &format!("git = \"file://{}\"\n", fleet.pay_remote.display()),
        &format!(
            "git = \"file://{}\"\nrelease_prefix = \"rel/\"\nhotfix_prefix = \"fix/\"\n",
            fleet.pay_remote.display()
        ),
    );
    fleet.edit_config(
        "main = \"master\"\n",
        "main = \"master\"\nhotfix_prefix = \"bugfix/\"\n",
    );
    fleet.edit_config(
        "mutable_tag = \"stage\"\n",
        "mutable_tag = \"stage\"\n\n[environment.retention]\nkeep = 0\n",
    );
    let regs = registries();
    let (dev, stage) = (regs.dev.addr(), regs.stage.addr());
    let [d1, d2, d3] = [0, 1, 2].map(|i| fleet.pay_commits[i].clone());
    fleet.seed(dev, &fleet.pay, &d3, 601, &[]);
    fleet.seed(dev, &fleet.pay, &d2, 602, &[]);

    // The cut takes pay's prefix (its template follows), on pay's remote only.
    let out = fleet.gantry(&[
        "release",
        "cut",
        "--service",
        &fleet.pay,
        short(&d3),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let first = format!("rel/v0.1.0-sha-{}", short(&d3));
    assert_eq!(json(&out)["branch"], first.as_str());
    assert_eq!(fleet.remote_branch(&first), Some(d3.clone()));
    assert!(
        !fleet
            .remote_branches()
            .iter()
            .any(|b| b.starts_with("release/")),
        "{:?}",
        fleet.remote_branches()
    );
    // The next version is read from the branches under pay's prefix.
    let out = fleet.gantry(&[
        "release",
        "cut",
        "--service",
        &fleet.pay,
        short(&d2),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second = format!("rel/v0.2.0-sha-{}", short(&d2));
    assert_eq!(json(&out)["branch"], second.as_str());
    assert_eq!(fleet.remote_branch(&second), Some(d2.clone()));

    // Hotfixes: fix/ in pay's remote, bugfix/ in orders' working repository.
    let out = fleet.gantry(&["hotfix", "start", "card-bug", "--service", &fleet.pay]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        fleet.remote_branch("fix/card-bug"),
        Some(fleet.pay_work.sha("main"))
    );
    assert_eq!(fleet.remote_branch("hotfix/card-bug"), None);
    let out = fleet.gantry(&[
        "hotfix",
        "start",
        "tax-bug",
        "--service",
        &fleet.orders_name,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        fleet.orders.branch_at("bugfix/tax-bug"),
        Some(fleet.orders.sha("master"))
    );
    assert_eq!(fleet.orders.branch_at("hotfix/tax-bug"), None);
    // orders' releases keep [git]'s prefix: nothing of pay's crosses over.
    let o2 = fleet.orders_commits[1].clone();
    fleet.seed(dev, &fleet.orders_name, &o2, 603, &[]);
    let out = fleet.gantry(&[
        "release",
        "cut",
        "--service",
        &fleet.orders_name,
        short(&o2),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        fleet
            .orders
            .branch_at(&format!("release/v0.1.0-sha-{}", short(&o2))),
        Some(o2.clone())
    );

    // The fix is made on pay's remote, outside gantry; its image runs in dev.
    fleet
        .pay_work
        .git(&["fetch", "-q", "origin", "fix/card-bug"]);
    fleet.pay_work.checkout_new("fix/card-bug", "FETCH_HEAD");
    let fix = fleet.pay_work.commit("Pay: fix card bug");
    fleet
        .pay_work
        .git(&["push", "-q", "origin", "fix/card-bug"]);
    fleet.seed(dev, &fleet.pay, &fix, 604, &["latest"]);

    // commits on the hotfix branch: fetched into the mirror (fix/* is in its refspecs).
    let out = fleet.gantry(&[
        "commits",
        "--service",
        &fleet.pay,
        "--branch",
        "fix/card-bug",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    assert_eq!(view["commits"][0]["subject"], "Pay: fix card bug");
    assert_eq!(
        view["commits"][0]["images"][0]["tag"],
        format!("sha-{}", short(&fix)).as_str()
    );

    // branches: each kind told by pay's prefixes.
    let out = fleet.gantry(&["branches", "--service", &fleet.pay, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let kinds = branch_kinds(&out);
    for (name, kind) in [
        (first.as_str(), "release"),
        (second.as_str(), "release"),
        ("fix/card-bug", "hotfix"),
    ] {
        assert!(
            kinds.contains(&(name.to_string(), kind.to_string())),
            "{name} as {kind}: {kinds:?}"
        );
    }
    let out = fleet.gantry(&["branches", "--service", &fleet.orders_name, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let kinds = branch_kinds(&out);
    assert!(
        kinds.contains(&("bugfix/tax-bug".to_string(), "hotfix".to_string())),
        "{kinds:?}"
    );

    // status: dev runs the fix, a commit only on fix/card-bug, found in the mirror.
    let out = fleet.gantry(&["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cell = json(&out)
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["service"] == fleet.pay.as_str() && c["environment"] == "dev")
        .cloned()
        .expect("pay in dev");
    assert_eq!(cell["commit"]["subject"], "Pay: fix card bug", "{cell}");

    // Retention in stage keeps nothing it need not: the heads of rel/ and fix/ branches
    // are kept by a real gc, the image on no head is deleted.
    fleet.seed(stage, &fleet.pay, &d1, 605, &["stage"]);
    fleet.seed(stage, &fleet.pay, &d3, 606, &[]);
    fleet.seed(stage, &fleet.pay, &fix, 607, &[]);
    // d1 runs (the stage tag); a fourth image, built from main's commit, is on no
    // release or hotfix head.
    let main_sha = fleet.pay_work.sha("main");
    fleet.seed(stage, &fleet.pay, &main_sha, 609, &[]);
    let out = fleet.gantry(&[
        "gc",
        "--env",
        "stage",
        "--service",
        &fleet.pay,
        "--execute",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let report = json(&out);
    for (commit, branch) in [(&d3, first.as_str()), (&fix, "fix/card-bug")] {
        let tag = format!("sha-{}", short(commit));
        assert_eq!(
            protecting_branch(&report, "stage", &tag).as_deref(),
            Some(branch),
            "{report}"
        );
    }
    // A mirror is bare by design: not a thing to tell the user.
    assert!(!stdout(&out).contains("bare repository"), "{report}");
    let mut left = fleet.case.tags_at(&regs.stage, &fleet.pay);
    left.sort();
    let mut expected = vec![
        format!("sha-{}", short(&d1)),
        format!("sha-{}", short(&d3)),
        format!("sha-{}", short(&fix)),
        "stage".to_string(),
    ];
    expected.sort();
    assert_eq!(left, expected, "{report}");
}
