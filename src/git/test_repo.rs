//! Real repositories for the git module's unit tests, made with the git CLI under a
//! sandboxed configuration and a fixed clock.

use std::path::Path;
use std::process::Command;

use git2::Oid;

/// A repository made with the git CLI under a sandboxed configuration.
pub(super) struct Repo {
    dir: tempfile::TempDir,
    clock: std::cell::Cell<i64>,
}

impl Repo {
    pub(super) fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
            clock: std::cell::Cell::new(1_700_000_000),
        };
        repo.git(&["init", "-q", "-b", "develop"]);
        repo
    }

    pub(super) fn git(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `git args` under the sandbox, one clock tick after the last.
    fn command(&self, args: &[&str]) -> Command {
        self.clock.set(self.clock.get() + 60);
        let when = format!("@{} +0000", self.clock.get());
        let mut command = Command::new("git");
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.dir.path())
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.invalid")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.invalid")
            .env("GIT_AUTHOR_DATE", &when)
            .env("GIT_COMMITTER_DATE", &when);
        command
    }

    /// Makes develop with `git fast-import` (one pack, oldest commits first, as large
    /// imports and mirrors have): `n` commits by first parents, every `merge_every`-th
    /// merging a side branch of `side` commits made just before it.
    pub(super) fn import(&self, n: usize, merge_every: usize, side: usize) {
        use std::io::Write;
        let mut stream = Vec::new();
        let mut mark = 0;
        let mut develop = None;
        let mut commit = |stream: &mut Vec<u8>, branch: &str, from: Option<usize>, merge| {
            mark += 1;
            let message = format!("commit {mark} on {branch}\n");
            let when = 1_700_000_000 + mark * 60;
            write!(
                stream,
                "commit refs/heads/{branch}\nmark :{mark}\n\
                 committer Ada <ada@example.invalid> {when} +0000\ndata {}\n{message}",
                message.len()
            )
            .expect("write");
            if let Some(from) = from {
                writeln!(stream, "from :{from}").expect("write");
            }
            if let Some(merge) = merge {
                writeln!(stream, "merge :{merge}").expect("write");
            }
            writeln!(
                stream,
                "M 644 inline file\ndata {}\n{mark}",
                mark.to_string().len()
            )
            .expect("write");
            mark
        };
        for i in 1..=n {
            let mut side_tip = None;
            if merge_every > 0 && i % merge_every == 0 && develop.is_some() {
                for _ in 0..side {
                    let from = side_tip.or(develop);
                    side_tip = Some(commit(&mut stream, "side", from, None));
                }
            }
            develop = Some(commit(&mut stream, "develop", develop, side_tip));
        }
        let mut child = self
            .command(&["fast-import", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("fast-import");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&stream)
            .expect("stream");
        let status = child.wait().expect("fast-import");
        assert!(status.success());
    }

    pub(super) fn commits(&self, n: usize) {
        for i in 0..n {
            self.git(&["commit", "-q", "--allow-empty", "-m", &format!("c{i}")]);
        }
    }

    pub(super) fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub(super) fn objects(&self) -> std::path::PathBuf {
        self.dir.path().join(".git/objects")
    }

    pub(super) fn head(&self) -> Oid {
        Oid::from_str(&self.git(&["rev-parse", "develop"])).expect("oid")
    }

    /// develop's first-parent chain from git itself, with each commit's time.
    pub(super) fn expected(&self) -> Vec<(Oid, i64)> {
        self.git(&["log", "--first-parent", "--format=%H %ct", "develop"])
            .lines()
            .map(|l| {
                let (sha, time) = l.split_once(' ').expect("sha time");
                (
                    Oid::from_str(sha).expect("oid"),
                    time.parse().expect("time"),
                )
            })
            .collect()
    }
}

/// develop with merges (first parent on develop, second on a feature branch) and an
/// octopus merge, so the extra-edge list is there too.
pub(super) fn history(repo: &Repo) {
    repo.commits(3);
    for round in 0..3 {
        repo.git(&["checkout", "-q", "-b", &format!("f{round}")]);
        repo.commits(2);
        repo.git(&["checkout", "-q", "develop"]);
        repo.commits(1);
        repo.git(&[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            &format!("merge f{round}"),
            &format!("f{round}"),
        ]);
    }
    repo.git(&["checkout", "-q", "-b", "o1"]);
    repo.commits(1);
    repo.git(&["checkout", "-q", "-b", "o2", "develop"]);
    repo.commits(1);
    repo.git(&["checkout", "-q", "develop"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "octopus", "o1", "o2"]);
    repo.commits(2);
}

/// `git daemon` serving a directory on loopback (push enabled); stopped when dropped.
pub(crate) struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves the repositories under `base` over git:// on a free port; returns the port.
pub(crate) fn serve(base: &Path) -> (Daemon, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    // The daemon itself, not `git daemon`: git runs that as a child process, which
    // would outlive a kill of `git` and keep serving (and holding our output open).
    let exec_path = std::process::Command::new("git")
        .arg("--exec-path")
        .output()
        .unwrap();
    let exec_path = String::from_utf8(exec_path.stdout).unwrap();
    let child = std::process::Command::new(Path::new(exec_path.trim()).join("git-daemon"))
        .args(["--export-all", "--enable=receive-pack", "--reuseaddr"])
        .arg("--listen=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    // Ready when it accepts connections; bounded, not timed.
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (daemon, port);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("git daemon did not start on port {port}");
}
