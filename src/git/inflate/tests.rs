//! The inflater against zlib itself (flate2): the first bytes of random streams at every
//! level, damaged streams, and one inflater reused across streams.

use super::*;
use flate2::{Compression, Decompress, FlushDecompress};
use proptest::prelude::*;
use std::io::Write;

fn deflate(data: &[u8], level: u32) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(level));
    encoder.write_all(data).expect("compress");
    encoder.finish().expect("compress")
}

/// zlib's first `len` bytes of `stream`, or `None` when it cannot give that many.
fn zlib(stream: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0; len];
    let mut inflater = Decompress::new(true);
    inflater
        .decompress(stream, &mut out, FlushDecompress::None)
        .ok()?;
    (inflater.total_out() as usize == len).then_some(out)
}

/// Commit-like text (hex ids, names, times), which git's objects are, and any bytes.
fn content() -> impl Strategy<Value = Vec<u8>> {
    let commit = (
        "[0-9a-f]{40}",
        proptest::option::of("[0-9a-f]{40}"),
        "[A-Za-z ]{1,30}",
        "[ -~\n]{0,400}",
    )
        .prop_map(|(tree, parent, name, message)| {
            let parent = parent.map(|p| format!("parent {p}\n")).unwrap_or_default();
            format!(
                "tree {tree}\n{parent}author {name} <a@b> 1700000000 +0000\n\
                 committer {name} <a@b> 1700000000 +0000\n\n{message}"
            )
            .into_bytes()
        });
    prop_oneof![commit, proptest::collection::vec(any::<u8>(), 0..2000)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_first_bytes_are_zlibs(data in content(), level in 0u32..=9, cut in any::<prop::sample::Index>()) {
        let stream = deflate(&data, level);
        let wanted = cut.index(data.len() + 1);
        let mut out = vec![0; wanted];
        prop_assert_eq!(HeadInflater::new().inflate(&stream, &mut out), Some(wanted));
        prop_assert_eq!(&out[..], &data[..wanted]);
        // More than the stream holds: refused, as zlib cannot give it either.
        let mut more = vec![0; data.len() + 1];
        prop_assert_eq!(HeadInflater::new().inflate(&stream, &mut more), None);
    }

    #[test]
    fn damaged_streams_give_zlibs_bytes_or_nothing(
        data in content(),
        level in 0u32..=9,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        cut in any::<prop::sample::Index>(),
        shorten in any::<prop::sample::Index>(),
    ) {
        let mut stream = deflate(&data, level);
        for (at, bit) in flips {
            let at = at.index(stream.len());
            stream[at] ^= 1 << bit;
        }
        stream.truncate(shorten.index(stream.len() + 1));
        let wanted = cut.index(data.len() + 1);
        let mut out = vec![0; wanted];
        if let Some(len) = HeadInflater::new().inflate(&stream, &mut out) {
            prop_assert_eq!(len, wanted);
            prop_assert_eq!(Some(out), zlib(&stream, wanted));
        }
    }
}

#[test]
fn one_inflater_reads_stream_after_stream() {
    // Tables left by one stream must not leak into the next.
    let mut inflater = HeadInflater::new();
    let texts: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            format!(
                "tree {i:040x}\nparent {:040x}\n{}",
                i * 7,
                "x".repeat(i * 13)
            )
            .into_bytes()
        })
        .collect();
    for (i, text) in texts.iter().enumerate() {
        let stream = deflate(text, (i % 10) as u32);
        let mut out = vec![0; text.len().min(94)];
        assert_eq!(inflater.inflate(&stream, &mut out), Some(out.len()));
        assert_eq!(&out[..], &text[..out.len()]);
    }
}
