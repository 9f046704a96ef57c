//! Peers asked again while a download runs, so that a swarm finds itself.
//!
//! When peers start downloading one file at the same moment, none of them has it when
//! the others first ask (`not_found`), and a partial source that had nothing new is let
//! go. A download therefore keeps a pool of the peers it knows that are not sources now,
//! and asks each of them for `info` again now and then ([`REASK_AFTER`], doubling up to
//! [`REASK_AT_MOST`] while one keeps saying no). One that has some of the file, with the
//! agreed layout and chunk list, joins as a source; one whose claim disagrees is never
//! asked again. This module only finds sources: the engine (`swarm.rs`) runs them.
//!
//! [`Recruiter::next`] is safe to drop half-way (the engine does, whenever a source
//! ends): a peer leaves the pool only once its answer is in.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::discover::{ask_again, AgreedSource, Asked};
use crate::client::PeerAddr;
use crate::content::hash::ContentHash;
use crate::content::Layout;
use crate::runtime;

/// How long after it last said no (or was let go) a peer is asked again, at first.
pub const REASK_AFTER: Duration = Duration::from_secs(3);
/// The longest wait between two asks of one peer.
pub const REASK_AT_MOST: Duration = Duration::from_secs(30);
/// How long one ask may take (connecting and `info`).
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the pool is looked at.
const TICK: Duration = Duration::from_millis(250);

struct Waiting {
    peer: PeerAddr,
    at: Instant,
    wait: Duration,
}

/// What the download is, for judging a peer's `info`.
pub struct Wanted<'a> {
    pub hash: ContentHash,
    pub layout: Layout,
    pub chunks: &'a [ContentHash],
}

pub struct Recruiter {
    pool: Mutex<Vec<Waiting>>,
    /// Peers that joined in one round beyond the first, handed out next.
    joined: Mutex<VecDeque<AgreedSource>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recruiter {
    /// A pool of `peers` (duplicates ignored), first asked [`REASK_AFTER`] from now.
    pub fn new(peers: Vec<PeerAddr>) -> Recruiter {
        let recruiter = Recruiter {
            pool: Mutex::new(Vec::new()),
            joined: Mutex::new(VecDeque::new()),
        };
        for peer in peers {
            recruiter.again(peer);
        }
        recruiter
    }

    /// `peer` is no source now but may be one later (a partial source with nothing new).
    pub fn again(&self, peer: PeerAddr) {
        let mut pool = lock(&self.pool);
        if pool.iter().any(|w| w.peer == peer) {
            return;
        }
        pool.push(Waiting {
            peer,
            at: Instant::now() + REASK_AFTER,
            wait: REASK_AFTER,
        });
    }

    /// Waits for the next peer that joins; `None` once `done()` says the download needs
    /// no more sources (an empty pool just waits: a source let go may come back). At
    /// most `room()` peers are asked at once.
    pub async fn next(
        &self,
        wanted: &Wanted<'_>,
        room: impl Fn() -> usize,
        done: impl Fn() -> bool,
    ) -> Option<AgreedSource> {
        loop {
            if done() {
                return None;
            }
            if let Some(source) = lock(&self.joined).pop_front() {
                return Some(source);
            }
            let due: Vec<PeerAddr> = {
                let now = Instant::now();
                let mut pool = lock(&self.pool);
                let mut due = Vec::new();
                for waiting in pool.iter_mut().filter(|w| w.at <= now).take(room()) {
                    // Not asked again before this ask is over, even if it is dropped.
                    waiting.at = now + waiting.wait;
                    due.push(waiting.peer.clone());
                }
                due
            };
            if due.is_empty() {
                runtime::sleep(TICK).await;
                continue;
            }
            let answers = join_all(due.iter().map(|peer| {
                ask_again(peer, wanted.hash, wanted.layout, wanted.chunks, ASK_TIMEOUT)
            }))
            .await;
            let mut pool = lock(&self.pool);
            for (peer, answer) in due.into_iter().zip(answers) {
                match answer {
                    Asked::Joins(source) => {
                        tracing::debug!(%peer, partial = source.have.is_some(), "joins the download");
                        pool.retain(|w| w.peer != peer);
                        lock(&self.joined).push_back(*source);
                    }
                    Asked::NotYet => {
                        if let Some(w) = pool.iter_mut().find(|w| w.peer == peer) {
                            w.wait = (w.wait * 2).min(REASK_AT_MOST);
                        }
                    }
                    Asked::Never => pool.retain(|w| w.peer != peer),
                }
            }
        }
    }
}
