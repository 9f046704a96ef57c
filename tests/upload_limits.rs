//! Issue 14, the serving side (DESIGN §8): upload slots and `max_upload_rate`, through
//! the real binary, and the downloader's answer to a source whose slots are all taken.
//!
//! - One slot, two downloaders started at once: both files arrive whole, one after the
//!   other (the second finishes about a whole transfer after the first), and the server
//!   says it answered `busy`.
//! - `max_upload_rate = "4MiB"`: two downloads at once get at most 4.4 MiB/s together,
//!   measured from outside.
//! - While the slot is taken, another connection's `read` gets `busy` and the connection
//!   goes on: `ping`, `search` and `info` on it, and a separate client's `search`,
//!   answer at once; a seed client's `download:` is closed unanswered.
//! - Two sources, one of them with its only slot held by another downloader: the
//!   download completes, the busy source is waited for (it sends its share once free)
//!   and never dropped.
//!
//! Peers listen on 127.0.0.62–66. Transfers are slowed by the servers' own rate limits,
//! so the timings compared are seconds apart and the margins generous.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{random_file, sha256_file, tagged_client, wait_timeout, Peer, Scripted};
use serde_json::{json, Value};

const MIB: u64 = 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(120);

/// `p2p --config CONF --json get HASH`, started now.
fn spawn_get(dir: &Path, conf: &Path, hash: &str) -> Scripted {
    let mut command = Command::new(common::bin());
    command.args(["--config", conf.to_str().unwrap(), "--json", "get", hash]);
    Scripted::spawn(command, dir, "")
}

/// Waits for a `get` to end; returns its exit code, its last JSON line and stderr.
fn finish(mut run: Scripted) -> (i32, Value, String) {
    let status = wait_timeout(&mut run.child, LIMIT).unwrap_or_else(|| {
        let _ = run.child.kill();
        panic!("get did not finish within {LIMIT:?}");
    });
    let (out, err) = run.output();
    let last = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    (status.code().unwrap_or(-1), last, err)
}

/// Polls the children until all have exited; returns when each one did.
fn exit_times(children: &mut [&mut Child]) -> Vec<Instant> {
    let deadline = Instant::now() + LIMIT;
    let mut ended: Vec<Option<Instant>> = vec![None; children.len()];
    while ended.iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "a get did not finish in time");
        for (child, end) in children.iter_mut().zip(ended.iter_mut()) {
            if end.is_none() && matches!(child.try_wait(), Ok(Some(_))) {
                *end = Some(Instant::now());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ended.into_iter().flatten().collect()
}

fn part_path(downloads: &Path, hash: &str) -> PathBuf {
    downloads.join(format!(".p2p-{hash}.part"))
}

/// Waits until a download's `.part` exists (its reads are about to start, or started).
fn wait_for_part(downloads: &Path, hash: &str, run: &mut Scripted) {
    let started = Instant::now();
    while !part_path(downloads, hash).exists() {
        assert!(started.elapsed() < LIMIT, "the download never started");
        if let Ok(Some(status)) = run.child.try_wait() {
            panic!("get ended before its .part appeared: {status:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// Raw P2P/1, to see exactly what one connection is answered.

const PREAMBLE: [u8; 5] = [0x00, 0x50, 0x32, 0x50, 0x01];

fn open_p2p(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&PREAMBLE).unwrap();
    let mut answer = [0u8; 5];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(answer, PREAMBLE);
    stream
}

/// Sends one request and reads its answer: the JSON of an answer frame, or
/// `{"data": N}` for a data frame of N bytes.
fn ask(stream: &mut TcpStream, request: &Value) -> Value {
    let body = request.to_string();
    let mut frame = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    frame.push(0x01);
    frame.extend_from_slice(body.as_bytes());
    stream.write_all(&frame).unwrap();
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).unwrap();
    let len = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize - 1;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    match header[4] {
        0x02 => serde_json::from_slice(&body).unwrap(),
        0x03 => json!({ "data": len }),
        kind => panic!("unexpected frame type {kind}"),
    }
}

/// `upload_slots = 1` and two downloaders started at the same moment: the second is
/// answered `busy` until the first is done, waits (it has no other source), then gets
/// the whole file. At 8 MiB/s a 32 MiB transfer takes about 4 s; served together, both
/// would end within a moment of each other (measured: 0.07 s), one after the other the
/// second ends about a whole transfer after the first (the bucket's small credit
/// refills only while the second waits, and only up to a quarter second's worth).
#[test]
fn one_upload_slot_serves_two_downloaders_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    let size = 32 * MIB;
    random_file(&share.join("big.bin"), size, 141);
    let hash = sha256_file(&share.join("big.bin"));
    let rate = 8 * MIB;
    let peer = Peer::start(
        root,
        "slots",
        "127.0.0.62",
        &[share],
        "[server]\nupload_slots = 1\nmax_upload_rate = \"8MiB\"\n",
    );
    let confs: Vec<PathBuf> = ["first", "second"]
        .iter()
        .map(|tag| tagged_client(root, tag, &[&peer.addr], None, ""))
        .collect();
    let started = Instant::now();
    let mut runs: Vec<Scripted> = confs.iter().map(|c| spawn_get(root, c, &hash)).collect();
    let ends = {
        let mut children: Vec<&mut Child> = runs.iter_mut().map(|r| &mut r.child).collect();
        exit_times(&mut children)
    };
    for (run, tag) in runs.into_iter().zip(["first", "second"]) {
        let (code, line, err) = finish(run);
        assert_eq!(code, 0, "{tag}: {err}");
        let path = line["path"].as_str().unwrap_or_default();
        assert_eq!(sha256_file(Path::new(path)), hash, "{tag}: {line}");
        assert_eq!(line["dropped"], json!([]), "{tag}: {line}");
    }
    let (early, late) = (ends[0].min(ends[1]), ends[0].max(ends[1]));
    let single = Duration::from_secs_f64(size as f64 / rate as f64);
    let gap = late - early;
    eprintln!(
        "one slot: first done after {:.2?}, second {:.2?} later (a transfer alone: {single:.2?})",
        early - started,
        gap
    );
    assert!(
        gap >= single.mul_f64(0.75),
        "the second download ended only {gap:.2?} after the first: they were served \
         together, not one after the other (a transfer alone takes {single:.2?})"
    );
    let (_, stderr) = peer.stop();
    assert!(
        stderr.contains("busy: every upload slot was taken"),
        "the server never answered busy: {stderr}"
    );
}

/// `max_upload_rate = "4MiB"`: two clients downloading two 16 MiB files at once from
/// one peer get at most 4.4 MiB/s together (DESIGN §8: at most 10 % above the limit),
/// measured from outside as all bytes over the time from starting both to both done
/// (the bucket's credit, a quarter second's worth, included). Unlimited, the same
/// 32 MiB take well under a second.
#[test]
fn max_upload_rate_holds_two_downloads_together() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    let size = 16 * MIB;
    let names = ["a.bin", "b.bin"];
    let hashes: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            random_file(&share.join(name), size, 142 + i as u64);
            sha256_file(&share.join(name))
        })
        .collect();
    let peer = Peer::start(
        root,
        "limited",
        "127.0.0.63",
        &[share],
        "[server]\nmax_upload_rate = \"4MiB\"\n",
    );
    let confs: Vec<PathBuf> = ["one", "two"]
        .iter()
        .map(|tag| tagged_client(root, tag, &[&peer.addr], None, ""))
        .collect();
    let started = Instant::now();
    let mut runs: Vec<Scripted> = confs
        .iter()
        .zip(&hashes)
        .map(|(c, h)| spawn_get(root, c, h))
        .collect();
    {
        let mut children: Vec<&mut Child> = runs.iter_mut().map(|r| &mut r.child).collect();
        exit_times(&mut children);
    }
    let wall = started.elapsed();
    for (run, hash) in runs.into_iter().zip(&hashes) {
        let (code, line, err) = finish(run);
        assert_eq!(code, 0, "{err}");
        let path = line["path"].as_str().unwrap_or_default();
        assert_eq!(&sha256_file(Path::new(path)), hash, "{line}");
    }
    let raw = (2 * size) as f64 / MIB as f64 / wall.as_secs_f64();
    eprintln!("max_upload_rate 4 MiB/s: 32 MiB in {wall:.2?}: {raw:.2} MiB/s together");
    assert!(
        raw <= 4.4,
        "two downloads got {raw:.2} MiB/s together under max_upload_rate = 4MiB"
    );
    assert!(
        raw >= 2.5,
        "two downloads got only {raw:.2} MiB/s together: the limit throttles far below 4MiB"
    );
    let (_, stderr) = peer.stop();
    assert_eq!(common::served_bytes(&stderr), 2 * size, "{stderr}");
}

/// While the only slot is taken by a download, another connection's `read` is answered
/// `busy`, and the connection stays open: `ping`, `search` and `info` on it answer at
/// once, and so does a separate client's `search`.
#[test]
fn reads_over_the_slots_get_busy_and_everything_else_answers_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    random_file(&share.join("held.bin"), 16 * MIB, 143);
    let hash = sha256_file(&share.join("held.bin"));
    let peer = Peer::start(
        root,
        "held",
        "127.0.0.64",
        &[share],
        "[server]\nupload_slots = 1\nmax_upload_rate = \"2MiB\"\n",
    );
    let holder_conf = tagged_client(root, "holder", &[&peer.addr], None, "");
    let holder_downloads = root.join("holder-downloads");
    let mut holder = spawn_get(root, &holder_conf, &hash);
    wait_for_part(&holder_downloads, &hash, &mut holder);
    // Its first reads are on their way.
    std::thread::sleep(Duration::from_millis(500));

    let mut raw = open_p2p(&peer.addr);
    let read = json!({"op": "read", "sha256": hash, "offset": 0, "len": 65536});
    let answer = ask(&mut raw, &read);
    assert_eq!(answer["error"]["code"], "busy", "{answer}");
    for request in [
        json!({"op": "ping"}),
        json!({"op": "search", "query": "held"}),
        json!({"op": "info", "sha256": hash}),
    ] {
        let asked = Instant::now();
        let answer = ask(&mut raw, &request);
        let took = asked.elapsed();
        assert!(answer.get("error").is_none(), "{request}: {answer}");
        assert!(
            took < Duration::from_secs(1),
            "{request} took {took:?} while the slot was taken"
        );
    }
    assert_eq!(ask(&mut raw, &json!({"op": "ping"}))["name"], "held");
    // Still busy, on the same connection.
    assert_eq!(ask(&mut raw, &read)["error"]["code"], "busy");
    // A seed client's download is a read too: with no slot, it is closed unanswered.
    let mut legacy = TcpStream::connect(&peer.addr).unwrap();
    legacy
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    legacy
        .write_all(format!("download:{hash}").as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let _ = legacy.read_to_end(&mut got);
    assert!(
        got.is_empty(),
        "a seed download was served {} bytes while the only slot was taken",
        got.len()
    );

    let searcher = tagged_client(root, "searcher", &[&peer.addr], None, "");
    let asked = Instant::now();
    let run = common::run_p2p(
        root,
        &["--config", searcher.to_str().unwrap(), "search", "held"],
        "",
        LIMIT,
    );
    let took = asked.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("held.bin"), "{}", run.stdout);
    assert!(
        took < Duration::from_secs(5),
        "a separate client's search took {took:?} while the slot was taken"
    );
    assert!(
        matches!(holder.child.try_wait(), Ok(None)),
        "the download holding the slot ended before the checks were done: make it longer"
    );
    let (code, line, err) = finish(holder);
    assert_eq!(code, 0, "{err}");
    assert_eq!(line["sha256"], json!(hash));
    drop(raw);
}

/// Two sources; the first has one upload slot, held by another downloader when the
/// download starts. The download goes on from the free source, keeps asking the busy
/// one, gets its share from it once the slot is free, and never drops it.
#[test]
fn a_busy_source_is_waited_for_and_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let original = root.join("origin/big.bin");
    random_file(&original, 32 * MIB, 144);
    let hash = sha256_file(&original);
    let busy_share = root.join("busy-share");
    random_file(&busy_share.join("other.bin"), 16 * MIB, 145);
    let other = sha256_file(&busy_share.join("other.bin"));
    std::fs::hard_link(&original, busy_share.join("big.bin")).unwrap();
    let free_share = root.join("free-share");
    std::fs::create_dir_all(&free_share).unwrap();
    std::fs::hard_link(&original, free_share.join("big.bin")).unwrap();
    let busy = Peer::start(
        root,
        "busy",
        "127.0.0.65",
        &[busy_share],
        "[server]\nupload_slots = 1\nmax_upload_rate = \"4MiB\"\n",
    );
    let free = Peer::start(
        root,
        "free",
        "127.0.0.66",
        &[free_share],
        "[server]\nmax_upload_rate = \"4MiB\"\n",
    );

    // Another downloader takes the busy peer's only slot for about 3 s.
    let hog_conf = tagged_client(root, "hog", &[&busy.addr], None, "");
    let mut hog = spawn_get(root, &hog_conf, &other);
    wait_for_part(&root.join("hog-downloads"), &other, &mut hog);
    std::thread::sleep(Duration::from_millis(300));

    // A stall timeout of 3 s: were busy answers counted as a stall, or as a failure,
    // the busy source would be dropped.
    let conf = tagged_client(root, "getter", &[&busy.addr, &free.addr], None, "");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("[download]\n", "[download]\nstall_timeout_s = 3\n");
    std::fs::write(&conf, text).unwrap();
    let getter = spawn_get(root, &conf, &hash);
    assert!(
        matches!(hog.child.try_wait(), Ok(None)),
        "the hog ended before the download started: make it longer"
    );
    let (code, line, err) = finish(getter);
    assert_eq!(code, 0, "{err}");
    let path = line["path"].as_str().unwrap_or_default();
    assert_eq!(sha256_file(Path::new(path)), hash, "{line}");
    assert_eq!(
        line["dropped"],
        json!([]),
        "the busy source was dropped: {line}"
    );
    let from_busy = line["served"][&busy.addr].as_u64().unwrap_or(0);
    let from_free = line["served"][&free.addr].as_u64().unwrap_or(0);
    eprintln!(
        "busy source: {:.1} MiB, free source: {:.1} MiB",
        from_busy as f64 / MIB as f64,
        from_free as f64 / MIB as f64
    );
    assert!(
        from_free > 0 && from_busy > 0,
        "both sources should have sent a share (the busy one once its slot came free): {line}"
    );
    let (code, _, err) = finish(hog);
    assert_eq!(code, 0, "{err}");
    let (_, stderr) = busy.stop();
    assert!(
        stderr.contains("busy: every upload slot was taken"),
        "the getter was never answered busy: the test did not test anything: {stderr}"
    );
}
