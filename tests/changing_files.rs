//! Shared files that change under the server: never served under their old hash, and
//! listed again under the new one once re-hashed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{client_conf, random_file, run_p2p, sha256_file, Peer};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);

fn open(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"\x00P2P\x01").unwrap();
    let mut hello = [0u8; 5];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"\x00P2P\x01");
    s
}

/// Sends one request; returns (frame type, body).
fn ask(s: &mut TcpStream, request: Value) -> (u8, Vec<u8>) {
    let body = request.to_string().into_bytes();
    let mut frame = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    frame.push(1);
    frame.extend(body);
    s.write_all(&frame).unwrap();
    let mut head = [0u8; 5];
    s.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize - 1;
    let mut out = vec![0u8; len];
    s.read_exact(&mut out).unwrap();
    (head[4], out)
}

fn error_code(answer: &(u8, Vec<u8>)) -> String {
    assert_eq!(answer.0, 2, "expected an answer frame");
    let v: Value = serde_json::from_slice(&answer.1).unwrap();
    v["error"]["code"].as_str().unwrap_or("").to_string()
}

#[test]
fn a_changed_file_is_never_served_under_its_old_hash() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    let file = share.join("doc.bin");
    random_file(&file, 3 << 20, 1);
    let old = sha256_file(&file);
    let peer = Peer::start(root, "chg", "127.0.0.90", std::slice::from_ref(&share), "");

    let mut s = open(&peer.addr);
    let info = ask(&mut s, json!({"op":"info","sha256":old}));
    assert_eq!(info.0, 2);
    // Same size, new content (and a new mtime): the old hash is gone at once.
    std::thread::sleep(Duration::from_millis(20));
    random_file(&file, 3 << 20, 2);
    let new = sha256_file(&file);
    let read = ask(
        &mut s,
        json!({"op":"read","sha256":old,"offset":0,"len":1024}),
    );
    assert_eq!(error_code(&read), "not_found");
    assert_eq!(
        error_code(&ask(&mut s, json!({"op":"info","sha256":old}))),
        "not_found"
    );
    // The server re-hashes it on its own: soon the new hash is served, and search shows it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = ask(
            &mut s,
            json!({"op":"read","sha256":new,"offset":0,"len":16}),
        );
        if answer.0 == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "new content never served");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, body) = ask(&mut s, json!({"op":"search","query":"doc"}));
    let found: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(found["results"][0]["sha256"], new.as_str());

    // Truncated: neither hash is served, and nothing past the new end is mapped.
    let shorter = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    shorter.set_len(1 << 20).unwrap();
    let read = ask(
        &mut s,
        json!({"op":"read","sha256":new,"offset":(2 << 20),"len":4096}),
    );
    assert_eq!(error_code(&read), "not_found");
    // Deleted: not found either, and the peer is still serving.
    std::fs::remove_file(&file).unwrap();
    let read = ask(
        &mut s,
        json!({"op":"read","sha256":new,"offset":0,"len":16}),
    );
    assert_eq!(error_code(&read), "not_found");
    let (kind, _) = ask(&mut s, json!({"op":"ping"}));
    assert_eq!(kind, 2);

    // A client asking for the old content is told no peer has it; nothing is written.
    let conf = client_conf(root, &[&peer.addr]);
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "get", &old],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.starts_with("error: no peer has"),
        "{}",
        run.stderr
    );
    let (status, err) = peer.stop();
    assert!(status.success(), "{err}");
}
