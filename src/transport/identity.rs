//! This peer's identity: an ECDSA key pair and a self-signed certificate made with
//! `rcgen` on first start, kept in `node.state_dir/identity.pem` (key and certificate,
//! readable by its owner only). It is created atomically: written to a temporary file,
//! then linked to its name, which fails if another process made one meanwhile, and then
//! that one is used; so peers that share a state_dir and start at once end up with one
//! identity, never two. A damaged file is an error that says so, never silently replaced
//! (a new identity would be a new peer to everyone who knows this one).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::content::PeerId;

const FILE: &str = "identity.pem";
const KEY_TAG: &str = "PRIVATE KEY";
const CERT_TAG: &str = "CERTIFICATE";

#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("cannot read or write this peer's identity {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("this peer's identity {path} is damaged ({what}); move it away to make a new one (a new identity is a new peer to everyone who pinned this one)")]
    Damaged { path: PathBuf, what: String },
    #[error("cannot make an identity")]
    Make(#[source] rcgen::Error),
}

pub struct Identity {
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
    /// The self-signed certificate, DER.
    pub cert_der: Vec<u8>,
    pub id: PeerId,
}

impl Identity {
    /// The identity in `state_dir`, made on first use.
    pub fn load_or_create(state_dir: &Path) -> Result<Identity, IdentityError> {
        let path = state_dir.join(FILE);
        let io = |source| IdentityError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => return parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let text = make()?;
        let temp = state_dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut file| {
                file.write_all(text.as_bytes())?;
                file.sync_all()
            });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(io(e));
        }
        let linked = std::fs::hard_link(&temp, &path);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => parse(&path, &text),
            // Another process made one first: that one is this peer's identity.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).map_err(io)?;
                parse(&path, &text)
            }
            Err(e) => Err(io(e)),
        }
    }
}

fn make() -> Result<String, IdentityError> {
    let key = rcgen::KeyPair::generate().map_err(IdentityError::Make)?;
    let params =
        rcgen::CertificateParams::new(vec!["p2p".to_string()]).map_err(IdentityError::Make)?;
    let cert = params.self_signed(&key).map_err(IdentityError::Make)?;
    Ok(format!("{}{}", key.serialize_pem(), cert.pem()))
}

fn parse(path: &Path, text: &str) -> Result<Identity, IdentityError> {
    let damaged = |what: &str| IdentityError::Damaged {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    let blocks = pem::parse_many(text).map_err(|_| damaged("not PEM"))?;
    let find = |tag: &str| {
        blocks
            .iter()
            .find(|b| b.tag() == tag)
            .map(|b| b.contents().to_vec())
    };
    let key_der = find(KEY_TAG).ok_or_else(|| damaged("no private key"))?;
    let cert_der = find(CERT_TAG).ok_or_else(|| damaged("no certificate"))?;
    let key = rcgen::KeyPair::try_from(key_der.as_slice())
        .map_err(|_| damaged("the private key does not parse"))?;
    // Whole and self-consistent: a certificate that parses and is signed by the key it
    // carries, and that key is this one's public half.
    if !super::tls::self_signed_and_whole(&cert_der) {
        return Err(damaged(
            "the certificate does not parse or its signature does not check",
        ));
    }
    let public = key.public_key_raw();
    if !cert_der.windows(public.len()).any(|w| w == public) {
        return Err(damaged("the certificate is not this key's"));
    }
    Ok(Identity {
        id: PeerId::of_certificate(&cert_der),
        key_der,
        cert_der,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_the_same_and_damage_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path()).unwrap();
        let again = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(first.id, again.id);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
        std::fs::write(dir.path().join(FILE), "garbage").unwrap();
        assert!(matches!(
            Identity::load_or_create(dir.path()),
            Err(IdentityError::Damaged { .. })
        ));
    }

    /// One byte changed anywhere in the certificate is damage, not another identity:
    /// in its body, its signature, or its outer structure.
    #[test]
    fn a_certificate_changed_by_one_byte_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let good = Identity::load_or_create(dir.path()).unwrap();
        let key = pem::Pem::new(KEY_TAG, good.key_der.clone());
        let len = good.cert_der.len();
        for at in [4, len / 3, len / 2, len - 40, len - 1] {
            let mut cert = good.cert_der.clone();
            cert[at] ^= 0x01;
            let text = pem::encode_many(&[key.clone(), pem::Pem::new(CERT_TAG, cert)]);
            assert!(
                matches!(
                    parse(Path::new("identity.pem"), &text),
                    Err(IdentityError::Damaged { .. })
                ),
                "a change at byte {at} of {len} was taken"
            );
        }
        let text = pem::encode_many(&[key, pem::Pem::new(CERT_TAG, good.cert_der.clone())]);
        assert_eq!(parse(Path::new("identity.pem"), &text).unwrap().id, good.id);
    }
}
