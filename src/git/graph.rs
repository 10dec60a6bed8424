//! git's commit-graph files read directly, so a first-parent chain costs microseconds a
//! commit whatever git wrote: generation data (GDA2/GDO2, git's default since 2.34) and
//! split chains, neither of which libgit2 1.9 reads.
//!
//! Only what a chain needs is read: the fanout, the sorted ids and the commit data
//! (first parent and commit time). The files are untrusted input: every read is checked
//! against the sizes validated at load, and anything unexpected makes the graph unusable
//! (the caller then reads commit objects), never a panic.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use git2::Oid;

pub(super) const OID_LEN: usize = 20;
/// Tree id, two parent positions, then generation and commit time.
pub(super) const CDAT_WIDTH: usize = OID_LEN + 16;
/// A first-parent slot holding this has no parent.
const NO_PARENT: u32 = 0x7000_0000;
/// Topological levels stop here (30 bits).
const MAX_LEVEL: u32 = 0x3fff_ffff;
const HEADER_LEN: usize = 8;
const CHUNK_ENTRY_LEN: usize = 12;
/// git allows at most 255 base files under a layer (one header byte counts them).
const MAX_LAYERS: usize = 256;

/// The commits of one commit-graph file or of a whole split chain.
#[derive(Debug)]
pub(super) struct CommitGraph {
    /// Base first: a commit's position counts on through the layers below its own.
    layers: Vec<Layer>,
    len: u32,
}

#[derive(Debug)]
struct Layer {
    fanout: Vec<u32>,
    oids: Vec<u8>,
    data: Vec<u8>,
    /// Commits in the layers below.
    base: u32,
    len: u32,
}

/// Why a graph present on disk is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unusable(pub String);

impl CommitGraph {
    /// The graph under `objects` (`objects/info/commit-graph`, else the split chain in
    /// `objects/info/commit-graphs`), as git reads it. `Ok(None)` when there is none.
    pub(super) fn load(objects: &Path) -> Result<Option<CommitGraph>, Unusable> {
        let info = objects.join("info");
        let single = info.join("commit-graph");
        if single.exists() {
            let layer = read_layer(&single, &[], 0, None)
                .map_err(|why| Unusable(format!("{}: {why}", single.display())))?;
            return Ok(Some(CommitGraph {
                len: layer.len,
                layers: vec![layer],
            }));
        }
        let dir = info.join("commit-graphs");
        let chain_file = dir.join("commit-graph-chain");
        let text = match std::fs::read_to_string(&chain_file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Unusable(format!("{}: {e}", chain_file.display()))),
        };
        let mut names: Vec<[u8; OID_LEN]> = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            // The names become file names: only a hash may pass.
            let hash = parse_hex(line).ok_or_else(|| {
                Unusable(format!(
                    "{}: `{line}` is not a SHA-1 graph name",
                    chain_file.display()
                ))
            })?;
            names.push(hash);
        }
        if names.is_empty() || names.len() > MAX_LAYERS {
            return Err(Unusable(format!(
                "{}: {} layers",
                chain_file.display(),
                names.len()
            )));
        }
        let mut layers: Vec<Layer> = Vec::with_capacity(names.len());
        let mut len = 0u32;
        for (i, name) in names.iter().enumerate() {
            let path = dir.join(format!("graph-{}.graph", hex::encode(name)));
            let layer = read_layer(&path, &names[..i], len, Some(name))
                .map_err(|why| Unusable(format!("{}: {why}", path.display())))?;
            len = layer.base + layer.len;
            layers.push(layer);
        }
        Ok(Some(CommitGraph { layers, len }))
    }

    /// How many commits the graph holds.
    pub(super) fn len(&self) -> u32 {
        self.len
    }

    /// `oid`'s position, if the graph has it.
    pub(super) fn position(&self, oid: &Oid) -> Option<u32> {
        let id = oid.as_bytes();
        // The newest layer first: where git looks first too.
        self.layers.iter().rev().find_map(|layer| {
            let index = find_id(&layer.fanout, &layer.oids, id)?;
            layer.base.checked_add(u32::try_from(index).ok()?)
        })
    }

    /// The layer holding `position` and the index within it.
    fn locate(&self, position: u32) -> Option<(&Layer, usize)> {
        let layer = self
            .layers
            .iter()
            .rev()
            .find(|l| position >= l.base && position - l.base < l.len)?;
        Some((layer, (position - layer.base) as usize))
    }

    pub(super) fn oid(&self, position: u32) -> Option<Oid> {
        let (layer, i) = self.locate(position)?;
        Oid::from_bytes(layer.oids.get(i * OID_LEN..(i + 1) * OID_LEN)?).ok()
    }

    fn record(&self, position: u32) -> Option<&[u8]> {
        let (layer, i) = self.locate(position)?;
        layer.data.get(i * CDAT_WIDTH..(i + 1) * CDAT_WIDTH)
    }

    /// The first parent's position: `Some(None)` for a root commit, `None` when the
    /// record cannot be right (a position past the graph, in a layer above, or a parent
    /// no lower in topological level than its child).
    pub(super) fn first_parent(&self, position: u32) -> Option<Option<u32>> {
        let record = self.record(position)?;
        let parent = be32(record, OID_LEN)?;
        if parent == NO_PARENT {
            return Some(None);
        }
        let (layer, _) = self.locate(position)?;
        // A layer's parents live in it or below it, never above.
        if parent >= layer.base + layer.len {
            return None;
        }
        // Levels fall strictly along parents, so a damaged graph cannot send a walk round
        // a loop. Level 0 is "not computed" (git 2.18's graphs), and git caps levels.
        let level = self.level(position)?;
        let parent_level = self.level(parent)?;
        if level != 0 && level != MAX_LEVEL && parent_level >= level {
            return None;
        }
        Some(Some(parent))
    }

    /// The topological level, which CDAT holds whatever generation version the file has.
    fn level(&self, position: u32) -> Option<u32> {
        Some(be32(self.record(position)?, OID_LEN + 8)? >> 2)
    }

    /// The committer time, in seconds since the epoch.
    pub(super) fn commit_time(&self, position: u32) -> Option<i64> {
        let record = self.record(position)?;
        let high = be32(record, OID_LEN + 8)? & 0b11;
        let low = be32(record, OID_LEN + 12)?;
        Some((i64::from(high) << 32) | i64::from(low))
    }
}

/// Where `id` is in `ids`, a sorted run of ids with git's 256-entry fanout (entry `b`:
/// how many ids start with a byte <= `b`), as commit-graphs and pack indexes keep them.
///
/// Ids are SHA-1 hashes, spread evenly, so the first probes guess where `id` falls from
/// its value (an interpolation search): two or three probes where halving takes
/// eighteen, each a cache miss in a large index. After a few guesses it halves, so ids
/// that are not spread evenly cost no more than a binary search.
pub(super) fn find_id(fanout: &[u32], ids: &[u8], id: &[u8]) -> Option<usize> {
    const GUESSES: u32 = 4;
    let first = usize::from(*id.first()?);
    let mut hi = *fanout.get(first)? as usize;
    let mut lo = match first.checked_sub(1) {
        Some(prev) => *fanout.get(prev)? as usize,
        None => 0,
    };
    // The eight bytes after the first (which the fanout already placed) as a number.
    let key = |bytes: &[u8]| -> Option<u64> {
        Some(u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?))
    };
    let wanted = key(id);
    // Keys at or below and at or above the wanted one, bounding ids[lo..hi].
    let (mut low_key, mut high_key) = (0u64, u64::MAX);
    let mut guesses = 0;
    while lo < hi {
        let mid = match wanted {
            // A damaged fanout can put an id outside the bounds: then halve.
            Some(wanted) if guesses < GUESSES && (low_key..=high_key).contains(&wanted) => {
                guesses += 1;
                let share = u128::from(wanted - low_key) * (hi - lo) as u128
                    / (u128::from(high_key - low_key) + 1);
                lo + usize::try_from(share)
                    .unwrap_or(usize::MAX)
                    .min(hi - lo - 1)
            }
            _ => lo + (hi - lo) / 2,
        };
        let at = ids.get(mid * OID_LEN..(mid + 1) * OID_LEN)?;
        match at.cmp(id) {
            std::cmp::Ordering::Less => {
                lo = mid + 1;
                low_key = key(at)?.max(low_key);
            }
            std::cmp::Ordering::Greater => {
                hi = mid;
                high_key = key(at)?.min(high_key);
            }
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

pub(super) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(raw.try_into().ok()?))
}

pub(super) fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    let raw = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(raw.try_into().ok()?))
}

fn parse_hex(text: &str) -> Option<[u8; OID_LEN]> {
    if text.len() != 2 * OID_LEN || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; OID_LEN];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Reads and checks one graph file: `bases` are the layers expected below it (their
/// number and, when the file lists them, their names), `base` the commits they hold,
/// `name` the checksum the file must end with (a chain names each file by it).
fn read_layer(
    path: &Path,
    bases: &[[u8; OID_LEN]],
    base: u32,
    name: Option<&[u8; OID_LEN]>,
) -> Result<Layer, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header)
        .map_err(|_| "shorter than its header".to_string())?;
    if &header[..4] != b"CGPH" {
        return Err("not a commit-graph file".into());
    }
    if header[4] != 1 {
        return Err(format!("version {} (only 1 is known)", header[4]));
    }
    match header[5] {
        1 => {}
        2 => return Err("SHA-256 ids".into()),
        other => return Err(format!("hash version {other}")),
    }
    let chunks = usize::from(header[6]);
    if usize::from(header[7]) != bases.len() {
        return Err(format!(
            "names {} base graphs where {} were expected",
            header[7],
            bases.len()
        ));
    }
    let mut table = vec![0u8; (chunks + 1) * CHUNK_ENTRY_LEN];
    file.read_exact(&mut table)
        .map_err(|_| "its chunk table is cut short".to_string())?;
    let table_end = (HEADER_LEN + table.len()) as u64;
    let data_end = size
        .checked_sub(OID_LEN as u64)
        .ok_or("shorter than its checksum")?;
    let mut spans: Vec<([u8; 4], u64, u64)> = Vec::with_capacity(chunks);
    for i in 0..chunks {
        let at = i * CHUNK_ENTRY_LEN;
        let id: [u8; 4] = table
            .get(at..at + 4)
            .and_then(|id| id.try_into().ok())
            .ok_or("bad chunk table")?;
        let start = be64(&table, at + 4).ok_or("bad chunk table")?;
        let end = be64(&table, at + 4 + CHUNK_ENTRY_LEN).ok_or("bad chunk table")?;
        if start < table_end || end < start || end > data_end {
            return Err(format!(
                "chunk {} lies outside the file",
                String::from_utf8_lossy(&id)
            ));
        }
        spans.push((id, start, end));
    }
    if table.get(chunks * CHUNK_ENTRY_LEN..chunks * CHUNK_ENTRY_LEN + 4) != Some(&[0u8; 4][..]) {
        return Err("its chunk table is not terminated".into());
    }
    let mut read_chunk = |id: &[u8; 4], required: bool| -> Result<Option<Vec<u8>>, String> {
        let Some(&(_, start, end)) = spans.iter().find(|(i, _, _)| i == id) else {
            return if required {
                Err(format!("no {} chunk", String::from_utf8_lossy(id)))
            } else {
                Ok(None)
            };
        };
        let len = usize::try_from(end - start).map_err(|_| "a chunk too large")?;
        let mut bytes = vec![0u8; len];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|e| e.to_string())?;
        Ok(Some(bytes))
    };
    let fanout_bytes = read_chunk(b"OIDF", true)?.unwrap_or_default();
    if fanout_bytes.len() != 256 * 4 {
        return Err("its fanout is not 256 entries".into());
    }
    let fanout: Vec<u32> = fanout_bytes
        .chunks_exact(4)
        .filter_map(|raw| raw.try_into().ok().map(u32::from_be_bytes))
        .collect();
    if fanout.len() != 256 || fanout.windows(2).any(|w| w[0] > w[1]) {
        return Err("its fanout is not sorted".into());
    }
    let len = fanout.last().copied().unwrap_or(0);
    // Positions are 31 bits with NO_PARENT among them, across all layers.
    if base.checked_add(len).is_none_or(|total| total >= NO_PARENT) {
        return Err("too many commits".into());
    }
    let oids = read_chunk(b"OIDL", true)?.unwrap_or_default();
    if oids.len() != len as usize * OID_LEN {
        return Err("its id list does not match its fanout".into());
    }
    // Sorted and matching the fanout, or the binary search would miss commits.
    let mut previous: Option<&[u8]> = None;
    for (i, id) in oids.chunks_exact(OID_LEN).enumerate() {
        let first = usize::from(id[0]);
        let lo = first.checked_sub(1).map_or(0, |p| fanout[p] as usize);
        if i < lo || i >= fanout[first] as usize || previous.is_some_and(|p| p >= id) {
            return Err("its ids are not sorted".into());
        }
        previous = Some(id);
    }
    let data = read_chunk(b"CDAT", true)?.unwrap_or_default();
    if data.len() != len as usize * CDAT_WIDTH {
        return Err("its commit data does not match its id list".into());
    }
    if let Some(listed) = read_chunk(b"BASE", !bases.is_empty())? {
        let expected: Vec<u8> = bases.concat();
        if listed != expected {
            return Err("its base graphs are not the ones the chain names".into());
        }
    }
    if let Some(name) = name {
        let mut checksum = [0u8; OID_LEN];
        file.seek(SeekFrom::Start(data_end))
            .and_then(|_| file.read_exact(&mut checksum))
            .map_err(|e| e.to_string())?;
        if &checksum != name {
            return Err("its checksum is not the name the chain gives it".into());
        }
    }
    Ok(Layer {
        fanout,
        oids,
        data,
        base,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::test_repo::{history, Repo};
    use proptest::prelude::*;

    /// Sorted, distinct ids with their fanout, as an index holds them.
    fn indexed(mut ids: Vec<[u8; OID_LEN]>) -> (Vec<[u8; OID_LEN]>, [u32; 256], Vec<u8>) {
        ids.sort();
        ids.dedup();
        let mut fanout = [0u32; 256];
        for id in &ids {
            for entry in &mut fanout[usize::from(id[0])..] {
                *entry += 1;
            }
        }
        let flat = ids.concat();
        (ids, fanout, flat)
    }

    /// Evenly spread ids, and ids crowded into a few runs sharing their first nine bytes
    /// (where guessing from values goes wrong).
    fn ids() -> impl Strategy<Value = Vec<[u8; OID_LEN]>> {
        let spread = proptest::collection::vec(any::<[u8; OID_LEN]>(), 0..400);
        let crowded = (
            proptest::collection::vec(any::<[u8; 9]>(), 1..4),
            proptest::collection::vec((any::<prop::sample::Index>(), any::<[u8; 11]>()), 0..400),
        )
            .prop_map(|(prefixes, tails)| {
                tails
                    .into_iter()
                    .map(|(which, tail)| {
                        let mut id = [0u8; OID_LEN];
                        let prefix: &[u8; 9] = which.get(&prefixes);
                        id[..9].copy_from_slice(prefix);
                        id[9..].copy_from_slice(&tail);
                        id
                    })
                    .collect()
            });
        prop_oneof![spread, crowded]
    }

    proptest! {
        #[test]
        fn find_id_finds_every_id_and_nothing_else(ids in ids(), absent in any::<[u8; OID_LEN]>()) {
            let (ids, fanout, flat) = indexed(ids);
            for (i, id) in ids.iter().enumerate() {
                prop_assert_eq!(find_id(&fanout, &flat, id), Some(i));
                // Just below and just above a present id: not there unless present.
                for near in [id[OID_LEN - 1].wrapping_sub(1), id[OID_LEN - 1].wrapping_add(1)] {
                    let mut other = *id;
                    other[OID_LEN - 1] = near;
                    prop_assert_eq!(find_id(&fanout, &flat, &other), ids.binary_search(&other).ok());
                }
            }
            prop_assert_eq!(find_id(&fanout, &flat, &absent), ids.binary_search(&absent).ok());
        }
    }

    /// The chain read from the graph alone, newest first.
    fn chain(graph: &CommitGraph, head: Oid) -> Vec<(Oid, i64)> {
        let mut out = Vec::new();
        let mut next = graph.position(&head);
        while let Some(position) = next {
            out.push((
                graph.oid(position).expect("oid"),
                graph.commit_time(position).expect("time"),
            ));
            next = graph.first_parent(position).expect("parent");
            assert!(out.len() <= graph.len() as usize, "a cycle");
        }
        out
    }

    #[test]
    fn chains_from_every_kind_of_graph_git_writes_match_git() {
        for (label, args) in [
            ("v2", vec!["commit-graph", "write", "--reachable"]),
            (
                "v1",
                vec![
                    "-c",
                    "commitGraph.generationVersion=1",
                    "commit-graph",
                    "write",
                    "--reachable",
                ],
            ),
            (
                "changed paths",
                vec!["commit-graph", "write", "--reachable", "--changed-paths"],
            ),
        ] {
            let repo = Repo::new();
            history(&repo);
            assert_eq!(
                CommitGraph::load(&repo.objects()).expect(label).map(|_| ()),
                None
            );
            repo.git(&args);
            let graph = CommitGraph::load(&repo.objects())
                .expect(label)
                .expect(label);
            let expected = repo.expected();
            assert_eq!(chain(&graph, repo.head()), expected, "{label}");
            // Every commit is in it, and nothing else.
            let all = repo.git(&["rev-list", "--all"]);
            assert_eq!(graph.len() as usize, all.lines().count(), "{label}");
            let tree = repo.git(&["rev-parse", "develop^{tree}"]);
            assert_eq!(graph.position(&Oid::from_str(&tree).expect("oid")), None);
        }
    }

    #[test]
    fn split_chains_count_positions_through_their_layers() {
        let repo = Repo::new();
        history(&repo);
        repo.git(&["commit-graph", "write", "--reachable", "--split"]);
        repo.commits(4);
        repo.git(&["commit-graph", "write", "--reachable", "--split=no-merge"]);
        repo.commits(3);
        repo.git(&[
            "-c",
            "commitGraph.generationVersion=1",
            "commit-graph",
            "write",
            "--reachable",
            "--split=no-merge",
        ]);
        let chain_file = repo.objects().join("info/commit-graphs/commit-graph-chain");
        let layers = std::fs::read_to_string(&chain_file).expect("chain file");
        assert_eq!(layers.lines().count(), 3, "{layers}");
        let graph = CommitGraph::load(&repo.objects())
            .expect("usable")
            .expect("present");
        assert_eq!(graph.layers.len(), 3);
        assert_eq!(chain(&graph, repo.head()), repo.expected());

        // A layer swapped for another file, a name that is not a hash: unusable.
        let names: Vec<&str> = layers.lines().collect();
        std::fs::write(&chain_file, format!("{}\n{}\n", names[1], names[0])).expect("write");
        assert!(CommitGraph::load(&repo.objects()).is_err());
        std::fs::write(&chain_file, "../../../etc/passwd\n").expect("write");
        assert!(CommitGraph::load(&repo.objects()).is_err());
        std::fs::write(
            &chain_file,
            layers.lines().take(2).collect::<Vec<_>>().join("\n"),
        )
        .expect("write");
        // The lower two layers alone are a graph of older commits: the head is not in it.
        let lower = CommitGraph::load(&repo.objects())
            .expect("usable")
            .expect("present");
        assert_eq!(lower.position(&repo.head()), None);
    }

    #[test]
    fn damaged_graphs_are_refused_without_panicking() {
        let repo = Repo::new();
        history(&repo);
        repo.git(&["commit-graph", "write", "--reachable"]);
        let file = repo.objects().join("info/commit-graph");
        let good = std::fs::read(&file).expect("graph");
        let head = repo.head();

        // Cut anywhere: refused.
        for len in [
            0,
            4,
            7,
            8,
            20,
            40,
            100,
            good.len() / 2,
            good.len() - 21,
            good.len() - 1,
        ] {
            std::fs::write(&file, &good[..len]).expect("write");
            assert!(CommitGraph::load(&repo.objects()).is_err(), "cut at {len}");
        }
        // SHA-256, another version, a chunk offset past the end: refused.
        for (at, value) in [(5usize, 2u8), (4, 2), (5, 9), (6, 200), (7, 1), (20, 0xff)] {
            let mut bad = good.clone();
            bad[at] = value;
            std::fs::write(&file, &bad).expect("write");
            assert!(
                CommitGraph::load(&repo.objects()).is_err(),
                "byte {at} = {value}"
            );
        }
        // Every single byte flipped in turn: never a panic, and a graph that loads still
        // answers every question within its bounds (a flipped parent cannot be caught
        // without the checksum, which git does not check either).
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            std::fs::write(&file, &bad).expect("write");
            if let Ok(Some(graph)) = CommitGraph::load(&repo.objects()) {
                let mut next = graph.position(&head);
                let mut steps = 0;
                while let Some(position) = next {
                    let _ = graph.oid(position);
                    let _ = graph.commit_time(position);
                    next = graph.first_parent(position).flatten();
                    steps += 1;
                    if steps > graph.len() {
                        break;
                    }
                }
                for position in [0, graph.len(), u32::MAX, NO_PARENT] {
                    let _ = (graph.oid(position), graph.first_parent(position));
                }
            }
        }
        std::fs::write(&file, &good).expect("write");
        assert!(CommitGraph::load(&repo.objects()).is_ok_and(|g| g.is_some()));
    }
}
