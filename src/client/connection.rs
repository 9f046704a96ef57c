//! One open connection to a peer, P2P/1 in the clear or inside TLS (P2P/2): requests
//! out, frames in. With `super::connect`, which opens it, the only client code that
//! touches a socket (the seed's protocol aside, `super::legacy`).
//!
//! Frames are decoded with the sans-IO codec; a data frame's body is read straight into
//! the caller's buffer, without a copy in between, and its reads wake only once enough
//! of it is queued (`super::wake`).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use serde::de::DeserializeOwned;

use super::{wake, ClientError, PeerAddr};
use crate::content::PeerId;
use crate::protocol::frame::{self, FrameType, HEADER_LEN};
use crate::protocol::message::{parse_answer, Request};
use crate::protocol::MAX_ANSWER_BYTES;
use crate::rate::{Rate, TokenBucket};
use crate::runtime::{self, TcpStream};

/// The largest data frame we accept: the protocol's `read` limit.
pub const MAX_DATA_BYTES: usize = 4 * 1024 * 1024;

pub struct Connection {
    peer: PeerAddr,
    stream: Stream,
    /// The peer's ID, over P2P/2 (`None`: P2P/1 in the clear).
    peer_id: Option<PeerId>,
    /// Bytes read but not yet consumed: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Longest wait for any single read or write.
    io_timeout: Duration,
    /// The socket's `SO_RCVLOWAT` now (1: the kernel's default, wake on any byte).
    wake_at: usize,
}

/// All downloads of this process together (`[download] max_rate`, DESIGN §8): every
/// byte of file data a client reads is admitted by this bucket first.
pub fn download_limit() -> &'static TokenBucket {
    static LIMIT: std::sync::LazyLock<TokenBucket> =
        std::sync::LazyLock::new(|| TokenBucket::new(Rate(0)));
    &LIMIT
}

/// A connection's byte stream: the socket (P2P/1), or TLS over it (P2P/2).
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<futures_rustls::client::TlsStream<futures_lite::io::BufReader<TcpStream>>>),
}

impl Stream {
    fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0.get_ref(),
        }
    }

    /// At most how many bytes of what the peer sent are already read from the socket but
    /// not yet handed out: a body's last bytes may be among them, never on the way.
    fn held(&self) -> usize {
        match self {
            Stream::Plain(_) => 0,
            Stream::Tls(s) => s.get_ref().0.buffer().len() + wake::TLS_HELD,
        }
    }
}

impl futures_lite::AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl futures_lite::AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

pub(super) async fn with_timeout<F: std::future::Future>(
    peer: &PeerAddr,
    what: &'static str,
    limit: Duration,
    future: F,
) -> Result<F::Output, ClientError> {
    runtime::timeout(limit, future)
        .await
        .map_err(|_| ClientError::TimedOut {
            peer: peer.clone(),
            what,
            secs: limit.as_secs(),
        })
}

impl Connection {
    pub(super) fn new(
        peer: &PeerAddr,
        stream: Stream,
        peer_id: Option<PeerId>,
        io_timeout: Duration,
    ) -> Connection {
        Connection {
            peer: peer.clone(),
            stream,
            peer_id,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            io_timeout,
            wake_at: 1,
        }
    }

    /// Wakes reads only once `bytes` are queued (1: on any byte). A failure costs only
    /// wakeups, so it turns the raising off for this connection (0); going back to 1 is
    /// tried whatever came before, so that a header read never waits on a level.
    fn wake_at(&mut self, bytes: usize) {
        let bytes = bytes.max(1);
        if bytes != self.wake_at && (self.wake_at != 0 || bytes == 1) {
            self.wake_at = match wake::set_wake_at(self.stream.socket(), bytes) {
                Ok(()) => bytes,
                Err(_) => 0,
            };
        }
    }

    pub fn peer(&self) -> &PeerAddr {
        &self.peer
    }

    /// The peer's ID over P2P/2; `None` over P2P/1 in the clear.
    pub fn peer_id(&self) -> Option<PeerId> {
        self.peer_id
    }

    fn io_error(&self, source: std::io::Error) -> ClientError {
        // rustls says a TLS peer that closed without its close_notify with a link to
        // its manual; to a user it is the peer closing the connection, as in the clear.
        let source = match source.kind() {
            std::io::ErrorKind::UnexpectedEof => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the peer closed the connection",
            ),
            _ => source,
        };
        if crate::transport::peer_refused_our_id(&source) {
            return ClientError::IdNotAllowed {
                peer: self.peer.clone(),
            };
        }
        ClientError::Io {
            peer: self.peer.clone(),
            source,
        }
    }

    fn protocol_error(&self, message: impl Into<String>) -> ClientError {
        ClientError::Protocol {
            peer: self.peer.clone(),
            message: message.into(),
        }
    }

    /// Sends one request without waiting for its answer (pipelining).
    pub async fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        let mut out = Vec::with_capacity(128);
        frame::encode(FrameType::Request, &request.to_body(), &mut out);
        // The flush pushes out what TLS buffered (a no-op on a plain socket).
        let stream = &mut self.stream;
        let write = async move {
            stream.write_all(&out).await?;
            stream.flush().await
        };
        with_timeout(&self.peer, "send", self.io_timeout, write)
            .await?
            .map_err(|e| self.io_error(e))
    }

    /// Sends a request and waits for its answer.
    pub async fn request<T: DeserializeOwned>(
        &mut self,
        request: &Request,
    ) -> Result<T, ClientError> {
        self.send(request).await?;
        self.recv_answer().await
    }

    /// Reads more bytes into the buffer; an EOF here is a lost connection.
    async fn fill(&mut self) -> Result<(), ClientError> {
        // A frame header may be all there is to come.
        self.wake_at(1);
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(MAX_ANSWER_BYTES + HEADER_LEN);
            self.buf.resize(grown.max(self.end + 1), 0);
        }
        let end = self.end;
        let n = with_timeout(
            &self.peer,
            "read",
            self.io_timeout,
            self.stream.read(&mut self.buf[end..]),
        )
        .await?
        .map_err(|e| self.io_error(e))?;
        if n == 0 {
            return Err(ClientError::Closed {
                peer: self.peer.clone(),
            });
        }
        self.end += n;
        Ok(())
    }

    /// Waits for the next frame header, checking its length against the limits.
    async fn next_header(&mut self) -> Result<frame::FrameHeader, ClientError> {
        loop {
            let limit = MAX_DATA_BYTES.max(MAX_ANSWER_BYTES);
            match frame::decode_header(&self.buf[self.start..self.end], limit) {
                Ok(Some(header)) => {
                    let ok = match header.kind {
                        FrameType::Answer => header.body_len <= MAX_ANSWER_BYTES,
                        FrameType::Data => header.body_len <= MAX_DATA_BYTES,
                        FrameType::Request => false,
                    };
                    if !ok {
                        return Err(self.protocol_error(format!(
                            "unexpected {:?} frame of {} bytes",
                            header.kind, header.body_len
                        )));
                    }
                    self.start += HEADER_LEN;
                    return Ok(header);
                }
                Ok(None) => self.fill().await?,
                Err(e) => return Err(self.protocol_error(e.to_string())),
            }
        }
    }

    /// Reads `len` body bytes into `dest`, which ends up exactly `len` long (on an error,
    /// its content is undefined); file data (`throttled`) is held to `[download]
    /// max_rate` as it arrives.
    ///
    /// `dest` is resized, not cleared: a reused buffer already `len` long is overwritten
    /// in place, without zeroing a MiB per piece first (1.7 % of a P2P/2 get's CPU).
    async fn read_body(
        &mut self,
        len: usize,
        dest: &mut Vec<u8>,
        throttled: bool,
    ) -> Result<(), ClientError> {
        dest.resize(len, 0);
        let buffered = (self.end - self.start).min(len);
        dest[..buffered].copy_from_slice(&self.buf[self.start..self.start + buffered]);
        self.start += buffered;
        if throttled {
            download_limit().admit(buffered as u64).await;
        }
        if buffered < len {
            let mut got = buffered;
            while got < len {
                self.wake_at(wake::level((len - got).saturating_sub(self.stream.held())));
                // A peer slower than the level a patience allows (a low `max_upload_rate`,
                // a crowded uplink) must not look stalled: past the patience, any byte
                // wakes the read again, within the same time-out. Nothing is lost by
                // dropping the read (TLS keeps what it took).
                let mut patient = None;
                let mut limit = self.io_timeout;
                if self.wake_at > 1 {
                    let read = self.stream.read(&mut dest[got..]);
                    match runtime::timeout(wake::PATIENCE, read).await {
                        Ok(read) => patient = Some(read.map_err(|e| self.io_error(e))?),
                        Err(_) => {
                            self.wake_at(1);
                            limit = limit.saturating_sub(wake::PATIENCE);
                        }
                    }
                }
                let n = match patient {
                    Some(n) => n,
                    None => with_timeout(
                        &self.peer,
                        "read",
                        limit,
                        self.stream.read(&mut dest[got..]),
                    )
                    .await?
                    .map_err(|e| self.io_error(e))?,
                };
                if n == 0 {
                    return Err(ClientError::Closed {
                        peer: self.peer.clone(),
                    });
                }
                got += n;
                if throttled {
                    download_limit().admit(n as u64).await;
                }
            }
        }
        Ok(())
    }

    /// Reads the next frame, which must be an answer, and parses it as `T`.
    pub async fn recv_answer<T: DeserializeOwned>(&mut self) -> Result<T, ClientError> {
        let header = self.next_header().await?;
        let mut body = Vec::new();
        self.read_body(header.body_len, &mut body, false).await?;
        if header.kind != FrameType::Answer {
            return Err(self.protocol_error("expected an answer, got data"));
        }
        self.decode_answer(&body)
    }

    fn decode_answer<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, ClientError> {
        match parse_answer::<T>(body) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(ClientError::Remote {
                peer: self.peer.clone(),
                error,
            }),
            Err(e) => Err(self.protocol_error(e.to_string())),
        }
    }

    /// Reads the next frame, which must be the data answering a `read`, into `dest`.
    /// An error answer in its place becomes [`ClientError::Remote`].
    pub async fn recv_data(&mut self, dest: &mut Vec<u8>) -> Result<(), ClientError> {
        let header = self.next_header().await?;
        let data = header.kind == FrameType::Data;
        self.read_body(header.body_len, dest, data).await?;
        match header.kind {
            FrameType::Data => Ok(()),
            _ => {
                let error = self.decode_answer::<serde_json::Value>(dest);
                dest.clear();
                Err(error
                    .err()
                    .unwrap_or_else(|| self.protocol_error("expected data, got an answer")))
            }
        }
    }
}
