//! In-toto attestations in DSSE envelopes: sealing a statement with the cosign key,
//! opening and verifying one, and the artifact types that tell SBOMs, attestations and
//! signatures apart (see `attached` for what an image carries, `promotion` for ours).

pub mod attached;
pub mod promotion;

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::domain::Digest;
use crate::signing::{PublicKey, SigningError, SigningKey};

/// A DSSE envelope, as a layer or a referrer's artifact type.
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// An in-toto statement, unsigned (buildx attestation manifests hold these).
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The annotation buildx, oras and gantry put on an attestation with its predicate type.
pub const PREDICATE_ANNOTATION: &str = "in-toto.io/predicate-type";
/// cosign's name for the same annotation on `.att` layers.
pub const COSIGN_PREDICATE_ANNOTATION: &str = "predicateType";
pub const SPDX_PREDICATE: &str = "https://spdx.dev/Document";
pub const CYCLONEDX_PREDICATE: &str = "https://cyclonedx.org/bom";
pub const VULN_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// The empty config OCI 1.1 artifacts carry (`{}`).
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";

/// What an SBOM is written in, from a media type or a predicate type.
pub fn sbom_format(kind: &str) -> Option<&'static str> {
    match kind {
        "application/spdx+json" | "text/spdx+json" | "text/spdx" | SPDX_PREDICATE => Some("SPDX"),
        "application/vnd.cyclonedx+json"
        | "application/vnd.cyclonedx+xml"
        | "application/vnd.cyclonedx"
        | CYCLONEDX_PREDICATE => Some("CycloneDX"),
        _ if kind.starts_with("https://spdx.dev/Document") => Some("SPDX"),
        _ => None,
    }
}

/// Artifact types of signatures: cosign's OCI 1.1 referrer and notation's.
pub fn signature_kind(artifact_type: &str) -> Option<&'static str> {
    match artifact_type {
        "application/vnd.dev.cosign.artifact.sig.v1+json" => Some("cosign"),
        "application/vnd.cncf.notary.signature" => Some("notation"),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload_type: String,
    /// Base64 of the statement's bytes.
    pub payload: String,
    #[serde(default)]
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    #[serde(default)]
    pub keyid: String,
    /// Base64 signature over the PAE of the payload.
    pub sig: String,
}

/// An in-toto statement: what is attested (`subject`) and the claim (`predicate`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub subject: Vec<Subject>,
    #[serde(default)]
    pub predicate: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

impl Statement {
    /// A statement of `predicate_type` about `name@digest`.
    pub fn new(
        name: &str,
        digest: &Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Self {
        Statement {
            statement_type: "https://in-toto.io/Statement/v1".into(),
            predicate_type: predicate_type.into(),
            subject: vec![Subject {
                name: name.into(),
                digest: BTreeMap::from([("sha256".to_string(), digest.hex().to_string())]),
            }],
            predicate,
        }
    }

    /// True if one of its subjects is `digest`.
    pub fn covers(&self, digest: &Digest) -> bool {
        self.subject
            .iter()
            .any(|s| s.digest.get("sha256").map(String::as_str) == Some(digest.hex()))
    }
}

/// DSSE's pre-authentication encoding: what a signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// `statement` in a DSSE envelope signed by `key` (ECDSA over the PAE, as cosign attests).
pub fn seal(statement: &Statement, key: &SigningKey) -> Result<Vec<u8>, SigningError> {
    let payload =
        serde_json::to_vec(statement).map_err(|e| SigningError::Refused(e.to_string()))?;
    let sig = key.sign(&pae(IN_TOTO, &payload))?;
    let envelope = Envelope {
        payload_type: IN_TOTO.into(),
        payload: base64::engine::general_purpose::STANDARD.encode(&payload),
        signatures: vec![EnvelopeSignature {
            keyid: key.public().id.clone(),
            sig,
        }],
    };
    serde_json::to_vec(&envelope).map_err(|e| SigningError::Refused(e.to_string()))
}

impl Envelope {
    pub fn parse(bytes: &[u8]) -> Result<Envelope, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a DSSE envelope: {e}"))
    }

    pub fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        base64::engine::general_purpose::STANDARD
            .decode(self.payload.trim())
            .map_err(|e| format!("DSSE payload is not base64: {e}"))
    }

    pub fn statement(&self) -> Result<Statement, String> {
        if self.payload_type != IN_TOTO {
            return Err(format!(
                "DSSE payload type `{}` is not an in-toto statement",
                self.payload_type
            ));
        }
        serde_json::from_slice(&self.payload_bytes()?)
            .map_err(|e| format!("DSSE payload is not an in-toto statement: {e}"))
    }

    /// The labels of `keys` that signed this envelope.
    pub fn signed_by(&self, keys: &[PublicKey]) -> Vec<String> {
        let Ok(payload) = self.payload_bytes() else {
            return Vec::new();
        };
        let message = pae(&self.payload_type, &payload);
        keys.iter()
            .filter(|key| {
                self.signatures
                    .iter()
                    .any(|s| key.verifies(&s.sig, &message))
            })
            .map(|key| key.label.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_dsse_encoding() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_sealed_statement_opens_and_verifies_only_with_its_key() {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/cosign/cosign-generated-empty-password.key"
        ));
        let Ok(pem) = pem else { return };
        let key = SigningKey::from_pem(&pem, b"", "fixture").expect("fixture key");
        let digest = Digest::of(b"image");
        let statement = Statement::new(
            "r/x",
            &digest,
            "https://example/p",
            serde_json::json!({"a": 1}),
        );
        let envelope = Envelope::parse(&seal(&statement, &key).expect("seal")).expect("parse");
        let opened = envelope.statement().expect("statement");
        assert!(opened.covers(&digest));
        assert!(!opened.covers(&Digest::of(b"other")));
        assert_eq!(
            envelope.signed_by(std::slice::from_ref(key.public())).len(),
            1
        );
        let mut forged = envelope.clone();
        forged.payload = base64::engine::general_purpose::STANDARD.encode(b"{}");
        assert!(forged
            .signed_by(std::slice::from_ref(key.public()))
            .is_empty());
    }

    #[test]
    fn sbom_formats_from_media_and_predicate_types() {
        assert_eq!(sbom_format("application/spdx+json"), Some("SPDX"));
        assert_eq!(sbom_format("text/spdx+json"), Some("SPDX"));
        assert_eq!(sbom_format(SPDX_PREDICATE), Some("SPDX"));
        assert_eq!(
            sbom_format("application/vnd.cyclonedx+json"),
            Some("CycloneDX")
        );
        assert_eq!(sbom_format(DSSE), None);
    }
}
