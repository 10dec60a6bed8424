//! Configuration: finding the file, parsing it, and refusing bad values with file:line:col.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::domain::is_valid_tag;

pub mod notify;

/// A configuration that passed validation: every `from` names an environment,
/// there is no cycle, every registry and repository parses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from, for messages.
    pub source: PathBuf,
    pub git: GitSettings,
    pub tags: TagSettings,
    pub copy: CopySettings,
    pub environments: Vec<Environment>,
    pub services: Vec<Service>,
    pub ui: UiSettings,
    pub ledger: LedgerSettings,
    /// Default keys with `[keys]` applied.
    pub keymap: crate::keys::Keymap,
    pub signing: SigningSettings,
    /// `[[notify]]`: webhooks told about requests, approvals, promotions and failures.
    pub notify: Vec<notify::NotifySettings>,
}

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
            password_env: crate::signing::DEFAULT_PASSWORD_ENV.into(),
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
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings {
            enabled: true,
            reference: "refs/gantry/ledger".into(),
            remote: None,
            attempts: 5,
        }
    }
}

impl LedgerSettings {
    fn check(&self) -> Result<(), String> {
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

/// git's rules for a branch name (`git check-ref-format --branch`).
pub fn is_valid_branch_name(name: &str) -> bool {
    !name.starts_with('-') && is_valid_ref_path(name)
}

/// git's reference-name rules (`git check-ref-format`) for what follows `refs/heads/`.
/// Written out rather than asked of libgit2: its first call initialises OpenSSL, a cost
/// every command would pay just to read the configuration.
fn is_valid_ref_path(name: &str) -> bool {
    !name.is_empty()
        && name != "@"
        && !name.contains("..")
        && !name.contains("@{")
        && !name.ends_with('.')
        && name
            .bytes()
            .all(|b| b >= 0x20 && b != 0x7f && !b" ~^:?*[\\".contains(&b))
        && name
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"))
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
            referrers: true,
            artifact_types: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    /// `host[:port]`, no scheme.
    pub registry: String,
    /// Repository prefix: `dev` puts service `x` at `<registry>/dev/x`.
    pub path: String,
    pub plain_http: bool,
    pub mutable_tag: Option<String>,
    /// The environment images come from when promoted here.
    pub from: Option<String>,
    /// `[environment.retention]`: what `gantry gc` may delete here; `None`: nothing.
    pub retention: Option<crate::retention::RetentionPolicy>,
    /// Images promoted here are kept this long, in every environment (compliance).
    pub retain_promoted: Option<crate::retention::RetentionDuration>,
    /// Credentials named in the configuration; `None` means "ask the Docker config".
    pub login: Option<Login>,
    /// Extra root certificates (PEM) trusted for this registry, absolute.
    pub ca_file: Option<PathBuf>,
    /// Distinct people (not the requester) who must approve an image before it is promoted here.
    pub approvals: u32,
    /// gantry never writes here: promotions and rollbacks into it are refused.
    pub readonly: bool,
    /// Promotions into this environment sign the image with `[signing] key`.
    pub sign: bool,
    /// Promotions into this environment attach a signed promotion attestation.
    pub attest: bool,
    /// Public keys trusted for this environment's images instead of `[signing] public_keys`.
    pub verify_keys: Vec<PathBuf>,
    /// `[environment.deploy]`: what points the environment at a promoted image.
    pub deploy: crate::deploy::settings::DeploySettings,
    /// `[environment.gates]`: rules a promotion into this environment must pass.
    pub gates: crate::gates::GatesConfig,
}

/// A user name and where its password lives: the configuration never holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: PasswordSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The name of an environment variable.
    Env(String),
    /// A file whose content (trailing newline removed) is the password; absolute.
    File(PathBuf),
}

impl Environment {
    /// The repository (no registry host) holding `service` in this environment.
    pub fn repository(&self, service: &Service) -> String {
        if self.path.is_empty() {
            service.repository.clone()
        } else {
            format!("{}/{}", self.path, service.repository)
        }
    }

    /// `host/repository` as people paste it into docker or skopeo.
    pub fn image_name(&self, service: &Service) -> String {
        format!("{}/{}", self.registry, self.repository(service))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub repository: String,
}

impl Config {
    pub fn environment(&self, name: &str) -> Result<&Environment, LookupError> {
        self.environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| LookupError::Environment {
                name: name.to_string(),
                known: self.environments.iter().map(|e| e.name.clone()).collect(),
            })
    }

    pub fn service(&self, name: &str) -> Result<&Service, LookupError> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| LookupError::Service {
                name: name.to_string(),
                known: self.services.iter().map(|s| s.name.clone()).collect(),
            })
    }

    /// Loads the first configuration found: `explicit`, then `$GANTRY_CONFIG`,
    /// then `./gantry.toml`, then `$XDG_CONFIG_HOME/gantry/config.toml`.
    pub fn discover(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = locate(explicit)?;
        Config::load(&path)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates `text`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, col) = e
                .span()
                .map(|span| line_col(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                col,
                message: e.message().trim_end().to_string(),
            }
        })?;
        Validator { text, path }.validate(raw)
    }
}

fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("GANTRY_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let mut tried = vec![PathBuf::from("gantry.toml")];
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(dir) = xdg {
        tried.push(dir.join("gantry").join("config.toml"));
    }
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(ConfigError::NotFound { tried })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no configuration found (tried --config, $GANTRY_CONFIG, {}); start from config.example.toml", .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound { tried: Vec<PathBuf> },
    #[error("{}: cannot read: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}:{line}:{col}: {message}", .path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    #[error("unknown environment `{name}` (configured: {}){}", list(.known), suggestion(.name, .known))]
    Environment { name: String, known: Vec<String> },
    #[error("unknown service `{name}` (configured: {}){}", list(.known), suggestion(.name, .known))]
    Service { name: String, known: Vec<String> },
}

fn suggestion(typed: &str, known: &[String]) -> String {
    crate::domain::suggest::did_you_mean(typed, known.iter().map(String::as_str))
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    git: Option<Spanned<GitSettings>>,
    #[serde(default)]
    tags: Option<Spanned<TagSettings>>,
    #[serde(default)]
    copy: Option<Spanned<CopySettings>>,
    #[serde(default)]
    environment: Vec<RawEnvironment>,
    #[serde(default)]
    service: Vec<RawService>,
    #[serde(default)]
    ui: Option<Spanned<UiSettings>>,
    #[serde(default)]
    ledger: Option<Spanned<LedgerSettings>>,
    /// `action = "key"` or `["k1", "k2"]`, and `[keys.<screen>]` tables of the same.
    #[serde(default)]
    keys: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    signing: Option<Spanned<RawSigning>>,
    #[serde(default)]
    notify: Vec<Spanned<notify::RawNotify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    #[serde(default)]
    key: Option<Spanned<String>>,
    #[serde(default)]
    password_env: Option<Spanned<String>>,
    #[serde(default)]
    public_keys: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: Spanned<String>,
    registry: Spanned<String>,
    #[serde(default)]
    path: Option<Spanned<String>>,
    #[serde(default)]
    plain_http: Option<Spanned<bool>>,
    #[serde(default)]
    mutable_tag: Option<Spanned<String>>,
    #[serde(default)]
    from: Option<Spanned<String>>,
    #[serde(default)]
    retention: Option<Spanned<crate::retention::policy::RawRetention>>,
    #[serde(default)]
    retain_promoted: Option<Spanned<String>>,
    #[serde(default)]
    username: Option<Spanned<String>>,
    #[serde(default)]
    password_env: Option<Spanned<String>>,
    #[serde(default)]
    password_file: Option<Spanned<String>>,
    #[serde(default)]
    ca_file: Option<Spanned<String>>,
    #[serde(default)]
    approvals: Option<Spanned<u32>>,
    #[serde(default)]
    readonly: bool,
    #[serde(default)]
    sign: Option<Spanned<bool>>,
    #[serde(default)]
    attest: Option<Spanned<bool>>,
    #[serde(default)]
    verify_keys: Vec<Spanned<String>>,
    #[serde(default)]
    deploy: Option<Spanned<crate::deploy::settings::RawDeploy>>,
    #[serde(default)]
    gates: Option<crate::gates::GatesConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    #[serde(default)]
    repository: Option<Spanned<String>>,
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    fn error(&self, span: Range<usize>, message: impl fmt::Display) -> ConfigError {
        let (line, col) = line_col(self.text, span.start);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            col,
            message: message.to_string(),
        }
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let (mut git, git_span) = split_spanned(raw.git);
        if let Err(why) = git.check() {
            return Err(self.error(git_span, why));
        }
        if git.path.is_relative() {
            // Relative to the file that says it, not to wherever gantry happens to run.
            if let Some(dir) = self.path.parent() {
                git.path = dir.join(&git.path);
            }
        }
        let (tags, tags_span) = split_spanned(raw.tags);
        if tags.prefix.is_empty() || !is_valid_tag(&format!("{}0", tags.prefix)) {
            return Err(self.error(
                tags_span.clone(),
                format!(
                    "tags.prefix `{}` cannot start a tag (letters, digits, `_`, `.`, `-`)",
                    tags.prefix
                ),
            ));
        }
        if !(4..=40).contains(&tags.short_len) {
            return Err(self.error(
                tags_span,
                format!(
                    "tags.short_len {} is out of range (4 to 40 hex digits)",
                    tags.short_len
                ),
            ));
        }
        let (copy, copy_span) = split_spanned(raw.copy);
        if copy.parallel_blobs == 0
            || copy.parallel_images == 0
            || copy.attempts == 0
            || copy.read_timeout_secs == 0
        {
            return Err(self.error(
                copy_span,
                "copy.parallel_blobs, copy.parallel_images, copy.attempts and copy.read_timeout_secs must be at least 1",
            ));
        }

        let signing = self.signing(raw.signing.as_ref())?;

        if raw.environment.is_empty() {
            return Err(self.error(
                0..0,
                "no [[environment]] is configured; gantry needs at least one",
            ));
        }
        let mut environments = Vec::with_capacity(raw.environment.len());
        let mut seen = HashSet::new();
        for env in &raw.environment {
            let name = env.name.get_ref();
            if !is_valid_name(name) {
                return Err(self.error(
                    env.name.span(),
                    format!("environment name `{name}` must be letters, digits, `-` or `_`"),
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(self.error(env.name.span(), format!("duplicate environment `{name}`")));
            }
            let registry = env.registry.get_ref();
            if let Err(why) = check_registry(registry) {
                return Err(self.error(env.registry.span(), format!("registry `{registry}` {why}")));
            }
            let path = match &env.path {
                Some(path) => {
                    let value = path.get_ref().trim_matches('/');
                    if !value.is_empty() && !is_valid_repository(value) {
                        return Err(self.error(
                            path.span(),
                            format!("path `{}` is not a valid repository prefix (lowercase letters, digits, `.`, `_`, `-`, separated by `/`)", path.get_ref()),
                        ));
                    }
                    value.to_string()
                }
                None => String::new(),
            };
            let mutable_tag = match &env.mutable_tag {
                Some(tag) => {
                    let value = tag.get_ref();
                    if !is_valid_tag(value) {
                        return Err(self.error(
                            tag.span(),
                            format!("mutable_tag `{value}` is not a valid tag"),
                        ));
                    }
                    if tags.is_immutable(value) {
                        return Err(self.error(
                            tag.span(),
                            format!(
                                "mutable_tag `{value}` starts with the immutable prefix `{}`: it would be mistaken for a commit tag",
                                tags.prefix
                            ),
                        ));
                    }
                    Some(value.clone())
                }
                None => None,
            };
            let (login, ca_file) = self.transport(env)?;
            let (sign, verify_keys) = self.environment_signing(env, &signing)?;
            let attest = self.needs_key(env, env.attest.as_ref(), "attest", &signing)?;
            environments.push(Environment {
                name: name.clone(),
                registry: registry.clone(),
                path,
                plain_http: env.plain_http.as_ref().is_some_and(|p| *p.get_ref()),
                mutable_tag,
                from: env.from.as_ref().map(|f| f.get_ref().clone()),
                // Validated below, in one block with the other retention keys.
                retention: None,
                retain_promoted: None,
                login,
                ca_file,
                approvals: self.approvals(env)?,
                readonly: env.readonly,
                sign,
                attest,
                verify_keys,
                // Filled in once the services are known: deploy files name them.
                deploy: Default::default(),
                gates: env.gates.clone().unwrap_or_default(),
            });
        }
        for env in &raw.environment {
            if let Some(from) = &env.from {
                let value = from.get_ref();
                if value == env.name.get_ref() {
                    return Err(self.error(
                        from.span(),
                        format!("environment `{value}` cannot be promoted from itself"),
                    ));
                }
                if !seen.contains(value) {
                    let mut known: Vec<_> = environments.iter().map(|e| e.name.clone()).collect();
                    known.sort();
                    return Err(self.error(
                        from.span(),
                        format!(
                            "from = `{value}` names no environment (configured: {}){}",
                            known.join(", "),
                            suggestion(value, &known)
                        ),
                    ));
                }
            }
        }
        self.check_cycles(&raw.environment)?;

        let mut services = Vec::with_capacity(raw.service.len());
        let mut seen = HashSet::new();
        for svc in &raw.service {
            let name = svc.name.get_ref();
            if !is_valid_name(name) {
                return Err(self.error(
                    svc.name.span(),
                    format!("service name `{name}` must be letters, digits, `-`, `_` or `.`"),
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(self.error(svc.name.span(), format!("duplicate service `{name}`")));
            }
            let repository = match &svc.repository {
                Some(repo) => {
                    let value = repo.get_ref().trim_matches('/');
                    if !is_valid_repository(value) {
                        return Err(self.error(
                            repo.span(),
                            format!("repository `{}` is not a valid repository name (lowercase letters, digits, `.`, `_`, `-`, separated by `/`)", repo.get_ref()),
                        ));
                    }
                    value.to_string()
                }
                None => {
                    if !is_valid_repository(name) {
                        return Err(self.error(
                            svc.name.span(),
                            format!(
                                "service `{name}` is not a valid repository name: set `repository`"
                            ),
                        ));
                    }
                    name.clone()
                }
            };
            services.push(Service {
                name: name.clone(),
                repository,
            });
        }

        let service_names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        for (env, raw_env) in environments.iter_mut().zip(&raw.environment) {
            if let Some(deploy) = &raw_env.deploy {
                env.deploy = deploy
                    .get_ref()
                    .validate(&env.name, &service_names, self.path.parent(), deploy.span())
                    .map_err(|(span, why)| self.error(span, why))?;
            }
        }

        for (env, raw_env) in environments.iter_mut().zip(&raw.environment) {
            (env.retention, env.retain_promoted) = crate::retention::policy::validate(
                &env.name,
                raw_env.retention.as_ref(),
                raw_env.retain_promoted.as_ref(),
                &tags.prefix,
            )
            .map_err(|(span, why)| self.error(span, why))?;
        }

        let (ui, _) = split_spanned(raw.ui);
        let (ledger, ledger_span) = split_spanned(raw.ledger);
        if let Err(why) = ledger.check() {
            return Err(self.error(ledger_span, why));
        }
        let keymap = self.keymap(&raw.keys)?;
        let environment_names: Vec<String> = environments.iter().map(|e| e.name.clone()).collect();
        let notify = notify::validate(&raw.notify, &environment_names, self.path.parent())
            .map_err(|(span, why)| self.error(span, why))?;
        Ok(Config {
            source: self.path.to_path_buf(),
            git,
            tags,
            copy,
            environments,
            services,
            ui,
            ledger,
            keymap,
            signing,
            notify,
        })
    }

    /// Applies `[keys]` to the default keymap; an unknown action, screen or key is located.
    fn keymap(
        &self,
        keys: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    ) -> Result<crate::keys::Keymap, ConfigError> {
        use crate::keys::{Action, Keymap, Screen};
        let mut keymap = Keymap::default();
        let chords = |value: &toml::Value, span: Range<usize>, action: &str| {
            let texts: Vec<&str> = match value {
                toml::Value::String(one) => vec![one.as_str()],
                toml::Value::Array(many) => many
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        self.error(
                            span.clone(),
                            format!("keys.{action}: expected a key or a list of keys"),
                        )
                    })?,
                _ => {
                    return Err(self.error(
                        span.clone(),
                        format!("keys.{action}: expected a key or a list of keys"),
                    ))
                }
            };
            texts
                .into_iter()
                .map(|t| {
                    crate::keys::KeyChord::parse(t)
                        .map_err(|why| self.error(span.clone(), format!("keys.{action}: {why}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let action_named = |name: &str, span: Range<usize>| {
            Action::from_name(name).ok_or_else(|| {
                self.error(
                    span,
                    format!(
                        "unknown action `{name}` in [keys] (known: {})",
                        Action::ALL.map(|a| a.name()).join(", ")
                    ),
                )
            })
        };
        for (name, value) in keys {
            if let toml::Value::Table(table) = value.get_ref() {
                let screen = Screen::from_name(name.get_ref()).ok_or_else(|| {
                    self.error(
                        name.span(),
                        format!(
                            "unknown screen `{}` in [keys] (known: {})",
                            name.get_ref(),
                            Screen::ALL.map(|s| s.name()).join(", ")
                        ),
                    )
                })?;
                for (action_name, keys) in table {
                    let action = action_named(action_name, value.span())?;
                    let chords = chords(keys, value.span(), action_name)?;
                    keymap.rebind(Some(screen), action, chords);
                }
            } else {
                let action = action_named(name.get_ref(), name.span())?;
                let chords = chords(value.get_ref(), value.span(), name.get_ref())?;
                keymap.rebind(None, action, chords);
            }
        }
        Ok(keymap)
    }

    /// An environment's credential and TLS keys: a user name with exactly one place for
    /// its password, and a CA file that only makes sense over https.
    fn transport(
        &self,
        env: &RawEnvironment,
    ) -> Result<(Option<Login>, Option<PathBuf>), ConfigError> {
        let name = env.name.get_ref();
        let password = match (&env.password_env, &env.password_file) {
            (Some(var), Some(file)) => {
                let later = if file.span().start > var.span().start {
                    file.span()
                } else {
                    var.span()
                };
                return Err(self.error(
                    later,
                    format!(
                        "environment `{name}` sets both password_env and password_file: keep one"
                    ),
                ));
            }
            (Some(var), None) => {
                let value = var.get_ref();
                if !is_valid_env_var(value) {
                    return Err(self.error(
                        var.span(),
                        format!("password_env `{value}` is not an environment variable name (letters, digits, `_`; the name, not the password)"),
                    ));
                }
                Some((var.span(), PasswordSource::Env(value.clone())))
            }
            (None, Some(file)) => {
                let value = file.get_ref();
                if value.trim().is_empty() {
                    return Err(self.error(file.span(), "password_file is empty"));
                }
                Some((
                    file.span(),
                    PasswordSource::File(self.relative_to_config(value)),
                ))
            }
            (None, None) => None,
        };
        let login = match (&env.username, password) {
            (Some(user), Some((_, password))) => {
                let value = user.get_ref();
                if value.is_empty() || value.contains(':') || value.chars().any(char::is_control) {
                    return Err(self.error(
                        user.span(),
                        "username must be non-empty, without `:` or control characters",
                    ));
                }
                Some(Login {
                    username: value.clone(),
                    password,
                })
            }
            (Some(user), None) => {
                return Err(self.error(
                    user.span(),
                    format!("environment `{name}` has a username but no password_env or password_file (the password itself never goes in the configuration)"),
                ))
            }
            (None, Some((span, _))) => {
                return Err(self.error(
                    span,
                    format!("environment `{name}` has a password but no username"),
                ))
            }
            (None, None) => None,
        };
        let ca_file = match &env.ca_file {
            Some(file) => {
                if let Some(plain) = env.plain_http.as_ref().filter(|p| *p.get_ref()) {
                    let later = if plain.span().start > file.span().start {
                        plain.span()
                    } else {
                        file.span()
                    };
                    return Err(self.error(
                        later,
                        format!("environment `{name}` sets both plain_http = true and ca_file: a CA only matters over https"),
                    ));
                }
                let value = file.get_ref();
                if value.trim().is_empty() {
                    return Err(self.error(file.span(), "ca_file is empty"));
                }
                Some(self.relative_to_config(value))
            }
            None => None,
        };
        Ok((login, ca_file))
    }

    /// `[signing]`: key files must exist and be of the right kind now, not when a promotion
    /// is half done. The private key is only looked at, not decrypted: its password may
    /// live only where promotions run.
    fn signing(&self, raw: Option<&Spanned<RawSigning>>) -> Result<SigningSettings, ConfigError> {
        let mut settings = SigningSettings::default();
        let Some(raw) = raw else {
            return Ok(settings);
        };
        let raw = raw.get_ref();
        if let Some(key) = &raw.key {
            let path = self.key_file(key, "signing.key")?;
            crate::signing::check_private_key_file(&path).map_err(|why| {
                self.error(key.span(), format!("signing.key `{}` {why}", key.get_ref()))
            })?;
            settings.key = Some(path);
        }
        if let Some(var) = &raw.password_env {
            let value = var.get_ref();
            if !is_valid_env_var(value) {
                return Err(self.error(
                    var.span(),
                    format!("signing.password_env `{value}` is not an environment variable name (the name, not the password)"),
                ));
            }
            settings.password_env = value.clone();
        }
        settings.public_keys = self.public_keys(&raw.public_keys, "signing.public_keys")?;
        Ok(settings)
    }

    /// An environment's `sign` and `verify_keys`: signing needs a configured key.
    fn environment_signing(
        &self,
        env: &RawEnvironment,
        signing: &SigningSettings,
    ) -> Result<(bool, Vec<PathBuf>), ConfigError> {
        let sign = match &env.sign {
            Some(sign) if *sign.get_ref() => {
                if signing.key.is_none() {
                    return Err(self.error(
                        sign.span(),
                        format!(
                            "environment `{}` has sign = true but no key is configured: set [signing] key = \"cosign.key\" (see `gantry keys generate`)",
                            env.name.get_ref()
                        ),
                    ));
                }
                true
            }
            _ => false,
        };
        let verify_keys = self.public_keys(&env.verify_keys, "verify_keys")?;
        Ok((sign, verify_keys))
    }

    /// `attest = true` (like `sign = true`) needs `[signing] key`.
    fn needs_key(
        &self,
        env: &RawEnvironment,
        flag: Option<&Spanned<bool>>,
        name: &str,
        signing: &SigningSettings,
    ) -> Result<bool, ConfigError> {
        match flag {
            Some(flag) if *flag.get_ref() => {
                if signing.key.is_none() {
                    return Err(self.error(
                        flag.span(),
                        format!(
                            "environment `{}` has {name} = true but no key is configured: set [signing] key = \"cosign.key\" (see `gantry keys generate`)",
                            env.name.get_ref()
                        ),
                    ));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn public_keys(
        &self,
        files: &[Spanned<String>],
        key: &str,
    ) -> Result<Vec<PathBuf>, ConfigError> {
        files
            .iter()
            .map(|file| {
                let path = self.key_file(file, key)?;
                crate::signing::PublicKey::load(&path).map_err(|e| {
                    let why = match e {
                        crate::signing::SigningError::Key { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    self.error(file.span(), format!("{key} `{}` {why}", file.get_ref()))
                })?;
                Ok(path)
            })
            .collect()
    }

    /// A key file named in the configuration: relative to it, and present.
    fn key_file(&self, file: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        let value = file.get_ref();
        if value.trim().is_empty() {
            return Err(self.error(file.span(), format!("{key} is empty")));
        }
        let path = self.relative_to_config(value);
        if !path.is_file() {
            return Err(self.error(
                file.span(),
                format!("{key} `{value}`: no such file ({})", path.display()),
            ));
        }
        Ok(path)
    }

    /// `approvals = N`: a handful at most, or nobody could ever promote.
    fn approvals(&self, env: &RawEnvironment) -> Result<u32, ConfigError> {
        let Some(approvals) = &env.approvals else {
            return Ok(0);
        };
        let value = *approvals.get_ref();
        if value > MAX_APPROVALS {
            return Err(self.error(
                approvals.span(),
                format!(
                    "environment `{}`: approvals = {value} is more than {MAX_APPROVALS}",
                    env.name.get_ref()
                ),
            ));
        }
        Ok(value)
    }

    /// Paths in the file are relative to the file, not to wherever gantry happens to run.
    fn relative_to_config(&self, value: &str) -> PathBuf {
        let path = PathBuf::from(value);
        match self.path.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        }
    }

    fn check_cycles(&self, envs: &[RawEnvironment]) -> Result<(), ConfigError> {
        let from: HashMap<&str, &Spanned<String>> = envs
            .iter()
            .filter_map(|e| e.from.as_ref().map(|f| (e.name.get_ref().as_str(), f)))
            .collect();
        for env in envs {
            let start = env.name.get_ref().as_str();
            let mut chain = vec![start];
            let mut current = start;
            while let Some(next) = from.get(current) {
                let next_name = next.get_ref().as_str();
                if next_name == start {
                    chain.push(next_name);
                    return Err(self.error(
                        next.span(),
                        format!("promotion cycle: {}", chain.join(" <- ")),
                    ));
                }
                if chain.contains(&next_name) {
                    // A cycle not through `start`: reported when its own member is visited.
                    break;
                }
                chain.push(next_name);
                current = next_name;
            }
        }
        Ok(())
    }
}

/// A section's value (its default when absent) and where it stands in the file.
fn split_spanned<T: Default>(section: Option<Spanned<T>>) -> (T, Range<usize>) {
    match section {
        Some(spanned) => {
            let span = spanned.span();
            (spanned.into_inner(), span)
        }
        None => (T::default(), 0..0),
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn is_valid_env_var(name: &str) -> bool {
    !name.is_empty()
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The distribution spec's repository grammar: path components of
/// `[a-z0-9]+([._-][a-z0-9]+)*` separated by `/`.
pub fn is_valid_repository(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|component| {
            !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component.as_bytes()[0].is_ascii_alphanumeric()
                && component
                    .as_bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

/// `host[:port]` with no scheme or path, as registries are named in image references.
fn check_registry(registry: &str) -> Result<(), &'static str> {
    if registry.is_empty() {
        return Err("is empty");
    }
    if registry.contains("://") {
        return Err("must not carry a scheme: write host[:port] and set plain_http for http");
    }
    if registry.contains('/') {
        return Err("must be host[:port] with no path: put the repository prefix in `path`");
    }
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (registry, None),
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err("has an invalid port"),
        }
    }
    let host_ok = if host.starts_with('[') && host.ends_with(']') {
        host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    if host_ok {
        Ok(())
    } else {
        Err("is not a valid host name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("gantry.toml"))
    }

    fn expect_error(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line, col, message, ..
            }) => (line, col, message),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    const MINIMAL: &str = r#"
[[environment]]
name = "dev"
registry = "localhost:5001"

[[environment]]
name = "stage"
registry = "localhost:5002"
from = "dev"

[[service]]
name = "payment-svc"
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.tags.prefix, "sha-");
        assert_eq!(config.tags.short_len, 7);
        assert_eq!(config.git.develop, "develop");
        assert_eq!(config.environments[1].from.as_deref(), Some("dev"));
        assert_eq!(config.services[0].repository, "payment-svc");
        assert_eq!(config.tags.for_commit("2b2e927f1a3c"), "sha-2b2e927");
    }

    #[test]
    fn shared_layout_prefixes_repository() {
        let config = parse(&MINIMAL.replace(
            "registry = \"localhost:5002\"",
            "registry = \"localhost:5001\"\npath = \"/stage/\"",
        ))
        .unwrap();
        let stage = config.environment("stage").unwrap();
        assert_eq!(
            stage.image_name(&config.services[0]),
            "localhost:5001/stage/payment-svc"
        );
    }

    #[test]
    fn unknown_key_is_located() {
        let text = MINIMAL.replace("from = \"dev\"", "form = \"dev\"");
        let (line, col, message) = expect_error(&text);
        assert_eq!((line, col), (9, 1));
        assert!(message.contains("form"), "{message}");
    }

    #[test]
    fn duplicate_environment_is_located() {
        let text = MINIMAL.replace("name = \"stage\"", "name = \"dev\"");
        let (line, col, message) = expect_error(&text);
        assert_eq!((line, col), (7, 8));
        assert!(message.contains("duplicate environment `dev`"), "{message}");
    }

    #[test]
    fn dangling_from_names_the_value() {
        let text = MINIMAL.replace("from = \"dev\"", "from = \"dve\"");
        let (line, col, message) = expect_error(&text);
        assert_eq!((line, col), (9, 8));
        assert!(
            message.contains("`dve`") && message.contains("dev, stage"),
            "{message}"
        );
    }

    #[test]
    fn cycle_is_refused() {
        let text = MINIMAL.replace(
            "registry = \"localhost:5001\"",
            "registry = \"localhost:5001\"\nfrom = \"stage\"",
        );
        let (_, _, message) = expect_error(&text);
        assert!(message.contains("cycle"), "{message}");
    }

    #[test]
    fn bad_registries_are_refused() {
        for (bad, why) in [
            ("https://localhost:5001", "scheme"),
            ("localhost:5001/dev", "path"),
            ("localhost:99999", "port"),
            ("local host", "host"),
            ("", "empty"),
        ] {
            let text = MINIMAL.replace("localhost:5002", bad);
            let (line, col, message) = expect_error(&text);
            assert_eq!((line, col), (8, 12), "{bad}");
            assert!(message.contains(why) && message.contains(bad), "{message}");
        }
    }

    #[test]
    fn mutable_tag_may_not_look_immutable() {
        let text = MINIMAL.replace(
            "from = \"dev\"",
            "from = \"dev\"\nmutable_tag = \"sha-stage\"",
        );
        let (_, _, message) = expect_error(&text);
        assert!(message.contains("immutable prefix"), "{message}");
    }

    #[test]
    fn syntax_error_is_located() {
        let (line, _, _) = expect_error("[[environment]]\nname = \"dev\nregistry = \"x\"\n");
        assert_eq!(line, 2);
    }

    #[test]
    fn example_config_parses_and_shows_both_layouts() {
        let text = include_str!("../../config.example.toml");
        let config = Config::parse(text, Path::new("config.example.toml")).unwrap();
        let per_account = config.environment("stage").unwrap();
        let shared = config.environment("qa").unwrap();
        assert!(per_account.path.is_empty());
        assert_eq!(shared.path, "qa");
        assert!(config
            .environments
            .iter()
            .any(|e| e.name != "qa" && e.registry == shared.registry));
        assert_eq!(
            config.service("ledger-api").unwrap().repository,
            "team-money/ledger-api"
        );
        assert_eq!(config.copy.parallel_blobs, 6);
        assert_eq!(config.ui.theme, "dark");
        let gates = &config.environment("prod").unwrap().gates;
        assert!(gates.signature && gates.scan.is_some() && gates.freeze.len() == 2);
        assert_eq!(gates.merged_to.as_deref(), Some("main"));
        assert!(config.environment("perf").unwrap().readonly);
        assert!(!config.environment("qa").unwrap().readonly);
    }

    #[test]
    fn git_defaults_and_relative_path() {
        let config = Config::parse(MINIMAL, Path::new("/etc/gantry/gantry.toml")).unwrap();
        assert_eq!(config.git.path, Path::new("/etc/gantry/."));
        assert_eq!(config.git.release_prefix, "release/");
        assert_eq!(config.git.hotfix_prefix, "hotfix/");
        assert_eq!(
            config.git.release_template,
            "release/v{version}-sha-{short}"
        );
        assert!(config.git.first_parent);
        assert_eq!(config.git.remote, "origin");

        let text = format!("[git]\npath = \"../app\"\n{MINIMAL}");
        let config = Config::parse(&text, Path::new("/etc/gantry/gantry.toml")).unwrap();
        assert_eq!(config.git.path, Path::new("/etc/gantry/../app"));
        let text = format!("[git]\npath = \"/srv/app\"\n{MINIMAL}");
        let config = Config::parse(&text, Path::new("/etc/gantry/gantry.toml")).unwrap();
        assert_eq!(config.git.path, Path::new("/srv/app"));
    }

    #[test]
    fn bad_git_names_are_refused_at_the_git_table() {
        for (line, why) in [
            (
                "release_template = \"release/{tag}\"",
                "unknown placeholder `{tag}`",
            ),
            (
                "release_template = \"rel/v{version}\"",
                "must start with git.release_prefix",
            ),
            ("release_template = \"release/fixed\"", "no placeholder"),
            (
                "release_template = \"release/v{version}..{short}\"",
                "valid branch name",
            ),
            ("release_prefix = \"\"", "cannot start a branch name"),
            ("hotfix_prefix = \"hot fix/\"", "cannot start a branch name"),
            ("develop = \"dev..elop\"", "not a valid branch name"),
            ("remote = \"my remote\"", "not a valid remote name"),
        ] {
            let text = format!("\n[git]\n{line}\n{MINIMAL}");
            let (at, _, message) = expect_error(&text);
            assert_eq!(at, 2, "{line}: {message}");
            assert!(message.contains(why), "{line}: {message}");
        }
        let text = format!(
            "[git]\nrelease_prefix = \"rel-\"\nrelease_template = \"rel-{{version}}\"\n{MINIMAL}"
        );
        assert_eq!(parse(&text).unwrap().git.release_template, "rel-{version}");
    }

    fn with_stage_keys(keys: &str) -> String {
        MINIMAL.replace("from = \"dev\"", &format!("from = \"dev\"\n{keys}"))
    }

    #[test]
    fn credential_keys_name_where_the_password_lives() {
        let text = with_stage_keys("username = \"ci\"\npassword_env = \"STAGE_PW\"");
        let config = Config::parse(&text, Path::new("/etc/gantry/gantry.toml")).unwrap();
        let stage = config.environment("stage").unwrap();
        assert_eq!(
            stage.login,
            Some(Login {
                username: "ci".into(),
                password: PasswordSource::Env("STAGE_PW".into()),
            })
        );
        assert_eq!(config.environment("dev").unwrap().login, None);

        let text = with_stage_keys(
            "username = \"ci\"\npassword_file = \"secrets/stage\"\nca_file = \"/certs/ca.pem\"",
        );
        let config = Config::parse(&text, Path::new("/etc/gantry/gantry.toml")).unwrap();
        let stage = config.environment("stage").unwrap();
        assert_eq!(
            stage.login.as_ref().map(|l| &l.password),
            Some(&PasswordSource::File(PathBuf::from(
                "/etc/gantry/secrets/stage"
            )))
        );
        assert_eq!(stage.ca_file, Some(PathBuf::from("/certs/ca.pem")));

        let example = Config::parse(
            include_str!("../../config.example.toml"),
            Path::new("/etc/gantry/config.toml"),
        )
        .unwrap();
        let prod = example.environment("prod").unwrap();
        assert_eq!(
            prod.login.as_ref().map(|l| &l.password),
            Some(&PasswordSource::Env("PROD_REGISTRY_PASSWORD".into()))
        );
        assert_eq!(
            prod.ca_file,
            Some(PathBuf::from("/etc/gantry/certs/prod-ca.pem"))
        );
        assert!(!prod.plain_http);
    }

    #[test]
    fn credential_keys_are_checked() {
        for (keys, at, words) in [
            (
                "username = \"ci\"\npassword_env = \"A\"\npassword_file = \"f\"",
                (12, 17),
                "both password_env and password_file",
            ),
            (
                "username = \"ci\"",
                (10, 12),
                "no password_env or password_file",
            ),
            ("password_env = \"A\"", (10, 16), "no username"),
            (
                "username = \"ci\"\npassword_env = \"hunter2 x\"",
                (11, 16),
                "not an environment variable name",
            ),
        ] {
            let (line, col, message) = expect_error(&with_stage_keys(keys));
            assert!(message.contains(words), "{keys}: {message}");
            assert_eq!((line, col), at, "{keys}: {message}");
        }
        let text = MINIMAL.replace(
            "registry = \"localhost:5002\"",
            "registry = \"localhost:5002\"\nplain_http = true\nca_file = \"ca.pem\"",
        );
        let (line, col, message) = expect_error(&text);
        assert!(
            message.contains("plain_http = true and ca_file"),
            "{message}"
        );
        assert_eq!((line, col), (10, 11));
    }

    #[test]
    fn branch_names_follow_git() {
        for good in [
            "develop",
            "release/v1.2.0-sha-2b2e927",
            "hotfix/x_y",
            "a.b/c",
        ] {
            assert!(is_valid_branch_name(good), "{good}");
        }
        for bad in [
            "",
            "@",
            "-x",
            "a..b",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[",
            "a\\b",
            "a/",
            "/a",
            "a//b",
            ".a",
            "a/.b",
            "a.lock",
            "a/b.lock/c",
            "a.",
            "a@{1}",
            "tab\there",
        ] {
            assert!(!is_valid_branch_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn repository_grammar() {
        assert!(is_valid_repository("team/payment-svc"));
        assert!(!is_valid_repository("Payment"));
        assert!(!is_valid_repository("a//b"));
        assert!(!is_valid_repository("-a"));
    }

    #[test]
    fn keys_rebind_globally_and_per_screen() {
        use crate::keys::{Action, Key, KeyChord, Screen};
        let text = format!(
            "{MINIMAL}\n[ui]\ntheme = \"light\"\n\n[keys]\nquit = [\"Q\", \"ctrl-q\"]\n\n[keys.images]\npromote = \"P\"\n"
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.ui.theme, "light");
        let keymap = &config.keymap;
        let q = |c| KeyChord::plain(Key::Char(c));
        assert_eq!(keymap.lookup(Screen::Images, q('Q')), Some(Action::Quit));
        assert_eq!(keymap.lookup(Screen::Images, q('q')), None);
        assert_eq!(keymap.lookup(Screen::Images, q('P')), Some(Action::Promote));
        assert_eq!(keymap.lookup(Screen::Images, q('p')), None);
    }

    #[test]
    fn bad_keys_are_located() {
        let (line, col, message) = expect_error(&format!("{MINIMAL}\n[keys]\nquitt = \"q\"\n"));
        assert_eq!((line, col), (15, 1));
        assert!(message.contains("unknown action `quitt`"), "{message}");
        let (line, _, message) = expect_error(&format!("{MINIMAL}\n[keys]\nquit = \"ctrl-\"\n"));
        assert_eq!(line, 15);
        assert!(message.contains("`ctrl-` is not a key"), "{message}");
        let (_, _, message) = expect_error(&format!("{MINIMAL}\n[keys.imagez]\nquit = \"q\"\n"));
        assert!(message.contains("unknown screen `imagez`"), "{message}");
    }
}
