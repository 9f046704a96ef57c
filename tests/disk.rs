//! Disk trouble on the downloading side: a download folder that cannot be made, and a
//! full disk. A clear one-line error, nothing under the final name, nothing corrupted.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{random_file, run_p2p, sha256_file, Conf, Peer};

const MIB: u64 = 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(60);

fn client(root: &Path, peer: &str, download: &Path) -> std::path::PathBuf {
    let conf = root.join("client.conf");
    Conf {
        name: "client".into(),
        listen: "127.0.0.1:0".into(),
        shares: vec![],
        download: download.to_path_buf(),
        peers: vec![peer.to_string()],
        extra: String::new(),
    }
    .write(&conf);
    conf
}

#[test]
fn a_download_folder_that_cannot_be_made_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    random_file(&share.join("f.bin"), MIB, 1);
    let want = sha256_file(&share.join("f.bin"));
    let peer = Peer::start(root, "d1", "127.0.0.91", std::slice::from_ref(&share), "");
    // A plain file where the download folder should be.
    let blocker = root.join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let conf = client(root, &peer.addr, &blocker.join("downloads"));
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "get", &want],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: cannot write"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&blocker).unwrap(), b"x");
}

#[test]
fn a_full_disk_is_one_clear_error_and_nothing_lands() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let small = root.join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&small)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to mount a small tmpfs"
        );
        eprintln!("skipping: cannot mount a small tmpfs (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&small);
    let share = root.join("share");
    random_file(&share.join("big.bin"), 32 * MIB, 2);
    let want = sha256_file(&share.join("big.bin"));
    let peer = Peer::start(root, "d2", "127.0.0.92", std::slice::from_ref(&share), "");
    let conf = client(root, &peer.addr, &small.join("downloads"));
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "get", &want],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    // Said before a byte is fetched when the room is known to be short (statvfs), else
    // when a write fails.
    assert!(
        lines[0].contains("not enough room") || lines[0].contains("No space left"),
        "{}",
        run.stderr
    );
    assert!(!small.join("downloads/big.bin").exists());
}
