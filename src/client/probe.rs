//! `ping` of every peer at once: who is up, what they share, and the round trip.

use std::time::{Duration, Instant};

use super::fanout::each_peer;
use super::{connect, retry, ClientError, Link, PeerAddr, REQUEST_TIMEOUT};
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
    pub rtt: Duration,
}

pub async fn ping(peer: &PeerAddr) -> Result<PeerStatus, ClientError> {
    let started = Instant::now();
    match connect(peer, REQUEST_TIMEOUT).await? {
        Link::Legacy => Ok(PeerStatus {
            kind: PeerKind::Legacy,
            rtt: started.elapsed(),
        }),
        Link::P2p(mut conn) => {
            let sent = Instant::now();
            let answer: PingAnswer = conn.request(&Request::Ping).await?;
            Ok(PeerStatus {
                kind: PeerKind::P2p(answer),
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
