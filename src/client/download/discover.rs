//! Before a chunked download: ask every P2P/1 source for `info` at once, check each
//! claim, and keep the sources that agree with the most others.
//!
//! A chunk list is a peer's claim, not the truth (the whole-file hash is). A source
//! whose layout is impossible, or whose chunk list differs from the majority's, is
//! dropped for this download; if the majority itself lied, the whole-file check at the
//! end catches it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use super::error::{SourceError, SourceFailure};
use crate::client::{connect, retry, ClientError, Connection, Link, PeerAddr};
use crate::content::hash::ContentHash;
use crate::content::layout::Layout;
use crate::protocol::message::{InfoAnswer, Request};

pub struct Agreed {
    pub layout: Layout,
    pub name: String,
    pub chunks: Vec<ContentHash>,
    pub sources: Vec<(PeerAddr, Connection)>,
}

async fn open_with_info(
    peer: &PeerAddr,
    hash: ContentHash,
    io_timeout: Duration,
) -> Result<(Connection, InfoAnswer), ClientError> {
    match connect(peer, io_timeout).await? {
        Link::P2p(mut conn) => {
            let info: InfoAnswer = conn.request(&Request::Info { sha256: hash }).await?;
            Ok((conn, info))
        }
        Link::Legacy => Err(ClientError::LegacyCannot {
            peer: peer.clone(),
            what: "look up a hash",
        }),
    }
}

/// One claim about the file, and the sources that made it.
type Claim = (Layout, InfoAnswer, Vec<(PeerAddr, Connection)>);

/// Asks every peer at once; returns the agreeing sources (if any) and why others fell.
pub async fn discover(
    peers: &[PeerAddr],
    hash: ContentHash,
    io_timeout: Duration,
) -> (Option<Agreed>, Vec<SourceFailure>) {
    let answers = join_all(peers.iter().map(|peer| async move {
        let answer = retry::when_busy(|| open_with_info(peer, hash, io_timeout)).await;
        (peer.clone(), answer)
    }))
    .await;
    let mut reasons = Vec::new();
    // Groups of sources making the same claim, in order of first appearance.
    let mut groups: Vec<Claim> = Vec::new();
    for (peer, answer) in answers {
        let (conn, info) = match answer {
            Ok(found) => found,
            Err(e) => {
                reasons.push(Arc::new(e.into()));
                continue;
            }
        };
        let layout = match Layout::from_claim(info.size, info.chunk_size, info.chunks.len()) {
            Ok(layout) => layout,
            Err(e) => {
                reasons.push(Arc::new(SourceError::ImpossibleInfo { peer, source: e }));
                continue;
            }
        };
        match groups
            .iter_mut()
            .find(|(l, i, _)| *l == layout && i.chunks == info.chunks)
        {
            Some((_, _, members)) => members.push((peer, conn)),
            None => groups.push((layout, info, vec![(peer, conn)])),
        }
    }
    // The largest group wins; on a tie, the one that answered first in peer order.
    let best = groups
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, _, members))| (members.len(), std::cmp::Reverse(*i)))
        .map(|(i, _)| i);
    let Some(best) = best else {
        return (None, reasons);
    };
    let (layout, info, sources) = groups.swap_remove(best);
    for (_, _, members) in groups {
        for (peer, _) in members {
            reasons.push(Arc::new(SourceError::Disagrees {
                peer,
                agreeing: sources.len(),
            }));
        }
    }
    (
        Some(Agreed {
            layout,
            name: info.name,
            chunks: info.chunks,
            sources,
        }),
        reasons,
    )
}
