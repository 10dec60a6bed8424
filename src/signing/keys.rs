//! Signing keys: cosign private keys (decrypted), public keys, and new key pairs written
//! the way `cosign generate-key-pair` writes them.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, SigStoreSigner, Signature, SigningScheme};

use super::SigningError;
use crate::config::keyfiles::{self, private_pem_problem};
use crate::domain::Digest;

/// A public key signatures are checked against.
#[derive(Clone)]
pub struct PublicKey {
    /// How people name it: the file it came from.
    pub label: String,
    /// `sha256:` of the key's SubjectPublicKeyInfo, first 16 hex digits: tells keys apart
    /// when two files share a name.
    pub id: String,
    key: CosignVerificationKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({}, {})", self.label, self.id)
    }
}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (as `cosign generate-key-pair` writes `cosign.pub`).
    pub fn load(path: &Path) -> Result<Self, SigningError> {
        let pem = std::fs::read(path).map_err(|e| SigningError::Key {
            path: path.to_path_buf(),
            reason: format!("cannot read public key: {e}"),
        })?;
        PublicKey::from_pem(&pem, &label_of(path)).map_err(|reason| SigningError::Key {
            path: path.to_path_buf(),
            reason,
        })
    }

    pub fn from_pem(pem: &[u8], label: &str) -> Result<Self, String> {
        let key = keyfiles::parse_public_pem(pem)?;
        Ok(PublicKey {
            label: label.to_string(),
            id: key_id(spki_of(&key)),
            key,
        })
    }

    /// True if `signature` (base64, as in the layer annotation) is this key's signature over
    /// exactly `payload`.
    pub fn verifies(&self, signature: &str, payload: &[u8]) -> bool {
        self.key
            .verify_signature(
                Signature::Base64Encoded(signature.trim().as_bytes()),
                payload,
            )
            .is_ok()
    }
}

fn spki_of(key: &CosignVerificationKey) -> &[u8] {
    match key {
        CosignVerificationKey::RSA_PSS_SHA256(der)
        | CosignVerificationKey::RSA_PKCS1_SHA256(der)
        | CosignVerificationKey::ECDSA_P256_SHA256_ASN1(der)
        | CosignVerificationKey::ECDSA_P384_SHA384_ASN1(der)
        | CosignVerificationKey::ECDSA_P521_SHA512_ASN1(der)
        | CosignVerificationKey::ED25519(der) => der,
    }
}

fn key_id(spki: &[u8]) -> String {
    let digest = Digest::of(spki);
    format!("sha256:{}", &digest.hex()[..16])
}

fn label_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// A private key ready to sign. Its Debug never shows key material.
pub struct SigningKey {
    signer: SigStoreSigner,
    public: PublicKey,
    path: PathBuf,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.path.display(), self.public.id)
    }
}

impl SigningKey {
    /// Reads a cosign private key, decrypting it with the password in the environment
    /// variable `password_env` (unset means the empty password, as cosign allows).
    pub fn load(path: &Path, password_env: &str) -> Result<Self, SigningError> {
        let error = |reason: String| SigningError::Key {
            path: path.to_path_buf(),
            reason,
        };
        let pem =
            std::fs::read(path).map_err(|e| error(format!("cannot read private key: {e}")))?;
        let password = std::env::var(password_env).unwrap_or_default();
        SigningKey::from_pem(&pem, password.as_bytes(), &label_of(path))
            .map_err(|reason| {
                error(match reason {
                    KeyProblem::Decrypt => format!(
                        "cannot decrypt the private key with the password in ${password_env}{}",
                        if std::env::var_os(password_env).is_none() {
                            " (unset: the empty password was tried)"
                        } else {
                            ""
                        }
                    ),
                    KeyProblem::Other(reason) => reason,
                })
            })
            .map(|mut key| {
                key.path = path.to_path_buf();
                key
            })
    }

    /// A key from PEM text; `label` names it in reports.
    pub fn from_pem(pem: &[u8], password: &[u8], label: &str) -> Result<Self, KeyProblem> {
        let text = String::from_utf8_lossy(pem);
        private_pem_problem(&text, Some(password)).map_err(KeyProblem::Other)?;
        // sigstore tries each key type in turn and reports only the last failure, so a
        // wrong password reads as "unsupported key type": for an encrypted key, a failed
        // decryption is by far the likelier story.
        let pair = SigStoreKeyPair::from_encrypted_pem(pem, password).map_err(|_| {
            if text.contains("ENCRYPTED") {
                KeyProblem::Decrypt
            } else {
                KeyProblem::Other("is not an ECDSA, Ed25519 or RSA private key".into())
            }
        })?;
        let scheme = scheme_of(&pair)?;
        let signer = pair
            .to_sigstore_signer(&scheme)
            .map_err(|e| KeyProblem::Other(format!("cannot sign with this key: {e}")))?;
        let key = pair
            .to_verification_key(&scheme)
            .map_err(|e| KeyProblem::Other(format!("cannot derive the public key: {e}")))?;
        Ok(SigningKey {
            signer,
            public: PublicKey {
                label: format!("{label} (public part)"),
                id: key_id(spki_of(&key)),
                key,
            },
            path: PathBuf::from(label),
        })
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The base64 signature over `payload`, as the layer annotation carries it.
    pub fn sign(&self, payload: &[u8]) -> Result<String, SigningError> {
        let raw = self.signer.sign(payload).map_err(|e| SigningError::Key {
            path: self.path.clone(),
            reason: format!("signing failed: {e}"),
        })?;
        Ok(base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// Why a private key could not be loaded; the password itself never appears.
#[derive(Debug)]
pub enum KeyProblem {
    Decrypt,
    Other(String),
}

fn scheme_of(pair: &SigStoreKeyPair) -> Result<SigningScheme, KeyProblem> {
    use sigstore::crypto::signing_key::ecdsa::ECDSAKeys;
    Ok(match pair {
        SigStoreKeyPair::ECDSA(ECDSAKeys::P256(_)) => SigningScheme::ECDSA_P256_SHA256_ASN1,
        SigStoreKeyPair::ECDSA(ECDSAKeys::P384(_)) => SigningScheme::ECDSA_P384_SHA384_ASN1,
        SigStoreKeyPair::ECDSA(ECDSAKeys::P521(_)) => SigningScheme::ECDSA_P521_SHA512_ASN1,
        SigStoreKeyPair::ED25519(_) => SigningScheme::ED25519,
        // cosign signs with RSA keys using PKCS#1 v1.5 and SHA-256.
        SigStoreKeyPair::RSA(_) => SigningScheme::RSA_PKCS1_SHA256(0),
    })
}

/// Writes a new ECDSA P-256 key pair as `cosign generate-key-pair` does: `cosign.key`
/// (encrypted with `password`) and `cosign.pub`, in `dir`. Existing files are never
/// overwritten; the private key is readable by its owner only.
pub fn generate_key_pair(dir: &Path, password: &[u8]) -> Result<(PathBuf, PathBuf), SigningError> {
    use sigstore::crypto::signing_key::ecdsa::{ECDSAKeys, EllipticCurve};
    let private_path = dir.join("cosign.key");
    let public_path = dir.join("cosign.pub");
    for path in [&private_path, &public_path] {
        if path.exists() {
            return Err(SigningError::Key {
                path: path.clone(),
                reason: "already exists; gantry never overwrites a key (move it away or use --output-dir)".into(),
            });
        }
    }
    let key_error = |path: &Path, reason: String| SigningError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let pair = ECDSAKeys::new(EllipticCurve::P256)
        .map(SigStoreKeyPair::ECDSA)
        .map_err(|e| key_error(&private_path, format!("cannot generate a key: {e}")))?;
    let private_pem = pair
        .private_key_to_encrypted_pem(password)
        .map_err(|e| key_error(&private_path, format!("cannot encrypt the key: {e}")))?;
    let public_pem = pair
        .public_key_to_pem()
        .map_err(|e| key_error(&public_path, format!("cannot encode the public key: {e}")))?;
    std::fs::create_dir_all(dir).map_err(|e| key_error(dir, e.to_string()))?;
    write_new(&private_path, private_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public_path, public_pem.as_bytes(), 0o644) {
        // Half a key pair is worse than none: the next attempt would refuse to overwrite it.
        let _ = std::fs::remove_file(&private_path);
        return Err(e);
    }
    Ok((private_path, public_path))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SigningError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |e: std::io::Error| SigningError::Key {
        path: path.to_path_buf(),
        reason: format!("cannot write: {e}"),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.sync_all().map_err(error)
}
