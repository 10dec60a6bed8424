//! The image commands: promote (several images at once, with progress on a terminal),
//! rollback, and images (what each environment holds).

use std::io::IsTerminal;

use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{
    deploy_commands, exit, ledger_commands, output, registry_errors, worst_exit_code, Failure,
};
use crate::domain::ImageSelector;
use crate::engine::{Engine, EngineError, PromotionOutcome, PromotionRequest};

pub(super) async fn rollback(
    engine: &Engine,
    service: &str,
    env: &str,
    to: &str,
    json: bool,
) -> Result<i32, Failure> {
    let environment = engine
        .config()
        .environment(env)
        .map_err(EngineError::from)?
        .clone();
    let svc = engine
        .config()
        .service(service)
        .map_err(EngineError::from)?
        .clone();
    let digest = match to.parse::<crate::domain::Digest>() {
        Ok(digest) => digest,
        Err(_) => engine.digest_in(&environment, &svc, to).await?,
    };
    let outcome = engine.rollback(service, env, &digest).await?;
    if json {
        output::print_json(&outcome);
        if let Some(deploy) = &outcome.deploy {
            deploy_commands::print_failure(deploy, false);
        }
    } else {
        println!("{}", outcome.summary());
        if let Some(deploy) = &outcome.deploy {
            deploy_commands::print_outcome(deploy, true);
        }
    }
    ledger_commands::print_rollback_note(outcome.ledger.as_ref());
    Ok(deploy_commands::exit_code(outcome.deploy.as_ref()))
}

#[derive(Serialize)]
struct PromotionReport {
    image: String,
    ok: bool,
    exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<PromotionOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub(super) async fn promote(
    engine: &mut Engine,
    images: &[String],
    to: &str,
    from: Option<&str>,
    dry_run: bool,
    json: bool,
) -> Result<i32, Failure> {
    // Every argument is checked before anything runs.
    let from = engine.source_environment(to, from)?.name.clone();
    let prefix = engine.config().tags.prefix.clone();
    let mut requests: Vec<PromotionRequest> = Vec::new();
    for image in images {
        let selector = ImageSelector::parse(image, &prefix).map_err(EngineError::from)?;
        if requests
            .iter()
            .any(|r| r.selector.service() == selector.service())
        {
            return Err(Failure {
                code: exit::INPUT,
                message: format!(
                    "`{}` is named twice: one image per service per promotion",
                    selector.service()
                ),
            });
        }
        let request = PromotionRequest {
            selector,
            from: from.clone(),
            to: to.to_string(),
        };
        engine.check_request(&request)?;
        requests.push(request);
    }

    let show_progress = !json && std::io::stderr().is_terminal();
    let progress = if show_progress {
        let (sender, receiver) = mpsc::unbounded_channel();
        engine.subscribe(sender);
        Some(tokio::spawn(output::render_progress(receiver)))
    } else {
        None
    };
    let engine_ref = &*engine;
    let results = join_all(requests.iter().map(|r| engine_ref.promote(r, dry_run))).await;
    // Dropping the engine's sender ends the progress renderer.
    if let Some(progress) = progress {
        engine.subscribe(mpsc::unbounded_channel().0);
        let _ = progress.await;
    }

    let mut reports = Vec::new();
    for (image, result) in images.iter().zip(results) {
        reports.push(match result {
            Ok(outcome) => PromotionReport {
                image: image.clone(),
                ok: true,
                exit_code: deploy_commands::exit_code(outcome.deploy.as_ref()),
                outcome: Some(outcome),
                error: None,
            },
            Err(e) => PromotionReport {
                image: image.clone(),
                ok: false,
                exit_code: e.exit_code(),
                outcome: None,
                error: Some(e.to_string()),
            },
        });
    }
    if json {
        output::print_json(&reports);
        for deploy in reports
            .iter()
            .filter_map(|r| r.outcome.as_ref().and_then(|o| o.deploy.as_ref()))
        {
            deploy_commands::print_failure(deploy, false);
        }
    } else {
        for report in &reports {
            match (&report.outcome, &report.error) {
                (Some(outcome), _) => {
                    output::print_plan(&outcome.plan, outcome.executed);
                    if let Some(deploy) = &outcome.deploy {
                        deploy_commands::print_outcome(deploy, true);
                    }
                }
                (None, Some(error)) => eprintln!("gantry: {}: {error}", report.image),
                (None, None) => {}
            }
        }
    }
    for report in &reports {
        let note = report.outcome.as_ref().and_then(|o| o.ledger.as_ref());
        ledger_commands::print_ledger_note(&report.image, note);
    }
    Ok(worst_exit_code(reports.iter().map(|r| r.exit_code)))
}

pub(super) async fn images(
    engine: &Engine,
    service: &str,
    env: Option<&str>,
    json: bool,
) -> Result<i32, Failure> {
    engine
        .config()
        .service(service)
        .map_err(EngineError::from)?;
    let envs: Vec<String> = match env {
        Some(env) => vec![engine
            .config()
            .environment(env)
            .map_err(EngineError::from)?
            .name
            .clone()],
        None => engine
            .config()
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect(),
    };
    let results = join_all(envs.iter().map(|env| engine.images(service, env))).await;
    let mut listings = Vec::new();
    let mut problems = Vec::new();
    let mut code = exit::OK;
    for (env, result) in envs.iter().zip(results) {
        match result {
            Ok(listing) => listings.push(listing),
            Err(e) => {
                code = worst_exit_code([code, e.exit_code()].into_iter());
                problems.push(registry_errors::Problem::new(service, env, e.to_string()));
            }
        }
    }
    registry_errors::report(engine, &problems);
    if json {
        super::supply_commands::fill_attached(engine, service, &mut listings).await;
        output::print_json(&listings);
    } else {
        output::print_images(&listings);
    }
    Ok(code)
}
