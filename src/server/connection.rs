//! One accepted connection: protocol detection, then the P2P/1 request loop. This is
//! the only code that reads from or writes to a server socket; `ops` and `legacy` say
//! what to answer, as values.
//!
//! Requests are answered strictly in order, one at a time; a pipelining client's
//! requests wait in the socket buffer, and a client that stops reading stops us reading
//! (bounded memory). A request whose JSON is bad gets `bad_request` and the connection
//! goes on; a malformed frame gets its error answer and the connection is closed. When
//! the server shuts down, a connection waiting for its next request ends at once; one
//! sending goes on until the drain deadline.
//!
//! File bytes (a `read`'s data, a seed `download:`) go out only while the connection
//! holds an upload slot (`upload_slots.rs`); without one, a `read` is answered `busy`
//! and the connection goes on, a seed download is closed with nothing sent. The slot is
//! told when the socket stops taking a read's data and when it takes bytes again, so a
//! client that asks and never reads loses its slot to one waiting. Under a
//! `max_upload_rate`, each piece of at most [`RATE_PIECE`] bytes is admitted by the
//! server's one token bucket before it is written.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use super::legacy::{self, LegacyReply};
use super::ops::{self, Reply};
use super::slots::{Slot, SlotKind};
use super::upload_slots::{busy_error, SlotClaim};
use super::window::{FileWindows, SEND_WINDOW};
use super::ServeContext;
use crate::content::hash::ContentHash;
use crate::index::SharedFile;
use crate::protocol::frame::{self, FrameType};
use crate::protocol::message::{ErrorCode, RemoteError, Request};
use crate::protocol::{legacy::MESSAGE_LIMIT, PREAMBLE, PREAMBLE_V2};
use crate::runtime::{self, TcpStream};

/// A connection's byte stream: the TCP socket itself (P2P/1, legacy), or TLS over it
/// (P2P/2).
trait Stream: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin {}
impl<T: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin> Stream for T {}

/// A stream whose first bytes were already read: they are given back first.
struct Rewind<S> {
    early: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Rewind<S> {
    fn new(early: Vec<u8>, inner: S) -> Rewind<S> {
        Rewind {
            early,
            at: 0,
            inner,
        }
    }
}

impl<S: futures_lite::AsyncRead + Unpin> futures_lite::AsyncRead for Rewind<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.at < this.early.len() {
            let n = buf.len().min(this.early.len() - this.at);
            buf[..n].copy_from_slice(&this.early[this.at..this.at + n]);
            this.at += n;
            return std::task::Poll::Ready(Ok(n));
        }
        std::pin::Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: futures_lite::AsyncWrite + Unpin> futures_lite::AsyncWrite for Rewind<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    /// Passed through, not the default (first buffer only): rustls hands its queued TLS
    /// records over as one vectored write, and one `sendto` per 16 KiB record cost a
    /// GiB 66,000 system calls (strace, issue 13's bench).
    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// Bytes read from the socket at once.
const READ_BUFFER: usize = 64 * 1024;

/// TLS records (ciphertext) a P2P/2 connection may queue before they are written: 16
/// records per vectored write, and at most this much held for a client that does not
/// read (× `max_connections`, within DESIGN §4's memory bound).
const TLS_SEND_BUFFER: usize = 256 * 1024;

/// Under a `max_upload_rate`, file bytes are admitted and written this many at a time,
/// so that the rate is smooth rather than a window at once, then a pause.
const RATE_PIECE: usize = 64 * 1024;

pub(crate) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    context: Arc<ServeContext>,
    slot: Slot,
) {
    let _active = context.drain.enter();
    if slot.kind == SlotKind::Drop {
        tracing::debug!(%peer, "closed: far over max_connections");
        return;
    }
    let _ = stream.set_nodelay(true);
    let arrived = Instant::now();
    let preamble_limit = context.limits.preamble_timeout;

    // The seed reads one message of up to 1024 bytes with one recv; so do we, and the
    // first byte tells the two protocols apart.
    let mut first = vec![0u8; MESSAGE_LIMIT];
    let Some(n) = read_some_within(
        &mut stream,
        &mut first,
        arrived,
        preamble_limit,
        &slot,
        &context,
    )
    .await
    else {
        return;
    };
    first.truncate(n);
    let mut served = Served::new(peer, context.uploads.for_connection());
    if first[0] != 0x00 {
        if context.limits.encrypted_only {
            // The seed's protocol has no encryption and no error to say it in.
            context.refused(
                peer,
                &context.counters.refused_p2p2_only,
                "a seed client, and only P2P/2 is served",
            );
            return;
        }
        slot.greeted();
        if slot.kind == SlotKind::Served {
            let reply = legacy::answer(&first, &context);
            let _ = send_legacy(&mut stream, reply, &context, &mut served).await;
        }
        served.log();
        return;
    }

    while first.len() < PREAMBLE.len() {
        let mut more = [0u8; 5];
        let Some(n) = read_some_within(
            &mut stream,
            &mut more,
            arrived,
            preamble_limit,
            &slot,
            &context,
        )
        .await
        else {
            return;
        };
        first.extend_from_slice(&more[..n]);
    }
    if first[..PREAMBLE.len()] == PREAMBLE_V2 {
        if let Some(acceptor) = &context.tls {
            // P2P/2: the preamble back, then TLS 1.3 (client first), within the hello
            // time; then the same frames inside it.
            //
            // The v2 preamble is this client's hello: a handshake takes round trips, and
            // a flood of silent connections must not take its place half-way through
            // (the hello time still bounds a client that stalls in the handshake).
            slot.greeted();
            if send(&mut stream, &PREAMBLE_V2, &context).await.is_err() {
                return;
            }
            // A client that sent its TLS hello without waiting for our preamble: those
            // bytes were read with it, and are the TLS stream's first.
            let early = first.split_off(PREAMBLE_V2.len());
            let stream = Rewind::new(early, stream);
            let left = preamble_limit.saturating_sub(arrived.elapsed());
            let tls = match runtime::timeout(left, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) if crate::transport::we_refused_their_id(&e) => {
                    context.refused(
                        peer,
                        &context.counters.refused_p2p2_only,
                        "its peer ID is not in allow_ids",
                    );
                    return;
                }
                // A failed or stalled handshake: a client that does not speak P2P/2
                // well, not a refusal of ours.
                _ => return,
            };
            if let Some(id) = crate::transport::peer_id_of(tls.get_ref().1) {
                served.client_id = Some(id);
            }
            let mut tls = tls;
            // Room for a whole window's records queued at once (rustls' default is
            // 64 KiB), so that they go out in few vectored writes.
            tls.get_mut().1.set_buffer_limit(Some(TLS_SEND_BUFFER));
            if slot.kind == SlotKind::Busy {
                let error =
                    RemoteError::new(ErrorCode::Busy, "too many connections, try again later");
                let _ = send_answer(&mut tls, &error.to_body(), &context).await;
                return;
            }
            request_loop(tls, Vec::new(), &context, &slot, &mut served).await;
            served.log();
            return;
        }
    }
    if send(&mut stream, &PREAMBLE, &context).await.is_err() {
        return;
    }
    if first[..PREAMBLE.len()] != PREAMBLE {
        let error = RemoteError::new(ErrorCode::BadRequest, "unsupported preamble or version");
        let _ = send_answer(&mut stream, &error.to_body(), &context).await;
        return;
    }
    if context.limits.encrypted_only {
        context.refused(
            peer,
            &context.counters.refused_p2p2_only,
            "a P2P/1 client, and only P2P/2 is served",
        );
        // At once, without waiting for a request (DESIGN §7).
        let error = RemoteError::new(
            ErrorCode::EncryptionRequired,
            "this peer serves P2P/2 (TLS) only",
        );
        let _ = send_answer(&mut stream, &error.to_body(), &context).await;
        return;
    }
    if slot.kind == SlotKind::Busy {
        tracing::debug!(%peer, "answered busy: max_connections reached");
        let error = RemoteError::new(ErrorCode::Busy, "too many connections, try again later");
        let _ = send_answer(&mut stream, &error.to_body(), &context).await;
        return;
    }
    let leftover = first.split_off(PREAMBLE.len());
    request_loop(stream, leftover, &context, &slot, &mut served).await;
    served.log();
}

/// What one connection was sent, file by file, for the log line each gets at its end;
/// and its claim on an upload slot.
struct Served {
    peer: SocketAddr,
    /// The client's peer ID, over P2P/2.
    client_id: Option<crate::content::PeerId>,
    files: HashMap<ContentHash, (String, u64, Instant)>,
    upload: SlotClaim,
    /// Reads (or a seed download) refused for want of an upload slot.
    busy: u64,
}

impl Served {
    fn new(peer: SocketAddr, upload: SlotClaim) -> Served {
        Served {
            peer,
            client_id: None,
            files: HashMap::new(),
            upload,
            busy: 0,
        }
    }

    fn add(&mut self, file: &SharedFile, bytes: u64) {
        let entry = self
            .files
            .entry(file.sha256)
            .or_insert_with(|| (file.name.clone(), 0, Instant::now()));
        entry.1 += bytes;
    }

    fn log(&self) {
        for (hash, (name, bytes, since)) in &self.files {
            let secs = since.elapsed().as_secs_f64().max(1e-3);
            let id = self.client_id.map(|id| id.short());
            tracing::info!(
                peer = %self.peer,
                id = id.as_deref().unwrap_or("-"),
                sha256 = %hash.short(),
                bytes,
                "sent {:?}: {bytes} bytes in {secs:.2} s ({:.1} MB/s)",
                name,
                *bytes as f64 / secs / 1e6,
            );
        }
        if self.busy > 0 {
            let id = self.client_id.map(|id| id.short());
            tracing::info!(
                peer = %self.peer,
                id = id.as_deref().unwrap_or("-"),
                busy = self.busy,
                "answered {} busy: every upload slot was taken",
                match self.busy {
                    1 => "1 read".to_string(),
                    n => format!("{n} reads"),
                }
            );
        }
    }
}

async fn request_loop<S: Stream>(
    mut stream: S,
    mut pending: Vec<u8>,
    context: &ServeContext,
    slot: &Slot,
    served: &mut Served,
) {
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
                    Ok(request) => {
                        let reply = ops::answer(request, context, served.peer.ip()).await;
                        send_reply(&mut stream, reply, context, served).await
                    }
                    Err(bad) => {
                        let error = RemoteError::new(ErrorCode::BadRequest, bad.to_string());
                        send_answer(&mut stream, &error.to_body(), context).await
                    }
                };
                if outcome.is_err() {
                    return;
                }
                pending.drain(..used);
                waiting_since = Instant::now();
                slot.greeted();
            }
            Ok(None) => {
                let limit = limits.idle_timeout;
                let Some(n) =
                    read_some_within(&mut stream, &mut chunk, waiting_since, limit, slot, context)
                        .await
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

/// How long a connection may wait for its hello (the preamble and its first request)
/// while every place is taken: a client says both as soon as it is connected, so only
/// silent holders are cut short.
const FULL_HELLO_TIMEOUT: Duration = Duration::from_millis(250);

/// How often a waiting read looks again at how full the server is.
const RECHECK: Duration = Duration::from_millis(500);
const RECHECK_FULL: Duration = Duration::from_millis(50);

/// One read that must bring at least a byte within `limit` of `since` — or of
/// [`PRESSURE_TIMEOUT`] while the server is nearly full, [`FULL_HELLO_TIMEOUT`] for a
/// connection still saying hello while it is full; `None` on EOF, error or time-out, which all end the
/// connection.
async fn read_some_within<S: Stream>(
    stream: &mut S,
    buf: &mut [u8],
    since: Instant,
    limit: Duration,
    slot: &Slot,
    context: &ServeContext,
) -> Option<usize> {
    loop {
        if context.drain.closing() || slot.evicted() {
            return None;
        }
        let full = context.slots.full();
        let hello = !slot.is_greeted();
        let limit = if hello && full {
            limit.min(FULL_HELLO_TIMEOUT)
        } else if context.slots.under_pressure() {
            limit.min(PRESSURE_TIMEOUT)
        } else {
            limit
        };
        let left = (since + limit).checked_duration_since(Instant::now())?;
        // A read cut short by the time-out has consumed nothing: try again.
        // While full, look often: a connection whose place was taken should let go of
        // its socket soon.
        let recheck = if full { RECHECK_FULL } else { RECHECK };
        match runtime::timeout(left.min(recheck), stream.read(buf)).await {
            Ok(Ok(n)) if n > 0 => return Some(n),
            Ok(_) => return None,
            Err(_) => continue,
        }
    }
}

/// Writes all of `bytes`. A peer that takes none of them for the idle time-out — or for
/// [`PRESSURE_TIMEOUT`] while the server is nearly full — is given up on, so a client
/// that never reads cannot keep its place (and its memory) for long.
async fn send<S: Stream>(
    stream: &mut S,
    bytes: &[u8],
    context: &ServeContext,
) -> std::io::Result<()> {
    send_watched(stream, bytes, context, None).await
}

/// [`send`], telling `reader`'s upload slot (a read's data) when the socket has taken
/// nothing for a [`RECHECK`] and when it takes bytes again.
async fn send_watched<S: Stream>(
    stream: &mut S,
    bytes: &[u8],
    context: &ServeContext,
    reader: Option<&SlotClaim>,
) -> std::io::Result<()> {
    let mut written = 0;
    let mut progress_at = Instant::now();
    let mut watch = StallWatch {
        reader,
        stalled: false,
    };
    let time_left = |progress_at: Instant| {
        let limit = if context.slots.under_pressure() {
            context.limits.idle_timeout.min(PRESSURE_TIMEOUT)
        } else {
            context.limits.idle_timeout
        };
        (progress_at + limit)
            .checked_duration_since(Instant::now())
            .ok_or(std::io::Error::from(std::io::ErrorKind::TimedOut))
    };
    while written < bytes.len() {
        let left = time_left(progress_at)?;
        // One `write` call: when it times out nothing was written, so nothing is lost.
        match runtime::timeout(left.min(RECHECK), stream.write(&bytes[written..])).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => {
                written += n;
                progress_at = Instant::now();
                watch.moving();
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => watch.stalled(progress_at),
        }
    }
    // TLS keeps what the socket did not take in its own buffer until a flush (a no-op
    // on a plain socket): push it out under the same time-outs. Dropping a flush that
    // timed out loses nothing; the next one goes on from there.
    loop {
        let left = time_left(progress_at)?;
        match runtime::timeout(left.min(RECHECK), stream.flush()).await {
            Ok(done) => {
                watch.moving();
                return done;
            }
            Err(_) => watch.stalled(progress_at),
        }
    }
}

/// Tells a read's upload slot, once per change, whether its socket takes bytes.
struct StallWatch<'a> {
    reader: Option<&'a SlotClaim>,
    stalled: bool,
}

impl StallWatch<'_> {
    fn stalled(&mut self, since: Instant) {
        if let Some(reader) = self.reader.filter(|_| !self.stalled) {
            reader.stalled(since);
            self.stalled = true;
        }
    }

    fn moving(&mut self) {
        if let Some(reader) = self.reader.filter(|_| self.stalled) {
            reader.moving();
            self.stalled = false;
        }
    }
}

async fn send_answer<S: Stream>(
    stream: &mut S,
    body: &[u8],
    context: &ServeContext,
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(body.len() + frame::HEADER_LEN);
    frame::encode(FrameType::Answer, body, &mut out);
    send(stream, &out, context).await
}

/// Sends one reply: a `read`'s data only while this connection holds an upload slot,
/// else `busy` in its place (the connection goes on).
async fn send_reply<S: Stream>(
    stream: &mut S,
    reply: Reply,
    context: &ServeContext,
    served: &mut Served,
) -> std::io::Result<()> {
    match reply {
        Reply::Json(body) => send_answer(stream, &body, context).await,
        Reply::Range { file, offset, len } => {
            if !served.upload.begin_read(Instant::now()) {
                served.busy += 1;
                let error = busy_error(context.uploads.count());
                return send_answer(stream, &error.to_body(), context).await;
            }
            let sent = send_range(stream, &file, offset, len, true, context, served).await;
            served.upload.end_read(Instant::now());
            sent
        }
    }
}

async fn send_legacy<S: Stream>(
    stream: &mut S,
    reply: LegacyReply,
    context: &ServeContext,
    served: &mut Served,
) -> std::io::Result<()> {
    match reply {
        LegacyReply::Text(text) => send(stream, text.as_bytes(), context).await,
        LegacyReply::File(file) => {
            // One request per connection: the slot goes when the connection closes.
            if !served.upload.begin_read(Instant::now()) {
                served.busy += 1;
                let peer = served.peer;
                tracing::debug!(%peer, "seed download closed unanswered: no upload slot free");
                return Ok(());
            }
            let size = file.size();
            send_range(stream, &file, 0, size, false, context, served).await
        }
        LegacyReply::Nothing => Ok(()),
    }
}

/// Sends `len` bytes of `file` from `offset`, a memory-map window at a time: as one data
/// frame (`framed`, a P2P/1 `read`) or raw (the seed's `download:`). A file found changed
/// before the first byte is an `internal` error answer (P2P/1) or a close (legacy); once
/// bytes are out, a failure can only close. Under a `max_upload_rate`, every piece of a
/// window is admitted by the shared bucket before it is written.
async fn send_range<S: Stream>(
    stream: &mut S,
    file: &SharedFile,
    offset: u64,
    len: u64,
    framed: bool,
    context: &ServeContext,
    served: &mut Served,
) -> std::io::Result<()> {
    // The slot is watched from the first byte: a client that stopped reading during
    // its last read stalls this one's header already.
    let reader = Some(&served.upload);
    if len == 0 {
        return match framed {
            true => {
                let header = frame::encode_header(FrameType::Data, 0);
                send_watched(stream, &header, context, reader).await
            }
            false => Ok(()),
        };
    }
    let windows = match FileWindows::open(file) {
        Ok(windows) => windows,
        Err(e) if framed => {
            let error = RemoteError::new(ErrorCode::Internal, crate::error_chain::error_chain(&e));
            return send_answer(stream, &error.to_body(), context).await;
        }
        Err(_) => return Ok(()),
    };
    if framed {
        let header = frame::encode_header(FrameType::Data, len as usize);
        send_watched(stream, &header, context, reader).await?;
    }
    let end = offset + len;
    let mut at = offset;
    while at < end {
        let count = (end - at).min(SEND_WINDOW) as usize;
        let map = windows.map(at, count).map_err(std::io::Error::other)?;
        // Looked at per window: the node may change the rate while this read goes on.
        let piece = match context.upload_rate.rate().is_limited() {
            true => RATE_PIECE,
            false => count,
        };
        for bytes in map.chunks(piece) {
            context.upload_rate.admit(bytes.len() as u64).await;
            send_watched(stream, bytes, context, Some(&served.upload)).await?;
            context
                .counters
                .bytes_served
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            served.add(file, bytes.len() as u64);
        }
        at += count as u64;
    }
    if framed {
        context.counters.reads.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
