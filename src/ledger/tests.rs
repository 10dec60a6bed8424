//! Records, their canonical JSON and ids, and chain verification on records built in memory.

use super::*;

fn digest(n: u8) -> Digest {
    Digest::of(&[n])
}

fn chain(count: u64) -> Vec<RawEntry> {
    let mut entries: Vec<RawEntry> = Vec::new();
    for seq in 1..=count {
        let prev = entries.last().map(|e| chain_hash(e.json()));
        let record = Record::new(
            NewRecord {
                kind: RecordKind::Approval,
                service: Some("payment-svc".into()),
                environment: Some("prod".into()),
                digest: Some(digest(seq as u8)),
                tag: Some(format!("sha-{seq:07}")),
                details: serde_json::json!({ "request": "abc" }),
            },
            "ana@example.com",
            &format!("2026-01-01T00:00:0{seq}.000000Z"),
            seq,
            prev,
        );
        entries.push(RawEntry {
            commit: format!("{seq:040}"),
            parents: usize::from(seq > 1),
            message: record.message(),
        });
    }
    entries
}

#[test]
fn an_intact_chain_verifies_and_round_trips() {
    let entries = chain(4);
    let (records, problem) = verify(&entries, None);
    assert_eq!(problem, None);
    assert_eq!(records.len(), 4);
    assert_eq!(records[3].canonical_json(), entries[3].json());
    assert_eq!(records[0].id.len(), ID_LEN);
    assert!(entries[0]
        .message
        .starts_with("#1 approval of abc: payment-svc:sha-0000001"));
}

#[test]
fn the_id_survives_rechaining_but_not_an_edit() {
    let entries = chain(2);
    let mut record = entries[1].parse().unwrap();
    let id = record.id.clone();
    record.seq = 9;
    record.prev = Some("sha256:00".into());
    assert_eq!(record.content_id(), id);
    record.actor = "mallory@example.com".into();
    assert_ne!(record.content_id(), id);
}

#[test]
fn an_edited_record_is_named() {
    let mut entries = chain(3);
    entries[1].message = entries[1].message.replace("ana@", "eve@");
    let (_, problem) = verify(&entries, None);
    let problem = problem.unwrap();
    assert_eq!((problem.kind, problem.position), (TamperKind::Edited, 2));
    assert!(problem.message.contains("record #2"), "{}", problem.message);
}

#[test]
fn an_edit_with_a_recomputed_id_shows_in_the_next_record() {
    let mut entries = chain(3);
    let mut record = entries[1].parse().unwrap();
    record.actor = "eve@example.com".into();
    record.id = record.content_id();
    entries[1].message = record.message();
    let problem = verify(&entries, None).1.unwrap();
    assert_eq!((problem.kind, problem.position), (TamperKind::Edited, 2));
    assert!(problem.message.contains("record #2"), "{}", problem.message);
}

#[test]
fn removed_and_swapped_records_are_told_apart() {
    let mut removed = chain(4);
    removed.remove(1);
    let problem = verify(&removed, None).1.unwrap();
    assert_eq!((problem.kind, problem.position), (TamperKind::Removed, 2));
    assert!(
        problem.message.contains("record #2 is missing"),
        "{}",
        problem.message
    );

    let mut swapped = chain(4);
    swapped.swap(1, 2);
    let problem = verify(&swapped, None).1.unwrap();
    assert_eq!((problem.kind, problem.position), (TamperKind::Reordered, 2));
    assert!(
        problem.message.contains("out of order"),
        "{}",
        problem.message
    );
}

#[test]
fn a_cut_tip_is_caught_by_the_anchor() {
    let entries = chain(3);
    let last = entries[2].parse().unwrap();
    let anchor = Anchor {
        seq: 3,
        id: last.id.clone(),
        hash: chain_hash(entries[2].json()),
        summary: last.summary(),
    };
    assert_eq!(verify(&entries, Some(&anchor)).1, None);
    let problem = verify(&entries[..2], Some(&anchor)).1.unwrap();
    assert_eq!(problem.kind, TamperKind::Removed);
    assert!(problem.message.contains("record #3"), "{}", problem.message);
}

#[test]
fn an_edited_summary_line_and_garbage_are_caught() {
    let mut entries = chain(2);
    entries[0].message = entries[0].message.replacen("approval", "approvals", 1);
    let problem = verify(&entries, None).1.unwrap();
    assert_eq!((problem.kind, problem.position), (TamperKind::Edited, 1));

    let mut entries = chain(2);
    entries[1].message = "hello\n".into();
    let problem = verify(&entries, None).1.unwrap();
    assert_eq!((problem.kind, problem.position), (TamperKind::Malformed, 2));
}

#[test]
fn unknown_kinds_are_kept() {
    let kind: RecordKind = serde_json::from_str("\"retention-sweep\"").unwrap();
    assert_eq!(kind, RecordKind::Other("retention-sweep".into()));
    assert_eq!(serde_json::to_string(&kind).unwrap(), "\"retention-sweep\"");
    assert_eq!(RecordKind::from("deploy".to_string()), RecordKind::Deploy);
}
