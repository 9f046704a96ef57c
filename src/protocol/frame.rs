//! Frame codec: `u32 BE length` · `u8 type` · body.
//!
//! [`decode`] looks at a buffer and answers "need more" (`Ok(None)`), "a frame and the
//! bytes it used", or "malformed". It never consumes anything on "need more" and
//! checks the length prefix against the caller's limit before any body is awaited, so
//! a peer claiming 4 GiB costs nothing.

use thiserror::Error;

use super::message::ErrorCode;

/// Bytes before the body: the length prefix and the type byte.
pub const HEADER_LEN: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    Request,
    Answer,
    Data,
}

impl FrameType {
    pub fn to_byte(self) -> u8 {
        match self {
            FrameType::Request => 0x01,
            FrameType::Answer => 0x02,
            FrameType::Data => 0x03,
        }
    }

    fn from_byte(byte: u8) -> Option<FrameType> {
        match byte {
            0x01 => Some(FrameType::Request),
            0x02 => Some(FrameType::Answer),
            0x03 => Some(FrameType::Data),
            _ => None,
        }
    }
}

/// A frame whose header cannot be accepted; the connection cannot go on after it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    #[error("malformed frame: length 0")]
    ZeroLength,
    #[error("malformed frame: unknown type 0x{0:02x}")]
    UnknownType(u8),
    #[error("frame body of {len} bytes is over the limit of {limit}")]
    TooLarge { len: u64, limit: usize },
}

impl FrameError {
    /// The protocol error code the server answers this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge { .. } => ErrorCode::TooLarge,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// A decoded frame header: what the body is and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: FrameType,
    pub body_len: usize,
}

/// Parses a header from the start of `buf` if its 5 bytes are there.
/// `max_body` bounds the body length; it is checked as soon as the 4 length bytes are in.
pub fn decode_header(buf: &[u8], max_body: usize) -> Result<Option<FrameHeader>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as u64;
    if len == 0 {
        return Err(FrameError::ZeroLength);
    }
    let body_len = len - 1;
    if body_len > max_body as u64 {
        return Err(FrameError::TooLarge {
            len: body_len,
            limit: max_body,
        });
    }
    let Some(&type_byte) = buf.get(4) else {
        return Ok(None);
    };
    let kind = FrameType::from_byte(type_byte).ok_or(FrameError::UnknownType(type_byte))?;
    Ok(Some(FrameHeader {
        kind,
        body_len: body_len as usize,
    }))
}

/// A whole frame found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub kind: FrameType,
    pub body: &'a [u8],
    /// Bytes of the buffer this frame took, header included.
    pub used: usize,
}

/// Decodes one whole frame from the start of `buf`, or says that more bytes are needed.
pub fn decode(buf: &[u8], max_body: usize) -> Result<Option<Decoded<'_>>, FrameError> {
    let Some(header) = decode_header(buf, max_body)? else {
        return Ok(None);
    };
    let end = HEADER_LEN + header.body_len;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Decoded {
        kind: header.kind,
        body: &buf[HEADER_LEN..end],
        used: end,
    }))
}

/// The 5 header bytes of a frame with a body of `body_len` bytes.
///
/// `body_len` must be below `u32::MAX`; every caller sends bodies bounded by the
/// protocol limits (a few MiB), far below it.
pub fn encode_header(kind: FrameType, body_len: usize) -> [u8; HEADER_LEN] {
    let len = (body_len as u32).wrapping_add(1).to_be_bytes();
    [len[0], len[1], len[2], len[3], kind.to_byte()]
}

/// Appends a whole frame to `out`.
pub fn encode(kind: FrameType, body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&encode_header(kind, body.len()));
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: FrameType, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(kind, body, &mut out);
        out
    }

    #[test]
    fn round_trip_and_split_at_every_offset() {
        let mut stream = frame(FrameType::Request, br#"{"op":"ping"}"#);
        stream.extend(frame(FrameType::Data, b""));
        stream.extend(frame(FrameType::Answer, b"{}"));
        for cut in 0..stream.len() {
            // A prefix either decodes the first frame whole or asks for more; never errs.
            match decode(&stream[..cut], 1024).unwrap() {
                None => assert!(cut < 5 + 13),
                Some(d) => {
                    assert_eq!(d.kind, FrameType::Request);
                    assert_eq!(d.body, br#"{"op":"ping"}"#);
                }
            }
        }
        let mut rest = &stream[..];
        let mut kinds = Vec::new();
        while let Some(d) = decode(rest, 1024).unwrap() {
            kinds.push((d.kind, d.body.len()));
            rest = &rest[d.used..];
        }
        assert!(rest.is_empty());
        assert_eq!(
            kinds,
            vec![
                (FrameType::Request, 13),
                (FrameType::Data, 0),
                (FrameType::Answer, 2)
            ]
        );
    }

    #[test]
    fn oversize_is_refused_from_the_length_alone() {
        let huge = [0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            decode(&huge, 65536),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(
            decode(&huge, 65536).unwrap_err().code(),
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn zero_length_and_unknown_type_are_malformed() {
        assert_eq!(decode(&[0, 0, 0, 0], 10), Err(FrameError::ZeroLength));
        assert_eq!(
            decode(&[0, 0, 0, 1, 9], 10),
            Err(FrameError::UnknownType(9))
        );
        assert_eq!(
            decode(&[0, 0, 0, 1, 9], 10).unwrap_err().code(),
            ErrorCode::BadRequest
        );
    }
}
