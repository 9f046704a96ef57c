//! `ping` of every peer at once: who is up, what they share, and the round trip.

use std::time::{Duration, Instant};

use super::fanout::each_peer;
use super::{connect, retry, ClientError, Link, PeerAddr, REQUEST_TIMEOUT};
use crate::content::PeerId;
use crate::protocol::message::{PingAnswer, Request};

#[derive(Debug, Clone)]
pub enum PeerKind {
    P2p(PingAnswer),
    /// A seed peer: it answers, but cannot say its name or what it shares.
    Legacy,
}

#[derive(Debug, Clone)]
pub struct PeerStatus {
    pub kind: PeerKind,
    /// Its ID, when it spoke P2P/2 (`None`: P2P/1 in the clear, or a seed peer).
    pub id: Option<PeerId>,
    pub rtt: Duration,
}

impl PeerStatus {
    /// `p2p/2`, `p2p/1` or `legacy` (DESIGN §7's names, as `--json` gives them).
    pub fn protocol(&self) -> &'static str {
        match (&self.kind, self.id) {
            (PeerKind::Legacy, _) => "legacy",
            (PeerKind::P2p(_), Some(_)) => "p2p/2",
            (PeerKind::P2p(_), None) => "p2p/1",
        }
    }
}

pub async fn ping(peer: &PeerAddr) -> Result<PeerStatus, ClientError> {
    let started = Instant::now();
    match connect(peer, REQUEST_TIMEOUT).await? {
        Link::Legacy => Ok(PeerStatus {
            kind: PeerKind::Legacy,
            id: None,
            rtt: started.elapsed(),
        }),
        Link::P2p(mut conn) => {
            let sent = Instant::now();
            let answer: PingAnswer = conn.request(&Request::Ping).await?;
            Ok(PeerStatus {
                kind: PeerKind::P2p(answer),
                id: conn.peer_id(),
                rtt: sent.elapsed(),
            })
        }
    }
}

/// Pings every peer concurrently; results come back in the order of `peers`.
pub async fn ping_all(peers: &[PeerAddr]) -> Vec<(PeerAddr, Result<PeerStatus, ClientError>)> {
    each_peer(peers, |peer| async move {
        let result = retry::when_busy(|| ping(&peer)).await;
        (peer, result)
    })
    .await
}
