//! What an image carries, read from its registry: SBOMs (SPDX, CycloneDX), attestations
//! by predicate type, signatures by key, and the attached vulnerability report's age and
//! worst severity; whether they come as OCI referrers, buildx attestation manifests or
//! cosign's `.att`/`.sbom`/`.sig` tags.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::promotion::{self, PromotionCheck};
use super::{
    sbom_format, signature_kind, Envelope, COSIGN_PREDICATE_ANNOTATION, DSSE, IN_TOTO,
    PREDICATE_ANNOTATION, VULN_PREDICATE,
};
use crate::domain::Digest;
use crate::gates::{scan, Severity};
use crate::registry::manifest::{self, Parsed};
use crate::registry::referrers::Referrer;
use crate::registry::{RawManifest, RegistryClient, RegistryError};
use crate::signing::PublicKey;

/// Where an attachment lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// An OCI 1.1 referrer (API or fallback tag).
    Referrer,
    /// A buildx attestation manifest inside the image index.
    Buildx,
    /// cosign's `sha256-<hex>.att` / `.sbom` / `.sig` tag.
    CosignTag,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Attached {
    pub sboms: Vec<Sbom>,
    pub attestations: Vec<Attestation>,
    pub signatures: Vec<Signature>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sbom {
    /// `SPDX` or `CycloneDX`.
    pub format: String,
    pub via: Via,
    /// The manifest holding it.
    pub manifest: Digest,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attestation {
    pub predicate_type: String,
    pub via: Via,
    pub manifest: Digest,
}

#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    /// `cosign` or `notation`.
    pub kind: String,
    pub via: Via,
    /// The trusted keys it verifies with; empty: none (or not checked, for notation).
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    /// When the scanner finished (RFC 3339), from the attestation.
    pub finished: Option<String>,
    pub worst: Option<Severity>,
    pub findings: usize,
    pub scanner: Option<String>,
    /// Keys that signed the attestation.
    pub signed_by: Vec<String>,
}

impl Attached {
    /// One line per kind, for the console's detail pane: (label, text).
    pub fn lines(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<(&'static str, String)> {
        let via = |via: Via| match via {
            Via::Referrer => "referrer",
            Via::Buildx => "buildx",
            Via::CosignTag => "cosign tag",
        };
        let grouped = |items: Vec<(String, Via)>| {
            let mut groups: Vec<(String, Vec<&'static str>)> = Vec::new();
            for (name, how) in items {
                match groups.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, ways)) if !ways.contains(&via(how)) => ways.push(via(how)),
                    Some(_) => {}
                    None => groups.push((name, vec![via(how)])),
                }
            }
            groups
                .into_iter()
                .map(|(name, ways)| format!("{name} ({})", ways.join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let none = |text: String| {
            if text.is_empty() {
                "none".to_string()
            } else {
                text
            }
        };
        let sboms = grouped(
            self.sboms
                .iter()
                .map(|s| (s.format.clone(), s.via))
                .collect(),
        );
        let attestations = grouped(
            self.attestations
                .iter()
                .map(|a| {
                    let short = a.predicate_type.trim_start_matches("https://");
                    (short.to_string(), a.via)
                })
                .collect(),
        );
        let signatures = self
            .signatures
            .iter()
            .map(|s| match s.keys.as_slice() {
                [] if s.kind == "notation" => "notation (not checked)".to_string(),
                [] => format!("{} (no trusted key)", s.kind),
                keys => format!("{}: {}", s.kind, keys.join(", ")),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let scan = match &self.scan {
            None => "no vulnerability attestation".to_string(),
            Some(scan) => {
                let worst = scan.worst.map_or_else(
                    || "no findings".to_string(),
                    |w| format!("worst {w:?}").to_uppercase(),
                );
                let age = scan
                    .finished
                    .as_deref()
                    .and_then(|f| chrono::DateTime::parse_from_rfc3339(f).ok())
                    .map(|f| {
                        let days = (now - f.with_timezone(&chrono::Utc)).num_days();
                        format!(", scanned {days} days ago")
                    })
                    .unwrap_or_default();
                format!("{worst}, {} findings{age}", scan.findings)
            }
        };
        vec![
            ("SBOM", none(sboms)),
            ("attested", none(attestations)),
            ("signed", none(signatures)),
            ("scan", scan),
        ]
    }
}

/// A vulnerability attestation's report, for the scan gate.
#[derive(Debug, Clone)]
pub struct VulnerabilityReport {
    pub manifest: Digest,
    /// trivy's JSON (`predicate.scanner.result`).
    pub report: Vec<u8>,
    pub summary: ScanSummary,
}

#[derive(Deserialize)]
struct ManifestShape {
    #[serde(default)]
    layers: Vec<LayerShape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayerShape {
    media_type: String,
    digest: Digest,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// Reads everything attached to `top` in `repository`; signatures checked against `keys`.
pub async fn read(
    client: &RegistryClient,
    repository: &str,
    top: &RawManifest,
    keys: &[PublicKey],
) -> Result<Attached, RegistryError> {
    let mut attached = Attached::default();
    let referrers = client
        .list_referrers(repository, &top.digest)
        .await?
        .referrers;
    for referrer in &referrers {
        classify_referrer(client, repository, referrer, keys, &mut attached).await?;
    }
    if let Ok(Parsed::Index(children)) = manifest::parse(&top.media_type, &top.bytes) {
        for child in children.iter().filter(|c| c.platform == "unknown/unknown") {
            let raw = client
                .get_manifest(repository, child.digest.as_str())
                .await?;
            for layer in layers(&raw) {
                let Some(predicate) = layer.annotations.get(PREDICATE_ANNOTATION) else {
                    continue;
                };
                add_attestation(&mut attached, predicate, Via::Buildx, &raw.digest);
            }
        }
    }
    for suffix in ["att", "sbom"] {
        let tag = format!("sha256-{}.{suffix}", top.digest.hex());
        let raw = match client.get_manifest(repository, &tag).await {
            Ok(raw) => raw,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        for layer in layers(&raw) {
            if let Some(format) = sbom_format(&layer.media_type) {
                attached.sboms.push(Sbom {
                    format: format.into(),
                    via: Via::CosignTag,
                    manifest: raw.digest.clone(),
                });
            } else if let Some(predicate) = layer.annotations.get(COSIGN_PREDICATE_ANNOTATION) {
                add_attestation(&mut attached, predicate, Via::CosignTag, &raw.digest);
            }
        }
    }
    let (_, checks) = crate::signing::remote::check(client, repository, &top.digest, keys).await?;
    for check in checks {
        attached.signatures.push(Signature {
            kind: "cosign".into(),
            via: Via::CosignTag,
            keys: check.valid_for,
        });
    }
    Ok(attached)
}

async fn classify_referrer(
    client: &RegistryClient,
    repository: &str,
    referrer: &Referrer,
    keys: &[PublicKey],
    attached: &mut Attached,
) -> Result<(), RegistryError> {
    let artifact_type = referrer.artifact_type.as_deref().unwrap_or_default();
    if let Some(format) = sbom_format(artifact_type) {
        attached.sboms.push(Sbom {
            format: format.into(),
            via: Via::Referrer,
            manifest: referrer.digest.clone(),
        });
        return Ok(());
    }
    if let Some(kind) = signature_kind(artifact_type) {
        attached.signatures.push(Signature {
            kind: kind.into(),
            via: Via::Referrer,
            keys: Vec::new(),
        });
        return Ok(());
    }
    if artifact_type == DSSE || artifact_type == IN_TOTO {
        let predicate = match referrer.annotations.get(PREDICATE_ANNOTATION) {
            Some(predicate) => predicate.clone(),
            None => match first_envelope(client, repository, &referrer.digest).await? {
                Some((_, envelope)) => envelope
                    .statement()
                    .map(|s| s.predicate_type)
                    .unwrap_or_else(|_| "unreadable".into()),
                None => "unreadable".into(),
            },
        };
        add_attestation(attached, &predicate, Via::Referrer, &referrer.digest);
        if predicate == VULN_PREDICATE && attached.scan.is_none() {
            if let Some(report) =
                vulnerability_in(client, repository, &referrer.digest, keys).await?
            {
                attached.scan = Some(report.summary);
            }
        }
        return Ok(());
    }
    add_attestation(attached, artifact_type, Via::Referrer, &referrer.digest);
    Ok(())
}

fn add_attestation(attached: &mut Attached, predicate: &str, via: Via, manifest: &Digest) {
    if let Some(format) = sbom_format(predicate) {
        attached.sboms.push(Sbom {
            format: format.into(),
            via,
            manifest: manifest.clone(),
        });
    }
    attached.attestations.push(Attestation {
        predicate_type: predicate.into(),
        via,
        manifest: manifest.clone(),
    });
}

fn layers(raw: &RawManifest) -> Vec<LayerShape> {
    serde_json::from_slice::<ManifestShape>(&raw.bytes)
        .map(|m| m.layers)
        .unwrap_or_default()
}

/// The first layer of manifest `digest`, whole.
async fn first_layer(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
) -> Result<Option<(LayerShape, Bytes)>, RegistryError> {
    let raw = client.get_manifest(repository, digest.as_str()).await?;
    let Some(layer) = layers(&raw).into_iter().next() else {
        return Ok(None);
    };
    let bytes = client.get_blob_bytes(repository, &layer.digest).await?;
    Ok(Some((layer, bytes)))
}

async fn first_envelope(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
) -> Result<Option<(Bytes, Envelope)>, RegistryError> {
    Ok(first_layer(client, repository, digest)
        .await?
        .and_then(|(_, bytes)| Envelope::parse(&bytes).ok().map(|e| (bytes, e))))
}

async fn vulnerability_in(
    client: &RegistryClient,
    repository: &str,
    manifest: &Digest,
    keys: &[PublicKey],
) -> Result<Option<VulnerabilityReport>, RegistryError> {
    let Some((_, envelope)) = first_envelope(client, repository, manifest).await? else {
        return Ok(None);
    };
    let Ok(statement) = envelope.statement() else {
        return Ok(None);
    };
    let predicate = &statement.predicate;
    let result = &predicate["scanner"]["result"];
    let Ok(report_bytes) = serde_json::to_vec(result) else {
        return Ok(None);
    };
    let Ok(report) = scan::parse(&report_bytes) else {
        return Ok(None);
    };
    let findings: Vec<&scan::Vulnerability> = report
        .results
        .iter()
        .flatten()
        .flat_map(|r| r.vulnerabilities.iter().flatten())
        .collect();
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    Ok(Some(VulnerabilityReport {
        manifest: manifest.clone(),
        summary: ScanSummary {
            finished: text(&predicate["metadata"]["scanFinishedOn"]),
            worst: findings.iter().map(|f| f.severity()).max(),
            findings: findings.len(),
            scanner: text(&predicate["scanner"]["uri"]),
            signed_by: envelope.signed_by(keys),
        },
        report: report_bytes,
    }))
}

/// The vulnerability attestation attached to `digest` whose scan finished last.
pub async fn vulnerability_report(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    keys: &[PublicKey],
) -> Result<Option<VulnerabilityReport>, RegistryError> {
    let referrers = client.list_referrers(repository, digest).await?.referrers;
    let mut best: Option<VulnerabilityReport> = None;
    for referrer in referrers.iter().filter(|r| {
        r.artifact_type.as_deref() == Some(DSSE)
            && r.annotations
                .get(PREDICATE_ANNOTATION)
                .is_none_or(|p| p == VULN_PREDICATE)
    }) {
        if let Some(report) = vulnerability_in(client, repository, &referrer.digest, keys).await? {
            if best
                .as_ref()
                .is_none_or(|b| b.summary.finished < report.summary.finished)
            {
                best = Some(report);
            }
        }
    }
    Ok(best)
}

/// Every promotion attestation on `digest`, checked against `keys`.
pub async fn promotion_checks(
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
    keys: &[PublicKey],
) -> Result<Vec<PromotionCheck>, RegistryError> {
    let referrers = client.list_referrers(repository, digest).await?.referrers;
    let mut checks = Vec::new();
    for referrer in referrers.iter().filter(|r| {
        r.artifact_type.as_deref() == Some(DSSE)
            && r.annotations
                .get(PREDICATE_ANNOTATION)
                .is_none_or(|p| p == promotion::PREDICATE_TYPE)
    }) {
        if let Some((bytes, _)) = first_envelope(client, repository, &referrer.digest).await? {
            checks.push(promotion::check(
                referrer.digest.clone(),
                &bytes,
                digest,
                keys,
            ));
        }
    }
    Ok(checks)
}

/// The image's SBOM document: `format` (SPDX or CycloneDX) if given, SPDX first otherwise;
/// from a referrer, a buildx attestation's statement, or cosign's `.sbom` tag.
pub async fn sbom_document(
    client: &RegistryClient,
    repository: &str,
    top: &RawManifest,
    format: Option<&str>,
) -> Result<Option<(String, Bytes)>, RegistryError> {
    let attached = read(client, repository, top, &[]).await?;
    let mut sboms = attached.sboms.clone();
    sboms.sort_by_key(|s| (s.format != "SPDX", s.via != Via::Referrer));
    for sbom in sboms
        .iter()
        .filter(|s| format.is_none_or(|f| f.eq_ignore_ascii_case(&s.format)))
    {
        let raw = client
            .get_manifest(repository, sbom.manifest.as_str())
            .await?;
        for layer in layers(&raw) {
            let in_statement = layer.media_type == IN_TOTO
                && layer
                    .annotations
                    .get(PREDICATE_ANNOTATION)
                    .and_then(|p| sbom_format(p))
                    == Some(sbom.format.as_str());
            if sbom_format(&layer.media_type) == Some(sbom.format.as_str()) {
                let bytes = client.get_blob_bytes(repository, &layer.digest).await?;
                return Ok(Some((sbom.format.clone(), bytes)));
            }
            if in_statement {
                let bytes = client.get_blob_bytes(repository, &layer.digest).await?;
                let document = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|s| serde_json::to_vec_pretty(&s["predicate"]).ok());
                if let Some(document) = document {
                    return Ok(Some((sbom.format.clone(), Bytes::from(document))));
                }
            }
        }
    }
    Ok(None)
}
