//! A source registry that lies or sends garbage: gantry refuses with a clear error and tags nothing.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::faults::{Fault, FaultProxy, Response, Rule};
use common::{code, registries, stderr, Case};
use gantry::sandbox::SeedFormat;

/// Promotes `commit` from a proxied dev (`evil`) to stage under `rules`; returns stderr
/// after checking the refusal and that stage holds no tag of the service.
fn refused(name: &str, seed: u64, selector: &str, rules: Vec<Rule>) -> String {
    let case = Case::new(name);
    let regs = registries();
    let commit = format!("{seed:07x}");
    case.seed(&commit, seed, &[], SeedFormat::Oci);
    let proxy = FaultProxy::start(regs.dev.addr(), rules);
    case.add_environment("evil", &proxy.addr, "dev");
    let image = format!("{}:{}", case.service, selector.replace("COMMIT", &commit));
    let out = case.gantry(&["promote", &image, "--from", "evil", "--to", "stage"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{name}: {err}");
    assert!(proxy.faults_injected() > 0, "{name}: no fault injected");
    assert!(
        err.lines().count() <= 2 && !err.contains("panicked"),
        "{name}: {err}"
    );
    assert!(
        case.tags_at(&regs.stage, &case.service).is_empty(),
        "{name}: something was tagged"
    );
    err
}

/// `refused`, with the manifest of the image's commit tag answered by `fault`.
fn manifest_refused(name: &str, seed: u64, fault: Fault) -> String {
    refused(
        name,
        seed,
        "sha-COMMIT",
        vec![Rule::new("GET", "/manifests/sha-", None, fault)],
    )
}

#[test]
fn manifest_bytes_not_matching_their_digest_are_refused() {
    let err = refused(
        "hostile-manifest-digest",
        0x61,
        "sha-COMMIT",
        vec![Rule::new("GET", "/manifests/", None, Fault::Corrupt)],
    );
    assert!(err.contains("does not match its digest"), "{err}");
}

#[test]
fn blob_content_not_matching_its_digest_is_refused() {
    let err = refused(
        "hostile-blob-digest",
        0x62,
        "sha-COMMIT",
        vec![Rule::new("GET", "/blobs/sha256", None, Fault::Corrupt)],
    );
    assert!(err.contains("does not match its digest"), "{err}");
}

#[test]
fn oversized_manifest_is_refused() {
    let mut body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"pad":""#.to_vec();
    body.extend(std::iter::repeat_n(b'x', 5 * 1024 * 1024));
    body.extend_from_slice(br#""}}"#);
    let err = manifest_refused(
        "hostile-oversized",
        0x63,
        Fault::Respond(
            Response::status(200)
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .body(body),
        ),
    );
    assert!(err.contains("larger than"), "{err}");
}

#[test]
fn endless_tag_list_is_cut_off() {
    let page = Arc::new(AtomicUsize::new(0));
    let endless = move |request: &common::faults::Request| {
        let n = page.fetch_add(1, Ordering::SeqCst);
        let tags: Vec<String> = (0..1000).map(|i| format!("\"t{n}-{i}\"")).collect();
        let repository = request
            .path
            .trim_start_matches("/v2/")
            .split("/tags/list")
            .next()
            .unwrap_or_default()
            .to_string();
        Response::status(200)
            .header("Content-Type", "application/json")
            .header(
                "Link",
                &format!("</v2/{repository}/tags/list?n=1000&last=t{n}-999>; rel=\"next\""),
            )
            .body(format!(
                "{{\"name\":\"{repository}\",\"tags\":[{}]}}",
                tags.join(",")
            ))
    };
    let err = refused(
        "hostile-endless-tags",
        0x64,
        // A short commit prefix makes gantry list the tags.
        "abcd",
        vec![Rule::new(
            "GET",
            "/tags/list",
            None,
            Fault::Compute(Arc::new(endless)),
        )],
    );
    assert!(err.contains("more than 100000 tags"), "{err}");
}

#[test]
fn unknown_manifest_media_type_is_refused() {
    let err = manifest_refused(
        "hostile-media-type",
        0x65,
        Fault::Respond(
            Response::status(200)
                .header("Content-Type", "application/vnd.evil+json")
                .body(r#"{"schemaVersion":2,"mediaType":"application/vnd.evil+json","layers":[]}"#),
        ),
    );
    assert!(err.contains("unsupported manifest media type"), "{err}");
}

#[test]
fn content_type_contradicting_the_manifest_is_refused() {
    let err = manifest_refused(
        "hostile-content-type",
        0x66,
        Fault::ContentType("application/vnd.docker.distribution.manifest.v2+json".into()),
    );
    assert!(err.contains("contradicts"), "{err}");
}

#[test]
fn manifest_that_is_not_json_is_refused() {
    let err = manifest_refused(
        "hostile-not-json",
        0x67,
        Fault::Respond(
            Response::status(200)
                .header("Content-Type", "text/html")
                .body("<html>maintenance</html>"),
        ),
    );
    assert!(err.contains("not valid JSON"), "{err}");
}

#[test]
fn tag_list_that_is_not_json_is_refused() {
    let err = refused(
        "hostile-tags-not-json",
        0x68,
        "abcd",
        vec![Rule::new(
            "GET",
            "/tags/list",
            None,
            Fault::Respond(Response::status(200).body("{\"tags\": [unterminated")),
        )],
    );
    assert!(err.contains("tag list is not valid JSON"), "{err}");
}
