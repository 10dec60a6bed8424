//! Mirrors fetched from real bare repositories (made with the git CLI) over file:// URLs
//! and plain paths, the failures a fetch meets, and the background queue's order.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::queue::Waiting;
use super::*;
use crate::git::test_repo::Repo;
use crate::git::GitRepo;

/// A working repository with develop, main, a release, a hotfix and a feature branch, and
/// a bare clone of it that serves as the remote.
struct Remote {
    work: Repo,
    bare: tempfile::TempDir,
}

impl Remote {
    fn new() -> Remote {
        let work = Repo::new();
        work.commits(3);
        work.git(&["branch", "main"]);
        work.git(&["branch", "release/v1.0.0-sha-abc"]);
        work.git(&["branch", "hotfix/login"]);
        work.git(&["branch", "feature/not-for-gantry"]);
        work.commits(2);
        let bare = tempfile::tempdir().expect("tempdir");
        work.git(&[
            "clone",
            "-q",
            "--bare",
            &work.path().display().to_string(),
            &bare.path().join("remote.git").display().to_string(),
        ]);
        work.git(&[
            "remote",
            "add",
            "origin",
            &bare_path(&bare).display().to_string(),
        ]);
        Remote { work, bare }
    }

    fn path(&self) -> PathBuf {
        bare_path(&self.bare)
    }

    fn url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    fn rev(&self, name: &str) -> String {
        self.work.git(&[
            "--git-dir",
            &self.path().display().to_string(),
            "rev-parse",
            name,
        ])
    }
}

fn bare_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("remote.git")
}

fn specs() -> Vec<String> {
    refspecs(&GitSettings::default())
}

fn heads(mirror: &Path) -> Vec<String> {
    let repo = Repository::open_bare(mirror).expect("mirror opens");
    let mut names: Vec<String> = repo
        .references()
        .expect("refs")
        .filter_map(|r| r.ok()?.name().ok().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn a_file_url_is_cloned_once_then_fetched_with_only_the_branches_gantry_reads() {
    let remote = Remote::new();
    let state = tempfile::tempdir().expect("tempdir");
    let mirrors = Mirrors::new(state.path().join("repos"));
    assert_eq!(mirrors.fetched_at(&remote.url()), None);

    let first = mirrors
        .fetch(&remote.url(), &specs(), Depth::Full)
        .expect("clone");
    assert!(first.cloned && !first.shallow, "{first:?}");
    assert_eq!(first.path, mirrors.path(&remote.url()));
    assert_eq!(mirrors.fetched_at(&remote.url()), Some(first.at));
    assert_eq!(
        heads(&first.path),
        [
            "refs/heads/develop",
            "refs/heads/hotfix/login",
            "refs/heads/main",
            "refs/heads/release/v1.0.0-sha-abc",
        ]
    );
    // Nothing half-made is left beside it.
    let entries: Vec<String> = std::fs::read_dir(state.path().join("repos"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");

    // The mirror reads like any repository.
    let settings = GitSettings {
        path: first.path.clone(),
        ..GitSettings::default()
    };
    let repo = GitRepo::open(&settings, 7).expect("open mirror");
    assert_eq!(
        repo.head_of("develop").expect("develop").sha,
        remote.rev("develop")
    );

    // The remote moves: a commit on develop, a release branch deleted, another made.
    remote.work.commits(1);
    remote.work.git(&["push", "-q", "origin", "develop"]);
    remote
        .work
        .git(&["push", "-q", "origin", ":release/v1.0.0-sha-abc"]);
    remote
        .work
        .git(&["push", "-q", "origin", "develop:release/v1.1.0-sha-def"]);
    let second = mirrors
        .fetch(&remote.url(), &specs(), Depth::Full)
        .expect("fetch");
    assert!(!second.cloned);
    assert_eq!(
        heads(&second.path),
        [
            "refs/heads/develop",
            "refs/heads/hotfix/login",
            "refs/heads/main",
            "refs/heads/release/v1.1.0-sha-def",
        ]
    );
    let repo = GitRepo::open(&settings, 7).expect("open mirror");
    assert_eq!(
        repo.head_of("develop").expect("develop").sha,
        remote.rev("develop")
    );
}

#[test]
fn a_first_clone_may_bring_recent_history_only_and_a_full_fetch_completes_it() {
    let remote = Remote::new();
    let state = tempfile::tempdir().expect("tempdir");
    let mirrors = Mirrors::new(state.path().to_path_buf());
    let settings = |path: &Path| GitSettings {
        path: path.to_path_buf(),
        ..GitSettings::default()
    };
    let develop_length = |path: &Path| {
        let repo = GitRepo::open(&settings(path), 7).expect("open mirror");
        repo.history("develop", 100).expect("history").commits.len()
    };

    // Over the network: libgit2's local transport fetches no shallow history.
    let (_daemon, port) = crate::git::test_repo::serve(remote.bare.path());
    let url = format!("git://127.0.0.1:{port}/remote.git");
    let recent = mirrors
        .fetch(&url, &specs(), Depth::Recent(2))
        .expect("shallow clone");
    assert!(recent.cloned && recent.shallow, "{recent:?}");
    assert_eq!(develop_length(&recent.path), 2);
    let repo = GitRepo::open(&settings(&recent.path), 7).expect("open");
    assert!(repo.is_shallow());

    let full = mirrors
        .fetch(&url, &specs(), Depth::Full)
        .expect("complete");
    assert!(!full.cloned && !full.shallow, "{full:?}");
    assert_eq!(develop_length(&full.path), 5);

    // Recent history asked of a whole mirror: brought up to date, never cut.
    remote.work.commits(1);
    remote.work.git(&["push", "-q", "origin", "develop"]);
    let again = mirrors
        .fetch(&url, &specs(), Depth::Recent(2))
        .expect("fetch");
    assert!(!again.shallow, "{again:?}");
    assert_eq!(develop_length(&again.path), 6);
}

#[test]
fn a_plain_path_to_a_bare_repository_is_fetched_like_a_url() {
    let remote = Remote::new();
    let state = tempfile::tempdir().expect("tempdir");
    let mirrors = Mirrors::new(state.path().to_path_buf());
    let url = remote.path().display().to_string();
    let fetched = mirrors.fetch(&url, &specs(), Depth::Full).expect("clone");
    assert!(fetched.cloned);
    assert!(heads(&fetched.path).contains(&"refs/heads/main".to_string()));
    assert_ne!(mirrors.path(&url), mirrors.path(&remote.url()));
}

#[test]
fn a_missing_remote_or_one_that_is_no_repository_leaves_nothing_behind() {
    let state = tempfile::tempdir().expect("tempdir");
    let mirrors = Mirrors::new(state.path().join("repos"));
    let empty = tempfile::tempdir().expect("tempdir");
    for url in [
        format!("file://{}/nothing-here.git", empty.path().display()),
        format!("file://{}", empty.path().display()),
    ] {
        let error = mirrors
            .fetch(&url, &specs(), Depth::Full)
            .expect_err("no repository");
        assert_eq!(error.failure, FetchFailure::NotARepository, "{error}");
        assert!(error.to_string().starts_with(&url), "{error}");
        assert!(!mirrors.path(&url).exists());
        assert!(!mirrors.path(&url).with_extension("partial").exists());
        assert_eq!(mirrors.fetched_at(&url), None);
    }
}

#[test]
fn an_unreachable_remote_fails_as_such_and_keeps_the_mirror_fetched_before() {
    let remote = Remote::new();
    let state = tempfile::tempdir().expect("tempdir");
    let mirrors = Mirrors::new(state.path().to_path_buf());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let closed = format!("git://127.0.0.1:{port}/remote.git");
    let error = mirrors
        .fetch(&closed, &specs(), Depth::Full)
        .expect_err("nothing listens");
    assert_eq!(error.failure, FetchFailure::Unreachable, "{error}");
    assert!(!mirrors.path(&closed).exists());

    // A mirror made before survives a fetch that fails, with its age unchanged.
    let fetched = mirrors
        .fetch(&remote.url(), &specs(), Depth::Full)
        .expect("clone");
    std::fs::rename(remote.path(), remote.path().with_extension("moved")).expect("move");
    let error = mirrors
        .fetch(&remote.url(), &specs(), Depth::Full)
        .expect_err("remote gone");
    assert_ne!(error.failure, FetchFailure::Local, "{error}");
    assert_eq!(mirrors.fetched_at(&remote.url()), Some(fetched.at));
    assert!(heads(&fetched.path).contains(&"refs/heads/develop".to_string()));
}

#[test]
fn a_shallow_remote_is_refused_with_what_to_do_instead() {
    let remote = Remote::new();
    let shallow = tempfile::tempdir().expect("tempdir");
    let shallow_path = shallow.path().join("shallow.git");
    remote.work.git(&[
        "clone",
        "-q",
        "--bare",
        "--depth",
        "2",
        "--no-single-branch",
        &remote.url(),
        &shallow_path.display().to_string(),
    ]);
    let state = tempfile::tempdir().expect("tempdir");
    let mirrors = Mirrors::new(state.path().to_path_buf());
    let url = format!("file://{}", shallow_path.display());
    for url in [url, shallow_path.display().to_string()] {
        let error = mirrors
            .fetch(&url, &specs(), Depth::Full)
            .expect_err("shallow");
        assert_eq!(error.failure, FetchFailure::Shallow, "{error}");
        assert!(error.reason.contains("shallow clone"), "{error}");
        assert!(!mirrors.path(&url).exists());
    }
}

#[test]
fn mirror_names_are_readable_and_distinct() {
    let dir = Path::new("/state/repos");
    let a = mirror_path(dir, "git@github.com:ops/manifests.git");
    let b = mirror_path(dir, "https://example.com/other/manifests");
    assert!(
        a.to_string_lossy().contains("/manifests-"),
        "{}",
        a.display()
    );
    assert_ne!(a, b);
    assert_eq!(a, mirror_path(dir, "git@github.com:ops/manifests.git"));
}

fn job(url: &str) -> FetchJob {
    FetchJob {
        url: url.into(),
        refspecs: Vec::new(),
        depth: Depth::Full,
    }
}

#[test]
fn the_queue_runs_what_is_shown_first_and_never_the_same_url_twice() {
    let mut waiting = Waiting::default();
    assert_eq!(
        waiting.push(vec![job("a"), job("b"), job("c"), job("a")], false),
        3
    );
    assert_eq!(waiting.urls(), ["a", "b", "c"]);
    waiting.prefer(&["c".into(), "b".into(), "gone".into()]);
    assert_eq!(waiting.urls(), ["c", "b", "a"]);
    let running = waiting.take().expect("a job");
    assert_eq!(running.url, "c");
    // Running or waiting: not queued again (ctrl-r on a fetch under way changes nothing).
    assert_eq!(waiting.push(vec![job("c"), job("b"), job("d")], false), 1);
    assert_eq!(waiting.push(vec![job("e"), job("a"), job("f")], true), 2);
    assert_eq!(waiting.urls(), ["e", "a", "f", "b", "d"]);
    waiting.finish("c");
    assert_eq!(waiting.push(vec![job("c")], false), 1);
}

#[test]
fn background_fetches_report_each_url_once() {
    let remotes: Vec<Remote> = (0..3).map(|_| Remote::new()).collect();
    let state = tempfile::tempdir().expect("tempdir");
    let mirrors = Mirrors::new(state.path().to_path_buf());
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let queue = FetchQueue::new(mirrors.clone(), 2, move |report| {
        let _ = tx.lock().expect("sender").send(report);
    });
    let mut jobs: Vec<FetchJob> = remotes
        .iter()
        .map(|r| FetchJob {
            url: r.url(),
            refspecs: specs(),
            depth: Depth::Full,
        })
        .collect();
    jobs.push(FetchJob {
        url: "file:///nothing/here.git".into(),
        refspecs: specs(),
        depth: Depth::Full,
    });
    assert_eq!(queue.push(jobs, false), 4);
    let mut reports: Vec<FetchReport> = (0..4).map(|_| rx.recv().expect("report")).collect();
    reports.sort_by(|a, b| a.url.cmp(&b.url));
    assert!(reports[0].result.is_err(), "{:?}", reports[0]);
    for remote in &remotes {
        let report = reports
            .iter()
            .find(|r| r.url == remote.url())
            .expect("reported");
        let fetched = report.result.as_ref().expect("fetched");
        assert!(fetched.cloned);
        assert_eq!(mirrors.fetched_at(&remote.url()), Some(fetched.at));
    }
    drop(queue);
    assert!(rx.recv().is_err(), "no report after the last one");
}

#[test]
fn background_fetches_run_at_low_priority() {
    let state = tempfile::tempdir().expect("tempdir");
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let queue = FetchQueue::new(Mirrors::new(state.path().to_path_buf()), 1, move |report| {
        let _ = tx.lock().expect("sender").send(report);
    });
    // Once a fetch has been reported, its thread has set its priority.
    queue.push(vec![job("file:///nothing/here.git")], false);
    rx.recv().expect("report");
    let mut nice = None;
    for task in std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "gantry-fetch-0" {
            let stat = std::fs::read_to_string(task.path().join("stat")).expect("stat");
            // Fields after the command's closing parenthesis; nice is the 19th field.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            nice = fields.get(16).and_then(|n| n.parse::<i32>().ok());
        }
    }
    assert_eq!(nice, Some(10));
}

/// Over git://, libgit2 only says `invalid packet line` of a shallow repository: gantry
/// says what it is and what to do, as for one on this machine, not "unreachable".
#[test]
fn a_shallow_remote_served_over_the_network_is_said_to_be_shallow() {
    let remote = Remote::new();
    let served = tempfile::tempdir().expect("tempdir");
    remote.work.git(&[
        "clone",
        "-q",
        "--bare",
        "--depth",
        "2",
        "--no-single-branch",
        &remote.url(),
        &served.path().join("shallow.git").display().to_string(),
    ]);
    let (_daemon, port) = crate::git::test_repo::serve(served.path());
    let state = tempfile::tempdir().expect("tempdir");
    let mirrors = Mirrors::new(state.path().to_path_buf());
    let url = format!("git://127.0.0.1:{port}/shallow.git");
    // A first clone asks for recent history, a command for all of it: the same answer.
    for depth in [Depth::Recent(RECENT_COMMITS), Depth::Full] {
        let error = mirrors.fetch(&url, &specs(), depth).expect_err("shallow");
        assert_eq!(error.failure, FetchFailure::Shallow, "{error}");
        assert!(error.reason.contains("a shallow clone"), "{error}");
        assert!(error.reason.contains("git fetch --unshallow"), "{error}");
        assert!(!mirrors.path(&url).exists());
        assert!(!mirrors.path(&url).with_extension("partial").exists());
    }
    // The whole repository served beside it is mirrored: the daemon is not at fault.
    remote.work.git(&[
        "clone",
        "-q",
        "--bare",
        &remote.url(),
        &served.path().join("whole.git").display().to_string(),
    ]);
    let whole = format!("git://127.0.0.1:{port}/whole.git");
    let fetched = mirrors
        .fetch(&whole, &specs(), Depth::Full)
        .expect("a whole repository is mirrored");
    assert!(!fetched.shallow);
}
