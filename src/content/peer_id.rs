//! A peer's identity as people see it: the SHA-256 of its certificate (DER), written as
//! 52 characters of RFC 4648 base32, upper case, no padding (as Syncthing writes device
//! IDs); the short form is the first 7 characters (DESIGN §7).

use std::fmt;

use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId([u8; 32]);

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0:?} is not a peer ID (52 characters of base32)")]
pub struct BadPeerId(pub String);

impl PeerId {
    /// The ID of the certificate `der`.
    pub fn of_certificate(der: &[u8]) -> PeerId {
        PeerId(Sha256::digest(der).into())
    }

    /// The first 7 characters, as tables show it.
    pub fn short(&self) -> String {
        self.to_string()[..7].to_string()
    }

    pub fn parse(text: &str) -> Result<PeerId, BadPeerId> {
        let bad = || BadPeerId(text.chars().take(80).collect());
        let bytes = data_encoding::BASE32_NOPAD
            .decode(text.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| bad())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(PeerId(bytes))
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::BASE32_NOPAD.encode(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_52_characters_of_base32_and_parse_back() {
        let id = PeerId::of_certificate(b"a certificate");
        let text = id.to_string();
        assert_eq!(text.len(), 52);
        assert!(text
            .chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        assert_eq!(PeerId::parse(&text), Ok(id));
        assert_eq!(PeerId::parse(&text.to_lowercase()), Ok(id));
        assert_eq!(id.short(), text[..7]);
        assert!(PeerId::parse("ABC").is_err());
        assert!(PeerId::parse(&format!("{text}A")).is_err());
    }
}
