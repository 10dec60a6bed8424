//! A real registry with the OCI 1.1 referrers API (`ferro-oci-server`) on a free loopback port.
//!
//! Distribution 2.8 has no referrers API, so registries of both kinds are needed to test
//! reading and writing referrers through the API and through the fallback tag. The server
//! is installed from crates.io (`cargo install --locked ferro-oci-server`, see `.ci/run`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::registry::{free_port, get_v2, log_tail, open_log, spawn_watchdog};
use super::SandboxError;

const READY_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const PORT_ATTEMPTS: usize = 5;
const SERVER: &str = "ferro-oci-server";

/// A `ferro-oci-server` child process serving plain HTTP on `127.0.0.1:PORT`, blobs and
/// metadata under `<dir>/data`, its log in `<dir>/registry.log`. Killed on drop.
#[derive(Debug)]
pub struct ReferrersRegistry {
    dir: PathBuf,
    addr: String,
    port: u16,
    child: Option<Child>,
    watchdog: Option<Child>,
}

impl ReferrersRegistry {
    /// Starts the server on a free port and waits (up to 10 s) until `GET /v2/` answers 200.
    pub fn start(dir: &Path) -> Result<Self, SandboxError> {
        let data = dir.join("data");
        fs::create_dir_all(&data)
            .map_err(SandboxError::io(format!("creating {}", data.display())))?;
        let dir = dir
            .canonicalize()
            .map_err(SandboxError::io(format!("resolving {}", dir.display())))?;
        let mut registry = ReferrersRegistry {
            dir,
            addr: String::new(),
            port: 0,
            child: None,
            watchdog: None,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            registry.port = free_port()?;
            registry.addr = format!("127.0.0.1:{}", registry.port);
            match registry.spawn_and_wait() {
                Ok(()) => return Ok(registry),
                Err((true, e)) => last_error = Some(e),
                Err((false, e)) => return Err(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| SandboxError::Invalid("no port attempts were made".to_string())))
    }

    /// `"127.0.0.1:PORT"`, ready to prefix repository names.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("registry.log")
    }

    /// Kills the server and reaps it. Safe to call repeatedly.
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Spawns once; the error's flag says whether another port is worth a try.
    fn spawn_and_wait(&mut self) -> Result<(), (bool, SandboxError)> {
        let fatal = |e| (false, e);
        let log_path = self.log_path();
        let (log, stderr, log_start) = open_log(&log_path, SERVER, &self.addr).map_err(fatal)?;
        let child = Command::new(server_bin())
            .env("FERRO_OCI_LISTEN", &self.addr)
            .env("FERRO_OCI_STORAGE_DIR", self.dir.join("data"))
            .env("RUST_LOG", "warn")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                fatal(if e.kind() == io::ErrorKind::NotFound {
                    SandboxError::ToolMissing {
                        tool: SERVER,
                        hint: "cargo install --locked ferro-oci-server \
                               (or set GANTRY_REFERRERS_REGISTRY_BIN to its binary)",
                    }
                } else {
                    SandboxError::Io {
                        context: format!("spawning {SERVER}"),
                        source: e,
                    }
                })
            })?;
        self.watchdog = spawn_watchdog(child.id());
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    self.stop();
                    let tail = log_tail(&log_path, log_start);
                    let port_taken = tail.contains("in use");
                    return Err((
                        port_taken,
                        self.start_error(format!("exited with {status}"), tail),
                    ));
                }
            }
            // The child is alive and something answers on its port: since the port was free
            // a moment ago and our server has not exited for lack of it, the answer is ours.
            if answers(&self.addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                let reason = format!("no answer to GET /v2/ within {READY_TIMEOUT:?}");
                return Err(fatal(
                    self.start_error(reason, log_tail(&log_path, log_start)),
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn start_error(&self, reason: String, log_tail: String) -> SandboxError {
        SandboxError::ServerStart {
            server: SERVER,
            addr: self.addr.clone(),
            reason,
            log: self.log_path(),
            log_tail,
        }
    }
}

impl Drop for ReferrersRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn server_bin() -> std::ffi::OsString {
    if let Some(bin) = std::env::var_os("GANTRY_REFERRERS_REGISTRY_BIN") {
        return bin;
    }
    // `cargo install` puts it in ~/.cargo/bin, which a test runner's PATH may lack.
    let installed = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|home| home.join("bin").join(SERVER));
    match installed {
        Some(path) if path.is_file() => path.into_os_string(),
        _ => SERVER.into(),
    }
}

/// True once `GET /v2/` answers 200.
fn answers(addr: &str) -> bool {
    get_v2(addr).is_some_and(|response| {
        response
            .lines()
            .next()
            .is_some_and(|status| status.split_whitespace().nth(1) == Some("200"))
    })
}
