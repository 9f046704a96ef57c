//! Asking every peer at once: one task per peer, at most [`MAX_AT_ONCE`] connections
//! at a time however many peers there are (DESIGN §6), answers gathered in peer order.

use std::future::Future;

use futures_util::stream::{self, StreamExt};

use super::PeerAddr;
use crate::runtime;

/// The most peers asked at the same moment.
pub const MAX_AT_ONCE: usize = 64;

/// Runs `ask(peer)` for every peer, concurrently up to [`MAX_AT_ONCE`]; results come
/// back in the order of `peers`. Each `ask` bounds its own time, so one dead peer
/// delays only its own row.
pub async fn each_peer<T, F, Fut>(peers: &[PeerAddr], ask: F) -> Vec<T>
where
    F: Fn(PeerAddr) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    stream::iter(peers.iter().cloned())
        .map(|peer| runtime::spawn(ask(peer)))
        .buffered(MAX_AT_ONCE)
        .collect()
        .await
}
