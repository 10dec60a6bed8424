//! Where a registry's credentials would come from, in words, without using them: what
//! `gantry doctor` shows. Reading a password variable or file is checked; a credential
//! helper is named, not run (the access check runs it).

use super::{read_password, same_registry, CredentialError, CredentialSource, DockerConfigFile};
use crate::config::PasswordSource;
use crate::registry::{Credentials, RegistryClient};

/// Where credentials come from, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub text: String,
    /// The user name, when there is one (never the secret).
    pub user: Option<String>,
}

impl Origin {
    fn anonymous(text: String) -> Origin {
        Origin { text, user: None }
    }

    /// "`ci`", or "anonymous".
    pub fn who(&self) -> String {
        match &self.user {
            Some(user) => format!("`{user}`"),
            None => "anonymous".into(),
        }
    }
}

impl CredentialSource {
    /// "config: user `ci`, password from $DEV_PASSWORD", "Docker config ...: credential
    /// helper `docker-credential-pass`", "none (anonymous)"; an unreadable password or
    /// Docker config is the error.
    pub fn describe(&self, host: &str) -> Result<Origin, CredentialError> {
        match self {
            CredentialSource::Fixed(Credentials::Basic { username, .. }) => Ok(Origin {
                text: format!("given by the program embedding gantry: user `{username}`"),
                user: Some(username.clone()),
            }),
            CredentialSource::Fixed(_) => Ok(Origin::anonymous(
                "given by the program embedding gantry".into(),
            )),
            CredentialSource::Configured(login) => {
                read_password(&login.password)?;
                let place = match &login.password {
                    PasswordSource::Env(var) => format!("${var}"),
                    PasswordSource::File(path) => format!("the file {}", path.display()),
                };
                Ok(Origin {
                    text: format!("config: user `{}`, password from {place}", login.username),
                    user: Some(login.username.clone()),
                })
            }
            CredentialSource::Docker(file) => file.describe(host),
        }
    }
}

impl DockerConfigFile {
    fn describe(&self, host: &str) -> Result<Origin, CredentialError> {
        let place = self.path.display();
        let Some(config) = self.parsed()? else {
            return Ok(Origin::anonymous(format!(
                "none (anonymous): no username in the configuration and no Docker config at {place}"
            )));
        };
        if let Some((_, helper)) = config
            .cred_helpers
            .iter()
            .find(|(key, _)| same_registry(key, host))
        {
            return Ok(Origin::anonymous(format!(
                "Docker config {place}: credential helper `docker-credential-{helper}` (credHelpers)"
            )));
        }
        if let Some(store) = config.creds_store.as_deref().filter(|s| !s.is_empty()) {
            return Ok(Origin::anonymous(format!(
                "Docker config {place}: credential store `docker-credential-{store}` (credsStore)"
            )));
        }
        let entry = config
            .auths
            .iter()
            .find(|(key, _)| key.as_str() == host || same_registry(key, host));
        match entry.map(|(_, entry)| entry.credentials(host, &self.path)) {
            Some(Ok(Credentials::Anonymous)) | None => Ok(Origin::anonymous(format!(
                "none (anonymous): {place} has no login for {host}"
            ))),
            Some(Ok(Credentials::IdentityToken { .. })) => Ok(Origin::anonymous(format!(
                "Docker config {place}: identity token for {host} (auths)"
            ))),
            Some(Ok(Credentials::Basic { username, .. })) => Ok(Origin {
                text: format!("Docker config {place}: user `{username}` for {host} (auths)"),
                user: Some(username),
            }),
            Some(Err(e)) => Err(e),
        }
    }
}

impl RegistryClient {
    /// Where this client's credentials come from.
    pub fn credential_source(&self) -> &CredentialSource {
        &self.source
    }
}
