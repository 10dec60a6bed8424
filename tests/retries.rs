//! Transient registry failures are retried (honouring Retry-After); persistent ones give a clear error.

mod common;

use common::faults::{Fault, FaultProxy, Response, Rule};
use common::{code, registries, stderr, Case};
use gantry::sandbox::SeedFormat;

#[test]
fn promotion_survives_503_429_and_a_dropped_connection() {
    let case = Case::new("retry-transient");
    let regs = registries();
    let digest = case.seed("a0a0a0a", 40, &[], SeedFormat::Oci);
    let proxy = FaultProxy::start(
        regs.prod.addr(),
        vec![
            Rule::new(
                "HEAD",
                "/manifests/",
                Some(1),
                Fault::Respond(Response::status(503).header("Retry-After", "1")),
            ),
            Rule::new(
                "HEAD",
                "/blobs/",
                Some(1),
                Fault::Respond(Response::status(429).header("Retry-After", "0")),
            ),
            Rule::new("PUT", "/manifests/", Some(1), Fault::DropRequestAfter(0)),
        ],
    );
    case.add_environment("flaky", &proxy.addr, "dev");

    let out = case.gantry(&[
        "promote",
        &format!("{}:sha-a0a0a0a", case.service),
        "--to",
        "flaky",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(proxy.faults_injected(), 3);
    assert_eq!(case.digest_at(&regs.prod, "sha-a0a0a0a"), digest);
    assert_eq!(case.digest_at(&regs.prod, "flaky"), digest);
}

#[test]
fn persistent_server_errors_give_up_with_a_clear_message() {
    let case = Case::new("retry-exhausted");
    case.seed("b0b0b0b", 41, &[], SeedFormat::Oci);
    let proxy = FaultProxy::start(
        registries().prod.addr(),
        vec![Rule::new(
            "",
            "/v2/",
            None,
            Fault::Respond(Response::status(500)),
        )],
    );
    case.add_environment("broken", &proxy.addr, "dev");

    let out = case.gantry(&[
        "promote",
        &format!("{}:sha-b0b0b0b", case.service),
        "--to",
        "broken",
    ]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 500") && err.contains("gave up after 3 attempts"),
        "{err}"
    );
    // Exactly the configured number of attempts of a request, no more. The first reads of
    // a plan go out together (the tags and the manifest), so each of them counts its own
    // attempts, and the first to give up ends the promotion.
    let requests = proxy.requests();
    let mut attempts = std::collections::HashMap::new();
    for request in &requests {
        *attempts.entry(request).or_insert(0) += 1;
    }
    assert!(attempts.values().all(|&n| n <= 3), "{requests:?}");
    assert!(attempts.values().any(|&n| n == 3), "{requests:?}");
}
