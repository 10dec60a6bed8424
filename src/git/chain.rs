//! A branch's first-parent chain, newest first: from git's commit-graph for the commits it
//! holds, and from each commit object's `parent` line for the rest (commits newer than
//! the graph, or every commit when there is none).
//!
//! Reading the raw object and its first `parent` line, rather than a revwalk or a parsed
//! commit, skips parsing signatures and the rest of the header: about a sixth of a
//! 100,000-commit walk. Both sources agree with libgit2's first-parent revwalk on a
//! complete repository; shallow clones and grafted histories keep the revwalk (see
//! [`super::GitRepo::reads_chains`]).

use git2::{ErrorClass, ErrorCode, ObjectType, Odb, Oid};
use rustc_hash::FxHashSet;

use super::graph::CommitGraph;
use super::pack::LazyPacks;
use super::packfile::first_parent_line;

/// Objects read through libgit2 before the packs are opened: loading their indexes costs
/// a few milliseconds, worth it only for a long walk (a short one tops up a cached chain).
const READS_BEFORE_PACKS: usize = 64;

pub(super) struct FirstParents<'r> {
    odb: Odb<'r>,
    graph: Option<&'r CommitGraph>,
    /// The commit to yield next, and its place in the graph when it is there.
    next: Option<(Oid, Option<u32>)>,
    /// Steps taken in the graph: more than it holds means its parents loop (possible
    /// only in a graph without levels), and the rest of the walk reads objects.
    graph_steps: u32,
    /// A record of the graph could not be right: the rest of the walk reads objects.
    damaged: bool,
    /// Commits read as objects: a damaged object naming a descendant as its parent must
    /// not send the walk round forever (a revwalk marks what it has seen for the same reason).
    seen: FxHashSet<Oid>,
    /// The packs a long walk reads directly; `None` reads every object through libgit2.
    packs: Option<&'r LazyPacks>,
    /// Commits whose start was read from a pack rather than through libgit2.
    packed_reads: usize,
}

impl<'r> FirstParents<'r> {
    pub(super) fn new(odb: Odb<'r>, graph: Option<&'r CommitGraph>, head: Oid) -> Self {
        FirstParents {
            odb,
            graph,
            next: Some((head, graph.and_then(|g| g.position(&head)))),
            graph_steps: 0,
            damaged: false,
            seen: FxHashSet::default(),
            packs: None,
            packed_reads: 0,
        }
    }

    /// Lets a long walk read commits from `packs` (see [`super::pack`]).
    pub(super) fn reading_packs(mut self, packs: &'r LazyPacks) -> Self {
        self.packs = Some(packs);
        self
    }

    /// How many of [`Self::objects_read`] came straight from a pack.
    #[cfg(test)]
    pub(super) fn packed_reads(&self) -> usize {
        self.packed_reads
    }

    /// How many commits were read as objects rather than from the graph.
    pub(super) fn objects_read(&self) -> usize {
        self.seen.len()
    }

    /// True when the walk stopped trusting the graph part way.
    pub(super) fn graph_damaged(&self) -> bool {
        self.damaged
    }

    /// The first parent of the commit at `position`, from the graph; `None` when the graph
    /// cannot be trusted for it, after which it is not asked again.
    fn graph_parent(&mut self, position: u32) -> Option<Option<(Oid, Option<u32>)>> {
        let graph = self.graph?;
        self.graph_steps += 1;
        let parent = if self.graph_steps > graph.len() {
            None
        } else {
            match graph.first_parent(position) {
                Some(None) => Some(None),
                Some(Some(parent)) => graph.oid(parent).map(|oid| Some((oid, Some(parent)))),
                None => None,
            }
        };
        if parent.is_none() {
            self.graph = None;
            self.damaged = true;
        }
        parent
    }

    fn object_parent(&mut self, oid: Oid) -> Result<Option<(Oid, Option<u32>)>, git2::Error> {
        if !self.seen.insert(oid) {
            return Err(git2::Error::new(
                ErrorCode::GenericError,
                ErrorClass::Object,
                format!("commit {oid} is its own ancestor: the repository is damaged"),
            ));
        }
        // A pack's bytes that do not parse go to libgit2 too, which says what is wrong.
        let packed = match self.packs {
            Some(packs) if self.seen.len() > READS_BEFORE_PACKS => {
                packs.get().and_then(|mut packs| packs.first_parent(&oid))
            }
            _ => None,
        };
        let parent = match packed {
            Some(parent) => {
                self.packed_reads += 1;
                parent
            }
            None => self.parent_through_libgit2(oid)?,
        };
        Ok(parent.map(|p| (p, self.graph.and_then(|g| g.position(&p)))))
    }

    fn parent_through_libgit2(&self, oid: Oid) -> Result<Option<Oid>, git2::Error> {
        let object = self.odb.read(oid)?;
        if object.kind() != ObjectType::Commit {
            return Err(git2::Error::new(
                ErrorCode::GenericError,
                ErrorClass::Object,
                format!("{oid} is a {}, not a commit", object.kind().str()),
            ));
        }
        first_parent_line(object.data()).ok_or_else(|| {
            git2::Error::new(
                ErrorCode::GenericError,
                ErrorClass::Object,
                format!("commit {oid} has a malformed header"),
            )
        })
    }
}

impl Iterator for FirstParents<'_> {
    type Item = Result<Oid, git2::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let (oid, position) = self.next.take()?;
        let parent = match position.and_then(|p| self.graph_parent(p)) {
            Some(parent) => parent,
            None => match self.object_parent(oid) {
                Ok(parent) => parent,
                Err(e) => return Some(Err(e)),
            },
        };
        self.next = parent;
        Some(Ok(oid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::test_repo::{history, Repo};

    /// develop's chain from libgit2's first-parent revwalk.
    fn revwalk(repo: &git2::Repository, head: Oid) -> Vec<Oid> {
        let mut walk = repo.revwalk().expect("revwalk");
        walk.simplify_first_parent().expect("first parent");
        walk.push(head).expect("push");
        walk.map(|oid| oid.expect("oid")).collect()
    }

    /// The chain as gantry reads it, and how many commits it read as objects.
    fn read(repo: &git2::Repository, objects: &std::path::Path, head: Oid) -> (Vec<Oid>, usize) {
        let graph = CommitGraph::load(objects).ok().flatten();
        let mut walk = FirstParents::new(repo.odb().expect("odb"), graph.as_ref(), head);
        let chain = (&mut walk).map(|oid| oid.expect("oid")).collect();
        (chain, walk.objects_read())
    }

    #[test]
    fn chains_match_libgit2_with_any_graph_or_none() {
        let repo = Repo::new();
        history(&repo);
        let git = git2::Repository::open(repo.path()).expect("open");
        let head = repo.head();
        let all = revwalk(&git, head);
        assert_eq!(all.len(), 12);

        // No graph: every commit read as an object.
        assert_eq!(read(&git, &repo.objects(), head), (all.clone(), all.len()));
        // git's default graph (generation data), and a v1 graph: no object read.
        repo.git(&["commit-graph", "write", "--reachable"]);
        assert_eq!(read(&git, &repo.objects(), head), (all.clone(), 0));
        repo.git(&[
            "-c",
            "commitGraph.generationVersion=1",
            "commit-graph",
            "write",
            "--reachable",
        ]);
        assert_eq!(read(&git, &repo.objects(), head), (all.clone(), 0));

        // Commits newer than the graph are read as objects down to the graph, then the
        // graph takes over.
        repo.commits(3);
        let head = repo.head();
        let all = revwalk(&git, head);
        assert_eq!(read(&git, &repo.objects(), head), (all.clone(), 3));

        // A split chain, its top layer stale too.
        std::fs::remove_file(repo.objects().join("info/commit-graph")).expect("rm");
        repo.git(&["commit-graph", "write", "--reachable", "--split"]);
        repo.commits(2);
        repo.git(&["commit-graph", "write", "--reachable", "--split=no-merge"]);
        repo.commits(2);
        let head = repo.head();
        let all = revwalk(&git, head);
        assert_eq!(read(&git, &repo.objects(), head), (all.clone(), 2));

        // A cut graph is no graph.
        let top =
            std::fs::read_to_string(repo.objects().join("info/commit-graphs/commit-graph-chain"))
                .expect("chain");
        let top = top.lines().last().expect("a layer");
        let layer = repo
            .objects()
            .join(format!("info/commit-graphs/graph-{top}.graph"));
        let bytes = std::fs::read(&layer).expect("layer");
        std::fs::write(&layer, &bytes[..bytes.len() / 2]).expect("cut");
        assert_eq!(read(&git, &repo.objects(), head), (all.clone(), all.len()));
    }

    #[test]
    fn a_long_walk_reads_packed_commits_itself_and_agrees_with_libgit2() {
        let repo = Repo::new();
        history(&repo);
        repo.commits(READS_BEFORE_PACKS);
        repo.git(&["repack", "-adq"]);
        // Loose commits above the pack, read before and after the packs are opened.
        repo.commits(READS_BEFORE_PACKS + 5);
        let git = git2::Repository::open(repo.path()).expect("open");
        let head = repo.head();
        let truth = revwalk(&git, head);

        let packs = LazyPacks::new(repo.objects());
        let mut walk = FirstParents::new(git.odb().expect("odb"), None, head).reading_packs(&packs);
        let chain: Vec<Oid> = (&mut walk).map(|oid| oid.expect("oid")).collect();
        assert_eq!(chain, truth);
        assert_eq!(walk.objects_read(), chain.len());
        // The packed ones git stored whole; the loose ones, and deltas, through libgit2.
        assert!(walk.packed_reads() > 0);
        assert!(walk.packed_reads() <= chain.len() - (READS_BEFORE_PACKS + 5));

        // Without the packs every commit goes through libgit2, with the same answer.
        let mut plain = FirstParents::new(git.odb().expect("odb"), None, head);
        let chain: Vec<Oid> = (&mut plain).map(|oid| oid.expect("oid")).collect();
        assert_eq!(chain, truth);
        assert_eq!(plain.packed_reads(), 0);
    }

    #[test]
    fn a_damaged_graph_hands_the_walk_to_the_objects() {
        let repo = Repo::new();
        history(&repo);
        repo.git(&["commit-graph", "write", "--reachable"]);
        let git = git2::Repository::open(repo.path()).expect("open");
        let head = repo.head();
        let file = repo.objects().join("info/commit-graph");
        let mut bytes = std::fs::read(&file).expect("graph");
        let graph = CommitGraph::load(&repo.objects())
            .expect("usable")
            .expect("present");
        let at = graph.position(&head).expect("head in graph");
        // The head's first parent made the head itself, where the commit data starts.
        let cdat = (0..usize::from(bytes[6]))
            .map(|i| 8 + i * 12)
            .find(|&e| &bytes[e..e + 4] == b"CDAT")
            .map(|e| u64::from_be_bytes(bytes[e + 4..e + 12].try_into().expect("8 bytes")))
            .expect("CDAT");
        let parent = cdat as usize + at as usize * crate::git::graph::CDAT_WIDTH + 20;
        bytes[parent..parent + 4].copy_from_slice(&at.to_be_bytes());
        std::fs::write(&file, &bytes).expect("write");
        // The head's level is not above its own: the objects take over at once.
        let graph = CommitGraph::load(&repo.objects())
            .expect("usable")
            .expect("present");
        let mut walk = FirstParents::new(git.odb().expect("odb"), Some(&graph), head);
        let chain: Vec<Oid> = (&mut walk).map(|oid| oid.expect("oid")).collect();
        let truth = revwalk(&git, head);
        assert_eq!(chain, truth);
        assert!(walk.graph_damaged());
        assert_eq!(walk.objects_read(), chain.len());

        // Without levels (as git 2.18 wrote graphs) the loop cannot be seen at once; it
        // is followed until it outnumbers the graph, then the objects take over.
        let generation = parent + 8;
        bytes[generation..generation + 4].copy_from_slice(&0u32.to_be_bytes());
        std::fs::write(&file, &bytes).expect("write");
        let graph = CommitGraph::load(&repo.objects())
            .expect("usable")
            .expect("present");
        let mut walk = FirstParents::new(git.odb().expect("odb"), Some(&graph), head);
        let chain: Vec<Oid> = (&mut walk).map(|oid| oid.expect("oid")).collect();
        let loops = graph.len() as usize + 1;
        assert_eq!(chain.len(), loops + truth.len() - 1);
        assert!(chain[..loops].iter().all(|&oid| oid == head));
        assert_eq!(chain[loops..], truth[1..]);
    }

    #[test]
    fn only_the_first_parent_line_is_read() {
        let tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        let p1 = "1111111111111111111111111111111111111111";
        let p2 = "2222222222222222222222222222222222222222";
        let commit = format!("tree {tree}\nparent {p1}\nparent {p2}\nauthor A <a@b> 1 +0000\n");
        assert_eq!(
            first_parent_line(commit.as_bytes()),
            Some(Some(Oid::from_str(p1).expect("oid")))
        );
        let root = format!("tree {tree}\nauthor A <a@b> 1 +0000\n\nroot\n");
        assert_eq!(first_parent_line(root.as_bytes()), Some(None));
        for bad in [
            String::new(),
            "tree".to_string(),
            format!("tree {tree}"),
            format!("parent {p1}\ntree {tree}\n"),
            format!("tree {tree}\nparent {}\n", &p1[..39]),
            format!("tree {tree}\nparent {p1}x\n"),
            format!("tree {tree}\nparent {}\n", "z".repeat(40)),
        ] {
            assert_eq!(first_parent_line(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
