//! Issue 10, items 5 and 6: what a peer shares survives a restart. The hash cache is
//! saved whatever the file names (one that is not UTF-8 included), and `unshare` of the
//! download folder is saved as `download.share = false`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{run_p2p, Peer};

const LIMIT: Duration = Duration::from_secs(60);

fn json(run: &common::Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    run.json_lines()
        .pop()
        .unwrap_or_else(|| panic!("no JSON: {:?}", run.stdout))
}

fn file_names(root: &Path, conf: &str) -> Vec<String> {
    let run = run_p2p(root, &["--config", conf, "--json", "files"], "", LIMIT);
    let mut names: Vec<String> = json(&run)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Issue 10 item 5: a file whose name is not UTF-8 is shared (its name shown with
/// U+FFFD for the bad bytes), and the hash cache is saved all the same, so the second
/// start hashes nothing.
#[cfg(unix)]
#[test]
fn a_name_that_is_not_utf8_does_not_stop_the_hash_cache() {
    use std::os::unix::ffi::OsStrExt;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("shared");
    std::fs::create_dir_all(&share).unwrap();
    std::fs::write(share.join("a.txt"), b"first").unwrap();
    std::fs::write(share.join("b.txt"), b"second").unwrap();
    let odd = share.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&odd, b"latin-1 name").unwrap();
    let conf = root.join("p2p.conf");
    std::fs::write(
        &conf,
        "[share]\ndirs = [\"shared\"]\n[download]\nshare = false\n",
    )
    .unwrap();
    let conf_text = conf.to_str().unwrap();

    let rescan = |what: &str| {
        let run = run_p2p(
            root,
            &["--config", conf_text, "--json", "rescan"],
            "",
            LIMIT,
        );
        let report = json(&run);
        assert_eq!(report["files"], 3, "{what}: {report}");
        assert_eq!(report["failed"].as_array().map(Vec::len), Some(0), "{what}");
        (report["hashed"].clone(), report["cached"].clone())
    };
    assert_eq!(rescan("first start"), (3.into(), 0.into()));
    assert!(root.join(".p2p/hashes.json").is_file(), "cache not saved");
    assert_eq!(rescan("second start"), (0.into(), 3.into()));

    assert_eq!(
        file_names(root, conf_text),
        ["a.txt", "b.txt", "caf\u{fffd}.txt"]
    );

    // A serving peer too: its start hashes nothing, and says so.
    let peer = Peer::start_with_conf(&write_serve_conf(root, &share));
    let (_, stderr) = peer.stop();
    assert!(
        stderr.contains("3 files") && stderr.contains("0 hashed, 3 unchanged from cache"),
        "{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// A `serve` config on a free loopback port sharing `share`, with the same state dir.
fn write_serve_conf(root: &Path, share: &Path) -> std::path::PathBuf {
    let conf = root.join("serve.conf");
    std::fs::write(
        &conf,
        format!(
            "[node]\nlisten = \"127.0.0.1:0\"\nstate_dir = \".p2p\"\n[share]\ndirs = [{:?}]\n[download]\nshare = false\n",
            share.display().to_string()
        ),
    )
    .unwrap();
    conf
}

/// Issue 10 item 6: `unshare` of the download folder is saved (`download.share =
/// false`, the comments of the file kept), so a fresh process does not share it again;
/// `share` of it turns it back on the same way.
#[test]
fn unsharing_the_download_folder_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("shared")).unwrap();
    std::fs::create_dir_all(root.join("downloads")).unwrap();
    std::fs::write(root.join("shared/kept.txt"), b"kept").unwrap();
    std::fs::write(root.join("downloads/got.txt"), b"downloaded").unwrap();
    let conf = root.join("p2p.conf");
    let text = "# my peer\n[share]\ndirs = [\"shared\"]   # what I share\n\n[download]\n# where get puts files\ndir = \"downloads\"\nshare = true   # downloads are shared\n";
    std::fs::write(&conf, text).unwrap();
    let conf_text = conf.to_str().unwrap();
    let downloads = root.join("downloads");
    let downloads_text = downloads.to_str().unwrap();
    assert_eq!(file_names(root, conf_text), ["got.txt", "kept.txt"]);

    let run = run_p2p(
        root,
        &["--config", conf_text],
        &format!("unshare {downloads_text}\nfiles\n"),
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("stopped sharing"), "{}", run.stdout);
    let after = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(
        after,
        text.replace("share = true", "share = false"),
        "only the value changed"
    );

    // A fresh process: the download folder is not shared.
    assert_eq!(file_names(root, conf_text), ["kept.txt"]);
    let run = run_p2p(root, &["--config", conf_text, "--json", "share"], "", LIMIT);
    let folders: Vec<String> = json(&run)["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["dir"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !folders.iter().any(|f| Path::new(f) == downloads),
        "{folders:?}"
    );

    // And `share` of it turns `download.share` back on, not a second `share.dirs` entry.
    let run = run_p2p(
        root,
        &["--config", conf_text, "share", downloads_text],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), text);
    assert_eq!(file_names(root, conf_text), ["got.txt", "kept.txt"]);
}

/// Without `share` in `[download]` (the default is true), `unshare` adds the key.
#[test]
fn unsharing_the_download_folder_adds_the_key_when_absent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("downloads")).unwrap();
    std::fs::write(root.join("downloads/got.txt"), b"downloaded").unwrap();
    let conf = root.join("p2p.conf");
    std::fs::write(
        &conf,
        "[share]\ndirs = []\n\n[download]\ndir = \"downloads\"\n",
    )
    .unwrap();
    let conf_text = conf.to_str().unwrap();
    let downloads = root.join("downloads");
    let run = run_p2p(
        root,
        &[
            "--config",
            conf_text,
            "unshare",
            downloads.to_str().unwrap(),
        ],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "[share]\ndirs = []\n\n[download]\ndir = \"downloads\"\nshare = false\n"
    );
    assert!(file_names(root, conf_text).is_empty());
}
