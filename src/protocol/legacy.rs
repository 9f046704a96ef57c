//! The seed's protocol: one message per connection, read as its first 1024 bytes.
//!
//! A message containing `download:` asks for the bytes of the file with the hash that
//! remains once `download:` is removed (as the seed's `replace` does); anything else is
//! a file name, answered with that file's hash or `None`.

/// How much of a legacy connection's first bytes make its message, as in the seed.
pub const MESSAGE_LIMIT: usize = 1024;

/// The seed's answer for "no such file".
pub const NONE_ANSWER: &str = "None";

const DOWNLOAD_TAG: &str = "download:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyRequest {
    /// "Which hash has the file called this?"
    Lookup(String),
    /// "Send me the bytes of this hash."
    Download(String),
}

impl LegacyRequest {
    /// Parses a message. Invalid UTF-8 is replaced so that it simply matches nothing.
    /// A trailing line ending (a person typing into `nc`) is not part of the name.
    pub fn parse(message: &[u8]) -> LegacyRequest {
        let text = String::from_utf8_lossy(message);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.contains(DOWNLOAD_TAG) {
            LegacyRequest::Download(text.replace(DOWNLOAD_TAG, ""))
        } else {
            LegacyRequest::Lookup(text.to_string())
        }
    }

    pub fn to_message(&self) -> Vec<u8> {
        match self {
            LegacyRequest::Lookup(name) => name.as_bytes().to_vec(),
            LegacyRequest::Download(hash) => format!("{DOWNLOAD_TAG}{hash}").into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_the_seed() {
        assert_eq!(
            LegacyRequest::parse(b"report.pdf"),
            LegacyRequest::Lookup("report.pdf".into())
        );
        assert_eq!(
            LegacyRequest::parse(b"download:abc\r\n"),
            LegacyRequest::Download("abc".into())
        );
        assert_eq!(
            LegacyRequest::parse(b"download:None"),
            LegacyRequest::Download("None".into())
        );
        assert!(matches!(
            LegacyRequest::parse(b"\xff\x00x"),
            LegacyRequest::Lookup(_)
        ));
    }
}
