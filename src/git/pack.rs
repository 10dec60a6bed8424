//! Reads the start of commit objects straight from git's pack files, for first-parent
//! walks over repositories without a commit-graph (a fresh clone has none).
//!
//! A walk needs only a commit's `tree` and first `parent` lines, the first 94 bytes of it.
//! libgit2 inflates, hashes and caches the whole object on every read; here the pack
//! index is searched in memory and only those bytes are inflated. Anything out of the
//! ordinary (a loose object, a delta, an alternate object store, a pack or index this
//! reader does not know, damage) is not an error here: the caller reads that object
//! through libgit2, which knows every case and reports damage properly.

use std::cell::{OnceCell, RefCell, RefMut};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::Oid;

use super::inflate::HeadInflater;
use super::packfile::{
    first_parent_line, inflate_commit_head, PackFiles, COMMIT_HEAD_LEN, ENTRY_READ, SPAN_BYTES,
};
use super::readahead::ReadAhead;

/// Pack data is read in windows of this size and a few are kept, so a walk down a clone's
/// pack (commits first, newest first) reads each part of the file once.
const WINDOW: u64 = 1 << 20;
const WINDOWS_KEPT: usize = 4;
/// A repository's packs, opened on first use and then kept for every later walk: their
/// indexes are megabytes to read.
pub(super) struct LazyPacks {
    objects: PathBuf,
    span_bytes: Option<u64>,
    packs: OnceCell<RefCell<Packs>>,
}

impl LazyPacks {
    pub(super) fn new(objects: PathBuf) -> LazyPacks {
        LazyPacks {
            objects,
            span_bytes: Some(SPAN_BYTES),
            packs: OnceCell::new(),
        }
    }

    /// Packs cut into spans of `span_bytes` for read-ahead (`None`: no read-ahead), so a
    /// test's small packs make many spans.
    #[cfg(test)]
    pub(super) fn with_spans(objects: PathBuf, span_bytes: Option<u64>) -> LazyPacks {
        LazyPacks {
            span_bytes,
            ..LazyPacks::new(objects)
        }
    }

    /// The packs, opened now if not yet; `None` while another reader holds them.
    pub(super) fn get(&self) -> Option<RefMut<'_, Packs>> {
        self.packs
            .get_or_init(|| RefCell::new(Packs::open_with(&self.objects, self.span_bytes)))
            .try_borrow_mut()
            .ok()
    }
}

/// The pack files of one object store, each with its index loaded.
pub(super) struct Packs {
    packs: Vec<Pack>,
    inflater: HeadInflater,
    head: [u8; COMMIT_HEAD_LEN],
    ahead: ReadAhead,
    /// The parent the read-ahead last answered, and where it is: the walk asks for it next.
    next: Option<(Oid, usize, u32, u64)>,
}

struct Pack {
    files: Arc<PackFiles>,
    windows: Vec<Window>,
    next_evicted: usize,
}

struct Window {
    start: u64,
    bytes: Vec<u8>,
}

impl Packs {
    /// Every `.idx` + `.pack` pair under `objects/pack` this reader understands (index
    /// version 2, SHA-1, pack version 2 or 3); the others are skipped, so their objects go
    /// through libgit2.
    #[cfg(test)]
    pub(super) fn open(objects: &Path) -> Packs {
        Packs::open_with(objects, Some(SPAN_BYTES))
    }

    fn open_with(objects: &Path, span_bytes: Option<u64>) -> Packs {
        let mut packs = Vec::new();
        if let Ok(entries) = std::fs::read_dir(objects.join("pack")) {
            let mut indexes: Vec<_> = entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "idx"))
                .collect();
            // Stable order, so the same repository is always read the same way.
            indexes.sort();
            packs.extend(
                indexes
                    .iter()
                    .filter_map(|idx| PackFiles::open(idx, span_bytes))
                    .map(|files| Pack {
                        files: Arc::new(files),
                        windows: Vec::with_capacity(WINDOWS_KEPT),
                        next_evicted: 0,
                    }),
            );
        }
        Packs {
            packs,
            inflater: HeadInflater::new(),
            head: [0; COMMIT_HEAD_LEN],
            ahead: ReadAhead::new(),
            next: None,
        }
    }

    /// How many packs are read here.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.packs.len()
    }

    /// The read-ahead's record, for tests.
    #[cfg(test)]
    pub(super) fn ahead(&self) -> &ReadAhead {
        &self.ahead
    }

    /// The first parent of commit `oid` when a pack holds it whole (`Some(None)`: a root
    /// commit); `None` when it is elsewhere or anything is unusual.
    pub(super) fn first_parent(&mut self, oid: &Oid) -> Option<Option<Oid>> {
        let (pack_no, position, offset) = match self.next.take() {
            Some((next, pack_no, position, offset)) if next == *oid => (pack_no, position, offset),
            _ => self.locate(oid)?,
        };
        let pack = &self.packs[pack_no];
        match self.ahead.look_up(pack_no, &pack.files, position, offset) {
            Some(Some(found)) => {
                let parent = self.ahead.parent(found);
                self.next = parent.and_then(|p| {
                    let (position, offset) = p.at?;
                    Some((p.oid, pack_no, position, offset))
                });
                return Some(parent.map(|p| p.oid));
            }
            Some(None) => return None,
            None => {}
        }
        first_parent_line(self.commit_head(pack_no, offset)?)
    }

    /// The pack holding `oid`, its position in that pack's index and its offset.
    fn locate(&self, oid: &Oid) -> Option<(usize, u32, u64)> {
        self.packs.iter().enumerate().find_map(|(pack_no, pack)| {
            let (position, offset) = pack.files.find(oid.as_bytes())?;
            Some((pack_no, position, offset))
        })
    }

    /// The first bytes of the commit at `offset` in pack `pack_no` (all of it when shorter
    /// than [`COMMIT_HEAD_LEN`]), read on its own; `None` when it is no whole commit.
    fn commit_head(&mut self, pack_no: usize, offset: u64) -> Option<&[u8]> {
        let entry = self.packs.get_mut(pack_no)?.entry(offset)?;
        let len = inflate_commit_head(&mut self.inflater, entry, &mut self.head)?;
        Some(&self.head[..len])
    }

    /// The start of commit `oid` as [`Self::first_parent`] reads it without read-ahead.
    #[cfg(test)]
    pub(super) fn head_of(&mut self, oid: &Oid) -> Option<&[u8]> {
        let (pack_no, _, offset) = self.locate(oid)?;
        self.commit_head(pack_no, offset)
    }
}

impl Pack {
    /// The pack's bytes from `offset`: up to [`ENTRY_READ`] of them, fewer at the end.
    fn entry(&mut self, offset: u64) -> Option<&[u8]> {
        let held = self.windows.iter().position(|w| w.covers(offset));
        let slot = match held {
            Some(slot) => slot,
            None => {
                // Windows overlap by an entry's read, so every entry starting in one is
                // whole in it.
                let start = offset - offset % WINDOW;
                let slot = if self.windows.len() < WINDOWS_KEPT {
                    self.windows.push(Window {
                        start,
                        bytes: vec![0; (WINDOW + ENTRY_READ) as usize],
                    });
                    self.windows.len() - 1
                } else {
                    let slot = self.next_evicted;
                    self.next_evicted = (slot + 1) % WINDOWS_KEPT;
                    slot
                };
                // The evicted window's buffer is reused: no allocation, no zeroing.
                self.windows[slot].fill(&self.files.data, start)?;
                if !self.windows[slot].covers(offset) {
                    return None;
                }
                slot
            }
        };
        let window = &self.windows[slot];
        let from = usize::try_from(offset - window.start).ok()?;
        let to = (from + ENTRY_READ as usize).min(window.bytes.len());
        window.bytes.get(from..to)
    }
}

impl Window {
    /// Reads the file from `start` into the window's buffer, as much as it holds.
    fn fill(&mut self, file: &File, start: u64) -> Option<()> {
        self.start = start;
        self.bytes.resize((WINDOW + ENTRY_READ) as usize, 0);
        let mut filled = 0;
        while filled < self.bytes.len() {
            match file.read_at(&mut self.bytes[filled..], start + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.bytes.clear();
                    return None;
                }
            }
        }
        self.bytes.truncate(filled);
        Some(())
    }

    /// True when the window holds [`ENTRY_READ`] bytes from `offset`, or all there is
    /// up to the end of the file.
    fn covers(&self, offset: u64) -> bool {
        let end = self.start + self.bytes.len() as u64;
        let at_file_end = (self.bytes.len() as u64) < WINDOW + ENTRY_READ;
        offset >= self.start && (offset + ENTRY_READ <= end || at_file_end && offset < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::test_repo::{history, Repo};

    fn oids(repo: &Repo, args: &[&str]) -> Vec<Oid> {
        repo.git(args)
            .lines()
            .map(|line| Oid::from_str(&line[..40]).expect("oid"))
            .collect()
    }

    /// The commits the pack under `repo` holds as deltas, from `git verify-pack`, which
    /// names a delta's base as the line's last fields.
    fn deltified(repo: &Repo) -> Vec<Oid> {
        let pack_idx = std::fs::read_dir(repo.objects().join("pack"))
            .expect("pack dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "idx"))
            .expect("an index");
        repo.git(&["verify-pack", "-v", pack_idx.to_str().expect("utf-8")])
            .lines()
            .filter(|line| line.split_whitespace().nth(1) == Some("commit"))
            .filter(|line| line.split_whitespace().count() > 5)
            .map(|line| Oid::from_str(&line[..40]).expect("oid"))
            .collect()
    }

    #[test]
    fn packed_commits_start_as_libgit2_reads_them_and_nothing_else_answers() {
        let repo = Repo::new();
        history(&repo);
        // Longer and shorter than the head a walk reads; a root commit has no parent line.
        repo.git(&["commit", "-q", "--allow-empty", "-m", &"body\n".repeat(60)]);
        repo.git(&["repack", "-adq"]);
        let deltas = deltified(&repo);
        let packed = oids(&repo, &["rev-list", "--all"]);
        repo.commits(2);
        let loose = oids(&repo, &["rev-list", "-2", "develop"]);
        let trees = oids(
            &repo,
            &["rev-list", "--all", "--objects", "--no-object-names"],
        )
        .into_iter()
        .filter(|oid| !packed.contains(oid) && !loose.contains(oid))
        .collect::<Vec<_>>();
        let whole: Vec<Oid> = packed
            .iter()
            .copied()
            .filter(|o| !deltas.contains(o))
            .collect();
        // git stores many such small, alike commits as deltas; some stay whole.
        assert!(!whole.is_empty(), "no commit of {} whole", packed.len());
        assert!(!trees.is_empty());

        let git = git2::Repository::open(repo.path()).expect("open");
        let odb = git.odb().expect("odb");
        // Read commit by commit, through spans as large as a real walk's, and through
        // spans so small that nearly every commit has one of its own.
        let mut direct = Packs::open_with(&repo.objects(), None);
        let mut spans = [
            Packs::open(&repo.objects()),
            Packs::open_with(&repo.objects(), Some(64)),
        ];
        assert_eq!(direct.len(), 1);
        for oid in &whole {
            let object = odb.read(*oid).expect("read");
            let whole = object.data();
            let head = direct.head_of(oid).expect("a packed commit is answered");
            assert_eq!(head, &whole[..whole.len().min(COMMIT_HEAD_LEN)], "{oid}");
            let parent = first_parent_line(whole).expect("git's own header");
            assert_eq!(direct.first_parent(oid), Some(parent), "{oid}");
            for packs in &mut spans {
                assert_eq!(packs.first_parent(oid), Some(parent), "{oid}");
            }
        }
        let absent = Oid::from_str("00000000000000000000000000000000000000ff").expect("oid");
        for oid in loose.iter().chain(&trees).chain(&deltas).chain([&absent]) {
            assert_eq!(direct.head_of(oid), None, "{oid}");
            assert_eq!(direct.first_parent(oid), None, "{oid}");
            for packs in &mut spans {
                assert_eq!(packs.first_parent(oid), None, "{oid}");
            }
        }
        // The walk above was no walk: the spans were read where asked, nothing judged.
        for packs in &spans {
            assert!(!packs.ahead().stopped());
        }
    }

    #[test]
    fn commits_stored_as_deltas_are_left_to_libgit2() {
        let repo = Repo::new();
        // Commits that differ only in their first lines: git stores most as deltas.
        for _ in 0..20 {
            repo.git(&[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &"same message\n".repeat(80),
            ]);
        }
        repo.git(&["repack", "-adfq", "--window=50", "--depth=50"]);
        let deltas = deltified(&repo);
        assert!(!deltas.is_empty(), "no commit was deltified");
        let whole = oids(&repo, &["rev-list", "develop"])
            .into_iter()
            .filter(|oid| !deltas.contains(oid))
            .collect::<Vec<_>>();
        assert!(!whole.is_empty());

        for span_bytes in [None, Some(SPAN_BYTES), Some(128)] {
            let mut packs = Packs::open_with(&repo.objects(), span_bytes);
            for oid in &deltas {
                assert_eq!(packs.first_parent(oid), None, "{oid}");
            }
            for oid in &whole {
                assert!(packs.first_parent(oid).is_some(), "{oid}");
            }
        }
    }

    #[test]
    fn an_index_or_pack_it_does_not_know_is_skipped() {
        let repo = Repo::new();
        repo.commits(3);
        repo.git(&["repack", "-adq"]);
        let head = repo.head();
        assert!(Packs::open(&repo.objects()).first_parent(&head).is_some());
        let pack_dir = repo.objects().join("pack");
        let files: Vec<_> = std::fs::read_dir(&pack_dir)
            .expect("pack dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let idx = files
            .iter()
            .find(|p| p.extension().is_some_and(|x| x == "idx"))
            .expect("idx");
        let pack = idx.with_extension("pack");
        let original_idx = std::fs::read(idx).expect("idx");
        let original_pack = std::fs::read(&pack).expect("pack");
        let rewrite = |path: &Path, bytes: &[u8]| {
            let mut permissions = std::fs::metadata(path).expect("meta").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(path, permissions).expect("writable");
            std::fs::write(path, bytes).expect("write");
        };

        let mut version_1 = original_idx.clone();
        version_1[..4].copy_from_slice(b"\0\0\0\x01");
        rewrite(idx, &version_1);
        assert_eq!(Packs::open(&repo.objects()).len(), 0);
        // An index cut short, or one whose size fits another hash's entries.
        rewrite(idx, &original_idx[..original_idx.len() - 7]);
        assert_eq!(Packs::open(&repo.objects()).len(), 0);
        rewrite(idx, &original_idx);
        let mut wrong_count = original_pack.clone();
        wrong_count[11] ^= 1;
        rewrite(&pack, &wrong_count);
        assert_eq!(Packs::open(&repo.objects()).len(), 0);
        rewrite(&pack, &original_pack);
        assert_eq!(Packs::open(&repo.objects()).len(), 1);
    }
}
