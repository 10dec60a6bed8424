//! Pushing release branches over ssh with the keys ssh-agent holds, against a real sshd
//! and a real ssh-agent on loopback: the push lands, a refused key fails once, and a host
//! key that known_hosts does not vouch for stops the push with how to fix it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::git::{gantry_command, git_case, short, standard_history, TestRepo};
use common::{code, registries, stderr, stdout, Case};
use gantry::sandbox::{ImageSpec, SeedFormat};

const SSHD: &str = "/usr/sbin/sshd";
/// Generous: a loaded CI machine can take seconds to start a process.
const DEADLINE: Duration = Duration::from_secs(30);

/// Fails (never skips) when OpenSSH is missing, saying how to get it.
fn require_openssh() {
    assert!(
        Path::new(SSHD).is_file(),
        "{SSHD} is missing: the ssh push tests need a real sshd, ssh-agent and ssh-keygen \
         (apt-get install openssh-server; .ci/run installs it)"
    );
}

fn run(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e} (apt-get install openssh-server)"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh passphrase-less ed25519 key at `path` (and `path.pub`).
fn keygen(path: &Path, comment: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path));
}

/// A fresh ed25519 key pair `keys/<name>` in the case's dir.
fn new_key(case: &Case, name: &str) -> PathBuf {
    let keys = case.dir.path().join("keys");
    std::fs::create_dir_all(&keys).expect("keys dir");
    let key = keys.join(name);
    keygen(&key, &format!("gantry-test-{name}"));
    key
}

/// `SHA256:...`, as sshd logs a key and as ssh shows a host key.
fn fingerprint(public: &Path) -> String {
    let out = run(Command::new("ssh-keygen").arg("-lf").arg(public));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("ssh-keygen -l prints a fingerprint")
        .to_string()
}

/// `ssh-ed25519 AAAA...` without the comment.
fn public_key(public: &Path) -> String {
    let text = std::fs::read_to_string(public).expect("read public key");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < DEADLINE,
            "{what} not ready after {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A real sshd on a free loopback port with its own host key, accepting the user running
/// the tests with the keys in `authorized_keys` only; killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    log: PathBuf,
    host_public: PathBuf,
}

/// The user the tests log in as: whoever runs them (root in CI), since sshd started by
/// anyone else can only log in that user.
fn login_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    assert!(out.status.success(), "id -un: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    fn start(dir: &Path, authorized: &Path) -> Sshd {
        require_openssh();
        std::fs::create_dir_all(dir).expect("sshd dir");
        // Privilege separation: sshd refuses to start without it, and a fresh container lacks it.
        // Only sshd run as root needs it; as anyone else it logs in only its own user.
        if std::fs::create_dir_all("/run/sshd").is_err() && login_user() == "root" {
            panic!("cannot create /run/sshd, which sshd needs when run as root");
        }
        let host_key = dir.join("host_key");
        keygen(&host_key, "gantry-test-host");
        let authorized_keys = dir.join("authorized_keys");
        std::fs::copy(authorized, &authorized_keys).expect("authorized_keys");
        // The port is free when asked but may be taken before sshd binds it: try another.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let config = dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1\nPort {port}\nHostKey {host_key}\n\
                     AuthorizedKeysFile {authorized_keys}\nPidFile {pid}\nStrictModes no\n\
                     UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
                     UseDNS no\nPrintMotd no\nLogLevel VERBOSE\n",
                    host_key = host_key.display(),
                    authorized_keys = authorized_keys.display(),
                    pid = dir.join("sshd.pid").display(),
                ),
            )
            .expect("write sshd_config");
            let log = dir.join(format!("sshd-{port}.log"));
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("sshd log"))
                .spawn()
                .expect("start sshd");
            let listening = format!("Server listening on 127.0.0.1 port {port}.");
            // sshd logs this after listen(): waiting for it needs no probe connection,
            // which would add lines to the log the tests count.
            let start = Instant::now();
            loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains(&listening) {
                    return Sshd {
                        child,
                        port,
                        log,
                        host_public: host_key.with_extension("pub"),
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    if text.contains("Address already in use") {
                        break;
                    }
                    panic!("sshd exited ({status}) before listening:\n{text}");
                }
                if start.elapsed() > DEADLINE {
                    let _ = child.kill();
                    panic!("sshd not listening after {DEADLINE:?}:\n{text}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("sshd found no free port in 5 tries");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it holds one of `lines`: sshd's monitor writes what its session
    /// processes report, which can land just after the client has its answer.
    fn log_once(&self, lines: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if lines.iter().any(|l| log.contains(l)) {
                return log;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "sshd never logged any of {lines:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What `ssh` itself would write to known_hosts for this server.
    fn known_hosts_line(&self) -> String {
        format!(
            "[127.0.0.1]:{} {}\n",
            self.port,
            public_key(&self.host_public)
        )
    }

    fn url(&self, remote: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            login_user(),
            self.port,
            remote.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real ssh-agent holding `keys`; killed on drop.
struct Agent {
    child: Child,
    sock: PathBuf,
}

impl Agent {
    fn start(dir: &Path, keys: &[&Path]) -> Agent {
        require_openssh();
        std::fs::create_dir_all(dir).expect("agent dir");
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start ssh-agent (apt-get install openssh-server)");
        let agent = Agent { child, sock };
        // `ssh-add -l` exits 2 while it cannot reach the agent, 1 for an empty one.
        wait_for("ssh-agent", || {
            agent
                .ssh_add()
                .arg("-l")
                .output()
                .map(|o| o.status.code() == Some(1))
                .unwrap_or(false)
        });
        for key in keys {
            run(agent.ssh_add().arg("-q").arg(key));
        }
        agent
    }

    fn ssh_add(&self) -> Command {
        let mut command = Command::new("ssh-add");
        command
            .env("SSH_AUTH_SOCK", &self.sock)
            .stdin(Stdio::null());
        command
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// gantry as tests/common/git.rs runs it (sandboxed git config, HOME in the case's dir,
/// so `~/.ssh/known_hosts` is the case's), with `agent` as its ssh-agent. Killed after
/// [`DEADLINE`]: a credential offered in a loop must fail the test, not hang it.
fn gantry_ssh(case: &Case, agent: Option<&Agent>, args: &[&str]) -> Output {
    let out_path = case.dir.path().join("gantry.stdout");
    let err_path = case.dir.path().join("gantry.stderr");
    let mut command = gantry_command(case.dir.path(), &case.config, args);
    command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    if let Some(agent) = agent {
        command.env("SSH_AUTH_SOCK", &agent.sock);
    }
    let mut child = command.spawn().expect("run gantry");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for gantry") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "gantry {args:?} still running after {DEADLINE:?} (a credential loop?):\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).expect("gantry stdout"),
        stderr: std::fs::read(&err_path).expect("gantry stderr"),
    }
}

fn known_hosts(case: &Case, text: &str) {
    let dir = case.dir.path().join(".ssh");
    std::fs::create_dir_all(&dir).expect(".ssh");
    std::fs::write(dir.join("known_hosts"), text).expect("known_hosts");
}

/// A repository with the standard history, d3's image in dev (so `release cut` finds a
/// version), and an empty bare remote; returns the history and the remote's path.
fn setup(
    case: &Case,
    seed: u64,
) -> (
    TestRepo,
    std::collections::HashMap<&'static str, String>,
    PathBuf,
) {
    let repo = TestRepo::init(&case.dir.path().join("repo"));
    let c = standard_history(&repo);
    case.seed_in(
        registries().dev.addr(),
        &case.service,
        short(&c["d3"]),
        seed,
        &[],
        SeedFormat::Oci,
        ImageSpec::small(seed),
    );
    let remote = case.dir.path().join("remote.git");
    repo.git(&["init", "-q", "--bare", remote.to_str().expect("utf-8")]);
    (repo, c, remote)
}

/// Every branch the bare remote has.
fn remote_branches(repo: &TestRepo, remote: &Path) -> String {
    repo.git(&[
        "--git-dir",
        remote.to_str().expect("utf-8"),
        "for-each-ref",
        "--format=%(refname)",
        "refs/heads",
    ])
}

#[test]
fn push_over_ssh_lands_with_the_key_ssh_agent_holds() {
    let case = git_case("ssh-push", "repo", false);
    let (repo, c, remote) = setup(&case, 241);
    let key = new_key(&case, "deploy");
    let sshd = Sshd::start(&case.dir.path().join("sshd"), &key.with_extension("pub"));
    let agent = Agent::start(&case.dir.path().join("agent"), &[&key]);
    known_hosts(&case, &sshd.known_hosts_line());
    repo.git(&["remote", "add", "origin", &sshd.url(&remote)]);

    let out = gantry_ssh(
        &case,
        Some(&agent),
        &["release", "cut", short(&c["d3"]), "--push"],
    );
    assert_eq!(code(&out), 0, "{}\nsshd:\n{}", stderr(&out), sshd.log());
    assert!(
        stdout(&out).contains("pushed to origin"),
        "{}",
        stdout(&out)
    );
    let branch = format!("release/v1.1.0-sha-{}", short(&c["d3"]));
    let remote_head = repo.branch_in(&remote, &branch);
    assert_eq!(remote_head, c["d3"]);
    assert_eq!(repo.branch_at(&branch), Some(c["d3"].clone()));
    // The agent's key, not anything else, got in: sshd names the key it accepted.
    let log = sshd.log_once(&["Accepted publickey"]);
    let line = log
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "Accepted publickey for {} from 127.0.0.1 ",
                login_user()
            ))
        })
        .unwrap_or_else(|| panic!("sshd accepted no public key:\n{log}"));
    assert!(
        line.contains(&fingerprint(&key.with_extension("pub"))),
        "{line}"
    );
}

#[test]
fn an_agent_key_the_server_refuses_fails_once_and_leaves_nothing() {
    let case = git_case("ssh-refused", "repo", false);
    let (repo, c, remote) = setup(&case, 242);
    let authorized = new_key(&case, "deploy");
    let stranger = new_key(&case, "stranger");
    let sshd = Sshd::start(
        &case.dir.path().join("sshd"),
        &authorized.with_extension("pub"),
    );
    let agent = Agent::start(&case.dir.path().join("agent"), &[&stranger]);
    known_hosts(&case, &sshd.known_hosts_line());
    repo.git(&["remote", "add", "origin", &sshd.url(&remote)]);
    let branch = format!("release/v1.1.0-sha-{}", short(&c["d3"]));

    let out = gantry_ssh(
        &case,
        Some(&agent),
        &["release", "cut", short(&c["d3"]), "--push"],
    );
    // The session's end: every refusal before it is in the log.
    let log = sshd.log_once(&["Connection closed by", "Disconnect"]);
    assert_eq!(code(&out), 1, "{}\nsshd:\n{log}", stdout(&out));
    // Offered once: one connection, the stranger's key tried once, never accepted.
    assert_eq!(
        log.matches("Connection from 127.0.0.1").count(),
        1,
        "one connection:\n{log}"
    );
    let tried = log
        .lines()
        .filter(|l| l.contains(&fingerprint(&stranger.with_extension("pub"))))
        .count();
    assert_eq!(tried, 1, "tries of the key:\n{log}");
    assert!(!log.contains("Accepted publickey"), "{log}");
    let err = stderr(&out);
    assert!(
        err.contains("push of") && err.contains("removed again"),
        "{err}"
    );
    assert!(
        err.contains("ssh-agent"),
        "the message names ssh-agent: {err}"
    );
    assert!(
        err.contains("ssh-add"),
        "the message says how to check: {err}"
    );
    assert_eq!(repo.branch_at(&branch), None);
    assert_eq!(remote_branches(&repo, &remote), "");

    // No agent at all: said so, and nothing left behind either.
    let out = gantry_ssh(&case, None, &["release", "cut", short(&c["d3"]), "--push"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("SSH_AUTH_SOCK"), "{err}");
    assert_eq!(repo.branch_at(&branch), None);
    assert_eq!(remote_branches(&repo, &remote), "");
}

#[test]
fn an_unknown_or_changed_host_key_stops_the_push_and_says_how_to_fix_it() {
    let case = git_case("ssh-hostkey", "repo", false);
    let (repo, c, remote) = setup(&case, 243);
    let key = new_key(&case, "deploy");
    let impostor = new_key(&case, "other-host");
    let sshd = Sshd::start(&case.dir.path().join("sshd"), &key.with_extension("pub"));
    let agent = Agent::start(&case.dir.path().join("agent"), &[&key]);
    repo.git(&["remote", "add", "origin", &sshd.url(&remote)]);
    let branch = format!("release/v1.1.0-sha-{}", short(&c["d3"]));
    let host_fingerprint = fingerprint(&sshd.host_public);
    let keyscan = format!("ssh-keyscan -p {} 127.0.0.1", sshd.port);

    let unknown = String::new();
    let changed = format!(
        "[127.0.0.1]:{} {}\n",
        sshd.port,
        public_key(&impostor.with_extension("pub"))
    );
    for (what, hosts) in [
        ("no known_hosts entry", &unknown),
        ("another key", &changed),
    ] {
        known_hosts(&case, hosts);
        let out = gantry_ssh(
            &case,
            Some(&agent),
            &["release", "cut", short(&c["d3"]), "--push"],
        );
        assert_eq!(code(&out), 1, "{what}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("removed again"), "{what}: {err}");
        assert!(err.contains("known_hosts"), "{what}: {err}");
        assert!(
            err.contains(&keyscan),
            "{what}: the fix is spelled out: {err}"
        );
        assert!(
            err.contains(&host_fingerprint),
            "{what}: the server's fingerprint, to check before trusting it: {err}"
        );
        assert_eq!(repo.branch_at(&branch), None, "{what}");
        assert_eq!(remote_branches(&repo, &remote), "", "{what}");
    }
    // Refused before authenticating: the agent's key never reached the server.
    let log = sshd.log();
    assert!(!log.contains("Accepted publickey"), "{log}");

    // The line ssh-keyscan would add: the same push now lands.
    known_hosts(&case, &sshd.known_hosts_line());
    let out = gantry_ssh(
        &case,
        Some(&agent),
        &["release", "cut", short(&c["d3"]), "--push"],
    );
    assert_eq!(code(&out), 0, "{}\nsshd:\n{}", stderr(&out), sshd.log());
    let remote_head = repo.branch_in(&remote, &branch);
    assert_eq!(remote_head, c["d3"]);
}

/// A service whose repository is named by an ssh URL: gantry clones it into its mirror with
/// the key ssh-agent holds, reads its history from there, and pushes a cut back over ssh.
#[test]
fn a_service_repository_over_ssh_is_mirrored_and_cut_with_the_agents_key() {
    let case = git_case("ssh-polyrepo", "repo", false);
    let (repo, c, _) = setup(&case, 243);
    let served = case.dir.path().join("served.git");
    repo.git(&[
        "clone",
        "-q",
        "--bare",
        ".",
        served.to_str().expect("utf-8"),
    ]);
    let key = new_key(&case, "deploy");
    let sshd = Sshd::start(&case.dir.path().join("sshd"), &key.with_extension("pub"));
    let agent = Agent::start(&case.dir.path().join("agent"), &[&key]);
    known_hosts(&case, &sshd.known_hosts_line());
    let url = sshd.url(&served);
    let mut config = std::fs::read_to_string(&case.config).expect("config");
    config.push_str(&format!("git = \"{url}\"\n"));
    std::fs::write(&case.config, config).expect("config");

    let out = gantry_ssh(
        &case,
        Some(&agent),
        &[
            "commits",
            "--service",
            &case.service,
            "--limit",
            "3",
            "--json",
        ],
    );
    assert_eq!(code(&out), 0, "{}\nsshd:\n{}", stderr(&out), sshd.log());
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(view["repository"], url.as_str());
    assert_eq!(view["commits"][0]["sha"], c["d5"].as_str());

    let out = gantry_ssh(
        &case,
        Some(&agent),
        &[
            "release",
            "cut",
            "--service",
            &case.service,
            short(&c["d3"]),
        ],
    );
    assert_eq!(code(&out), 0, "{}\nsshd:\n{}", stderr(&out), sshd.log());
    let branch = format!("release/v1.1.0-sha-{}", short(&c["d3"]));
    assert_eq!(repo.branch_in(&served, &branch), c["d3"]);
    // The working repository at [git] path is not this service's: nothing cut there.
    assert_eq!(repo.branch_at(&branch), None);

    // Without the agent, the fetch fails as unreachable and the mirror from before is read.
    let out = gantry_ssh(
        &case,
        None,
        &["commits", "--service", &case.service, "--json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("read from the copy fetched"),
        "{}",
        stderr(&out)
    );
}
