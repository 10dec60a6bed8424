//! Verification: what one signature layer proves against trusted keys, and what an
//! image's signatures amount to (`SignatureStatus`, `gantry verify`'s report).

use serde::Serialize;
use sigstore::cosign::payload::simple_signing::SimpleSigning;

use super::{PublicKey, SigLayer, CRITICAL_TYPE, SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE};
use crate::domain::Digest;

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

/// Everything `gantry verify` says about one image.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    pub service: String,
    pub environment: String,
    /// `host/repository`.
    pub image: String,
    pub digest: Digest,
    /// The tag the signatures live under.
    pub signature_tag: String,
    #[serde(flatten)]
    pub status: SignatureStatus,
    /// Labels of the keys checked against.
    pub keys: Vec<String>,
    pub signatures: Vec<LayerCheck>,
}
