//! Attacks on a serving peer (issue 7). One `p2p serve` peer per attack shares a
//! 100 MiB file with `max_connections = 64`; its fd count and RSS are measured at rest
//! after a warm-up download. While the attack runs, an honest client
//! (`p2p --json get SHA256`) downloads the file: exit 0 and the right SHA-256. Then the
//! attack stops, and within a few seconds the server's fd count and RSS are back within
//! a small margin of the rest values; it still answers and shuts down cleanly.
//!
//! Attacks: slow-loris (one byte a second on 4x the cap of connections), a thousand
//! connections opened at once and held, frames claiming 4 GiB, ten thousand pipelined
//! requests never read, random bytes, and connections reset (SO_LINGER 0) while a
//! 4 MiB read answer is arriving. Attackers come from 127.0.0.70–79; each victim
//! listens on its own address in 127.0.0.80–89. The tests run one at a time (a lock),
//! so that each one's figures are its own; run with `--nocapture` to see them.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{random_file, run_p2p, sha256_file, Conf, Peer};
use serde_json::{json, Value};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

const PREAMBLE: [u8; 5] = [0x00, 0x50, 0x32, 0x50, 0x01];
const FILE_SIZE: u64 = 100 << 20;
const MAX_CONNECTIONS: usize = 64;
const MAX_READ: u64 = 4 << 20;
/// How far above their rest values the fd count and RSS may stay after an attack.
const FD_MARGIN: usize = 8;
const RSS_MARGIN_KIB: u64 = 30 * 1024;
/// DESIGN.md §4: a peer's RSS stays under 100 MiB while it serves a file of any size.
const RSS_CEILING_KIB: u64 = 100 * 1024;
/// How long the server may take to come back to rest once the attack stopped.
const RECOVERY: Duration = Duration::from_secs(15);
/// How long the attack runs before the honest client starts.
const RAMP_UP: Duration = Duration::from_secs(3);
const GET_LIMIT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a looping attacker waits after a connection that did not work out.
const FAILED_PAUSE: Duration = Duration::from_millis(10);
/// How often a holding attacker looks for connections the server closed.
const HOLD_POLL: Duration = Duration::from_millis(20);

static SERIAL: Mutex<()> = Mutex::new(());

/// One attack at a time, even after another one failed.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

// ---------------------------------------------------------------------------------------
// Measuring the server.

#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    fds: usize,
    rss_kib: u64,
}

impl Usage {
    fn of(pid: u32) -> Usage {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Usage { fds, rss_kib }
    }

    fn max(self, other: Usage) -> Usage {
        Usage {
            fds: self.fds.max(other.fds),
            rss_kib: self.rss_kib.max(other.rss_kib),
        }
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} fds, {:.1} MiB",
            self.fds,
            self.rss_kib as f64 / 1024.0
        )
    }
}

/// Samples a process every 50 ms and keeps the peak.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Usage>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = Usage::default();
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(Usage::of(pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        Sampler { stop, thread }
    }

    fn peak(self) -> Usage {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// The victim and the honest client.

struct Victim {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    peer: Peer,
    addr: SocketAddr,
    hash: String,
    rest: Usage,
}

impl Victim {
    /// A peer on `ip` sharing a 100 MiB file, warmed up by one honest download from
    /// `client_ip`, and measured at rest.
    fn start(ip: &str, client_ip: &str) -> Victim {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let share = path.join("share");
        random_file(&share.join("big.bin"), FILE_SIZE, 7);
        let hash = sha256_file(&share.join("big.bin"));
        let peer = Peer::start(
            &path,
            "victim",
            ip,
            std::slice::from_ref(&share),
            &format!("[server]\nmax_connections = {MAX_CONNECTIONS}\n"),
        );
        let addr = peer.addr.parse().unwrap();
        let mut victim = Victim {
            _dir: dir,
            dir: path,
            peer,
            addr,
            hash,
            rest: Usage::default(),
        };
        if let Err(failure) = victim.honest_get(client_ip, "warm-up") {
            panic!("{failure}");
        }
        std::thread::sleep(Duration::from_millis(500));
        victim.rest = Usage::of(victim.peer.pid());
        victim
    }

    /// `p2p --json get SHA256` from `client_ip`: exit 0 and the right bytes. The file is
    /// removed afterwards. Returns how long it took, or what went wrong.
    fn honest_get(&self, client_ip: &str, tag: &str) -> Result<Duration, String> {
        let work = self.dir.join(format!("client-{tag}"));
        std::fs::create_dir_all(work.join("share")).unwrap();
        let conf = work.join("client.conf");
        Conf {
            name: format!("honest-{tag}"),
            listen: format!("{client_ip}:0"),
            shares: vec![work.join("share")],
            download: work.join("downloads"),
            peers: vec![self.peer.addr.clone()],
            extra: String::new(),
        }
        .write(&conf);
        let started = Instant::now();
        let run = run_p2p(
            &work,
            &[
                "--config",
                conf.to_str().unwrap(),
                "--json",
                "get",
                &self.hash,
            ],
            "",
            GET_LIMIT,
        );
        let took = started.elapsed();
        assert!(!run.stderr.contains("panicked"), "{tag}: {}", run.stderr);
        if run.code != 0 {
            return Err(format!(
                "{tag}: the honest get failed (exit {}) after {took:.1?}: {}",
                run.code,
                run.stderr.trim()
            ));
        }
        let lines = run.json_lines();
        assert_eq!(lines.len(), 1, "{tag}: {}", run.stdout);
        let path = PathBuf::from(lines[0]["path"].as_str().unwrap());
        assert_eq!(path.parent(), Some(work.join("downloads").as_path()));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), FILE_SIZE);
        assert_eq!(sha256_file(&path), self.hash, "{tag}: corrupt download");
        std::fs::remove_file(&path).unwrap();
        Ok(took)
    }

    fn pid(&self) -> u32 {
        self.peer.pid()
    }
}

/// What an attack is aimed at.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    hash: String,
}

/// Attacker threads, each returning a one-line summary of what it did.
struct Attack {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<String>>,
}

impl Attack {
    fn new() -> Attack {
        Attack {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        }
    }

    fn spawn(&mut self, work: impl FnOnce(&AtomicBool) -> String + Send + 'static) {
        let stop = self.stop.clone();
        self.threads
            .push(std::thread::spawn(move || work(stop.as_ref())));
    }

    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|t| t.join().expect("attacker thread panicked"))
            .collect()
    }
}

impl Drop for Attack {
    /// A test that failed half-way still stops its attackers.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs `attack` against a fresh victim on `server_ip`; while it runs, an honest client
/// downloads the file from each of `client_ips` in turn. Returns the attackers' summaries.
fn under_attack(
    name: &str,
    server_ip: &str,
    client_ips: &[&str],
    attack: impl FnOnce(Target, &mut Attack),
) -> Vec<String> {
    let _serial = serial();
    let started = Instant::now();
    let victim = Victim::start(server_ip, client_ips[0]);
    let pid = victim.pid();
    let rest = victim.rest;

    let sampler = Sampler::start(pid);
    let mut running = Attack::new();
    attack(
        Target {
            addr: victim.addr,
            hash: victim.hash.clone(),
        },
        &mut running,
    );
    std::thread::sleep(RAMP_UP);
    let before_get = Usage::of(pid);
    let gets: Vec<Result<Duration, String>> = client_ips
        .iter()
        .map(|client| victim.honest_get(client, &format!("{name}-{client}")))
        .collect();
    let took: Vec<String> = client_ips
        .iter()
        .zip(&gets)
        .map(|(client, get)| match get {
            Ok(took) => format!("from {client} in {took:.1?}"),
            Err(_) => format!("from {client} FAILED"),
        })
        .collect();
    let summaries = running.finish();
    let peak = sampler.peak();

    // Back to rest, within the margins.
    let deadline = Instant::now() + RECOVERY;
    let stopped = Instant::now();
    let after = loop {
        let now = Usage::of(pid);
        let recovered =
            now.fds <= rest.fds + FD_MARGIN && now.rss_kib <= rest.rss_kib + RSS_MARGIN_KIB;
        if recovered || Instant::now() >= deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let recovery = stopped.elapsed();
    eprintln!(
        "[{name}] rest {rest} | under attack {before_get}, peak {peak} | after {after} \
         (in {recovery:.1?}) | honest get of 100 MiB {} | test {:.1?}",
        took.join(", "),
        started.elapsed()
    );
    for summary in &summaries {
        eprintln!("[{name}]   {summary}");
    }
    for get in &gets {
        if let Err(failure) = get {
            panic!("{name}: {failure}");
        }
    }
    assert!(
        after.fds <= rest.fds + FD_MARGIN,
        "{name}: {} fds {recovery:?} after the attack, {} at rest",
        after.fds,
        rest.fds
    );
    assert!(
        after.rss_kib <= rest.rss_kib + RSS_MARGIN_KIB,
        "{name}: RSS {} KiB {recovery:?} after the attack, {} KiB at rest",
        after.rss_kib,
        rest.rss_kib
    );
    assert!(
        peak.rss_kib <= RSS_CEILING_KIB,
        "{name}: RSS peaked at {} KiB under attack (DESIGN.md §4: under 100 MiB)",
        peak.rss_kib
    );

    // Still serving, and a clean shutdown.
    let mut raw = open_p2p(ip("127.0.0.79"), victim.addr).expect("a fresh connection");
    send_request(&mut raw, &json!({"op": "ping"})).unwrap();
    let answer = read_answer(&mut raw).expect("ping after the attack");
    assert_eq!(answer["version"], json!(1), "{answer}");
    drop(raw);
    let Victim { peer, _dir, .. } = victim;
    let (status, stderr) = peer.stop();
    assert!(status.success(), "{name}: serve exit {status:?}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    summaries
}

// ---------------------------------------------------------------------------------------
// Raw sockets for the attackers.

/// A TCP connection from `src` (any port) to `dst`, with I/O time-outs.
fn connect_from(src: IpAddr, dst: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SocketAddr::new(src, 0).into())?;
    socket.connect_timeout(&dst.into(), IO_TIMEOUT)?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connected, preamble exchanged.
fn open_p2p(src: IpAddr, dst: SocketAddr) -> std::io::Result<TcpStream> {
    let mut stream = connect_from(src, dst)?;
    stream.write_all(&PREAMBLE)?;
    let mut echo = [0u8; 5];
    stream.read_exact(&mut echo)?;
    if echo != PREAMBLE {
        return Err(std::io::Error::other(format!("preamble answered {echo:?}")));
    }
    Ok(stream)
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(body);
    out
}

fn send_request(stream: &mut TcpStream, body: &Value) -> std::io::Result<()> {
    stream.write_all(&frame(0x01, body.to_string().as_bytes()))
}

/// The next frame: its type and body (bodies over 4 MiB + 1 are refused).
fn read_frame(stream: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as u64;
    if len == 0 || len > MAX_READ + 1 {
        return Err(std::io::Error::other(format!("frame length {len}")));
    }
    let mut body = vec![0u8; len as usize - 1];
    stream.read_exact(&mut body)?;
    Ok((header[4], body))
}

fn read_answer(stream: &mut TcpStream) -> std::io::Result<Value> {
    let (kind, body) = read_frame(stream)?;
    if kind != 0x02 {
        return Err(std::io::Error::other(format!("frame type {kind}")));
    }
    serde_json::from_slice(&body).map_err(std::io::Error::other)
}

/// Reads what has arrived on a non-blocking socket; false once the server has closed it.
fn still_open(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

/// How a connection the attacker stopped writing to ended.
enum Closed {
    Eof,
    Reset,
    TimedOut,
}

/// Reads until EOF, an error or the time-out.
fn read_to_close(stream: &mut TcpStream) -> Closed {
    let mut buf = [0u8; 64 * 1024];
    let deadline = Instant::now() + IO_TIMEOUT;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return Closed::Eof,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(_) => return Closed::Reset,
        }
    }
    Closed::TimedOut
}

/// A small xorshift generator: attacks are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next() as u8;
        }
    }
}

fn sleep_until_stop(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------
// The attackers. Each runs until `stop`, and says what it did.

/// `conns` connections from `src`, each sending one byte a second: even ones the P2P/1
/// preamble and then a request frame that never ends, odd ones a legacy message that
/// never ends. A connection the server closes is opened again on the next tick.
fn slow_loris(src: IpAddr, dst: SocketAddr, conns: usize, stop: &AtomicBool) -> String {
    let mut p2p = PREAMBLE.to_vec();
    p2p.extend_from_slice(&2000u32.to_be_bytes());
    p2p.push(0x01);
    p2p.extend_from_slice(br#"{"op":"search","query":""#);
    p2p.resize(3000, b'a');
    let legacy = vec![b'n'; 3000];
    let mut socks: Vec<Option<(TcpStream, usize)>> = (0..conns).map(|_| None).collect();
    let (mut opened, mut closed) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let tick = Instant::now();
        for (i, slot) in socks.iter_mut().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if slot.is_none() {
                let Ok(stream) = connect_from(src, dst) else {
                    continue;
                };
                stream.set_nonblocking(true).unwrap();
                opened += 1;
                *slot = Some((stream, 0));
            }
            let Some((stream, sent)) = slot.as_mut() else {
                continue;
            };
            let script = if i.is_multiple_of(2) { &p2p } else { &legacy };
            let byte = &script[*sent % script.len()..][..1];
            if still_open(stream) && matches!(stream.write(byte), Ok(1)) {
                *sent += 1;
            } else {
                *slot = None;
                closed += 1;
            }
        }
        if let Some(left) = Duration::from_secs(1).checked_sub(tick.elapsed()) {
            std::thread::sleep(left);
        }
    }
    format!("{conns} connections at 1 byte/s: {opened} opened, {closed} closed by the server")
}

/// `conns` non-blocking connects from `src` started at once; those connected within
/// a few seconds, as non-blocking streams.
fn connect_all_at_once(src: IpAddr, dst: SocketAddr, conns: usize) -> Vec<Option<TcpStream>> {
    const EINPROGRESS: i32 = 115;
    let mut pending: Vec<Option<Socket>> = (0..conns)
        .map(|_| {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).ok()?;
            socket.bind(&SocketAddr::new(src, 0).into()).ok()?;
            socket.set_nonblocking(true).ok()?;
            match socket.connect(&dst.into()) {
                Ok(()) => Some(socket),
                Err(e) if e.raw_os_error() == Some(EINPROGRESS) => Some(socket),
                Err(e) if e.kind() == ErrorKind::WouldBlock => Some(socket),
                Err(_) => None,
            }
        })
        .collect();
    let mut done: Vec<Option<TcpStream>> = (0..conns).map(|_| None).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pending.iter().any(Option::is_some) && Instant::now() < deadline {
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            let Some(socket) = slot else { continue };
            if !matches!(socket.take_error(), Ok(None)) {
                *slot = None; // refused or reset
            } else if socket.peer_addr().is_ok() {
                *out = slot.take().map(TcpStream::from);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done
}

/// `conns` connections opened at once from `src` (even ones send the preamble, odd ones
/// nothing), then held: one closed by the server is opened again within milliseconds.
fn hold_connections(src: IpAddr, dst: SocketAddr, conns: usize, stop: &AtomicBool) -> String {
    let hello = |i: usize, stream: &mut TcpStream| {
        if i.is_multiple_of(2) {
            let _ = stream.write(&PREAMBLE);
        }
    };
    let started = Instant::now();
    let mut socks = connect_all_at_once(src, dst, conns);
    let took = started.elapsed();
    for (i, slot) in socks.iter_mut().enumerate() {
        if let Some(stream) = slot {
            hello(i, stream);
        }
    }
    let first = socks.iter().flatten().count();
    let (mut opened, mut closed) = (first as u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(HOLD_POLL);
        for (i, slot) in socks.iter_mut().enumerate() {
            if slot.as_mut().is_some_and(still_open) {
                continue;
            }
            closed += u64::from(slot.is_some());
            *slot = connect_from(src, dst).ok().and_then(|mut stream| {
                hello(i, &mut stream);
                stream.set_nonblocking(true).ok()?;
                Some(stream)
            });
            opened += u64::from(slot.is_some());
        }
    }
    format!(
        "{first} of {conns} connected at once (in {took:.1?}), {opened} opened in all, \
         {closed} closed by the server"
    )
}

/// Frames claiming 4 GiB, in a loop: the header alone, or the header and then up to
/// 64 MiB of "body" until the server cuts it. Every answer must be `too_large`.
fn huge_frames(src: IpAddr, dst: SocketAddr, answered: &AtomicU64, stop: &AtomicBool) -> String {
    let (mut tries, mut too_large) = (0u64, 0u64);
    let junk = vec![0x5au8; 1 << 20];
    while !stop.load(Ordering::Relaxed) {
        tries += 1;
        let Ok(mut stream) = open_p2p(src, dst) else {
            std::thread::sleep(FAILED_PAUSE);
            continue;
        };
        let _ = stream.write_all(&[0xff, 0xff, 0xff, 0xff, 0x01]);
        if tries.is_multiple_of(2) {
            for _ in 0..64 {
                if stream.write_all(&junk).is_err() {
                    break;
                }
            }
        }
        // (The server may also have reset the connection on the unread body.)
        if let Ok(answer) = read_answer(&mut stream) {
            assert_eq!(answer["error"]["code"], json!("too_large"), "{answer}");
            too_large += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    answered.fetch_add(too_large, Ordering::Relaxed);
    format!("{tries} frames claiming 4 GiB, {too_large} answered too_large")
}

/// What a pipelining connection that never reads managed to send.
#[derive(Debug, Clone, Copy)]
struct Pipelined {
    requests: u64,
    bytes: u64,
    blocked: bool,
}

/// `count` pipelined 4 MiB `read` requests, each padded to ~4 KiB, written without
/// reading anything until a write blocks for a second; then the connection is held.
fn pipeline_unread(src: IpAddr, target: &Target, count: u64, stop: &AtomicBool) -> Pipelined {
    let mut sent = Pipelined {
        requests: 0,
        bytes: 0,
        blocked: false,
    };
    let Ok(mut stream) = open_p2p(src, target.addr) else {
        return sent;
    };
    stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let pad = "p".repeat(4000);
    'requests: for i in 0..count {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let request = json!({
            "op": "read",
            "sha256": target.hash,
            "offset": (i * MAX_READ) % FILE_SIZE,
            "len": MAX_READ,
            "pad": pad,
        });
        let bytes = frame(0x01, request.to_string().as_bytes());
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            match stream.write(rest) {
                Ok(n) => {
                    sent.bytes += n as u64;
                    rest = &rest[n..];
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    sent.blocked = true;
                    break 'requests;
                }
                Err(_) => break 'requests,
            }
        }
        sent.requests += 1;
    }
    // Hold the connection, never reading, until the attack ends.
    sleep_until_stop(stop);
    sent
}

/// Connections of random bytes, in a loop: a random first byte (a legacy message), or
/// `0x00` and random bytes (a broken preamble), or the preamble and random frames; from
/// 1 byte to 64 KiB, then read until the server closes.
fn random_bytes(src: IpAddr, dst: SocketAddr, seed: u64, stop: &AtomicBool) -> String {
    let mut rng = Rng(seed);
    let (mut tries, mut closed, mut reset) = (0u64, 0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        tries += 1;
        let Ok(mut stream) = connect_from(src, dst) else {
            std::thread::sleep(FAILED_PAUSE);
            continue;
        };
        let mut bytes = vec![0u8; 1 + rng.below(64 * 1024) as usize];
        rng.fill(&mut bytes);
        match rng.below(3) {
            0 => bytes[0] = 0,
            1 if bytes.len() >= 5 => bytes[..5].copy_from_slice(&PREAMBLE),
            _ => {}
        }
        let _ = stream.write_all(&bytes);
        match read_to_close(&mut stream) {
            Closed::Eof => closed += 1,
            Closed::Reset => reset += 1,
            Closed::TimedOut => {}
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    format!(
        "{tries} connections of random bytes: {closed} closed by the server, {reset} reset \
         (unread bytes left)"
    )
}

/// Asks for 4 MiB, takes the header and a random part of the data, then closes with
/// SO_LINGER 0 (a RST) while the rest is arriving; in a loop.
fn reset_mid_read(src: IpAddr, target: &Target, seed: u64, stop: &AtomicBool) -> String {
    let mut rng = Rng(seed);
    let (mut tries, mut resets) = (0u64, 0u64);
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        tries += 1;
        let Ok(mut stream) = open_p2p(src, target.addr) else {
            std::thread::sleep(FAILED_PAUSE);
            continue;
        };
        let offset = rng.below(FILE_SIZE / MAX_READ) * MAX_READ;
        let request =
            json!({"op": "read", "sha256": target.hash, "offset": offset, "len": MAX_READ});
        let mut header = [0u8; 5];
        if send_request(&mut stream, &request).is_err()
            || stream.read_exact(&mut header).is_err()
            || header[4] != 0x03
        {
            std::thread::sleep(FAILED_PAUSE);
            continue;
        }
        let mut want = rng.below(MAX_READ) as usize;
        while want > 0 {
            match stream.read(&mut buf[..want.min(64 * 1024)]) {
                Ok(0) | Err(_) => break,
                Ok(n) => want = want.saturating_sub(n),
            }
        }
        SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(stream);
        resets += 1;
    }
    format!("{tries} reads of 4 MiB asked, {resets} reset mid-answer")
}

/// `conns` connections that each ask for 4 MiB and never read the answer, re-opened
/// when the server closes one.
fn never_read(src: IpAddr, target: &Target, conns: usize, stop: &AtomicBool) -> String {
    let request = json!({"op": "read", "sha256": target.hash, "offset": 0, "len": MAX_READ});
    let mut socks: Vec<Option<TcpStream>> = (0..conns).map(|_| None).collect();
    let (mut opened, mut closed) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        for slot in socks.iter_mut() {
            match slot {
                None => {
                    let Ok(mut stream) = open_p2p(src, target.addr) else {
                        continue;
                    };
                    if send_request(&mut stream, &request).is_ok() {
                        stream.set_nonblocking(true).unwrap();
                        opened += 1;
                        *slot = Some(stream);
                    }
                }
                Some(stream) => {
                    // Look, without reading the data, whether the server closed it.
                    let mut peek = [0u8; 1];
                    let gone = match stream.peek(&mut peek) {
                        Ok(n) => n == 0,
                        Err(e) => e.kind() != ErrorKind::WouldBlock,
                    };
                    if gone {
                        *slot = None;
                        closed += 1;
                    }
                }
            }
        }
        std::thread::sleep(HOLD_POLL);
    }
    format!(
        "{conns} connections asking 4 MiB and never reading: {opened} opened, {closed} \
         closed by the server"
    )
}

// ---------------------------------------------------------------------------------------
// The tests.

/// Slow-loris: 4 x `max_connections` = 256 connections at one byte a second, re-opened
/// when closed. The attacker and the honest client share the source address 127.0.0.1.
#[test]
fn slow_loris_on_256_connections() {
    let summaries = under_attack(
        "slow-loris",
        "127.0.0.80",
        &["127.0.0.1"],
        |target, attack| {
            attack.spawn(move |stop| {
                slow_loris(ip("127.0.0.1"), target.addr, 4 * MAX_CONNECTIONS, stop)
            });
        },
    );
    assert_eq!(summaries.len(), 1);
}

/// A thousand connections opened at once from 127.0.0.1 and held; the honest client
/// comes from the same address, and then from another one.
#[test]
fn a_thousand_connections_at_once_and_held() {
    under_attack(
        "thousand",
        "127.0.0.81",
        &["127.0.0.1", "127.0.0.78"],
        |target, attack| {
            attack.spawn(move |stop| hold_connections(ip("127.0.0.1"), target.addr, 1000, stop));
        },
    );
}

/// Frames claiming 4 GiB, from 4 threads (127.0.0.70–73): each is answered `too_large`
/// and closed; the server allocates nothing for them.
#[test]
fn frames_claiming_4_gib() {
    let answered = Arc::new(AtomicU64::new(0));
    let count = answered.clone();
    under_attack(
        "4gib-frames",
        "127.0.0.82",
        &["127.0.0.1"],
        |target, attack| {
            for t in 0..4 {
                let count = count.clone();
                let src = ip(&format!("127.0.0.{}", 70 + t));
                attack.spawn(move |stop| huge_frames(src, target.addr, &count, stop));
            }
        },
    );
    assert!(
        answered.load(Ordering::Relaxed) > 0,
        "no too_large answer seen"
    );
}

/// Ten thousand pipelined 4 MiB `read` requests on each of 8 connections (40 MB of
/// requests each, padded), never reading an answer. The server must stop reading once
/// its writes block: each attacker's writes block after far less than 40 MB, and the
/// server's memory stays bounded (the RSS ceiling of `under_attack`).
#[test]
fn ten_thousand_pipelined_requests_never_read() {
    const CONNS: u8 = 8;
    const REQUESTS: u64 = 10_000;
    let sent: Arc<Mutex<Vec<Pipelined>>> = Arc::default();
    let record = sent.clone();
    under_attack(
        "pipelined",
        "127.0.0.83",
        &["127.0.0.1"],
        |target, attack| {
            for c in 0..CONNS {
                let (target, record) = (target.clone(), record.clone());
                let src = ip(&format!("127.0.0.{}", 70 + c));
                attack.spawn(move |stop| {
                    let sent = pipeline_unread(src, &target, REQUESTS, stop);
                    record.lock().unwrap().push(sent);
                    format!("{sent:?}")
                });
            }
        },
    );
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), usize::from(CONNS), "{sent:?}");
    for one in sent.iter() {
        assert!(
            one.blocked && one.bytes < 16 << 20 && one.requests < REQUESTS,
            "the server kept reading a connection that reads nothing: {one:?}"
        );
    }
}

/// Random bytes from 4 threads (127.0.0.74–77) in a loop.
#[test]
fn random_bytes_on_many_connections() {
    let summaries = under_attack("random", "127.0.0.84", &["127.0.0.1"], |target, attack| {
        for t in 0..4u8 {
            let src = ip(&format!("127.0.0.{}", 74 + t));
            attack.spawn(move |stop| {
                random_bytes(src, target.addr, 0x1234_5678 + u64::from(t), stop)
            });
        }
    });
    assert_eq!(summaries.len(), 4);
}

/// Connections reset (SO_LINGER 0) while a 4 MiB read answer is arriving, from 4
/// threads (127.0.0.74–77) in a loop.
#[test]
fn connections_reset_mid_read() {
    let summaries = under_attack("reset", "127.0.0.85", &["127.0.0.1"], |target, attack| {
        for t in 0..4u8 {
            let target = target.clone();
            let src = ip(&format!("127.0.0.{}", 74 + t));
            attack
                .spawn(move |stop| reset_mid_read(src, &target, 0x9876_5431 + u64::from(t), stop));
        }
    });
    assert_eq!(summaries.len(), 4);
}

/// Every served place taken by a connection that asks for 4 MiB and never reads it
/// (2 x `max_connections` of them, from 127.0.0.70–73, re-opened when closed).
#[test]
fn never_reading_connections_on_every_place() {
    under_attack(
        "never-reading",
        "127.0.0.86",
        &["127.0.0.1"],
        |target, attack| {
            for t in 0..4u8 {
                let target = target.clone();
                let src = ip(&format!("127.0.0.{}", 70 + t));
                attack.spawn(move |stop| never_read(src, &target, 2 * MAX_CONNECTIONS / 4, stop));
            }
        },
    );
}
