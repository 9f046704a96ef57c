//! Retrying a peer that answered `busy` (or closed at hello without a word): it is full
//! now, not gone. A few tries with a growing pause, bounded in total, then the error
//! stands ([`when_busy`], for a connection refused over `max_connections`).
//!
//! A `read` answered `busy` (every upload slot of the peer taken, DESIGN §8) is another
//! matter: the connection is open and the peer alive, so a download keeps asking, for as
//! long as it takes, with pauses from [`BusyBackoff`].

use std::future::Future;
use std::time::Duration;

use super::ClientError;
use crate::protocol::message::ErrorCode;
use crate::runtime;

/// Pauses before each new try (about 8 s in all). Many short tries rather than a few
/// long ones: a full server frees places often but briefly, and each try is one
/// connect.
const PAUSES_MS: [u64; 15] = [
    100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 900, 1000, 1000, 1000, 1000,
];

/// A pause of `ms` ± 25 %, so that many clients (or a client and a flood) do not knock
/// in step.
fn jittered(ms: u64) -> Duration {
    let spread = ms / 2;
    Duration::from_millis(ms - ms / 4 + jitter_nanos() % (spread + 1))
}

/// Pauses between asks of a source whose upload slots are all taken: 250 ms, doubling to
/// [`BUSY_PAUSE_MAX_MS`], each jittered (−25 % … +12.5 %) so that the clients waiting for a
/// slot do not knock in step. The longest pause stays under the 2 s a nearly full server
/// lets a connection sit without a request before closing it.
#[derive(Debug, Clone)]
pub(crate) struct BusyBackoff {
    next_ms: u64,
}

const BUSY_PAUSE_FIRST_MS: u64 = 250;
const BUSY_PAUSE_MAX_MS: u64 = 1600;

impl BusyBackoff {
    pub(crate) fn new() -> BusyBackoff {
        BusyBackoff {
            next_ms: BUSY_PAUSE_FIRST_MS,
        }
    }

    /// The pause before the next ask; each one longer, up to the cap.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let ms = self.next_ms;
        self.next_ms = (ms * 2).min(BUSY_PAUSE_MAX_MS);
        let spread = ms * 3 / 8;
        Duration::from_millis(ms - ms / 4 + jitter_nanos() % (spread + 1))
    }

    /// The source served a read: the next `busy` starts from the shortest pause again.
    pub(crate) fn reset(&mut self) {
        self.next_ms = BUSY_PAUSE_FIRST_MS;
    }
}

fn jitter_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
}

/// `busy`, or a close without a word at hello: a server over even its `busy` quota
/// closes new connections unread, as an allow-list refusal does — the retries cost a
/// refused client a few seconds, and let an honest one through a flood.
fn is_busy(error: &ClientError) -> bool {
    match error {
        ClientError::Remote { error, .. } => error.code == ErrorCode::Busy,
        ClientError::Refused { .. } => true,
        _ => false,
    }
}

/// Runs `attempt` again while it fails with `busy`.
pub async fn when_busy<T, F, Fut>(mut attempt: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut pauses = PAUSES_MS.iter();
    loop {
        match attempt().await {
            Err(e) if is_busy(&e) => match pauses.next() {
                Some(&ms) => runtime::sleep(jittered(ms)).await,
                None => return Err(e),
            },
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_pauses_grow_to_a_cap_jittered_and_start_over_after_a_read() {
        let mut backoff = BusyBackoff::new();
        let pauses: Vec<u128> = (0..8).map(|_| backoff.next_pause().as_millis()).collect();
        let nominal = [250, 500, 1000, 1600, 1600, 1600, 1600, 1600];
        for (pause, ms) in pauses.iter().zip(nominal) {
            assert!(*pause >= ms * 3 / 4 && *pause <= ms * 9 / 8, "{pauses:?}");
        }
        assert!(pauses.iter().all(|&p| p < 2000), "{pauses:?}");
        backoff.reset();
        assert!(backoff.next_pause() <= Duration::from_millis(282));
    }

    #[test]
    fn only_busy_and_a_silent_close_are_retried() {
        let peer = crate::client::PeerAddr::parse("127.0.0.1:4001").unwrap();
        let busy = ClientError::Remote {
            peer: peer.clone(),
            error: crate::protocol::message::RemoteError::new(ErrorCode::Busy, "full"),
        };
        assert!(is_busy(&busy));
        assert!(is_busy(&ClientError::Refused { peer: peer.clone() }));
        assert!(!is_busy(&ClientError::Closed { peer }));
    }
}
