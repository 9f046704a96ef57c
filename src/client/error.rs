//! What can go wrong talking to one peer. Every variant names the peer, so that one
//! line tells the user which peer failed and how.

use thiserror::Error;

use super::PeerAddr;
use crate::protocol::message::RemoteError;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("{peer}: cannot connect")]
    Connect {
        peer: PeerAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{peer}: no answer within {secs} s ({what})")]
    TimedOut {
        peer: PeerAddr,
        what: &'static str,
        secs: u64,
    },
    #[error("{peer}: connection lost")]
    Io {
        peer: PeerAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{peer}: closed the connection")]
    Closed { peer: PeerAddr },
    #[error(
        "{peer}: closed the connection without a word (overloaded, or its allow-list refuses this address)"
    )]
    Refused { peer: PeerAddr },
    #[error("{peer}: protocol error: {message}")]
    Protocol { peer: PeerAddr, message: String },
    /// The peer's own words (an error answer): the message, not a cause behind it.
    #[error("{peer}: {error}")]
    Remote { peer: PeerAddr, error: RemoteError },
    #[error("{peer}: a seed (legacy) peer cannot {what}")]
    LegacyCannot { peer: PeerAddr, what: &'static str },
}

impl ClientError {
    /// The peer answered that it has no such content (not a failure to reach it).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Remote { error, .. }
            if error.code == crate::protocol::message::ErrorCode::NotFound)
    }

    /// The whole message with its causes, on one line.
    pub fn line(&self) -> String {
        crate::error_chain::error_chain(self)
    }

    /// A short reason for a table cell: the message without the peer in front.
    pub fn reason(&self) -> String {
        let full = self.line();
        let peer = match self {
            ClientError::Connect { peer, .. }
            | ClientError::TimedOut { peer, .. }
            | ClientError::Io { peer, .. }
            | ClientError::Closed { peer }
            | ClientError::Refused { peer }
            | ClientError::Protocol { peer, .. }
            | ClientError::Remote { peer, .. }
            | ClientError::LegacyCannot { peer, .. } => peer.to_string(),
        };
        full.strip_prefix(&format!("{peer}: "))
            .unwrap_or(&full)
            .to_string()
    }
}
