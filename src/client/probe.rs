//! `ping` of every peer at once: who is up, what they share, and the round trip.

use std::time::{Duration, Instant};

use super::{connect, retry, ClientError, Link, PeerAddr, REQUEST_TIMEOUT};
use crate::protocol::message::{PingAnswer, Request};
use crate::runtime;

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
    let tasks: Vec<_> = peers
        .iter()
        .cloned()
        .map(|peer| {
            runtime::spawn(async move {
                let result = retry::when_busy(|| ping(&peer)).await;
                (peer, result)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await);
    }
    out
}
