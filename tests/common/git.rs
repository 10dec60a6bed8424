//! Real git repositories for tests, built with the git CLI under a sandboxed config, and
//! gantry runs that cannot see the developer's own git configuration.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{pipeline_config, registries, Case};

/// Fixed identity and clock: the same script gives the same commit ids on every run.
const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// Puts `command` in a git sandbox: no system or global config, `HOME` in `home`.
pub fn sandbox(command: &mut Command, home: &Path) {
    command
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("no-xdg"))
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("SSH_AUTH_SOCK");
}

pub struct TestRepo {
    pub dir: PathBuf,
    home: PathBuf,
    clock: Cell<i64>,
}

impl TestRepo {
    /// `git init` in `dir` with `main` as its first branch.
    pub fn init(dir: &Path) -> TestRepo {
        std::fs::create_dir_all(dir).expect("repo dir");
        let home = dir.with_extension("home");
        std::fs::create_dir_all(&home).expect("home dir");
        let repo = TestRepo {
            dir: dir.to_path_buf(),
            home,
            clock: Cell::new(START),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    /// Runs git in the repository; panics with its stderr on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.git_output(args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn git_output(&self, args: &[&str]) -> Output {
        let when = format!("{} +0000", self.clock.get());
        let mut command = Command::new("git");
        command.args(args).current_dir(&self.dir);
        sandbox(&mut command, &self.home);
        command
            .env("GIT_AUTHOR_NAME", "Ada Lovelace")
            .env("GIT_AUTHOR_EMAIL", "ada@example.invalid")
            .env("GIT_COMMITTER_NAME", "Ada Lovelace")
            .env("GIT_COMMITTER_EMAIL", "ada@example.invalid")
            .env("GIT_AUTHOR_DATE", &when)
            .env("GIT_COMMITTER_DATE", &when)
            .output()
            .expect("run git")
    }

    fn tick(&self) {
        self.clock.set(self.clock.get() + 3600);
    }

    /// A commit changing one file; returns its full sha.
    pub fn commit(&self, subject: &str) -> String {
        self.tick();
        let file = self.dir.join("changes.txt");
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(subject);
        text.push('\n');
        std::fs::write(&file, text).expect("write file");
        self.git(&["add", "changes.txt"]);
        self.git(&["commit", "-q", "-m", subject]);
        self.sha("HEAD")
    }

    /// A commit on its own file, so merges of parallel branches never conflict.
    pub fn commit_file(&self, file: &str, subject: &str) -> String {
        self.tick();
        std::fs::write(self.dir.join(file), subject).expect("write file");
        self.git(&["add", file]);
        self.git(&["commit", "-q", "-m", subject]);
        self.sha("HEAD")
    }

    /// `git merge --no-ff` of `branch` into the current branch.
    pub fn merge(&self, branch: &str, subject: &str) -> String {
        self.tick();
        self.git(&["merge", "-q", "--no-ff", "-m", subject, branch]);
        self.sha("HEAD")
    }

    pub fn checkout(&self, branch: &str) {
        self.git(&["checkout", "-q", branch]);
    }

    pub fn checkout_new(&self, branch: &str, at: &str) {
        self.git(&["checkout", "-q", "-b", branch, at]);
    }

    pub fn sha(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev])
    }

    /// The branch's commit, or `None` when it does not exist.
    pub fn branch_at(&self, branch: &str) -> Option<String> {
        self.ref_at(None, &format!("refs/heads/{branch}"))
    }

    /// Where `reference` points in this repository, or in the one at `git_dir` (a bare
    /// remote); `None` when it does not exist.
    pub fn ref_at(&self, git_dir: Option<&Path>, reference: &str) -> Option<String> {
        let mut args = Vec::new();
        if let Some(dir) = git_dir {
            args.extend(["--git-dir", dir.to_str().expect("utf-8")]);
        }
        args.extend(["rev-parse", "--verify", "-q", reference]);
        let out = self.git_output(&args);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Where `branch` points in the repository at `git_dir` (a bare remote), read with this
    /// repository's sandboxed git.
    pub fn branch_in(&self, git_dir: &Path, branch: &str) -> String {
        self.git(&[
            "--git-dir",
            git_dir.to_str().expect("utf-8"),
            "rev-parse",
            &format!("refs/heads/{branch}"),
        ])
    }

    pub fn branches(&self) -> Vec<String> {
        self.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The first 7 digits, as image tags carry them.
pub fn short(sha: &str) -> &str {
    &sha[..7]
}

/// A small history with everything gantry must read (names -> full shas):
///
/// ```text
/// main:     c0 ---------------- mm1 (merge release) -- h1' (merge hotfix)
/// release:        \-- d1 - d2 - r1 /                   /
/// hotfix:                                  mm1 - h1 --/
/// develop:  c0 - d1 - d2 - m1 (merge feature: f1, f2) - d3 - d4 - d5
/// ```
/// develop by first parents, newest first: d5 d4 d3 m1 d2 d1 c0.
pub fn standard_history(repo: &TestRepo) -> HashMap<&'static str, String> {
    let mut c = HashMap::new();
    c.insert("c0", repo.commit("Initial commit"));
    repo.checkout_new("develop", "main");
    c.insert("d1", repo.commit("Add payment endpoint"));
    c.insert("d2", repo.commit("Add retries"));
    repo.checkout_new("feature/login", "develop");
    c.insert("f1", repo.commit_file("login.txt", "Login form"));
    c.insert("f2", repo.commit_file("login-api.txt", "Login API"));
    repo.checkout("develop");
    c.insert("m1", repo.merge("feature/login", "Merge feature/login"));
    c.insert("d3", repo.commit("Fix rounding"));
    let release = format!("release/v1.0.0-sha-{}", short(&c["d2"]));
    repo.checkout_new(&release, &c["d2"]);
    c.insert(
        "r1",
        repo.commit_file("RELEASE.txt", "Release notes for 1.0.0"),
    );
    repo.checkout("main");
    c.insert("mm1", repo.merge(&release, "Merge release 1.0.0"));
    repo.checkout_new("hotfix/null-check", "main");
    c.insert("h1", repo.commit_file("hotfix.txt", "Hotfix: null check"));
    repo.checkout("main");
    c.insert(
        "mm2",
        repo.merge("hotfix/null-check", "Merge hotfix/null-check"),
    );
    repo.checkout("develop");
    c.insert("d4", repo.commit("Add metrics"));
    c.insert("d5", repo.commit("Bump dependencies"));
    c
}

/// A case whose config reads `repo` (relative to the config file when it lies beside
/// it) and has dev -> stage -> prod only, so no registry is down unless asked.
pub fn git_case(name: &str, repo_path: &str, with_down: bool) -> Case {
    let case = Case::new(name);
    let head = format!("[git]\npath = \"{repo_path}\"\n\n[copy]\nattempts = 2\nbackoff_ms = 20\n");
    let mut text = pipeline_config(&case, &head, ["", "", ""]);
    if with_down {
        text.push_str(&format!(
            "\n[[environment]]\nname = \"down\"\nregistry = \"127.0.0.1:{}\"\nfrom = \"dev\"\nplain_http = true\n",
            registries().closed_port
        ));
    }
    std::fs::write(&case.config, text).expect("write config");
    case
}

/// The gantry binary run in `cwd` with `config`, no inherited configuration, its state
/// under `cwd` and a git sandbox with `HOME` in `cwd`, so libgit2 reads no personal git
/// configuration; callers add what else their run needs, then run or spawn it.
pub fn gantry_command(cwd: &Path, config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .current_dir(cwd)
        .env_remove("GANTRY_CONFIG")
        .env("XDG_STATE_HOME", cwd.join("state"));
    sandbox(&mut command, cwd);
    command
}

/// Runs gantry with `case`'s config and a sandboxed HOME, so libgit2 reads no personal
/// git configuration.
pub fn gantry_git(case: &Case, args: &[&str]) -> Output {
    gantry_command(case.dir.path(), &case.config, args)
        .output()
        .expect("run gantry")
}

/// `git daemon` serving the repositories under a directory on loopback; stopped when
/// dropped. What a git host is to a fetch over the network (libgit2's local transport,
/// for paths and file:// URLs, has no shallow fetch, for one).
pub struct GitDaemon {
    child: std::process::Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn serve(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("git");
        let exec_path = String::from_utf8_lossy(&exec_path.stdout)
            .trim()
            .to_string();
        // git-daemon itself: `git daemon` would run it as a child a kill leaves serving.
        let mut command = Command::new(Path::new(&exec_path).join("git-daemon"));
        command
            .args(["--export-all", "--reuseaddr", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        sandbox(&mut command, base);
        let daemon = GitDaemon {
            child: command.spawn().expect("git-daemon"),
            port,
        };
        // Ready when it accepts connections; bounded, not timed.
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("git daemon did not start on port {port}");
    }

    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A smart-HTTP git server behind basic auth (tests/fixtures/git_http_server.py), as an
/// https forge asks for a password; killed on drop.
pub struct HttpRemote {
    child: std::process::Child,
    pub port: u16,
    log: std::path::PathBuf,
}

impl HttpRemote {
    pub fn start(root: &std::path::Path, user: &str, password: &str) -> HttpRemote {
        Self::start_with(root, user, password, None)
    }

    /// Served over https with this certificate (see `TestCa::server_cert`).
    pub fn start_with(
        root: &std::path::Path,
        user: &str,
        password: &str,
        tls: Option<&gantry::sandbox::CertPair>,
    ) -> HttpRemote {
        use std::io::BufRead;
        let log = root.with_extension("log");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/git_http_server.py"
        );
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(root)
            .args([user, password])
            .arg(&log)
            .args(tls.iter().flat_map(|pair| [&pair.cert, &pair.key]))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the git http server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("server stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server prints its port");
        let port = line.trim().parse().expect("a port number");
        HttpRemote { child, port, log }
    }

    /// Requests the server refused for want of the right password.
    pub fn refused(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("401 "))
            .count()
    }
}

impl Drop for HttpRemote {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare repository at `path` whose develop has `commits` commits by first parents (one
/// file changing), main at the first: made with `git fast-import`, for long histories.
pub fn long_history(path: &Path, commits: usize) -> Vec<String> {
    use std::io::Write;
    let mut command = Command::new("git");
    command
        .args(["init", "-q", "--bare", "-b", "develop"])
        .arg(path);
    sandbox(&mut command, path.parent().expect("a parent"));
    assert!(command.status().expect("git init").success());
    let mut stream = Vec::new();
    for i in 1..=commits {
        let message = format!("Change {i}\n");
        write!(
            stream,
            "commit refs/heads/develop\nmark :{i}\ncommitter Ada <ada@example.invalid> {} +0000\ndata {}\n{message}",
            START + i as i64 * 60,
            message.len()
        )
        .expect("write");
        if i > 1 {
            writeln!(stream, "from :{}", i - 1).expect("write");
        }
        let content = i.to_string();
        writeln!(
            stream,
            "M 644 inline app.txt\ndata {}\n{content}",
            content.len()
        )
        .expect("write");
        if i == 1 {
            writeln!(stream, "reset refs/heads/main\nfrom :1").expect("write");
        }
    }
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(path)
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped());
    sandbox(&mut command, path.parent().expect("a parent"));
    let mut child = command.spawn().expect("fast-import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&stream)
        .expect("stream");
    assert!(child.wait().expect("fast-import").success());
    let mut command = Command::new("git");
    command
        .arg("--git-dir")
        .arg(path)
        .args(["rev-list", "--first-parent", "develop"]);
    sandbox(&mut command, path.parent().expect("a parent"));
    let out = command.output().expect("rev-list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
