//! Discovery (issue 12): peer exchange finds what a friend of a friend shares, the peer
//! book remembers it, `peers` says how each peer was found, a hostile `peers` answer
//! costs only bounded work, and a DHT without a bootstrap list is a config error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{random_file, run_p2p, sha256_file, Conf, Listening, Peer, Run};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

fn client(dir: &Path, tag: &str, peers: &[&str], extra: &str) -> PathBuf {
    common::tagged_client(dir, tag, peers, None, extra)
}

fn p2p(dir: &Path, conf: &Path, script: &str) -> Run {
    run_p2p(
        dir,
        &["--config", conf.to_str().unwrap(), "--json"],
        script,
        LIMIT,
    )
}

/// Runs `script` until its first line's JSON satisfies `done` (the serving peer pings
/// its friends right after it starts; this waits for that, bounded).
fn until(dir: &Path, conf: &Path, script: &str, done: impl Fn(&Value) -> bool) -> Run {
    let started = Instant::now();
    loop {
        let run = p2p(dir, conf, script);
        let ok = run.code == 0 && run.json_lines().first().is_some_and(&done);
        if ok || started.elapsed() > LIMIT {
            return run;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn peer_exchange_finds_what_a_friend_of_a_friend_shares() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let b_share = root.join("b-share");
    random_file(&b_share.join("friend-of-a-friend.bin"), 300_000, 21);
    let hash = sha256_file(&b_share.join("friend-of-a-friend.bin"));
    let b = Peer::start(root, "bob", "127.0.0.3", &[b_share], "");
    // Alice lists Bob; the client lists only Alice.
    let a_conf = root.join("alice.conf");
    std::fs::create_dir_all(root.join("a-share")).unwrap();
    Conf {
        name: "alice".into(),
        listen: "127.0.0.2:0".into(),
        shares: vec![root.join("a-share")],
        download: root.join("alice-downloads"),
        peers: vec![b.addr.clone()],
        extra: String::new(),
    }
    .write(&a_conf);
    let a = Peer::start_with_conf(&a_conf);

    let conf = client(root, "client", &[&a.addr], "");
    let found = until(root, &conf, "search friend\n", |line| {
        line["results"].as_array().is_some_and(|r| !r.is_empty())
    });
    assert_eq!(found.code, 0, "{}", found.stderr);
    let line = &found.json_lines()[0];
    assert_eq!(line["results"][0]["sha256"], hash.as_str(), "{line}");
    assert_eq!(line["results"][0]["peer"], b.addr.as_str(), "{line}");

    let got = p2p(root, &conf, &format!("get {hash}\npeers\n"));
    assert_eq!(got.code, 0, "{}", got.stderr);
    let lines = got.json_lines();
    let landed = PathBuf::from(lines[0]["path"].as_str().unwrap());
    assert_eq!(sha256_file(&landed), hash);
    let bob = lines[1]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["addr"] == b.addr.as_str())
        .unwrap_or_else(|| panic!("bob not listed: {}", lines[1]))
        .clone();
    assert_eq!(bob["via"], "pex", "{bob}");
    let alice = &lines[1]["peers"][0];
    assert_eq!(alice["via"], "config", "{alice}");

    // The peer book remembers Bob: with pex off now, he is still asked.
    let book = root.join("client.state/peers.json");
    assert!(book.exists(), "no peer book at {}", book.display());
    let off = client(root, "client", &[&a.addr], "[discovery]\npex = false\n");
    let run = p2p(root, &off, "search friend\n");
    assert_eq!(run.json_lines()[0]["results"][0]["peer"], b.addr.as_str());

    // A fresh client with pex off does not find Bob's file.
    let fresh = client(root, "fresh", &[&a.addr], "[discovery]\npex = false\n");
    let run = p2p(root, &fresh, "search friend\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results = run.json_lines()[0]["results"].as_array().unwrap().clone();
    assert!(
        results.is_empty(),
        "found without peer exchange: {results:?}"
    );
}

#[test]
fn a_flood_of_bad_peers_answers_costs_bounded_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let served = root.join("evil/data.bin");
    random_file(&served, 10_000, 5);
    let mut command = Command::new("python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/evil_peer.py"))
        .args(["--file", served.to_str().unwrap(), "--host", "127.0.0.91"])
        .args(["--mode", "pex-flood", "--on", "peers"]);
    let evil = Listening::spawn(command);
    let conf = client(root, "client", &[&evil.addr], "");
    let run = p2p(root, &conf, "search data\npeers\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.json_lines();
    assert_eq!(
        lines[0]["results"].as_array().unwrap().len(),
        1,
        "{}",
        lines[0]
    );
    let peers = lines[1]["peers"].as_array().unwrap();
    // The evil peer itself, and at most the one hop's bound of (closed) new ones: its
    // own address, garbage and duplicates are not among them.
    eprintln!("{} peers listed after the flood", peers.len());
    assert!(peers.len() <= 1 + 64, "{} peers listed", peers.len());
    assert!(
        peers
            .iter()
            .filter(|p| p["addr"] == evil.addr.as_str())
            .count()
            == 1,
        "{}",
        lines[1]
    );
}

#[test]
fn a_dht_without_a_bootstrap_list_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let conf = client(root, "client", &[], "[discovery]\ndht = true\n");
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "files"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with("error: ") && lines[0].contains("discovery.dht_bootstrap"));
}
