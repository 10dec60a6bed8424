//! The tag cache's file: read back, damaged files ignored and rebuilt, concurrent saves merged.

use super::*;

fn digest(n: u8) -> Digest {
    format!("sha256:{}", hex::encode([n; 32]))
        .parse()
        .expect("digest")
}

fn facts(n: u8) -> TagFacts {
    TagFacts {
        digest: digest(n),
        manifest: Some(ManifestFacts {
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
            size: 4096 + u64::from(n),
            created: Some("2024-01-01T00:00:00Z".into()),
        }),
    }
}

#[test]
fn saved_facts_are_read_back_by_another_instance() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TagCache::open(dir.path(), "reg:5000");
    cache.put("dev/a", "sha-1111111", facts(1));
    cache.put_digest("dev/a", "sha-2222222", &digest(2));
    assert!(cache.is_dirty());
    cache.save().unwrap();
    assert!(!cache.is_dirty());

    let again = TagCache::open(dir.path(), "reg:5000");
    assert_eq!(again.get("dev/a", "sha-1111111"), Some(facts(1)));
    assert_eq!(
        again.get("dev/a", "sha-2222222").map(|f| f.digest),
        Some(digest(2))
    );
    assert_eq!(again.get("dev/a", "sha-3333333"), None);
    assert_eq!(again.ignored(), None);
}

#[test]
fn a_digest_learnt_again_keeps_the_manifest_facts_of_the_same_digest() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TagCache::open(dir.path(), "reg:5000");
    cache.put("dev/a", "sha-1", facts(1));
    cache.put_digest("dev/a", "sha-1", &digest(1));
    assert_eq!(cache.get("dev/a", "sha-1"), Some(facts(1)));
    // Another digest: the old facts describe another image and go.
    cache.put_digest("dev/a", "sha-1", &digest(9));
    assert_eq!(
        cache.get("dev/a", "sha-1"),
        Some(TagFacts {
            digest: digest(9),
            manifest: None
        })
    );
}

#[test]
fn damaged_files_are_ignored_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TagCache::open(dir.path(), "reg:5000");
    cache.put("dev/a", "sha-1", facts(1));
    cache.save().unwrap();
    let good = std::fs::read(cache.path()).unwrap();

    let torn = &good[..good.len() / 2];
    let mut edited = String::from_utf8(good.clone()).unwrap();
    edited = edited.replace(&digest(1).to_string(), &digest(7).to_string());
    let foreign = String::from_utf8(good.clone())
        .unwrap()
        .replace("registry reg:5000", "registry other:5000");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("torn", torn.to_vec()),
        ("edited", edited.into_bytes()),
        ("foreign registry", foreign.into_bytes()),
        ("empty", Vec::new()),
        ("binary", vec![0xff, 0xfe, 0x00, 0x12]),
        ("another program's", b"{\"tags\": {}}\n".to_vec()),
    ];
    for (what, bytes) in cases {
        std::fs::write(cache.path(), &bytes).unwrap();
        let reader = TagCache::open(dir.path(), "reg:5000");
        assert_eq!(
            reader.get("dev/a", "sha-1"),
            None,
            "{what} file was trusted"
        );
        assert!(reader.ignored().is_some(), "{what}: not reported");
        // The next save rebuilds it from what this process knows.
        reader.put_digest("dev/a", "sha-2", &digest(2));
        reader.save().unwrap();
        let rebuilt = TagCache::open(dir.path(), "reg:5000");
        assert_eq!(rebuilt.ignored(), None, "{what}: not rebuilt");
        assert_eq!(
            rebuilt.get("dev/a", "sha-2").map(|f| f.digest),
            Some(digest(2))
        );
    }
}

#[test]
fn two_writers_merge_and_neither_loses_facts() {
    let dir = tempfile::tempdir().unwrap();
    let first = TagCache::open(dir.path(), "reg:5000");
    let second = TagCache::open(dir.path(), "reg:5000");
    // Both read the (empty) file before either saves.
    assert_eq!(first.get("dev/a", "sha-1"), None);
    assert_eq!(second.get("dev/b", "sha-1"), None);
    first.put_digest("dev/a", "sha-1", &digest(1));
    second.put_digest("dev/b", "sha-1", &digest(2));
    first.save().unwrap();
    second.save().unwrap();
    let after = TagCache::open(dir.path(), "reg:5000");
    assert_eq!(
        after.get("dev/a", "sha-1").map(|f| f.digest),
        Some(digest(1))
    );
    assert_eq!(
        after.get("dev/b", "sha-1").map(|f| f.digest),
        Some(digest(2))
    );
}

#[test]
fn concurrent_saves_from_many_threads_leave_a_whole_file_with_every_fact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let writers: Vec<_> = (0..8u8)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                for round in 0..10u8 {
                    let cache = TagCache::open(&path, "reg:5000");
                    cache.put_digest(&format!("dev/s{w}"), &format!("sha-{round}"), &digest(w));
                    cache.save().unwrap();
                    // A reader at any moment sees a whole file.
                    let reader = TagCache::open(&path, "reg:5000");
                    assert_eq!(reader.ignored(), None);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let after = TagCache::open(&path, "reg:5000");
    for w in 0..8u8 {
        for round in 0..10u8 {
            assert_eq!(
                after
                    .get(&format!("dev/s{w}"), &format!("sha-{round}"))
                    .map(|f| f.digest),
                Some(digest(w)),
                "writer {w} round {round} lost"
            );
        }
    }
}

#[test]
fn tags_no_longer_listed_are_forgotten_on_disk_too() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TagCache::open(dir.path(), "reg:5000");
    cache.put_digest("dev/a", "sha-1", &digest(1));
    cache.put_digest("dev/a", "sha-2", &digest(2));
    cache.save().unwrap();
    let later = TagCache::open(dir.path(), "reg:5000");
    later.retain_listed("dev/a", &["sha-2".to_string(), "latest".to_string()]);
    later.save().unwrap();
    let after = TagCache::open(dir.path(), "reg:5000");
    assert_eq!(after.get("dev/a", "sha-1"), None);
    assert_eq!(
        after.get("dev/a", "sha-2").map(|f| f.digest),
        Some(digest(2))
    );
}

#[test]
fn names_a_line_format_cannot_hold_are_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TagCache::open(dir.path(), "reg:5000");
    cache.put_digest("dev/a", "sha-1\tevil", &digest(1));
    cache.put_digest("dev/a\nb", "sha-1", &digest(1));
    let mut odd = facts(3);
    if let Some(m) = odd.manifest.as_mut() {
        m.platforms = vec!["linux/amd64,linux/arm64".into()];
    }
    cache.put("dev/a", "sha-3", odd);
    assert!(!cache.is_dirty());
    assert_eq!(cache.get("dev/a", "sha-1\tevil"), None);
}

#[test]
fn nothing_to_save_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TagCache::open(dir.path(), "reg:5000");
    assert_eq!(cache.get("dev/a", "sha-1"), None);
    cache.save().unwrap();
    assert!(!cache.path().exists());
}
