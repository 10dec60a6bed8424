//! Signing as the engine runs it: configured keys (decrypted once), per-image signature
//! checks, and the signature step of a promotion's plan.

use std::sync::Arc;

use super::{Engine, EngineError};
use crate::config::{Environment, Service};
use crate::domain::Digest;
use crate::registry::RegistryClient;
use crate::signing::{
    remote, signature_tag, PublicKey, SignatureReport, SignatureStatus, SigningError, SigningKey,
};

impl Engine {
    /// The configured `[signing] key`, decrypted once per engine.
    pub async fn signing_key(&self) -> Result<Arc<SigningKey>, EngineError> {
        let settings = &self.config().signing;
        let path = settings.key.as_ref().ok_or_else(|| {
            EngineError::Input(
                "no signing key is configured: set [signing] key (see `gantry keys generate`)"
                    .into(),
            )
        })?;
        let key = self
            .signing_key_cache
            .get_or_try_init(|| async {
                let path = path.clone();
                let password_env = settings.password_env.clone();
                // scrypt is deliberately slow: keep it off the async workers.
                tokio::task::spawn_blocking(move || SigningKey::load(&path, &password_env))
                    .await
                    .map_err(|e| {
                        EngineError::Input(format!("loading the signing key failed: {e}"))
                    })?
                    .map(Arc::new)
                    .map_err(EngineError::from)
            })
            .await?;
        Ok(key.clone())
    }

    /// The public keys trusted for images in `env`: its `verify_keys`, else
    /// `[signing] public_keys`, else the public part of `[signing] key`.
    pub async fn trusted_keys(&self, env: &str) -> Result<Vec<PublicKey>, EngineError> {
        let environment = self.config().environment(env)?;
        let signing = &self.config().signing;
        let files = if environment.verify_keys.is_empty() {
            &signing.public_keys
        } else {
            &environment.verify_keys
        };
        if files.is_empty() {
            if signing.key.is_some() {
                return Ok(vec![self.signing_key().await?.public().clone()]);
            }
            return Err(EngineError::Input(format!(
                "no public key to check signatures in `{env}` with: set [signing] public_keys, verify_keys for the environment, or pass --key"
            )));
        }
        files
            .iter()
            .map(|path| PublicKey::load(path).map_err(EngineError::from))
            .collect()
    }

    /// Whether `digest` of `service` in `env` carries a valid signature by a key trusted
    /// there: what the console shows per image and the signature gate decides on.
    pub async fn signature_status(
        &self,
        service: &str,
        env: &str,
        digest: &Digest,
    ) -> Result<SignatureStatus, EngineError> {
        Ok(self
            .verify_signatures(service, env, digest, None)
            .await?
            .status)
    }

    /// Checks every signature of `digest` in `env` against `keys` (default: the keys
    /// trusted for `env`).
    pub async fn verify_signatures(
        &self,
        service: &str,
        env: &str,
        digest: &Digest,
        keys: Option<Vec<PublicKey>>,
    ) -> Result<SignatureReport, EngineError> {
        let svc = self.config().service(service)?;
        let environment = self.config().environment(env)?;
        let keys = match keys {
            Some(keys) => keys,
            None => self.trusted_keys(env).await?,
        };
        let client = self.client(env)?;
        let (status, signatures) =
            remote::check(client, &environment.repository(svc), digest, &keys).await?;
        Ok(SignatureReport {
            service: svc.name.clone(),
            environment: environment.name.clone(),
            image: environment.image_name(svc),
            digest: digest.clone(),
            signature_tag: signature_tag(digest),
            status,
            keys: keys
                .iter()
                .map(|k| format!("{} ({})", k.label, k.id))
                .collect(),
            signatures,
        })
    }

    /// The signature part of a promotion's plan: signatures to carry from the source and,
    /// for a `sign = true` target, our own. Loads (and so checks) the key before anything
    /// is written.
    pub(crate) async fn plan_signatures(
        &self,
        service: &Service,
        source: (&RegistryClient, &str),
        target_env: &Environment,
        target: (&RegistryClient, &str),
        digest: &Digest,
        source_tags: Option<&std::collections::HashSet<String>>,
    ) -> Result<remote::SignatureStep, EngineError> {
        let key = if target_env.sign {
            Some(self.signing_key().await?)
        } else {
            None
        };
        let reference = target_env.image_name(service);
        let signer = key.as_deref().map(|key| (key, reference.as_str()));
        Ok(remote::plan(
            source.0,
            source.1,
            target.0,
            target.1,
            digest,
            signer,
            source_tags,
        )
        .await?)
    }
}

impl From<SigningError> for EngineError {
    fn from(e: SigningError) -> Self {
        match e {
            SigningError::Key { .. } => EngineError::Input(e.to_string()),
            SigningError::Registry(e) => EngineError::Registry(e),
            SigningError::Refused(reason) => EngineError::Refused(reason),
        }
    }
}
