//! `gantry demo` builds a working sandbox: registries, seeded images, a valid config.

mod common;

use common::{code, gantry_in, stderr, stdout};

#[test]
fn demo_builds_a_sandbox_that_gantry_can_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = dir.path().join("sandbox");
    let out = gantry_in(
        dir.path(),
        &[
            "demo",
            "--dir",
            sandbox.to_str().expect("utf-8"),
            "--no-wait",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let config_path = sandbox.join("gantry.toml");
    assert!(text.contains(&config_path.display().to_string()), "{text}");
    assert!(text.contains("gantry promote payment-svc:sha-"), "{text}");

    let config = gantry::config::Config::load(&config_path).expect("demo config parses");
    let names: Vec<_> = config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["dev", "stage", "prod"]);
    assert_eq!(
        config.environment("prod").expect("prod").from.as_deref(),
        Some("stage")
    );
    assert_eq!(config.services.len(), 3);
    // The application repository exists and its commits are the images' tags.
    let repo = sandbox.join("app");
    assert!(repo.join(".git").is_dir());
    assert_eq!(
        config.git.path.canonicalize().ok(),
        repo.canonicalize().ok()
    );
    assert!(text.contains("gantry release cut"), "{text}");
    // dev, where every commit lands, has a clean-up policy the console and `gc` can show.
    assert!(text.contains("gantry gc --env dev"), "{text}");
    assert!(config.environment("dev").expect("dev").retention.is_some());
    assert!(config
        .environment("prod")
        .expect("prod")
        .retention
        .is_none());
    // With --no-wait the registries are gone: the config points at ports nobody serves now.
    let status = gantry_in(
        dir.path(),
        &["--config", config_path.to_str().expect("utf-8"), "status"],
    );
    assert_eq!(code(&status), 1);
}
