//! Retrying a peer that answered `busy` (or closed at hello without a word): it is full
//! now, not gone. A few tries with a growing pause, bounded in total, then the error
//! stands.

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
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let spread = ms / 2;
    Duration::from_millis(ms - ms / 4 + nanos % (spread + 1))
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
