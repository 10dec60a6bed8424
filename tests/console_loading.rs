//! The console loading the Environments matrix in process, against a real registry
//! behind a proxy that logs every request as it arrives: the rows on screen are read
//! first, and a reload cancels the load it replaces for real (that load's task ends as
//! cancelled and sends no request after its one held at the proxy).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::faults::{Fault, FaultProxy, Gate, Rule};
use common::registries;
use gantry::config::keys::{KeyChord, Screen};
use gantry::config::Config;
use gantry::sandbox::{build_fleet, FleetSpec};
use gantry::tui::console::Console;
use ratatui::layout::Rect;

const SERVICES: usize = 40;

/// A fleet of `SERVICES` services in dev, stage and prod of the shared dev registry, and a
/// configuration reaching it through `proxy`, one request at a time.
fn fleet_config(dir: &std::path::Path, proxy: &FaultProxy) -> Config {
    let mut spec = FleetSpec::shared_layout(SERVICES);
    spec.service_prefix = "load".into();
    spec.images_per_repository = 1;
    // Once per process: both tests read the same fleet.
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        build_fleet(registries().dev.addr(), &spec).expect("build the fleet");
    });
    let mut text = String::from(
        "[git]\npath = \"no-repository\"\n\n[ledger]\nenabled = false\n\n[copy]\nrequests_per_host = 1\n",
    );
    for (env, mutable, from) in [
        ("dev", "latest", None),
        ("stage", "stage", Some("dev")),
        ("prod", "prod", Some("stage")),
    ] {
        text.push_str(&format!(
            "\n[[environment]]\nname = \"{env}\"\nregistry = \"{}\"\npath = \"{env}\"\nplain_http = true\nmutable_tag = \"{mutable}\"\n",
            proxy.addr
        ));
        if let Some(from) = from {
            text.push_str(&format!("from = \"{from}\"\n"));
        }
    }
    for i in 0..SERVICES {
        text.push_str(&format!(
            "\n[[service]]\nname = \"{}\"\n",
            spec.service_name(i)
        ));
    }
    let path = dir.join("gantry.toml");
    std::fs::write(&path, text).expect("write config");
    Config::load(&path).expect("config")
}

/// The engine's state (its tag cache) under this process's temp dir, not the user's.
fn state_in_temp() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        std::env::set_var(
            "XDG_STATE_HOME",
            common::process_root("gantry-console-loading"),
        );
    });
}

/// Handles the console's messages until the matrix has loaded.
async fn until_loaded(console: &mut Console) {
    let wait = async {
        while !console.app.environments.is_complete() {
            console.handle_next().await;
        }
    };
    // A bound for a broken build only; the test never waits on time otherwise.
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("the matrix loaded");
}

/// The repositories whose tag lists `requests` asked for, in order.
fn tag_lists(requests: &[(String, String)]) -> Vec<String> {
    requests
        .iter()
        .filter(|(method, path)| method == "GET" && path.contains("/tags/list"))
        .map(|(_, path)| {
            path.trim_start_matches("/v2/")
                .split("/tags/list")
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_cancels_the_load_it_replaces_and_reads_the_rows_on_screen_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    state_in_temp();
    let gate = Gate::default();
    let proxy = FaultProxy::start(
        registries().dev.addr(),
        vec![Rule::new(
            "GET",
            "/tags/list",
            Some(1),
            Fault::Hold(gate.clone()),
        )],
    );
    let config = fleet_config(dir.path(), &proxy);
    let area = Rect::new(0, 0, 100, 24);
    let mut console = Console::open(config, true, chrono::Utc::now(), area).expect("console");
    console.start();

    // The first load's first request is held at the proxy: it can go no further.
    let first = tokio::task::block_in_place(|| proxy.wait_held());
    assert!(
        first.path.contains("/dev/load-0001/tags/list"),
        "{}",
        first.path
    );

    // Keys answer while it loads: go to the last rows, then reload from there.
    console.press(KeyChord::plain(gantry::config::keys::Key::Char('G')));
    assert_eq!(
        console.app.ctx.selected(Screen::Environments),
        SERVICES - 1,
        "G moved the selection while loading"
    );
    let before_reload = proxy.requests().len();
    console.press(KeyChord::ctrl('r'));
    until_loaded(&mut console).await;

    // The replaced load was stopped: its task ended as cancelled.
    let superseded = console.take_superseded_loads();
    assert_eq!(superseded.len(), 1, "one load was replaced");
    for load in superseded {
        let ended = load.await.expect_err("the replaced load did not finish");
        assert!(
            ended.is_cancelled(),
            "the replaced load ended otherwise: {ended}"
        );
    }
    // Its held request goes on to the registry, with nobody waiting for the answer.
    gate.open();

    let all = proxy.requests();
    let reload = tag_lists(&all[before_reload..]);
    // Every cell read once by the reload; the first load sent its held request and no
    // other (it was stopped before it could).
    assert_eq!(tag_lists(&all[..before_reload]), ["dev/load-0001"]);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for repository in &reload {
        *counts.entry(repository.as_str()).or_default() += 1;
    }
    assert_eq!(reload.len(), SERVICES * 3, "{reload:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert_eq!(
        console.app.environments.cells_loaded(),
        (SERVICES * 3, SERVICES * 3)
    );

    // The reload read the rows on screen (the last ones) before the others.
    let list = console.app.ctx.list(Screen::Environments);
    let page = console.app.ctx.page;
    assert!(list.offset > 0 && page > 0, "{list:?} {page}");
    let rows = console.app.environments.rows(&console.app.ctx);
    let visible: Vec<&str> = rows[list.offset..(list.offset + page).min(rows.len())].to_vec();
    let first_read: Vec<String> = reload[..visible.len() * 3].to_vec();
    for repository in &first_read {
        let service = repository.rsplit('/').next().unwrap_or_default();
        assert!(
            visible.contains(&service),
            "{service} read before the rows on screen ({visible:?}): {first_read:?}"
        );
    }
    console.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_show_while_a_cell_is_still_being_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    state_in_temp();
    let gate = Gate::default();
    // The last cell's tag list is held: every other cell can arrive meanwhile.
    let last = format!("/prod/load-{SERVICES:04}/tags/list");
    let proxy = FaultProxy::start(
        registries().dev.addr(),
        vec![Rule::new("GET", &last, Some(1), Fault::Hold(gate.clone()))],
    );
    let mut config = fleet_config(dir.path(), &proxy);
    config.copy.requests_per_host = 4;
    let area = Rect::new(0, 0, 100, 24);
    let mut console = Console::open(config, true, chrono::Utc::now(), area).expect("console");
    console.start();
    tokio::task::block_in_place(|| proxy.wait_held());
    let wait = async {
        while console.app.environments.cells_loaded().0 < SERVICES * 3 - 1 {
            console.handle_next().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("the other cells arrived");
    assert!(!console.app.environments.is_complete());
    assert!(console
        .app
        .environments
        .cell(&format!("load-{SERVICES:04}"), "prod")
        .is_none());
    assert!(console.app.environments.cell("load-0001", "dev").is_some());
    gate.open();
    until_loaded(&mut console).await;
    assert_eq!(
        console.app.environments.cells_loaded(),
        (SERVICES * 3, SERVICES * 3)
    );
    console.close().await;
}
