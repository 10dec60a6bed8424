//! The read-ahead on real packs: both threads read spans on a pack that follows the
//! walk, guessing stops on one that does not, and spans hold every entry once.

use super::super::chain::FirstParents;
use super::super::pack::LazyPacks;
use super::*;
use crate::git::test_repo::Repo;

/// A repository made by [`Repo::import`], and develop's chain from libgit2's
/// first-parent revwalk, `n` commits long.
fn imported(n: usize, merge_every: usize, side: usize) -> (Repo, Vec<Oid>) {
    let repo = Repo::new();
    repo.import(n, merge_every, side);
    let git = git2::Repository::open(repo.path()).expect("open");
    let mut walk = git.revwalk().expect("revwalk");
    walk.simplify_first_parent().expect("first parent");
    walk.push_ref("refs/heads/develop").expect("push");
    let chain: Vec<Oid> = walk.map(|oid| oid.expect("oid")).collect();
    assert_eq!(chain.len(), n);
    (repo, chain)
}

/// Walks develop reading the packs in spans of `span_bytes`: the chain, and the
/// read-ahead's record (spans read here and on the helper, whether it stopped).
fn walk(repo: &Repo, span_bytes: u64) -> (Vec<Oid>, (usize, usize), bool) {
    let git = git2::Repository::open(repo.path()).expect("open");
    let packs = LazyPacks::with_spans(repo.objects(), Some(span_bytes));
    let chain = FirstParents::new(git.odb().expect("odb"), None, repo.head())
        .reading_packs(&packs)
        .map(|oid| oid.expect("oid"))
        .collect();
    let packs = packs.get().expect("packs");
    (chain, packs.ahead().spans_read(), packs.ahead().stopped())
}

#[test]
fn a_walk_down_a_pack_finds_its_commits_read_ahead_on_both_threads() {
    // Oldest first as fast-import writes it (the walk goes toward the pack's start),
    // then newest first as git repack writes it (toward the end).
    let (repo, truth) = imported(1200, 40, 2);
    for layout in ["fast-import", "repack"] {
        if layout == "repack" {
            repo.git(&["repack", "-adfq"]);
        }
        let (chain, (here, by_helper), stopped) = walk(&repo, 2048);
        assert_eq!(chain, truth, "{layout}");
        assert!(!stopped, "{layout}: the pack follows the walk");
        assert!(
            here > 0 && by_helper > 0,
            "{layout}: {here} here, {by_helper} by the helper"
        );
    }
}

#[test]
fn guessing_stops_when_the_pack_does_not_follow_the_walk() {
    // Three side commits stored before each merge on develop: three in four commits
    // read ahead are never asked for.
    let (repo, truth) = imported(900, 1, 3);
    let (chain, _, stopped) = walk(&repo, 2048);
    assert_eq!(chain, truth);
    assert!(stopped);
}

#[test]
fn spans_hold_every_entry_once_in_the_span_it_starts_in() {
    let repo = Repo::new();
    repo.import(300, 10, 1);
    let packs_dir = repo.objects().join("pack");
    let idx = std::fs::read_dir(&packs_dir)
        .expect("pack dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "idx"))
        .expect("an index");
    let files = PackFiles::open(&idx, Some(1000)).expect("pack");
    let spans = files.spans.as_ref().expect("spans");
    let mut seen = vec![false; files.len()];
    for span in 0..spans.count() {
        for &position in spans.positions(span) {
            let offset = files.offset_at(position as usize).expect("offset");
            assert_eq!(offset / 1000, u64::from(span));
            assert!(!std::mem::replace(&mut seen[position as usize], true));
        }
        assert!(spans.positions(span).windows(2).all(|w| w[0] < w[1]));
    }
    assert!(seen.iter().all(|&s| s));
    assert!(spans.count() > 10);
}
