//! `gantry demo` builds a working sandbox: registries, seeded images, a valid config.

mod common;

use std::path::Path;

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

#[test]
fn demo_polyrepo_builds_three_service_repositories_and_a_ledger_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = dir.path().join("sandbox");
    let out = gantry_in(
        dir.path(),
        &[
            "demo",
            "--polyrepo",
            "--dir",
            sandbox.to_str().expect("utf-8"),
            "--no-wait",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("gantry commits --service payment-svc"),
        "{text}"
    );
    assert!(text.contains("gantry release cut payment-svc:"), "{text}");

    let config_path = sandbox.join("gantry.toml");
    let config = gantry::config::Config::load(&config_path).expect("demo config parses");
    assert!(config.polyrepo());
    let repositories = config.repositories();
    assert_eq!(repositories.len(), 3, "one repository per service");
    let web = config.service("web-frontend").expect("web-frontend");
    let web_git = config.service_git(web);
    assert_eq!(
        (
            web_git.settings.develop.as_str(),
            web_git.settings.main.as_str()
        ),
        ("dev", "master")
    );
    for service in ["payment-svc", "ledger-api"] {
        let git = config.service_git(config.service(service).expect("service"));
        let url = git.location.to_string();
        assert!(url.starts_with("file://"), "{url}");
        assert!(
            Path::new(&url["file://".len()..]).join("HEAD").is_file(),
            "{url}"
        );
    }
    let ledger = config
        .ledger
        .repository
        .clone()
        .expect("a ledger repository");
    assert!(ledger.ends_with("audit.git"), "{ledger}");

    // Each repository has its own history: read without the registries (gone now).
    let out = gantry_in(
        dir.path(),
        &[
            "--config",
            config_path.to_str().expect("utf-8"),
            "commits",
            "--service",
            "web-frontend",
            "--json",
        ],
    );
    let view: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_eq!(view["branch"], "dev");
    assert_eq!(
        view["commits"][0]["subject"],
        "Web: cookie banner that remembers"
    );
}
