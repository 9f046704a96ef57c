//! One accepted connection: protocol detection, then the P2P/1 request loop.
//!
//! Requests are answered strictly in order, one at a time; a pipelining client's
//! requests wait in the socket buffer, and a client that stops reading stops us reading
//! (bounded memory). A request whose JSON is bad gets `bad_request` and the connection
//! goes on; a malformed frame gets its error answer and the connection is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::slots::{Slot, SlotKind};
use super::{legacy, ops, ServeContext};
use crate::protocol::frame::{self, FrameType};
use crate::protocol::message::{ErrorCode, RemoteError, Request};
use crate::protocol::{legacy::MESSAGE_LIMIT, PREAMBLE};
use crate::runtime::{self, TcpStream};

/// Bytes read from the socket at once.
const READ_BUFFER: usize = 64 * 1024;

pub(crate) async fn serve(
    mut stream: TcpStream,
    _peer: SocketAddr,
    context: Arc<ServeContext>,
    slot: Slot,
) {
    if slot.kind == SlotKind::Drop {
        return;
    }
    let _ = stream.set_nodelay(true);
    let arrived = Instant::now();
    let preamble_limit = context.limits.preamble_timeout;

    // The seed reads one message of up to 1024 bytes with one recv; so do we, and the
    // first byte tells the two protocols apart.
    let mut first = vec![0u8; MESSAGE_LIMIT];
    let Some(n) =
        read_some_within(&mut stream, &mut first, arrived, preamble_limit, &context).await
    else {
        return;
    };
    first.truncate(n);
    if first[0] != 0x00 {
        if slot.kind == SlotKind::Served {
            legacy::serve(stream, &first, &context).await;
        }
        return;
    }

    while first.len() < PREAMBLE.len() {
        let mut more = [0u8; 5];
        let Some(n) =
            read_some_within(&mut stream, &mut more, arrived, preamble_limit, &context).await
        else {
            return;
        };
        first.extend_from_slice(&more[..n]);
    }
    if send(&mut stream, &PREAMBLE, &context).await.is_err() {
        return;
    }
    if first[..PREAMBLE.len()] != PREAMBLE {
        let error = RemoteError::new(ErrorCode::BadRequest, "unsupported preamble or version");
        let _ = send_answer(&mut stream, &error.to_body(), &context).await;
        return;
    }
    if slot.kind == SlotKind::Busy {
        let error = RemoteError::new(ErrorCode::Busy, "too many connections, try again later");
        let _ = send_answer(&mut stream, &error.to_body(), &context).await;
        return;
    }
    let leftover = first.split_off(PREAMBLE.len());
    request_loop(stream, leftover, &context).await;
}

async fn request_loop(mut stream: TcpStream, mut pending: Vec<u8>, context: &ServeContext) {
    let limits = &context.limits;
    let mut chunk = vec![0u8; READ_BUFFER];
    let mut waiting_since = Instant::now();
    loop {
        match frame::decode(&pending, limits.max_request_bytes) {
            Err(e) => {
                let error = RemoteError::new(e.code(), e.to_string());
                let _ = send_answer(&mut stream, &error.to_body(), context).await;
                return;
            }
            Ok(Some(decoded)) => {
                let used = decoded.used;
                if decoded.kind != FrameType::Request {
                    let error =
                        RemoteError::new(ErrorCode::BadRequest, "only request frames may be sent");
                    let _ = send_answer(&mut stream, &error.to_body(), context).await;
                    return;
                }
                let outcome = match Request::parse(decoded.body) {
                    Ok(request) => ops::answer(request, context, &mut stream).await,
                    Err(message) => {
                        let error = RemoteError::new(ErrorCode::BadRequest, message);
                        send_answer(&mut stream, &error.to_body(), context).await
                    }
                };
                if outcome.is_err() {
                    return;
                }
                pending.drain(..used);
                waiting_since = Instant::now();
            }
            Ok(None) => {
                let limit = limits.idle_timeout;
                let Some(n) =
                    read_some_within(&mut stream, &mut chunk, waiting_since, limit, context).await
                else {
                    return;
                };
                pending.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// How long a connection may wait for its hello or next request while the server is
/// nearly full: idle and slow connections then give their place to active ones.
const PRESSURE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a waiting read looks again at how full the server is.
const RECHECK: Duration = Duration::from_millis(500);

/// One read that must bring at least a byte within `limit` of `since` — or of
/// [`PRESSURE_TIMEOUT`] while the server is nearly full; `None` on EOF, error or
/// time-out, which all end the connection.
async fn read_some_within(
    stream: &mut TcpStream,
    buf: &mut [u8],
    since: Instant,
    limit: Duration,
    context: &ServeContext,
) -> Option<usize> {
    loop {
        let limit = if context.slots.under_pressure() {
            limit.min(PRESSURE_TIMEOUT)
        } else {
            limit
        };
        let left = (since + limit).checked_duration_since(Instant::now())?;
        // A read cut short by the time-out has consumed nothing: try again.
        match runtime::timeout(left.min(RECHECK), stream.read(buf)).await {
            Ok(Ok(n)) if n > 0 => return Some(n),
            Ok(_) => return None,
            Err(_) => continue,
        }
    }
}

/// Writes all of `bytes`, giving up after `limit` without completing.
/// Writes all of `bytes`. A peer that takes none of them for the idle time-out — or for
/// [`PRESSURE_TIMEOUT`] while the server is nearly full — is given up on, so a client
/// that never reads cannot keep its place (and its memory) for long.
pub(crate) async fn send(
    stream: &mut TcpStream,
    bytes: &[u8],
    context: &ServeContext,
) -> std::io::Result<()> {
    let mut written = 0;
    let mut progress_at = Instant::now();
    while written < bytes.len() {
        let limit = if context.slots.under_pressure() {
            context.limits.idle_timeout.min(PRESSURE_TIMEOUT)
        } else {
            context.limits.idle_timeout
        };
        let Some(left) = (progress_at + limit).checked_duration_since(Instant::now()) else {
            return Err(std::io::ErrorKind::TimedOut.into());
        };
        // One `write` call: when it times out nothing was written, so nothing is lost.
        match runtime::timeout(left.min(RECHECK), stream.write(&bytes[written..])).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => {
                written += n;
                progress_at = Instant::now();
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => continue,
        }
    }
    Ok(())
}

pub(crate) async fn send_answer(
    stream: &mut TcpStream,
    body: &[u8],
    context: &ServeContext,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + frame::HEADER_LEN);
    frame::encode(FrameType::Answer, body, &mut out);
    send(stream, &out, context).await
}
