//! Content identity: the SHA-256 of a whole file, written as the 64 lower-case hex
//! digits `sha256sum` prints. Parsing accepts upper case too and normalises.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("not a SHA-256 (64 hex digits): {0:?}")]
pub struct BadHash(pub String);

impl ContentHash {
    pub fn from_bytes(bytes: [u8; 32]) -> ContentHash {
        ContentHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash of `data`, in one go.
    pub fn of(data: &[u8]) -> ContentHash {
        ContentHash::from_hasher(Sha256::new_with_prefix(data))
    }

    pub fn from_hasher(hasher: Sha256) -> ContentHash {
        ContentHash(hasher.finalize().into())
    }

    /// Whether `text` has the shape of a SHA-256 in hex.
    pub fn looks_like(text: &str) -> bool {
        text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// The first 16 hex digits, as short names and fallbacks use.
    pub fn short(&self) -> String {
        self.to_string()[..16].to_string()
    }
}

impl FromStr for ContentHash {
    type Err = BadHash;

    fn from_str(text: &str) -> Result<ContentHash, BadHash> {
        if !ContentHash::looks_like(text) {
            return Err(BadHash(text.chars().take(80).collect()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in text.as_bytes().chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]);
            let lo = hex_value(pair[1]);
            out[i] = (hi << 4) | lo;
        }
        Ok(ContentHash(out))
    }
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit.to_ascii_lowercase() - b'a' + 10,
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ContentHash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_matches_sha256sum() {
        assert_eq!(
            ContentHash::of(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_normalises_case_and_rejects_junk() {
        let lower = ContentHash::of(b"x").to_string();
        let parsed: ContentHash = lower.to_uppercase().parse().unwrap();
        assert_eq!(parsed.to_string(), lower);
        assert!("None".parse::<ContentHash>().is_err());
        assert!("zz".repeat(32).parse::<ContentHash>().is_err());
        assert!(lower[..63].parse::<ContentHash>().is_err());
    }
}
