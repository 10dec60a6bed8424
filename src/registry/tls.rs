//! TLS for registry clients, with the trust roots loaded at the first handshake rather
//! than when a client is built: a command that only talks plain HTTP (local registries)
//! never reads the system's CA files, and one that talks https pays for them once.
//!
//! Verification itself is rustls-platform-verifier's, as reqwest's default would be: the
//! system's roots plus an environment's `ca_file`, so errors (an unknown CA...) read the
//! same.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

/// The platform verifier, built on the first certificate it is asked to check.
#[derive(Debug)]
struct LazyRoots {
    provider: Arc<CryptoProvider>,
    extra: Vec<CertificateDer<'static>>,
    verifier: OnceLock<Result<Verifier, rustls::Error>>,
}

impl LazyRoots {
    fn verifier(&self) -> Result<&Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| {
                // The roots' location comes from SSL_CERT_FILE/SSL_CERT_DIR, which git's
                // start-up changes for a moment.
                let _env = crate::domain::trust_env::lock();
                Verifier::new_with_extra_roots(self.extra.iter().cloned(), self.provider.clone())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client TLS configuration trusting the system's roots and `extra` (DER), loaded on
/// the first handshake; offers HTTP/2 and HTTP/1.1. Refuses an `extra` certificate that
/// cannot serve as a root at once, as building a client with it always did.
pub fn client_config(
    extra: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut check = rustls::RootCertStore::empty();
    for certificate in &extra {
        check.add(certificate.clone())?;
    }
    let verifier = LazyRoots {
        provider: provider.clone(),
        extra,
        verifier: OnceLock::new(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The DER bytes of a PEM certificate block (`-----BEGIN CERTIFICATE-----` ...).
pub fn pem_to_der(block: &str) -> Option<CertificateDer<'static>> {
    use base64::Engine as _;
    let body: String = block
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .map(CertificateDer::from)
}
