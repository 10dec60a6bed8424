//! `gantry why`: every gate of a promotion's target, what it said, and what would satisfy it.

use super::{exit, output, Failure};
use crate::domain::ImageSelector;
use crate::engine::{Engine, EngineError, PromotionRequest};
use crate::gates::GateOutcome;

pub(super) async fn why(
    engine: &Engine,
    image: &str,
    to: &str,
    from: Option<&str>,
    json: bool,
) -> Result<i32, Failure> {
    let from = engine.source_environment(to, from)?.name.clone();
    let selector =
        ImageSelector::parse(image, &engine.config().tags.prefix).map_err(EngineError::from)?;
    let request = PromotionRequest {
        selector,
        from,
        to: to.to_string(),
    };
    engine.check_request(&request)?;
    let plan = engine.plan_only(&request).await?;
    let code = if plan.refusal.is_some() {
        exit::REFUSED
    } else {
        exit::OK
    };
    if json {
        output::print_json(&serde_json::json!({
            "service": plan.service,
            "tag": plan.tag,
            "digest": plan.digest,
            "from": plan.from,
            "to": plan.to,
            "allowed": plan.refusal.is_none(),
            "refusal": plan.refusal,
            "gates": plan.gates,
        }));
        return Ok(code);
    }
    println!(
        "{}:{} ({}) {} -> {}",
        plan.service,
        plan.tag,
        plan.digest.short(),
        plan.from,
        plan.to
    );
    if plan.gates.is_empty() && plan.refusal.is_none() {
        if plan.is_noop() {
            println!("  already there: nothing to gate");
        } else {
            println!("  {} has no gates: the promotion would go ahead", plan.to);
        }
    }
    for gate in &plan.gates {
        match &gate.outcome {
            GateOutcome::Pass { detail } => println!("  pass     {:<10} {detail}", gate.gate),
            GateOutcome::Blocked { reason, remedy } => {
                println!("  BLOCKED  {:<10} {reason}", gate.gate);
                println!("           {:<10} to pass: {remedy}", "");
            }
        }
    }
    match (&plan.refusal, plan.gates.iter().any(|g| g.is_blocked())) {
        (Some(refusal), false) => println!("  refused: {refusal}"),
        (Some(_), true) => println!("  refused: the promotion would not run"),
        (None, _) => println!("  allowed: the promotion would go ahead"),
    }
    Ok(code)
}
