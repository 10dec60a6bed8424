//! The editor's cases: each asserts the whole file after the edit, so any byte changed
//! outside the target shows up.

use proptest::prelude::*;

use super::*;

const DIGEST: &str = "sha256:2b2e927f1a3c2b2e927f1a3c2b2e927f1a3c2b2e927f1a3c2b2e927f1a3c0000";

const KUSTOMIZATION: &str = "\
# stage overlay: edited by gantry, reviewed by humans
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base   # the shared deployment
images:
  # payments first
  - name: registry.example.com/payment-svc
    newTag: sha-1111111 # bumped by CI
    digest: sha256:aaaa
  - name: registry.example.com/ledger-api
    newTag: \"sha-2222222\"
namePrefix: stage-
";

#[test]
fn kustomize_replaces_only_the_values() {
    let out = set_kustomize_image(
        KUSTOMIZATION,
        "registry.example.com/payment-svc",
        Some("sha-2b2e927"),
        Some(DIGEST),
    )
    .unwrap();
    let expected = KUSTOMIZATION
        .replace(
            "newTag: sha-1111111 # bumped by CI",
            "newTag: sha-2b2e927 # bumped by CI",
        )
        .replace("digest: sha256:aaaa", &format!("digest: {DIGEST}"));
    assert_eq!(out, expected);
    let read = read_kustomize_image(&out, "registry.example.com/payment-svc").unwrap();
    assert_eq!(read.new_tag.as_deref(), Some("sha-2b2e927"));
    assert_eq!(read.digest.as_deref(), Some(DIGEST));
}

#[test]
fn kustomize_keeps_quotes_and_inserts_missing_keys() {
    let out = set_kustomize_image(
        KUSTOMIZATION,
        "registry.example.com/ledger-api",
        Some("sha-3333333"),
        Some(DIGEST),
    )
    .unwrap();
    let expected = KUSTOMIZATION.replace(
        "    newTag: \"sha-2222222\"\n",
        &format!("    newTag: \"sha-3333333\"\n    digest: {DIGEST}\n"),
    );
    assert_eq!(out, expected);
}

#[test]
fn kustomize_entry_with_only_a_name_gets_both_keys_in_order() {
    let text = "images:\n- name: app\n- name: other\n  newTag: v1\n";
    let out = set_kustomize_image(text, "app", Some("sha-1"), Some(DIGEST)).unwrap();
    assert_eq!(
        out,
        format!("images:\n- name: app\n  newTag: sha-1\n  digest: {DIGEST}\n- name: other\n  newTag: v1\n")
    );
}

#[test]
fn kustomize_new_tag_goes_before_an_existing_digest() {
    let text =
        "images:\n  - name: app\n    newName: r/app\n    # pinned\n    digest: sha256:old # keep\n";
    let out = set_kustomize_image(text, "app", Some("sha-1"), Some(DIGEST)).unwrap();
    assert_eq!(
        out,
        format!("images:\n  - name: app\n    newName: r/app\n    newTag: sha-1\n    # pinned\n    digest: {DIGEST} # keep\n")
    );
}

#[test]
fn kustomize_entry_opened_by_digest_or_a_bare_dash() {
    let text = "images:\n- digest: sha256:old\n  name: app\n-\n  name: two\n";
    let out = set_kustomize_image(text, "app", Some("t"), Some(DIGEST)).unwrap();
    assert_eq!(
        out,
        format!("images:\n- digest: {DIGEST}\n  name: app\n  newTag: t\n-\n  name: two\n")
    );
    let out = set_kustomize_image(text, "two", Some("t2"), None).unwrap();
    assert_eq!(
        out,
        "images:\n- digest: sha256:old\n  name: app\n-\n  name: two\n  newTag: t2\n"
    );
}

#[test]
fn kustomize_crlf_and_no_final_newline() {
    let text = "images:\r\n  - name: app\r\n    newTag: old\r\nresources:\r\n  - a.yaml";
    let out = set_kustomize_image(text, "app", Some("new"), Some(DIGEST)).unwrap();
    assert_eq!(
        out,
        format!("images:\r\n  - name: app\r\n    newTag: new\r\n    digest: {DIGEST}\r\nresources:\r\n  - a.yaml")
    );
    let text = "images:\n  - name: app";
    let out = set_kustomize_image(text, "app", Some("new"), None).unwrap();
    assert_eq!(out, "images:\n  - name: app\n    newTag: new");
}

#[test]
fn kustomize_unchanged_values_leave_the_text_identical() {
    let once = set_kustomize_image(
        KUSTOMIZATION,
        "registry.example.com/payment-svc",
        Some("sha-9"),
        Some(DIGEST),
    )
    .unwrap();
    let twice = set_kustomize_image(
        &once,
        "registry.example.com/payment-svc",
        Some("sha-9"),
        Some(DIGEST),
    )
    .unwrap();
    assert_eq!(once, twice);
}

#[test]
fn kustomize_refusals_say_why() {
    let missing = set_kustomize_image(KUSTOMIZATION, "nope", Some("t"), None).unwrap_err();
    assert!(
        matches!(&missing, EditError::Missing(m) if m.contains("name: nope") && m.contains("registry.example.com/ledger-api")),
        "{missing}"
    );
    let cases = [
        ("images: [{name: app}]\n", "flow"),
        ("images:\n- {name: app, newTag: x}\n", "flow"),
        ("images: &imgs\n- name: app\n", "anchor"),
        ("images:\n- name: app\n  newTag: *tag\n", "alias"),
        (
            "images:\n- name: app\n- name: app\n",
            "two `images:` entries",
        ),
        ("images:\n- name: app\n  <<: *base\n", "merge key"),
        ("images:\n- name: app\n  newTag: |\n    x\n", "block scalar"),
        (
            "images:\n- name: app\n---\nimages:\n- name: app\n",
            "several YAML documents",
        ),
        ("images:\n\t- name: app\n", "tab"),
        (
            "images:\n- name: app\n  newTag: \"a\n    b\"\n",
            "spanning several lines",
        ),
    ];
    for (text, why) in cases {
        let err = set_kustomize_image(text, "app", Some("t"), Some(DIGEST)).unwrap_err();
        assert!(err.to_string().contains(why), "{text:?}: {err}");
    }
    assert!(matches!(
        set_kustomize_image("resources: []\n", "app", Some("t"), None),
        Err(EditError::Missing(_))
    ));
    assert!(matches!(
        set_kustomize_image("", "app", Some("t"), None),
        Err(EditError::Missing(_))
    ));
}

#[test]
fn kustomize_unrelated_anchors_and_multiline_values_are_skipped() {
    let text = "base: &b\n  x: 1\nimages:\n- name: other\n  newTag: \"two\n    lines\"\n- name: app\n  newTag: old\nextra: *b\n";
    let out = set_kustomize_image(text, "app", Some("new"), None).unwrap();
    assert_eq!(out, text.replace("newTag: old", "newTag: new"));
}

const VALUES: &str = "\
# Default values for ledger-api.
replicaCount: 2
image:
  repository: registry.example.com/ledger-api   # where it lives
  # the commit tag gantry promotes
  tag: \"sha-1111111\"  # set by gantry
  digest: ''
  pullPolicy: IfNotPresent
sidecar:
  image:
    tag: v9.9.9 # not ours
    digest: sha256:sidecar
service:
  port: 8080
";

#[test]
fn helm_follows_the_path_by_indentation() {
    let tag = ValuePath::parse("image.tag").unwrap();
    let digest = ValuePath::parse("image.digest").unwrap();
    let out = set_value(VALUES, &tag, "sha-2b2e927").unwrap();
    let out = set_value(&out, &digest, DIGEST).unwrap();
    let expected = VALUES
        .replace(
            "  tag: \"sha-1111111\"  # set by gantry",
            "  tag: \"sha-2b2e927\"  # set by gantry",
        )
        .replace("  digest: ''\n", &format!("  digest: '{DIGEST}'\n"));
    assert_eq!(out, expected);
    assert_eq!(
        read_value(&out, &tag).unwrap().as_deref(),
        Some("sha-2b2e927")
    );
    let sidecar = ValuePath::parse("sidecar.image.tag").unwrap();
    assert_eq!(
        read_value(&out, &sidecar).unwrap().as_deref(),
        Some("v9.9.9")
    );
    let out = set_value(&out, &sidecar, "v10").unwrap();
    assert!(out.contains("    tag: v10 # not ours\n"), "{out}");
}

#[test]
fn helm_empty_and_null_values_are_filled() {
    let path = ValuePath::parse("image.tag").unwrap();
    for (before, after) in [
        ("image:\n  tag:\n", "image:\n  tag: sha-1\n"),
        (
            "image:\n  tag: # fill me\n",
            "image:\n  tag: sha-1 # fill me\n",
        ),
        ("image:\n  tag: ~\n", "image:\n  tag: sha-1\n"),
        ("image:\n  tag: null  # x\n", "image:\n  tag: sha-1  # x\n"),
        ("image:\n  \"tag\": v1\n", "image:\n  \"tag\": sha-1\n"),
    ] {
        assert_eq!(
            set_value(before, &path, "sha-1").unwrap(),
            after,
            "{before:?}"
        );
    }
    assert_eq!(read_value("image:\n  tag: ~\n", &path).unwrap(), None);
}

#[test]
fn helm_quotes_values_that_would_change_type() {
    let path = ValuePath::parse("tag").unwrap();
    for (value, written) in [
        ("1234567", "\"1234567\""),
        ("1e10", "\"1e10\""),
        ("yes", "\"yes\""),
        ("0x1f", "\"0x1f\""),
        ("-x", "\"-x\""),
        ("a: b", "\"a: b\""),
        ("sha-2b2e927", "sha-2b2e927"),
        (DIGEST, DIGEST),
        ("1.2.3", "1.2.3"),
    ] {
        let out = set_value("tag: old\n", &path, value).unwrap();
        assert_eq!(out, format!("tag: {written}\n"), "{value}");
        assert_eq!(read_value(&out, &path).unwrap().as_deref(), Some(value));
    }
    let out = set_value("tag: 'old'\n", &path, "it's").unwrap();
    assert_eq!(out, "tag: 'it''s'\n");
    assert_eq!(read_value(&out, &path).unwrap().as_deref(), Some("it's"));
}

#[test]
fn helm_refusals_say_why() {
    for (text, path, why) in [
        (
            "image:\n  repository: x\n",
            "image.tag",
            "no key `tag` under `image`",
        ),
        ("other: 1\n", "image.tag", "no key `image` at the top level"),
        ("image: nginx\n", "image.tag", "is a value, not a mapping"),
        (
            "image:\n  tag:\n    a: b\n",
            "image.tag",
            "a mapping or a list",
        ),
        ("image: {tag: v1}\n", "image.tag", "flow style"),
        ("image:\n  tag: [v1]\n", "image.tag", "flow style"),
        ("image: &i\n  tag: v1\n", "image.tag", "anchor"),
        ("image:\n  <<: *base\n", "image.tag", "merges another"),
        (
            "image:\n  tag: v1\n  tag: v2\n",
            "image.tag",
            "appears twice",
        ),
        (
            "image:\n  - tag: v1\n",
            "image.tag",
            "a sequence where a mapping",
        ),
        ("image:\n- tag: v1\n", "image.tag", "`image` is a list"),
        (
            "image:\n  tag:\n  - v1\n",
            "image.tag",
            "`image.tag` is a list",
        ),
        ("image:\n  tag: >\n    v1\n", "image.tag", "block scalar"),
        ("image:\n  tag: !!str v1\n", "image.tag", "a tag (!name)"),
        (
            "a: 1\n---\nimage:\n  tag: v\n",
            "image.tag",
            "several YAML documents",
        ),
        (
            "image:\n  tag: v\n...\n---\nimage:\n  tag: w\n",
            "image.tag",
            "several YAML documents",
        ),
        (
            "image:\n  tag: v1\n bad: 2\n",
            "image.tag",
            "leaves its mapping",
        ),
        ("image:\n\ttag: v1\n", "image.tag", "tab"),
        ("? complex\n: x\n", "image.tag", "complex mapping keys"),
    ] {
        let err = set_value(text, &ValuePath::parse(path).unwrap(), "v").unwrap_err();
        assert!(err.to_string().contains(why), "{text:?}: {err}");
    }
    assert!(ValuePath::parse("image..tag").is_err());
    assert!(ValuePath::parse("").is_err());
}

#[test]
fn helm_document_markers_and_block_scalars_elsewhere() {
    let text = "%YAML 1.2\n---\nnotes: |\n  tag: not this one\n  image:\n    tag: nor this\nimage:\n  tag: v1\n...\n";
    let path = ValuePath::parse("image.tag").unwrap();
    let out = set_value(text, &path, "v2").unwrap();
    assert_eq!(out, text.replace("  tag: v1\n", "  tag: v2\n"));
}

#[test]
fn a_byte_order_mark_stays() {
    let text = "\u{feff}image:\n  tag: v1\n";
    let out = set_value(text, &ValuePath::parse("image.tag").unwrap(), "v2").unwrap();
    assert_eq!(out, "\u{feff}image:\n  tag: v2\n");
    let text = "\u{feff}images:\n- name: app\n";
    let out = set_kustomize_image(text, "app", Some("t"), None).unwrap();
    assert_eq!(out, "\u{feff}images:\n- name: app\n  newTag: t\n");
}

#[test]
fn helm_same_key_at_other_depths_is_not_touched() {
    let text =
        "tag: top\nimage:\n  nested:\n    tag: deep\n  tag: target\n  other:\n    tag: deeper\n";
    let out = set_value(text, &ValuePath::parse("image.tag").unwrap(), "new").unwrap();
    assert_eq!(out, text.replace("  tag: target", "  tag: new"));
}

// Properties: around a target, arbitrary unrelated content (comments, keys, nested
// mappings holding the same key names, blank lines) stays byte-identical.

fn comment() -> impl Strategy<Value = String> {
    "[ ]{0,4}# [a-z :#'\"-]{0,20}"
}

fn plain_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("tag".to_string()),
        Just("digest".to_string()),
        Just("name".to_string()),
        "[a-z][a-zA-Z0-9_-]{0,8}",
    ]
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9.:/-]{0,12}",
        "\"[a-z #:]{0,10}\"",
        "'[a-z #:]{0,10}'",
        Just("~".to_string()),
    ]
}

/// Lines nested under `indent`, as a values file would have them.
fn filler(indent: usize) -> impl Strategy<Value = Vec<String>> {
    let pad = " ".repeat(indent);
    proptest::collection::vec(
        prop_oneof![
            comment(),
            Just(String::new()),
            (plain_key(), scalar(), proptest::option::of(comment())).prop_map(|(k, v, c)| format!(
                "{k}: {v}{}",
                c.map(|c| format!(" {c}")).unwrap_or_default()
            )),
            (plain_key(), plain_key(), scalar())
                .prop_map(|(k, k2, v)| format!("{k}x:\n  {k2}: {v}")),
        ],
        0..5,
    )
    .prop_map(move |lines| {
        lines
            .into_iter()
            .map(|l| {
                l.lines()
                    .map(|part| {
                        if part.is_empty() {
                            String::new()
                        } else {
                            format!("{pad}{part}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect()
    })
}

fn values_file() -> impl Strategy<Value = (String, usize, String)> {
    (
        filler(0),
        filler(2),
        filler(2),
        scalar(),
        proptest::option::of(comment()),
        any::<bool>(),
    )
        .prop_map(|(top, before, after, value, trailing, crlf)| {
            let flat = |entries: Vec<String>| -> Vec<String> {
                entries
                    .iter()
                    .flat_map(|e| e.split('\n').map(str::to_string).collect::<Vec<_>>())
                    .collect()
            };
            // Keys named like the target's path are renamed: the path must stay unique.
            let mut lines: Vec<String> = flat(top)
                .into_iter()
                .map(|l| {
                    if l.starts_with("image:") {
                        l.replacen("image:", "picture:", 1)
                    } else {
                        l
                    }
                })
                .collect();
            lines.push("image:".into());
            lines.extend(flat(before).into_iter().map(|l| {
                if l.starts_with("  tag:") {
                    l.replacen("tag:", "tags:", 1)
                } else {
                    l
                }
            }));
            let target = lines.len();
            let comment = trailing
                .map(|c| format!(" {}", c.trim_start()))
                .unwrap_or_default();
            lines.push(format!("  tag: {value}{comment}"));
            lines.extend(flat(after).into_iter().map(|l| {
                if l.starts_with("  tag:") {
                    l.replacen("tag:", "tags:", 1)
                } else {
                    l
                }
            }));
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(eol);
            text.push_str(eol);
            (text, target, eol.to_string())
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn helm_edit_touches_only_the_target_line((text, target, eol) in values_file(), new in "[a-z0-9][a-z0-9.:-]{0,20}") {
        let path = ValuePath::parse("image.tag").unwrap();
        let out = set_value(&text, &path, &new).unwrap();
        let before: Vec<&str> = text.split(eol.as_str()).collect();
        let after: Vec<&str> = out.split(eol.as_str()).collect();
        prop_assert_eq!(before.len(), after.len());
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            if i != target {
                prop_assert_eq!(b, a, "line {}", i + 1);
            }
        }
        // The target keeps its key and trailing comment.
        let old_comment = before[target].find(" #").map(|i| &before[target][i..]);
        let new_comment = after[target].find(" #").map(|i| &after[target][i..]);
        if !before[target].contains("\"") && !before[target].contains('\'') {
            prop_assert_eq!(old_comment, new_comment);
        }
        prop_assert!(after[target].starts_with("  tag: "));
        prop_assert_eq!(read_value(&out, &path).unwrap(), Some(new.clone()));
        // Idempotent: a second edit changes nothing.
        prop_assert_eq!(set_value(&out, &path, &new).unwrap(), out);
    }

    #[test]
    fn kustomize_edit_changes_only_the_entry(
        others in proptest::collection::btree_set("[a-z]{1,6}", 0..4),
        position in 0usize..4,
        has_tag in any::<bool>(),
        has_digest in any::<bool>(),
        notes in proptest::collection::vec(comment(), 0..3),
        tag in "[a-z0-9-]{1,12}",
    ) {
        let mut entries: Vec<String> = others
            .iter()
            .map(|o| format!("  - name: other-{o}\n    newTag: keep-{o} # theirs\n    digest: sha256:{o}\n"))
            .collect();
        let mut ours = String::from("  - name: app\n");
        if has_tag { ours.push_str("    newTag: old # ours\n"); }
        for note in &notes { ours.push_str(&format!("    {}\n", note.trim_start())); }
        if has_digest { ours.push_str("    digest: sha256:old\n"); }
        let others: Vec<String> = others.into_iter().collect();
        let at = position.min(entries.len());
        entries.insert(at, ours);
        let text = format!("# head\nresources:\n  - base\nimages:\n{}namePrefix: x-\n", entries.concat());
        let out = set_kustomize_image(&text, "app", Some(&tag), Some(DIGEST)).unwrap();
        let read = read_kustomize_image(&out, "app").unwrap();
        prop_assert_eq!(read.new_tag, Some(tag.clone()));
        prop_assert_eq!(read.digest.as_deref(), Some(DIGEST));
        for o in &others {
            let name = format!("other-{o}");
            let theirs = read_kustomize_image(&out, &name).unwrap();
            let keep = format!("keep-{o}");
            prop_assert_eq!(theirs.new_tag.as_deref(), Some(keep.as_str()));
        }
        // Every original line survives in order, except the two value lines of ours.
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| *l != "    newTag: old # ours" && *l != "    digest: sha256:old")
            .collect();
        let mut rest = out.lines();
        for line in &kept {
            prop_assert!(rest.any(|l| l == *line), "lost {line:?} in\n{out}");
        }
        prop_assert_eq!(out.lines().count(), text.lines().count() + usize::from(!has_tag) + usize::from(!has_digest));
        prop_assert_eq!(set_kustomize_image(&out, "app", Some(&tag), Some(DIGEST)).unwrap(), out);
    }
}
