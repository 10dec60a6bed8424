//! Listing commands with registries down: one line per registry (host, what failed in
//! plain words, what it affects), the full errors only with --verbose and in the log, no
//! retries for a refused connection; and "did you mean" for mistyped names.

mod common;

use common::git::{gantry_command, TestRepo};
use common::{code, registries, stderr, Case};
use gantry::sandbox::SeedFormat;

/// A loopback port nothing listens on, other than the shared one (which the system may
/// hand out again, its listener being gone).
fn another_closed_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        if port != registries().closed_port {
            return port;
        }
    }
}

/// dev (up) and three environments on two hosts that are down, for three services.
fn case_with_two_registries_down(name: &str) -> (Case, String, String) {
    let case = Case::new(name);
    let regs = registries();
    let down_a = format!("127.0.0.1:{}", regs.closed_port);
    let down_b = format!("127.0.0.1:{}", another_closed_port());
    let repo = TestRepo::init(&case.dir.path().join("app"));
    repo.commit("Initial commit");
    repo.checkout_new("develop", "main");
    let config = format!(
        r#"[git]
path = "app"
[ledger]
enabled = false
[copy]
attempts = 5
backoff_ms = 200

[[environment]]
name = "dev"
registry = "{dev}"
plain_http = true
mutable_tag = "latest"

[[environment]]
name = "stage"
registry = "{down_a}"
from = "dev"
plain_http = true

[[environment]]
name = "qa"
registry = "{down_a}"
path = "qa"
from = "dev"
plain_http = true

[[environment]]
name = "prod"
registry = "{down_b}"
from = "stage"
plain_http = true

[[service]]
name = "{service}"
[[service]]
name = "{service}-b"
[[service]]
name = "{service}-c"
"#,
        dev = regs.dev.addr(),
        service = case.service,
    );
    std::fs::write(&case.config, config).expect("write config");
    (case, down_a, down_b)
}

#[test]
fn each_registry_that_is_down_is_one_line() {
    let (case, down_a, down_b) = case_with_two_registries_down("grouped-down");
    case.seed("9a9a9a9", 0x71, &[], SeedFormat::Oci);
    let run = |args: &[&str]| {
        gantry_command(case.dir.path(), &case.config, args)
            .output()
            .expect("run gantry")
    };
    for args in [
        vec!["status"],
        vec!["commits"],
        vec!["images", case.service.as_str()],
    ] {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        let about = |host: &str| lines.iter().filter(|l| l.contains(host)).count();
        assert_eq!(about(&down_a), 1, "{args:?}: {err}");
        assert_eq!(about(&down_b), 1, "{args:?}: {err}");
        let a = lines.iter().find(|l| l.contains(&down_a)).expect("line");
        let b = lines.iter().find(|l| l.contains(&down_b)).expect("line");
        assert!(
            a.contains("connection refused") && b.contains("connection refused"),
            "{err}"
        );
        if args[0] == "images" {
            assert!(
                a.ends_with(&format!("{} in stage, qa not read", case.service)),
                "{a}"
            );
        } else {
            assert!(a.ends_with("3 services in stage, qa not read"), "{a}");
            assert!(b.ends_with("3 services in prod not read"), "{b}");
        }
        // The chain (reqwest's, the OS's) only with --verbose.
        assert!(!err.contains("os error"), "{err}");
        assert!(
            !err.contains("attempts"),
            "a refused connection is not retried: {err}"
        );
        assert!(lines.len() <= 4, "{err}");

        let mut verbose_args = args.clone();
        verbose_args.push("--verbose");
        let verbose = stderr(&run(&verbose_args));
        assert!(
            verbose.contains("os error 111") || verbose.contains("Connection refused"),
            "{verbose}"
        );
        assert!(
            verbose.lines().filter(|l| l.starts_with("  ")).count() >= 2,
            "{verbose}"
        );
    }
    let log =
        std::fs::read_to_string(case.dir.path().join("state/gantry/gantry.log")).expect("log");
    assert!(
        log.contains("Connection refused"),
        "the log has the full errors"
    );
    assert!(
        !log.contains("retrying in"),
        "no retries of a refused connection: {log}"
    );
}

#[test]
fn mistyped_names_get_a_suggestion() {
    let (case, _, _) = case_with_two_registries_down("grouped-typos");
    let run = |args: &[&str]| {
        let out = gantry_command(case.dir.path(), &case.config, args)
            .output()
            .expect("run gantry");
        (code(&out), stderr(&out))
    };
    let image = format!("{}:sha-1234567", case.service);
    let (status, err) = run(&["promote", &image, "--to", "stgae"]);
    assert_eq!(status, 2);
    assert!(
        err.contains("unknown environment `stgae`") && err.contains("did you mean `stage`?"),
        "{err}"
    );
    let (status, err) = run(&["images", &format!("{}-bb", case.service)]);
    assert_eq!(status, 2);
    assert!(
        err.contains(&format!("did you mean `{}-b`?", case.service)),
        "{err}"
    );
    let (status, err) = run(&["commits", "--branch", "devlop"]);
    assert_eq!(status, 2);
    assert!(
        err.contains("no branch `devlop`") && err.contains("did you mean `develop`?"),
        "{err}"
    );
    // Nothing close: no guess.
    let (_, err) = run(&["images", case.service.as_str(), "--env", "production"]);
    assert!(
        err.contains("unknown environment") && !err.contains("did you mean"),
        "{err}"
    );

    // The configuration too, located.
    let text = std::fs::read_to_string(&case.config).expect("read");
    std::fs::write(
        &case.config,
        text.replace("from = \"stage\"", "from = \"stgae\""),
    )
    .expect("write");
    let (status, err) = run(&["status"]);
    assert_eq!(status, 2);
    assert!(
        err.contains("gantry.toml:") && err.contains("did you mean `stage`?"),
        "{err}"
    );
}

/// The console on the same set-up, in process: each screen that reads the registries says
/// one line per registry that is down, whatever number of cells it left unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_says_one_line_per_registry_that_is_down() {
    use gantry::config::keys::{Key, KeyChord};
    use gantry::tui::app::Loadable;
    use gantry::tui::console::Console;

    let (case, down_a, down_b) = case_with_two_registries_down("grouped-console");
    case.seed("8b8b8b8", 0x72, &["latest"], SeedFormat::Oci);
    let config = gantry::config::Config::load(&case.config).expect("config");
    let area = ratatui::layout::Rect::new(0, 0, 120, 30);
    let mut console =
        Console::open(config, false, chrono::Utc::now(), area).expect("console opens");
    let mut both = [
        format!("{down_a}: connection refused; 3 services in stage, qa not read"),
        format!("{down_b}: connection refused; 3 services in prod not read"),
    ];
    both.sort();

    console.start();
    until(&mut console, |app| app.environments.status.settled()).await;
    let mut lines = console.app.registry_lines();
    lines.sort();
    assert_eq!(lines, both);
    // Every unread cell is an error the lines explain: none is left without one.
    let report = console.app.environments.status.loaded().expect("matrix");
    assert_eq!(report.cells.iter().filter(|c| c.error.is_some()).count(), 9);

    console.press(KeyChord::plain(Key::Char('1')));
    until(&mut console, |app| app.commits.history.settled()).await;
    let mut lines = console.app.registry_lines();
    lines.sort();
    assert_eq!(lines, both);

    // The Images screen reads one service in one environment: dev answers, stage does not.
    console.press(KeyChord::plain(Key::Char('3')));
    let dev = (case.service.clone(), "dev".to_string());
    until(&mut console, |app| {
        app.images.listings.get(&dev).is_some_and(Loadable::settled)
    })
    .await;
    assert_eq!(console.app.registry_lines(), Vec::<String>::new());
    console.press(KeyChord::plain(Key::Char('e')));
    let stage = (case.service.clone(), "stage".to_string());
    until(&mut console, |app| {
        app.images
            .listings
            .get(&stage)
            .is_some_and(Loadable::settled)
    })
    .await;
    assert_eq!(
        console.app.registry_lines(),
        [format!(
            "{down_a}: connection refused; {} in stage not read",
            case.service
        )]
    );
    assert_eq!(console.close().await, 0);
}

/// Lets `console` take what arrives until `done` says its app has what the test waits for.
async fn until(
    console: &mut gantry::tui::console::Console,
    done: impl Fn(&gantry::tui::app::App) -> bool,
) {
    while !done(&console.app) {
        assert!(console.handle_next().await, "the console quit");
    }
}
