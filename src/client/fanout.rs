//! Asking every peer at once: one task per peer, answers gathered in peer order.

use std::future::Future;

use super::PeerAddr;
use crate::runtime;

/// Runs `ask(peer)` for every peer concurrently; results come back in the order of
/// `peers`. Each `ask` bounds its own time, so one dead peer delays only its own row.
pub async fn each_peer<T, F, Fut>(peers: &[PeerAddr], ask: F) -> Vec<T>
where
    F: Fn(PeerAddr) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = peers
        .iter()
        .cloned()
        .map(|peer| runtime::spawn(ask(peer)))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await);
    }
    out
}
