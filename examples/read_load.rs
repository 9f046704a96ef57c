//! Many clients at once reading one file from one peer, over raw P2P/1.
//!
//!     cargo run --release --example read_load -- ADDR SHA256 SIZE \
//!         [--clients 200] [--len 1048576] [--depth 4] [--verify] [--timeout-s 60]
//!
//! Each client is a thread with its own connection: preamble `00 50 32 50 01` (answered
//! with the same), then `read` requests of `--len` bytes (≤ 4 MiB) covering the whole
//! file, `--depth` of them in flight. Request frames are `u32 BE length` (of what
//! follows) · `0x01` · JSON; data answers are `u32 BE length` · `0x03` · bytes. The
//! wire format is written out here by hand, not taken from the crate, so this is an
//! outside client's view.
//!
//! All clients connect first, then start together. Prints one JSON line:
//! `{"clients","ok","failures","bytes","secs","mb_per_s","client_ms_p50","client_ms_max","errors"}`
//! (MB = 10^6 bytes; `errors` holds up to 5 distinct messages). `--verify` also checks
//! each client's bytes against SHA256 (costs CPU that the server would otherwise get).
//! Exit status 1 when any client failed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const PREAMBLE: [u8; 5] = [0x00, b'P', b'2', b'P', 0x01];
const MAX_READ: u64 = 4 * 1024 * 1024;

#[derive(Clone)]
struct Args {
    addr: SocketAddr,
    sha256: String,
    size: u64,
    clients: usize,
    len: u64,
    depth: usize,
    verify: bool,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: read_load ADDR SHA256 SIZE [--clients N] [--len BYTES] [--depth N] [--verify] [--timeout-s S]";
    let mut positional = Vec::new();
    let mut clients = 200;
    let mut len = 1024 * 1024;
    let mut depth = 4;
    let mut verify = false;
    let mut timeout_s = 60;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .ok_or(format!("{name} needs a positive integer"))
        };
        match arg.as_str() {
            "--clients" => clients = number("--clients")? as usize,
            "--len" => len = number("--len")?,
            "--depth" => depth = number("--depth")? as usize,
            "--timeout-s" => timeout_s = number("--timeout-s")?,
            "--verify" => verify = true,
            _ if !arg.starts_with("--") => positional.push(arg),
            _ => return Err(format!("unknown option {arg}\n{usage}")),
        }
    }
    let [addr, sha256, size] =
        <[String; 3]>::try_from(positional).map_err(|_| usage.to_string())?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("bad ADDR {addr:?}: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("bad SHA256 {sha256:?}"));
    }
    let size = size.parse().map_err(|e| format!("bad SIZE: {e}"))?;
    if len > MAX_READ {
        return Err(format!("--len is at most {MAX_READ}"));
    }
    Ok(Args {
        addr,
        sha256: sha256.to_ascii_lowercase(),
        size,
        clients,
        len,
        depth,
        verify,
        timeout: Duration::from_secs(timeout_s),
    })
}

fn request_frame(sha256: &str, offset: u64, len: u64) -> Vec<u8> {
    let body = format!(r#"{{"op":"read","sha256":"{sha256}","offset":{offset},"len":{len}}}"#);
    let mut frame = Vec::with_capacity(5 + body.len());
    frame.extend_from_slice(&(body.len() as u32 + 1).to_be_bytes());
    frame.push(0x01);
    frame.extend_from_slice(body.as_bytes());
    frame
}

fn connect(args: &Args) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect_timeout(&args.addr, args.timeout)
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(args.timeout)).ok();
    stream.set_write_timeout(Some(args.timeout)).ok();
    stream.set_nodelay(true).ok();
    stream
        .write_all(&PREAMBLE)
        .map_err(|e| format!("preamble: {e}"))?;
    let mut answer = [0u8; 5];
    stream
        .read_exact(&mut answer)
        .map_err(|e| format!("preamble answer: {e}"))?;
    if answer != PREAMBLE {
        return Err(format!("preamble answered with {answer:02x?}"));
    }
    Ok(stream)
}

/// Reads the whole file with `depth` reads in flight; returns the bytes received.
fn read_all(stream: &mut TcpStream, args: &Args) -> Result<u64, String> {
    let offsets: Vec<u64> = (0..args.size.div_ceil(args.len))
        .map(|i| i * args.len)
        .collect();
    let mut sent = 0;
    let mut received = 0u64;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    while sent < offsets.len().min(args.depth) {
        stream
            .write_all(&request_frame(&args.sha256, offsets[sent], args.len))
            .map_err(|e| format!("send: {e}"))?;
        sent += 1;
    }
    for &offset in &offsets {
        let mut header = [0u8; 5];
        stream
            .read_exact(&mut header)
            .map_err(|e| format!("answer header at {offset}: {e}"))?;
        let body_len = u32::from_be_bytes([header[0], header[1], header[2], header[3]])
            .checked_sub(1)
            .ok_or("zero-length frame")? as u64;
        let expected = args.len.min(args.size - offset);
        match header[4] {
            0x03 if body_len == expected => {}
            0x03 => return Err(format!("data frame of {body_len} bytes, {expected} asked")),
            0x02 if body_len <= 64 * 1024 => {
                let mut body = vec![0u8; body_len as usize];
                stream
                    .read_exact(&mut body)
                    .map_err(|e| format!("answer: {e}"))?;
                return Err(format!("answer: {}", String::from_utf8_lossy(&body)));
            }
            kind => return Err(format!("frame of type 0x{kind:02x}, {body_len} bytes")),
        }
        let mut left = body_len;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            stream
                .read_exact(&mut buf[..n])
                .map_err(|e| format!("data at {offset}: {e}"))?;
            if args.verify {
                hasher.update(&buf[..n]);
            }
            left -= n as u64;
        }
        received += body_len;
        if sent < offsets.len() {
            stream
                .write_all(&request_frame(&args.sha256, offsets[sent], args.len))
                .map_err(|e| format!("send: {e}"))?;
            sent += 1;
        }
    }
    if args.verify {
        let got: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != args.sha256 {
            return Err(format!("content hash {got}, {} asked", args.sha256));
        }
    }
    Ok(received)
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Every client connects, then all wait here and start reading together.
    let start = Arc::new(Barrier::new(args.clients + 1));
    let mut handles = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let args = args.clone();
        let start = start.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let connected = connect(&args);
                start.wait();
                let began = Instant::now();
                let outcome = connected.and_then(|mut stream| read_all(&mut stream, &args));
                (outcome, began.elapsed())
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                eprintln!("error: cannot start a client thread: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    start.wait();
    let began = Instant::now();
    let mut bytes = 0u64;
    let mut ok = 0usize;
    let mut errors: Vec<String> = Vec::new();
    let mut failures = 0usize;
    let mut client_ms = Vec::new();
    for handle in handles {
        match handle.join() {
            Ok((Ok(n), took)) => {
                ok += 1;
                bytes += n;
                client_ms.push(took.as_secs_f64() * 1000.0);
            }
            Ok((Err(e), _)) => {
                failures += 1;
                if errors.len() < 5 && !errors.contains(&e) {
                    errors.push(e);
                }
            }
            Err(_) => {
                failures += 1;
                errors.push("client thread panicked".to_string());
            }
        }
    }
    let secs = began.elapsed().as_secs_f64();
    client_ms.sort_by(f64::total_cmp);
    let p50 = client_ms.get(client_ms.len() / 2).copied().unwrap_or(0.0);
    let max = client_ms.last().copied().unwrap_or(0.0);
    let errors: Vec<String> = errors.iter().map(|e| json_string(e)).collect();
    println!(
        r#"{{"clients":{},"ok":{ok},"failures":{failures},"bytes":{bytes},"secs":{secs:.4},"mb_per_s":{:.1},"client_ms_p50":{p50:.1},"client_ms_max":{max:.1},"errors":[{}]}}"#,
        args.clients,
        bytes as f64 / secs / 1e6,
        errors.join(",")
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
