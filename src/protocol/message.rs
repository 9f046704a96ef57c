//! The JSON bodies of P2P/1 request and answer frames.
//!
//! | op | request fields | answer |
//! |---|---|---|
//! | `ping` | — | `name`, `version`, `files`, `bytes` |
//! | `search` | `query`, `limit` | `results`: [{`name`,`path`,`size`,`sha256`,`modified`}], `truncated` |
//! | `info` | `sha256` | `name`, `size`, `chunk_size`, `chunks` |
//! | `read` | `sha256`, `offset`, `len` | one data frame with exactly those bytes (shorter at EOF) |
//! | `peers` | — | `peers`: [{`addr`,`name`}]: peers the server knows and reached lately (peer exchange) |
//!
//! Unknown fields are ignored, so that a later version may add some.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::content::hash::ContentHash;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    Ping,
    Search {
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u64>,
    },
    Info {
        sha256: ContentHash,
    },
    Read {
        sha256: ContentHash,
        offset: u64,
        len: u64,
    },
    Peers,
    /// A folder of the shares (DESIGN §9): `""` for the top.
    List {
        #[serde(default)]
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u64>,
    },
}

/// One entry of a `list` answer: a file (`size`, `sha256`) or a folder (`files`, `bytes`:
/// everything below it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub name: String,
    pub path: String,
    pub kind: EntryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAnswer {
    pub entries: Vec<ListEntry>,
    /// Entries in the folder, whatever the page.
    pub total: u64,
}

impl Request {
    /// Parses a request body. The error says what was wrong, for a `bad_request`.
    pub fn parse(body: &[u8]) -> Result<Request, BadRequest> {
        serde_json::from_slice(body).map_err(|e| BadRequest(e.to_string()))
    }

    pub fn to_body(&self) -> Vec<u8> {
        // A Request holds only strings and integers: serialising it cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingAnswer {
    pub name: String,
    pub version: u32,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub name: String,
    pub path: String,
    pub size: u64,
    pub sha256: ContentHash,
    pub modified: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchAnswer {
    pub results: Vec<SearchHit>,
    pub truncated: bool,
}

/// One peer in a `peers` answer: where it listens, and the name it answered `ping` with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PexEntry {
    pub addr: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersAnswer {
    pub peers: Vec<PexEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoAnswer {
    pub name: String,
    pub size: u64,
    pub chunk_size: u64,
    pub chunks: Vec<ContentHash>,
    /// `false` for a file the peer is still downloading (DESIGN §9); older peers say
    /// nothing, which means complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// A partial file's verified chunks: one bit each, chunk 0 in the lowest bit of the
    /// first byte, in hex (exactly ceil(chunks / 8) bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub have: Option<String>,
}

impl InfoAnswer {
    pub fn is_complete(&self) -> bool {
        self.complete != Some(false)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    OutOfRange,
    TooLarge,
    Busy,
    Internal,
    /// The server speaks only P2P/2 (`require_encryption`, `allow_ids`).
    EncryptionRequired,
    /// A `read` of a chunk a partial source does not have yet (DESIGN §9).
    Unavailable,
    /// A code this version does not know; kept so that a newer server's answer still parses.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Busy => "busy",
            ErrorCode::Internal => "internal",
            ErrorCode::EncryptionRequired => "encryption_required",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unknown => "unknown",
        }
    }
}

/// An error answer: `{"error":{"code":…,"message":…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
#[error("{code}: {message}", code = .code.as_str())]
pub struct RemoteError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Serialize, Deserialize)]
struct ErrorEnvelope {
    error: RemoteError,
}

impl RemoteError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> RemoteError {
        RemoteError {
            code,
            message: message.into(),
        }
    }

    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(&ErrorEnvelope {
            error: self.clone(),
        })
        .unwrap_or_default()
    }
}

/// A request body that is not what the protocol says it must be. Its text goes back to
/// the client in a `bad_request` answer, so it holds the parser's words, not the error.
#[derive(Debug, Error)]
#[error("bad request: {0}")]
pub struct BadRequest(String);

/// An answer body that is not what the protocol says it must be.
#[derive(Debug, Error)]
#[error("malformed answer: {0}")]
pub struct MalformedAnswer(String);

/// Serialises a successful answer body.
pub fn answer_body<T: Serialize>(answer: &T) -> Vec<u8> {
    serde_json::to_vec(answer).unwrap_or_default()
}

/// Parses an answer body: the expected answer, the peer's error answer, or malformed.
pub fn parse_answer<T: DeserializeOwned>(
    body: &[u8],
) -> Result<Result<T, RemoteError>, MalformedAnswer> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| MalformedAnswer(e.to_string()))?;
    if value.get("error").is_some() {
        let envelope: ErrorEnvelope =
            serde_json::from_value(value).map_err(|e| MalformedAnswer(e.to_string()))?;
        return Ok(Err(envelope.error));
    }
    serde_json::from_value(value)
        .map(Ok)
        .map_err(|e| MalformedAnswer(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_from_the_documented_json() {
        assert_eq!(
            Request::parse(br#"{"op":"ping"}"#).ok(),
            Some(Request::Ping)
        );
        let hash = ContentHash::of(b"");
        let read = format!(r#"{{"op":"read","sha256":"{hash}","offset":5,"len":7,"x":1}}"#);
        assert_eq!(
            Request::parse(read.as_bytes()).ok(),
            Some(Request::Read {
                sha256: hash,
                offset: 5,
                len: 7
            })
        );
        assert!(Request::parse(br#"{"op":"explode"}"#).is_err());
        assert!(Request::parse(br#"{"op":"info","sha256":"None"}"#).is_err());
        assert!(Request::parse(b"\xff\xfe").is_err());
    }

    #[test]
    fn error_answers_are_told_apart() {
        let body = RemoteError::new(ErrorCode::Busy, "full").to_body();
        let parsed = parse_answer::<PingAnswer>(&body).unwrap();
        assert_eq!(parsed.unwrap_err().code, ErrorCode::Busy);
        let body = br#"{"error":{"code":"teapot","message":"?"}}"#;
        assert_eq!(
            parse_answer::<PingAnswer>(body).unwrap().unwrap_err().code,
            ErrorCode::Unknown
        );
        assert!(parse_answer::<PingAnswer>(b"[]").is_err());
    }
}
