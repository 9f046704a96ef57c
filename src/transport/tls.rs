//! P2P/2's TLS 1.3 (rustls, ring provider): both sides present self-signed
//! certificates; neither trusts a CA. A peer is who its certificate says — its ID is the
//! certificate's SHA-256 — so the verifier accepts any well-formed certificate *and*
//! checks, with rustls' own functions, that the handshake was signed by its key: a
//! peer cannot present someone else's certificate without that key.

use std::collections::HashSet;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
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

/// Accepts any certificate that parses, from either side, and checks the handshake
/// signature against it (TLS 1.3 only, as both configs allow). Who the peer is — its
/// ID — is judged after the handshake, by the caller (pins, known peers, `allow_ids`).
#[derive(Debug)]
struct AnyPeer {
    provider: Arc<CryptoProvider>,
    /// The server's `allow_ids`: when set, a client certificate whose ID is not among
    /// them fails the handshake (the client gets a TLS alert).
    allowed_clients: Option<HashSet<PeerId>>,
}

impl AnyPeer {
    fn tls12(
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

    fn tls13(
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

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ServerCertVerifier for AnyPeer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        webpki_parses(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
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
        if let Some(allowed) = &self.allowed_clients {
            if !allowed.contains(&PeerId::of_certificate(end_entity.as_ref())) {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

/// A peer's certificate must parse as webpki reads an end-entity certificate; one that
/// does not fails here, with `BadEncoding`, rather than later at the signature check.
fn webpki_parses(cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    rustls::server::ParsedCertificate::try_from(cert).map(|_| ())
}

/// Whether `cert` is a whole, well-formed certificate signed by its own key, as this
/// peer's own certificate must be: webpki parses it strictly and checks its signature
/// with the certificate itself as the only trust anchor (a client-certificate check:
/// no name to match). A byte changed anywhere in it fails here, where otherwise it
/// would only change the ID.
pub(super) fn self_signed_and_whole(cert: &[u8]) -> bool {
    let cert = CertificateDer::from(cert);
    let mut roots = rustls::RootCertStore::empty();
    if roots.add(cert.clone()).is_err() {
        return false;
    }
    let Ok(verifier) =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
    else {
        return false;
    };
    verifier
        .verify_client_cert(&cert, &[], UnixTime::now())
        .is_ok()
}

/// The server side of P2P/2 for this identity: TLS 1.3 only, a client certificate
/// required; with `allow_ids` not empty, only those clients' certificates.
pub fn server_config(
    identity: &Identity,
    allow_ids: &[PeerId],
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let provider = provider();
    let allowed_clients = (!allow_ids.is_empty()).then(|| allow_ids.iter().copied().collect());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsSetupError)?
        .with_client_cert_verifier(Arc::new(AnyPeer {
            provider,
            allowed_clients,
        }))
        .with_single_cert(vec![CertificateDer::from(identity.cert_der.clone())], key)
        .map_err(TlsSetupError)?;
    Ok(Arc::new(config))
}

/// The client side of P2P/2 for this identity: TLS 1.3 only, presenting this peer's
/// certificate. No SNI: the name we dial says nothing a peer needs, and would be sent in
/// the clear.
pub fn client_config(identity: &Identity) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let provider = provider();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_der.clone()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsSetupError)?
        // rustls' custom-verifier API (it sits under `dangerous()`): certificates are
        // self-signed, so no CA can vouch; the handshake signature is still checked.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyPeer {
            provider,
            allowed_clients: None,
        }))
        .with_client_auth_cert(vec![CertificateDer::from(identity.cert_der.clone())], key)
        .map_err(TlsSetupError)?;
    config.enable_sni = false;
    Ok(Arc::new(config))
}

/// Whether a TLS error is the server's `allow_ids` refusing this client's certificate,
/// as the server sees it (its verifier's verdict below).
pub fn we_refused_their_id(error: &std::io::Error) -> bool {
    matches!(
        rustls_error(error),
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure
        ))
    )
}

/// Whether a TLS error is the peer's `access_denied` alert: its `allow_ids` does not list
/// this peer. In TLS 1.3 the server judges the client's certificate after the client's
/// side of the handshake is done, so the alert usually comes at the first read.
pub fn peer_refused_our_id(error: &std::io::Error) -> bool {
    matches!(
        rustls_error(error),
        Some(rustls::Error::AlertReceived(
            rustls::AlertDescription::AccessDenied
        ))
    )
}

/// The rustls error inside an I/O error of a TLS stream, if that is what it is.
fn rustls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// The peer ID of whoever is at the other end of an established connection.
pub fn peer_id_of(connection: &rustls::CommonState) -> Option<PeerId> {
    connection
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|cert| PeerId::of_certificate(cert.as_ref()))
}
