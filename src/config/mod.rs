//! Configuration: finding the file, parsing it, and refusing bad values with file:line:col.

use std::path::{Path, PathBuf};

pub mod deploy;
pub mod gates;
pub mod keyfiles;
pub mod keys;
mod names;
pub mod notify;
pub mod retention;
mod settings;
mod validate;

pub(crate) use names::is_valid_env_var;
pub use names::{is_valid_branch_name, is_valid_repository};
pub use settings::{
    CopySettings, GitSettings, LedgerSettings, SigningSettings, TagSettings, UiSettings,
    MAX_APPROVALS, RELEASE_PLACEHOLDERS,
};

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
    pub keymap: keys::Keymap,
    pub signing: SigningSettings,
    /// `[[notify]]`: webhooks told about requests, approvals, promotions and failures.
    pub notify: Vec<notify::NotifySettings>,
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
    pub retention: Option<retention::RetentionPolicy>,
    /// Images promoted here are kept this long, in every environment (compliance).
    pub retain_promoted: Option<crate::domain::duration::RetentionDuration>,
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
    pub deploy: deploy::DeploySettings,
    /// `[environment.gates]`: rules a promotion into this environment must pass.
    pub gates: gates::GatesConfig,
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
        validate::parse(text, path)
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

pub(crate) fn suggestion(typed: &str, known: &[String]) -> String {
    crate::domain::suggest::did_you_mean(typed, known.iter().map(String::as_str))
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
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

#[cfg(test)]
mod tests;
