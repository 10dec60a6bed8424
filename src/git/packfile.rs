//! A pack and its index as files: finding an object's entry, inflating the start of a
//! commit entry, reading a commit header's first parent, and the entries grouped into
//! spans for read-ahead. The lowest layer of the commit readers: [`super::readahead`],
//! [`super::pack`] and [`super::chain`] build on it, in that order.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use git2::Oid;

use super::graph::{be32, be64, find_id, OID_LEN};
use super::inflate::HeadInflater;

/// `tree <40 hex>\n` then `parent <40 hex>\n`: all a first-parent walk reads of a commit.
pub(super) const COMMIT_HEAD_LEN: usize = 5 + 40 + 1 + 7 + 40 + 1;
/// Enough compressed input for `COMMIT_HEAD_LEN` bytes of output whatever the encoder did
/// (a dynamic Huffman block header is at most a few hundred bytes).
pub(super) const ENTRY_READ: u64 = 1024;
/// Indexes larger than this (tens of millions of objects) are left to libgit2, which maps
/// them instead of reading them into memory.
const MAX_INDEX_BYTES: u64 = 512 << 20;
const OBJ_COMMIT: u8 = 1;

/// A span: a few hundred commits where a pack keeps them together, under a millisecond
/// to inflate.
pub(super) const SPAN_BYTES: u64 = 32 << 10;
/// A pack's index and data: shared with the read-ahead thread.
pub(super) struct PackFiles {
    /// Entries of the index's fan-out table: objects whose first byte is <= i.
    fanout: [u32; 256],
    oids: Vec<u8>,
    offsets: Vec<u32>,
    large_offsets: Vec<u8>,
    pub(super) data: File,
    pub(super) data_len: u64,
    /// The entries grouped by where they sit in the pack; `None` without read-ahead.
    pub(super) spans: Option<Spans>,
}

/// Inflates the start of the commit whose pack entry (header, then zlib data) begins
/// `entry` into `head`: its length, or `None` when the entry is no whole commit or does
/// not inflate.
pub(super) fn inflate_commit_head(
    inflater: &mut HeadInflater,
    entry: &[u8],
    head: &mut [u8; COMMIT_HEAD_LEN],
) -> Option<usize> {
    let (kind, size, header_len) = entry_header(entry)?;
    if kind != OBJ_COMMIT {
        return None;
    }
    let wanted = usize::try_from(size).ok()?.min(COMMIT_HEAD_LEN);
    inflater.inflate(entry.get(header_len..)?, &mut head[..wanted])
}

impl PackFiles {
    pub(super) fn open(idx_path: &Path, span_bytes: Option<u64>) -> Option<PackFiles> {
        let index = File::open(idx_path).ok()?;
        let index_len = index.metadata().ok()?.len();
        if index_len > MAX_INDEX_BYTES {
            return None;
        }
        let read = |offset: u64, len: usize| -> Option<Vec<u8>> {
            let mut buf = vec![0; len];
            index.read_exact_at(&mut buf, offset).ok()?;
            Some(buf)
        };
        let header = read(0, 8 + 256 * 4)?;
        if header[..4] != *b"\xfftOc" || header[4..8] != 2u32.to_be_bytes() {
            return None;
        }
        let mut fanout = [0u32; 256];
        for (i, entry) in fanout.iter_mut().enumerate() {
            *entry = be32(&header, 8 + i * 4)?;
        }
        if fanout.windows(2).any(|w| w[0] > w[1]) {
            return None;
        }
        let count = usize::try_from(fanout[255]).ok()?;
        // Oids, CRCs, offsets, the large offsets (8 bytes each), two trailing checksums:
        // a size that fits no number of large offsets means another hash or another format.
        let fixed = (8 + 256 * 4 + count * (OID_LEN + 4 + 4) + 2 * OID_LEN) as u64;
        if index_len < fixed || !(index_len - fixed).is_multiple_of(8) {
            return None;
        }
        let oids_at = 8 + 256 * 4;
        let offsets_at = (oids_at + count * (OID_LEN + 4)) as u64;
        let large_at = offsets_at + count as u64 * 4;
        let oids = read(oids_at as u64, count * OID_LEN)?;
        let offsets = read(offsets_at, count * 4)?
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let large_offsets = read(large_at, usize::try_from(index_len - fixed).ok()?)?;

        let data = File::open(idx_path.with_extension("pack")).ok()?;
        let data_len = data.metadata().ok()?.len();
        let mut pack_header = [0u8; 12];
        data.read_exact_at(&mut pack_header, 0).ok()?;
        let version = be32(&pack_header, 4)?;
        if pack_header[..4] != *b"PACK"
            || !(version == 2 || version == 3)
            || be32(&pack_header, 8)? != fanout[255]
        {
            return None;
        }
        let mut files = PackFiles {
            fanout,
            oids,
            offsets,
            large_offsets,
            data,
            data_len,
            spans: None,
        };
        files.spans = span_bytes.and_then(|bytes| Spans::new(&files, bytes));
        Some(files)
    }

    /// How many objects the pack holds.
    pub(super) fn len(&self) -> usize {
        self.offsets.len()
    }

    /// The object's position in the index and where it starts in the pack, if this pack
    /// holds it.
    pub(super) fn find(&self, oid: &[u8]) -> Option<(u32, u64)> {
        let position = find_id(&self.fanout, &self.oids, oid)?;
        Some((u32::try_from(position).ok()?, self.offset_at(position)?))
    }

    /// The id of the object at `position` in the index.
    pub(super) fn oid_at(&self, position: usize) -> Option<&[u8]> {
        self.oids.get(position * OID_LEN..(position + 1) * OID_LEN)
    }

    /// Where the object at `position` in the index starts in the pack.
    pub(super) fn offset_at(&self, position: usize) -> Option<u64> {
        let raw = *self.offsets.get(position)?;
        if raw & 0x8000_0000 == 0 {
            return Some(u64::from(raw));
        }
        be64(
            &self.large_offsets,
            usize::try_from(raw & 0x7fff_ffff).ok()? * 8,
        )
    }
}

/// A pack entry's type, inflated size and header length.
fn entry_header(entry: &[u8]) -> Option<(u8, u64, usize)> {
    let first = *entry.first()?;
    let kind = (first >> 4) & 0x7;
    let mut size = u64::from(first & 0x0f);
    let mut shift = 4;
    let mut used = 1;
    let mut byte = first;
    while byte & 0x80 != 0 {
        byte = *entry.get(used)?;
        if shift > 57 {
            return None;
        }
        size |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        used += 1;
    }
    Some((kind, size, used))
}

/// The first `parent` of a raw commit: `Ok(None)` for a root commit, `None` when the
/// header does not start as git writes it (`tree`, then the parents).
pub(super) fn first_parent_line(data: &[u8]) -> Option<Option<Oid>> {
    let rest = data.strip_prefix(b"tree ")?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    let rest = rest.get(end + 1..)?;
    let Some(rest) = rest.strip_prefix(b"parent ") else {
        return Some(None);
    };
    let hex = rest.get(..40)?;
    if rest.get(40) != Some(&b'\n') {
        return None;
    }
    let hex = std::str::from_utf8(hex).ok()?;
    Oid::from_str(hex).ok().map(Some)
}

/// A pack's entries grouped by the span of bytes each starts in.
pub(super) struct Spans {
    pub(super) span_bytes: u64,
    /// `positions[starts[s]..starts[s + 1]]`: the index positions of span `s`'s entries,
    /// ascending.
    starts: Vec<u32>,
    positions: Vec<u32>,
}

impl Spans {
    /// `None` when an offset lies outside the pack (a damaged index: no guessing there).
    pub(super) fn new(files: &PackFiles, span_bytes: u64) -> Option<Spans> {
        let span_count = usize::try_from(files.data_len / span_bytes).ok()? + 1;
        let span_of = |position: usize| -> Option<usize> {
            let offset = files.offset_at(position)?;
            if offset >= files.data_len {
                return None;
            }
            usize::try_from(offset / span_bytes).ok()
        };
        // A counting sort: one pass counts each span's entries, one places them.
        let mut starts = vec![0u32; span_count + 1];
        for position in 0..files.len() {
            starts[span_of(position)? + 1] += 1;
        }
        for span in 1..starts.len() {
            starts[span] += starts[span - 1];
        }
        let mut next: Vec<u32> = starts.clone();
        let mut positions = vec![0u32; files.len()];
        for position in 0..files.len() {
            let span = span_of(position)?;
            positions[usize::try_from(next[span]).ok()?] = u32::try_from(position).ok()?;
            next[span] += 1;
        }
        Some(Spans {
            span_bytes,
            starts,
            positions,
        })
    }

    pub(super) fn span_of(&self, offset: u64) -> Option<u32> {
        u32::try_from(offset / self.span_bytes).ok()
    }

    pub(super) fn count(&self) -> u32 {
        u32::try_from(self.starts.len() - 1).unwrap_or(u32::MAX)
    }

    pub(super) fn positions(&self, span: u32) -> &[u32] {
        let span = span as usize;
        match (self.starts.get(span), self.starts.get(span + 1)) {
            (Some(&from), Some(&to)) => self.positions.get(from as usize..to as usize),
            _ => None,
        }
        .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_headers_decode_type_and_size() {
        // A commit of 300 bytes: type 1, size 300 = 0b1_0010_1100 over two bytes.
        assert_eq!(entry_header(&[0x9c, 0x12, 0x78]), Some((1, 300, 2)));
        assert_eq!(entry_header(&[0x35]), Some((3, 5, 1)));
        assert_eq!(entry_header(&[0x9c]), None);
        assert_eq!(entry_header(&[0xff; 12]), None);
    }
}
