//! The asking side of a peer: connecting (P2P/1, or the seed's protocol when a peer
//! answers our preamble with anything else), pinging, searching every peer at once, and
//! downloading by hash.
//!
//! The client never trusts a peer: frame lengths are bounded before anything is
//! allocated, names are sanitized before they touch the disk, and no byte reaches a
//! final file name before the whole file's SHA-256 matches.

pub mod browse;
mod connect;
mod connection;
pub mod dialer;
pub mod download;
mod error;
mod fanout;
pub mod landing;
mod legacy;
pub mod manifest;
pub(crate) mod pex;
mod probe;
mod retry;
mod search;
mod select;
mod wake;

pub use crate::content::PeerAddr;
pub use crate::protocol::message::{EntryKind, ListEntry};
pub use connect::{bind_outgoing_to, connect, Link};
pub use connection::{download_limit, Connection};
pub use download::{download, DownloadPlan, Progress, Source, Target};
pub use error::ClientError;
pub use probe::{ping_all, PeerKind};
pub(crate) use search::group_rows;
pub use search::{info_all, search_all, PeerSearch, SearchRow};
pub use select::{choose, resolve_from, SelectError};

use std::time::Duration;

/// How long a peer may take to accept a connection and answer the preamble.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a peer may take to answer one request (search, info, ping).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a download waits for the next bytes before giving up on a source.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(15);
