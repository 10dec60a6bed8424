//! Where secrets and keys come from: an environment's login and CA file, `[signing]` and
//! `verify_keys`. Only names and paths are kept; key files are checked for their kind.

use std::path::PathBuf;

use toml::Spanned;

use super::{RawEnvironment, RawSigning, Validator};
use crate::config::keyfiles;
use crate::config::names::is_valid_env_var;
use crate::config::{ConfigError, Login, PasswordSource, SigningSettings};

impl Validator<'_> {
    /// An environment's credential and TLS keys: a user name with exactly one place for
    /// its password, and a CA file that only makes sense over https.
    pub(super) fn transport(
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
    pub(super) fn signing(
        &self,
        raw: Option<&Spanned<RawSigning>>,
    ) -> Result<SigningSettings, ConfigError> {
        let mut settings = SigningSettings::default();
        let Some(raw) = raw else {
            return Ok(settings);
        };
        let raw = raw.get_ref();
        if let Some(key) = &raw.key {
            let path = self.key_file(key, "signing.key")?;
            keyfiles::check_private_key_file(&path).map_err(|why| {
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
    pub(super) fn environment_signing(
        &self,
        env: &RawEnvironment,
        signing: &SigningSettings,
    ) -> Result<(bool, bool, Vec<PathBuf>), ConfigError> {
        // Both signing and attesting need the private key.
        let needs_key = |flag: Option<&Spanned<bool>>, name: &str| match flag {
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
        };
        let sign = needs_key(env.sign.as_ref(), "sign")?;
        let attest = needs_key(env.attest.as_ref(), "attest")?;
        let verify_keys = self.public_keys(&env.verify_keys, "verify_keys")?;
        Ok((sign, attest, verify_keys))
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
                keyfiles::check_public_key_file(&path).map_err(|why| {
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
}
