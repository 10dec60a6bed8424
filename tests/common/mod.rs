//! Shared test harness: one set of real registries per test binary, configs, and the gantry binary.
#![allow(dead_code)]

pub mod faults;
pub mod git;
pub mod supply;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use gantry::sandbox::{
    seed_image, skopeo_digest, skopeo_list_tags, ImageSpec, LocalRegistry, SeedFormat,
};

/// Registries shared by every test of a binary; each test works in its own repositories.
pub struct Registries {
    pub dev: LocalRegistry,
    pub stage: LocalRegistry,
    pub prod: LocalRegistry,
    /// A loopback port nothing listens on.
    pub closed_port: u16,
    pub root: PathBuf,
}

/// A directory for this test process's shared registries, `<temp>/<prefix>-<pid>`.
/// Shared registries live in statics, which are never dropped, so their storage outlives
/// the process; the ones of test processes that are gone are removed here instead.
pub fn process_root(prefix: &str) -> PathBuf {
    let temp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&temp) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .and_then(|n| n.strip_prefix('-'))
                .and_then(|n| n.parse::<u32>().ok());
            if let Some(pid) = pid {
                if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    temp.join(format!("{prefix}-{}", std::process::id()))
}

pub fn registries() -> &'static Registries {
    static REGISTRIES: OnceLock<Registries> = OnceLock::new();
    REGISTRIES.get_or_init(|| {
        let root = process_root("gantry-tests");
        let start = |name: &str| {
            LocalRegistry::start(&root.join(name))
                .unwrap_or_else(|e| panic!("starting {name} registry: {e}"))
        };
        let closed_port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        Registries {
            dev: start("dev"),
            stage: start("stage"),
            prod: start("prod"),
            closed_port,
            root,
        }
    })
}

/// A test's own corner: a temp dir, a service name no other test uses, and a config.
pub struct Case {
    pub dir: tempfile::TempDir,
    pub service: String,
    pub config: PathBuf,
}

impl Case {
    /// `name` must be unique across the test binary: it names the repositories.
    pub fn new(name: &str) -> Case {
        let regs = registries();
        let dir = tempfile::tempdir().expect("tempdir");
        let service = format!("t-{name}");
        let config = dir.path().join("gantry.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[copy]
attempts = 3
backoff_ms = 50
read_timeout_secs = 2

[[environment]]
name = "dev"
registry = "{dev}"
plain_http = true
mutable_tag = "latest"

[[environment]]
name = "stage"
registry = "{stage}"
from = "dev"
plain_http = true
mutable_tag = "stage"

[[environment]]
name = "prod"
registry = "{prod}"
from = "stage"
plain_http = true
mutable_tag = "prod"

# Shared layout: the stage registry again, under a path prefix.
[[environment]]
name = "qa"
registry = "{stage}"
path = "qa"
from = "stage"
plain_http = true
mutable_tag = "qa"

[[environment]]
name = "down"
registry = "127.0.0.1:{closed}"
from = "dev"
plain_http = true

[[service]]
name = "{service}"
"#,
                dev = regs.dev.addr(),
                stage = regs.stage.addr(),
                prod = regs.prod.addr(),
                closed = regs.closed_port,
            ),
        )
        .expect("write config");
        Case {
            dir,
            service,
            config,
        }
    }

    /// Seeds `service` in dev under `sha-<commit>` (plus `extra` tags); returns the digest.
    pub fn seed(&self, commit: &str, seed: u64, extra: &[&str], format: SeedFormat) -> String {
        self.seed_in(
            registries().dev.addr(),
            &self.service,
            commit,
            seed,
            extra,
            format,
            ImageSpec::small(seed),
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn seed_in(
        &self,
        registry: &str,
        repository: &str,
        commit: &str,
        seed: u64,
        extra: &[&str],
        format: SeedFormat,
        mut spec: ImageSpec,
    ) -> String {
        spec.seed = seed;
        let tag = format!("sha-{commit}");
        let mut tags = vec![tag.as_str()];
        tags.extend_from_slice(extra);
        seed_image(self.dir.path(), registry, repository, &tags, &spec, format).expect("seed image")
    }

    /// Appends an environment promoted from `from` (for registries behind a fault proxy).
    pub fn add_environment(&self, name: &str, registry: &str, from: &str) {
        let mut text = std::fs::read_to_string(&self.config).expect("read config");
        text.push_str(&format!(
            "\n[[environment]]\nname = \"{name}\"\nregistry = \"{registry}\"\nfrom = \"{from}\"\nplain_http = true\nmutable_tag = \"{name}\"\n"
        ));
        std::fs::write(&self.config, text).expect("write config");
    }

    /// Starts gantry in the background (for races and kills).
    pub fn spawn_gantry(&self, args: &[&str]) -> std::process::Child {
        let mut all = vec!["--config", self.config.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        command_in(self.dir.path(), &all)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn gantry")
    }

    /// Runs the gantry binary with this case's config.
    pub fn gantry(&self, args: &[&str]) -> Output {
        let mut all = vec!["--config", self.config.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        gantry_in(self.dir.path(), &all)
    }

    pub fn image(&self, registry: &LocalRegistry, tag: &str) -> String {
        format!("{}/{}:{tag}", registry.addr(), self.service)
    }

    /// What skopeo, not gantry, says the digest of `registry/service:tag` is.
    pub fn digest_at(&self, registry: &LocalRegistry, tag: &str) -> String {
        skopeo_digest(&self.image(registry, tag), None).expect("skopeo inspect")
    }

    pub fn tags_at(&self, registry: &LocalRegistry, repository: &str) -> Vec<String> {
        skopeo_list_tags(&format!("{}/{repository}", registry.addr()), None)
            .expect("skopeo list-tags")
    }
}

/// The config text of the usual pipeline on the shared registries: `head` first (`[git]`,
/// `[copy]`, ...), then dev -> stage -> prod, each environment's table followed by its
/// entry of `extra` (approvals, retention or deploy lines), then the case's service.
pub fn pipeline_config(case: &Case, head: &str, extra: [&str; 3]) -> String {
    let regs = registries();
    let [dev_extra, stage_extra, prod_extra] = extra;
    format!(
        r#"{head}
[[environment]]
name = "dev"
registry = "{dev}"
plain_http = true
mutable_tag = "latest"
{dev_extra}

[[environment]]
name = "stage"
registry = "{stage}"
from = "dev"
plain_http = true
mutable_tag = "stage"
{stage_extra}

[[environment]]
name = "prod"
registry = "{prod}"
from = "stage"
plain_http = true
mutable_tag = "prod"
{prod_extra}

[[service]]
name = "{service}"
"#,
        dev = regs.dev.addr(),
        stage = regs.stage.addr(),
        prod = regs.prod.addr(),
        service = case.service,
    )
}

/// Runs gantry in `cwd` with no inherited configuration.
pub fn gantry_in(cwd: &Path, args: &[&str]) -> Output {
    command_in(cwd, args).output().expect("run gantry")
}

/// The gantry binary with no inherited configuration and its state (locks) under `cwd`.
pub fn command_in(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("GANTRY_CONFIG")
        .env("XDG_CONFIG_HOME", cwd.join("no-xdg"))
        .env("XDG_STATE_HOME", cwd.join("state"));
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// Parses `--json` output.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            stdout(output),
            stderr(output)
        )
    })
}

pub fn default_format() -> SeedFormat {
    SeedFormat::Oci
}

/// Lets an in-process `console` take what arrives until `done` says its app has what the
/// test waits for: no sleeps, the console's own messages pace it. What never arrives
/// fails the test after `GIVE_UP` instead of hanging the suite (a safety net, far above
/// any wait the tests expect: nothing here depends on it being reached).
pub async fn until(
    console: &mut gantry::tui::console::Console,
    done: impl Fn(&gantry::tui::app::App) -> bool,
) {
    const GIVE_UP: std::time::Duration = std::time::Duration::from_secs(300);
    let waited = tokio::time::timeout(GIVE_UP, async {
        while !done(&console.app) {
            assert!(console.handle_next().await, "the console quit");
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "what the test waits for never reached the console"
    );
}
