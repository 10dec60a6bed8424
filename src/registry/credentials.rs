//! Where a registry's credentials come from: the environment's own settings, else the Docker config.
//!
//! Resolution runs on a registry's first challenge, not at startup, so a command that never
//! touches an environment never runs its credential helper or reads its password file.
//! Nothing here ever quotes a secret back: errors name the variable, file or helper only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::Credentials;
use crate::config::{Login, PasswordSource};

mod describe;
pub use describe::Origin;

/// A helper that has not answered by then is hung (waiting on a keychain prompt nobody sees).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Docker Hub's historical key in `auths` and for credential helpers.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Why credentials could not be found. Each message names where gantry looked, never a value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialError {
    #[error("password_env `{var}` is not set (or not valid UTF-8)")]
    MissingEnv { var: String },
    #[error("password_env `{var}` is empty")]
    EmptyEnv { var: String },
    #[error("password_file {}: {reason}", .path.display())]
    PasswordFile { path: PathBuf, reason: String },
    #[error("Docker config {}: {reason}", .path.display())]
    DockerConfig { path: PathBuf, reason: String },
    #[error("credential helper `{helper}` (named in {}): {reason}", .config.display())]
    Helper {
        helper: String,
        config: PathBuf,
        reason: String,
    },
}

/// How one environment finds its credentials.
#[derive(Clone)]
pub enum CredentialSource {
    /// Given up front (tests, or an embedding program).
    Fixed(Credentials),
    /// `username` plus `password_env` or `password_file` from gantry's configuration.
    Configured(Login),
    /// Whatever the Docker config holds for the registry host (possibly nothing).
    Docker(Arc<DockerConfigFile>),
}

impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Fixed(credentials) => write!(f, "Fixed({credentials:?})"),
            CredentialSource::Configured(login) => {
                write!(f, "Configured({}, {:?})", login.username, login.password)
            }
            CredentialSource::Docker(file) => write!(f, "Docker({})", file.path.display()),
        }
    }
}

impl CredentialSource {
    /// The credentials for `host`; `Anonymous` when nothing is known about it.
    pub async fn resolve(&self, host: &str) -> Result<Credentials, CredentialError> {
        match self {
            CredentialSource::Fixed(credentials) => Ok(credentials.clone()),
            CredentialSource::Configured(login) => {
                let password = read_password(&login.password)?;
                Ok(Credentials::Basic {
                    username: login.username.clone(),
                    password,
                })
            }
            CredentialSource::Docker(file) => file.credentials_for(host).await,
        }
    }
}

fn read_password(source: &PasswordSource) -> Result<String, CredentialError> {
    match source {
        PasswordSource::Env(var) => match std::env::var(var) {
            Ok(value) if value.is_empty() => Err(CredentialError::EmptyEnv { var: var.clone() }),
            Ok(value) => Ok(value),
            Err(_) => Err(CredentialError::MissingEnv { var: var.clone() }),
        },
        PasswordSource::File(path) => {
            let error = |reason: String| CredentialError::PasswordFile {
                path: path.clone(),
                reason,
            };
            // io::Error's text is about the file (not found, permission denied), never its bytes.
            let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
            let text = String::from_utf8(bytes).map_err(|_| error("not valid UTF-8".into()))?;
            // Secret files written by `echo` or editors end with a newline the registry never saw.
            let password = text.strip_suffix('\n').unwrap_or(&text);
            let password = password.strip_suffix('\r').unwrap_or(password);
            if password.is_empty() {
                return Err(error("is empty".into()));
            }
            if password.contains('\n') {
                return Err(error(
                    "holds more than one line; it must hold the password alone".into(),
                ));
            }
            Ok(password.to_string())
        }
    }
}

/// The Docker CLI's `config.json`, read at most once per process and only when needed.
pub struct DockerConfigFile {
    path: PathBuf,
    parsed: OnceLock<Result<Option<DockerConfig>, CredentialError>>,
    /// Answers per host: environments sharing a registry run its helper once.
    answers: tokio::sync::Mutex<HashMap<String, Result<Credentials, CredentialError>>>,
}

impl DockerConfigFile {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (not read yet); none at
    /// all without either variable, rather than a surprising path relative to the cwd.
    pub fn from_env() -> DockerConfigFile {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .map(|h| PathBuf::from(h).join(".docker"))
            });
        DockerConfigFile::at(dir.map(|d| d.join("config.json")).unwrap_or_default())
    }

    pub fn at(path: PathBuf) -> DockerConfigFile {
        DockerConfigFile {
            path,
            parsed: OnceLock::new(),
            answers: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn parsed(&self) -> Result<Option<&DockerConfig>, CredentialError> {
        match self.parsed.get_or_init(|| read_docker_config(&self.path)) {
            Ok(config) => Ok(config.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }

    /// What Docker would send to `host`: its credential helper, else the credential store,
    /// else the `auths` entry. A helper's answer is final, as in Docker: its "not found" does
    /// not fall back to `auths`, whose entries then only remember which hosts were logged in.
    pub async fn credentials_for(&self, host: &str) -> Result<Credentials, CredentialError> {
        // Held across the helper run, so a second environment on the same host waits for
        // the first answer instead of asking again.
        let mut answers = self.answers.lock().await;
        if let Some(answer) = answers.get(host) {
            return answer.clone();
        }
        let answer = self.look_up(host).await;
        answers.insert(host.to_string(), answer.clone());
        answer
    }

    async fn look_up(&self, host: &str) -> Result<Credentials, CredentialError> {
        let Some(config) = self.parsed()? else {
            return Ok(Credentials::Anonymous);
        };
        let helper = config
            .cred_helpers
            .iter()
            .find(|(key, _)| same_registry(key, host))
            .map(|(_, helper)| helper.clone())
            .or_else(|| config.creds_store.clone().filter(|s| !s.is_empty()));
        if let Some(helper) = helper {
            return run_helper(&helper, &server_url(host), &self.path).await;
        }
        let entry = config
            .auths
            .get(host)
            .or_else(|| {
                config
                    .auths
                    .iter()
                    .find(|(key, _)| same_registry(key, host))
                    .map(|(_, entry)| entry)
            })
            .cloned();
        match entry {
            Some(entry) => entry.credentials(host, &self.path),
            None => Ok(Credentials::Anonymous),
        }
    }
}

// No Debug: it holds secrets.
#[derive(Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Clone, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl AuthEntry {
    fn credentials(&self, host: &str, path: &Path) -> Result<Credentials, CredentialError> {
        let error = |reason: String| CredentialError::DockerConfig {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Credentials::IdentityToken {
                token: token.to_string(),
            });
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    error(format!(
                        "auths entry for {host}: `auth` is not base64 of user:password"
                    ))
                })?;
            let (username, password) = decoded.split_once(':').ok_or_else(|| {
                error(format!(
                    "auths entry for {host}: `auth` is not base64 of user:password"
                ))
            })?;
            return Ok(Credentials::Basic {
                username: username.to_string(),
                password: password.to_string(),
            });
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) if !username.is_empty() => Ok(Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            _ => Ok(Credentials::Anonymous),
        }
    }
}

fn read_docker_config(path: &Path) -> Result<Option<DockerConfig>, CredentialError> {
    let error = |reason: String| CredentialError::DockerConfig {
        path: path.to_path_buf(),
        reason,
    };
    if path.as_os_str().is_empty() {
        return Ok(None);
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error(format!("cannot read: {e}"))),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // serde's own message can quote the offending value, which may be a secret: give only
    // the kind of problem and where it is.
    serde_json::from_slice::<DockerConfig>(&bytes)
        .map(Some)
        .map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "is not valid JSON"
                }
                _ => "has an unexpected shape: `auths` must map hosts to objects, `credHelpers` hosts to helper names, and `credsStore` must be a helper name",
            };
            error(format!("{what} (line {}, column {})", e.line(), e.column()))
        })
}

/// `host`, `host:port`, `https://host/v1/` and `http://host` all name the same registry.
fn normalise(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// Docker Hub answers to several names; everything else must match exactly.
fn canonical(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "index.docker.io",
        other => other,
    }
}

fn same_registry(key: &str, host: &str) -> bool {
    canonical(normalise(key)).eq_ignore_ascii_case(canonical(host))
}

/// What a credential helper is asked for: Docker Hub by its historical URL, others by host.
fn server_url(host: &str) -> String {
    if canonical(host) == "index.docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// A helper's name becomes part of a program name looked up on PATH: a path would let a
/// config file run any program on the machine.
fn valid_helper_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !name.starts_with('.')
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<name> get` with the server URL on stdin (the helper protocol).
/// A non-zero exit ("credentials not found in native keychain" and the like) means no
/// credentials; a helper that is missing, hangs or answers garbage is an error.
async fn run_helper(
    name: &str,
    server: &str,
    config: &Path,
) -> Result<Credentials, CredentialError> {
    let program = format!("docker-credential-{name}");
    let error = |reason: String| CredentialError::Helper {
        helper: program.clone(),
        config: config.to_path_buf(),
        reason,
    };
    if !valid_helper_name(name) {
        return Err(CredentialError::Helper {
            helper: name.chars().filter(|c| !c.is_control()).take(64).collect(),
            config: config.to_path_buf(),
            reason: "is not a plain helper name (letters, digits, `-`, `_`, `.`; no paths)".into(),
        });
    }
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            error(if e.kind() == std::io::ErrorKind::NotFound {
                "not found on PATH".to_string()
            } else {
                format!("cannot start: {e}")
            })
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is judged by its exit status below.
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| error(format!("no answer within {}s", HELPER_TIMEOUT.as_secs())))?
        .map_err(|e| error(format!("failed: {e}")))?;
    if !output.status.success() {
        tracing::debug!(helper = %program, status = %output.status, "no credentials from helper");
        return Ok(Credentials::Anonymous);
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|_| error("answered something that is not credentials JSON".into()))?;
    if answer.secret.is_empty() {
        return Ok(Credentials::Anonymous);
    }
    // The helper protocol's way of saying the secret is an identity (refresh) token.
    if answer.username == "<token>" {
        return Ok(Credentials::IdentityToken {
            token: answer.secret,
        });
    }
    Ok(Credentials::Basic {
        username: answer.username,
        password: answer.secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_config(text: &str) -> (tempfile::TempDir, DockerConfigFile) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, text).expect("write");
        (dir, DockerConfigFile::at(path))
    }

    fn basic(credentials: &Credentials) -> Option<(&str, &str)> {
        match credentials {
            Credentials::Basic { username, password } => Some((username, password)),
            _ => None,
        }
    }

    #[tokio::test]
    async fn auths_keys_are_normalised() {
        // "ci:s3cret" and "ops:hunter2"
        let (_dir, file) = docker_config(
            r#"{"auths": {
                "https://registry.example.com/v1/": {"auth": "Y2k6czNjcmV0"},
                "other.example:5000": {"username": "ops", "password": "hunter2"},
                "https://index.docker.io/v1/": {"auth": "aHViOmh1YnB3"}
            }}"#,
        );
        let creds = file.credentials_for("registry.example.com").await.unwrap();
        assert_eq!(basic(&creds), Some(("ci", "s3cret")));
        let creds = file.credentials_for("other.example:5000").await.unwrap();
        assert_eq!(basic(&creds), Some(("ops", "hunter2")));
        let creds = file.credentials_for("docker.io").await.unwrap();
        assert_eq!(basic(&creds), Some(("hub", "hubpw")));
        // A different port is a different registry.
        let creds = file.credentials_for("other.example:5001").await.unwrap();
        assert!(matches!(creds, Credentials::Anonymous));
    }

    #[tokio::test]
    async fn missing_file_means_anonymous() {
        let file = DockerConfigFile::at(PathBuf::from("/nonexistent/gantry/config.json"));
        let creds = file.credentials_for("registry.example.com").await.unwrap();
        assert!(matches!(creds, Credentials::Anonymous));
    }

    #[tokio::test]
    async fn malformed_config_names_the_file_but_not_the_content() {
        let (_dir, file) = docker_config(r#"{"auths": {"r.example": "topsecretvalue"}}"#);
        let err = file.credentials_for("r.example").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("config.json"), "{text}");
        assert!(text.contains("unexpected shape"), "{text}");
        assert!(!text.contains("topsecretvalue"), "{text}");

        let (_dir, file) = docker_config(r#"{"auths": {"#);
        let text = file
            .credentials_for("r.example")
            .await
            .unwrap_err()
            .to_string();
        assert!(text.contains("not valid JSON"), "{text}");
    }

    #[tokio::test]
    async fn bad_auth_field_is_refused_without_quoting_it() {
        let (_dir, file) =
            docker_config(r#"{"auths": {"r.example": {"auth": "!!notbase64secret"}}}"#);
        let text = file
            .credentials_for("r.example")
            .await
            .unwrap_err()
            .to_string();
        assert!(text.contains("not base64"), "{text}");
        assert!(!text.contains("notbase64secret"), "{text}");
    }

    #[tokio::test]
    async fn helper_names_must_not_be_paths() {
        let (_dir, file) = docker_config(r#"{"credHelpers": {"r.example": "../../bin/evil"}}"#);
        let text = file
            .credentials_for("r.example")
            .await
            .unwrap_err()
            .to_string();
        assert!(text.contains("not a plain helper name"), "{text}");
    }

    #[tokio::test]
    async fn missing_helper_is_an_error() {
        let (_dir, file) = docker_config(r#"{"credsStore": "gantry-test-no-such-helper"}"#);
        let text = file
            .credentials_for("r.example")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("docker-credential-gantry-test-no-such-helper") && text.contains("PATH"),
            "{text}"
        );
    }

    #[test]
    fn password_file_loses_one_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "pa ss\n").expect("write");
        assert_eq!(
            read_password(&PasswordSource::File(path.clone())).unwrap(),
            "pa ss"
        );
        std::fs::write(&path, "one\ntwo\n").expect("write");
        let text = read_password(&PasswordSource::File(path))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("more than one line") && !text.contains("one\ntwo"),
            "{text}"
        );
    }

    #[test]
    fn missing_env_names_the_variable() {
        let err = read_password(&PasswordSource::Env(
            "GANTRY_TEST_SURELY_UNSET_VARIABLE".into(),
        ))
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("GANTRY_TEST_SURELY_UNSET_VARIABLE"));
    }
}
