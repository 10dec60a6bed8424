//! Checking a parsed configuration into a `Config`: every value located (file:line:col)
//! when refused, names unique, `from` chains without cycles, each environment's sections
//! handed to their own validators.

mod credentials;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::names::{check_registry, is_valid_name, is_valid_repository};
use super::{
    deploy, gates, line_col, notify, retention, suggestion, Config, ConfigError, CopySettings,
    Environment, GitSettings, LedgerSettings, Service, TagSettings, UiSettings, MAX_APPROVALS,
};
use crate::domain::is_valid_tag;

/// Parses and validates `text`; `path` is only used in messages.
pub(super) fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
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
    retention: Option<Spanned<retention::RawRetention>>,
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
    deploy: Option<Spanned<deploy::RawDeploy>>,
    #[serde(default)]
    gates: Option<gates::GatesConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    #[serde(default)]
    repository: Option<Spanned<String>>,
    #[serde(default)]
    git: Option<Spanned<String>>,
    #[serde(default)]
    develop: Option<Spanned<String>>,
    #[serde(default)]
    main: Option<Spanned<String>>,
    #[serde(default)]
    release_prefix: Option<Spanned<String>>,
    #[serde(default)]
    hotfix_prefix: Option<Spanned<String>>,
}

pub(super) struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    pub(super) fn error(&self, span: Range<usize>, message: impl fmt::Display) -> ConfigError {
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
            || copy.requests_per_host == 0
        {
            return Err(self.error(
                copy_span,
                "copy.parallel_blobs, copy.parallel_images, copy.attempts, copy.read_timeout_secs and copy.requests_per_host must be at least 1",
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
            let (sign, attest, verify_keys) = self.environment_signing(env, &signing)?;
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
            let own_git = super::service_git::RawServiceGit {
                git: svc.git.clone(),
                develop: svc.develop.clone(),
                main: svc.main.clone(),
                release_prefix: svc.release_prefix.clone(),
                hotfix_prefix: svc.hotfix_prefix.clone(),
            };
            let (git_location, branches) = own_git
                .validate(&git, self.path.parent())
                .map_err(|(span, why)| self.error(span, format!("service `{name}`: {why}")))?;
            services.push(Service {
                name: name.clone(),
                repository,
                git: git_location,
                branches,
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
            (env.retention, env.retain_promoted) = retention::validate(
                &env.name,
                raw_env.retention.as_ref(),
                raw_env.retain_promoted.as_ref(),
                &tags.prefix,
            )
            .map_err(|(span, why)| self.error(span, why))?;
        }

        let (ui, _) = split_spanned(raw.ui);
        let (mut ledger, ledger_span) = split_spanned(raw.ledger);
        if let Err(why) = ledger.check() {
            return Err(self.error(ledger_span, why));
        }
        if let Some(value) = &ledger.repository {
            // Relative to the file that says it, as [git] path is.
            let location = crate::domain::RepoLocation::parse(value, self.path.parent());
            ledger.repository = Some(location.url());
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
