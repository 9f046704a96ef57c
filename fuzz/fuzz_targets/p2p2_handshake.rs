//! The server side of P2P/2 (DESIGN §3, §7) against whatever a client sends after the
//! v2 preamble: never a panic (any thread's panic aborts the fuzzer), the connection
//! always closed within the preamble time-out (which covers the TLS handshake), its
//! socket given back, and a fresh P2P/1 `ping` still answered.
//!
//! One real server runs in this process (started on the first input, on 127.0.0.1 port
//! 0, one shared file), set up the way `p2p serve` does it: `app::open_session` on a
//! `p2p.conf` in a temporary folder, `Server::bind`, `Node::serve_p2p2` (which turns
//! P2P/2 on with the peer's identity) and `Node::start_serving`, `Server::run`. Its preamble time-out is 250 ms
//! (`ServerLimits::preamble_timeout`; `p2p.conf` counts whole seconds), so that an input
//! that stalls costs a quarter of a second, not one. Loopback only: nothing leaves this
//! machine. Every input ends with a P2P/1 `ping` (always, so that the ping's coverage
//! is the same for every input and never makes one look new).
//!
//! An input is one flags byte, then the bytes sent after the preamble `00 50 32 50 02`:
//! - bit 0: pipelined: the preamble and the bytes in one write, without waiting for the
//!   server's answer (the server then closes: a P2P/2 client must wait for it);
//!   otherwise the server's 5-byte answer is read first and must be the v2 preamble;
//! - bits 1-3 all set: the client keeps its side open after the bytes (the server must
//!   time out on its own); otherwise it half-closes, as a client that gave up would.
//!
//! Then the client reads until the server closes, and fails if that takes longer than
//! the preamble time-out plus a margin for a loaded machine.
#![no_main]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use p2p::protocol::frame::{self, FrameType};
use p2p::protocol::message::{parse_answer, PingAnswer, Request};
use p2p::protocol::{PREAMBLE, PREAMBLE_V2};
use p2p::server::{Server, ServerLimits};

/// The fuzzed server's preamble time-out (which covers the TLS handshake).
const PREAMBLE_TIMEOUT: Duration = Duration::from_millis(250);
/// How much later than its time-out the server may close: a generous margin, since
/// this machine may be busy (ASan, another build), so that only a connection really
/// kept open fails.
const MARGIN: Duration = Duration::from_secs(4);
/// The process's open descriptors are counted every this many inputs.
const FDS_EVERY: u64 = 256;
/// Descriptors the process may hold beyond the count taken after the first ping
/// (libFuzzer's files, the server's re-scan): a leak of connections grows without bound.
const FD_SLACK: usize = 32;

const NAME: &str = "fuzzpeer";
/// The server's temporary folder: this, then the process id.
const DIR_PREFIX: &str = "p2p-fuzz-p2p2-";
const SHARED: &[u8] = b"one small shared file\n";

struct Harness {
    addr: SocketAddr,
    /// Open descriptors after the first ping.
    fds: OnceLock<usize>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();
static DIR: OnceLock<PathBuf> = OnceLock::new();
static INPUTS: AtomicU64 = AtomicU64::new(0);

extern "C" fn remove_dir() {
    if let Some(dir) = DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Folders left by earlier runs that did not exit normally (a crash, an interrupt:
/// libFuzzer's `_Exit` skips `atexit`), recognised by the name and a pid that is gone.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn write_config(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("share")).expect("temp share folder");
    std::fs::write(dir.join("share/hello.txt"), SHARED).expect("shared file");
    let conf = dir.join("p2p.conf");
    let text = format!(
        r#"[node]
name = "{NAME}"
listen = "127.0.0.1:0"
state_dir = "state"

[share]
dirs = ["share"]

[download]
dir = "downloads"
share = false

[server]
preamble_timeout_s = 1

[discovery]
pex = false
mdns = false
dht = false
"#
    );
    std::fs::write(&conf, text).expect("p2p.conf");
    conf
}

/// The node installs Ctrl-C/SIGTERM/SIGHUP handlers for its REPL; libFuzzer's own
/// (which stop the run and print its figures) are put back afterwards.
fn with_signals_kept<T>(f: impl FnOnce() -> T) -> T {
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
    let mut saved: [libc::sigaction; 3] = unsafe { std::mem::zeroed() };
    for (sig, old) in SIGNALS.iter().zip(saved.iter_mut()) {
        unsafe { libc::sigaction(*sig, std::ptr::null(), old) };
    }
    let out = f();
    for (sig, old) in SIGNALS.iter().zip(saved.iter()) {
        unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
    }
    out
}

fn start() -> Harness {
    // As in the real binary (Rust's runtime does it for `main`, libFuzzer's main does
    // not): a write to a closed socket is an error, not a signal.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    remove_stale_dirs();
    let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let conf = write_config(&dir);
    DIR.get_or_init(|| dir);
    unsafe { libc::atexit(remove_dir) };

    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("p2p-server".into())
        .spawn(move || {
            let session = with_signals_kept(|| p2p::app::open_session(Some(&conf), false));
            let mut session = session.expect("the fuzz config loads");
            let shares = session.node.shares_handle();
            assert_eq!(shares.scan().files, 1, "the one shared file is indexed");
            let mut limits = ServerLimits::from_settings(&session.node.settings.server);
            assert_eq!(limits.preamble_timeout, Duration::from_secs(1));
            limits.preamble_timeout = PREAMBLE_TIMEOUT;
            let mut server = futures_lite::future::block_on(Server::bind(
                "127.0.0.1:0",
                NAME.to_string(),
                shares,
                limits,
            ))
            .expect("bind 127.0.0.1:0");
            session
                .node
                .serve_p2p2(&mut server)
                .expect("the harness peer serves P2P/2 with a fresh identity");
            session.node.start_serving(&mut server);
            let addr = server.local_addr().expect("a bound address");
            assert!(addr.ip().is_loopback());
            tx.send(addr).expect("harness waits");
            futures_lite::future::block_on(server.run(std::future::pending::<()>()));
        })
        .expect("server thread");
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server starts within 60 s");
    Harness {
        addr,
        fds: OnceLock::new(),
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .expect("the server accepts connections");
    let _ = stream.set_nodelay(true);
    stream
}

/// Reads until the server closes (EOF or reset); panics at `deadline`.
fn read_to_close(stream: &mut TcpStream, started: Instant, deadline: Instant, what: &str) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let now = Instant::now();
        let Some(left) = deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            panic!(
                "the server kept a P2P/2 connection ({what}) open for {:?}, past its \
                 preamble_timeout of {PREAMBLE_TIMEOUT:?} (+{MARGIN:?} margin)",
                started.elapsed()
            );
        };
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Reset (the server closed with our bytes unread) is a close too.
            Err(_) => return,
        }
    }
}

/// A P2P/1 `ping` in the clear, on a fresh connection: the server still serves.
fn ping(addr: SocketAddr) {
    let mut stream = connect(addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut hello = PREAMBLE.to_vec();
    frame::encode(FrameType::Request, &Request::Ping.to_body(), &mut hello);
    stream.write_all(&hello).expect("ping sent");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let body = loop {
        if answer.len() >= PREAMBLE.len() {
            assert_eq!(answer[..5], PREAMBLE, "P2P/1 preamble answered in kind");
            let decoded = frame::decode(&answer[5..], 1 << 20).expect("a well-formed answer frame");
            if let Some(decoded) = decoded {
                assert_eq!(decoded.kind, FrameType::Answer);
                break decoded.body.to_vec();
            }
        }
        let n = stream
            .read(&mut buf)
            .expect("the ping is answered within 20 s");
        assert!(n > 0, "the server closed before answering ping: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    };
    let pong = parse_answer::<PingAnswer>(&body)
        .expect("a ping answer")
        .expect("ping is not an error");
    assert_eq!(pong.name, NAME);
    assert_eq!(pong.version, 1);
    assert_eq!(pong.files, 1);
    assert_eq!(pong.bytes, SHARED.len() as u64);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fuzz_target!(|data: &[u8]| {
    let h = HARNESS.get_or_init(start);
    let n = INPUTS.fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        ping(h.addr);
        h.fds.get_or_init(open_fds);
    }

    let (flags, payload) = data.split_first().map_or((0, data), |(f, p)| (*f, p));
    let pipelined = flags & 0x01 != 0;
    let keep_open = flags & 0x0e == 0x0e;

    let started = Instant::now();
    let deadline = started + PREAMBLE_TIMEOUT + MARGIN;
    let mut stream = connect(h.addr);
    stream
        .set_write_timeout(Some(PREAMBLE_TIMEOUT + MARGIN))
        .expect("write timeout");
    if pipelined {
        let mut all = PREAMBLE_V2.to_vec();
        all.extend_from_slice(payload);
        let _ = stream.write_all(&all);
    } else {
        stream.write_all(&PREAMBLE_V2).expect("preamble sent");
        stream
            .set_read_timeout(Some(PREAMBLE_TIMEOUT + MARGIN))
            .expect("read timeout");
        let mut answer = [0u8; 5];
        stream
            .read_exact(&mut answer)
            .expect("the server answers the P2P/2 preamble");
        assert_eq!(answer, PREAMBLE_V2, "the server speaks P2P/2");
        // The server may already have refused what it read: an error here is fine.
        let _ = stream.write_all(payload);
    }
    if !keep_open {
        let _ = stream.shutdown(Shutdown::Write);
    }
    let what = match (pipelined, keep_open) {
        (true, true) => "pipelined, kept open",
        (true, false) => "pipelined, half-closed",
        (false, true) => "kept open",
        (false, false) => "half-closed",
    };
    read_to_close(&mut stream, started, deadline, what);
    drop(stream);

    ping(h.addr);
    if (n + 1) % FDS_EVERY == 0 {
        if let Some(&base) = h.fds.get() {
            let now = open_fds();
            assert!(
                now <= base + FD_SLACK,
                "open descriptors grew from {base} to {now}: connections are not freed"
            );
        }
    }
});
