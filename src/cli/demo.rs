//! `gantry demo`: a sandbox of local registries, seeded images and a config to try gantry on.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{exit, Failure};
use crate::config::Config;
use crate::domain::ImageSelector;
use crate::engine::{Engine, PromotionRequest};
use crate::sandbox::{seed_image, ImageSpec, LocalRegistry, SandboxError, SeedFormat};

const ENVIRONMENTS: [&str; 3] = ["dev", "stage", "prod"];
const SERVICES: [&str; 3] = ["payment-svc", "ledger-api", "web-frontend"];
const COMMITS_PER_SERVICE: u64 = 4;

/// A commit id for the demo's synthetic history (the git issue replaces it with a real repository).
fn demo_commit(service: &str, n: u64) -> String {
    hex::encode(Sha256::digest(format!("{service}-{n}")))[..40].to_string()
}

fn sandbox_failure(e: SandboxError) -> Failure {
    Failure {
        code: exit::REGISTRY,
        message: format!("demo: {e}"),
    }
}

pub async fn run(
    dir: Option<PathBuf>,
    no_wait: bool,
    no_tui: bool,
    readonly: bool,
) -> Result<i32, Failure> {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("gantry-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Failure {
        code: exit::INPUT,
        message: format!("demo: cannot create {}: {e}", dir.display()),
    })?;
    let dir = dir.canonicalize().unwrap_or(dir);
    eprintln!(
        "gantry demo: starting registries and seeding images in {}",
        dir.display()
    );

    let build_dir = dir.clone();
    let (registries, config_path) = tokio::task::spawn_blocking(move || build(&build_dir))
        .await
        .map_err(|e| Failure {
            code: exit::REGISTRY,
            message: format!("demo: setup task failed: {e}"),
        })??;

    let config = Config::load(&config_path)?;
    promote_history(config).await?;

    let first = demo_commit(SERVICES[0], COMMITS_PER_SERVICE);
    println!(
        "gantry demo is up: {} registries on {}\n\nconfig: {}\n\nTry, in another terminal:\n  export GANTRY_CONFIG={}\n  gantry status\n  gantry images payment-svc\n  gantry promote payment-svc:sha-{} --to stage --dry-run\n  gantry promote payment-svc:sha-{} web-frontend:latest --to stage\n  gantry promote payment-svc:{} --to prod\n  gantry status\n",
        registries.len(),
        registries.iter().map(|r| r.addr().to_string()).collect::<Vec<_>>().join(", "),
        config_path.display(),
        config_path.display(),
        &first[..7],
        &first[..7],
        &first[..10],
    );
    if no_wait {
        return Ok(exit::OK);
    }
    if !no_tui && std::io::stdout().is_terminal() {
        let config = Config::load(&config_path)?;
        let result = super::console(config, readonly).await;
        drop(registries);
        eprintln!(
            "gantry demo: registries stopped; files left in {}",
            dir.display()
        );
        return result;
    }
    println!("Press Ctrl-C to stop the registries.");
    let _ = tokio::signal::ctrl_c().await;
    drop(registries);
    eprintln!(
        "gantry demo: registries stopped; files left in {}",
        dir.display()
    );
    Ok(exit::OK)
}

/// Starts one registry per environment, seeds dev, writes the config.
fn build(dir: &Path) -> Result<(Vec<LocalRegistry>, PathBuf), Failure> {
    let mut registries = Vec::new();
    for env in ENVIRONMENTS {
        let registry_dir = dir.join("registries").join(env);
        if registry_dir.exists() {
            // A rerun in the same directory starts from a clean registry.
            let _ = std::fs::remove_dir_all(&registry_dir);
        }
        std::fs::create_dir_all(&registry_dir).map_err(|e| Failure {
            code: exit::REGISTRY,
            message: format!("demo: cannot create {}: {e}", registry_dir.display()),
        })?;
        registries.push(LocalRegistry::start(&registry_dir).map_err(sandbox_failure)?);
    }
    let work = dir.join("work");
    std::fs::create_dir_all(&work).map_err(|e| Failure {
        code: exit::REGISTRY,
        message: format!("demo: cannot create {}: {e}", work.display()),
    })?;
    let dev = registries[0].addr().to_string();
    for (s, service) in SERVICES.iter().enumerate() {
        for n in 1..=COMMITS_PER_SERVICE {
            let commit = demo_commit(service, n);
            let tag = format!("sha-{}", &commit[..7]);
            let mut spec = ImageSpec::small(s as u64 * 100 + n);
            spec.created = format!("2026-11-{:02}T09:{:02}:00Z", 10 + n, s * 10);
            spec.layer_sizes = vec![256 * 1024, 64 * 1024 + n as usize];
            let mut tags = vec![tag.as_str()];
            if n == COMMITS_PER_SERVICE {
                tags.push("latest");
            }
            // One service in Docker's format, so both kinds show up.
            let format = if *service == "ledger-api" {
                SeedFormat::DockerV2s2
            } else {
                SeedFormat::Oci
            };
            seed_image(&work, &dev, service, &tags, &spec, format).map_err(sandbox_failure)?;
        }
    }

    let mut config =
        String::from("# Written by `gantry demo`.\n\n[tags]\nprefix = \"sha-\"\nshort_len = 7\n");
    for (i, env) in ENVIRONMENTS.iter().enumerate() {
        config.push_str(&format!(
            "\n[[environment]]\nname = \"{env}\"\nregistry = \"{}\"\nplain_http = true\nmutable_tag = \"{}\"\n",
            registries[i].addr(),
            if *env == "dev" { "latest" } else { env }
        ));
        if i > 0 {
            config.push_str(&format!("from = \"{}\"\n", ENVIRONMENTS[i - 1]));
        }
    }
    for service in SERVICES {
        config.push_str(&format!("\n[[service]]\nname = \"{service}\"\n"));
    }
    let config_path = dir.join("gantry.toml");
    std::fs::write(&config_path, config).map_err(|e| Failure {
        code: exit::REGISTRY,
        message: format!("demo: cannot write {}: {e}", config_path.display()),
    })?;
    Ok((registries, config_path))
}

/// Gives the environments a past: older commits already in stage and prod.
async fn promote_history(config: Config) -> Result<(), Failure> {
    let engine = Engine::new(config)?;
    for service in SERVICES {
        for (n, to) in [(2, "stage"), (2, "prod"), (3, "stage")] {
            let commit = demo_commit(service, n);
            let request = PromotionRequest {
                selector: ImageSelector::Commit {
                    service: service.to_string(),
                    sha: commit,
                },
                from: engine.source_environment(to, None)?.name.clone(),
                to: to.to_string(),
            };
            engine.promote(&request, false).await?;
        }
    }
    Ok(())
}
