//! Logs (issue 11): `p2p serve` logs each file it sent at `info` by default (and
//! `RUST_LOG` can silence it); one-shot commands print no log lines by default. Only the
//! presence of a line is checked, never its wording beyond the file's name.

mod common;

use std::time::Duration;

use common::{client_conf, random_file, run_p2p, sha256_file, Peer};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn serve_logs_files_sent_and_one_shot_commands_log_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    random_file(&share.join("logged.bin"), 200_000, 3);
    let hash = sha256_file(&share.join("logged.bin"));
    let peer = Peer::start(root, "alice", "127.0.0.2", &[share], "");
    let conf = client_conf(root, &[&peer.addr]);
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "get", &hash],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.is_empty(),
        "a one-shot command logged: {:?}",
        run.stderr
    );
    let (status, stderr) = peer.stop();
    assert!(status.success(), "{stderr}");
    let logged = stderr
        .lines()
        .any(|l| l.contains("INFO") && l.contains("logged.bin") && l.contains("200000"));
    assert!(logged, "no log line for the file sent: {stderr}");

    // RUST_LOG sets the level (one test, so no other test spawns while it is set).
    let root = &root.join("second");
    let share = root.join("share");
    random_file(&share.join("quiet.bin"), 1000, 4);
    let hash = sha256_file(&share.join("quiet.bin"));
    std::env::set_var("RUST_LOG", "error");
    let peer = Peer::start(root, "bob", "127.0.0.3", &[share], "");
    std::env::remove_var("RUST_LOG");
    let conf = client_conf(root, &[&peer.addr]);
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "get", &hash],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (_, stderr) = peer.stop();
    assert!(!stderr.contains("INFO"), "{stderr}");
}
