//! The plain settings tables (`[git]`, `[tags]`, `[copy]`, `[ui]`, `[ledger]`, `[signing]`)
//! with their defaults and the checks each table makes of itself.

use std::path::PathBuf;

use serde::Deserialize;

use super::keyfiles;
use super::names::{is_valid_branch_name, is_valid_ref_path};

/// `[signing]`: the key promotions sign with and the keys signatures are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSettings {
    /// A cosign private key (ENCRYPTED SIGSTORE PRIVATE KEY), absolute.
    pub key: Option<PathBuf>,
    /// The environment variable holding the key's password; unset means the empty password.
    pub password_env: String,
    /// Public keys (PEM) trusted when checking signatures, absolute.
    pub public_keys: Vec<PathBuf>,
}

impl Default for SigningSettings {
    fn default() -> Self {
        SigningSettings {
            key: None,
            password_env: keyfiles::DEFAULT_PASSWORD_ENV.into(),
            public_keys: Vec::new(),
        }
    }
}

/// The console's look and behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// A built-in theme (`dark`, `light`, `high-contrast`) or a path to a theme file.
    pub theme: String,
    /// Reload registries every this many seconds while the console is open; 0: only on demand.
    pub refresh_secs: u64,
    /// Hide and refuse every action that changes a registry or a repository.
    pub readonly: bool,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            theme: "dark".into(),
            refresh_secs: 0,
            readonly: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitSettings {
    /// The application repository; relative to the configuration file's directory
    /// (resolved at load time), unless absolute.
    pub path: PathBuf,
    pub develop: String,
    pub main: String,
    /// Release branches are `<release_prefix>...`.
    pub release_prefix: String,
    /// Hotfix branches are `<hotfix_prefix><name>`.
    pub hotfix_prefix: String,
    /// Name of a cut release branch: `{version}`, `{short}` (as in the image tag), `{sha}`.
    pub release_template: String,
    /// Walk develop by first parents only, so a merged feature branch shows as its merge.
    pub first_parent: bool,
    /// Where `--push` sends new branches.
    pub remote: String,
    /// Service repositories fetched at once (those named by URL, kept as mirrors).
    pub fetch_concurrency: usize,
}

impl Default for GitSettings {
    fn default() -> Self {
        GitSettings {
            path: PathBuf::from("."),
            develop: "develop".into(),
            main: "main".into(),
            release_prefix: "release/".into(),
            hotfix_prefix: "hotfix/".into(),
            release_template: "release/v{version}-sha-{short}".into(),
            first_parent: true,
            remote: "origin".into(),
            fetch_concurrency: 8,
        }
    }
}

/// Where requests, approvals and promotions are recorded: a ref of the application repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerSettings {
    /// Record promotions, rollbacks, requests and approvals.
    pub enabled: bool,
    /// The ref holding the chain of records.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Fetched before and pushed after every write. `None`: `origin` when the repository
    /// has it, else none; `""`: none, the ledger stays in this clone.
    pub remote: Option<String>,
    /// Pushes tried when another writer wins the race, each after fetching and re-chaining.
    pub attempts: u32,
    /// The repository holding the ledger (a path, relative to the configuration file, or
    /// a URL); `None`: `[git] path`.
    pub repository: Option<String>,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings {
            enabled: true,
            reference: "refs/gantry/ledger".into(),
            remote: None,
            attempts: 5,
            repository: None,
        }
    }
}

impl LedgerSettings {
    pub(crate) fn check(&self) -> Result<(), String> {
        let reference = &self.reference;
        if !reference.starts_with("refs/") || !is_valid_ref_path(&reference["refs/".len()..]) {
            return Err(format!(
                "ledger.ref `{reference}` is not a valid ref name under refs/ (say `refs/gantry/ledger`)"
            ));
        }
        if reference.starts_with("refs/heads/") || reference.starts_with("refs/tags/") {
            return Err(format!(
                "ledger.ref `{reference}` would be a branch or a tag that clones and checkouts pick up: keep it outside refs/heads and refs/tags"
            ));
        }
        if let Some(remote) = self.remote.as_deref().filter(|r| !r.is_empty()) {
            if !is_valid_ref_path(remote) {
                return Err(format!(
                    "ledger.remote `{remote}` is not a valid remote name"
                ));
            }
        }
        if self.attempts == 0 {
            return Err("ledger.attempts must be at least 1".into());
        }
        if self
            .repository
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            return Err(
                "ledger.repository is empty: say a path or URL, or leave it out to keep the ledger in [git] path".into(),
            );
        }
        Ok(())
    }
}

/// The most approvals an environment may ask for.
pub const MAX_APPROVALS: u32 = 20;

/// The placeholders a release template may use.
pub const RELEASE_PLACEHOLDERS: [&str; 3] = ["{version}", "{short}", "{sha}"];

impl GitSettings {
    /// Why these settings cannot name branches, if they cannot. Every name is checked
    /// with the rules git applies to `refs/heads/<name>`.
    pub fn check(&self) -> Result<(), String> {
        for (key, value) in [("develop", &self.develop), ("main", &self.main)] {
            if !is_valid_branch_name(value) {
                return Err(format!("git.{key} `{value}` is not a valid branch name"));
            }
        }
        for (key, value) in [
            ("release_prefix", &self.release_prefix),
            ("hotfix_prefix", &self.hotfix_prefix),
        ] {
            // A prefix must start a branch name, so it is checked with a name after it.
            if value.is_empty() || !is_valid_branch_name(&format!("{value}x")) {
                return Err(format!(
                    "git.{key} `{value}` cannot start a branch name (say `{}`)",
                    if key == "release_prefix" {
                        "release/"
                    } else {
                        "hotfix/"
                    }
                ));
            }
        }
        if !(1..=64).contains(&self.fetch_concurrency) {
            return Err(format!(
                "git.fetch_concurrency {} must be between 1 and 64",
                self.fetch_concurrency
            ));
        }
        let template = &self.release_template;
        if !template.starts_with(&self.release_prefix) {
            return Err(format!(
                "git.release_template `{template}` must start with git.release_prefix `{}`, or gantry would not see the branches it cuts as releases",
                self.release_prefix
            ));
        }
        let mut rest = template.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').map(|c| open + c + 1);
            let placeholder = close.map(|c| &rest[open..c]).unwrap_or(&rest[open..]);
            if !RELEASE_PLACEHOLDERS.contains(&placeholder) {
                return Err(format!(
                    "git.release_template `{template}`: unknown placeholder `{placeholder}` (known: {})",
                    RELEASE_PLACEHOLDERS.join(", ")
                ));
            }
            rest = &rest[close.unwrap_or(rest.len())..];
        }
        if !template.contains("{short}")
            && !template.contains("{sha}")
            && !template.contains("{version}")
        {
            return Err(format!(
                "git.release_template `{template}` has no placeholder: every release would get the same name"
            ));
        }
        let sample = template
            .replace("{version}", "1.2.0")
            .replace("{short}", "2b2e927")
            .replace("{sha}", "2b2e927f1a3c2b2e927f1a3c2b2e927f1a3c2b2e");
        if !is_valid_branch_name(&sample) {
            return Err(format!(
                "git.release_template `{template}` does not give a valid branch name (e.g. `{sample}`)"
            ));
        }
        if !is_valid_ref_path(&self.remote) {
            return Err(format!(
                "git.remote `{}` is not a valid remote name",
                self.remote
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TagSettings {
    /// Immutable tags are `<prefix><short sha>`.
    pub prefix: String,
    pub short_len: usize,
}

impl Default for TagSettings {
    fn default() -> Self {
        TagSettings {
            prefix: "sha-".into(),
            short_len: 7,
        }
    }
}

impl TagSettings {
    /// The immutable tag of a commit: `sha-` + the first `short_len` hex digits.
    pub fn for_commit(&self, sha: &str) -> String {
        let short: String = sha.chars().take(self.short_len).collect();
        format!("{}{}", self.prefix, short)
    }

    pub fn is_immutable(&self, tag: &str) -> bool {
        tag.starts_with(&self.prefix)
    }
}

/// How hard gantry pushes the registries; defaults follow skopeo and crane.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CopySettings {
    /// Blobs in flight at once, across all images of one run.
    pub parallel_blobs: usize,
    /// Images promoted at once.
    pub parallel_images: usize,
    /// Attempts per request before giving up (408, 429, 5xx, dropped connections).
    pub attempts: u32,
    /// First back-off in milliseconds; doubles each attempt.
    pub backoff_ms: u64,
    /// Seconds a registry may stay silent mid-answer before the request is retried.
    pub read_timeout_secs: u64,
    /// Requests waiting for an answer at once, per registry host (listings and copies).
    pub requests_per_host: usize,
    /// Carry what is attached to an image (OCI referrers, cosign `.att`/`.sbom` tags).
    pub referrers: bool,
    /// Carry only attachments of these artifact types (empty: all of them).
    pub artifact_types: Vec<String>,
}

impl Default for CopySettings {
    fn default() -> Self {
        CopySettings {
            parallel_blobs: 6,
            parallel_images: 4,
            attempts: 5,
            backoff_ms: 200,
            read_timeout_secs: 60,
            requests_per_host: 16,
            referrers: true,
            artifact_types: Vec::new(),
        }
    }
}
