//! Partial files (issue 15, DESIGN §9), through the real binary: while peer B downloads
//! a 64 MiB file from A over a slow link (A's `max_upload_rate`), a wire client sees
//! B's `info` say `complete: false` with a `have` bitmap, reads a chunk B has (exact
//! bytes) and gets `unavailable` for one it lacks; a client whose only peer is B gets
//! the file correct while B is still partial, and B's search does not list it; once B
//! is done, its `info` says `complete: true`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{bin, random_file, run_p2p, sha256_file, tagged_client, Peer};

const MIB: u64 = 1024 * 1024;

/// A P2P/1 wire client: `info` of a hash, then (with a chunk number) a `read` of that
/// whole chunk. Prints the info answer, then the read's outcome: `data <sha256>` or the
/// error answer.
const WIRE: &str = r#"
import hashlib, json, socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=20)
s.sendall(b"\x00P2P\x01")
def exact(n):
    out = b""
    while len(out) < n:
        part = s.recv(n - len(out))
        if not part:
            raise EOFError
        out += part
    return out
assert exact(5) == b"\x00P2P\x01"
def ask(req):
    body = json.dumps(req).encode()
    s.sendall(struct.pack(">IB", len(body) + 1, 1) + body)
    length, kind = struct.unpack(">IB", exact(5))
    return kind, exact(length - 1)
kind, body = ask({"op": "info", "sha256": sys.argv[2]})
info = json.loads(body)
print(json.dumps(info))
if len(sys.argv) > 3 and "chunk_size" in info:
    i = int(sys.argv[3])
    size = info["chunk_size"]
    kind, body = ask({"op": "read", "sha256": sys.argv[2], "offset": i * size, "len": size})
    if kind == 3:
        print("data " + hashlib.sha256(body).hexdigest())
    else:
        print(body.decode())
"#;

fn wire(addr: &str, hash: &str, chunk: Option<u64>) -> (serde_json::Value, Option<String>) {
    let mut command = Command::new("python3");
    command.arg("-c").arg(WIRE).arg(addr).arg(hash);
    if let Some(chunk) = chunk {
        command.arg(chunk.to_string());
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let info = serde_json::from_str(lines.next().unwrap()).unwrap();
    (info, lines.next().map(str::to_string))
}

fn has(have: &str, chunk: u64) -> bool {
    let byte = u8::from_str_radix(
        &have[(chunk / 8 * 2) as usize..(chunk / 8 * 2 + 2) as usize],
        16,
    )
    .unwrap();
    byte & (1 << (chunk % 8)) != 0
}

fn chunk_sha(file: &Path, chunk: u64, size: u64) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(file).unwrap();
    let start = (chunk * size) as usize;
    let end = (start + size as usize).min(bytes.len());
    Sha256::digest(&bytes[start..end])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `p2p --serve` script: it serves while it runs the commands written to it.
struct ServingScript {
    child: std::process::Child,
    addr: String,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl ServingScript {
    /// Starts `p2p --config CONF --serve [args]` listening on `ip`.
    fn start(conf: &Path, ip: &str, args: &[&str]) -> ServingScript {
        let text = std::fs::read_to_string(conf).unwrap();
        std::fs::write(conf, text.replace("127.0.0.1:0", &format!("{ip}:0"))).unwrap();
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(conf)
            .args(args)
            .arg("--serve")
            .current_dir(conf.parent().unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let addr = loop {
            let line = rx.recv_timeout(Duration::from_secs(30)).expect("it serves");
            if let Some(rest) = line.strip_prefix("serving on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let (out_tx, out_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        ServingScript {
            stdin: child.stdin.take(),
            child,
            addr,
            lines: out_rx,
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line it prints, within `limit`.
    fn next_line(&self, limit: Duration) -> String {
        self.lines.recv_timeout(limit).expect("a line of output")
    }

    /// Ends the script (its stdin closed) and waits for it.
    fn finish(mut self) {
        drop(self.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for ServingScript {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_peer_shares_what_it_has_while_it_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("a-share");
    let original = share.join("big.bin");
    random_file(&original, 64 * MIB, 9);
    let hash = sha256_file(&original);
    // A sends at 6 MiB/s: B's download takes about 11 s.
    let a = Peer::start(
        root,
        "a",
        "127.0.0.90",
        &[share],
        "[server]\nmax_upload_rate = \"6MiB\"\n",
    );

    // B: a script that downloads from A, serving meanwhile (`--serve`).
    let b_conf = tagged_client(root, "b", &[&a.addr], None, "");
    let mut b = ServingScript::start(&b_conf, "127.0.0.91", &[]);
    let b_addr = b.addr.clone();
    b.say(&format!("get {hash}"));

    // Partial: some chunks, not all.
    let started = Instant::now();
    let (info, have) = loop {
        let (info, _) = wire(&b_addr, &hash, None);
        if info["complete"] == false {
            let have = info["have"].as_str().unwrap().to_string();
            if (0..64).any(|i| has(&have, i)) {
                break (info, have);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "B never shared a chunk: {info}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(info["size"], 64 * MIB);
    let chunk_size = info["chunk_size"].as_u64().unwrap();
    assert_eq!(
        have.len(),
        2 * (64 * MIB / chunk_size).div_ceil(8) as usize,
        "{have}"
    );
    let got = (0..64).find(|&i| has(&have, i)).unwrap();
    let (_, read) = wire(&b_addr, &hash, Some(got));
    assert_eq!(
        read.unwrap(),
        format!("data {}", chunk_sha(&original, got, chunk_size))
    );
    // A chunk B lacks is `unavailable`. Asking for `info` makes B spread its fetches
    // out (it is shared now), so the chunk picked may arrive between the two asks: then
    // it must be the right bytes, and another lacking chunk is asked for.
    let mut refused = None;
    let mut have = have;
    for _ in 0..5 {
        let Some(lacking) = (0..64).rev().find(|&i| !has(&have, i)) else {
            break;
        };
        let (_, read) = wire(&b_addr, &hash, Some(lacking));
        let read = read.unwrap();
        if read.contains("\"unavailable\"") {
            refused = Some(lacking);
            break;
        }
        assert_eq!(
            read,
            format!("data {}", chunk_sha(&original, lacking, chunk_size)),
            "chunk {lacking}, lacking a moment ago"
        );
        let (info, _) = wire(&b_addr, &hash, None);
        have = info["have"].as_str().unwrap_or_default().to_string();
    }
    assert!(refused.is_some(), "B never refused a chunk it lacked");

    // C knows only B: its search finds nothing (partial files are not listed), and its
    // get takes the file from B while B is still downloading it.
    // (No peer exchange: B would name A.)
    let c_conf = tagged_client(root, "c", &[&b_addr], None, "[discovery]\npex = false\n");
    let run = run_p2p(
        root,
        &[
            "--config",
            c_conf.to_str().unwrap(),
            "--json",
            "search",
            "big",
        ],
        "",
        Duration::from_secs(30),
    );
    let found: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(0),
        "{found}"
    );
    assert_eq!(found["peers"][0]["status"], "empty", "{found}");
    let c_started = Instant::now();
    let run = run_p2p(
        root,
        &["--config", c_conf.to_str().unwrap(), "--json", "get", &hash],
        "",
        Duration::from_secs(120),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let got: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(got["served"][&b_addr], 64 * MIB, "{got}");
    assert_eq!(sha256_file(&root.join("c-downloads/big.bin")), hash);

    // B finishes; from then on it is a complete source.
    let saved = b.next_line(Duration::from_secs(120));
    let b_took = started.elapsed();
    assert!(saved.starts_with("saved "), "{saved}");
    let (info, _) = wire(&b_addr, &hash, None);
    assert_eq!(info["complete"], true, "{info}");
    assert!(info.get("have").is_none(), "{info}");
    b.finish();
    eprintln!(
        "C started {:?} into B's download, B took {b_took:?}",
        c_started.duration_since(started)
    );
    assert!(
        c_started.duration_since(started) < b_took,
        "C did not start while B was partial"
    );
    assert_eq!(sha256_file(&root.join("b-downloads/big.bin")), hash);
}

/// Issue 15's swarm: two peers told to get one file at the same moment from a slow seed
/// have nothing for each other when they start (`not_found`), ask each other again while
/// they download, and then trade chunks: each gets part of the file from the other, not
/// all of it from the seed.
#[test]
fn peers_starting_one_file_at_once_find_each_other_and_trade() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("seed-share");
    let original = share.join("shared.bin");
    random_file(&original, 24 * MIB, 10);
    let hash = sha256_file(&original);
    // The seed sends 4 MiB/s in all: alone, one peer would take 6 s; two, 12 s.
    let seed = Peer::start(
        root,
        "seed",
        "127.0.0.92",
        &[share],
        "[server]\nmax_upload_rate = \"4MiB\"\n",
    );
    let no_pex = "[discovery]\npex = false\n";
    let mut peers: Vec<ServingScript> = [("p", "127.0.0.93"), ("q", "127.0.0.94")]
        .iter()
        .map(|(tag, ip)| {
            let conf = tagged_client(root, tag, &[&seed.addr], None, no_pex);
            ServingScript::start(&conf, ip, &["--json"])
        })
        .collect();
    let addrs: Vec<String> = peers.iter().map(|p| p.addr.clone()).collect();
    peers[0].say(&format!("peers add {}", addrs[1]));
    peers[1].say(&format!("peers add {}", addrs[0]));
    // Its own address in its list (as in a list shared by a group) is never asked.
    peers[0].say(&format!("peers add {}", addrs[0]));
    for (i, peer) in peers.iter().enumerate() {
        for _ in 0..(2 - i) {
            let added = peer.next_line(Duration::from_secs(10));
            assert!(added.contains('{'), "{added}");
        }
    }
    for peer in &mut peers {
        peer.say(&format!("get {hash}"));
    }
    let mut from_each_other = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        let line = peer.next_line(Duration::from_secs(120));
        let got: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(got["sha256"], hash, "{got}");
        let other = &addrs[1 - i];
        from_each_other.push(got["served"][other].as_u64().unwrap_or(0));
        assert!(
            got["served"].get(&addrs[i]).is_none(),
            "asked itself: {got}"
        );
        assert_eq!(
            sha256_file(Path::new(got["path"].as_str().unwrap())),
            hash,
            "{got}"
        );
    }
    eprintln!("bytes each got from the other: {from_each_other:?}");
    assert!(
        from_each_other.iter().sum::<u64>() >= 2 * MIB,
        "the two peers traded (almost) nothing: {from_each_other:?}"
    );
    for peer in peers {
        peer.finish();
    }
}

/// A client whose only source is a peer still downloading keeps it as long as it keeps
/// gaining chunks, even when that takes far longer than the stall time-out: the time
/// counts from the last chunk it gave, not from when the download began.
#[test]
fn a_partial_only_source_is_kept_while_it_gains_for_longer_than_the_stall_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("slow-share");
    let original = share.join("slow.bin");
    random_file(&original, 24 * MIB, 11);
    let hash = sha256_file(&original);
    // A sends 2 MiB/s: B's download takes about 12 s.
    let a = Peer::start(
        root,
        "slow-a",
        "127.0.0.95",
        &[share],
        "[server]\nmax_upload_rate = \"2MiB\"\n",
    );
    let b_conf = tagged_client(root, "slow-b", &[&a.addr], None, "");
    let mut b = ServingScript::start(&b_conf, "127.0.0.96", &[]);
    let b_addr = b.addr.clone();
    b.say(&format!("get {hash}"));
    let started = Instant::now();
    // C knows only B, and gives up on a source after 3 s without anything new.
    let c_conf = tagged_client(
        root,
        "slow-c",
        &[&b_addr],
        None,
        "[discovery]\npex = false\n",
    );
    let text = std::fs::read_to_string(&c_conf).unwrap();
    std::fs::write(
        &c_conf,
        text.replace("[download]\n", "[download]\nstall_timeout_s = 3\n"),
    )
    .unwrap();
    // Once B has something to give.
    loop {
        let (info, _) = wire(&b_addr, &hash, None);
        if info["have"]
            .as_str()
            .is_some_and(|h| h.chars().any(|c| c != '0'))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "B never had a chunk"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let c_started = started.elapsed();
    let run = run_p2p(
        root,
        &["--config", c_conf.to_str().unwrap(), "--json", "get", &hash],
        "",
        Duration::from_secs(120),
    );
    let c_took = started.elapsed() - c_started;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let got: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(got["served"][&b_addr], 24 * MIB, "{got}");
    assert_eq!(sha256_file(&root.join("slow-c-downloads/slow.bin")), hash);
    assert!(
        c_took > Duration::from_secs(6),
        "C took {c_took:?}: not longer than twice its stall time, so this proves nothing"
    );
    let saved = b.next_line(Duration::from_secs(120));
    assert!(saved.starts_with("saved "), "{saved}");
    b.finish();
}
