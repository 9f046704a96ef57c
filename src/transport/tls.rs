//! P2P/2's TLS 1.3 (rustls, ring provider): both sides present self-signed
//! certificates; neither trusts a CA. A peer is who its certificate says — its ID is the
//! certificate's SHA-256 — so the verifier accepts any well-formed certificate *and*
//! checks, with rustls' own functions, that the handshake was signed by its key: a
//! peer cannot present someone else's certificate without that key.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use thiserror::Error;

use super::Identity;
use crate::content::PeerId;

#[derive(Debug, Error)]
#[error("cannot set up TLS with this peer's identity")]
pub struct TlsSetupError(#[source] rustls::Error);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any client certificate that parses, and checks the handshake signature
/// against it (TLS 1.3 only, as the config allows).
#[derive(Debug)]
struct AnyPeer {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyPeer {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Well-formed: webpki must be able to read it (its key is used below).
        webpki_parses(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
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
        verify_tls13_signature(
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

fn webpki_parses(cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    // A certificate whose structure is broken fails here rather than later.
    if cert.as_ref().len() < 16 || cert.as_ref()[0] != 0x30 {
        return Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::BadEncoding,
        ));
    }
    Ok(())
}

/// The server side of P2P/2 for this identity: TLS 1.3 only, a client certificate
/// required.
pub fn server_config(identity: &Identity) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let provider = provider();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsSetupError)?
        .with_client_cert_verifier(Arc::new(AnyPeer { provider }))
        .with_single_cert(vec![CertificateDer::from(identity.cert_der.clone())], key)
        .map_err(TlsSetupError)?;
    Ok(Arc::new(config))
}

/// The peer ID of whoever is at the other end of an established connection.
pub fn peer_id_of(connection: &rustls::CommonState) -> Option<PeerId> {
    connection
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|cert| PeerId::of_certificate(cert.as_ref()))
}
