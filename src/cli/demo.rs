//! `gantry demo`: a sandbox of local registries, seeded images and a config to try gantry on.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{exit, Failure};
use crate::config::Config;
use crate::domain::ImageSelector;
use crate::engine::{Engine, PromotionRequest};
use crate::sandbox::{
    build_demo_repo, seed_image, DemoRepo, ImageSpec, LocalRegistry, SandboxError, SeedFormat,
};

const ENVIRONMENTS: [&str; 3] = ["dev", "stage", "prod"];
const SERVICES: [&str; 3] = ["payment-svc", "ledger-api", "web-frontend"];
/// develop commits (oldest first) whose images pipelines pushed to dev.
const BUILT_FROM: usize = 2;

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
    let (registries, config_path, repo) = tokio::task::spawn_blocking(move || build(&build_dir))
        .await
        .map_err(|e| Failure {
            code: exit::REGISTRY,
            message: format!("demo: setup task failed: {e}"),
        })??;

    let config = Config::load(&config_path)?;
    promote_history(config, &repo).await?;

    let newest = repo.develop.last().cloned().unwrap_or_default();
    let short = newest.get(..7).unwrap_or_default();
    println!(
        "gantry demo is up: {} registries on {}\n\nconfig: {}\napplication repository: {}\n\nTry, in another terminal:\n  export GANTRY_CONFIG={}\n  gantry status\n  gantry commits\n  gantry diff payment-svc --to stage\n  gantry images payment-svc\n  gantry promote payment-svc:sha-{short} --to stage --dry-run\n  gantry promote payment-svc:sha-{short} web-frontend:latest --to stage\n  gantry promote payment-svc:{} --to prod\n  gantry release cut {short}\n  gantry gc --env dev\n",
        registries.len(),
        registries.iter().map(|r| r.addr().to_string()).collect::<Vec<_>>().join(", "),
        config_path.display(),
        repo.path.display(),
        config_path.display(),
        newest.get(..10).unwrap_or_default(),
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

/// Starts one registry per environment, builds the application repository, seeds dev
/// with images of its commits, writes the config.
fn build(dir: &Path) -> Result<(Vec<LocalRegistry>, PathBuf, DemoRepo), Failure> {
    let fail = |what: String| Failure {
        code: exit::REGISTRY,
        message: format!("demo: {what}"),
    };
    let mut registries = Vec::new();
    for env in ENVIRONMENTS {
        let registry_dir = dir.join("registries").join(env);
        if registry_dir.exists() {
            // A rerun in the same directory starts from a clean registry.
            let _ = std::fs::remove_dir_all(&registry_dir);
        }
        std::fs::create_dir_all(&registry_dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", registry_dir.display())))?;
        registries.push(LocalRegistry::start(&registry_dir).map_err(sandbox_failure)?);
    }
    let app_dir = dir.join("app");
    if app_dir.exists() {
        let _ = std::fs::remove_dir_all(&app_dir);
    }
    let repo = build_demo_repo(&app_dir).map_err(sandbox_failure)?;
    let work = dir.join("work");
    std::fs::create_dir_all(&work)
        .map_err(|e| fail(format!("cannot create {}: {e}", work.display())))?;
    let dev = registries[0].addr().to_string();
    let mut built: Vec<&String> = repo.develop.iter().skip(BUILT_FROM).collect();
    built.push(&repo.hotfix);
    for (s, service) in SERVICES.iter().enumerate() {
        for (n, commit) in built.iter().enumerate() {
            let tag = format!("sha-{}", &commit[..7]);
            let mut spec = ImageSpec::small((s * 100 + n) as u64);
            spec.created = format!("2026-11-{:02}T09:{:02}:00Z", 10 + n, s * 10);
            spec.layer_sizes = vec![256 * 1024, 64 * 1024 + n];
            let mut tags = vec![tag.as_str()];
            if *commit == repo.develop.last().unwrap_or(commit) {
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

    let mut config = String::from(
        "# Written by `gantry demo`.\n\n[git]\npath = \"app\"\n\n[tags]\nprefix = \"sha-\"\nshort_len = 7\n",
    );
    for (i, env) in ENVIRONMENTS.iter().enumerate() {
        config.push_str(&format!(
            "\n[[environment]]\nname = \"{env}\"\nregistry = \"{}\"\nplain_http = true\nmutable_tag = \"{}\"\n",
            registries[i].addr(),
            if *env == "dev" { "latest" } else { env }
        ));
        if i > 0 {
            config.push_str(&format!("from = \"{}\"\n", ENVIRONMENTS[i - 1]));
        } else {
            // Every commit pushes to dev: the one registry that needs cleaning up.
            config.push_str("\n[environment.retention]\nkeep = 2\n");
        }
    }
    for service in SERVICES {
        config.push_str(&format!("\n[[service]]\nname = \"{service}\"\n"));
    }
    let config_path = dir.join("gantry.toml");
    std::fs::write(&config_path, config)
        .map_err(|e| fail(format!("cannot write {}: {e}", config_path.display())))?;
    Ok((registries, config_path, repo))
}

/// Gives the environments a past: the release in prod, a newer develop commit in stage,
/// and for ledger-api a hotfix rushed through to prod.
async fn promote_history(config: Config, repo: &DemoRepo) -> Result<(), Failure> {
    let engine = Engine::new(config)?;
    let newer = repo.develop.get(6).cloned().unwrap_or_default();
    for service in SERVICES {
        let mut steps = vec![
            (repo.released.clone(), "stage"),
            (repo.released.clone(), "prod"),
            (newer.clone(), "stage"),
        ];
        if service == "ledger-api" {
            steps.push((repo.hotfix.clone(), "stage"));
            steps.push((repo.hotfix.clone(), "prod"));
        }
        for (commit, to) in steps {
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
