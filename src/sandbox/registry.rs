//! A real CNCF Distribution registry (`docker-registry`) on a free loopback port.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::tls::CertPair;
use super::token::TokenAuth;
use super::SandboxError;

/// How long a freshly spawned registry gets to answer `GET /v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Fresh ports to try when the one we picked was taken between probing and binding.
const PORT_ATTEMPTS: usize = 5;
/// Response header carrying a per-instance nonce, so readiness polling cannot be fooled by
/// some other server that grabbed our port.
const NONCE_HEADER: &str = "X-Gantry-Sandbox";
const LOG_TAIL_LINES: usize = 20;

/// A `docker-registry` child process serving plain HTTP on `127.0.0.1:PORT`, storing blobs under
/// `<dir>/data` (deletes enabled) and logging to `<dir>/registry.log`. Killed on drop.
#[derive(Debug)]
pub struct LocalRegistry {
    dir: PathBuf,
    addr: String,
    port: u16,
    credentials: Option<(String, String)>,
    tls: Option<CertPair>,
    token: Option<TokenAuth>,
    access_log: bool,
    nonce: String,
    child: Option<Child>,
    watchdog: Option<Child>,
}

/// How a sandbox registry is set up beyond plain, open HTTP.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// htpasswd basic auth for this user and password.
    pub basic: Option<(String, String)>,
    /// Serve https with this certificate (see `TestCa::server_cert`).
    pub tls: Option<CertPair>,
    /// Token auth: clients fetch a JWT from this issuer (see `TokenIssuer::auth`).
    pub token: Option<TokenAuth>,
    /// Log every request to `registry.log` (see `LocalRegistry::requests`).
    pub access_log: bool,
}

enum LaunchError {
    /// Another process owns the port; worth retrying on a different one.
    PortInUse(SandboxError),
    Fatal(SandboxError),
}

impl LaunchError {
    fn into_inner(self) -> SandboxError {
        match self {
            LaunchError::PortInUse(e) | LaunchError::Fatal(e) => e,
        }
    }
}

impl LocalRegistry {
    /// Starts `docker-registry serve <dir>/config.yml` on a free 127.0.0.1 port and waits (up to
    /// 10 s) until `GET /v2/` answers. `dir` is created if needed; existing data is reused.
    pub fn start(dir: &Path) -> Result<Self, SandboxError> {
        Self::launch(dir, RegistryOptions::default())
    }

    /// Like [`LocalRegistry::start`], with TLS and/or an auth scheme.
    pub fn start_with(dir: &Path, options: RegistryOptions) -> Result<Self, SandboxError> {
        if options.basic.is_some() && options.token.is_some() {
            return Err(SandboxError::Invalid(
                "a registry has one auth scheme: basic or token, not both".into(),
            ));
        }
        Self::launch(dir, options)
    }

    /// Like [`LocalRegistry::start`], but every request needs HTTP basic auth as `user` (bcrypt
    /// htpasswd file generated with `htpasswd -Bbn`, realm "gantry-test").
    pub fn start_with_basic_auth(
        dir: &Path,
        user: &str,
        password: &str,
    ) -> Result<Self, SandboxError> {
        Self::launch(
            dir,
            RegistryOptions {
                basic: Some((user.to_string(), password.to_string())),
                ..RegistryOptions::default()
            },
        )
    }

    /// Whether it serves https.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// `"127.0.0.1:PORT"`, ready to prefix repository names.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The TCP port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding config, storage and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the registry's stdout/stderr go; handy when a test fails.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("registry.log")
    }

    /// The requests the registry logged so far (`METHOD path?query`, oldest first); empty
    /// unless started with `access_log`. A request is logged once it has been answered.
    pub fn requests(&self) -> Vec<String> {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines().filter_map(access_line).collect()
    }

    /// The basic-auth user and password, if started with [`LocalRegistry::start_with_basic_auth`].
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// Kills the registry and reaps it. Safe to call repeatedly.
    pub fn stop(&mut self) {
        self.stop_watchdog();
        if let Some(mut child) = self.child.take() {
            // Errors mean the process is already gone, which is the state we want.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts the registry again on the same port with the same storage, e.g. to
    /// simulate a registry outage or to prove data survives a restart.
    pub fn restart(&mut self) -> Result<(), SandboxError> {
        self.stop();
        let mut attempt = 0;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                // The old socket is normally released at once, but give the kernel a moment
                // before declaring the port lost.
                Err(LaunchError::PortInUse(_)) if attempt < 3 => {
                    attempt += 1;
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e.into_inner()),
            }
        }
    }

    fn launch(dir: &Path, options: RegistryOptions) -> Result<Self, SandboxError> {
        let RegistryOptions {
            basic: credentials,
            tls,
            token,
            access_log,
        } = options;
        let data = dir.join("data");
        fs::create_dir_all(&data)
            .map_err(SandboxError::io(format!("creating {}", data.display())))?;
        // Absolute paths keep the config valid whatever the registry's working directory is.
        let dir = dir
            .canonicalize()
            .map_err(SandboxError::io(format!("resolving {}", dir.display())))?;
        if let Some((user, password)) = &credentials {
            write_htpasswd(&dir.join("htpasswd"), user, password)?;
        }
        let mut registry = LocalRegistry {
            dir,
            addr: String::new(),
            port: 0,
            credentials,
            tls,
            token,
            access_log,
            nonce: format!("{:016x}", rand::random::<u64>()),
            child: None,
            watchdog: None,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            registry.port = free_port()?;
            registry.addr = format!("127.0.0.1:{}", registry.port);
            match registry.spawn_and_wait() {
                Ok(()) => return Ok(registry),
                Err(LaunchError::PortInUse(e)) => last_error = Some(e),
                Err(LaunchError::Fatal(e)) => return Err(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| SandboxError::Invalid("no port attempts were made".to_string())))
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("config.yml")
    }

    fn config_yaml(&self) -> Result<String, SandboxError> {
        let data = yaml_path(&self.dir.join("data"))?;
        // A fixed secret silences the "generated random secret" warning; it only signs
        // upload-session state, which never outlives a sandbox.
        let mut yaml = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: {no_access_log}\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
             http:\n  addr: \"{addr}\"\n  secret: \"gantry-sandbox-{nonce}\"\n\
             \x20 headers:\n    {NONCE_HEADER}: [\"{nonce}\"]\n",
            addr = self.addr,
            nonce = self.nonce,
            no_access_log = !self.access_log,
        );
        if let Some(tls) = &self.tls {
            yaml.push_str(&format!(
                "\x20 tls:\n    certificate: {}\n    key: {}\n",
                yaml_path(&tls.cert)?,
                yaml_path(&tls.key)?,
            ));
        }
        if self.credentials.is_some() {
            let htpasswd = yaml_path(&self.dir.join("htpasswd"))?;
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: gantry-test\n    path: {htpasswd}\n"
            ));
        }
        if let Some(token) = &self.token {
            let quote = |text: &str| {
                serde_json::to_string(text).map_err(|source| SandboxError::Json {
                    context: "quoting token auth settings".to_string(),
                    source,
                })
            };
            yaml.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                quote(&token.realm)?,
                quote(&token.service)?,
                quote(&token.issuer)?,
                yaml_path(&token.rootcertbundle)?,
            ));
        }
        Ok(yaml)
    }

    fn spawn_and_wait(&mut self) -> Result<(), LaunchError> {
        let fatal = LaunchError::Fatal;
        let config = self.config_yaml().map_err(fatal)?;
        fs::write(self.config_path(), config)
            .map_err(SandboxError::io("writing registry config"))
            .map_err(fatal)?;

        let log_path = self.log_path();
        let (log, stderr, log_start) =
            open_log(&log_path, "docker-registry", &self.addr).map_err(fatal)?;

        let mut command = Command::new(registry_bin());
        command
            .arg("serve")
            .arg(self.config_path())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        // REGISTRY_* variables override the config file; a stray one in the caller's
        // environment (say REGISTRY_HTTP_ADDR) would silently break the sandbox.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REGISTRY_") {
                command.env_remove(key);
            }
        }
        let child = command.spawn().map_err(|e| {
            fatal(if e.kind() == io::ErrorKind::NotFound {
                SandboxError::ToolMissing {
                    tool: "docker-registry",
                    hint: "apt-get install docker-registry \
                           (or set GANTRY_REGISTRY_BIN to a CNCF Distribution `registry` binary)",
                }
            } else {
                SandboxError::Io {
                    context: "spawning docker-registry".to_string(),
                    source: e,
                }
            })
        })?;
        self.watchdog = spawn_watchdog(child.id());
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        self.child = None;
                        self.stop_watchdog();
                        let tail = log_tail(&log_path, log_start);
                        let error = self.start_error(format!("exited with {status}"), tail.clone());
                        return Err(if tail.contains("address already in use") {
                            LaunchError::PortInUse(error)
                        } else {
                            LaunchError::Fatal(error)
                        });
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.stop();
                        return Err(fatal(SandboxError::Io {
                            context: "checking on docker-registry".to_string(),
                            source: e,
                        }));
                    }
                }
            }
            if probe(&self.addr, &self.nonce, self.tls.is_some()) {
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

    fn stop_watchdog(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            // Killing the shell first means it can never run its `kill` against a pid we are
            // about to reap (and the OS may reuse). Dropping it closes the pipe, so its
            // orphaned `cat` exits too.
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }

    fn start_error(&self, reason: String, log_tail: String) -> SandboxError {
        SandboxError::RegistryStart {
            addr: self.addr.clone(),
            reason,
            log: self.log_path(),
            log_tail,
        }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens the server's log for one start: the handles for its stdout and stderr, and where
/// this attempt's lines begin (only they matter when diagnosing a failure).
pub(super) fn open_log(
    path: &Path,
    server: &str,
    addr: &str,
) -> Result<(File, File, u64), SandboxError> {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(SandboxError::io(format!("opening {}", path.display())))?;
    let _ = writeln!(log, "--- gantry sandbox: starting {server} on {addr} ---");
    let start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let stderr = log
        .try_clone()
        .map_err(SandboxError::io("duplicating log handle"))?;
    Ok((log, stderr, start))
}

/// Drop only runs on orderly exits; a Ctrl-C'd demo or a killed test binary would otherwise
/// leave registries running forever. The watchdog shell blocks reading a pipe whose only
/// writer is this process, so the kernel wakes it when we die, however we die, and it kills
/// the registry. Best effort: without `sh` we simply run unguarded.
pub(super) fn spawn_watchdog(registry_pid: u32) -> Option<Child> {
    Command::new("sh")
        .arg("-c")
        .arg("cat >/dev/null; kill -9 \"$1\" 2>/dev/null")
        .arg("gantry-sandbox-watchdog")
        .arg(registry_pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn registry_bin() -> std::ffi::OsString {
    std::env::var_os("GANTRY_REGISTRY_BIN").unwrap_or_else(|| "docker-registry".into())
}

/// Asks the OS for a free port. It is released before the registry binds it, hence the
/// retry loop in `launch`.
pub(super) fn free_port() -> Result<u16, SandboxError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(SandboxError::io("finding a free port on 127.0.0.1"))?;
    let addr = listener
        .local_addr()
        .map_err(SandboxError::io("finding a free port on 127.0.0.1"))?;
    Ok(addr.port())
}

/// The whole answer to a plain `GET /v2/` on `addr`, or `None` when nothing answers
/// (within a second). HTTP/1.0 makes the server close the connection, so reading to EOF
/// ends the response.
pub(super) fn get_v2(addr: &str) -> Option<String> {
    let socket = addr.parse::<SocketAddr>().ok()?;
    let mut stream = TcpStream::connect_timeout(&socket, Duration::from_millis(500)).ok()?;
    let timeout = Some(Duration::from_secs(1));
    stream.set_read_timeout(timeout).ok()?;
    stream.set_write_timeout(timeout).ok()?;
    let request = format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response).ok()?;
    Some(String::from_utf8_lossy(&response).into_owned())
}

/// True once our registry (recognised by its nonce header) answers `GET /v2/` with 200 or 401.
/// For a TLS registry, a plain-HTTP request gets Go's fixed "HTTP request to an HTTPS
/// server" answer without our headers: that proves a Go TLS server holds the port, and a
/// foreign server there would still make our registry exit with "address already in use".
fn probe(addr: &str, nonce: &str, tls: bool) -> bool {
    let Some(response) = get_v2(addr) else {
        return false;
    };
    if tls {
        return response.starts_with("HTTP/1.0 400") && response.contains("HTTPS server");
    }
    let mut lines = response.lines();
    let status_ok = lines.next().is_some_and(|status| {
        status.starts_with("HTTP/1.")
            && matches!(status.split_whitespace().nth(1), Some("200" | "401"))
    });
    let nonce_ok = lines.take_while(|line| !line.is_empty()).any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case(NONCE_HEADER) && value.trim() == nonce
        })
    });
    status_ok && nonce_ok
}

/// `METHOD path` of one combined-log-format line (`... "GET /v2/x HTTP/1.1" 200 ...`).
fn access_line(line: &str) -> Option<String> {
    let (_, rest) = line.split_once('"')?;
    let (request, _) = rest.split_once('"')?;
    let mut parts = request.split(' ');
    let method = parts.next()?;
    let path = parts.next()?;
    (path.starts_with("/v2/") && method.chars().all(|c| c.is_ascii_uppercase()))
        .then(|| format!("{method} {path}"))
}

/// The last lines the registry logged since `start` (best effort: this feeds error messages).
pub(super) fn log_tail(path: &Path, start: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(start)).is_ok() {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    if tail.is_empty() {
        "(log is empty)".to_string()
    } else {
        tail.join("\n")
    }
}

/// A YAML double-quoted scalar for a path; JSON string syntax is valid YAML and escapes
/// anything awkward in the path.
fn yaml_path(path: &Path) -> Result<String, SandboxError> {
    let text = path.to_str().ok_or_else(|| {
        SandboxError::Invalid(format!("path {} is not valid UTF-8", path.display()))
    })?;
    serde_json::to_string(text).map_err(|source| SandboxError::Json {
        context: "quoting a path for the registry config".to_string(),
        source,
    })
}

fn write_htpasswd(path: &Path, user: &str, password: &str) -> Result<(), SandboxError> {
    // htpasswd would accept these but the registry's parser would then misread the file.
    if user.is_empty() || user.contains(':') || user.contains('\n') || password.contains('\n') {
        return Err(SandboxError::Invalid(format!(
            "basic-auth user {user:?} must be non-empty without ':' or newlines, password without newlines"
        )));
    }
    let output = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                SandboxError::ToolMissing {
                    tool: "htpasswd",
                    hint: "apt-get install apache2-utils",
                }
            } else {
                SandboxError::Io {
                    context: "running htpasswd".to_string(),
                    source: e,
                }
            }
        })?;
    if !output.status.success() {
        return Err(SandboxError::CommandFailed {
            command: format!("htpasswd -Bbn {user} ***"),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let line = String::from_utf8_lossy(&output.stdout).trim().to_string();
    fs::write(path, format!("{line}\n"))
        .map_err(SandboxError::io(format!("writing {}", path.display())))
}
