//! Unit tests of the walk's byte-level checks: hex prefixes and commit-graph chunks.

use super::lookup::spelled_with;
use super::walk::commit_graph_is_readable;
use git2::Oid;

fn graph(chunks: &[&[u8; 4]]) -> Vec<u8> {
    let mut bytes = b"CGPH\x01\x01".to_vec();
    bytes.push(chunks.len() as u8);
    bytes.push(0);
    for id in chunks {
        bytes.extend_from_slice(*id);
        bytes.extend_from_slice(&[0; 8]);
    }
    bytes
}

#[test]
fn hex_prefixes_match_without_spelling_ids_out() {
    let oid = Oid::from_str("0ff0f20a9b1c2d3e4f5061728394a5b6c7d8e9f0").expect("oid");
    for prefix in [
        "",
        "0",
        "0f",
        "0ff0f20",
        "0ff0f20a9b1c2d3e4f5061728394a5b6c7d8e9f0",
    ] {
        assert!(spelled_with(&oid, prefix), "{prefix}");
    }
    for prefix in [
        "1",
        "0ff0f21",
        "0FF0F20",
        "0ff0f20a9b1c2d3e4f5061728394a5b6c7d8e9f00",
        "g",
    ] {
        assert!(!spelled_with(&oid, prefix), "{prefix}");
    }
}

#[test]
fn commit_graph_readability_follows_its_chunks() {
    assert!(commit_graph_is_readable(&graph(&[
        b"OIDF", b"OIDL", b"CDAT"
    ])));
    assert!(commit_graph_is_readable(&graph(&[
        b"OIDF", b"OIDL", b"CDAT", b"BIDX", b"BDAT"
    ])));
    assert!(!commit_graph_is_readable(&graph(&[
        b"OIDF", b"OIDL", b"CDAT", b"GDA2"
    ])));
    assert!(!commit_graph_is_readable(b"CGPH"));
    assert!(!commit_graph_is_readable(b"PACK\x01\x01\x00\x00"));
}
