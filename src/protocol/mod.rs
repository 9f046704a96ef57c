//! The wire protocols, as pure data: bytes in, messages out, and back. No socket, no
//! file, no clock lives here, which is what lets every parser be fed byte slices in
//! tests and fuzzers.
//!
//! # P2P/1
//!
//! TCP. The client opens with the 5-byte preamble `00 50 32 50 01` (NUL, "P2P",
//! version 1) and the server answers with the same 5 bytes. Then frames, answered
//! strictly in order; a client may pipeline many requests before reading answers.
//!
//! A frame is `u32 big-endian length L` (of what follows), `u8 type`, `L-1` bytes of
//! body. Types: `0x01` request (client → server, one UTF-8 JSON object with `"op"`),
//! `0x02` answer (one JSON object, `{"error":{"code","message"}}` on failure), `0x03`
//! data (raw bytes answering a `read`). Ops: `ping`, `search`, `info`, `read` — see
//! [`message`]. Limits are checked on the length prefix, before anything is allocated.
//!
//! # Legacy (the seed's protocol)
//!
//! A connection whose first byte is not `0x00` is a seed client: one message of at most
//! 1024 bytes, a bare file name (answered with a hash or `None`) or `download:<hash>`
//! (answered with the raw bytes), then close. See [`legacy`].

pub mod frame;
pub mod legacy;
pub mod message;
pub mod name;

/// The 5 bytes both sides send first on a P2P/1 connection.
pub const PREAMBLE: [u8; 5] = [0x00, b'P', b'2', b'P', 0x01];

/// P2P/2's preamble: the same frames and ops inside TLS 1.3 (DESIGN §7).
pub const PREAMBLE_V2: [u8; 5] = [0x00, b'P', b'2', b'P', 0x02];

pub use crate::content::DEFAULT_PORT;

/// The protocol version `ping` reports.
pub const VERSION: u32 = 1;

/// The largest answer frame a server sends (an `info` chunk list or a page of search
/// results must fit), and so the largest a client accepts.
pub const MAX_ANSWER_BYTES: usize = crate::content::layout::INFO_ANSWER_BYTES;
