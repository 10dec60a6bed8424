//! Property tests: every parser of configuration and registry data survives arbitrary
//! and mutated input without panicking, and accepts what it should.

use std::path::Path;

use gantry::config::keys::KeyChord;
use gantry::config::Config;
use gantry::domain::{Digest, ImageSelector};
use gantry::registry::manifest::{self, TagList};
use gantry::registry::parse_next_link;
use gantry::tui::theme::Theme;
use proptest::prelude::*;

const CASES: u32 = 2000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const EXAMPLE: &str = include_str!("../config.example.toml");
const THEME: &str = include_str!("../themes/dark.toml");
const KEYS: &str = "[[environment]]\nname = \"dev\"\nregistry = \"localhost:5000\"\n\n[keys]\nquit = [\"q\", \"ctrl-c\"]\nhelp = \"?\"\n\n[keys.images]\npromote = \"p\"\n";

const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":7,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
const IMAGE: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":3}]}"#;

/// `text` with a few bytes replaced, inserted or removed at random places.
fn mutated(text: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8).prop_map(
        move |edits| {
            let mut bytes = text.as_bytes().to_vec();
            for (at, byte, kind) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            bytes
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn config_parser_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = Config::parse(&text, Path::new("fuzz.toml"));
    }

    #[test]
    fn config_parser_never_panics_on_mutated_example(bytes in mutated(EXAMPLE)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Config::parse(&text, Path::new("fuzz.toml")) {
            // Every refusal is located in the file.
            let message = e.to_string();
            prop_assert!(message.starts_with("fuzz.toml:"), "{}", message);
        }
    }

    #[test]
    fn manifest_parsers_never_panic_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        content_type in prop::option::of("[a-z./+-]{0,60}"),
    ) {
        let _ = manifest::media_type_of(content_type.as_deref(), &bytes);
        for media_type in [
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "text/plain",
        ] {
            let _ = manifest::parse(media_type, &bytes);
        }
    }

    #[test]
    fn manifest_parsers_never_panic_on_mutated_manifests(index in mutated(INDEX), image in mutated(IMAGE)) {
        for bytes in [&index, &image] {
            if let Ok(media_type) = manifest::media_type_of(None, bytes) {
                let _ = manifest::parse(&media_type, bytes);
            }
        }
    }

    #[test]
    fn tag_lists_and_links_never_panic(body in ".{0,300}", link in ".{0,200}") {
        let _ = serde_json::from_str::<TagList>(&body);
        let _ = serde_json::from_str::<manifest::ErrorBody>(&body);
        let _ = parse_next_link(&link);
    }

    #[test]
    fn selectors_and_digests_never_panic(input in ".{0,120}") {
        let _ = ImageSelector::parse(&input, "sha-");
        let _ = input.parse::<Digest>();
    }

    #[test]
    fn valid_selectors_round_trip(
        service in "[a-z][a-z0-9-]{0,20}",
        hex in "[0-9a-f]{64}",
        sha in "[0-9a-f]{4,40}",
    ) {
        let by_digest = format!("{service}@sha256:{hex}");
        let parsed = ImageSelector::parse(&by_digest, "sha-").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.to_string(), by_digest);
        let by_commit = format!("{service}:{sha}");
        let is_commit = matches!(ImageSelector::parse(&by_commit, "sha-"), Ok(ImageSelector::Commit { .. }));
        prop_assert!(is_commit);
        let by_tag = format!("{service}:sha-{sha}");
        let is_tag = matches!(ImageSelector::parse(&by_tag, "sha-"), Ok(ImageSelector::Tag { .. }));
        prop_assert!(is_tag);
    }

    #[test]
    fn valid_manifests_are_read_whatever_their_platform_count(count in 0usize..20) {
        let entries: Vec<String> = (0..count)
            .map(|i| format!(r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{:064x}","size":{i},"platform":{{"architecture":"a{i}","os":"linux"}}}}"#, i))
            .collect();
        let index = format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, entries.join(","));
        let media_type = manifest::media_type_of(None, index.as_bytes()).map_err(TestCaseError::fail)?;
        match manifest::parse(&media_type, index.as_bytes()).map_err(TestCaseError::fail)? {
            manifest::Parsed::Index(children) => prop_assert_eq!(children.len(), count),
            manifest::Parsed::Image(_) => prop_assert!(false, "an index was read as an image"),
        }
    }

    #[test]
    fn theme_parser_never_panics_on_mutated_themes(bytes in mutated(THEME), colour in any::<bool>()) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Theme::parse(&text, Path::new("fuzz-theme.toml"), colour) {
            let message = e.to_string();
            prop_assert!(message.starts_with("fuzz-theme.toml:"), "{}", message);
        }
    }

    #[test]
    fn keymap_parsing_never_panics(chord in ".{0,24}", bytes in mutated(KEYS)) {
        if let Ok(parsed) = KeyChord::parse(&chord) {
            // What parses prints back to something that parses to the same chord.
            prop_assert_eq!(KeyChord::parse(&parsed.to_string().replace('↑', "up").replace('↓', "down").replace('←', "left").replace('→', "right")), Ok(parsed));
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = Config::parse(&text, Path::new("fuzz.toml")) {
            let message = e.to_string();
            prop_assert!(message.starts_with("fuzz.toml:"), "{}", message);
        }
    }
}
