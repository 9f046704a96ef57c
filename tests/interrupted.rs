//! Interrupted and failed downloads (issue 10, items 12 and 13): what a Ctrl-C keeps is
//! said and counted by the next `get`, however early it came; a download that kept
//! nothing leaves nothing behind; SIGTERM exits 143; `transfers` lists them all.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{random_file, run_p2p, sha256_file, wait_timeout, Listening, Peer, Scripted};

const MIB: u64 = 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(120);

fn conf(dir: &Path, tag: &str, peers: &[&str], downloads: &Path) -> PathBuf {
    common::tagged_client(dir, tag, peers, Some(downloads), "")
}

fn throttled(target: &str, rate: u64) -> Listening {
    let mut command = Command::new("python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/throttle_proxy.py"))
        .arg("--target")
        .arg(target)
        .arg("--rate")
        .arg(rate.to_string());
    Listening::spawn(command)
}

fn part_exists(downloads: &Path, hash: &str) -> bool {
    downloads.join(format!(".p2p-{hash}.part")).exists()
}

fn hidden_files(downloads: &Path) -> Vec<String> {
    std::fs::read_dir(downloads)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts `p2p --json get HASH` through a 2 MiB/s proxy, and stops it with `signal`
/// 1.5 s after its `.part` appeared. Returns its exit code and stderr.
fn get_then_signal(
    dir: &Path,
    conf: &Path,
    downloads: &Path,
    hash: &str,
    signal: &str,
) -> (i32, String) {
    let mut command = Command::new(common::bin());
    command.args(["--config", conf.to_str().unwrap(), "--json", "get", hash]);
    let mut run = Scripted::spawn(command, dir, "");
    let started = Instant::now();
    while !part_exists(downloads, hash) {
        assert!(started.elapsed() < LIMIT, "the download never started");
        if let Ok(Some(status)) = run.child.try_wait() {
            let (out, err) = run.output();
            panic!("get ended before it was interrupted: {status:?}\n{out}\n{err}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(run.child.id().to_string())
        .status();
    let status = wait_timeout(&mut run.child, LIMIT).expect("get did not stop");
    let (_, err) = run.output();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn chunks_verified_before_ctrl_c_count_and_the_kept_bytes_are_said() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    random_file(&share.join("big.bin"), 32 * MIB, 13);
    let hash = sha256_file(&share.join("big.bin"));
    let peer = Peer::start(root, "alice", "127.0.0.2", &[share], "");
    let proxy = throttled(&peer.addr, 2 * MIB);
    let downloads = root.join("downloads");
    let slow = conf(root, "slow", &[&proxy.addr], &downloads);

    let (code, err) = get_then_signal(root, &slow, &downloads, &hash, "INT");
    assert_eq!(code, 130, "{err}");
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
    assert!(
        line.contains("interrupted") && line.contains("kept"),
        "Ctrl-C must say what is kept: {err}"
    );
    assert!(part_exists(&downloads, &hash), "the .part is kept");
    drop(proxy);

    // The same get again, link no longer limited: what was verified counts.
    let fast = conf(root, "fast", &[&peer.addr], &downloads);
    let run = run_p2p(
        root,
        &["--config", fast.to_str().unwrap(), "--json", "get", &hash],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let done = &run.json_lines()[0];
    let resumed = done["resumed"].as_u64().unwrap();
    let fetched = done["fetched"].as_u64().unwrap();
    assert!(resumed >= MIB, "nothing of the first 1.5 s counted: {done}");
    assert_eq!(resumed + fetched, 32 * MIB, "{done}");
    assert_eq!(sha256_file(&downloads.join("big.bin")), hash);
    assert!(
        hidden_files(&downloads).is_empty(),
        "{:?}",
        hidden_files(&downloads)
    );
}

#[test]
fn sigterm_exits_143_and_keeps_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    random_file(&share.join("big.bin"), 16 * MIB, 14);
    let hash = sha256_file(&share.join("big.bin"));
    let peer = Peer::start(root, "alice", "127.0.0.2", &[share], "");
    let proxy = throttled(&peer.addr, 2 * MIB);
    let downloads = root.join("downloads");
    let slow = conf(root, "slow", &[&proxy.addr], &downloads);
    let (code, err) = get_then_signal(root, &slow, &downloads, &hash, "TERM");
    assert_eq!(code, 143, "{err}");
    assert!(part_exists(&downloads, &hash), "{err}");
}
