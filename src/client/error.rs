//! What can go wrong talking to one peer. Every variant names the peer, so that one
//! line tells the user which peer failed and how.

use thiserror::Error;

use super::PeerAddr;
use crate::content::PeerId;
use crate::protocol::message::RemoteError;
use crate::transport::{IdentityError, KnownPeersError, TlsSetupError};

/// Why this peer cannot encrypt, and so connects to nobody (never falling back to the
/// clear): its identity or its known peers cannot be read.
#[derive(Debug, Error)]
pub enum CannotEncrypt {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(transparent)]
    KnownPeers(#[from] KnownPeersError),
}

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
        "{peer}: refuses this peer's ID (its [server] allow_ids does not list it; `p2p id` \
         prints this peer's ID)"
    )]
    IdNotAllowed { peer: PeerAddr },
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
    #[error("{peer}: the TLS handshake failed")]
    Tls {
        peer: PeerAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{peer}: answers only without encryption, and {why}: refused")]
    NotEncrypted { peer: PeerAddr, why: &'static str },
    #[error("{peer}: presents peer ID {got}, but it is pinned to {pinned}: refused")]
    WrongId {
        peer: PeerAddr,
        pinned: PeerId,
        got: PeerId,
    },
    #[error(
        "{peer}: PEER ID CHANGED: known as {known}, now presents {got}; refused (someone may be \
         in the middle; if the peer really has a new identity: peers forget {peer})"
    )]
    IdChanged {
        peer: PeerAddr,
        known: PeerId,
        got: PeerId,
    },
    #[error(
        "{peer}: known as peer ID {known}, now answers only without encryption; refused \
         (someone may be in the middle; if the peer really dropped P2P/2: peers forget {peer})"
    )]
    Downgraded { peer: PeerAddr, known: PeerId },
    #[error("{peer}: not connecting")]
    NoIdentity {
        peer: PeerAddr,
        /// Shared: one cause, made once, for every connection this process tries.
        #[source]
        source: std::sync::Arc<CannotEncrypt>,
    },
    #[error("{peer}: cannot keep its peer ID")]
    KnownPeers {
        peer: PeerAddr,
        #[source]
        source: KnownPeersError,
    },
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
            | ClientError::IdNotAllowed { peer }
            | ClientError::Refused { peer }
            | ClientError::Protocol { peer, .. }
            | ClientError::Remote { peer, .. }
            | ClientError::LegacyCannot { peer, .. }
            | ClientError::Tls { peer, .. }
            | ClientError::NotEncrypted { peer, .. }
            | ClientError::WrongId { peer, .. }
            | ClientError::IdChanged { peer, .. }
            | ClientError::Downgraded { peer, .. }
            | ClientError::KnownPeers { peer, .. }
            | ClientError::NoIdentity { peer, .. } => peer.to_string(),
        };
        full.strip_prefix(&format!("{peer}: "))
            .unwrap_or(&full)
            .to_string()
    }
}
