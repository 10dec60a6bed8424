//! What cosign stores: the simplesigning payload for a digest, its layer, and the `.sig`
//! manifest holding the layers, parsed and written back with descriptors kept byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sigstore::cosign::payload::simple_signing::{Critical, Identity, Image, SimpleSigning};

use super::{
    CRITICAL_TYPE, DOCKER_CONFIG_MEDIA_TYPE, OCI_CONFIG_MEDIA_TYPE, SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE, ZERO_TIME,
};
use crate::domain::{media, Digest};

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
