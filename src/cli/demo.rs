//! `gantry demo`: a sandbox of local registries, seeded images and a config to try gantry on.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{exit, Failure};
use crate::config::Config;
use crate::domain::ImageSelector;
use crate::engine::{Engine, PromotionRequest};
use crate::sandbox::{
    bare_copy, build_demo_repo, build_history, seed_image, DemoHistory, DemoRepo, ImageSpec,
    LocalRegistry, SandboxError, SeedFormat,
};

const ENVIRONMENTS: [&str; 3] = ["dev", "stage", "prod"];
const SERVICES: [&str; 3] = ["payment-svc", "ledger-api", "web-frontend"];
/// `--polyrepo`: each service's own history.
const SERVICE_SUBJECTS: [[&str; 8]; 3] = [
    [
        "Add payment retry with idempotency keys",
        "Card checks before capture",
        "Bump base image to debian 12.8",
        "Refunds in one call",
        "Show fees before confirmation",
        "Cache exchange rates for 60 s",
        "Fix race in settlement batch close",
        "Structured logs for every payment hook",
    ],
    [
        "Ledger: double-entry postings",
        "Ledger: round half-even on currency conversion",
        "Ledger: close the books at midnight UTC",
        "Ledger: export to CSV",
        "Ledger: reconcile with the bank feed",
        "Ledger: idempotent postings",
        "Ledger: faster balance queries",
        "Ledger: audit every correction",
    ],
    [
        "Web: new checkout page",
        "Web: dark mode",
        "Web: lazy-load product images",
        "Web: accessible forms",
        "Web: show delivery dates",
        "Web: cart survives a reload",
        "Web: faster search box",
        "Web: cookie banner that remembers",
    ],
];

/// The sandbox as built: registries, config, and the repository each service was built
/// from (one shared, or one each with `--polyrepo`).
struct Built {
    registries: Vec<LocalRegistry>,
    config_path: PathBuf,
    repos: Vec<(&'static str, DemoRepo)>,
}
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
    polyrepo: bool,
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
    let Built {
        registries,
        config_path,
        repos,
    } = tokio::task::spawn_blocking(move || build(&build_dir, polyrepo))
        .await
        .map_err(|e| Failure {
            code: exit::REGISTRY,
            message: format!("demo: setup task failed: {e}"),
        })??;

    let config = Config::load(&config_path)?;
    promote_history(config, &repos).await?;

    let newest_of = |i: usize| {
        repos
            .get(i)
            .and_then(|(_, repo)| repo.develop.last().cloned())
            .unwrap_or_default()
    };
    let newest = newest_of(0);
    let short = newest.get(..7).unwrap_or_default();
    let git_lines = if polyrepo {
        let ledger_short = newest_of(1);
        format!(
            "service repositories: {}\n\nTry, in another terminal:\n  export GANTRY_CONFIG={}\n  gantry fetch\n  gantry status\n  gantry commits --service payment-svc\n  gantry commits --service web-frontend\n  gantry diff payment-svc --to stage\n  gantry release cut payment-svc:{short} ledger-api:{}\n  gantry hotfix start fee-rounding --service payment-svc\n  gantry promote payment-svc:sha-{short} --to stage --dry-run\n  gantry audit verify\n",
            repos
                .iter()
                .map(|(_, r)| r.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            config_path.display(),
            ledger_short.get(..7).unwrap_or_default(),
        )
    } else {
        format!(
            "application repository: {}\n\nTry, in another terminal:\n  export GANTRY_CONFIG={}\n  gantry status\n  gantry commits\n  gantry diff payment-svc --to stage\n  gantry images payment-svc\n  gantry promote payment-svc:sha-{short} --to stage --dry-run\n  gantry promote payment-svc:sha-{short} web-frontend:latest --to stage\n  gantry promote payment-svc:{} --to prod\n  gantry release cut {short}\n  gantry gc --env dev\n",
            repos
                .first()
                .map(|(_, r)| r.path.display().to_string())
                .unwrap_or_default(),
            config_path.display(),
            newest.get(..10).unwrap_or_default(),
        )
    };
    println!(
        "gantry demo is up: {} registries on {}\n\nconfig: {}\n{git_lines}",
        registries.len(),
        registries
            .iter()
            .map(|r| r.addr().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        config_path.display(),
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

/// Starts one registry per environment, builds the application repository (or, with
/// `polyrepo`, one per service: two served as bare remotes by file:// URL, one read in
/// place with branch names of its own, and a ledger repository apart), seeds dev with
/// images of their commits, writes the config.
fn build(dir: &Path, polyrepo: bool) -> Result<Built, Failure> {
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
    let fresh = |path: &Path| {
        if path.exists() {
            let _ = std::fs::remove_dir_all(path);
        }
    };
    let mut config = String::from("# Written by `gantry demo`.\n\n");
    let mut service_lines: Vec<String> = Vec::new();
    let repos: Vec<(&'static str, DemoRepo)> = if polyrepo {
        let mut repos = Vec::new();
        for (i, service) in SERVICES.iter().enumerate() {
            // web-frontend's team calls its branches dev and master.
            let (develop, main) = if *service == "web-frontend" {
                ("dev", "master")
            } else {
                ("develop", "main")
            };
            let work = dir.join("src").join(service);
            fresh(&work);
            let history = DemoHistory {
                subjects: &SERVICE_SUBJECTS[i],
                develop,
                main,
                start: i as i64 * 600,
            };
            let mut repo = build_history(&work, history).map_err(sandbox_failure)?;
            let line = if *service == "web-frontend" {
                format!("git = \"src/{service}\"\ndevelop = \"dev\"\nmain = \"master\"\n")
            } else {
                let remote = dir.join("remotes").join(format!("{service}.git"));
                fresh(&remote);
                bare_copy(&work, &remote).map_err(sandbox_failure)?;
                repo.path = remote.clone();
                format!("git = \"file://{}\"\n", remote.display())
            };
            service_lines.push(line);
            repos.push((*service, repo));
        }
        let audit = dir.join("remotes").join("audit.git");
        fresh(&audit);
        git2::Repository::init_bare(&audit)
            .map_err(|e| fail(format!("cannot create {}: {e}", audit.display())))?;
        config.push_str(&format!(
            "# One shared audit trail, in no service's repository.\n[ledger]\nrepository = \"file://{}\"\n",
            audit.display()
        ));
        repos
    } else {
        let app_dir = dir.join("app");
        fresh(&app_dir);
        let repo = build_demo_repo(&app_dir).map_err(sandbox_failure)?;
        config.push_str("[git]\npath = \"app\"\n");
        service_lines = vec![String::new(); SERVICES.len()];
        SERVICES.iter().map(|s| (*s, repo.clone())).collect()
    };
    let work = dir.join("work");
    std::fs::create_dir_all(&work)
        .map_err(|e| fail(format!("cannot create {}: {e}", work.display())))?;
    let dev = registries[0].addr().to_string();
    for (s, (service, repo)) in repos.iter().enumerate() {
        let mut built: Vec<&String> = repo.develop.iter().skip(BUILT_FROM).collect();
        built.push(&repo.hotfix);
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

    config.push_str("\n[tags]\nprefix = \"sha-\"\nshort_len = 7\n");
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
    for (service, line) in SERVICES.iter().zip(&service_lines) {
        config.push_str(&format!("\n[[service]]\nname = \"{service}\"\n{line}"));
    }
    let config_path = dir.join("gantry.toml");
    std::fs::write(&config_path, config)
        .map_err(|e| fail(format!("cannot write {}: {e}", config_path.display())))?;
    Ok(Built {
        registries,
        config_path,
        repos,
    })
}

/// Gives the environments a past: the release in prod, a newer develop commit in stage,
/// and for ledger-api a hotfix rushed through to prod.
async fn promote_history(config: Config, repos: &[(&str, DemoRepo)]) -> Result<(), Failure> {
    let engine = Engine::new(config)?;
    for (service, repo) in repos {
        let service = *service;
        let newer = repo.develop.get(6).cloned().unwrap_or_default();
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
