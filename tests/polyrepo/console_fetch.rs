//! The console's fetches of service repositories: `ctrl-r` on Environments fetches them
//! again (a commit pushed to a remote since reaches the matrix), every repository queued
//! with the rows on screen first; scrolling brings the rows shown to the front.

use super::*;
use gantry::config::keys::{Key, KeyChord};
use gantry::tui::effects::Effect;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_r_on_environments_fetches_the_service_repositories_again() {
    use gantry::tui::console::Console;
    use gantry::tui::repos::FetchState;

    let fleet = Fleet::new("poly-ctrl-r", "");
    let dev = registries().dev.addr();
    let d3 = fleet.pay_commits[2].clone();
    fleet.seed(dev, &fleet.pay, &d3, 641, &["latest"]);
    std::env::set_var("XDG_STATE_HOME", fleet.case.dir.path().join("ctrl-r-state"));
    let config = gantry::config::Config::load(&fleet.case.config).expect("config");
    let area = ratatui::layout::Rect::new(0, 0, 160, 30);
    let mut console = Console::open(config, false, chrono::Utc::now(), area).expect("opens");
    console.start();
    let pay = fleet.pay.clone();
    let dev_subject = |app: &gantry::tui::app::App| {
        app.environments.status.loaded().and_then(|report| {
            report
                .cells
                .iter()
                .find(|c| c.service == pay && c.environment == "dev")
                .and_then(|c| c.commit.as_ref())
                .map(|c| c.subject.clone())
        })
    };
    let fetched = |app: &gantry::tui::app::App| {
        matches!(
            app.ctx.repos.of(&pay).map(|e| &e.fetch),
            Some(FetchState::Fetched(Some(_)))
        )
    };
    common::until(&mut console, |app| {
        fetched(app) && dev_subject(app).as_deref() == Some("Pay: faster refunds")
    })
    .await;

    // The remote moves on outside the console, and dev gets the new commit's image: only
    // a fetch brings its commit into the mirror.
    fleet.pay_work.checkout("develop");
    let d4 = fleet.pay_work.commit("Pay: audit trail");
    fleet.pay_work.git(&["push", "-q", "origin", "develop"]);
    fleet.seed(dev, &fleet.pay, &d4, 642, &["latest"]);

    console.press(KeyChord::ctrl('r'));
    assert!(
        matches!(
            console.app.ctx.repos.of(&pay).map(|e| &e.fetch),
            Some(FetchState::Waiting(Some(_)))
        ),
        "ctrl-r queues pay's repository: {:?}",
        console.app.ctx.repos.of(&pay)
    );
    common::until(&mut console, |app| {
        fetched(app) && dev_subject(app).as_deref() == Some("Pay: audit trail")
    })
    .await;
    let text = drawn(&console.app, area);
    assert!(text.contains("Pay: audit trail"), "{text}");
    assert!(text.contains("repositories: 1 of 1 fetched"), "{text}");
    assert_eq!(console.close().await, 0);
}

/// The URLs of the effects' `Fetch`es and of their `PreferFetch`es, in order.
fn fetches(effects: &[Effect]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut queued = Vec::new();
    let mut preferred = Vec::new();
    for effect in effects {
        match effect {
            Effect::Fetch { urls, urgent } => {
                assert!(!urgent, "the matrix's fetches wait their turn");
                queued.push(urls.clone());
            }
            Effect::PreferFetch(urls) => preferred.push(urls.clone()),
            _ => {}
        }
    }
    (queued, preferred)
}

#[test]
fn the_matrix_fetches_the_rows_on_screen_first_and_scrolling_moves_them_ahead() {
    // Eight services, each with a bare repository of its own behind a file:// URL.
    let case = Case::new("poly-scroll");
    let regs = registries();
    let mut config = format!(
        "[[environment]]\nname = \"dev\"\nregistry = \"{}\"\nplain_http = true\nmutable_tag = \"latest\"\n",
        regs.dev.addr()
    );
    let mut urls = Vec::new();
    for i in 0..8 {
        let bare = case.dir.path().join(format!("svc{i}.git"));
        let status = std::process::Command::new("git")
            .args(["init", "-q", "--bare"])
            .arg(&bare)
            .status()
            .expect("git init");
        assert!(status.success());
        let url = format!("file://{}", bare.display());
        config.push_str(&format!(
            "\n[[service]]\nname = \"{}-{i}\"\ngit = \"{url}\"\n",
            case.service
        ));
        urls.push(url);
    }
    std::fs::write(&case.config, config).expect("config");
    let config = gantry::config::Config::load(&case.config).expect("config");
    let mut app = gantry::tui::app::App::new(&config, false, chrono::Utc::now());
    // Three rows fit on screen.
    app.ctx.page = 3;

    // Opening: every repository, in the rows' order.
    let (queued, _) = fetches(&app.start());
    assert_eq!(queued, [urls.clone()]);

    // Moving within the screen: the same rows, kept first.
    let (_, preferred) = fetches(&app.on_key(KeyChord::plain(Key::Char('j'))));
    assert_eq!(preferred, [urls[0..3].to_vec()]);

    // Scrolling past the screen: the rows now shown go first.
    let mut effects = Vec::new();
    for _ in 0..4 {
        effects = app.on_key(KeyChord::plain(Key::Char('j')));
    }
    assert_eq!(
        app.ctx
            .list(gantry::config::keys::Screen::Environments)
            .offset,
        3
    );
    let (_, preferred) = fetches(&effects);
    assert_eq!(preferred, [urls[3..6].to_vec()]);

    // ctrl-r: every repository fetched again, those on screen first, then the rest in order.
    let (queued, _) = fetches(&app.on_key(KeyChord::ctrl('r')));
    let mut expected = urls[3..6].to_vec();
    expected.extend(urls[0..3].iter().cloned());
    expected.extend(urls[6..8].iter().cloned());
    assert_eq!(queued, [expected]);

    // The end of the list.
    let (_, preferred) = fetches(&app.on_key(KeyChord::plain(Key::Char('G'))));
    assert_eq!(preferred, [urls[5..8].to_vec()]);
}
