//! The store against real repositories: push races on a local remote and over git://,
//! a remote cut back, and which remote URLs count as local.

use super::*;
use crate::ledger::{NewRecord, RecordKind};

/// A clone of `remote` with its own identity (set in the repository, which wins over
/// whatever the machine's global config says).
fn clone_of(dir: &Path, name: &str, remote: &Path, email: &str) -> Store {
    let path = dir.join(name);
    let repo = Repository::init(&path).unwrap();
    repo.remote("origin", remote.to_str().unwrap()).unwrap();
    repo.config()
        .and_then(|c| c.open_level(git2::ConfigLevel::Local))
        .and_then(|mut c| c.set_str("user.email", email))
        .unwrap();
    Store::open(&path, &LedgerSettings::default()).unwrap()
}

fn note(text: &str) -> NewRecord {
    NewRecord {
        kind: RecordKind::Other("note".into()),
        service: Some(text.into()),
        environment: None,
        digest: None,
        tag: None,
        details: serde_json::json!({}),
    }
}

fn services(snapshot: &Snapshot) -> Vec<&str> {
    snapshot
        .records
        .iter()
        .filter_map(|r| r.service.as_deref())
        .collect()
}

#[test]
fn a_lost_push_race_is_rechained_on_top_of_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    Repository::init_bare(&remote).unwrap();
    let a = clone_of(dir.path(), "a", &remote, "ana@example.com");
    let b = clone_of(dir.path(), "b", &remote, "bob@example.com");
    assert_eq!(
        a.append(note("one")).unwrap().pushed_to.as_deref(),
        Some("origin")
    );

    // b commits its record on top of the ledger it fetched...
    let written = b
        .write_local(&mut |_| Ok(Some(note("two"))))
        .unwrap()
        .unwrap();
    let id = written.record.id.clone();
    assert_eq!(written.record.seq, 2);
    // ...and a pushes first: b's compare-and-swap on the remote must fail, then win.
    a.append(note("three")).unwrap();
    let appended = b.publish(written).unwrap();
    assert_eq!(appended.warning, None);
    assert_eq!(appended.pushed_to.as_deref(), Some("origin"));
    assert_eq!(
        (appended.record.id.as_str(), appended.record.seq),
        (id.as_str(), 3)
    );

    for store in [&a, &b] {
        let snapshot = store.load().unwrap();
        assert_eq!(snapshot.problem, None);
        assert_eq!(services(&snapshot), ["one", "three", "two"]);
        assert_eq!(snapshot.unpushed, 0);
    }
}

/// `git daemon` serving `base` over git://, with pushes allowed; stopped on drop.

#[test]
fn over_the_git_protocol_a_stale_push_is_refused_then_rechained() {
    let dir = tempfile::tempdir().unwrap();
    Repository::init_bare(dir.path().join("remote.git")).unwrap();
    let (_daemon, port) = crate::git::test_repo::serve(dir.path());
    let url = format!("git://127.0.0.1:{port}/remote.git");
    let clone = |name: &str, email: &str| {
        let path = dir.path().join(name);
        let repo = Repository::init(&path).unwrap();
        repo.remote("origin", &url).unwrap();
        repo.config()
            .and_then(|c| c.open_level(git2::ConfigLevel::Local))
            .and_then(|mut c| c.set_str("user.email", email))
            .unwrap();
        Store::open(&path, &LedgerSettings::default()).unwrap()
    };
    let a = clone("a", "ana@example.com");
    let b = clone("b", "bob@example.com");
    assert!(a.remote.as_ref().is_some_and(|r| r.local.is_none()));
    assert_eq!(
        a.append(note("one")).unwrap().pushed_to.as_deref(),
        Some("origin")
    );
    let written = b
        .write_local(&mut |_| Ok(Some(note("two"))))
        .unwrap()
        .unwrap();
    a.append(note("three")).unwrap();
    // b's update does not descend from what the remote holds now: the push is
    // refused as a non-fast-forward; b fetches, re-chains and pushes again.
    let appended = b.publish(written).unwrap();
    assert_eq!(appended.warning, None);
    assert_eq!(appended.record.seq, 3);
    let snapshot = a.load().unwrap();
    assert_eq!(snapshot.problem, None);
    assert_eq!(services(&snapshot), ["one", "three", "two"]);
}

#[test]
fn a_remote_cut_back_is_reported_and_never_built_on() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    let bare = Repository::init_bare(&remote).unwrap();
    let a = clone_of(dir.path(), "a", &remote, "ana@example.com");
    let b = clone_of(dir.path(), "b", &remote, "bob@example.com");
    let first = a.append(note("one")).unwrap();
    a.append(note("two")).unwrap();
    assert_eq!(services(&b.load().unwrap()), ["one", "two"]);

    // Someone resets the shared ledger to its first record.
    let head = bare.refname_to_id("refs/gantry/ledger").unwrap();
    let parent = bare.find_commit(head).unwrap().parent_id(0).unwrap();
    bare.reference("refs/gantry/ledger", parent, true, "cut")
        .unwrap();
    assert_eq!(first.record.seq, 1);

    let snapshot = b.load().unwrap();
    let problem = snapshot.problem.expect("the cut is noticed");
    assert!(problem.message.contains("`origin`"), "{}", problem.message);
    assert!(problem.message.contains("record #2"), "{}", problem.message);
    assert!(matches!(
        b.append(note("three")),
        Err(LedgerError::Tampered(_))
    ));
    assert_eq!(bare.refname_to_id("refs/gantry/ledger").unwrap(), parent);
}
