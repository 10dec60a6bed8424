//! Key files the configuration names: what kind of PEM each holds, checked when the
//! configuration loads so a wrong file is a located configuration error, not a promotion
//! that fails half way. Signing (`crate::signing`) reuses the same checks.

use std::path::Path;

use sigstore::crypto::CosignVerificationKey;

/// Where `gantry keys generate` and cosign look for the key's password by default.
pub const DEFAULT_PASSWORD_ENV: &str = "COSIGN_PASSWORD";

/// The label of the first PEM block in `text`.
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let len = text[start..].find("-----")?;
    Some(&text[start..start + len])
}

/// Checks, without decrypting it, that `path` holds a private key gantry can use.
pub fn check_private_key_file(path: &Path) -> Result<(), String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    private_pem_problem(&String::from_utf8_lossy(&pem), None)
}

/// Why PEM `text` is not a private key cosign's way (`password`, when known, rules out an
/// unencrypted key with a password set).
pub fn private_pem_problem(text: &str, password: Option<&[u8]>) -> Result<(), String> {
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

/// Parses a PEM `PUBLIC KEY` (as `cosign generate-key-pair` writes `cosign.pub`); the
/// error says what the file is instead.
pub fn parse_public_pem(pem: &[u8]) -> Result<CosignVerificationKey, String> {
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
    CosignVerificationKey::try_from_pem(pem).map_err(|e| format!("is not a usable public key: {e}"))
}

/// Checks that `path` holds a public key signatures can be checked against.
pub fn check_public_key_file(path: &Path) -> Result<(), String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read public key: {e}"))?;
    parse_public_pem(&pem).map(|_| ())
}
