//! Dialling a peer and finding out which protocol it speaks.
//!
//! [`connect`] sends the P2P/2 preamble and tells the protocols apart by the answer: the
//! same 5 bytes back means P2P/2 (TLS 1.3 follows, and the peer's ID is judged by the
//! dialer), P2P/1's means a peer without P2P/2 (a new connection in the clear, if the
//! dialer allows it), `None` means a seed peer. What it hands on is a [`Connection`]
//! ready for frames; it never reads or writes one.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use rustls::pki_types::ServerName;
use socket2::{Domain, Protocol, Socket, Type};

use super::connection::{with_timeout, Stream};
use super::{dialer, ClientError, Connection, PeerAddr, CONNECT_TIMEOUT};
use crate::protocol::legacy::NONE_ANSWER;
use crate::protocol::name::printable;
use crate::protocol::{PREAMBLE, PREAMBLE_V2};
use crate::runtime::{self, TcpStream};

/// What answered at an address.
pub enum Link {
    P2p(Connection),
    /// A seed peer: every request is a new connection (see `client::legacy`).
    Legacy,
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
    if dialer.known_plain(peer) {
        dialer.check_plain_allowed(peer)?;
        let link = connect_plain(peer, io_timeout).await?;
        dialer.check_not_known(peer)?;
        return Ok(link);
    }
    let mut stream = open_stream(peer).await?;
    let answer = match exchange_preamble(&mut stream, peer, &PREAMBLE_V2).await {
        // Silence to the P2P/2 preamble: a P2P/1 peer that waits for its own (for a
        // peer that may only be spoken to in P2P/2, the silence is the answer).
        Err(e @ ClientError::TimedOut { .. }) => match dialer.check_plain_allowed(peer) {
            Ok(()) => Answer::Nothing,
            Err(_) => return Err(e),
        },
        other => other?,
    };
    match answer {
        Answer::Same => {}
        // A P2P/1 peer closes after its answer to a preamble it does not speak: a new
        // connection, in its protocol, and in it straight away for a while.
        Answer::P2p1 => {
            dialer.check_plain_allowed(peer)?;
            dialer.check_not_known(peer)?;
            dialer.found_plain(peer);
            return connect_plain(peer, io_timeout).await;
        }
        // Closed or silent: an allow-list that refuses us, a peer that is full, or one
        // that waits for its own preamble. Only asking in the clear tells them apart;
        // the peer is remembered as plain only when it did answer so (a P2P/2 peer that
        // was full a moment ago must not be spoken to in the clear for the next while).
        Answer::Nothing => {
            // Pinned, or encryption required: nothing in the clear was said, so the
            // close is what to report (its allow-list, or full), not a refusal of ours.
            if dialer.check_plain_allowed(peer).is_err() {
                return Err(ClientError::Refused { peer: peer.clone() });
            }
            let link = connect_plain(peer, io_timeout).await?;
            dialer.check_not_known(peer)?;
            if matches!(link, Link::P2p(_)) {
                dialer.found_plain(peer);
            }
            return Ok(link);
        }
        Answer::Legacy => {
            dialer.check_plain_allowed(peer)?;
            dialer.check_not_known(peer)?;
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

/// Bytes read from the socket at once under TLS. rustls asks for about one record
/// (16 KiB) per read: without this buffer a GiB took 65,000 `recvfrom` calls, against
/// 2,000 for P2P/1 (strace, issue 13's bench). Writes pass straight through.
const TLS_READ_BUFFER: usize = 256 * 1024;
