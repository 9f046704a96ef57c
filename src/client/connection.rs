//! A client's connection to one peer: the only client code that touches a socket.
//!
//! [`connect`] sends the P2P/2 preamble and tells the protocols apart by the answer: the
//! same 5 bytes back means P2P/2 (TLS 1.3 follows, and the peer's ID is judged by the
//! dialer), P2P/1's means a peer without P2P/2 (a new connection in the clear, if the
//! dialer allows it), `None` means a seed peer. Frames are decoded with the sans-IO codec; a data frame's
//! body is read straight into the caller's buffer, without a copy in between.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use socket2::{Domain, Protocol, Socket, Type};

use super::{dialer, wake, ClientError, PeerAddr, CONNECT_TIMEOUT};
use crate::content::PeerId;
use crate::protocol::frame::{self, FrameType, HEADER_LEN};
use crate::protocol::legacy::NONE_ANSWER;
use crate::protocol::message::{parse_answer, Request};
use crate::protocol::name::printable;
use crate::protocol::{MAX_ANSWER_BYTES, PREAMBLE, PREAMBLE_V2};
use crate::rate::{Rate, TokenBucket};
use crate::runtime::{self, TcpStream};

/// The largest data frame we accept: the protocol's `read` limit.
pub const MAX_DATA_BYTES: usize = 4 * 1024 * 1024;

/// What answered at an address.
pub enum Link {
    P2p(Connection),
    /// A seed peer: every request is a new connection (see `client::legacy`).
    Legacy,
}

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

/// The address outgoing connections come from, when the node listens on one address.
static SOURCE_IP: OnceLock<IpAddr> = OnceLock::new();

/// Makes every later outgoing connection to a loopback address come from `ip` (a peer's
/// own loopback listen address, so that other local peers' allow-lists see the address
/// they were told about). Set once.
pub fn bind_outgoing_to(ip: IpAddr) {
    if !ip.is_unspecified() {
        let _ = SOURCE_IP.set(ip);
    }
}

async fn connect_from(addr: SocketAddr) -> std::io::Result<TcpStream> {
    // Only loopback to loopback: there every 127.x address reaches every other. Between
    // hosts the kernel's route picks the source; a multi-homed host's listen address is
    // often not one its peers on another link can answer (found with three veth links).
    let usable = |ip: &&IpAddr| {
        ip.is_ipv4() == addr.is_ipv4() && ip.is_loopback() && addr.ip().is_loopback()
    };
    let Some(&source) = SOURCE_IP.get().filter(usable) else {
        return TcpStream::connect(addr).await;
    };
    let stream = runtime::spawn_blocking(move || {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.bind(&SocketAddr::new(source, 0).into())?;
        socket.connect_timeout(&addr.into(), CONNECT_TIMEOUT)?;
        socket.set_nonblocking(true)?;
        Ok::<_, std::io::Error>(std::net::TcpStream::from(socket))
    })
    .await?;
    Ok(runtime::tcp_from_std(stream))
}

/// Resolves and connects within [`CONNECT_TIMEOUT`].
pub(crate) async fn open_stream(peer: &PeerAddr) -> Result<TcpStream, ClientError> {
    let target = peer.socket_string();
    let attempt = async {
        let addrs: Vec<SocketAddr> = async_resolve(&target).await?;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            match connect_from(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    match runtime::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(source)) => Err(ClientError::Connect {
            peer: peer.clone(),
            source,
        }),
        Err(_) => Err(ClientError::TimedOut {
            peer: peer.clone(),
            what: "connect",
            secs: CONNECT_TIMEOUT.as_secs(),
        }),
    }
}

async fn async_resolve(target: &str) -> std::io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let target = target.to_string();
    runtime::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&target).map(|a| a.collect())
    })
    .await
}

/// What answered our preamble.
enum Answer {
    /// The preamble we sent, back.
    Same,
    /// P2P/1's preamble, to our P2P/2 one: a peer without P2P/2.
    P2p1,
    /// Closed (or reset) without a byte.
    Nothing,
    /// `None`: a seed peer took our preamble for a file name.
    Legacy,
}

/// Sends `ours` and reads what the peer answers.
async fn exchange_preamble(
    stream: &mut TcpStream,
    peer: &PeerAddr,
    ours: &[u8; 5],
) -> Result<Answer, ClientError> {
    let conn_io = |source| ClientError::Io {
        peer: peer.clone(),
        source,
    };
    with_timeout(peer, "preamble", CONNECT_TIMEOUT, stream.write_all(ours))
        .await?
        .map_err(conn_io)?;
    let mut answer = [0u8; 5];
    let mut got = 0;
    // Both preambles share their first four bytes: read on while either may follow.
    let may_be = |got: usize, answer: &[u8; 5]| {
        answer[..got] == ours[..got] || answer[..got] == PREAMBLE[..got]
    };
    while got < answer.len() {
        let n = with_timeout(
            peer,
            "preamble",
            CONNECT_TIMEOUT,
            stream.read(&mut answer[got..]),
        )
        .await?;
        let n = match n {
            Ok(n) => n,
            // Closed unread (an allow-list refusing us) resets the connection.
            Err(e) if got == 0 && e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => return Err(conn_io(e)),
        };
        if n == 0 {
            break;
        }
        got += n;
        if !may_be(got, &answer) {
            break;
        }
    }
    if got == 0 {
        return Ok(Answer::Nothing);
    }
    if answer[..got] == ours[..] {
        return Ok(Answer::Same);
    }
    if answer[..got] == PREAMBLE[..] {
        return Ok(Answer::P2p1);
    }
    // A seed peer takes our preamble for a file name and answers `None`; anything else
    // is not a peer we can talk to.
    let none = NONE_ANSWER.as_bytes();
    let mut said = answer[..got].to_vec();
    while said.len() < none.len() && none.starts_with(&said) {
        let mut more = [0u8; 4];
        match runtime::timeout(CONNECT_TIMEOUT, stream.read(&mut more)).await {
            Ok(Ok(n)) if n > 0 => said.extend_from_slice(&more[..n]),
            _ => break,
        }
    }
    if said.starts_with(none) {
        return Ok(Answer::Legacy);
    }
    Err(ClientError::Protocol {
        peer: peer.clone(),
        message: format!(
            "not a p2p peer (answered {})",
            printable(&String::from_utf8_lossy(&said))
        ),
    })
}

/// Opens a connection and finds out which protocol the peer speaks: P2P/2 first
/// (DESIGN §7), P2P/1 in the clear for a peer that has no P2P/2 — unless it is pinned,
/// known by its ID, or `[peers] require_encryption` is on — and the seed's protocol for
/// a seed peer.
pub async fn connect(peer: &PeerAddr, io_timeout: Duration) -> Result<Link, ClientError> {
    let Some(dialer) = dialer::current() else {
        return connect_plain(peer, io_timeout).await;
    };
    let connector = dialer.connector(peer)?;
    let in_clear = || dialer.may_use_plain(peer);
    if dialer.known_plain(peer) {
        in_clear()?;
        return connect_plain(peer, io_timeout).await;
    }
    let mut stream = open_stream(peer).await?;
    let answer = match exchange_preamble(&mut stream, peer, &PREAMBLE_V2).await {
        // Silence to the P2P/2 preamble: a P2P/1 peer that waits for its own.
        Err(ClientError::TimedOut { .. }) => Answer::Nothing,
        other => other?,
    };
    match answer {
        Answer::Same => {}
        // A P2P/1 peer closes after its answer to a preamble it does not speak (or
        // says nothing): a new connection, in its protocol.
        Answer::P2p1 | Answer::Nothing => {
            in_clear()?;
            dialer.found_plain(peer);
            return connect_plain(peer, io_timeout).await;
        }
        Answer::Legacy => {
            in_clear()?;
            return Ok(Link::Legacy);
        }
    }
    let stream = futures_lite::io::BufReader::with_capacity(TLS_READ_BUFFER, stream);
    let handshake = connector.connect(TLS_NAME.clone(), stream);
    let tls = match runtime::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(source)) if crate::transport::peer_refused_our_id(&source) => {
            return Err(ClientError::IdNotAllowed { peer: peer.clone() })
        }
        Ok(Err(source)) => {
            return Err(ClientError::Tls {
                peer: peer.clone(),
                source,
            })
        }
        Err(_) => {
            return Err(ClientError::TimedOut {
                peer: peer.clone(),
                what: "TLS handshake",
                secs: CONNECT_TIMEOUT.as_secs(),
            })
        }
    };
    // The handshake required a certificate; its absence would be rustls' bug, not ours
    // to paper over.
    let Some(id) = crate::transport::peer_id_of(tls.get_ref().1) else {
        return Err(ClientError::Protocol {
            peer: peer.clone(),
            message: "no certificate after the TLS handshake".into(),
        });
    };
    dialer.judge(peer, id)?;
    Ok(Link::P2p(Connection::new(
        peer,
        Stream::Tls(Box::new(tls)),
        Some(id),
        io_timeout,
    )))
}

/// P2P/1 in the clear (or the seed's protocol).
async fn connect_plain(peer: &PeerAddr, io_timeout: Duration) -> Result<Link, ClientError> {
    let mut stream = open_stream(peer).await?;
    match exchange_preamble(&mut stream, peer, &PREAMBLE).await? {
        Answer::Same => Ok(Link::P2p(Connection::new(
            peer,
            Stream::Plain(stream),
            None,
            io_timeout,
        ))),
        Answer::Legacy => Ok(Link::Legacy),
        Answer::Nothing => Err(ClientError::Refused { peer: peer.clone() }),
        Answer::P2p1 => unreachable!("P2P/1's answer is the preamble sent"),
    }
}

/// The name the TLS client is given: peers are judged by ID, never by name (the
/// verifier ignores it, and no SNI is sent).
static TLS_NAME: std::sync::LazyLock<ServerName<'static>> =
    std::sync::LazyLock::new(|| ServerName::try_from("p2p.invalid").expect("a valid DNS name"));

/// A connection's byte stream: the socket (P2P/1), or TLS over it (P2P/2).
enum Stream {
    Plain(TcpStream),
    Tls(Box<futures_rustls::client::TlsStream<futures_lite::io::BufReader<TcpStream>>>),
}

/// Bytes read from the socket at once under TLS. rustls asks for about one record
/// (16 KiB) per read: without this buffer a GiB took 65,000 `recvfrom` calls, against
/// 2,000 for P2P/1 (strace, issue 13's bench). Writes pass straight through.
const TLS_READ_BUFFER: usize = 256 * 1024;

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

async fn with_timeout<F: std::future::Future>(
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
    fn new(
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
