//! `gantry keys generate` and `gantry verify`: cosign-compatible keys and signature checks.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;

use super::{exit, output, Failure};
use crate::engine::Engine;
use crate::signing::{self, PublicKey, SignatureStatus, SigningError};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new key pair as cosign does: cosign.key (encrypted with $COSIGN_PASSWORD,
    /// empty if unset) and cosign.pub; existing files are never overwritten
    Generate {
        /// Where to write them
        #[arg(long, value_name = "DIR", default_value = ".")]
        output_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn key_failure(e: SigningError) -> Failure {
    let code = match &e {
        SigningError::Key { .. } => exit::INPUT,
        SigningError::Registry(_) => exit::REGISTRY,
        SigningError::Refused(_) => exit::REFUSED,
    };
    Failure {
        code,
        message: e.to_string(),
    }
}

#[derive(Serialize)]
struct Generated {
    private_key: PathBuf,
    public_key: PathBuf,
    /// The variable the password came from; never the password itself.
    password_env: &'static str,
    empty_password: bool,
}

/// `gantry keys ...`: needs no configuration.
pub fn keys(command: KeysCommand) -> Result<i32, Failure> {
    match command {
        KeysCommand::Generate { output_dir, json } => {
            let password = std::env::var(signing::DEFAULT_PASSWORD_ENV).unwrap_or_default();
            let (private_key, public_key) =
                signing::generate_key_pair(&output_dir, password.as_bytes())
                    .map_err(key_failure)?;
            let report = Generated {
                private_key,
                public_key,
                password_env: signing::DEFAULT_PASSWORD_ENV,
                empty_password: password.is_empty(),
            };
            if json {
                output::print_json(&report);
            } else {
                println!(
                    "private key: {} (encrypted with {})\npublic key:  {}",
                    report.private_key.display(),
                    if report.empty_password {
                        format!(
                            "an empty password: ${} is unset or empty",
                            report.password_env
                        )
                    } else {
                        format!("the password in ${}", report.password_env)
                    },
                    report.public_key.display()
                );
            }
            Ok(exit::OK)
        }
    }
}

/// `gantry verify SERVICE:REF --env ENV [--key PUB]`: 0 if a trusted key signed the image
/// (and, where the environment has `attest = true`, a trusted promotion attestation of it
/// is attached), 3 otherwise.
pub async fn verify(
    engine: &Engine,
    image: &str,
    env: &str,
    key: Option<&Path>,
    json: bool,
) -> Result<i32, Failure> {
    let keys = match key {
        Some(path) => Some(vec![PublicKey::load(path).map_err(key_failure)?]),
        None => None,
    };
    let (service, environment, digest) =
        super::supply_commands::resolve_digest(engine, image, env).await?;
    let report = engine
        .verify_signatures(&service.name, env, &digest, keys.clone())
        .await?;
    let provenance = engine
        .verify_provenance(&service.name, env, &digest, keys)
        .await?;
    let attested = provenance.iter().any(|c| c.proves(env));
    if json {
        output::print_json(&Verified {
            report: &report,
            attest_required: environment.attest,
            attested,
            provenance: &provenance,
        });
    } else {
        let mut out = format!(
            "{}@{} in {}: {}\n",
            report.image, report.digest, report.environment, report.status
        );
        for check in &report.signatures {
            let verdict = match &check.problem {
                None => format!("valid: {}", check.valid_for.join(", ")),
                Some(problem) => format!("not valid: {problem}"),
            };
            out.push_str(&format!("  {}  {verdict}\n", check.layer.short()));
        }
        for check in &provenance {
            let what = check.predicate.as_ref().map_or_else(
                || "promotion attestation".to_string(),
                |p| {
                    format!(
                        "promoted {} -> {} at {}",
                        p.source.environment, p.environment, p.promoted_at
                    )
                },
            );
            let verdict = match &check.problem {
                None => format!("valid: signed by {}", check.signed_by.join(", ")),
                Some(problem) => format!("not valid: {problem}"),
            };
            out.push_str(&format!(
                "  {}  {what}: {verdict}\n",
                check.attestation.short()
            ));
        }
        if environment.attest && !attested {
            out.push_str(&format!("  no valid promotion attestation of {env}\n"));
        }
        out.push_str(&format!("  keys: {}\n", report.keys.join(", ")));
        print!("{out}");
    }
    let signed = matches!(report.status, SignatureStatus::Signed { .. });
    let verified = if environment.attest { attested } else { signed };
    Ok(if verified { exit::OK } else { exit::REFUSED })
}

/// `verify --json`: the signature report, and the promotion attestations beside it.
#[derive(Serialize)]
struct Verified<'a> {
    #[serde(flatten)]
    report: &'a signing::SignatureReport,
    attest_required: bool,
    attested: bool,
    provenance: &'a [crate::attestation::promotion::PromotionCheck],
}
