//! Retrying a peer that answered `busy` (or closed at hello without a word): it is full
//! now, not gone. A few tries with a growing pause, bounded in total, then the error
//! stands.

use std::future::Future;
use std::time::Duration;

use super::ClientError;
use crate::protocol::message::ErrorCode;
use crate::runtime;

/// Pauses before each new try (about 7.5 s in all).
const PAUSES_MS: [u64; 5] = [250, 500, 1000, 2000, 4000];

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
                Some(&ms) => runtime::sleep(Duration::from_millis(ms)).await,
                None => return Err(e),
            },
            other => return other,
        }
    }
}
