//! The download engine against several real peers at once: work shared between them,
//! liars dropped, stalls survived, and a killed client resuming where it stopped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{random_file, run_p2p, served_bytes, sha256_file, Conf, Listening, Peer};

const MIB: u64 = 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(180);

/// A client config knowing `peers`, with a short stall timeout.
fn client(dir: &Path, peers: &[&str], stall_s: u64) -> PathBuf {
    let conf = dir.join("client.conf");
    Conf {
        name: "client".into(),
        listen: "127.0.0.1:0".into(),
        shares: vec![],
        download: dir.join("downloads"),
        peers: peers.iter().map(|p| p.to_string()).collect(),
        extra: String::new(),
    }
    .write(&conf);
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        "[download]\n",
        &format!("[download]\nstall_timeout_s = {stall_s}\n"),
    );
    std::fs::write(&conf, text).unwrap();
    conf
}

fn get_json(dir: &Path, conf: &Path, what: &str) -> (i32, serde_json::Value, String) {
    let run = run_p2p(
        dir,
        &["--config", conf.to_str().unwrap(), "--json", "get", what],
        "",
        LIMIT,
    );
    let line = run.json_lines().pop().unwrap_or_default();
    (run.code, line, run.stderr)
}

/// A `get` of `want` with `conf` that must fail: exit 1 and one clear error line, which
/// is returned.
fn failed_get(root: &Path, conf: &Path, want: &str) -> String {
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "get", want],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one clear line: {}", run.stderr);
    lines[0].to_string()
}

/// A real peer `name` on `ip` sharing `original` (a hard link in a share of its own).
fn honest_peer(root: &Path, original: &Path, name: &str, ip: &str) -> Peer {
    let share = root.join(format!("{name}-share"));
    std::fs::create_dir_all(&share).unwrap();
    std::fs::hard_link(original, share.join(original.file_name().unwrap())).unwrap();
    Peer::start(root, name, ip, &[share], "")
}

/// A later `get` of `want` from `peer` alone, into the same download folder: it must
/// succeed with the right bytes. Returns its `resumed` and `fetched` bytes.
fn get_later_from(root: &Path, peer: &Peer, want: &str) -> (u64, u64) {
    let conf = client(root, &[&peer.addr], 5);
    let (code, line, err) = get_json(root, &conf, want);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sha256_file(Path::new(line["path"].as_str().unwrap())), want);
    (
        line["resumed"].as_u64().unwrap(),
        line["fetched"].as_u64().unwrap(),
    )
}

#[test]
fn three_peers_each_serve_a_share_of_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let original = root.join("origin/big.bin");
    random_file(&original, 256 * MIB, 11);
    let want = sha256_file(&original);
    let peers: Vec<Peer> = ["127.0.0.41", "127.0.0.42", "127.0.0.43"]
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let share = root.join(format!("share{i}"));
            std::fs::create_dir_all(&share).unwrap();
            std::fs::hard_link(&original, share.join("big.bin")).unwrap();
            Peer::start(root, &format!("p{i}"), ip, &[share], "")
        })
        .collect();
    let addrs: Vec<&str> = peers.iter().map(|p| p.addr.as_str()).collect();
    let conf = client(root, &addrs, 10);
    let (code, line, err) = get_json(root, &conf, &want);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sha256_file(Path::new(line["path"].as_str().unwrap())), want);
    assert_eq!(line["sources"].as_array().unwrap().len(), 3, "{line}");
    // Observed from the peers' side: each sent a real share of the file.
    for peer in peers {
        let (_, stderr) = peer.stop();
        let served = served_bytes(&stderr);
        assert!(
            // More than the first window of reads (8 MiB): it kept taking chunks.
            served >= 256 * MIB / 20,
            "a peer served only {served} bytes: {line}"
        );
    }
}

#[test]
fn liars_are_dropped_and_the_file_still_arrives_whole() {
    for mode in ["corrupt-reads", "wrong-bytes", "false-chunks"] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let original = root.join("origin/data.bin");
        random_file(&original, 40 * MIB, 12);
        let want = sha256_file(&original);
        let honest: Vec<Peer> = ["127.0.0.44", "127.0.0.45"]
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                let share = root.join(format!("share{i}"));
                std::fs::create_dir_all(&share).unwrap();
                std::fs::hard_link(&original, share.join("data.bin")).unwrap();
                Peer::start(root, &format!("h{i}"), ip, &[share], "")
            })
            .collect();
        // The liar is listed first, so it is never just left out by chance.
        let liar = Listening::hostile(&original, "127.0.0.46", &["--mode", mode]);
        let conf = client(root, &[&liar.addr, &honest[0].addr, &honest[1].addr], 10);
        let (code, line, err) = get_json(root, &conf, &want);
        assert_eq!(code, 0, "{mode}: {err}");
        let path = PathBuf::from(line["path"].as_str().unwrap());
        assert_eq!(sha256_file(&path), want, "{mode}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&original).unwrap()
        );
        let dropped = line["dropped"].to_string();
        assert!(
            dropped.contains(&liar.addr),
            "{mode}: the liar was not dropped: {line}"
        );
        // No partial file or sidecar is left once the file is whole.
        let hidden: Vec<_> = std::fs::read_dir(root.join("downloads"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{mode}: {hidden:?}");
    }
}

/// A liar that wins the vote on the chunk list (a tie, and it is listed first) is found
/// out by its own chunks; then the peers of the claim that lost are asked, and the file
/// arrives whole from them (found by a new-user review: it used to fail).
///
/// Twice: a liar whose every listed hash is wrong is caught before any chunk of its claim
/// is verified, and the `.part` its run leaves empty must still be the one the next claim
/// writes into (it was once removed under that run, and the file could not be named:
/// seen under load in a full run).
#[test]
fn a_liar_that_wins_a_tie_on_the_chunk_list_gives_way_to_the_other_claim() {
    for (mode, ip) in [
        ("false-chunks", "127.0.0.53"),
        ("all-false-chunks", "127.0.0.55"),
    ] {
        a_liar_wins_a_tie(mode, ip);
    }
}

fn a_liar_wins_a_tie(mode: &str, liar_ip: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let original = root.join("origin/tie.bin");
    random_file(&original, 24 * MIB, 17);
    let want = sha256_file(&original);
    let liar = Listening::hostile(&original, liar_ip, &["--mode", mode]);
    let honest = honest_peer(root, &original, "honest", "127.0.0.54");
    let conf = client(root, &[&liar.addr, &honest.addr], 5);
    for round in 0..2 {
        let (code, line, err) = get_json(root, &conf, &want);
        assert_eq!(code, 0, "{mode}, round {round}: {err}");
        let path = PathBuf::from(line["path"].as_str().unwrap());
        assert_eq!(sha256_file(&path), want);
        assert!(
            line["dropped"].to_string().contains(&liar.addr),
            "the liar is named: {line}"
        );
        assert!(
            !line["dropped"].to_string().contains(&honest.addr),
            "the honest peer is not: {line}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn a_stalled_source_is_dropped_after_the_stall_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let original = root.join("origin/s.bin");
    random_file(&original, 24 * MIB, 13);
    let want = sha256_file(&original);
    let share = root.join("share");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::hard_link(&original, share.join("s.bin")).unwrap();
    let staller = Listening::hostile(
        &original,
        "127.0.0.47",
        &["--mode", "stall-after", "--n", "2"],
    );
    // The honest source is slow too (150 ms a read), so the stall timeout (2 s) fires
    // before it could take over every chunk in the endgame.
    let honest = Listening::hostile(&share.join("s.bin"), "127.0.0.48", &["--delay-ms", "150"]);
    let conf = client(root, &[&staller.addr, &honest.addr], 2);
    let started = Instant::now();
    let (code, line, err) = get_json(root, &conf, &want);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sha256_file(Path::new(line["path"].as_str().unwrap())), want);
    assert!(
        line["dropped"].to_string().contains(&staller.addr),
        "{line}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn every_source_gone_keeps_the_part_and_a_later_get_completes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let original = root.join("origin/c.bin");
    random_file(&original, 24 * MIB, 14);
    let want = sha256_file(&original);
    let quitter = Listening::hostile(
        &original,
        "127.0.0.49",
        &["--mode", "close-after", "--n", "6"],
    );
    let conf = client(root, &[&quitter.addr], 5);
    let error = failed_get(root, &conf, &want);
    assert!(error.starts_with("error: every source failed"), "{error}");
    let part = root.join("downloads").join(format!(".p2p-{want}.part"));
    assert!(part.exists(), "the .part is kept");
    drop(quitter);

    let honest = honest_peer(root, &original, "later", "127.0.0.50");
    let (resumed, fetched) = get_later_from(root, &honest, &want);
    // What arrived before the cut (the peer's close may reset some in flight) is kept.
    assert!(resumed >= MIB, "resumed {resumed}");
    assert_eq!(fetched + resumed, 24 * MIB);
    assert!(!part.exists());
}

/// One hash pass (issue 16): the only source sends one bad chunk, which a spot check
/// will most often miss. The whole-file hash catches it, the unchecked chunks are hashed
/// to find it, the liar is named with that chunk, the rest is kept, and a later get from
/// an honest peer fetches only what is missing. Nothing unverified gets the final name.
#[test]
fn a_single_liar_is_caught_by_the_whole_file_hash_and_a_later_get_fetches_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let original = root.join("origin/one.bin");
    random_file(&original, 24 * MIB, 16);
    let want = sha256_file(&original);
    let liar = Listening::hostile(
        &original,
        "127.0.0.51",
        &["--mode", "corrupt-chunk", "--n", "13"],
    );
    let conf = client(root, &[&liar.addr], 5);
    let error = failed_get(root, &conf, &want);
    assert!(
        error.contains(&liar.addr) && error.contains("do not match chunk 13"),
        "{error}"
    );
    let downloads = root.join("downloads");
    let landed: Vec<_> = std::fs::read_dir(&downloads)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert!(landed.is_empty(), "nothing unverified is named: {landed:?}");
    let part = downloads.join(format!(".p2p-{want}.part"));
    assert!(part.exists(), "the good chunks are kept");
    drop(liar);

    let honest = honest_peer(root, &original, "honest", "127.0.0.52");
    let (resumed, fetched) = get_later_from(root, &honest, &want);
    // Usually (15 in 16) chunk 13 went unchecked, the whole file arrived and only chunk
    // 13 was bad: 23 MiB kept. Else a spot check caught it on arrival and the liar was
    // dropped there: the 13 chunks before it (and any after it already in) are kept.
    assert!(resumed >= 13 * MIB, "resumed {resumed}");
    assert_eq!(resumed + fetched, 24 * MIB);
}

#[test]
fn a_client_killed_mid_download_resumes_the_next_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let size = 256 * MIB;
    let original = root.join("origin/k.bin");
    random_file(&original, size, 15);
    let want = sha256_file(&original);
    // A slow peer (about 100 MB/s at most), so the kill lands mid-transfer.
    let slow = Listening::hostile(&original, "127.0.0.51", &["--delay-ms", "10"]);
    let conf = client(root, &[&slow.addr], 10);
    let mut child = Command::new(common::bin())
        .args(["--config", conf.to_str().unwrap(), "--json", "get", &want])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sidecar = root
        .join("downloads")
        .join(format!(".p2p-{want}.part.state"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sidecar.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "finished before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let first_served = served_bytes(&slow.stop());
    assert!(first_served < size, "the first attempt was cut short");

    let share = root.join("share");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::hard_link(&original, share.join("k.bin")).unwrap();
    let peer = Peer::start(root, "after", "127.0.0.52", &[share], "");
    let conf = client(root, &[&peer.addr], 10);
    let (code, line, err) = get_json(root, &conf, &want);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sha256_file(Path::new(line["path"].as_str().unwrap())), want);
    let resumed = line["resumed"].as_u64().unwrap();
    assert!(resumed > 0, "{line}");
    let (_, stderr) = peer.stop();
    let second_served = served_bytes(&stderr);
    assert!(
        second_served < size,
        "served {second_served} of {size} the second time"
    );
    assert!(
        second_served + resumed >= size,
        "{second_served} + {resumed} < {size}"
    );
}
