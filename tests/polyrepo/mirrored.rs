//! A service whose repository is a mirror of a file:// URL: diff, why (the `branches` and
//! `merged_to` gates), retention's protection of release heads by a real gc, and drift,
//! each reading the commits of that repository as fetched by the command itself (the
//! remote moves between commands, outside gantry).

use super::*;

#[test]
fn diff_gates_and_gc_read_a_mirrored_repository_fetched_by_each_command() {
    let fleet = Fleet::new("poly-mirror-gates", "");
    fleet.edit_config(
        "mutable_tag = \"stage\"\n",
        "mutable_tag = \"stage\"\n\n[environment.gates]\nbranches = [\"release/*\"]\nmerged_to = \"main\"\n\n[environment.retention]\nkeep = 0\n",
    );
    let regs = registries();
    let (dev, stage) = (regs.dev.addr(), regs.stage.addr());
    let pay = fleet.pay.clone();
    let [d1, d2, d3] = [0, 1, 2].map(|i| fleet.pay_commits[i].clone());
    fleet.seed(dev, &pay, &d2, 621, &["latest"]);
    fleet.seed(dev, &pay, &d3, 622, &[]);
    fleet.seed(stage, &pay, &d1, 623, &["stage"]);

    // diff: what dev runs over stage, from pay's history (cloned into its mirror now).
    assert!(fleet.mirrors().is_empty());
    let out = fleet.gantry(&["diff", &pay, "--to", "stage", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let diff = json(&out);
    assert_eq!(diff["count"], 1, "{diff}");
    assert_eq!(diff["commits"][0]["subject"], "Pay: retry declines");
    assert_eq!(
        diff["to"]["running"]["commit"]["subject"],
        "Pay: add card checks"
    );
    assert_eq!(fleet.mirrors().len(), 1);

    // why: d3 is on no release branch of pay's remote yet.
    let image = format!("{pay}:sha-{}", short(&d3));
    let why = |expect: i32| {
        let out = fleet.gantry(&["why", &image, "--to", "stage"]);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(code(&out), expect, "{text}");
        text
    };
    let text = why(3);
    assert!(
        text.contains("is on no branch matching release/*"),
        "{text}"
    );
    // A release branch pushed to the remote by someone else: the next why fetches it,
    // and only merged_to (main lacks d3) still refuses.
    let release = format!("release/v1.0.0-sha-{}", short(&d3));
    fleet.pay_work.git(&[
        "push",
        "-q",
        "origin",
        &format!("{d3}:refs/heads/{release}"),
    ]);
    let text = why(3);
    assert!(!text.contains("release/*"), "{text}");
    assert!(text.contains("not merged into main"), "{text}");
    fleet.pay_work.checkout("main");
    fleet.pay_work.merge("develop", "Merge develop into main");
    fleet.pay_work.git(&["push", "-q", "origin", "main"]);
    why(0);

    // gc in stage (keep 0): d3's image is kept by the release head alone, d2's because
    // dev runs it, d1's by the stage tag; the first commit's image is on nothing.
    let first = fleet.pay_work.sha("main~1");
    fleet.seed(stage, &pay, &d3, 624, &[]);
    fleet.seed(stage, &pay, &first, 625, &[]);
    let out = fleet.gantry(&[
        "gc",
        "--env",
        "stage",
        "--service",
        &pay,
        "--execute",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let d3_tag = format!("sha-{}", short(&d3));
    assert_eq!(
        protecting_branch(&report, "stage", &d3_tag),
        Some(release),
        "{report}"
    );
    let mut left = fleet.case.tags_at(&regs.stage, &pay);
    left.sort();
    let mut expected = vec![format!("sha-{}", short(&d1)), d3_tag, "stage".into()];
    expected.sort();
    assert_eq!(left, expected, "{report}");
}
