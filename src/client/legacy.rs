//! Talking to a seed peer: one message per connection, answered then closed.
//!
//! Each connection is a new one in the clear, so each is cleared with the dialer first,
//! as `connect` clears the first: a request made from an older search must not reach a
//! peer that is pinned, or known by its ID, since.

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::connect::open_stream;
use super::{dialer, ClientError, PeerAddr, REQUEST_TIMEOUT, STALL_TIMEOUT};
use crate::protocol::legacy::{LegacyRequest, MESSAGE_LIMIT, NONE_ANSWER};
use crate::protocol::name::printable;
use crate::runtime;

/// A new connection to a seed peer, if the dialer lets this peer be used in the clear.
async fn open_in_clear(peer: &PeerAddr) -> Result<runtime::TcpStream, ClientError> {
    if let Some(dialer) = dialer::current() {
        dialer.check_plain_allowed(peer)?;
        dialer.check_not_known(peer)?;
    }
    open_stream(peer).await
}

/// Asks a seed peer for the hash of the file called exactly `name`: `None` if it has none.
pub async fn lookup(peer: &PeerAddr, name: &str) -> Result<Option<String>, ClientError> {
    let mut stream = open_in_clear(peer).await?;
    let io = |source| ClientError::Io {
        peer: peer.clone(),
        source,
    };
    let message = LegacyRequest::Lookup(name.to_string()).to_message();
    stream.write_all(&message).await.map_err(io)?;
    // The seed answers with one send and then closes; read to EOF, at most a message.
    let mut answer = Vec::new();
    let mut buf = [0u8; MESSAGE_LIMIT];
    loop {
        match runtime::timeout(REQUEST_TIMEOUT, stream.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() >= MESSAGE_LIMIT {
                    break;
                }
            }
            Ok(Err(e)) if answer.is_empty() => return Err(io(e)),
            Ok(Err(_)) => break,
            // A seed server that keeps the connection open after answering: take the answer.
            Err(_) if !answer.is_empty() => break,
            Err(_) => {
                return Err(ClientError::TimedOut {
                    peer: peer.clone(),
                    what: "lookup",
                    secs: REQUEST_TIMEOUT.as_secs(),
                })
            }
        }
    }
    let text = String::from_utf8_lossy(&answer).trim().to_string();
    if text.is_empty() || text == NONE_ANSWER {
        return Ok(None);
    }
    // The seed's criarHash is left open, so any hex digest is taken (verified only when
    // it is a SHA-256); anything else is not an answer to trust or print as is.
    if text.len() > 128 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ClientError::Protocol {
            peer: peer.clone(),
            message: format!("answered a lookup with {}, not a hash", printable(&text)),
        });
    }
    Ok(Some(text.to_ascii_lowercase()))
}

/// Streams the bytes of `hash` from a seed peer into `sink`, until the peer closes.
/// Returns the byte count. The caller verifies; the seed protocol cannot.
pub async fn download(
    peer: &PeerAddr,
    hash: &str,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64, ClientError> {
    let mut stream = open_in_clear(peer).await?;
    let io = |source| ClientError::Io {
        peer: peer.clone(),
        source,
    };
    let message = LegacyRequest::Download(hash.to_string()).to_message();
    stream.write_all(&message).await.map_err(io)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match runtime::timeout(STALL_TIMEOUT, stream.read(&mut buf)).await {
            Ok(result) => result.map_err(io)?,
            Err(_) => {
                return Err(ClientError::TimedOut {
                    peer: peer.clone(),
                    what: "download",
                    secs: STALL_TIMEOUT.as_secs(),
                })
            }
        };
        if n == 0 {
            return Ok(total);
        }
        super::connection::download_limit().admit(n as u64).await;
        sink(&buf[..n]).map_err(|source| ClientError::Io {
            peer: peer.clone(),
            source,
        })?;
        total += n as u64;
    }
}
