//! Supply-chain fixtures: two registries with the OCI referrers API (ferro-oci-server)
//! beside the shared Distribution ones, an image seeded with SBOMs, attestations and
//! signatures by skopeo and oras-py, and oras-py's reading of what is attached.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gantry::sandbox::ReferrersRegistry;

use super::{process_root, registries};

/// Two registries that answer the referrers API, shared by the tests of a binary.
pub struct ApiRegistries {
    pub a: ReferrersRegistry,
    pub b: ReferrersRegistry,
}

pub fn api_registries() -> &'static ApiRegistries {
    static REGISTRIES: OnceLock<ApiRegistries> = OnceLock::new();
    REGISTRIES.get_or_init(|| {
        let root = process_root("gantry-referrers");
        let start = |name: &str| {
            ReferrersRegistry::start(&root.join(name))
                .unwrap_or_else(|e| panic!("starting referrers registry {name}: {e}"))
        };
        ApiRegistries {
            a: start("a"),
            b: start("b"),
        }
    })
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/supply")
}

/// What the seed script pushed.
#[derive(Debug)]
pub struct Seeded {
    pub digest: String,
    pub children: Vec<String>,
    pub json: serde_json::Value,
}

impl Seeded {
    /// The public key file of one of the seed's signers (`release-signer`, `auditor`).
    pub fn key(&self, name: &str) -> PathBuf {
        PathBuf::from(self.json["keys"][name].as_str().expect("key path"))
    }
}

/// Seeds `registry/repository:tag` (see tests/fixtures/supply/seed.py); `fallback` also
/// writes the referrers tag schema's indexes, for a registry without the API.
pub fn seed(work: &Path, registry: &str, repository: &str, tag: &str, fallback: bool) -> Seeded {
    let mut command = std::process::Command::new("python3");
    command
        .arg(fixtures().join("seed.py"))
        .args([registry, repository, tag])
        .arg(work.join(format!("seed-{tag}")));
    if fallback {
        command.arg("--fallback");
    }
    let out = command
        .output()
        .expect("python3 with oras and cryptography");
    assert!(
        out.status.success(),
        "seed.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("seed JSON");
    Seeded {
        digest: json["digest"].as_str().expect("digest").to_string(),
        children: json["children"]
            .as_array()
            .expect("children")
            .iter()
            .map(|c| c.as_str().expect("child").to_string())
            .collect(),
        json,
    }
}

/// oras-py's reading of everything attached to `digest` (tests/fixtures/supply/read_attached.py).
pub fn read_attached(registry: &str, repository: &str, digest: &str) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .arg(fixtures().join("read_attached.py"))
        .args([registry, repository, digest])
        .output()
        .expect("python3 with oras");
    assert!(
        out.status.success(),
        "read_attached.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("read_attached JSON")
}

/// A config with the shared Distribution registries (dev -> stage, no API) and the two
/// API registries (fdev -> fstage), plus the crossings: dev -> xapi (into the API
/// registry b, under `x/`) and fdev -> xtag (into Distribution prod, under `x/`).
pub fn supply_config(service: &str, head: &str) -> String {
    let regs = registries();
    let api = api_registries();
    let env = |name: &str, registry: &str, path: &str, from: &str| {
        let mut text = format!(
            "\n[[environment]]\nname = \"{name}\"\nregistry = \"{registry}\"\nplain_http = true\nmutable_tag = \"{name}\"\n"
        );
        if !path.is_empty() {
            text.push_str(&format!("path = \"{path}\"\n"));
        }
        if !from.is_empty() {
            text.push_str(&format!("from = \"{from}\"\n"));
        }
        text
    };
    let mut text = head.to_string();
    text.push_str(&env("dev", regs.dev.addr(), "", ""));
    text.push_str(&env("stage", regs.stage.addr(), "", "dev"));
    text.push_str(&env("fdev", api.a.addr(), "", ""));
    text.push_str(&env("fstage", api.b.addr(), "", "fdev"));
    text.push_str(&env("xapi", api.b.addr(), "x", "dev"));
    text.push_str(&env("xtag", regs.prod.addr(), "x", "fdev"));
    text.push_str(&format!("\n[[service]]\nname = \"{service}\"\n"));
    text
}
