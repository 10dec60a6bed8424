//! gantry's promotion provenance: an in-toto statement, signed with the cosign key, that
//! a digest was promoted into an environment after passing its gates: a verification
//! summary an admission policy can check ("this digest passed stage's gates").

use serde::{Deserialize, Serialize};

use super::{Envelope, Statement};
use crate::domain::Digest;
use crate::signing::PublicKey;

/// The predicate type of gantry's promotion attestations.
pub const PREDICATE_TYPE: &str = "https://gantry.dev/attestation/promotion/v1";

/// What a promotion attests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionPredicate {
    /// The environment promoted into: what `attested_by` names.
    pub environment: String,
    pub source: Location,
    pub target: Location,
    pub digest: Digest,
    pub tag: String,
    /// Every gate the promotion passed, with what it found.
    pub gates: Vec<GateEvidence>,
    /// Who approved the digest into the environment, from the ledger.
    pub approvers: Vec<String>,
    /// The ledger record of the promotion, when the ledger is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_record: Option<String>,
    /// RFC 3339, UTC.
    pub promoted_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub environment: String,
    /// `host/repository`.
    pub repository: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateEvidence {
    pub gate: String,
    pub evidence: String,
}

impl PromotionPredicate {
    pub fn statement(&self) -> Result<Statement, String> {
        Ok(Statement::new(
            &self.target.repository,
            &self.digest,
            PREDICATE_TYPE,
            serde_json::to_value(self).map_err(|e| e.to_string())?,
        ))
    }
}

/// One promotion attestation found on an image, checked.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionCheck {
    /// The referrer manifest holding it.
    pub attestation: Digest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<PromotionPredicate>,
    /// Labels of the trusted keys that signed it.
    pub signed_by: Vec<String>,
    /// Why it does not count, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl PromotionCheck {
    /// True if it is a valid promotion of `digest` into `environment` signed by a trusted key.
    pub fn proves(&self, environment: &str) -> bool {
        self.problem.is_none()
            && !self.signed_by.is_empty()
            && self
                .predicate
                .as_ref()
                .is_some_and(|p| p.environment == environment)
    }
}

/// Opens and checks one envelope found on `digest`.
pub fn check(
    attestation: Digest,
    envelope: &[u8],
    digest: &Digest,
    keys: &[PublicKey],
) -> PromotionCheck {
    let mut check = PromotionCheck {
        attestation,
        predicate: None,
        signed_by: Vec::new(),
        problem: None,
    };
    let opened = Envelope::parse(envelope).and_then(|e| Ok((e.statement()?, e)));
    let (statement, envelope) = match opened {
        Ok(opened) => opened,
        Err(problem) => {
            check.problem = Some(problem);
            return check;
        }
    };
    check.signed_by = envelope.signed_by(keys);
    if statement.predicate_type != PREDICATE_TYPE {
        check.problem = Some(format!("predicate type is {}", statement.predicate_type));
        return check;
    }
    match serde_json::from_value::<PromotionPredicate>(statement.predicate.clone()) {
        Ok(predicate) if statement.covers(digest) && predicate.digest == *digest => {
            check.predicate = Some(predicate)
        }
        Ok(predicate) => {
            check.problem = Some(format!(
                "attests {} , not this image",
                predicate.digest.short()
            ));
            check.predicate = Some(predicate);
        }
        Err(e) => check.problem = Some(format!("predicate does not parse: {e}")),
    }
    if check.problem.is_none() && check.signed_by.is_empty() {
        check.problem = Some("no trusted key signed it".into());
    }
    check
}
