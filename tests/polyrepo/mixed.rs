//! Services on `[git] path` beside services with repositories of their own, in one run:
//! each cell and each commits view reads its service's repository, and an image tag
//! naming another repository's commit is joined with nothing.

use super::*;

/// The commits of `view` that carry an image, with the services of those images.
fn badges(view: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    view["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .filter_map(|c| {
            let images = c["images"].as_array()?;
            let services: Vec<String> = images
                .iter()
                .map(|i| i["service"].as_str().unwrap_or_default().to_string())
                .collect();
            (!services.is_empty()).then(|| {
                (
                    c["subject"].as_str().unwrap_or_default().to_string(),
                    services,
                )
            })
        })
        .collect()
}

#[test]
fn services_on_git_path_and_services_with_their_own_repository_read_side_by_side() {
    let fleet = Fleet::new("poly-mixed", "\n[git]\npath = \"app\"\n");
    let app = TestRepo::init(&fleet.case.dir.path().join("app"));
    app.commit("App: initial commit");
    app.checkout_new("develop", "main");
    let a1 = app.commit("App: login page");
    let a2 = app.commit("App: dark mode");
    let web = format!("{}-web", fleet.case.service);
    let mut config = std::fs::read_to_string(&fleet.case.config).expect("config");
    config.push_str(&format!("\n[[service]]\nname = \"{web}\"\n"));
    std::fs::write(&fleet.case.config, config).expect("config");

    let regs = registries();
    let (dev, stage) = (regs.dev.addr(), regs.stage.addr());
    let d3 = fleet.pay_commits[2].clone();
    fleet.seed(dev, &web, &a2, 611, &["latest"]);
    fleet.seed(dev, &fleet.pay, &d3, 612, &["latest"]);
    // Each environment's other image names a commit of the other repository: a tag
    // built elsewhere must not be joined with a commit it never was.
    fleet.seed(stage, &web, &fleet.pay_commits[1], 613, &["stage"]);
    fleet.seed(stage, &fleet.pay, &a1, 614, &["stage"]);

    // One status: a mirror fetched (never before), the path read in place.
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
            .unwrap_or_else(|| panic!("no {service} in {env}: {cells}"))
    };
    assert_eq!(cell(&web, "dev")["commit"]["subject"], "App: dark mode");
    assert_eq!(
        cell(&fleet.pay, "dev")["commit"]["subject"],
        "Pay: faster refunds"
    );
    // Read from one repository for all, pay's a1 would be "App: login page".
    for (service, sha) in [(&web, &fleet.pay_commits[1]), (&fleet.pay, &a1)] {
        let stage = cell(service, "stage");
        assert_eq!(stage["tags"][0], format!("sha-{}", short(sha)).as_str());
        assert!(stage["commit"]["subject"].is_null(), "{service}: {stage}");
    }
    // commits with no --service: [git] path's repository and only its services' images.
    let out = fleet.gantry(&["commits", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    assert_eq!(
        subjects(&view),
        ["App: dark mode", "App: login page", "App: initial commit"]
    );
    assert_eq!(view["services"], serde_json::json!([web]));
    assert_eq!(
        badges(&view),
        [("App: dark mode".to_string(), vec![web.clone()])],
        "pay's image tagged with an app commit is not pay's: {view}"
    );
    // The same repository by its service's name.
    let out = fleet.gantry(&["commits", "--service", &web, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(subjects(&json(&out))[0], "App: dark mode");

    // pay's: its own history, and web's image tagged with a pay commit is not there.
    let out = fleet.gantry(&["commits", "--service", &fleet.pay, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let view = json(&out);
    assert_eq!(subjects(&view)[0], "Pay: faster refunds");
    assert!(!subjects(&view).iter().any(|s| s.starts_with("App:")));
    assert_eq!(
        badges(&view),
        [("Pay: faster refunds".to_string(), vec![fleet.pay.clone()])],
        "{view}"
    );
}
