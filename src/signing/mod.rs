//! Cosign-compatible image signatures: keys, simplesigning payloads, `.sig` manifests, verification.
//!
//! The cryptography is sigstore's: cosign's encrypted key format, key generation, ECDSA
//! signing and verification. The registry round trips are not: `.sig` manifests and their
//! blobs go through gantry's `RegistryClient` (see `remote`), because sigstore's client
//! would be a second HTTP path with its own credentials (no Docker credential helpers,
//! identity tokens or `ca_file`), no retries, and a `push_signature` that replaces the
//! `.sig` manifest instead of adding to it. What has to match cosign is the format:
//!
//! - tag `sha256-<hex>.sig` in the image's repository;
//! - an image manifest whose layers are `application/vnd.dev.cosign.simplesigning.v1+json`
//!   payloads, each annotated `dev.cosignproject.cosign/signature` with the base64 signature
//!   over the payload's exact bytes;
//! - the payload's `critical.image.docker-manifest-digest` is the signed image's digest.

mod engine;
pub mod remote;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sigstore::cosign::payload::simple_signing::{Critical, Identity, Image, SimpleSigning};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, SigStoreSigner, Signature, SigningScheme};

use crate::domain::{media, Digest};

pub use engine::SignatureReport;
pub use remote::SignatureStep;

/// The media type of a cosign signature payload.
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of every cosign image signature.
pub const CRITICAL_TYPE: &str = "cosign container image signature";
/// Where `gantry keys generate` and cosign look for the key's password by default.
pub const DEFAULT_PASSWORD_ENV: &str = "COSIGN_PASSWORD";

const OCI_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG_MEDIA_TYPE: &str = "application/vnd.docker.container.image.v1+json";
/// cosign's signature images carry go-containerregistry's zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The tag cosign stores an image's signatures under.
pub fn signature_tag(digest: &Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A key file that cannot be read, decrypted or used: a configuration problem.
    #[error("{}: {reason}", .path.display())]
    Key { path: PathBuf, reason: String },
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// What is in the registry forbids the write (a `.sig` gantry cannot read and would
    /// otherwise overwrite).
    #[error("{0}")]
    Refused(String),
}

impl From<SigningError> for crate::engine::EngineError {
    fn from(e: SigningError) -> Self {
        use crate::engine::EngineError;
        match e {
            SigningError::Key { .. } => EngineError::Input(e.to_string()),
            SigningError::Registry(e) => EngineError::Registry(e),
            SigningError::Refused(reason) => EngineError::Refused(reason),
        }
    }
}

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
        let text = String::from_utf8_lossy(pem);
        match pem_label(&text) {
            Some("PUBLIC KEY") => {}
            Some(other) if other.contains("PRIVATE KEY") => {
                return Err(format!(
                    "is a private key ({other}); give the public key (cosign.pub)"
                ))
            }
            Some(other) => {
                return Err(format!(
                    "is a PEM `{other}`, not a `PUBLIC KEY` (cosign.pub)"
                ))
            }
            None => return Err("is not a PEM public key (-----BEGIN PUBLIC KEY-----)".into()),
        }
        let key = CosignVerificationKey::try_from_pem(pem)
            .map_err(|e| format!("is not a usable public key: {e}"))?;
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

/// The label of the first PEM block in `text`.
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let len = text[start..].find("-----")?;
    Some(&text[start..start + len])
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

/// Checks, without decrypting it, that `path` holds a private key gantry can use.
pub fn check_private_key_file(path: &Path) -> Result<(), String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    private_pem_problem(&String::from_utf8_lossy(&pem), None)
}

/// Why PEM `text` is not a private key cosign's way (`password`, when known, rules out an
/// unencrypted key with a password set).
fn private_pem_problem(text: &str, password: Option<&[u8]>) -> Result<(), String> {
    match pem_label(text) {
        Some("ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY") => Ok(()),
        Some("PRIVATE KEY") if password.is_none_or(|p| p.is_empty()) => Ok(()),
        Some("PRIVATE KEY") => Err(
            "is an unencrypted PKCS#8 key but a password is set; unset it, or encrypt the key (`gantry keys generate`, `cosign import-key-pair`)".into(),
        ),
        Some("EC PRIVATE KEY") => Err(
            "is a SEC1 `EC PRIVATE KEY`, which cosign and gantry do not read; convert it with `cosign import-key-pair` (or `openssl pkcs8 -topk8`)".into(),
        ),
        Some("PUBLIC KEY") => {
            Err("is a public key; signing needs the private key (cosign.key)".into())
        }
        Some(other) => Err(format!(
            "is a PEM `{other}`, not a cosign private key (ENCRYPTED SIGSTORE PRIVATE KEY)"
        )),
        None => Err(
            "is not a PEM private key (-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----)".into(),
        ),
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

/// The simplesigning payload cosign signs for `digest`, pushed as `docker_reference`
/// (`host/repository`, no tag).
pub fn payload(digest: &Digest, docker_reference: &str) -> Vec<u8> {
    let document = SimpleSigning {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference.to_string(),
            },
            image: Image {
                docker_manifest_digest: digest.to_string(),
            },
            type_name: CRITICAL_TYPE.to_string(),
        },
        optional: None,
    };
    serde_json::to_vec(&document).expect("a document of strings always serialises")
}

/// One layer of a `.sig` manifest: its descriptor exactly as the registry holds it, and
/// the parts gantry reads.
#[derive(Debug, Clone)]
pub struct SigLayer {
    descriptor: Box<RawValue>,
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub signature: Option<String>,
}

impl SigLayer {
    /// The same signature: same payload and same signature bytes. ECDSA signatures are
    /// randomised, so two signings of one payload are two signatures.
    pub fn same_as(&self, other: &SigLayer) -> bool {
        self.digest == other.digest && self.signature == other.signature
    }

    /// A new layer for a payload and its signature.
    pub fn new(payload: &[u8], signature: String) -> SigLayer {
        let digest = Digest::of(payload);
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Descriptor<'a> {
            media_type: &'a str,
            size: usize,
            digest: &'a str,
            annotations: BTreeMap<&'a str, &'a str>,
        }
        let descriptor = Descriptor {
            media_type: SIMPLESIGNING_MEDIA_TYPE,
            size: payload.len(),
            digest: digest.as_str(),
            annotations: BTreeMap::from([(SIGNATURE_ANNOTATION, signature.as_str())]),
        };
        let raw = serde_json::value::to_raw_value(&descriptor)
            .expect("a descriptor of strings and numbers always serialises");
        SigLayer {
            descriptor: raw,
            digest,
            size: payload.len() as u64,
            media_type: SIMPLESIGNING_MEDIA_TYPE.to_string(),
            signature: Some(signature),
        }
    }
}

/// A parsed `.sig` manifest.
#[derive(Debug, Clone)]
pub struct SigManifest {
    pub media_type: String,
    pub layers: Vec<SigLayer>,
    annotations: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestShape {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    layers: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    annotations: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescriptorShape {
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

impl SigManifest {
    /// Reads a `.sig` manifest's layers; `media_type` is what the registry said it is.
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<SigManifest, String> {
        if !media::is_manifest(media_type) {
            return Err(format!(
                "is a `{media_type}`, not an image manifest as cosign writes"
            ));
        }
        let shape: ManifestShape =
            serde_json::from_slice(bytes).map_err(|e| format!("does not parse: {e}"))?;
        let mut layers = Vec::new();
        for raw in shape.layers.unwrap_or_default() {
            let descriptor: DescriptorShape = serde_json::from_str(raw.get())
                .map_err(|e| format!("has a layer that does not parse: {e}"))?;
            let digest = descriptor
                .digest
                .parse::<Digest>()
                .map_err(|e| format!("has a layer with a bad digest: {e}"))?;
            let size = u64::try_from(descriptor.size)
                .map_err(|_| format!("has a layer {digest} with a negative size"))?;
            layers.push(SigLayer {
                descriptor: raw,
                digest,
                size,
                media_type: descriptor.media_type,
                signature: descriptor
                    .annotations
                    .and_then(|mut a| a.remove(SIGNATURE_ANNOTATION)),
            });
        }
        Ok(SigManifest {
            media_type: shape.media_type.unwrap_or_else(|| media_type.to_string()),
            layers,
            annotations: shape.annotations,
        })
    }

    /// An empty manifest of cosign's kind, for an image with no signatures yet.
    pub fn empty() -> SigManifest {
        SigManifest {
            media_type: media::OCI_MANIFEST.to_string(),
            layers: Vec::new(),
            annotations: None,
        }
    }

    /// Adds `layer` unless the manifest already has that very signature; true if added.
    pub fn add(&mut self, layer: &SigLayer) -> bool {
        if self.layers.iter().any(|l| l.same_as(layer)) {
            return false;
        }
        self.layers.push(layer.clone());
        true
    }

    /// The manifest bytes and its config blob. Layer descriptors (and manifest annotations)
    /// are written back exactly as they were read; the config lists every layer, as cosign's
    /// does after appending one.
    pub fn encode(&self) -> (Vec<u8>, Vec<u8>) {
        #[derive(Serialize)]
        struct History {
            created: &'static str,
        }
        #[derive(Serialize)]
        struct RootFs<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            diff_ids: Vec<&'a str>,
        }
        #[derive(Serialize)]
        struct ImageConfig<'a> {
            architecture: &'static str,
            created: &'static str,
            history: Vec<History>,
            os: &'static str,
            rootfs: RootFs<'a>,
            config: BTreeMap<(), ()>,
        }
        let config = ImageConfig {
            architecture: "",
            created: ZERO_TIME,
            history: self
                .layers
                .iter()
                .map(|_| History { created: ZERO_TIME })
                .collect(),
            os: "",
            // Payloads are stored uncompressed: each layer's diff id is its digest.
            rootfs: RootFs {
                kind: "layers",
                diff_ids: self.layers.iter().map(|l| l.digest.as_str()).collect(),
            },
            config: BTreeMap::new(),
        };
        let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
        let config_media_type = if self.media_type == media::OCI_MANIFEST {
            OCI_CONFIG_MEDIA_TYPE
        } else {
            DOCKER_CONFIG_MEDIA_TYPE
        };

        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct ConfigDescriptor<'a> {
            media_type: &'a str,
            size: usize,
            digest: String,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Manifest<'a> {
            schema_version: u32,
            media_type: &'a str,
            config: ConfigDescriptor<'a>,
            layers: Vec<&'a RawValue>,
            #[serde(skip_serializing_if = "Option::is_none")]
            annotations: Option<&'a RawValue>,
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: &self.media_type,
            config: ConfigDescriptor {
                media_type: config_media_type,
                size: config_bytes.len(),
                digest: Digest::of(&config_bytes).to_string(),
            },
            layers: self.layers.iter().map(|l| l.descriptor.as_ref()).collect(),
            annotations: self.annotations.as_deref(),
        };
        (
            serde_json::to_vec(&manifest).unwrap_or_default(),
            config_bytes,
        )
    }
}

/// What one signature layer proves about an image, checked against trusted keys.
#[derive(Debug, Clone, Serialize)]
pub struct LayerCheck {
    /// The payload blob's digest.
    pub layer: Digest,
    /// The payload's `critical.identity.docker-reference`: where it was signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_reference: Option<String>,
    /// Labels of the trusted keys whose signature this is.
    pub valid_for: Vec<String>,
    /// Why it proves nothing, if it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Checks one signature layer: a simplesigning payload naming `digest`, with a signature
/// annotation that one of `keys` verifies over the payload's exact bytes.
pub fn check_layer(
    layer: &SigLayer,
    payload: &[u8],
    digest: &Digest,
    keys: &[PublicKey],
) -> LayerCheck {
    let mut check = LayerCheck {
        layer: layer.digest.clone(),
        docker_reference: None,
        valid_for: Vec::new(),
        problem: None,
    };
    let problem = |mut check: LayerCheck, why: String| {
        check.problem = Some(why);
        check
    };
    if layer.media_type != SIMPLESIGNING_MEDIA_TYPE {
        return problem(
            check,
            format!(
                "layer is a `{}`, not a simplesigning payload",
                layer.media_type
            ),
        );
    }
    let document: SimpleSigning = match serde_json::from_slice(payload) {
        Ok(document) => document,
        Err(e) => {
            return problem(
                check,
                format!("payload is not a simplesigning document: {e}"),
            )
        }
    };
    check.docker_reference = Some(document.critical.identity.docker_reference.clone());
    if document.critical.type_name != CRITICAL_TYPE {
        return problem(
            check,
            format!(
                "payload type is `{}`, not `{CRITICAL_TYPE}`",
                document.critical.type_name
            ),
        );
    }
    if document.critical.image.docker_manifest_digest != digest.as_str() {
        return problem(
            check,
            format!(
                "payload signs {}, not this image",
                document.critical.image.docker_manifest_digest
            ),
        );
    }
    let Some(signature) = layer.signature.as_deref() else {
        return problem(check, format!("no {SIGNATURE_ANNOTATION} annotation"));
    };
    check.valid_for = keys
        .iter()
        .filter(|key| key.verifies(signature, payload))
        .map(|key| key.label.clone())
        .collect();
    if check.valid_for.is_empty() {
        return problem(
            check,
            "signature does not verify with any trusted key".to_string(),
        );
    }
    check
}

/// What an image's signatures amount to, for the console and the signature gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureStatus {
    /// At least one signature verifies; `by` names the trusted keys that made them.
    Signed { by: Vec<String> },
    /// No `.sig` at all, or one without layers.
    Unsigned,
    /// Signatures exist but none verifies with a trusted key (tampered, another key,
    /// another image, or a `.sig` gantry cannot read).
    Invalid { reason: String },
}

impl SignatureStatus {
    /// Sums up layer checks.
    pub fn from_checks(checks: &[LayerCheck]) -> SignatureStatus {
        if checks.is_empty() {
            return SignatureStatus::Unsigned;
        }
        let mut by: Vec<String> = Vec::new();
        for check in checks {
            for key in &check.valid_for {
                if !by.contains(key) {
                    by.push(key.clone());
                }
            }
        }
        if !by.is_empty() {
            return SignatureStatus::Signed { by };
        }
        let reason = match checks {
            [only] => only.problem.clone().unwrap_or_default(),
            many => format!(
                "none of {} signatures verifies: {}",
                many.len(),
                many.iter()
                    .filter_map(|c| c.problem.as_deref())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        SignatureStatus::Invalid { reason }
    }

    pub fn is_signed(&self) -> bool {
        matches!(self, SignatureStatus::Signed { .. })
    }

    /// `signed`, `unsigned` or `invalid`.
    pub fn word(&self) -> &'static str {
        match self {
            SignatureStatus::Signed { .. } => "signed",
            SignatureStatus::Unsigned => "unsigned",
            SignatureStatus::Invalid { .. } => "invalid",
        }
    }
}

impl std::fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureStatus::Signed { by } => write!(f, "signed by {}", by.join(", ")),
            SignatureStatus::Unsigned => f.write_str("unsigned"),
            SignatureStatus::Invalid { reason } => write!(f, "invalid: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests;
