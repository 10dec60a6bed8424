//! Unit tests of the registry client's parsing: challenges, Link headers, backoff, redaction.

use super::error::redact;
use super::token::{form_encode, parse_bearer_challenge};
use super::*;

#[test]
fn link_header_next() {
    assert_eq!(
        parse_next_link("</v2/a/tags/list?n=2&last=b>; rel=\"next\"").as_deref(),
        Some("/v2/a/tags/list?n=2&last=b")
    );
    assert_eq!(parse_next_link("<https://x/y>; rel=\"prev\""), None);
}

#[test]
fn backoff_doubles_and_honours_retry_after() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.backoff(1, None), Duration::from_millis(200));
    assert_eq!(policy.backoff(3, None), Duration::from_millis(800));
    assert_eq!(
        policy.backoff(1, Some(Duration::from_secs(2))),
        Duration::from_secs(2)
    );
    assert_eq!(
        policy.backoff(1, Some(Duration::from_secs(3600))),
        policy.max_wait
    );
}

#[test]
fn transient_errors() {
    let status = |status| RegistryError::Status {
        registry: "r".into(),
        what: "/".into(),
        status,
        message: String::new(),
        retry_after: None,
    };
    assert!(status(429).is_transient());
    assert!(status(503).is_transient());
    assert!(!status(404).is_transient());
    assert!(!status(400).is_transient());
}

#[test]
fn bearer_challenges() {
    let challenge = parse_bearer_challenge(
        r#"Bearer realm="https://auth.example/token?a=1,b",service="registry.example",scope="repository:x:pull""#,
    )
    .expect("bearer");
    assert_eq!(challenge.realm, "https://auth.example/token?a=1,b");
    assert_eq!(challenge.service.as_deref(), Some("registry.example"));
    assert_eq!(
        parse_bearer_challenge(r#"bearer realm="http://r/t""#).map(|c| c.service),
        Some(None)
    );
    assert_eq!(parse_bearer_challenge(r#"Basic realm="gantry-test""#), None);
    // A realm that is not a URL would send the credentials who knows where.
    assert_eq!(
        parse_bearer_challenge(r#"Bearer realm="file:///etc""#),
        None
    );
    assert_eq!(parse_bearer_challenge(r#"Bearer realm="https://x"#), None);
}

#[test]
fn form_encoding_and_pem_blocks() {
    assert_eq!(
        form_encode("repository:a/b:pull,push x"),
        "repository%3Aa%2Fb%3Apull%2Cpush+x"
    );
    let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
    let blocks = pem_certificates(pem);
    assert_eq!(blocks.len(), 2);
    assert!(blocks[1].contains("BBB") && !blocks[1].contains("AAA"));
    assert!(pem_certificates("no certificate here").is_empty());
}

#[test]
fn credentials_never_print_the_password() {
    let creds = Credentials::Basic {
        username: "ci".into(),
        password: "hunter2".into(),
    };
    assert!(!format!("{creds:?}").contains("hunter2"));
    assert_eq!(redact("bad hunter2", &creds), "bad <redacted>");
}
