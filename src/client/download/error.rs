//! What can end a download, and why a source was not (or no longer) used. Each variant
//! says what was happening and keeps its cause as `#[source]`; the cause is printed
//! once, by whoever shows the error (`error_chain`).

use std::sync::Arc;

use thiserror::Error;

use crate::client::landing::LandingError;
use crate::client::{ClientError, PeerAddr};
use crate::content::{ChunkIndex, ContentHash, LayoutError};
use crate::error_chain::error_chain;

/// Why one source was dropped from a download (or never used).
#[derive(Debug, Error)]
pub enum SourceError {
    /// Talking to it failed (the error names the peer).
    #[error(transparent)]
    Peer(#[from] ClientError),
    #[error("{peer}: impossible info")]
    ImpossibleInfo {
        peer: PeerAddr,
        #[source]
        source: LayoutError,
    },
    #[error("{peer}: its chunk list disagrees with {agreeing} other source(s); not used")]
    Disagrees { peer: PeerAddr, agreeing: usize },
    #[error("{peer}: sent bytes that do not match chunk {index}; dropped")]
    BadChunk { peer: PeerAddr, index: ChunkIndex },
    #[error("{peer}: asked for {want} bytes, got {got}")]
    ShortPiece {
        peer: PeerAddr,
        want: usize,
        got: usize,
    },
    #[error("{peer}: lost the hash state of chunk {index} (a bug)")]
    LostHashState { peer: PeerAddr, index: ChunkIndex },
    #[error("{peer}: sent content that does not match its hash")]
    WrongContent { peer: PeerAddr },
    #[error("{peer}: its info says it has part of the file, but not which part")]
    BadHave { peer: PeerAddr },
    #[error("{peer}: still downloading it, and had nothing more for {secs} s; dropped")]
    NothingNew { peer: PeerAddr, secs: u64 },
}

impl SourceError {
    /// The peer, when this says it sent something false (not merely that talking to it
    /// failed): such a peer is not asked again within this download.
    pub fn liar(&self) -> Option<&PeerAddr> {
        match self {
            SourceError::BadChunk { peer, .. }
            | SourceError::ShortPiece { peer, .. }
            | SourceError::WrongContent { peer }
            | SourceError::BadHave { peer }
            | SourceError::ImpossibleInfo { peer, .. }
            | SourceError::Disagrees { peer, .. } => Some(peer),
            SourceError::Peer(_)
            | SourceError::LostHashState { .. }
            | SourceError::NothingNew { .. } => None,
        }
    }
}

/// Shared, because the same reason goes out as a progress event and into the result.
pub type SourceFailure = Arc<SourceError>;

#[derive(Debug, Error)]
pub enum DownloadError {
    #[error("no peer has {0}")]
    NoSource(ContentHash),
    #[error("every source failed ({}): {}", kept(*.done, *.size), one_line(.reasons))]
    SourcesFailed {
        done: u64,
        size: u64,
        reasons: Vec<SourceFailure>,
    },
    #[error("content from {peers} does not match sha256 {hash}; partial data discarded")]
    Mismatch { hash: ContentHash, peers: String },
    #[error(transparent)]
    Landing(#[from] LandingError),
}

fn kept(done: u64, size: u64) -> String {
    if done == 0 {
        "nothing kept".to_string()
    } else {
        format!("{done} of {size} bytes kept for a later get")
    }
}

/// Every reason, each with its causes, on one line.
pub fn one_line(all: &[SourceFailure]) -> String {
    if all.is_empty() {
        return "no source could be used".to_string();
    }
    all.iter()
        .map(|r| error_chain(r.as_ref()))
        .collect::<Vec<_>>()
        .join("; ")
}
