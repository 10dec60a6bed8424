//! Snapshots of every console screen, drawn by `ui::render` on ratatui's `TestBackend`:
//! loading, loaded, failed and empty states, dialogs, a filter being typed, and small
//! terminals. Data is hand-made and `now` is fixed, so every hash and age is stable.

mod console_fixture;

use console_fixture::*;
use gantry::config::keys::{Action, Key, Screen};
use gantry::engine::{EngineEvent, EventKind, JobId, Progress, Step};
use gantry::tui::app::{App, DataEvent, Dialog, Effect, Loadable};
use gantry::tui::theme::Theme;
use gantry::tui::ui;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::text::Span;
use ratatui::Terminal;

fn theme() -> Theme {
    Theme::parse(
        include_str!("../themes/dark.toml"),
        std::path::Path::new("themes/dark.toml"),
        true,
    )
    .expect("built-in theme parses")
}

/// The buffer as text: one line per row, wide symbols counted once, trailing spaces trimmed.
fn buffer_text(buffer: &Buffer) -> String {
    let width = buffer.area.width.max(1) as usize;
    let mut out = String::new();
    for row in buffer.content().chunks(width) {
        let mut line = String::new();
        let mut skip = 0usize;
        for cell in row {
            if skip == 0 {
                line.push_str(cell.symbol());
            }
            skip = skip.max(Span::raw(cell.symbol()).width()).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Draws `app` on a `width` x `height` terminal, as the event loop does.
fn draw(app: &mut App, width: u16, height: u16) -> String {
    let area = ratatui::layout::Rect::new(0, 0, width, height);
    app.ctx.page = ui::page_of(app, area);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| ui::render(frame, app, &theme()))
        .expect("draws");
    buffer_text(terminal.backend().buffer())
}

/// `app` drawn on a 100 x 24 terminal as the buffer (styles and all) and its text.
fn drawn_with_styles(app: &App) -> (Buffer, String) {
    let mut terminal = Terminal::new(TestBackend::new(100, 24)).expect("test terminal");
    terminal
        .draw(|frame| ui::render(frame, app, &theme()))
        .expect("draws");
    let buffer = terminal.backend().buffer().clone();
    let text = buffer_text(&buffer);
    (buffer, text)
}

fn screen(app: &mut App) -> String {
    draw(app, 100, 24)
}

fn request_from_images(app: &mut App) -> gantry::engine::PromotionRequest {
    let effects = app.on_key(key('p'));
    match effects.as_slice() {
        [Effect::PlanPromotion(request)] => request.clone(),
        other => panic!("expected a plan request, got {other:?}"),
    }
}

// ---- environments ------------------------------------------------------------------

#[test]
fn environments_loading() {
    let mut app = app();
    let effects = app.start();
    assert_eq!(effects, vec![Effect::LoadStatus]);
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn environments_rows_show_as_their_cells_arrive() {
    let mut app = app();
    app.start();
    // The load the console started reads 9 cells; two have arrived, ledger-api in
    // prod with a rebuilt tag, and a cell of a load it replaced, which is dropped.
    app.environments.begin(2, 9);
    let report = status();
    for (load, index) in [(2, 0), (2, 5), (1, 3)] {
        let cell = Box::new(report.cells[index].clone());
        app.on_data(DataEvent::StatusCell { load, cell });
    }
    assert_eq!(app.environments.cells_loaded(), (2, 9));
    assert!(!app.environments.is_complete());
    let text = screen(&mut app);
    assert!(text.contains("loading: 2/9 cells read"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn environments_loaded() {
    let mut app = loaded_app('4');
    // ledger-api in prod: the drifted cell.
    app.on_key(key('j'));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn environments_error_cell_selected() {
    let mut app = loaded_app('4');
    // web-frontend in stage: its registry is down; the reason shows below the matrix.
    app.on_key(key('G'));
    app.on_key(special(Key::Right));
    let text = screen(&mut app);
    assert!(
        text.contains("503 Service Unavailable after 5 attempts"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn environments_failed() {
    let mut app = app();
    app.start();
    app.on_data(DataEvent::Status(Err(
        "registry.dev.example.com: cannot connect (dns error: failed to lookup address information: Name or service not known)"
            .into(),
    )));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn environments_git_unavailable() {
    let mut app = app();
    app.start();
    let mut report = status();
    report.git_unavailable = Some("/srv/gantry: not a git repository".into());
    for cell in &mut report.cells {
        cell.commit = None;
        cell.behind = None;
    }
    app.on_data(DataEvent::Status(Ok(report)));
    insta::assert_snapshot!(screen(&mut app));
}

/// Text snapshots drop styles: the selected row and the selected cell are checked here.
#[test]
fn environments_selection_is_highlighted() {
    let mut app = loaded_app('4');
    app.on_key(key('j'));
    app.on_key(special(Key::Right));
    let (buffer, text) = drawn_with_styles(&app);
    let lines: Vec<&str> = text.lines().collect();
    let row = lines
        .iter()
        .position(|l| l.starts_with("ledger-api"))
        .expect("ledger-api row") as u16;
    let header = lines
        .iter()
        .position(|l| l.starts_with("SERVICE"))
        .expect("header");
    let stage = lines[header].find("stage").expect("stage column") as u16;
    let prod = lines[header].find("prod").expect("prod column") as u16;
    // The matrix selects a cell, not a row: only that cell wears the selection.
    let selection_bg = theme().selection.bg.expect("selection has a background");
    assert_eq!(buffer[(stage, row)].bg, selection_bg);
    assert_ne!(buffer[(prod, row)].bg, selection_bg);
    assert_ne!(buffer[(0, row)].bg, selection_bg);
    assert_ne!(buffer[(stage, row + 1)].bg, selection_bg);
    // The selected service's name stands out from the others.
    assert_ne!(buffer[(0, row)].fg, buffer[(0, row + 1)].fg);
    // The detail line names the selected cell.
    assert!(text.contains(" ledger-api in stage: sha-9b27d3e"), "{text}");
}

// ---- registries down ---------------------------------------------------------------

/// Stage's registry refuses connections, prod's refuses the credentials: one line each at
/// the foot, the cells they left unread marked with their host, the selected cell's error
/// in full.
#[test]
fn environments_two_registries_down() {
    let mut app = registries_down_app('4');
    app.on_key(key('G'));
    app.on_key(special(Key::Right));
    let text = screen(&mut app);
    assert!(
        text.contains(
            "✗ registry.stage.example.com: connection refused; 3 services in stage not read"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "✗ registry.prod.example.com: 401: credentials refused; 3 services in prod not read"
        ),
        "{text}"
    );
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.ends_with(".example.com"))
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows.iter().all(|r| !r.contains("error")),
        "no cell carries a bare error:\n{text}"
    );
    assert!(
        text.contains(&format!(" web-frontend in stage: {}", &STAGE_REFUSED[..60])),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn commits_two_registries_down() {
    let mut app = registries_down_app('1');
    let text = screen(&mut app);
    assert_eq!(text.matches("✗ registry.").count(), 2, "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn images_two_registries_down() {
    let mut app = registries_down_app('4');
    // payment-svc in stage.
    app.on_key(special(Key::Right));
    let effects = app.on_key(special(Key::Enter));
    answer_registries_down(&mut app, effects);
    let text = screen(&mut app);
    assert!(
        text.contains(
            "✗ registry.stage.example.com: connection refused; payment-svc in stage not read"
        ),
        "{text}"
    );
    assert!(
        !text.contains("registry.prod"),
        "prod is not read here:\n{text}"
    );
    insta::assert_snapshot!(text);
}

/// The lines read as errors; the marks in the cells are muted, so the matrix's own
/// colours still lead the eye.
#[test]
fn registry_lines_are_errors_and_marks_are_muted() {
    let app = registries_down_app('4');
    let (buffer, text) = drawn_with_styles(&app);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines
        .iter()
        .position(|l| l.contains("✗ registry.stage.example.com: connection"))
        .expect("the stage line") as u16;
    assert_eq!(
        buffer[(3, line)].fg,
        theme().error.fg.expect("error colour")
    );
    let row = lines
        .iter()
        .position(|l| l.starts_with("ledger-api"))
        .expect("ledger-api row");
    let mark = lines[row].find("✗ registry.stage").expect("a marked cell");
    let x = lines[row][..mark].chars().count() as u16;
    assert_eq!(
        buffer[(x, row as u16)].fg,
        theme().muted.fg.expect("muted colour")
    );
}

// ---- doctor --------------------------------------------------------------------------

fn doctor_app() -> App {
    let mut app = loaded_app('4');
    let effects = app.on_key(key('!'));
    assert_eq!(effects, vec![Effect::RunDoctor]);
    app
}

#[test]
fn doctor_loading() {
    let mut app = doctor_app();
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn doctor_checks_all_pass() {
    let mut app = doctor_app();
    app.on_data(DataEvent::Doctor(doctor_all_ok()));
    let text = screen(&mut app);
    assert!(text.contains("all checks passed"), "{text}");
    insta::assert_snapshot!(text);
}

/// The first error selected: its message and what to do in full under the list.
#[test]
fn doctor_checks_with_errors() {
    let mut app = doctor_app();
    app.on_data(DataEvent::Doctor(doctor_with_errors()));
    let first_error = doctor_with_errors()
        .checks
        .iter()
        .position(|c| c.level == gantry::engine::doctor::Level::Error)
        .expect("an error");
    for _ in 0..first_error {
        app.on_key(key('j'));
    }
    let text = screen(&mut app);
    assert!(text.contains("3 error(s), 1 warning(s)"), "{text}");
    assert!(
        text.contains(" → check the password for `ci` ($STAGE_PASSWORD)"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn narrow_doctor() {
    let mut app = doctor_app();
    app.on_data(DataEvent::Doctor(doctor_with_errors()));
    insta::assert_snapshot!(draw(&mut app, 60, 20));
}

// ---- images ------------------------------------------------------------------------

fn images_app() -> App {
    let mut app = loaded_app('4');
    // payment-svc in dev, the newest images.
    let effects = app.on_key(special(Key::Enter));
    answer(&mut app, effects);
    app
}

/// The selected image's attachments fill a pane under the table once they are read.
#[test]
fn images_detail_pane_shows_what_the_selected_image_carries() {
    use gantry::attestation::attached::{Attached, Attestation, Sbom, ScanSummary, Signature, Via};
    let mut app = images_app();
    let before = draw(&mut app, 120, 30);
    assert!(!before.contains("─ attached ─"), "{before}");
    let listing = images("payment-svc", "dev");
    let digest = listing
        .images
        .iter()
        .find(|i| i.tag == "sha-c4e1f0a")
        .expect("the selected image")
        .digest
        .clone();
    let manifest = digest.clone();
    let sbom = |format: &str, via| Sbom {
        format: format.into(),
        via,
        manifest: manifest.clone(),
    };
    let attached = Attached {
        sboms: vec![
            sbom("SPDX", Via::Referrer),
            sbom("SPDX", Via::Buildx),
            sbom("CycloneDX", Via::Referrer),
        ],
        attestations: vec![Attestation {
            predicate_type: "https://slsa.dev/provenance/v1".into(),
            via: Via::Buildx,
            manifest: manifest.clone(),
        }],
        signatures: vec![Signature {
            kind: "cosign".into(),
            via: Via::CosignTag,
            keys: vec!["release.pub".into()],
        }],
        scan: Some(ScanSummary {
            finished: Some((now() - chrono::Duration::days(3)).to_rfc3339()),
            worst: Some(gantry::gates::Severity::Critical),
            findings: 4,
            scanner: None,
            signed_by: Vec::new(),
        }),
    };
    app.on_data(DataEvent::Attached {
        service: "payment-svc".into(),
        env: "dev".into(),
        digest,
        result: Ok(attached),
    });
    let text = draw(&mut app, 120, 30);
    assert!(
        text.contains("SBOM     SPDX (referrer, buildx), CycloneDX (referrer)"),
        "{text}"
    );
    assert!(
        text.contains("attested slsa.dev/provenance/v1 (buildx)"),
        "{text}"
    );
    assert!(text.contains("signed   cosign: release.pub"), "{text}");
    assert!(
        text.contains("scan     WORST CRITICAL, 4 findings, scanned 3 days ago"),
        "{text}"
    );
    assert!(text.contains("sha-c4e1f0a"), "the table stays: {text}");
}

/// Text snapshots drop styles: a cell with a colour of its own (the muted digest) takes the
/// selection's colours on the selected row, and keeps its own elsewhere.
#[test]
fn images_selected_row_wears_the_selection_in_every_column() {
    let app = images_app();
    let (buffer, text) = drawn_with_styles(&app);
    let lines: Vec<&str> = text.lines().collect();
    let row = lines
        .iter()
        .position(|l| l.starts_with("sha-c4e1f0a"))
        .expect("the selected image") as u16;
    let digest = lines[row as usize].find("sha256:").expect("digest column") as u16;
    let selection = theme().selection;
    let muted = theme().muted;
    for x in [0, digest] {
        assert_eq!(
            buffer[(x, row)].fg,
            selection.fg.expect("selection fg"),
            "column {x}"
        );
        assert_eq!(
            buffer[(x, row)].bg,
            selection.bg.expect("selection bg"),
            "column {x}"
        );
    }
    assert_eq!(buffer[(digest, row + 1)].fg, muted.fg.expect("muted fg"));
}

#[test]
fn images_loading() {
    let mut app = loaded_app('4');
    let effects = app.on_key(special(Key::Enter));
    assert_eq!(effects.len(), 1);
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn images_loaded() {
    let mut app = images_app();
    app.on_key(key('j'));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn images_loaded_stage() {
    let mut app = images_app();
    let effects = app.on_key(key('e'));
    answer(&mut app, effects);
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn images_empty() {
    let mut app = loaded_app('4');
    app.on_key(key('G'));
    app.on_key(special(Key::Right));
    app.on_key(special(Key::Right));
    app.on_key(special(Key::Enter));
    let mut listing = images("web-frontend", "prod");
    listing.images.clear();
    listing.other_tags.clear();
    app.on_data(DataEvent::Images {
        service: "web-frontend".into(),
        env: "prod".into(),
        result: Ok(listing),
    });
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn images_failed() {
    let mut app = loaded_app('4');
    app.on_key(key('G'));
    app.on_key(special(Key::Right));
    app.on_key(special(Key::Enter));
    app.on_data(DataEvent::Images {
        service: "web-frontend".into(),
        env: "stage".into(),
        result: Err("registry.stage.example.com: 503 Service Unavailable after 5 attempts".into()),
    });
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn images_filter_being_typed() {
    let mut app = images_app();
    let all = app.image_rows().len();
    type_keys(&mut app, "/9b2");
    assert_eq!(app.image_rows().len(), 1);
    assert!(all > 1);
    insta::assert_snapshot!(screen(&mut app));
}

// ---- commits and branches -----------------------------------------------------------

#[test]
fn commits_loaded() {
    let mut app = loaded_app('2');
    let effects = app.on_key(key('1'));
    answer(&mut app, effects);
    app.on_key(key('j'));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn commits_loaded_other_service_shows_drift() {
    let mut app = loaded_app('2');
    let effects = app.on_key(key('1'));
    answer(&mut app, effects);
    let effects = app.on_key(key(']'));
    answer(&mut app, effects);
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn commits_failed() {
    let mut app = app();
    app.start();
    app.on_key(key('1'));
    app.on_data(DataEvent::Commits(Err(
        "/srv/gantry: not a git repository (set [git] path in /srv/gantry/gantry.toml)".into(),
    )));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn branches_loaded() {
    let mut app = loaded_app('2');
    insta::assert_snapshot!(screen(&mut app));
}

// ---- promotions ---------------------------------------------------------------------

#[test]
fn promotions_empty() {
    let mut app = loaded_app('5');
    insta::assert_snapshot!(screen(&mut app));
}

/// Starts a promotion of the selected image from the Images screen; returns its job.
fn promote_selected(app: &mut App) -> JobId {
    let request = request_from_images(app);
    app.on_data(DataEvent::Planned {
        result: Ok(plan_for(&request)),
        request,
    });
    match app.on_key(key('y')).as_slice() {
        [Effect::StartPromotion { job, .. }] => *job,
        other => panic!("expected a started promotion, got {other:?}"),
    }
}

#[test]
fn promotions_running() {
    let mut app = images_app();
    app.on_key(key('j'));
    let job = promote_selected(&mut app);
    app.on_engine(EngineEvent {
        job,
        kind: EventKind::Progress(Progress {
            step: Step::CopyingBlobs,
            bytes_done: 21_495_808,
            bytes_total: 36_175_872,
            blobs_done: 1,
            blobs_total: 3,
        }),
    });
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn promotions_finished_failed_refused() {
    let mut app = images_app();
    // Four promotions of dev's images to stage: done, failed, refused, still running.
    let mut jobs = Vec::new();
    for i in 0..4 {
        let effects = app.on_key(key('3'));
        answer(&mut app, effects);
        app.on_key(key('g'));
        for _ in 0..i {
            app.on_key(key('j'));
        }
        jobs.push(promote_selected(&mut app));
    }
    app.on_engine(EngineEvent {
        job: jobs[0],
        kind: EventKind::Finished {
            summary: "promoted payment-svc:sha-c4e1f0a dev -> stage (sha256:4c4b2e1b9a0f): 2 blobs copied (36.2 MB), 1 mounted, 1 present; tags sha-c4e1f0a, stage".into(),
        },
    });
    app.on_engine(EngineEvent {
        job: jobs[1],
        kind: EventKind::Failed {
            reason:
                "registry.stage.example.com: 502 Bad Gateway after 5 attempts (PUT blob upload)"
                    .into(),
            exit_code: 1,
        },
    });
    app.on_engine(EngineEvent {
        job: jobs[2],
        kind: EventKind::Failed {
            reason: "refused: payment-svc:sha-7a1c9e0 already exists in stage with another digest"
                .into(),
            exit_code: 3,
        },
    });
    app.on_engine(EngineEvent {
        job: jobs[3],
        kind: EventKind::Progress(Progress {
            step: Step::Tagging,
            bytes_done: 36_175_872,
            bytes_total: 36_175_872,
            blobs_done: 3,
            blobs_total: 3,
        }),
    });
    // The failed one, whose reason shows in full below the table.
    app.on_key(key('j'));
    app.on_key(key('j'));
    insta::assert_snapshot!(screen(&mut app));
}

/// Two requests from the ledger above a promotion of this session.
fn promotions_with_requests_and_a_job() -> App {
    let mut app = images_app();
    app.on_key(key('j'));
    promote_selected(&mut app);
    app.on_data(DataEvent::Requests(Ok(pending_requests())));
    app
}

#[test]
fn promotions_request_selected() {
    let mut app = promotions_with_requests_and_a_job();
    app.on_key(key('g'));
    let text = screen(&mut app);
    let footer = text.lines().last().unwrap_or_default();
    assert!(footer.starts_with("a approve…"), "{footer}");
    // Cancelling and rolling back are for promotions: not offered on a request.
    assert!(
        !footer.contains("cancel") && !footer.contains("rollback"),
        "{footer}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn promotions_with_requests_job_selected() {
    let mut app = promotions_with_requests_and_a_job();
    let text = screen(&mut app);
    let footer = text.lines().last().unwrap_or_default();
    assert!(!footer.contains("approve"), "{footer}");
    assert!(
        footer.contains("x cancel") && footer.contains("b rollback"),
        "{footer}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn promotions_say_when_requests_cannot_be_read() {
    let mut app = images_app();
    app.on_key(key('j'));
    promote_selected(&mut app);
    app.on_data(DataEvent::Requests(Err(
        "cannot read the ledger: refs/gantry/ledger is not a commit\nsecond line".into(),
    )));
    let text = screen(&mut app);
    let title = text.lines().nth(1).unwrap_or_default();
    assert!(
        title.contains("requests: cannot load: cannot read the ledger"),
        "{title}"
    );
    assert!(!text.contains("second line"), "{text}");
}

#[test]
fn approve_dialog_names_what_is_approved() {
    let mut app = promotions_with_requests_and_a_job();
    app.on_key(key('g'));
    app.on_key(key('a'));
    let text = screen(&mut app);
    for expected in [
        "approve request 3f9a2c1b7e4d",
        "payment-svc:",
        "stage → prod",
        "approvals so far: 1 of 2",
        "y/enter approve",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    insta::assert_snapshot!(text);
}

// ---- help ---------------------------------------------------------------------------

#[test]
fn help_from_images() {
    let mut app = images_app();
    app.on_key(key('?'));
    assert_eq!(app.screen, Screen::Help);
    let text = screen(&mut app);
    assert!(text.contains("promote the selected image"), "{text}");
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("p ")),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn help_from_images_readonly() {
    let mut app = readonly_app();
    let effects = app.start();
    answer(&mut app, effects);
    let effects = app.on_key(special(Key::Enter));
    answer(&mut app, effects);
    app.on_key(key('?'));
    let text = screen(&mut app);
    assert!(!text.contains("promote"), "{text}");
    assert!(text.contains("READ-ONLY"), "{text}");
    insta::assert_snapshot!(text);
}

// ---- dialogs ------------------------------------------------------------------------

#[test]
fn promotion_dialog_planning() {
    let mut app = images_app();
    request_from_images(&mut app);
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn promotion_dialog_planned() {
    let mut app = images_app();
    // sha-7a1c9e0 from stage to prod: copy, mount, present, `prod` moves.
    let effects = app.on_key(key('e'));
    answer(&mut app, effects);
    let request = request_from_images(&mut app);
    assert_eq!(
        (request.from.as_str(), request.to.as_str()),
        ("stage", "prod")
    );
    app.on_data(DataEvent::Planned {
        result: Ok(plan_for(&request)),
        request,
    });
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn promotion_dialog_refused() {
    let mut app = images_app();
    let effects = app.on_key(key('e'));
    answer(&mut app, effects);
    let request = request_from_images(&mut app);
    app.on_data(DataEvent::Planned {
        result: Ok(refused_plan_for(&request)),
        request,
    });
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn promotion_dialog_plan_failed() {
    let mut app = images_app();
    let request = request_from_images(&mut app);
    app.on_data(DataEvent::Planned {
        result: Err("registry.stage.example.com: 401 Unauthorized: check the login for stage (username ci-promoter)".into()),
        request,
    });
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn rollback_dialog() {
    // Promote stage's image to prod, let it finish, then roll prod back from Promotions.
    let mut app = images_app();
    let effects = app.on_key(key('e'));
    answer(&mut app, effects);
    let job = promote_selected(&mut app);
    app.on_engine(EngineEvent {
        job,
        kind: EventKind::Finished {
            summary: "promoted payment-svc:sha-7a1c9e0 stage -> prod".into(),
        },
    });
    let effects = app.on_key(key('b'));
    assert!(effects.is_empty());
    assert!(matches!(app.dialog, Some(Dialog::Rollback { .. })));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn release_dialog_typing() {
    let mut app = loaded_app('1');
    app.on_key(key('j'));
    app.on_key(key('j'));
    app.on_key(key('c'));
    type_keys(&mut app, "1.9.0");
    app.on_key(special(Key::Tab));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn release_dialog_done() {
    let mut app = loaded_app('1');
    app.on_key(key('j'));
    app.on_key(key('j'));
    app.on_key(key('c'));
    type_keys(&mut app, "1.9.0");
    app.on_key(special(Key::Tab));
    app.on_key(special(Key::Enter));
    app.on_data(DataEvent::BranchCut(Ok(cut_outcome("1.9.0"))));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn job_details_dialog() {
    let mut app = images_app();
    let effects = app.on_key(key('e'));
    answer(&mut app, effects);
    let job = promote_selected(&mut app);
    app.on_engine(EngineEvent {
        job,
        kind: EventKind::Finished {
            summary: "promoted payment-svc:sha-7a1c9e0 stage -> prod (sha256:2f1d0c8a7b3e): 2 blobs copied (36.2 MB), 1 mounted, 1 present; tags sha-7a1c9e0, prod".into(),
        },
    });
    app.on_key(special(Key::Enter));
    assert!(matches!(app.dialog, Some(Dialog::Job(_))));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn palette_being_typed() {
    let mut app = loaded_app('4');
    type_keys(&mut app, ":service led");
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn readonly_refusal_message() {
    let mut app = readonly_app();
    let effects = app.start();
    answer(&mut app, effects);
    let effects = app.on_action(Action::Rollback);
    assert!(effects.is_empty());
    insta::assert_snapshot!(screen(&mut app));
}

// ---- audit -------------------------------------------------------------------------

#[test]
fn audit_loading() {
    let mut app = loaded_app('4');
    assert_eq!(app.on_key(key('7')), vec![Effect::LoadAudit]);
    let text = screen(&mut app);
    assert!(text.contains("loading the ledger…"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn audit_loaded_chain_intact() {
    let mut app = loaded_app('7');
    let text = screen(&mut app);
    // Whether the chain holds, and what has not reached the remote.
    assert!(
        text.contains("✓ chain intact: 6 records, head 8c1f5e0a92d4"),
        "{text}"
    );
    assert!(text.contains("1 not pushed yet"), "{text}");
    // Newest first: the rollback, then the promotions with their routes.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("@example.com"))
        .collect();
    assert!(rows[0].contains("rollback"), "{text}");
    assert!(rows[1].contains("dev → stage"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn audit_broken_chain_names_the_problem() {
    let mut app = loaded_app('4');
    app.on_key(key('7'));
    app.on_data(DataEvent::Audit(Ok(tampered_audit_view())));
    let text = screen(&mut app);
    assert!(
        text.contains("✗ chain broken at record 4: record #4 no longer hashes to its id"),
        "{text}"
    );
    assert!(!text.contains("chain intact"), "{text}");
    // The record where it breaks says so when selected.
    app.on_key(key('j'));
    assert!(!screen(&mut app).contains("the chain breaks here"));
    app.on_key(key('j'));
    let text = screen(&mut app);
    assert!(text.contains("the chain breaks here"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn audit_failed() {
    let mut app = loaded_app('4');
    app.on_key(key('7'));
    app.on_data(DataEvent::Audit(Err(
        "the ledger is off: no [ledger] section in /srv/gantry/gantry.toml".into(),
    )));
    let text = screen(&mut app);
    assert!(text.contains("cannot load the ledger"), "{text}");
    assert!(
        text.contains("no [ledger] section in /srv/gantry/gantry.toml"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn audit_empty() {
    let mut app = loaded_app('4');
    app.on_key(key('7'));
    let mut view = audit_view();
    view.records.clear();
    view.verification.records = 0;
    view.verification.head = None;
    view.unpushed = 0;
    app.on_data(DataEvent::Audit(Ok(view)));
    let text = screen(&mut app);
    assert!(text.contains("the ledger has no records yet"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn narrow_audit() {
    let mut app = loaded_app('7');
    let text = draw(&mut app, 60, 14);
    // Who did what, to what, stays when the terminal is narrow.
    assert!(text.contains("KIND"), "{text}");
    assert!(text.contains("SERVICE"), "{text}");
    insta::assert_snapshot!(text);
}

// ---- small terminals ----------------------------------------------------------------

#[test]
fn narrow_environments() {
    let mut app = loaded_app('4');
    let text = draw(&mut app, 50, 12);
    assert!(
        text.lines().next().unwrap_or("").contains("gantry"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn narrow_images() {
    let mut app = images_app();
    let text = draw(&mut app, 50, 12);
    assert!(
        text.lines().next().unwrap_or("").contains("gantry"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn narrow_promotion_dialog() {
    let mut app = images_app();
    let effects = app.on_key(key('e'));
    answer(&mut app, effects);
    let request = request_from_images(&mut app);
    app.on_data(DataEvent::Planned {
        result: Ok(plan_for(&request)),
        request,
    });
    insta::assert_snapshot!(draw(&mut app, 50, 12));
}

/// `page_rows` (what paging and mouse clicks count on) is the number of rows drawn.
#[test]
fn page_rows_match_the_rows_drawn() {
    let mut app = images_app();
    let mut listing = images("payment-svc", "dev");
    let template = listing.images[1].clone();
    listing.images = (0..40)
        .map(|i| gantry::engine::inventory::ImageInfo {
            tag: format!("sha-{i:07x}"),
            ..template.clone()
        })
        .collect();
    app.on_data(DataEvent::Images {
        service: "payment-svc".into(),
        env: "dev".into(),
        result: Ok(listing),
    });
    app.on_key(key('G'));
    let text = draw(&mut app, 100, 24);
    let body = ui::areas(ratatui::layout::Rect::new(0, 0, 100, 24)).body;
    let drawn = text.lines().filter(|l| l.starts_with("sha-")).count();
    assert_eq!(drawn, ui::page_rows(Screen::Images, body), "{text}");
    assert!(
        text.contains("sha-0000027"),
        "the last row is shown: {text}"
    );

    let services: String = (0..30)
        .map(|i| format!("[[service]]\nname = \"svc-{i:02}\"\n"))
        .collect();
    let mut app = App::new(&config_from(&format!("{CONFIG}\n{services}")), false, now());
    let effects = app.start();
    answer(&mut app, effects);
    app.on_key(key('G'));
    let text = draw(&mut app, 100, 24);
    let drawn = text.lines().filter(|l| l.starts_with("svc-")).count();
    assert_eq!(drawn, ui::page_rows(Screen::Environments, body), "{text}");
    assert!(text.contains("svc-29"), "the last row is shown: {text}");
}

// ---- retention ---------------------------------------------------------------------

/// The Retention screen with its clean-up confirmed: the app and the job deleting.
fn cleaning_up() -> (App, JobId) {
    let mut app = loaded_app('6');
    app.on_key(key('d'));
    match app.on_key(key('y')).as_slice() {
        [Effect::CleanUp { job, .. }] => {
            let job = *job;
            (app, job)
        }
        other => panic!("expected a clean-up, got {other:?}"),
    }
}

#[test]
fn retention_loaded() {
    let mut app = loaded_app('6');
    let text = screen(&mut app);
    // The plan's counts, its policy, and each row's rule in words.
    assert!(
        text.contains("3 to delete (2 signature(s)), 5 kept"),
        "{text}"
    );
    assert!(text.contains("keep = 1"), "{text}");
    assert!(text.contains("prod runs it (sha-3f9a2c1)"), "{text}");
    assert!(text.contains("#2, beyond the newest 1  +1 sig"), "{text}");
    // The selected row in full below the list: its whole digest and what goes with it.
    assert!(text.contains("with it: sha256-e180dc812194….sig"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn retention_without_created_times_drops_the_age_column() {
    let mut app = loaded_app('4');
    app.on_key(key('6'));
    let mut plan = retention_plan("payment-svc", "dev");
    for image in plan.delete.iter_mut().chain(plan.keep.iter_mut()) {
        image.created = None;
    }
    app.on_data(DataEvent::Retention {
        service: "payment-svc".into(),
        env: "dev".into(),
        result: Ok(plan),
    });
    let text = screen(&mut app);
    assert!(text.contains("ACTION  TAGS"), "{text}");
    assert!(!text.contains(" AGE "), "{text}");
    let with_ages = screen(&mut loaded_app('6'));
    assert!(with_ages.contains(" AGE "), "{with_ages}");
}

#[test]
fn retention_loading() {
    let mut app = loaded_app('4');
    app.on_key(key('6'));
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn retention_failed() {
    let mut app = loaded_app('4');
    app.on_key(key('6'));
    app.on_data(DataEvent::Retention {
        service: "payment-svc".into(),
        env: "dev".into(),
        result: Err("registry.prod.example.com: cannot connect: what prod runs is unknown, so nothing is planned".into()),
    });
    insta::assert_snapshot!(screen(&mut app));
}

#[test]
fn retention_environment_without_policy() {
    let mut app = loaded_app('6');
    app.on_key(key('e'));
    let text = screen(&mut app);
    assert!(
        text.contains("stage has no [environment.retention] policy"),
        "{text}"
    );
    assert!(text.contains("environments with one: dev"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn narrow_retention() {
    let mut app = loaded_app('6');
    insta::assert_snapshot!(draw(&mut app, 60, 16));
}

#[test]
fn cleanup_dialog_asks() {
    let mut app = loaded_app('6');
    app.on_key(key('d'));
    let text = screen(&mut app);
    assert!(text.contains("y/enter delete"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn cleanup_dialog_running() {
    let (mut app, job) = cleaning_up();
    app.on_engine(EngineEvent {
        job,
        kind: EventKind::Deleted {
            image: "payment-svc:sha-5c6d7e8 (sha256:2f1e0c4b8d7a)".into(),
        },
    });
    let text = screen(&mut app);
    assert!(text.contains("deleting… 1 of 3 done"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn cleanup_dialog_done_says_how_space_comes_back() {
    let (mut app, job) = cleaning_up();
    let plan = retention_plan("payment-svc", "dev");
    app.on_data(DataEvent::CleanedUp {
        job,
        result: Ok(cleanup_outcome(&plan)),
    });
    let text = draw(&mut app, 100, 30);
    assert!(text.contains("3 deleted (2 signature(s))"), "{text}");
    assert!(text.contains("garbage-collect"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn cleanup_dialog_stopped_midway() {
    let (mut app, job) = cleaning_up();
    let plan = retention_plan("payment-svc", "dev");
    let mut outcome = cleanup_outcome(&plan);
    let stopped: Vec<_> = outcome.deleted.drain(1..).collect();
    outcome.orphan_signatures_deleted.clear();
    outcome.not_deleted = stopped
        .into_iter()
        .map(|d| gantry::retention::SkippedImage {
            digest: d.digest,
            tags: d.tags,
            reason: "not reached: the run stopped first".into(),
        })
        .collect();
    outcome.failure = Some(gantry::retention::ExecutionFailure {
        kind: gantry::retention::FailureKind::Registry,
        message: "registry.dev.example.com: 503 Service Unavailable after 5 attempts".into(),
        exit_code: 1,
    });
    app.on_data(DataEvent::CleanedUp {
        job,
        result: Ok(outcome),
    });
    let text = draw(&mut app, 100, 30);
    assert!(
        text.contains("2 not deleted: run the clean-up again"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

// ---- deploy ------------------------------------------------------------------------

/// Answers the deploy dialog of payment-svc in stage with the fixture's report.
fn answer_deploy(app: &mut App, dry_run: bool) {
    app.on_data(DataEvent::Deployed {
        service: "payment-svc".into(),
        env: "stage".into(),
        dry_run,
        result: Ok(deploy_report("payment-svc", "stage", dry_run)),
    });
}

#[test]
fn deploy_dialog_shows_the_change() {
    let mut app = loaded_app('4');
    app.on_key(special(Key::Right));
    app.on_key(key('D'));
    answer_deploy(&mut app, true);
    let text = screen(&mut app);
    assert!(
        text.contains("deploy planned payment-svc sha-7a1c9e0 in stage"),
        "{text}"
    );
    assert!(text.contains("+    newTag: sha-7a1c9e0"), "{text}");
    assert!(text.contains("y/enter deploy"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn deploy_dialog_done() {
    let mut app = loaded_app('4');
    app.on_key(special(Key::Right));
    app.on_key(key('D'));
    answer_deploy(&mut app, true);
    app.on_key(key('y'));
    answer_deploy(&mut app, false);
    let text = screen(&mut app);
    assert!(text.contains("commit 8e2f4a1 on main"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn environments_show_what_is_promoted_but_not_deployed() {
    let mut app = loaded_app('4');
    let mut report = status();
    for cell in &mut report.cells {
        if cell.service == "payment-svc" && cell.environment == "stage" {
            cell.deployed = Some(gantry::deploy::DeployedState {
                file: "stage/payment-svc/kustomization.yaml".into(),
                tag: Some(tag_of(3)),
                digest: Some(image_digest("payment-svc", 3).to_string()),
                commit: Some("5d1c0e7a".into()),
                in_sync: Some(false),
                error: None,
            });
        }
    }
    app.on_data(DataEvent::Status(Ok(report)));
    app.on_key(special(Key::Right));
    let text = screen(&mut app);
    assert!(text.contains("≠deployed"), "{text}");
    assert!(
        text.contains("not deployed: stage/payment-svc/kustomization.yaml pins sha-3f9a2c1"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

/// Every screen and dialog at sizes down to nothing: drawing never panics.
#[test]
fn tiny_terminals_never_panic() {
    let mut apps: Vec<App> = ['1', '2', '3', '4', '5', '6']
        .into_iter()
        .map(loaded_app)
        .collect();
    let mut help = images_app();
    help.on_key(key('?'));
    apps.push(help);
    let mut dialog = images_app();
    let request = request_from_images(&mut dialog);
    dialog.on_data(DataEvent::Planned {
        result: Ok(plan_for(&request)),
        request,
    });
    apps.push(dialog);
    let mut release = loaded_app('1');
    release.on_key(key('c'));
    apps.push(release);
    let mut failed = app();
    failed.environments.status = Loadable::Failed("x".repeat(300));
    apps.push(failed);
    let mut asking = loaded_app('6');
    asking.on_key(key('d'));
    apps.push(asking);
    let mut doctor = doctor_app();
    doctor.on_data(DataEvent::Doctor(doctor_with_errors()));
    apps.push(doctor);
    apps.push(registries_down_app('4'));
    apps.push(registries_down_app('1'));
    let mut deleting = loaded_app('6');
    deleting.on_key(key('d'));
    deleting.on_key(key('y'));
    apps.push(deleting);
    for app in &mut apps {
        for (w, h) in [(0, 0), (1, 1), (10, 3), (20, 5), (30, 8), (50, 12), (80, 2)] {
            draw(app, w, h);
        }
    }
}
