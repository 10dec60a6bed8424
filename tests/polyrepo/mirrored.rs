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

/// The drift entries of a JSON answer, as (service, tag).
fn drifts(value: &serde_json::Value) -> Vec<(String, String)> {
    value
        .as_array()
        .expect("drift")
        .iter()
        .map(|d| {
            (
                d["service"].as_str().unwrap_or_default().to_string(),
                d["tag"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_rebuilt_tag_is_joined_with_its_commit_from_the_services_own_repository() {
    let fleet = Fleet::new("poly-drift", "");
    let regs = registries();
    let (dev, stage) = (regs.dev.addr(), regs.stage.addr());
    let pay = fleet.pay.clone();
    let orders = fleet.orders_name.clone();
    let d2 = fleet.pay_commits[1].clone();
    let o1 = fleet.orders_commits[0].clone();
    // Each service's tag pushed twice with other bytes: dev holds one build, stage the
    // other, and runs it.
    fleet.seed(dev, &pay, &d2, 631, &["latest"]);
    fleet.seed(stage, &pay, &d2, 632, &["stage"]);
    fleet.seed(dev, &orders, &o1, 633, &["latest"]);
    fleet.seed(stage, &orders, &o1, 634, &["stage"]);
    let d2_tag = format!("sha-{}", short(&d2));
    let o1_tag = format!("sha-{}", short(&o1));

    // status: every cell of both drifts, each with its own repository's commit.
    let out = fleet.gantry(&["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let cells = json(&out);
    for (service, tag, subject) in [
        (&pay, &d2_tag, "Pay: retry declines"),
        (&orders, &o1_tag, "Orders: split baskets"),
    ] {
        for env in ["dev", "stage"] {
            let cell = cells
                .as_array()
                .expect("cells")
                .iter()
                .find(|c| c["service"] == service.as_str() && c["environment"] == env)
                .cloned()
                .expect("cell");
            assert_eq!(cell["drift"], serde_json::json!([tag]), "{cell}");
            assert_eq!(cell["commit"]["subject"], subject, "{cell}");
        }
    }

    // commits of pay: the rebuilt tag's commit row marks both badges, and only pay's
    // drift is told (orders' is in another repository).
    let out = fleet.gantry(&["commits", "--service", &pay, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    assert_eq!(drifts(&view["drift"]), [(pay.clone(), d2_tag.clone())]);
    let row = view["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .find(|c| c["subject"] == "Pay: retry declines")
        .cloned()
        .expect("d2's row");
    let marked: Vec<(String, bool)> = row["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|b| {
            (
                b["environment"].as_str().unwrap_or_default().to_string(),
                b["drift"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        marked,
        [("dev".to_string(), true), ("stage".to_string(), true)],
        "{row}"
    );
    let out = fleet.gantry(&["commits", "--service", &orders, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(drifts(&json(&out)["drift"]), [(orders.clone(), o1_tag)]);

    // diff: the drift between the two, each side's commit from pay's mirror.
    let out = fleet.gantry(&["diff", &pay, "--to", "stage", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let diff = json(&out);
    assert_eq!(drifts(&diff["drift"]), [(pay.clone(), d2_tag)]);
    for side in ["from", "to"] {
        assert_eq!(
            diff[side]["running"]["commit"]["subject"], "Pay: retry declines",
            "{diff}"
        );
    }
}
