//! The console's state machine driven by keys: which screen, which row, which dialog, and
//! which effects come back. No terminal, no network, no clock: `App` with fixture data.

mod console_fixture;

use console_fixture::*;
use gantry::config::keys::{Action, Key, KeyChord, Screen};
use gantry::domain::ImageSelector;
use gantry::engine::{EngineEvent, EventKind, JobId, Progress, PromotionRequest, Step};
use gantry::tui::app::{
    App, DataEvent, Dialog, Effect, Input, JobState, Level, Loadable, RequestRow, RetentionRow,
};
use gantry::tui::dialogs::{
    CleanUpDialog, DeployDialog, PromotionDialog, ReleaseDialog, RollbackDialog,
};

fn images_effect(service: &str, env: &str) -> Effect {
    Effect::LoadImages {
        service: service.into(),
        env: env.into(),
    }
}

/// payment-svc's images in dev, loaded, on the Images screen.
fn images_app() -> App {
    let mut app = loaded_app('4');
    let effects = app.on_key(special(Key::Enter));
    assert_eq!(effects, vec![images_effect("payment-svc", "dev")]);
    answer(&mut app, effects);
    assert_eq!(app.screen, Screen::Images);
    app
}

fn tag_selector(service: &str, tag: &str) -> ImageSelector {
    ImageSelector::Tag {
        service: service.into(),
        tag: tag.into(),
    }
}

fn plan_request(effects: &[Effect]) -> PromotionRequest {
    match effects {
        [Effect::PlanPromotion(request)] => request.clone(),
        other => panic!("expected one PlanPromotion, got {other:?}"),
    }
}

fn plan_state(app: &App) -> &Loadable<gantry::engine::Plan> {
    match &app.dialog {
        Some(Dialog::Promotion(PromotionDialog { plan, .. })) => plan,
        other => panic!("expected the promotion dialog, got {other:?}"),
    }
}

/// Opens the dialog on the selected image, fills it with `plan`, presses `y`: the job.
fn promote_with(app: &mut App, plan: fn(&PromotionRequest) -> gantry::engine::Plan) -> JobId {
    let request = plan_request(&app.on_key(key('p')));
    app.on_data(DataEvent::Planned {
        result: Ok(plan(&request)),
        request: request.clone(),
    });
    match app.on_key(key('y')).as_slice() {
        [Effect::StartPromotion { job, request: r }] => {
            assert_eq!(*r, request);
            *job
        }
        other => panic!("expected StartPromotion, got {other:?}"),
    }
}

fn event(job: JobId, kind: EventKind) -> EngineEvent {
    EngineEvent { job, kind }
}

fn warning(app: &App) -> &str {
    match &app.ctx.message {
        Some((Level::Warn, text)) => text,
        other => panic!("expected a warning, got {other:?}"),
    }
}

// ---- screens and loading ----------------------------------------------------------

#[test]
fn number_keys_switch_screens_and_load_each_thing_once() {
    let mut app = app();
    assert_eq!(app.screen, Screen::Environments);
    let effects = app.start();
    assert_eq!(effects, vec![Effect::LoadStatus]);
    assert!(matches!(app.environments.status, Loadable::Loading));
    answer(&mut app, effects);
    assert!(matches!(app.environments.status, Loadable::Loaded(_)));

    // Commits loads the history and the branch heads that label it.
    let effects = app.on_key(key('1'));
    assert_eq!(app.screen, Screen::Commits);
    assert_eq!(effects, vec![Effect::LoadCommits, Effect::LoadBranches]);
    answer(&mut app, effects);
    // Branches came with the commits.
    assert_eq!(app.on_key(key('2')), vec![]);
    assert_eq!(app.screen, Screen::Branches);
    assert_eq!(
        app.on_key(key('3')),
        vec![images_effect("payment-svc", "dev")]
    );
    assert_eq!(app.screen, Screen::Images);
    assert_eq!(app.on_key(key('4')), vec![]);
    assert_eq!(app.screen, Screen::Environments);
    // Promotions lists the ledger's waiting requests.
    assert_eq!(app.on_key(key('5')), vec![Effect::LoadRequests]);
    assert_eq!(app.screen, Screen::Promotions);
    // Images were never answered: a second visit does not ask again while loading.
    assert_eq!(app.on_key(key('3')), vec![]);
    assert_eq!(app.on_key(key('1')), vec![]);

    // ctrl-r reloads what is already there.
    assert_eq!(
        app.on_key(KeyChord::ctrl('r')),
        vec![Effect::LoadCommits, Effect::LoadBranches]
    );
    assert!(matches!(app.commits.history, Loadable::Loading));
    app.on_key(key('4'));
    assert_eq!(app.on_key(key('R')), vec![Effect::LoadStatus]);
    // alt-r reloads too, every tag read again rather than from the tag cache.
    assert_eq!(
        app.on_key(KeyChord::alt('r')),
        vec![Effect::Fresh(Box::new(Effect::LoadStatus))]
    );
    app.on_key(key('1'));
    assert_eq!(
        app.on_key(KeyChord::alt('r')),
        vec![
            Effect::Fresh(Box::new(Effect::LoadCommits)),
            Effect::Fresh(Box::new(Effect::LoadBranches))
        ]
    );
}

#[test]
fn tab_cycles_the_seven_screens_and_loads_on_the_way() {
    let mut app = app();
    let effects = app.start();
    answer(&mut app, effects);
    let tab = special(Key::Tab);
    assert_eq!(app.on_key(tab), vec![Effect::LoadRequests]);
    assert_eq!(app.screen, Screen::Promotions);
    assert_eq!(
        app.on_key(tab),
        vec![retention_effect("payment-svc", "dev")]
    );
    assert_eq!(app.screen, Screen::Retention);
    assert_eq!(app.on_key(tab), vec![Effect::LoadAudit]);
    assert_eq!(app.screen, Screen::Audit);
    assert_eq!(
        app.on_key(tab),
        vec![Effect::LoadCommits, Effect::LoadBranches]
    );
    assert_eq!(app.screen, Screen::Commits);
    assert_eq!(app.on_key(tab), vec![]);
    assert_eq!(app.screen, Screen::Branches);
    assert_eq!(app.on_key(tab), vec![images_effect("payment-svc", "dev")]);
    assert_eq!(app.screen, Screen::Images);
    assert_eq!(app.on_key(special(Key::BackTab)), vec![]);
    assert_eq!(app.screen, Screen::Branches);
}

#[test]
fn a_failed_load_is_retried_on_the_next_visit() {
    let mut app = loaded_app('4');
    app.on_key(key('1'));
    app.on_data(DataEvent::Commits(Err("not a git repository".into())));
    assert!(matches!(app.commits.history, Loadable::Failed(_)));
    app.on_key(key('4'));
    assert_eq!(app.on_key(key('1')), vec![Effect::LoadCommits]);
}

#[test]
fn help_lists_the_screen_it_was_opened_from_and_esc_returns() {
    let mut app = images_app();
    app.on_key(key('?'));
    assert_eq!(app.screen, Screen::Help);
    assert_eq!(app.help_for(), Screen::Images);
    app.on_key(special(Key::Esc));
    assert_eq!(app.screen, Screen::Images);
}

#[test]
fn q_quits() {
    let mut app = loaded_app('4');
    assert_eq!(app.on_key(key('q')), vec![Effect::Quit]);
    assert!(app.quit);
}

// ---- moving ---------------------------------------------------------------------

#[test]
fn j_k_top_bottom_and_pages_move_and_clamp_the_selection() {
    let mut app = images_app();
    assert_eq!(app.image_rows().len(), 5);
    app.ctx.page = 2;
    let selected = |app: &App| app.ctx.list(Screen::Images).selected;
    app.on_key(key('k'));
    assert_eq!(selected(&app), 0, "k at the top stays");
    app.on_key(key('j'));
    app.on_key(special(Key::Down));
    assert_eq!(selected(&app), 2);
    app.on_key(key('G'));
    assert_eq!(selected(&app), 4);
    assert_eq!(
        app.ctx.list(Screen::Images).offset,
        3,
        "the last row is visible"
    );
    app.on_key(key('j'));
    assert_eq!(selected(&app), 4, "j at the bottom stays");
    app.on_key(key('g'));
    assert_eq!(selected(&app), 0);
    assert_eq!(app.ctx.list(Screen::Images).offset, 0);
    app.on_key(special(Key::PageDown));
    assert_eq!(selected(&app), 2);
    app.on_key(special(Key::PageDown));
    app.on_key(special(Key::PageDown));
    assert_eq!(selected(&app), 4, "pgdn clamps at the last row");
    app.on_key(KeyChord::ctrl('u'));
    assert_eq!(selected(&app), 2);
    app.on_key(special(Key::Up));
    assert_eq!(selected(&app), 1);
}

#[test]
fn moving_on_an_empty_list_stays_at_zero() {
    let mut app = loaded_app('5');
    for k in ['j', 'G', 'k', 'g'] {
        app.on_key(key(k));
        assert_eq!(app.ctx.list(Screen::Promotions).selected, 0);
    }
}

#[test]
fn sorting_the_matrix_works_on_the_cells_read_so_far() {
    let mut app = app();
    app.start();
    app.environments.begin(1, 9);
    let rows = |app: &App| -> Vec<String> {
        app.environments
            .rows(&app.ctx)
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    let configured = rows(&app);
    assert_eq!(configured, ["payment-svc", "ledger-api", "web-frontend"]);
    // Only web-frontend's unreadable stage cell has arrived: it needs attention first.
    let report = status();
    let cell = Box::new(report.cells[7].clone());
    app.on_data(DataEvent::StatusCell { load: 1, cell });
    app.on_key(key('s'));
    assert_eq!(rows(&app), ["ledger-api", "payment-svc", "web-frontend"]);
    app.on_key(key('s'));
    assert_eq!(rows(&app)[0], "web-frontend");
    // The rest arrives: ledger-api's rebuilt tag comes after the unreadable cell, and
    // payment-svc, behind but fine, after both; the filter still applies.
    app.on_data(DataEvent::StatusDone {
        load: 1,
        report: Box::new(status()),
    });
    assert!(app.environments.is_complete());
    assert_eq!(rows(&app), ["web-frontend", "ledger-api", "payment-svc"]);
    app.on_key(key('/'));
    type_keys(&mut app, "svc");
    app.on_key(special(Key::Enter));
    assert_eq!(rows(&app), ["payment-svc"]);
    app.on_key(special(Key::Esc));
    app.on_key(key('s'));
    assert_eq!(rows(&app), configured);
}

#[test]
fn environments_left_right_move_the_column_and_enter_drills_into_images() {
    let mut app = loaded_app('4');
    assert_eq!(app.environments.column, 0);
    assert_eq!(app.on_key(special(Key::Right)), vec![]);
    assert_eq!(app.environments.column, 1);
    app.on_key(special(Key::Right));
    assert_eq!(app.environments.column, 2);
    app.on_key(special(Key::Right));
    assert_eq!(app.environments.column, 0, "wraps around");
    app.on_key(special(Key::Left));
    assert_eq!(app.environments.column, 2);
    app.on_key(special(Key::Left));
    assert_eq!(app.environments.column, 1);

    app.on_key(key('j'));
    let effects = app.on_key(special(Key::Enter));
    assert_eq!(app.screen, Screen::Images);
    assert_eq!(app.ctx.service(), Some("ledger-api"));
    assert_eq!(
        app.ctx.environment().map(|e| e.name.as_str()),
        Some("stage")
    );
    assert_eq!(effects, vec![images_effect("ledger-api", "stage")]);
}

#[test]
fn images_switch_service_and_environment() {
    let mut app = images_app();
    app.on_key(key('j'));
    assert_eq!(
        app.on_key(key(']')),
        vec![images_effect("ledger-api", "dev")]
    );
    assert_eq!(
        app.ctx.list(Screen::Images).selected,
        0,
        "a new list starts at the top"
    );
    assert_eq!(
        app.on_key(key('e')),
        vec![images_effect("ledger-api", "stage")]
    );
    assert_eq!(
        app.on_key(special(Key::Left)),
        vec![images_effect("payment-svc", "stage")]
    );
    assert_eq!(
        app.on_key(key('E')),
        vec![],
        "payment-svc in dev is loaded already"
    );
    assert_eq!(app.ctx.environment().map(|e| e.name.as_str()), Some("dev"));
}

// ---- filter and palette -------------------------------------------------------------

#[test]
fn typing_a_filter_reduces_rows_and_esc_clears_it() {
    let mut app = images_app();
    app.on_key(key('G'));
    app.on_key(key('/'));
    assert!(matches!(
        app.input,
        Some(Input::Filter {
            screen: Screen::Images,
            ..
        })
    ));
    type_keys(&mut app, "9b2");
    let rows: Vec<String> = app.image_rows().iter().map(|i| i.tag.clone()).collect();
    assert_eq!(rows, vec![tag_of(1)]);
    assert_eq!(
        app.ctx.list(Screen::Images).selected,
        0,
        "selection back on the first match"
    );
    // Keys are text while typing: `q` does not quit, `j` does not move.
    type_keys(&mut app, "qj");
    assert!(!app.quit);
    assert_eq!(app.ctx.filter(Screen::Images), "9b2qj");
    assert!(app.image_rows().is_empty());
    app.on_key(special(Key::Backspace));
    app.on_key(special(Key::Backspace));
    assert_eq!(app.image_rows().len(), 1);
    app.on_key(special(Key::Esc));
    assert!(app.input.is_none());
    assert_eq!(app.ctx.filter(Screen::Images), "");
    assert_eq!(app.image_rows().len(), 5);
}

#[test]
fn enter_keeps_a_filter_and_esc_then_clears_it_before_going_back() {
    let mut app = images_app();
    type_keys(&mut app, "/latest");
    app.on_key(special(Key::Enter));
    assert!(app.input.is_none());
    assert_eq!(app.image_rows().len(), 1, "mutable tags are searched too");
    // Keys act again once the filter is kept.
    app.on_key(key('j'));
    app.on_key(special(Key::Esc));
    assert_eq!(app.screen, Screen::Images, "first esc clears the filter");
    assert_eq!(app.image_rows().len(), 5);
    app.on_key(special(Key::Esc));
    assert_eq!(app.screen, Screen::Environments, "second esc goes back");
}

#[test]
fn palette_selects_service_environment_and_screen() {
    let mut app = loaded_app('4');
    app.on_key(key(':'));
    assert!(matches!(app.input, Some(Input::Palette { .. })));
    let effects = type_keys(&mut app, "service ledger");
    assert!(effects.is_empty());
    let effects = app.on_key(special(Key::Enter));
    assert!(app.input.is_none());
    assert_eq!(app.screen, Screen::Images);
    assert_eq!(app.ctx.service(), Some("ledger-api"));
    assert_eq!(effects, vec![images_effect("ledger-api", "dev")]);

    type_keys(&mut app, ":env prod");
    let effects = app.on_key(special(Key::Enter));
    assert_eq!(app.ctx.environment().map(|e| e.name.as_str()), Some("prod"));
    assert_eq!(effects, vec![images_effect("ledger-api", "prod")]);

    type_keys(&mut app, ":promotions");
    app.on_key(special(Key::Enter));
    assert_eq!(app.screen, Screen::Promotions);

    type_keys(&mut app, ":branch");
    let effects = app.on_key(special(Key::Enter));
    assert_eq!(app.screen, Screen::Branches);
    assert_eq!(effects, vec![Effect::LoadBranches]);
}

#[test]
fn palette_refuses_unknown_names_and_esc_abandons_it() {
    let mut app = loaded_app('4');
    type_keys(&mut app, ":service billing");
    assert_eq!(app.on_key(special(Key::Enter)), vec![]);
    assert!(warning(&app).contains("payment-svc, ledger-api, web-frontend"));
    assert_eq!(app.screen, Screen::Environments);

    type_keys(&mut app, ":deploy");
    app.on_key(special(Key::Enter));
    assert!(warning(&app).contains("unknown command `deploy`"));

    type_keys(&mut app, ":quit");
    app.on_key(special(Key::Esc));
    assert!(!app.quit && app.input.is_none());
    type_keys(&mut app, ":quit");
    assert_eq!(app.on_key(special(Key::Enter)), vec![Effect::Quit]);
}

// ---- promotion --------------------------------------------------------------------

#[test]
fn promote_from_images_plans_into_the_environment_promoted_from_this_one() {
    let mut app = images_app();
    app.on_key(key('j'));
    let request = plan_request(&app.on_key(key('p')));
    assert_eq!(
        request,
        PromotionRequest {
            selector: tag_selector("payment-svc", &tag_of(1)),
            from: "dev".into(),
            to: "stage".into(),
        }
    );
    assert!(matches!(plan_state(&app), Loadable::Loading));
    // Confirming before the plan is there does nothing.
    assert_eq!(app.on_key(key('y')), vec![]);
    assert!(app.dialog.is_some());

    // From stage the target is prod.
    app.on_key(special(Key::Esc));
    let effects = app.on_key(key('e'));
    assert_eq!(effects, vec![images_effect("payment-svc", "stage")]);
    answer(&mut app, effects);
    let request = plan_request(&app.on_key(key('p')));
    assert_eq!(
        (request.from.as_str(), request.to.as_str()),
        ("stage", "prod")
    );
    assert_eq!(request.selector, tag_selector("payment-svc", &tag_of(2)));
}

#[test]
fn planned_fills_the_dialog_and_y_starts_a_running_job() {
    let mut app = images_app();
    let request = plan_request(&app.on_key(key('p')));
    // An answer for another request (a target changed meanwhile) is ignored.
    let mut other = request.clone();
    other.to = "prod".into();
    app.on_data(DataEvent::Planned {
        result: Ok(plan_for(&other)),
        request: other,
    });
    assert!(matches!(plan_state(&app), Loadable::Loading));
    app.on_data(DataEvent::Planned {
        result: Ok(plan_for(&request)),
        request: request.clone(),
    });
    assert!(matches!(plan_state(&app), Loadable::Loaded(p) if p.to == "stage"));

    let effects = app.on_key(key('y'));
    let [Effect::StartPromotion {
        job,
        request: started,
    }] = effects.as_slice()
    else {
        panic!("expected StartPromotion, got {effects:?}");
    };
    assert_eq!(*started, request);
    assert!(app.dialog.is_none());
    assert_eq!(app.screen, Screen::Promotions);
    assert_eq!(app.promotions.jobs.len(), 1);
    assert_eq!(app.promotions.jobs[0].id, *job);
    assert_eq!(app.promotions.jobs[0].state, JobState::Running);
    assert!(app.promotions.jobs[0].plan.is_some());
    assert_eq!(app.job_rows()[0].id, *job, "the new job is selected");
}

#[test]
fn enter_also_confirms_and_esc_cancels_without_effects() {
    let mut app = images_app();
    let request = plan_request(&app.on_key(key('p')));
    app.on_data(DataEvent::Planned {
        result: Ok(plan_for(&request)),
        request,
    });
    assert_eq!(app.on_key(special(Key::Esc)), vec![]);
    assert!(app.dialog.is_none());
    assert!(app.promotions.jobs.is_empty());
    assert_eq!(app.screen, Screen::Images);

    let request = plan_request(&app.on_key(key('p')));
    app.on_data(DataEvent::Planned {
        result: Ok(plan_for(&request)),
        request,
    });
    assert_eq!(app.on_key(key('n')), vec![], "n cancels too");
    assert!(app.dialog.is_none() && app.promotions.jobs.is_empty());

    let request = plan_request(&app.on_key(key('p')));
    app.on_data(DataEvent::Planned {
        result: Ok(plan_for(&request)),
        request,
    });
    assert!(matches!(
        app.on_key(special(Key::Enter)).as_slice(),
        [Effect::StartPromotion { .. }]
    ));
}

#[test]
fn a_refused_or_failed_plan_cannot_be_confirmed() {
    let mut app = images_app();
    let request = plan_request(&app.on_key(key('p')));
    app.on_data(DataEvent::Planned {
        result: Ok(refused_plan_for(&request)),
        request,
    });
    assert_eq!(app.on_key(key('y')), vec![]);
    assert_eq!(app.on_key(special(Key::Enter)), vec![]);
    assert!(app.promotions.jobs.is_empty());
    assert!(app.dialog.is_some(), "the refusal stays on screen");
    app.on_key(special(Key::Esc));

    let request = plan_request(&app.on_key(key('p')));
    app.on_data(DataEvent::Planned {
        result: Err("registry.stage.example.com: 401 Unauthorized".into()),
        request,
    });
    assert_eq!(app.on_key(key('y')), vec![]);
    assert!(app.promotions.jobs.is_empty());
}

#[test]
fn tab_in_the_dialog_replans_for_the_next_target() {
    // qa is promoted from dev too: dev's images have two targets.
    let text = CONFIG.replace(
        "[[service]]\nname = \"payment-svc\"",
        "[[environment]]\nname = \"qa\"\nregistry = \"registry.qa.example.com\"\nfrom = \"dev\"\n\n[[service]]\nname = \"payment-svc\"",
    );
    let mut app = App::new(&config_from(&text), false, now());
    let effects = app.start();
    answer(&mut app, effects);
    let effects = app.on_key(special(Key::Enter));
    answer(&mut app, effects);
    let first = plan_request(&app.on_key(key('p')));
    assert_eq!(first.to, "stage");
    let second = plan_request(&app.on_key(special(Key::Tab)));
    assert_eq!(second.to, "qa");
    assert_eq!(second.selector, first.selector);
    // The stage plan arriving late does not fill the qa dialog.
    app.on_data(DataEvent::Planned {
        result: Ok(plan_for(&first)),
        request: first,
    });
    assert!(matches!(plan_state(&app), Loadable::Loading));
    let third = plan_request(&app.on_key(special(Key::Tab)));
    assert_eq!(third.to, "stage");
}

#[test]
fn promote_from_environments_takes_what_the_source_runs() {
    let mut app = loaded_app('4');
    app.on_key(special(Key::Right));
    let request = plan_request(&app.on_key(key('p')));
    assert_eq!(
        request,
        PromotionRequest {
            selector: tag_selector("payment-svc", &tag_of(0)),
            from: "dev".into(),
            to: "stage".into(),
        }
    );
    app.on_key(special(Key::Esc));
    // dev is promoted from nowhere.
    app.on_key(special(Key::Left));
    assert_eq!(app.on_key(key('p')), vec![]);
    assert!(warning(&app).contains("dev"));
    assert!(app.dialog.is_none());
}

#[test]
fn promote_from_commits_starts_where_the_commit_got_furthest() {
    let mut app = loaded_app('1');
    app.on_key(key('j'));
    app.on_key(key('j'));
    let request = plan_request(&app.on_key(key('p')));
    assert_eq!(
        request,
        PromotionRequest {
            selector: ImageSelector::Commit {
                service: "payment-svc".into(),
                sha: COMMITS[2].0.into(),
            },
            from: "stage".into(),
            to: "prod".into(),
        }
    );
}

// ---- jobs -----------------------------------------------------------------------------

#[test]
fn engine_events_update_the_job() {
    let mut app = images_app();
    let job = promote_with(&mut app, plan_for);
    let progress = Progress {
        step: Step::CopyingBlobs,
        bytes_done: 10,
        bytes_total: 100,
        blobs_done: 1,
        blobs_total: 3,
    };
    assert_eq!(
        app.on_engine(event(job, EventKind::Progress(progress))),
        vec![]
    );
    assert_eq!(app.promotions.jobs[0].progress, Some(progress));
    // Another job's events change nothing here.
    app.on_engine(event(
        JobId(7),
        EventKind::Finished {
            summary: "other".into(),
        },
    ));
    assert_eq!(app.promotions.jobs[0].state, JobState::Running);

    app.on_engine(event(
        job,
        EventKind::Finished {
            summary: "promoted payment-svc:sha-c4e1f0a dev -> stage".into(),
        },
    ));
    assert_eq!(app.promotions.jobs[0].state, JobState::Done);
    assert_eq!(
        app.promotions.jobs[0].outcome.as_deref(),
        Some("promoted payment-svc:sha-c4e1f0a dev -> stage")
    );
    // What the target holds changed: it is read again when shown.
    assert!(matches!(app.environments.status, Loadable::Idle));
    assert_eq!(app.on_key(key('4')), vec![Effect::LoadStatus]);
}

#[test]
fn failed_jobs_are_failed_or_refused_by_exit_code() {
    let mut app = images_app();
    let failed = promote_with(&mut app, plan_for);
    app.on_key(key('3'));
    let refused = promote_with(&mut app, plan_for);
    app.on_engine(event(
        failed,
        EventKind::Failed {
            reason: "registry.stage.example.com: 502 Bad Gateway".into(),
            exit_code: 1,
        },
    ));
    app.on_engine(event(
        refused,
        EventKind::Failed {
            reason: "refused: outside the deploy window".into(),
            exit_code: 3,
        },
    ));
    let state = |id: JobId| {
        app.promotions
            .jobs
            .iter()
            .find(|j| j.id == id)
            .map(|j| j.state)
    };
    assert_eq!(state(failed), Some(JobState::Failed));
    assert_eq!(state(refused), Some(JobState::Refused));
    assert_eq!(
        app.promotions
            .jobs
            .iter()
            .find(|j| j.id == refused)
            .and_then(|j| j.outcome.as_deref()),
        Some("refused: outside the deploy window")
    );
}

#[test]
fn x_cancels_the_selected_running_job_only() {
    let mut app = images_app();
    let first = promote_with(&mut app, plan_for);
    app.on_key(key('3'));
    app.on_key(key('j'));
    let second = promote_with(&mut app, plan_for);
    assert_ne!(first, second);
    // Newest first: the second is selected.
    assert_eq!(app.on_key(key('x')), vec![Effect::CancelJob(second)]);
    app.on_cancelled(second);
    let state = |app: &App, id: JobId| {
        app.promotions
            .jobs
            .iter()
            .find(|j| j.id == id)
            .map(|j| j.state)
    };
    assert_eq!(state(&app, second), Some(JobState::Cancelled));
    assert_eq!(state(&app, first), Some(JobState::Running));
    // A job that is not running is not cancelled again.
    assert_eq!(app.on_key(key('x')), vec![]);
    app.on_key(key('j'));
    assert_eq!(app.on_key(key('x')), vec![Effect::CancelJob(first)]);
}

#[test]
fn enter_on_a_promotion_opens_its_details() {
    let mut app = images_app();
    let job = promote_with(&mut app, plan_for);
    app.on_key(special(Key::Enter));
    assert!(matches!(app.dialog, Some(Dialog::Job(id)) if id == job));
    app.on_key(special(Key::Esc));
    assert!(app.dialog.is_none());
    assert_eq!(app.screen, Screen::Promotions);
}

// ---- rollback ----------------------------------------------------------------------

#[test]
fn rollback_after_a_promotion_that_moved_the_tag() {
    let mut app = images_app();
    let effects = app.on_key(key('e'));
    answer(&mut app, effects);
    // sha-7a1c9e0 from stage to prod moves `prod` off sha-3f9a2c1.
    let job = promote_with(&mut app, plan_for);
    // Not before it finished.
    app.on_key(key('b'));
    assert!(app.dialog.is_none());
    app.on_engine(event(
        job,
        EventKind::Finished {
            summary: "promoted".into(),
        },
    ));
    assert_eq!(app.on_key(key('b')), vec![]);
    match &app.dialog {
        Some(Dialog::Rollback(RollbackDialog {
            service,
            env,
            current,
            to,
        })) => {
            assert_eq!((service.as_str(), env.as_str()), ("payment-svc", "prod"));
            assert_eq!(
                current.clone(),
                Some((tag_of(2), image_digest("payment-svc", 2)))
            );
            assert_eq!(to.clone(), (tag_of(3), image_digest("payment-svc", 3)));
        }
        other => panic!("expected the rollback dialog, got {other:?}"),
    }
    assert_eq!(
        app.on_key(key('y')),
        vec![Effect::Rollback {
            service: "payment-svc".into(),
            env: "prod".into(),
            to: image_digest("payment-svc", 3),
        }]
    );
    assert!(app.dialog.is_none());
    app.on_data(DataEvent::RolledBack {
        service: "payment-svc".into(),
        env: "prod".into(),
        result: Ok("prod -> sha-3f9a2c1".into()),
    });
    assert!(matches!(&app.ctx.message, Some((Level::Info, m)) if m == "prod -> sha-3f9a2c1"));
}

#[test]
fn rollback_from_environments_uses_the_loaded_images_or_says_what_is_missing() {
    let mut app = loaded_app('4');
    app.on_key(special(Key::Right));
    // Nothing known about stage's earlier images yet.
    assert_eq!(app.on_key(key('b')), vec![]);
    assert!(app.dialog.is_none());
    assert!(warning(&app).contains("open Images for stage"));

    let effects = app.on_key(special(Key::Enter));
    answer(&mut app, effects);
    app.on_key(key('4'));
    app.on_key(key('b'));
    match &app.dialog {
        Some(Dialog::Rollback(RollbackDialog { current, to, .. })) => {
            assert_eq!(current.as_ref().map(|c| c.0.clone()), Some(tag_of(2)));
            assert_eq!(to.0, tag_of(3));
        }
        other => panic!("expected the rollback dialog, got {other:?}"),
    }
    assert_eq!(app.on_key(special(Key::Esc)), vec![]);
    assert!(app.dialog.is_none());
}

// ---- release ---------------------------------------------------------------------

#[test]
fn release_dialog_takes_a_version_and_force_then_cuts_once() {
    let mut app = loaded_app('1');
    app.on_key(key('j'));
    app.on_key(key('j'));
    assert_eq!(app.on_key(key('c')), vec![]);
    type_keys(&mut app, "v1.9.0x");
    app.on_key(special(Key::Backspace));
    app.on_key(key('0'));
    app.on_key(special(Key::Tab));
    match &app.dialog {
        Some(Dialog::Release(ReleaseDialog {
            commit,
            version,
            force,
            ..
        })) => {
            assert_eq!(commit, COMMITS[2].0);
            assert_eq!(version, "1.9.0", "only digits and dots are typed");
            assert!(*force);
        }
        other => panic!("expected the release dialog, got {other:?}"),
    }
    let effects = app.on_key(special(Key::Enter));
    assert_eq!(
        effects,
        vec![Effect::CutRelease {
            commit: COMMITS[2].0.into(),
            version: Some("1.9.0".into()),
            force: true,
        }]
    );
    assert_eq!(app.on_key(special(Key::Enter)), vec![], "cut once");
    app.on_data(DataEvent::BranchCut(Ok(cut_outcome("1.9.0"))));
    assert_eq!(
        app.on_key(special(Key::Enter)),
        vec![Effect::LoadCommits, Effect::LoadBranches]
    );
    assert!(app.dialog.is_none());
}

#[test]
fn release_without_a_version_lets_gantry_choose_and_esc_cancels() {
    let mut app = loaded_app('1');
    app.on_key(key('c'));
    app.on_key(special(Key::Tab));
    app.on_key(special(Key::Tab));
    assert_eq!(
        app.on_key(special(Key::Enter)),
        vec![Effect::CutRelease {
            commit: COMMITS[0].0.into(),
            version: None,
            force: false,
        }]
    );
    app.on_data(DataEvent::BranchCut(Err("release/v1.9.0 exists".into())));
    assert_eq!(app.on_key(special(Key::Esc)), vec![], "nothing to reload");
    assert!(app.dialog.is_none());

    app.on_key(key('c'));
    assert_eq!(app.on_key(special(Key::Esc)), vec![]);
    assert!(app.dialog.is_none());
}

// ---- audit -------------------------------------------------------------------------

/// The fixture ledger, loaded, on the Audit screen.
fn audit_app() -> App {
    let mut app = loaded_app('4');
    let effects = app.on_key(key('7'));
    assert_eq!(app.screen, Screen::Audit);
    assert_eq!(effects, vec![Effect::LoadAudit]);
    assert!(matches!(app.audit.ledger, Loadable::Loading));
    answer(&mut app, effects);
    app
}

fn audit_kinds(app: &App) -> Vec<String> {
    app.audit_rows()
        .iter()
        .map(|r| format!("{} {}", r.seq, r.kind))
        .collect()
}

#[test]
fn audit_tab_loads_the_ledger_once_and_reload_asks_again() {
    let mut app = audit_app();
    assert!(matches!(&app.audit.ledger, Loadable::Loaded(view) if view.records.len() == 6));
    // A second visit keeps what was read; ctrl-r and R read the ledger again.
    app.on_key(key('4'));
    assert_eq!(app.on_key(key('7')), vec![]);
    assert_eq!(app.on_key(KeyChord::ctrl('r')), vec![Effect::LoadAudit]);
    assert!(matches!(app.audit.ledger, Loadable::Loading));
    answer(&mut app, vec![Effect::LoadAudit]);
    assert_eq!(app.on_key(key('R')), vec![Effect::LoadAudit]);
    // The palette knows the screen by name.
    let mut app = loaded_app('4');
    type_keys(&mut app, ":audit");
    assert_eq!(app.on_key(special(Key::Enter)), vec![Effect::LoadAudit]);
    assert_eq!(app.screen, Screen::Audit);
}

#[test]
fn audit_lists_every_record_newest_first_and_moves_over_them() {
    let mut app = audit_app();
    assert_eq!(
        audit_kinds(&app),
        [
            "6 rollback",
            "5 promotion",
            "4 promotion",
            "3 approval",
            "2 approval",
            "1 request"
        ]
    );
    app.on_key(key('G'));
    assert_eq!(app.ctx.list(Screen::Audit).selected, 5);
    app.on_key(key('k'));
    assert_eq!(app.ctx.list(Screen::Audit).selected, 4);
}

#[test]
fn audit_filter_narrows_to_matching_records_and_esc_restores_them() {
    let mut app = audit_app();
    app.on_key(key('G'));
    type_keys(&mut app, "/tom@");
    assert_eq!(audit_kinds(&app), ["6 rollback", "2 approval"]);
    assert_eq!(
        app.ctx.list(Screen::Audit).selected,
        0,
        "a new filter starts at the top"
    );
    app.on_key(special(Key::Esc));
    assert_eq!(app.audit_rows().len(), 6);

    // The request id finds the request and everything that refers to it.
    let request = app.audit_rows()[5].id.clone();
    type_keys(&mut app, &format!("/{request}"));
    assert_eq!(
        audit_kinds(&app),
        ["4 promotion", "3 approval", "2 approval", "1 request"]
    );
    // A route is matched on both of its ends.
    app.on_key(special(Key::Esc));
    type_keys(&mut app, "/ledger-api");
    assert_eq!(audit_kinds(&app), ["5 promotion"]);
}

#[test]
fn audit_error_is_shown_kept_whole_and_retried_on_the_next_visit() {
    let mut app = loaded_app('4');
    app.on_key(key('7'));
    let reason = "the ledger is off: no [ledger] section in /srv/gantry/gantry.toml";
    app.on_data(DataEvent::Audit(Err(reason.into())));
    assert!(matches!(&app.audit.ledger, Loadable::Failed(r) if r == reason));
    assert!(app.audit_rows().is_empty());
    app.on_key(key('j'));
    assert_eq!(app.ctx.list(Screen::Audit).selected, 0);
    app.on_key(key('4'));
    assert_eq!(app.on_key(key('7')), vec![Effect::LoadAudit]);
}

#[test]
fn what_the_console_records_makes_the_audit_reload() {
    let mut app = audit_app();
    // A rollback writes a record: the ledger is read again when it is shown.
    let effects = app.on_data(DataEvent::RolledBack {
        service: "payment-svc".into(),
        env: "prod".into(),
        result: Ok("rolled back".into()),
    });
    assert_eq!(effects, vec![Effect::LoadAudit]);
    answer(&mut app, effects);
    app.on_key(key('4'));
    let effects = app.on_data(DataEvent::Approved(Ok("approved".into())));
    assert!(!effects.contains(&Effect::LoadAudit), "{effects:?}");
    assert!(matches!(app.audit.ledger, Loadable::Idle));
    assert_eq!(app.on_key(key('7')), vec![Effect::LoadAudit]);
}

// ---- retention ---------------------------------------------------------------------

fn retention_effect(service: &str, env: &str) -> Effect {
    Effect::LoadRetention {
        service: service.into(),
        env: env.into(),
    }
}

/// payment-svc's clean-up plan in dev, loaded, on the Retention screen.
fn retention_app() -> App {
    let mut app = loaded_app('4');
    let effects = app.on_key(key('6'));
    assert_eq!(effects, vec![retention_effect("payment-svc", "dev")]);
    answer(&mut app, effects);
    assert_eq!(app.screen, Screen::Retention);
    app
}

fn cleanup_state(
    app: &App,
) -> (
    &Option<JobId>,
    usize,
    &Loadable<gantry::retention::RetentionOutcome>,
) {
    match &app.dialog {
        Some(Dialog::CleanUp(CleanUpDialog {
            job,
            deleted,
            outcome,
            ..
        })) => (job, *deleted, outcome),
        other => panic!("expected the clean-up dialog, got {other:?}"),
    }
}

#[test]
fn retention_lists_deletions_first_then_what_stays_with_its_rule() {
    let app = retention_app();
    let plan = retention_plan("payment-svc", "dev");
    let rows = app.retention_rows();
    assert_eq!(
        rows.len(),
        plan.delete.len() + plan.orphan_signatures.len() + plan.keep.len()
    );
    let kinds: Vec<&str> = rows
        .iter()
        .map(|r| match r {
            RetentionRow::Delete(_) => "delete",
            RetentionRow::Orphan(_) => "orphan",
            RetentionRow::Keep(_) => "keep",
        })
        .collect();
    assert_eq!(
        kinds,
        ["delete", "delete", "delete", "orphan", "keep", "keep", "keep", "keep", "keep"]
    );
    match rows[0] {
        RetentionRow::Delete(image) => assert_eq!(image.tags, ["sha-1a2b3c4"]),
        other => panic!("{other:?}"),
    }
    // The selection moves over every row, and no further.
    let mut app = app;
    app.on_key(key('G'));
    assert_eq!(app.ctx.list(Screen::Retention).selected, rows_len(&app) - 1);
}

fn rows_len(app: &App) -> usize {
    app.retention_rows().len()
}

#[test]
fn retention_filter_narrows_to_matching_rows() {
    let mut app = retention_app();
    type_keys(&mut app, "/runs");
    app.on_key(special(Key::Enter));
    let tags: Vec<String> = app
        .retention_rows()
        .iter()
        .map(|r| match r {
            RetentionRow::Keep(i) | RetentionRow::Delete(i) => i.tags.join(","),
            RetentionRow::Orphan(s) => s.tag.clone(),
        })
        .collect();
    assert_eq!(
        tags,
        [tag_of(2), tag_of(3)],
        "the images stage and prod run"
    );
}

#[test]
fn cleanup_asks_then_deletes_the_plan_it_showed_and_reports() {
    let mut app = retention_app();
    let plan = retention_plan("payment-svc", "dev");
    // Asked first; cancelling does nothing.
    assert_eq!(app.on_key(key('d')), vec![]);
    assert!(matches!(cleanup_state(&app).2, Loadable::Idle));
    assert_eq!(app.on_key(key('n')), vec![]);
    assert!(app.dialog.is_none());

    app.on_key(key('d'));
    let job = match app.on_key(key('y')).as_slice() {
        [Effect::CleanUp { job, plan: sent }] => {
            assert_eq!(*sent, plan, "the plan shown is the plan carried out");
            *job
        }
        other => panic!("expected one CleanUp, got {other:?}"),
    };
    assert_eq!(cleanup_state(&app).0, &Some(job));
    // While it runs, neither a second yes nor escape does anything.
    assert_eq!(app.on_key(key('y')), vec![]);
    assert_eq!(app.on_key(special(Key::Esc)), vec![]);
    assert!(app.dialog.is_some());

    // Progress counts this job's deletions only; a log line that reads like one is not.
    app.on_engine(EngineEvent {
        job,
        kind: EventKind::Deleted {
            image: "payment-svc:sha-5c6d7e8 (sha256:1)".into(),
        },
    });
    app.on_engine(EngineEvent {
        job,
        kind: EventKind::Log {
            message: "deleted nothing: a note".into(),
        },
    });
    app.on_engine(EngineEvent {
        job: JobId(job.0 + 1),
        kind: EventKind::Deleted {
            image: "something else".into(),
        },
    });
    assert_eq!(cleanup_state(&app).1, 1);

    // An answer for another job is not this one's.
    app.on_data(DataEvent::CleanedUp {
        job: JobId(job.0 + 1),
        result: Err("other".into()),
    });
    assert!(matches!(cleanup_state(&app).2, Loadable::Loading));
    app.on_data(DataEvent::CleanedUp {
        job,
        result: Ok(cleanup_outcome(&plan)),
    });
    assert!(matches!(cleanup_state(&app).2, Loadable::Loaded(o) if o.deleted.len() == 3));

    // Closing reloads the plan (and forgets the images it listed).
    app.images.listings.insert(
        ("payment-svc".into(), "dev".into()),
        Loadable::Loaded(images("payment-svc", "dev")),
    );
    let effects = app.on_key(special(Key::Enter));
    assert!(app.dialog.is_none());
    assert_eq!(effects, vec![retention_effect("payment-svc", "dev")]);
    assert!(!app
        .images
        .listings
        .contains_key(&("payment-svc".to_string(), "dev".to_string())));
    assert!(matches!(app.environments.status, Loadable::Idle));
}

#[test]
fn cleanup_refused_before_anything_runs_is_reported_and_closes() {
    let mut app = retention_app();
    app.on_key(key('d'));
    let job = match app.on_key(special(Key::Enter)).as_slice() {
        [Effect::CleanUp { job, .. }] => *job,
        other => panic!("expected one CleanUp, got {other:?}"),
    };
    app.on_data(DataEvent::CleanedUp {
        job,
        result: Err("refused: another gantry is writing this repository".into()),
    });
    assert!(matches!(cleanup_state(&app).2, Loadable::Failed(e) if e.contains("another gantry")));
    app.on_key(special(Key::Esc));
    assert!(app.dialog.is_none());
}

#[test]
fn retention_without_a_policy_loads_nothing_and_offers_nothing_to_delete() {
    let mut app = retention_app();
    // stage has no [environment.retention].
    let effects = app.on_key(key('e'));
    assert_eq!(effects, vec![]);
    assert_eq!(
        app.ctx.environment().map(|e| e.name.as_str()),
        Some("stage")
    );
    assert!(app.retention_rows().is_empty());
    assert_eq!(app.on_key(key('d')), vec![]);
    assert!(app.dialog.is_none());
    assert!(warning(&app).contains("no plan"), "{:?}", app.ctx.message);
    // Back to dev: the plan is still there, nothing reloads.
    assert_eq!(app.on_key(key('E')), vec![]);
    assert_eq!(rows_len(&app), 9);
}

#[test]
fn retention_follows_the_service_and_says_when_nothing_would_go() {
    let mut app = retention_app();
    let effects = app.on_key(key(']'));
    assert_eq!(effects, vec![retention_effect("ledger-api", "dev")]);
    answer(&mut app, effects);
    assert_eq!(app.on_key(key('d')), vec![]);
    assert!(app.dialog.is_none());
    match &app.ctx.message {
        Some((Level::Info, text)) => assert!(text.starts_with("nothing to delete"), "{text}"),
        other => panic!("expected an info message, got {other:?}"),
    }
}

#[test]
fn retention_plan_notes_show_before_anyone_confirms() {
    let mut app = loaded_app('4');
    let effects = app.on_key(key('6'));
    assert_eq!(effects, vec![retention_effect("payment-svc", "dev")]);
    let mut plan = retention_plan("payment-svc", "dev");
    plan.notes
        .push("the git repository could not be read: images ordered by created time".into());
    app.on_data(DataEvent::Retention {
        service: "payment-svc".into(),
        env: "dev".into(),
        result: Ok(plan),
    });
    assert!(warning(&app).contains("ordered by created time"));
}

#[test]
fn palette_gc_opens_retention() {
    let mut app = loaded_app('4');
    type_keys(&mut app, ":gc");
    let effects = app.on_key(special(Key::Enter));
    assert_eq!(app.screen, Screen::Retention);
    assert_eq!(effects, vec![retention_effect("payment-svc", "dev")]);
}

// ---- deploy ------------------------------------------------------------------------

fn deploy_effect(env: &str, dry_run: bool) -> Effect {
    Effect::Deploy {
        service: "payment-svc".into(),
        env: env.into(),
        dry_run,
    }
}

fn deploy_answer(
    app: &mut App,
    env: &str,
    dry_run: bool,
    result: Result<gantry::engine::deploy::DeployReport, String>,
) {
    app.on_data(DataEvent::Deployed {
        service: "payment-svc".into(),
        env: env.into(),
        dry_run,
        result,
    });
}

#[test]
fn deploy_shows_the_change_then_deploys_on_yes_and_reloads_the_matrix() {
    let mut app = loaded_app('4');
    app.on_key(special(Key::Right));
    // The change first: a dry run.
    assert_eq!(app.on_key(key('D')), vec![deploy_effect("stage", true)]);
    // Nothing to confirm until the change is known.
    assert_eq!(app.on_key(key('y')), vec![]);
    deploy_answer(
        &mut app,
        "stage",
        true,
        Ok(deploy_report("payment-svc", "stage", true)),
    );
    assert_eq!(app.on_key(key('y')), vec![deploy_effect("stage", false)]);
    // Running: no second deploy, no escape.
    assert_eq!(app.on_key(key('y')), vec![]);
    assert_eq!(app.on_key(special(Key::Esc)), vec![]);
    assert!(app.dialog.is_some());
    // An answer about another environment is not this one's.
    deploy_answer(&mut app, "prod", false, Err("other".into()));
    match &app.dialog {
        Some(Dialog::Deploy(DeployDialog { outcome, .. })) => {
            assert!(matches!(outcome, Loadable::Loading))
        }
        other => panic!("expected the deploy dialog, got {other:?}"),
    }
    deploy_answer(
        &mut app,
        "stage",
        false,
        Ok(deploy_report("payment-svc", "stage", false)),
    );
    match &app.dialog {
        Some(Dialog::Deploy(DeployDialog {
            outcome: Loadable::Loaded(report),
            ..
        })) => {
            assert!(!report.outcome.dry_run)
        }
        other => panic!("expected a deploy result, got {other:?}"),
    }
    assert_eq!(app.on_key(special(Key::Enter)), vec![Effect::LoadStatus]);
    assert!(app.dialog.is_none());
}

#[test]
fn deploy_that_would_fail_is_shown_and_never_carried_out() {
    let mut app = loaded_app('4');
    app.on_key(special(Key::Right));
    app.on_key(key('D'));
    let mut report = deploy_report("payment-svc", "stage", true);
    report.outcome.state = gantry::deploy::DeployState::Failed;
    report.outcome.reason = Some("stage/payment-svc/kustomization.yaml has no images entry".into());
    deploy_answer(&mut app, "stage", true, Ok(report));
    assert_eq!(app.on_key(key('y')), vec![]);
    assert_eq!(app.on_key(special(Key::Enter)), vec![]);
    app.on_key(special(Key::Esc));
    assert!(app.dialog.is_none());
}

#[test]
fn deploy_is_refused_where_no_deploy_step_is_configured() {
    let mut app = loaded_app('4');
    // dev: no [environment.deploy].
    assert_eq!(app.on_key(key('D')), vec![]);
    assert!(app.dialog.is_none());
    assert!(
        warning(&app).contains("no [environment.deploy]"),
        "{:?}",
        app.ctx.message
    );
    // The key means nothing on other screens.
    let mut images = images_app();
    assert_eq!(images.on_key(key('D')), vec![]);
    assert!(images.dialog.is_none());
}

#[test]
fn deploy_can_be_cancelled_while_the_change_is_read() {
    let mut app = loaded_app('4');
    app.on_key(special(Key::Right));
    app.on_key(key('D'));
    assert_eq!(app.on_key(key('n')), vec![]);
    assert!(app.dialog.is_none());
    // A late answer for a closed dialog changes nothing.
    deploy_answer(
        &mut app,
        "stage",
        true,
        Ok(deploy_report("payment-svc", "stage", true)),
    );
    assert!(app.dialog.is_none());
}

// ---- read-only ---------------------------------------------------------------------

#[test]
fn readonly_refuses_every_change_with_a_warning_and_no_effect() {
    let mut app = readonly_app();
    let effects = app.start();
    answer(&mut app, effects);
    app.on_key(special(Key::Right));
    for (screen_key, action_key) in [
        ('4', 'p'),
        ('4', 'b'),
        ('3', 'p'),
        ('1', 'c'),
        ('1', 'p'),
        ('5', 'x'),
        ('2', 'h'),
        ('6', 'd'),
        ('4', 'D'),
        ('5', 'a'),
    ] {
        let effects = app.on_key(key(screen_key));
        answer(&mut app, effects);
        app.ctx.message = None;
        assert_eq!(
            app.on_key(key(action_key)),
            vec![],
            "{screen_key} {action_key}"
        );
        assert!(app.dialog.is_none(), "{screen_key} {action_key}");
        assert!(
            warning(&app).starts_with("read-only:"),
            "{screen_key} {action_key}"
        );
    }
    assert!(app.promotions.jobs.is_empty());
}

#[test]
fn readonly_from_the_config_and_help_hides_what_writes() {
    let text = format!("{CONFIG}\n[ui]\nreadonly = true\n");
    let app = App::new(&config_from(&text), false, now());
    assert!(app.ctx.readonly);
    for screen in Screen::ALL {
        let shown: Vec<Action> = app
            .ctx
            .keymap
            .bindings_for(screen)
            .into_iter()
            .filter(|b| app.ctx.allowed(b.action))
            .map(|b| b.action)
            .collect();
        assert!(shown.iter().all(|a| !a.mutates()), "{screen:?}: {shown:?}");
        assert!(shown.contains(&Action::Quit));
    }
    let writable = console_fixture::app();
    let images: Vec<Action> = writable
        .ctx
        .keymap
        .bindings_for(Screen::Images)
        .into_iter()
        .filter(|b| writable.ctx.allowed(b.action))
        .map(|b| b.action)
        .collect();
    assert!(images.contains(&Action::Promote));
}

// ---- keys from the config ------------------------------------------------------------

#[test]
fn keys_rebound_in_the_config_take_effect() {
    let text = format!(
        "{CONFIG}\n[keys]\nquit = \"Q\"\ndown = [\"n\", \"down\"]\n\n[keys.images]\npromote = \"P\"\n"
    );
    let mut app = App::new(&config_from(&text), false, now());
    let effects = app.start();
    answer(&mut app, effects);
    assert_eq!(app.on_key(key('q')), vec![], "q is no longer quit");
    assert!(!app.quit);
    app.on_key(key('n'));
    assert_eq!(app.ctx.list(Screen::Environments).selected, 1);
    app.on_key(key('j'));
    assert_eq!(
        app.ctx.list(Screen::Environments).selected,
        1,
        "j is no longer down"
    );

    let effects = app.on_key(special(Key::Enter));
    answer(&mut app, effects);
    assert_eq!(app.on_key(key('p')), vec![]);
    assert!(app.dialog.is_none());
    let request = plan_request(&app.on_key(key('P')));
    assert_eq!(request.selector.service(), "ledger-api");
    app.on_key(special(Key::Esc));
    assert_eq!(app.on_key(key('Q')), vec![Effect::Quit]);
}

#[test]
fn environments_filter_narrows_services_and_enter_follows_the_filtered_row() {
    let mut app = loaded_app('4');
    assert_eq!(app.row_count(Screen::Environments), 3);
    type_keys(&mut app, "/ledger");
    app.on_key(special(Key::Enter));
    assert_eq!(app.service_rows(), ["ledger-api"]);
    assert_eq!(app.row_count(Screen::Environments), 1);
    // The one visible row is ledger-api, whatever its position in the configuration.
    let effects = app.on_key(special(Key::Enter));
    assert_eq!(effects, vec![images_effect("ledger-api", "dev")]);
    assert_eq!(app.ctx.service(), Some("ledger-api"));
}

#[test]
fn ctrl_c_quits_even_from_a_dialog_or_a_filter() {
    let mut app = images_app();
    app.on_key(key('p'));
    assert!(app.dialog.is_some());
    assert_eq!(app.on_key(KeyChord::ctrl('c')), vec![Effect::Quit]);
    assert!(app.quit);

    let mut app = images_app();
    app.on_key(key('/'));
    assert!(app.input.is_some());
    assert_eq!(app.on_key(KeyChord::ctrl('c')), vec![Effect::Quit]);
}

#[test]
fn loaded_images_ask_for_their_attachments_and_signatures_and_keep_the_answers() {
    use gantry::tui::app::SigMark;
    let mut app = loaded_app('4');
    let effects = app.on_key(special(Key::Enter));
    assert_eq!(effects, vec![images_effect("payment-svc", "dev")]);
    let listing = images("payment-svc", "dev");
    let first = listing.images[0].digest.clone();
    let count = listing.images.len();
    let effects = app.on_data(DataEvent::Images {
        service: "payment-svc".into(),
        env: "dev".into(),
        result: Ok(listing),
    });
    match effects.as_slice() {
        [Effect::LoadAttached {
            digests: attached, ..
        }, Effect::LoadSignatures {
            service,
            env,
            digests,
        }] => {
            assert_eq!((service.as_str(), env.as_str()), ("payment-svc", "dev"));
            assert_eq!(digests.len(), count);
            assert!(digests.contains(&first));
            assert_eq!(attached, digests);
        }
        other => panic!("expected LoadAttached and LoadSignatures, got {other:?}"),
    }
    app.on_data(DataEvent::Signature {
        service: "payment-svc".into(),
        env: "dev".into(),
        digest: first.clone(),
        mark: SigMark::Signed,
    });
    let key = ("payment-svc".to_string(), "dev".to_string(), first);
    assert_eq!(app.images.signatures.get(&key), Some(&SigMark::Signed));
}

#[test]
fn palette_approves_a_request_and_reloads_the_waiting_list() {
    let mut app = loaded_app('5');
    assert!(matches!(app.promotions.requests, Loadable::Loading));
    app.on_data(DataEvent::Requests(Ok(pending_requests())));
    assert!(matches!(&app.promotions.requests, Loadable::Loaded(r) if r.len() == 2));
    let effects = type_keys(&mut app, ":approve 3f9a2c1b7e4d");
    assert!(effects.is_empty());
    assert_eq!(
        app.on_key(special(Key::Enter)),
        vec![Effect::Approve("3f9a2c1b7e4d".into())]
    );
    let effects = app.on_data(DataEvent::Approved(Ok("approved 3f9a2c1b7e4d: 1/2".into())));
    assert_eq!(effects, vec![Effect::LoadRequests]);
    assert!(matches!(&app.ctx.message, Some((Level::Info, text)) if text.contains("1/2")));

    // Read-only: refused, nothing sent.
    let mut app = readonly_app();
    type_keys(&mut app, ":approve 3f9a2c1b7e4d");
    assert!(app.on_key(special(Key::Enter)).is_empty());
    assert_eq!(warning(&app), "read-only: approving is disabled");
}

// ---- approving from the Promotions screen ------------------------------------------

fn approve_dialog(app: &App) -> &RequestRow {
    match &app.dialog {
        Some(Dialog::Approve(request)) => request,
        other => panic!("expected the approval dialog, got {other:?}"),
    }
}

fn selected_request_id(app: &App) -> Option<String> {
    app.selected_request().map(|r| r.id.clone())
}

#[test]
fn requests_are_the_first_rows_and_a_asks_before_approving_the_selected_one() {
    let mut app = promotions_with_requests();
    assert_eq!(app.promotion_rows().len(), 2);
    assert_eq!(selected_request_id(&app).as_deref(), Some("3f9a2c1b7e4d"));
    app.on_key(key('j'));
    assert_eq!(selected_request_id(&app).as_deref(), Some("9b0e4d7a21c5"));

    // The dialog names the request it approves; nothing is recorded yet.
    assert_eq!(app.on_key(key('a')), vec![]);
    assert_eq!(approve_dialog(&app), &pending_requests()[1]);
    // Keys that mean something elsewhere do nothing here.
    assert_eq!(app.on_key(key('j')), vec![]);
    assert_eq!(app.on_key(key('x')), vec![]);
    assert_eq!(approve_dialog(&app).id, "9b0e4d7a21c5");

    assert_eq!(
        app.on_key(key('y')),
        vec![Effect::Approve("9b0e4d7a21c5".into())]
    );
    assert!(app.dialog.is_none());
    assert!(matches!(&app.ctx.message, Some((Level::Info, text)) if text.contains("9b0e4d7a21c5")));
    // The result is said and the list reloads, as with `:approve`.
    let effects = app.on_data(DataEvent::Approved(Ok(
        "approved 9b0e4d7a21c5 (ledger-api:sha-… → stage): 2/1".into(),
    )));
    assert_eq!(effects, vec![Effect::LoadRequests]);
    assert!(matches!(&app.ctx.message, Some((Level::Info, text)) if text.starts_with("approved")));
}

#[test]
fn enter_also_approves_from_the_dialog() {
    let mut app = promotions_with_requests();
    app.on_key(key('a'));
    assert_eq!(
        app.on_key(special(Key::Enter)),
        vec![Effect::Approve("3f9a2c1b7e4d".into())]
    );
}

#[test]
fn esc_or_n_closes_the_approval_dialog_and_approves_nothing() {
    for answer in [special(Key::Esc), key('n')] {
        let mut app = promotions_with_requests();
        app.on_key(key('a'));
        approve_dialog(&app);
        assert_eq!(app.on_key(answer), vec![], "{answer}");
        assert!(app.dialog.is_none(), "{answer}");
        assert_eq!(app.screen, Screen::Promotions, "{answer}");
        // Still on the same request, and nothing else was asked for.
        assert_eq!(selected_request_id(&app).as_deref(), Some("3f9a2c1b7e4d"));
    }
}

#[test]
fn readonly_refuses_approving_by_key_as_the_palette_does() {
    let mut app = readonly_app();
    let effects = app.start();
    answer(&mut app, effects);
    app.on_key(key('5'));
    app.on_data(DataEvent::Requests(Ok(pending_requests())));
    assert!(app.selected_request().is_some());
    assert_eq!(app.on_key(key('a')), vec![]);
    assert!(app.dialog.is_none());
    assert_eq!(warning(&app), "read-only: approving is disabled");
    // Neither the footer nor the help screen offers it.
    assert!(!app.ctx.allowed(Action::Approve));
}

#[test]
fn a_on_a_promotion_row_approves_nothing_and_says_how() {
    let mut app = images_app();
    let job = promote_with(&mut app, plan_for);
    assert_eq!(app.screen, Screen::Promotions);
    // The requests arrive after the job was selected: the job stays selected.
    app.on_data(DataEvent::Requests(Ok(pending_requests())));
    assert_eq!(app.ctx.list(Screen::Promotions).selected, 2);
    assert!(app.selected_request().is_none());

    assert_eq!(app.on_key(key('a')), vec![]);
    assert!(app.dialog.is_none());
    assert!(
        warning(&app).contains("select a request"),
        "{}",
        warning(&app)
    );

    // The job row's own keys work as before.
    assert_eq!(app.on_key(key('x')), vec![Effect::CancelJob(job)]);
    app.on_key(special(Key::Enter));
    assert!(matches!(app.dialog, Some(Dialog::Job(id)) if id == job));
    app.on_key(special(Key::Esc));

    // And on a request row, x, b and enter leave the jobs alone.
    app.on_key(key('g'));
    assert!(app.selected_request().is_some());
    for k in [key('x'), key('b'), special(Key::Enter)] {
        assert_eq!(app.on_key(k), vec![], "{k}");
        assert!(app.dialog.is_none(), "{k}");
        assert!(app.ctx.message.is_some(), "{k} said nothing");
    }
}

#[test]
fn a_without_requests_says_why_instead_of_nothing() {
    let mut app = loaded_app('5');
    assert_eq!(app.on_key(key('a')), vec![]);
    assert!(warning(&app).contains("still loading"), "{}", warning(&app));

    app.on_data(DataEvent::Requests(Err(
        "ledger: cannot fetch refs/gantry/ledger from origin".into(),
    )));
    assert_eq!(app.on_key(key('a')), vec![]);
    assert!(warning(&app).contains("cannot fetch"), "{}", warning(&app));

    app.on_data(DataEvent::Requests(Ok(Vec::new())));
    assert_eq!(app.on_key(key('a')), vec![]);
    assert!(
        warning(&app).contains("no request waits"),
        "{}",
        warning(&app)
    );
    assert!(app.dialog.is_none());

    // Elsewhere, `a` is not bound at all.
    app.on_key(key('3'));
    assert_eq!(app.on_key(key('a')), vec![]);
}

#[test]
fn the_filter_narrows_requests_too() {
    let mut app = promotions_with_requests();
    type_keys(&mut app, "/ledger");
    app.on_key(special(Key::Enter));
    assert_eq!(app.request_rows().len(), 1);
    app.on_key(key('a'));
    assert_eq!(approve_dialog(&app).id, "9b0e4d7a21c5");
    app.on_key(special(Key::Esc));
    type_keys(&mut app, "/nothing-like-this");
    app.on_key(special(Key::Enter));
    assert_eq!(app.on_key(key('a')), vec![]);
    assert!(warning(&app).contains("filter"), "{}", warning(&app));
}

#[test]
fn a_reload_keeps_the_selected_request_selected() {
    let mut app = promotions_with_requests();
    app.on_key(key('j'));
    // The first request went (carried out elsewhere): the second one stays selected.
    app.on_data(DataEvent::Requests(Ok(pending_requests()[1..].to_vec())));
    assert_eq!(selected_request_id(&app).as_deref(), Some("9b0e4d7a21c5"));
    // A new one above it: still the same one.
    app.on_data(DataEvent::Requests(Ok(pending_requests())));
    assert_eq!(selected_request_id(&app).as_deref(), Some("9b0e4d7a21c5"));
}

#[test]
fn a_new_promotion_is_selected_under_the_waiting_requests() {
    let mut app = images_app();
    app.on_key(key('5'));
    app.on_data(DataEvent::Requests(Ok(pending_requests())));
    app.on_key(key('3'));
    let job = promote_with(&mut app, plan_for);
    assert_eq!(app.screen, Screen::Promotions);
    assert!(app.selected_request().is_none());
    assert_eq!(app.on_key(key('x')), vec![Effect::CancelJob(job)]);
}

#[test]
fn approve_is_offered_only_on_a_request_row() {
    let mut app = images_app();
    promote_with(&mut app, plan_for);
    app.on_data(DataEvent::Requests(Ok(pending_requests())));
    // On the job row.
    assert!(!app.applies(Action::Approve));
    assert!(app.applies(Action::CancelJob) && app.applies(Action::Rollback));
    app.on_key(key('g'));
    assert!(app.applies(Action::Approve));
    assert!(!app.applies(Action::CancelJob) && !app.applies(Action::Rollback));
}

// ---- doctor ---------------------------------------------------------------------------

#[test]
fn bang_runs_the_doctor_once_and_ctrl_r_runs_it_again() {
    let mut app = loaded_app('4');
    assert_eq!(app.on_key(key('!')), vec![Effect::RunDoctor]);
    assert_eq!(app.screen, Screen::Doctor);
    assert!(matches!(app.doctor.report, Loadable::Loading));
    app.on_data(DataEvent::Doctor(doctor_with_errors()));
    // Back and forth: the report stays, nothing runs again.
    app.on_key(special(Key::Esc));
    assert_eq!(app.screen, Screen::Environments);
    assert_eq!(app.on_key(key('!')), Vec::<Effect>::new());
    assert_eq!(
        app.row_count(Screen::Doctor),
        doctor_with_errors().checks.len()
    );
    // ctrl-r: the checks run again, the old report gone meanwhile.
    assert_eq!(app.on_key(KeyChord::ctrl('r')), vec![Effect::RunDoctor]);
    assert!(matches!(app.doctor.report, Loadable::Loading));
    assert_eq!(app.row_count(Screen::Doctor), 0);
}

#[test]
fn palette_doctor_opens_it_and_readonly_still_runs_it() {
    for readonly in [false, true] {
        let mut app = App::new(&config(), readonly, now());
        app.on_key(key(':'));
        type_keys(&mut app, "doctor");
        assert_eq!(
            app.on_key(special(Key::Enter)),
            vec![Effect::RunDoctor],
            "readonly: {readonly}"
        );
        assert_eq!(app.screen, Screen::Doctor);
    }
    // A prefix is enough, as for every screen.
    let mut app = loaded_app('4');
    app.on_key(key(':'));
    type_keys(&mut app, "doc");
    assert_eq!(app.on_key(special(Key::Enter)), vec![Effect::RunDoctor]);
}

#[test]
fn doctor_rows_move_and_filter() {
    let mut app = loaded_app('4');
    app.on_key(key('!'));
    app.on_data(DataEvent::Doctor(doctor_with_errors()));
    app.on_key(key('G'));
    let last = doctor_with_errors().checks.len() - 1;
    assert_eq!(app.ctx.selected(Screen::Doctor), last);
    app.on_key(key('/'));
    type_keys(&mut app, "error");
    app.on_key(special(Key::Enter));
    let rows = app.doctor.rows(&app.ctx);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|c| c.level.word() == "error"));
    assert_eq!(app.ctx.selected(Screen::Doctor), 0);
}

#[test]
fn the_doctor_key_is_configurable() {
    let text = format!("{CONFIG}\n[keys]\nshow_doctor = \"f2\"\n");
    let mut app = App::new(&config_from(&text), false, now());
    assert_eq!(app.on_key(key('!')), Vec::<Effect>::new());
    assert_eq!(app.on_key(special(Key::F(2))), vec![Effect::RunDoctor]);
}

// ---- registries that fail as a whole ----------------------------------------------------

#[test]
fn a_registry_line_per_failed_registry_on_the_screens_that_read_them() {
    let mut app = registries_down_app('4');
    let lines = app.registry_lines();
    assert_eq!(
        lines,
        [
            "registry.stage.example.com: connection refused; 3 services in stage not read",
            "registry.prod.example.com: 401: credentials refused; 3 services in prod not read",
        ]
    );
    let effects = app.on_key(key('1'));
    answer_registries_down(&mut app, effects);
    assert_eq!(app.registry_lines(), lines);
    // Branches reads no registry: nothing to say there.
    let effects = app.on_key(key('2'));
    answer(&mut app, effects);
    assert_eq!(app.registry_lines(), Vec::<String>::new());
}

#[test]
fn a_registry_that_answers_again_loses_its_line() {
    let mut app = registries_down_app('4');
    // ctrl-r: this time stage answers, prod still refuses the credentials.
    let effects = app.on_key(KeyChord::ctrl('r'));
    assert_eq!(effects, vec![Effect::LoadStatus]);
    let mut read = registries_down();
    read[1].1 = None;
    app.on_data(DataEvent::Registries(read));
    let mut report = status_registries_down();
    for cell in report.cells.iter_mut().filter(|c| c.environment == "stage") {
        cell.error = None;
    }
    app.on_data(DataEvent::Status(Ok(report)));
    assert_eq!(
        app.registry_lines(),
        ["registry.prod.example.com: 401: credentials refused; 3 services in prod not read"]
    );
}

#[test]
fn errors_no_registry_failure_explains_get_no_line() {
    // The fixture's matrix has one failed cell, and no load said its registry failed.
    let app = loaded_app('4');
    assert!(app.environments.problems(&app.ctx).len() == 1);
    assert_eq!(app.registry_lines(), Vec::<String>::new());
}

#[test]
fn more_registries_down_than_lines_are_counted() {
    let mut app = app();
    app.start();
    let hosts = [
        "a.example",
        "b.example",
        "c.example",
        "d.example",
        "e.example",
    ];
    let envs: Vec<String> = hosts.iter().map(|h| format!("env-{h}")).collect();
    app.on_data(DataEvent::Registries(
        hosts
            .iter()
            .zip(&envs)
            .map(|(host, env)| {
                let failure = gantry::registry::failure::HostFailure {
                    host: host.to_string(),
                    kind: gantry::registry::failure::FailureKind::Timeout,
                    summary: "no answer (timed out)".into(),
                    detail: format!("{host}: timed out"),
                };
                (env.clone(), Some(failure))
            })
            .collect(),
    ));
    let mut report = status();
    for env in &envs {
        let mut cell = report.cells[0].clone();
        cell.environment = env.clone();
        cell.error = Some("timed out".into());
        report.cells.push(cell);
    }
    app.on_data(DataEvent::Status(Ok(report)));
    let lines = app.registry_lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("a.example: no answer (timed out); payment-svc in env-a.example"));
    assert_eq!(lines[2], "… and 3 more registries failed");
}
