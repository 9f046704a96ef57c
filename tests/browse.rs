//! Browsing and folders (issue 15, DESIGN §9), through the real binary: the `list` op on
//! the wire (paging, refused paths), `browse` and `get N` of its rows, `get PEER:PATH/`
//! landing a tree verified with its structure and never overwriting, a hostile peer's
//! listing writing nothing outside the download folder, and a seed peer that cannot be
//! browsed saying so in one line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{random_file, run_p2p, sha256_file, tagged_client, Listening, Peer, Run};

const LIMIT: Duration = Duration::from_secs(60);

fn p2p(dir: &Path, conf: &Path, json: bool, script: &str) -> Run {
    let mut args = vec!["--config", conf.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    run_p2p(dir, &args, script, LIMIT)
}

/// A peer sharing `music/` (a.ogg, live/b.ogg, live/deep/c.ogg), `notes.md`, a dot-file
/// and five files in `many/`.
fn music_peer(root: &Path, ip: &str) -> (Peer, PathBuf) {
    let share = root.join("share");
    for (i, (rel, size)) in [
        ("music/a.ogg", 70_000u64),
        ("music/live/b.ogg", 1_500_000),
        ("music/live/deep/c.ogg", 3000),
        ("notes.md", 12),
        (".secret", 5),
        ("many/1.txt", 1),
        ("many/2.txt", 2),
        ("many/3.txt", 3),
        ("many/4.txt", 4),
        ("many/5.txt", 5),
    ]
    .iter()
    .enumerate()
    {
        random_file(&share.join(rel), *size, 50 + i as u64);
    }
    (
        Peer::start(root, "tree", ip, std::slice::from_ref(&share), ""),
        share,
    )
}

/// Sends one P2P/1 request on a fresh connection and prints the answer's JSON.
const LIST_CLIENT: &str = r#"
import json, socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
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
body = sys.argv[2].encode()
s.sendall(struct.pack(">IB", len(body) + 1, 1) + body)
length, kind = struct.unpack(">IB", exact(5))
print(exact(length - 1).decode())
"#;

fn ask(addr: &str, request: &str) -> serde_json::Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(LIST_CLIENT)
        .arg(addr)
        .arg(request)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn list_pages_shows_folders_with_totals_and_refuses_paths_that_climb() {
    let dir = tempfile::tempdir().unwrap();
    let (peer, share) = music_peer(dir.path(), "127.0.0.80");
    let top = ask(&peer.addr, r#"{"op":"list","path":""}"#);
    let names: Vec<&str> = top["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["many", "music", "notes.md"], "{top}");
    assert_eq!(top["total"], 3);
    let music = &top["entries"][1];
    assert_eq!(music["kind"], "dir");
    assert_eq!(music["files"], 3);
    assert_eq!(music["bytes"], 70_000 + 1_500_000 + 3000);
    let notes = &top["entries"][2];
    assert_eq!(notes["kind"], "file");
    assert_eq!(notes["size"], 12);
    assert_eq!(
        notes["sha256"],
        sha256_file(&share.join("notes.md")).as_str()
    );

    let page = ask(
        &peer.addr,
        r#"{"op":"list","path":"many/","offset":2,"limit":2}"#,
    );
    let paths: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["many/3.txt", "many/4.txt"], "{page}");
    assert_eq!(page["total"], 5);

    for bad in ["..", "../", "music/../..", "/etc", "/", "music/./live"] {
        let request = serde_json::json!({"op": "list", "path": bad}).to_string();
        let answer = ask(&peer.addr, &request);
        if bad == "/" {
            // The top, with its trailing slash.
            assert_eq!(answer["total"], 3, "{bad}: {answer}");
            continue;
        }
        assert_eq!(answer["error"]["code"], "bad_request", "{bad}: {answer}");
    }
    let missing = ask(&peer.addr, r#"{"op":"list","path":"nothing/"}"#);
    assert_eq!(missing["error"]["code"], "not_found", "{missing}");
}

#[test]
fn browse_rows_and_folder_gets_land_the_tree_verified_never_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (peer, share) = music_peer(root, "127.0.0.81");
    let client = tagged_client(root, "c", &[&peer.addr], None, "");
    let downloads = root.join("c-downloads");

    // browse, then `get N` of a file row and of a folder row.
    let run = p2p(
        root,
        &client,
        true,
        &format!("browse {} music\nget 2\nget 1\n", peer.addr),
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let lines = run.json_lines();
    let rows = lines[0]["entries"].as_array().unwrap();
    assert_eq!(rows[0]["name"], "live");
    assert_eq!(rows[0]["kind"], "dir");
    assert_eq!(rows[1]["name"], "a.ogg");
    assert_eq!(
        sha256_file(&downloads.join("a.ogg")),
        sha256_file(&share.join("music/a.ogg"))
    );
    assert_eq!(lines[2]["done"], 2, "{}", lines[2]);
    for rel in ["live/b.ogg", "live/deep/c.ogg"] {
        assert_eq!(
            sha256_file(&downloads.join(rel)),
            sha256_file(&share.join("music").join(rel)),
            "{rel}"
        );
    }

    // `get PEER:music/`: the whole tree under downloads/music.
    let other = tagged_client(root, "d", &[&peer.addr], None, "");
    let theirs = root.join("d-downloads");
    std::fs::create_dir_all(theirs.join("music")).unwrap();
    // A different file already where a.ogg goes: kept, and the download lands beside it.
    std::fs::write(theirs.join("music/a.ogg"), b"mine, not theirs").unwrap();
    let run = p2p(root, &other, true, &format!("get {}:music/\n", peer.addr));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let got = &run.json_lines()[0];
    assert_eq!(got["count"], 3, "{got}");
    assert_eq!(got["failed"], 0, "{got}");
    assert_eq!(
        std::fs::read(theirs.join("music/a.ogg")).unwrap(),
        b"mine, not theirs"
    );
    assert_eq!(
        sha256_file(&theirs.join("music/a (1).ogg")),
        sha256_file(&share.join("music/a.ogg"))
    );
    for rel in ["live/b.ogg", "live/deep/c.ogg"] {
        assert_eq!(
            sha256_file(&theirs.join("music").join(rel)),
            sha256_file(&share.join("music").join(rel))
        );
    }
    // The dot-file was never listed, so never fetched.
    let run = p2p(root, &other, false, &format!("get {}:/\n", peer.addr));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let peer_dir = std::fs::read_dir(&theirs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("127.0.0.81"))
        .expect("the top level lands under the peer's address");
    assert!(theirs.join(&peer_dir).join("notes.md").exists());
    assert!(!theirs.join(&peer_dir).join(".secret").exists());
}

/// A P2P/1 peer whose `list` answers with names that climb out of the target folder,
/// an absolute path, and control characters; it has none of their contents.
const HOSTILE_LISTER: &str = r#"
import json, socket, struct, sys, threading
H = "ab" * 32
ENTRIES = [
    {"name": "../evil.txt", "path": "x/../evil.txt", "kind": "file", "size": 5, "sha256": H},
    {"name": "a/../../b.txt", "path": "x/a/../../b.txt", "kind": "file", "size": 5, "sha256": H},
    {"name": "/etc/x", "path": "/etc/x", "kind": "file", "size": 5, "sha256": H},
    {"name": "..", "path": "x/..", "kind": "dir", "files": 1, "bytes": 5},
    {"name": "red\u001b[31m\n.txt", "path": "x/red", "kind": "file", "size": 5, "sha256": H},
]
def serve(c):
    try:
        head = c.recv(5)
        c.sendall(b"\x00P2P\x01")
        if head != b"\x00P2P\x01":
            c.close(); return
        while True:
            h = c.recv(4)
            if len(h) < 4: return
            (n,) = struct.unpack(">I", h)
            body = b""
            while len(body) < n: body += c.recv(n - len(body))
            req = json.loads(body[1:])
            if req.get("op") == "list":
                out = {"entries": ENTRIES, "total": len(ENTRIES)}
            elif req.get("op") == "ping":
                out = {"name": "lister", "version": 1, "files": 0, "bytes": 0}
            else:
                out = {"error": {"code": "not_found", "message": "no"}}
            data = json.dumps(out).encode()
            c.sendall(struct.pack(">IB", len(data) + 1, 2) + data)
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen(8)
print("listening on %s:%d" % s.getsockname(), flush=True)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(all_files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_hostile_listing_writes_nothing_outside_the_download_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut command = Command::new("python3");
    command.arg("-c").arg(HOSTILE_LISTER).arg("127.0.0.82");
    let lister = Listening::spawn(command);
    let jail = root.join("jail");
    let client = tagged_client(&jail, "c", &[&lister.addr], None, "");
    let before = all_files(root);
    let run = p2p(&jail, &client, true, &format!("get {}:x/\n", lister.addr));
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        !errors[0].contains('\u{1b}'),
        "a control character reached the terminal"
    );
    let got = &run.json_lines()[0];
    assert_eq!(got["count"], 5, "{got}");
    assert_eq!(got["done"], 0, "{got}");
    let refused = got["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["state"] == "refused")
        .count();
    assert_eq!(refused, 4, "{got}");
    // Nothing new anywhere but the client's own folders (its config state and downloads).
    for file in all_files(root) {
        if before.contains(&file) {
            continue;
        }
        let inside =
            file.starts_with(jail.join("c-downloads")) || file.starts_with(jail.join("c.state"));
        assert!(
            inside,
            "written outside the download folder: {}",
            file.display()
        );
    }
    assert!(!root.join("evil.txt").exists() && !jail.join("evil.txt").exists());
}

#[test]
fn a_seed_peer_cannot_be_browsed_and_says_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("seed-share");
    random_file(&share.join("x.bin"), 10, 1);
    let mut command = Command::new("python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seed/seed_server.py"))
        .arg("--dir")
        .arg(&share)
        .args(["--port", "0", "--host", "127.0.0.83", "--quiet"]);
    let seed = Listening::spawn(command);
    let client = tagged_client(root, "c", &[&seed.addr], None, "");
    let run = p2p(root, &client, false, &format!("browse {}\n", seed.addr));
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains("seed") && lines[0].contains("list"),
        "{}",
        lines[0]
    );
}

#[test]
fn files_of_one_content_in_a_folder_each_land_under_their_own_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    std::fs::create_dir_all(share.join("pkg/sub")).unwrap();
    for rel in ["pkg/__init__.py", "pkg/a.txt", "pkg/sub/__init__.py"] {
        std::fs::write(share.join(rel), b"").unwrap();
    }
    std::fs::write(share.join("pkg/x.bin"), b"same").unwrap();
    std::fs::write(share.join("pkg/y.bin"), b"same").unwrap();
    let peer = Peer::start(root, "dups", "127.0.0.84", std::slice::from_ref(&share), "");
    let client = tagged_client(root, "c", &[&peer.addr], None, "");
    let run = p2p(root, &client, false, &format!("get {}:pkg/\n", peer.addr));
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let got = root.join("c-downloads/pkg");
    for rel in ["__init__.py", "a.txt", "sub/__init__.py", "x.bin", "y.bin"] {
        assert!(got.join(rel).is_file(), "{rel} missing");
    }
    assert_eq!(std::fs::read(got.join("y.bin")).unwrap(), b"same");
}
