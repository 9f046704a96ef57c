//! The Mainline DHT (issue 12): a private DHT of six `p2p serve` peers on 127.0.0.2–7
//! (the first bootstrapping from its own address, the others through it), and a client
//! with no static peers that finds, by the DHT alone, a file only one of them holds:
//! by its hash (`get`) and by a word of its name (`search`). The peers it found are
//! listed `via` dht, and still after a restart with `dht = false` (the peer book).
//! A DHT node that announces the content on a closed port changes nothing but one
//! refused connection. Nothing leaves the machine: every bootstrap list names local
//! peers only.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{random_file, run_p2p, sha256_file, Peer, Run};

const LIMIT: Duration = Duration::from_secs(60);
/// UDP and TCP port of every peer (each on its own 127.0.0.x address).
const PORT: u16 = 27_311;

fn conf(dir: &Path, name: &str, listen: &str, share: &Path, dht: bool) -> PathBuf {
    let conf = dir.join(format!("{name}.conf"));
    std::fs::create_dir_all(share).unwrap();
    let text = format!(
        "[node]\nname = {name:?}\nlisten = {listen:?}\nstate_dir = {state:?}\n\n\
         [share]\ndirs = [{share:?}]\n\n[download]\ndir = {dl:?}\n\n\
         [discovery]\npex = false\ndht = {dht}\ndht_bootstrap = [\"127.0.0.2:{PORT}\"]\n",
        state = dir.join(format!("{name}.state")).display().to_string(),
        share = share.display().to_string(),
        dl = dir.join(format!("{name}-downloads")).display().to_string(),
    );
    std::fs::write(&conf, text).unwrap();
    conf
}

fn p2p(dir: &Path, conf: &Path, script: &str) -> Run {
    run_p2p(
        dir,
        &["--config", conf.to_str().unwrap(), "--json"],
        script,
        LIMIT,
    )
}

#[test]
fn a_client_with_no_peers_finds_content_through_a_private_dht() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut peers = Vec::new();
    let mut needle = None;
    for n in 2..=7 {
        let share = root.join(format!("share{n}"));
        std::fs::create_dir_all(&share).unwrap();
        std::fs::write(share.join(format!("common-{n}.txt")), format!("peer {n}\n")).unwrap();
        if n == 7 {
            let path = share.join("dht-only-needle.bin");
            random_file(&path, 300_000, 31);
            needle = Some(sha256_file(&path));
        }
        let listen = format!("127.0.0.{n}:{PORT}");
        let conf = conf(root, &format!("peer{n}"), &listen, &share, true);
        peers.push(Peer::start_with_conf(&conf));
    }
    let hash = needle.unwrap();
    let client = conf(
        root,
        "client",
        "127.0.0.1:0",
        &root.join("client-share"),
        true,
    );

    // A hostile DHT node claims the needle on a port where nobody listens: a hint that
    // costs one refused connection, never the download.
    let liar = p2p::discovery::DhtNode::start(
        format!("127.0.0.9:{PORT}").parse().unwrap(),
        p2p::discovery::Bootstrap::Through(vec![format!("127.0.0.2:{PORT}").parse().unwrap()]),
    )
    .unwrap();
    let needle_id = p2p::discovery::content_id(&hash.parse().unwrap());
    async_std::task::block_on(liar.announce(&[needle_id], 1));

    // Announcing takes a moment after each peer starts: try until it is found.
    let started = Instant::now();
    let got = loop {
        let run = p2p(root, &client, &format!("get {hash}\n"));
        if run.code == 0 || started.elapsed() > LIMIT {
            break run;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(got.code, 0, "{}", got.stderr);
    let line = &got.json_lines()[0];
    let landed = PathBuf::from(line["path"].as_str().unwrap());
    assert_eq!(sha256_file(&landed), hash);
    assert_eq!(line["sources"][0], format!("127.0.0.7:{PORT}"), "{line}");
    assert_eq!(line["sources"].as_array().unwrap().len(), 1, "{line}");

    let found = p2p(root, &client, "search needle\npeers\n");
    assert_eq!(found.code, 0, "{}", found.stderr);
    let lines = found.json_lines();
    assert_eq!(
        lines[0]["results"][0]["sha256"],
        hash.as_str(),
        "{}",
        lines[0]
    );
    let listed = lines[1]["peers"].as_array().unwrap().clone();
    assert!(
        listed
            .iter()
            .any(|p| p["addr"] == format!("127.0.0.7:{PORT}").as_str() && p["via"] == "dht"),
        "{}",
        lines[1]
    );

    // A restart with the DHT off still knows the peers it found, from the peer book.
    let off = conf(
        root,
        "client",
        "127.0.0.1:0",
        &root.join("client-share"),
        false,
    );
    let again = p2p(root, &off, "peers\n");
    assert_eq!(again.code, 0, "{}", again.stderr);
    let listed = again.json_lines()[0]["peers"].as_array().unwrap().clone();
    assert!(
        listed
            .iter()
            .any(|p| p["addr"] == format!("127.0.0.7:{PORT}").as_str() && p["via"] == "dht"),
        "{listed:?}"
    );

    // A fresh client's `peers` lists the peers it meets in the DHT (every p2p DHT node
    // listens on its peer's own address and port).
    let fresh = conf(
        root,
        "fresh",
        "127.0.0.1:0",
        &root.join("fresh-share"),
        true,
    );
    let met = p2p(root, &fresh, "peers\n");
    assert_eq!(met.code, 0, "{}", met.stderr);
    let listed = met.json_lines()[0]["peers"].as_array().unwrap().clone();
    let via_dht = listed
        .iter()
        .filter(|p| p["via"] == "dht" && p["up"] == true)
        .count();
    assert!(
        via_dht >= 3,
        "only {via_dht} peers found through the DHT: {listed:?}"
    );
    drop(peers);
}
