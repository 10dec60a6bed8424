//! `[environment.deploy]`: how an environment is pointed at a promoted image, as read from
//! the configuration and validated before anything runs.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// A dotted path (`image.tag`) into a values file; keys containing dots cannot be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePath(Vec<String>);

impl ValuePath {
    pub fn parse(path: &str) -> Result<ValuePath, String> {
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        if parts.iter().any(|p| p.is_empty() || p.trim() != p) {
            return Err(format!(
                "`{path}` is not a dotted path of keys (such as `image.tag`)"
            ));
        }
        Ok(ValuePath(parts))
    }

    /// The keys from the top of the document down.
    pub fn keys(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Display for ValuePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// Placeholders a hook or status command may use.
pub const PLACEHOLDERS: [&str; 5] = ["{service}", "{env}", "{image}", "{tag}", "{digest}"];

/// An environment's deploy step. `None` (the default): promotion only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploySettings {
    pub method: DeployMethod,
    /// Polled after the deploy until it succeeds, fails or times out.
    pub status: Option<StatusCheck>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DeployMethod {
    #[default]
    None,
    GitOps(GitOps),
    Command(Hook),
}

/// A manifests repository gantry commits the new image to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitOps {
    pub repository: RepoLocation,
    pub branch: String,
    /// Per service: the file and what to set in it. A service not listed is not deployed.
    pub files: BTreeMap<String, FileTarget>,
    /// `Name <email>` of the commits; `None`: the git identity, else `gantry`.
    pub author: Option<(String, String)>,
    /// Pushes tried when another writer wins the race.
    pub push_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoLocation {
    /// A repository on disk (absolute), bare or not; it is fetched from and pushed to.
    Path(PathBuf),
    /// Anything git fetches: ssh, https, file URLs, `user@host:path`.
    Url(String),
}

impl RepoLocation {
    /// How git2 is told where the remote is.
    pub fn url(&self) -> String {
        match self {
            RepoLocation::Path(path) => path.display().to_string(),
            RepoLocation::Url(url) => url.clone(),
        }
    }
}

impl std::fmt::Display for RepoLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// One service's file in the manifests repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTarget {
    /// Relative to the repository's root, `/`-separated.
    pub path: String,
    pub edit: FileEdit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEdit {
    /// A kustomization's `images:` entry with this `name:`: `newTag` and `digest` are set.
    Kustomize { image: String },
    /// Scalars of a values file, by dotted path; at least one is set.
    Helm {
        tag: Option<ValuePath>,
        digest: Option<ValuePath>,
    },
}

/// A command run to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub command: String,
    pub timeout: Duration,
}

/// A command polled until the rollout is known to have worked, or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCheck {
    pub command: String,
    /// The whole wait, all runs together.
    pub timeout: Duration,
    /// Between the end of one run and the start of the next.
    pub interval: Duration,
    /// Exit codes meaning "failed, stop waiting"; any other non-zero code means "not yet".
    pub fail_codes: Vec<i32>,
}

/// `[environment.deploy]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeploy {
    kind: Spanned<String>,
    #[serde(default)]
    repository: Option<Spanned<String>>,
    #[serde(default)]
    branch: Option<Spanned<String>>,
    #[serde(default)]
    files: Option<Spanned<BTreeMap<Spanned<String>, Spanned<RawFile>>>>,
    #[serde(default)]
    author: Option<Spanned<String>>,
    #[serde(default)]
    push_attempts: Option<Spanned<u32>>,
    #[serde(default)]
    command: Option<Spanned<String>>,
    #[serde(default)]
    timeout_secs: Option<Spanned<u64>>,
    #[serde(default)]
    status: Option<Spanned<String>>,
    #[serde(default)]
    status_timeout_secs: Option<Spanned<u64>>,
    #[serde(default)]
    status_interval_secs: Option<Spanned<u64>>,
    #[serde(default)]
    status_fail_codes: Option<Spanned<Vec<i32>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    path: Spanned<String>,
    #[serde(default)]
    image: Option<Spanned<String>>,
    #[serde(default)]
    tag: Option<Spanned<String>>,
    #[serde(default)]
    digest: Option<Spanned<String>>,
}

pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_STATUS_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_PUSH_ATTEMPTS: u32 = 5;

type Invalid = (Range<usize>, String);

impl RawDeploy {
    /// Validates against the configured services; paths are relative to `config_dir`.
    /// An error is the span to point at and what is wrong there.
    pub(crate) fn validate(
        &self,
        env: &str,
        services: &[String],
        config_dir: Option<&Path>,
        whole: Range<usize>,
    ) -> Result<DeploySettings, Invalid> {
        let kind = self.kind.get_ref().as_str();
        let gitops_keys: [(&str, Option<Range<usize>>); 5] = [
            ("repository", self.repository.as_ref().map(Spanned::span)),
            ("branch", self.branch.as_ref().map(Spanned::span)),
            ("files", self.files.as_ref().map(Spanned::span)),
            ("author", self.author.as_ref().map(Spanned::span)),
            (
                "push_attempts",
                self.push_attempts.as_ref().map(Spanned::span),
            ),
        ];
        let command_keys: [(&str, Option<Range<usize>>); 2] = [
            ("command", self.command.as_ref().map(Spanned::span)),
            (
                "timeout_secs",
                self.timeout_secs.as_ref().map(Spanned::span),
            ),
        ];
        let status_keys: [(&str, Option<Range<usize>>); 4] = [
            ("status", self.status.as_ref().map(Spanned::span)),
            (
                "status_timeout_secs",
                self.status_timeout_secs.as_ref().map(Spanned::span),
            ),
            (
                "status_interval_secs",
                self.status_interval_secs.as_ref().map(Spanned::span),
            ),
            (
                "status_fail_codes",
                self.status_fail_codes.as_ref().map(Spanned::span),
            ),
        ];
        let refuse_keys = |keys: &[(&str, Option<Range<usize>>)], why: &str| {
            for (key, span) in keys {
                if let Some(span) = span {
                    return Err((
                        span.clone(),
                        format!("environment `{env}`: deploy.{key} {why}"),
                    ));
                }
            }
            Ok(())
        };
        let method = match kind {
            "none" => {
                refuse_keys(&gitops_keys, "has no effect with kind = \"none\"")?;
                refuse_keys(&command_keys, "has no effect with kind = \"none\"")?;
                refuse_keys(&status_keys, "has no effect with kind = \"none\"")?;
                return Ok(DeploySettings::default());
            }
            "gitops" => {
                refuse_keys(&command_keys, "belongs to kind = \"command\"")?;
                DeployMethod::GitOps(self.gitops(env, services, config_dir, whole.clone())?)
            }
            "command" => {
                refuse_keys(&gitops_keys, "belongs to kind = \"gitops\"")?;
                let Some(command) = &self.command else {
                    return Err((
                        whole,
                        format!("environment `{env}`: deploy kind = \"command\" needs `command` (a shell command with {{service}}, {{env}}, {{image}}, {{tag}}, {{digest}})"),
                    ));
                };
                check_command(command, "deploy.command")?;
                DeployMethod::Command(Hook {
                    command: command.get_ref().clone(),
                    timeout: seconds(
                        self.timeout_secs.as_ref(),
                        DEFAULT_HOOK_TIMEOUT,
                        "deploy.timeout_secs",
                    )?,
                })
            }
            other => {
                return Err((
                    self.kind.span(),
                    format!("environment `{env}`: deploy kind `{other}` is not one of gitops, command, none"),
                ))
            }
        };
        let status = match &self.status {
            Some(command) => {
                check_command(command, "deploy.status")?;
                Some(StatusCheck {
                    command: command.get_ref().clone(),
                    timeout: seconds(
                        self.status_timeout_secs.as_ref(),
                        DEFAULT_STATUS_TIMEOUT,
                        "deploy.status_timeout_secs",
                    )?,
                    interval: match &self.status_interval_secs {
                        // 0 is allowed here: poll again as soon as a run ends.
                        Some(secs) => Duration::from_secs(*secs.get_ref()),
                        None => DEFAULT_STATUS_INTERVAL,
                    },
                    fail_codes: self
                        .status_fail_codes
                        .as_ref()
                        .map(|c| c.get_ref().clone())
                        .unwrap_or_default(),
                })
            }
            None => {
                refuse_keys(&status_keys, "needs deploy.status (the command to poll)")?;
                None
            }
        };
        if let Some(codes) = &self.status_fail_codes {
            if codes.get_ref().contains(&0) {
                return Err((
                    codes.span(),
                    "deploy.status_fail_codes cannot hold 0: exit 0 means the rollout succeeded"
                        .into(),
                ));
            }
        }
        Ok(DeploySettings { method, status })
    }

    fn gitops(
        &self,
        env: &str,
        services: &[String],
        config_dir: Option<&Path>,
        whole: Range<usize>,
    ) -> Result<GitOps, Invalid> {
        let Some(repository) = &self.repository else {
            return Err((
                whole,
                format!("environment `{env}`: deploy kind = \"gitops\" needs `repository` (a path or URL of the manifests repository)"),
            ));
        };
        let value = repository.get_ref().trim();
        if value.is_empty() {
            return Err((repository.span(), "deploy.repository is empty".into()));
        }
        let location = if is_url(value) {
            RepoLocation::Url(value.to_string())
        } else {
            let path = PathBuf::from(value);
            RepoLocation::Path(match config_dir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path,
            })
        };
        let branch = match &self.branch {
            Some(branch) => {
                if !super::is_valid_branch_name(branch.get_ref()) {
                    return Err((
                        branch.span(),
                        format!(
                            "deploy.branch `{}` is not a valid branch name",
                            branch.get_ref()
                        ),
                    ));
                }
                branch.get_ref().clone()
            }
            None => "main".to_string(),
        };
        let Some(files) = &self.files else {
            return Err((
                whole,
                format!("environment `{env}`: deploy kind = \"gitops\" needs `files`: per service, the file to edit"),
            ));
        };
        let mut targets = BTreeMap::new();
        for (service, file) in files.get_ref() {
            if !services.contains(service.get_ref()) {
                return Err((
                    service.span(),
                    format!(
                        "deploy.files: `{}` is not a configured service (configured: {}){}",
                        service.get_ref(),
                        if services.is_empty() {
                            "none".to_string()
                        } else {
                            services.join(", ")
                        },
                        crate::domain::suggest::did_you_mean(
                            service.get_ref(),
                            services.iter().map(String::as_str)
                        )
                    ),
                ));
            }
            targets.insert(service.get_ref().clone(), file_target(file)?);
        }
        let author = match &self.author {
            Some(author) => Some(parse_author(author.get_ref()).ok_or_else(|| {
                (
                    author.span(),
                    format!("deploy.author `{}` is not `Name <email>`", author.get_ref()),
                )
            })?),
            None => None,
        };
        let push_attempts = match &self.push_attempts {
            Some(n) if *n.get_ref() == 0 => {
                return Err((n.span(), "deploy.push_attempts must be at least 1".into()))
            }
            Some(n) => *n.get_ref(),
            None => DEFAULT_PUSH_ATTEMPTS,
        };
        Ok(GitOps {
            repository: location,
            branch,
            files: targets,
            author,
            push_attempts,
        })
    }
}

fn file_target(file: &Spanned<RawFile>) -> Result<FileTarget, Invalid> {
    let raw = file.get_ref();
    let path = raw.path.get_ref();
    let clean = path.trim_start_matches("./");
    if clean.is_empty()
        || clean.starts_with('/')
        || clean.contains('\\')
        || clean
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err((
            raw.path.span(),
            format!(
                "deploy file path `{path}` must be relative to the repository's root, without `..`"
            ),
        ));
    }
    let helm_path = |key: &Option<Spanned<String>>| -> Result<Option<ValuePath>, Invalid> {
        match key {
            Some(value) => ValuePath::parse(value.get_ref())
                .map(Some)
                .map_err(|why| (value.span(), why)),
            None => Ok(None),
        }
    };
    let edit = match (&raw.image, &raw.tag, &raw.digest) {
        (Some(image), None, None) => {
            let name = image.get_ref().trim();
            if name.is_empty() {
                return Err((image.span(), "deploy file `image` is empty: give the `name:` of the kustomization's images entry".into()));
            }
            FileEdit::Kustomize {
                image: name.to_string(),
            }
        }
        (Some(image), _, _) => {
            return Err((
                image.span(),
                "a deploy file has either `image` (a kustomization entry) or `tag`/`digest` (Helm values paths), not both".into(),
            ))
        }
        (None, None, None) => {
            return Err((
                file.span(),
                format!("deploy file `{path}` says nothing to edit: set `image` (a kustomization's images entry) or `tag`/`digest` (dotted paths in a Helm values file)"),
            ))
        }
        (None, tag, digest) => FileEdit::Helm {
            tag: helm_path(tag)?,
            digest: helm_path(digest)?,
        },
    };
    Ok(FileTarget {
        path: clean.to_string(),
        edit,
    })
}

/// A git URL rather than a path: `scheme://...` or scp-like `user@host:path`.
fn is_url(value: &str) -> bool {
    if value.contains("://") {
        return true;
    }
    match value.split_once(':') {
        Some((before, _)) => before.contains('@') && !before.contains('/'),
        None => false,
    }
}

fn parse_author(value: &str) -> Option<(String, String)> {
    let (name, rest) = value.split_once('<')?;
    let email = rest.strip_suffix('>')?;
    let name = name.trim();
    (!name.is_empty() && !email.is_empty() && !email.contains(['<', '>']))
        .then(|| (name.to_string(), email.trim().to_string()))
}

fn seconds(
    value: Option<&Spanned<u64>>,
    default: Duration,
    key: &str,
) -> Result<Duration, Invalid> {
    match value {
        Some(secs) if *secs.get_ref() == 0 => {
            Err((secs.span(), format!("{key} must be at least 1")))
        }
        Some(secs) => Ok(Duration::from_secs(*secs.get_ref())),
        None => Ok(default),
    }
}

/// Placeholders are lowercase words in braces; `${VAR}` is the shell's and left alone.
fn check_command(command: &Spanned<String>, key: &str) -> Result<(), Invalid> {
    let text = command.get_ref();
    if text.trim().is_empty() {
        return Err((command.span(), format!("{key} is empty")));
    }
    for placeholder in placeholders(text) {
        if !PLACEHOLDERS.contains(&placeholder) {
            return Err((
                command.span(),
                format!(
                    "{key}: unknown placeholder `{placeholder}` (known: {})",
                    PLACEHOLDERS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Every `{word}` of lowercase letters and `_` not preceded by `$`.
pub(crate) fn placeholders(text: &str) -> Vec<&str> {
    placeholder_positions(text)
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// [`placeholders`] with the byte offset of each.
pub(crate) fn placeholder_positions(text: &str) -> Vec<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' && (i == 0 || bytes[i - 1] != b'$') {
            let word_end = bytes[i + 1..]
                .iter()
                .position(|b| !(b.is_ascii_lowercase() || *b == b'_'))
                .map(|p| i + 1 + p);
            if let Some(end) = word_end {
                if end > i + 1 && bytes[end] == b'}' {
                    found.push((i, &text[i..=end]));
                    i = end + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests;
