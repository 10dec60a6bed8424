//! Transient registry failures are retried (honouring Retry-After); persistent ones give a clear error.

mod common;

use common::faults::{Fault, FaultProxy};
use common::{code, registries, stderr, Case};
use gantry::sandbox::SeedFormat;

fn add_environment(case: &Case, name: &str, registry: &str) {
    let mut text = std::fs::read_to_string(&case.config).expect("read config");
    text.push_str(&format!(
        "\n[[environment]]\nname = \"{name}\"\nregistry = \"{registry}\"\nfrom = \"dev\"\nplain_http = true\nmutable_tag = \"{name}\"\n"
    ));
    std::fs::write(&case.config, text).expect("write config");
}

#[test]
fn promotion_survives_503_429_and_a_dropped_connection() {
    let case = Case::new("retry-transient");
    let regs = registries();
    let digest = case.seed("a0a0a0a", 40, &[], SeedFormat::Oci);
    let retry_after = |status: u16, secs: &str| Fault::Respond {
        status,
        headers: vec![("Retry-After".into(), secs.into())],
    };
    let proxy = FaultProxy::start(
        regs.prod.addr(),
        vec![
            retry_after(503, "1"),
            retry_after(429, "0"),
            Fault::Pass,
            Fault::Drop,
        ],
        Fault::Pass,
    );
    add_environment(&case, "flaky", &proxy.addr);

    let out = case.gantry(&[
        "promote",
        &format!("{}:sha-a0a0a0a", case.service),
        "--to",
        "flaky",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(case.digest_at(&regs.prod, "sha-a0a0a0a"), digest);
    assert_eq!(case.digest_at(&regs.prod, "flaky"), digest);
    assert!(proxy.connections.load(std::sync::atomic::Ordering::SeqCst) > 4);
}

#[test]
fn persistent_server_errors_give_up_with_a_clear_message() {
    let case = Case::new("retry-exhausted");
    case.seed("b0b0b0b", 41, &[], SeedFormat::Oci);
    let proxy = FaultProxy::start(
        registries().prod.addr(),
        Vec::new(),
        Fault::Respond {
            status: 500,
            headers: Vec::new(),
        },
    );
    add_environment(&case, "broken", &proxy.addr);

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
    // Exactly the configured number of attempts, no more.
    assert_eq!(
        proxy.connections.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
}
