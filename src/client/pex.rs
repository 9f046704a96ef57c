//! Peer exchange, the client's side: ask peers which peers they know (P2P/1 `peers`),
//! and turn the answers into a bounded list of new addresses to ask in the same command
//! (one hop). What peers say is a hint: garbage is skipped, duplicates and known peers
//! dropped, and the list cut at [`MAX_NEW`], however much a peer sends.

use super::fanout::each_peer;
use super::{connect, ClientError, Link, PeerAddr, REQUEST_TIMEOUT};
use crate::protocol::message::{PeersAnswer, Request};

/// The most new peers one hop adds to a command (DESIGN §6: fan-out stays bounded).
pub const MAX_NEW: usize = 64;

/// The peers `peer` names, as it answered.
pub async fn peers_of(peer: &PeerAddr) -> Result<PeersAnswer, ClientError> {
    match connect(peer, REQUEST_TIMEOUT).await? {
        Link::P2p(mut conn) => conn.request(&Request::Peers).await,
        Link::Legacy => Err(ClientError::LegacyCannot {
            peer: peer.clone(),
            what: "name other peers",
        }),
    }
}

/// Asks each of `asked` for its peers; returns the new ones (not in `known`, not one of
/// `own` addresses), with the names they were given, at most [`MAX_NEW`].
pub async fn one_hop(
    asked: &[PeerAddr],
    known: &[PeerAddr],
    own: &[PeerAddr],
) -> Vec<(PeerAddr, Option<String>)> {
    let answers = each_peer(asked, |peer| async move { peers_of(&peer).await }).await;
    let mut found: Vec<(PeerAddr, Option<String>)> = Vec::new();
    for answer in answers.into_iter().flatten() {
        for entry in answer.peers {
            if found.len() >= MAX_NEW {
                return found;
            }
            let Ok(addr) = PeerAddr::parse(&entry.addr) else {
                continue;
            };
            if known.contains(&addr) || own.contains(&addr) || found.iter().any(|(a, _)| *a == addr)
            {
                continue;
            }
            found.push((addr, entry.name));
        }
    }
    found
}
