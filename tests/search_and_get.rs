//! Search rows and the ways `get` names content (issue 10, items 7–11, 14, 15's
//! `--from`): content already here under `name (N)`, short hashes, paths, one row per
//! distinct content, a search nobody answered, the peers that really sent bytes, and
//! `--from` with an address that is not listed.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{client_conf, random_file, run_p2p, sha256_file, Peer, Run};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

struct Net {
    _dir: tempfile::TempDir,
    root: PathBuf,
    peers: Vec<Peer>,
}

/// Three peers sharing the same `welcome.txt`; `alice` also has a nested file and two
/// files whose hashes share no prefix of note.
fn net() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut peers = Vec::new();
    for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
        let share = root.join(format!("{name}-share"));
        std::fs::create_dir_all(share.join("nested/deeper")).unwrap();
        std::fs::write(share.join("welcome.txt"), b"welcome to p2p\n").unwrap();
        if i == 0 {
            std::fs::write(share.join("nested/deeper/deep.txt"), b"deep down\n").unwrap();
            random_file(&share.join("notes.md"), 3000, 7);
        }
        let ip = format!("127.0.0.{}", 2 + i);
        peers.push(Peer::start(&root, name, &ip, &[share], ""));
    }
    Net {
        _dir: dir,
        root,
        peers,
    }
}

impl Net {
    fn addrs(&self) -> Vec<&str> {
        self.peers.iter().map(|p| p.addr.as_str()).collect()
    }

    fn run(&self, conf: &Path, json: bool, script: &str) -> Run {
        let mut args = vec!["--config", conf.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        run_p2p(&self.root, &args, script, LIMIT)
    }
}

fn visible(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|e| {
            e.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn one_row_per_content_with_every_holder_and_get_uses_them_all() {
    let net = net();
    let conf = client_conf(&net.root, &net.addrs());
    let run = net.run(&conf, true, "search welcome\nget 1\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.json_lines();
    let results = lines[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "one row for one content: {}", lines[0]);
    let holders: Vec<&str> = results[0]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["peer"].as_str().unwrap())
        .collect();
    assert_eq!(holders.len(), 3, "{}", lines[0]);
    // The 15-byte file came from one peer: only that one is named as a source.
    let sources = lines[1]["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "{}", lines[1]);

    let table = net.run(&conf, false, "search welcome\nget 1\n");
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("3 peers"), "{}", table.stdout);
    let saved = table
        .stdout
        .lines()
        .find(|l| l.starts_with("already here") || l.starts_with("saved"))
        .unwrap();
    assert!(!saved.contains("0 MB/s"), "{saved}");
}

#[test]
fn content_already_here_under_a_numbered_name_is_not_fetched_again() {
    let net = net();
    let conf = client_conf(&net.root, &net.addrs()[..1]);
    let downloads = net.root.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    // A different notes.md is in the way, so the content lands as `notes (1).md`.
    std::fs::write(downloads.join("notes.md"), b"my own notes").unwrap();
    let hash = sha256_file(&net.root.join("alice-share/notes.md"));
    let script = format!("get {hash}\nget {hash}\nget {hash}\n");
    let run = net.run(&conf, true, &script);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.json_lines();
    assert_eq!(lines[0]["fetched"], 3000, "{}", lines[0]);
    for line in &lines[1..] {
        assert_eq!(line["already_present"], true, "{line}");
        assert_eq!(line["fetched"], 0, "{line}");
    }
    assert_eq!(visible(&downloads), ["notes (1).md", "notes.md"]);
}

#[test]
fn a_unique_hash_prefix_stands_for_the_hash() {
    let net = net();
    let conf = client_conf(&net.root, &net.addrs());
    let hash = sha256_file(&net.root.join("alice-share/notes.md"));
    let script = format!("search notes\nget {}\n", &hash[..12]);
    let run = net.run(&conf, true, &script);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json_lines()[1]["sha256"], hash.as_str());

    // Fewer than 8 digits is not a prefix: it is taken as a name.
    let run = net.run(&conf, false, &format!("search notes\nget {}\n", &hash[..7]));
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no peer has a file named"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_pattern_with_a_slash_matches_paths_and_get_takes_a_path() {
    let net = net();
    let conf = client_conf(&net.root, &net.addrs()[..1]);
    let run = net.run(
        &conf,
        true,
        "search deeper/\nsearch nested/deeper/deep.txt\nsearch deeper\nget nested/deeper/deep.txt\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.json_lines();
    let names = |line: &Value| -> Vec<String> {
        line["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&lines[0]), ["nested/deeper/deep.txt"]);
    assert_eq!(names(&lines[1]), ["nested/deeper/deep.txt"]);
    assert!(
        names(&lines[2]).is_empty(),
        "without /, names only: {}",
        lines[2]
    );
    let landed = PathBuf::from(lines[3]["path"].as_str().unwrap());
    assert_eq!(std::fs::read(&landed).unwrap(), b"deep down\n");
}

#[test]
fn a_search_that_no_peer_answered_fails_with_the_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Nobody listens on these.
    let conf = client_conf(root, &["127.0.0.9:1", "127.0.0.10:1"]);
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap()],
        "search x\n",
        LIMIT,
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let error = run.stderr.lines().next().unwrap_or("");
    assert!(
        error.starts_with("error: ")
            && error.contains("127.0.0.9:1")
            && error.contains("127.0.0.10:1"),
        "{}",
        run.stderr
    );
    let none = client_conf(&root.join("none"), &[]);
    let run = run_p2p(
        root,
        &["--config", none.to_str().unwrap()],
        "search x\n",
        LIMIT,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);

    // One peer answering is enough: the others' errors are rows.
    let share = root.join("share");
    std::fs::create_dir_all(&share).unwrap();
    let peer = Peer::start(root, "up", "127.0.0.2", &[share], "");
    let conf = client_conf(&root.join("some"), &[&peer.addr, "127.0.0.9:1"]);
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap()],
        "search x\n",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("nothing matches"), "{}", run.stdout);
}

#[test]
fn from_takes_an_address_that_is_not_listed() {
    let net = net();
    // The client knows only bob; --from names alice by address as a one-off source.
    let conf = client_conf(&net.root, &net.addrs()[1..2]);
    let hash = sha256_file(&net.root.join("alice-share/notes.md"));
    let script = format!("get {hash} --from {}\n", net.peers[0].addr);
    let run = net.run(&conf, true, &script);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.json_lines()[0]["sources"][0],
        net.peers[0].addr.as_str()
    );
}

/// A peer whose search lists two contents whose hashes share their first 12 digits
/// (claims are enough to make a prefix ambiguous).
const TWINS_PEER: &str = r#"
import json, socket, struct, sys, threading
A = "abcdef012345" + "0" * 52
B = "abcdef012345" + "1" * 52
def serve(c):
    try:
        if c.recv(5) != b"\x00P2P\x01": return
        c.sendall(b"\x00P2P\x01")
        while True:
            head = c.recv(4)
            if len(head) < 4: return
            (n,) = struct.unpack(">I", head)
            body = b""
            while len(body) < n: body += c.recv(n - len(body))
            op = json.loads(body[1:]).get("op")
            if op == "search":
                rs = [{"name": n, "path": n, "size": 1, "sha256": h, "modified": 0}
                      for n, h in (("a.txt", A), ("b.txt", B))]
                out = {"results": rs, "truncated": False}
            else:
                out = {"error": {"code": "not_found", "message": "no"}}
            data = json.dumps(out).encode()
            c.sendall(struct.pack(">IB", len(data) + 1, 2) + data)
    except OSError:
        pass
s = socket.socket(); s.bind(("127.0.0.5", 0)); s.listen(8)
print("listening on %s:%d" % s.getsockname(), flush=True)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

#[test]
fn an_ambiguous_hash_prefix_lists_the_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut command = std::process::Command::new("python3");
    command.arg("-c").arg(TWINS_PEER);
    let peer = common::Listening::spawn(command);
    let conf = client_conf(root, &[&peer.addr]);
    let run = run_p2p(
        root,
        &["--config", conf.to_str().unwrap()],
        "search txt
get abcdef01
",
        LIMIT,
    );
    assert_eq!(
        run.code, 1,
        "{}
{}",
        run.stdout, run.stderr
    );
    let error = run.stderr.lines().next().unwrap_or("");
    assert!(
        error.contains(&format!("abcdef012345{}", "0".repeat(52)))
            && error.contains(&format!("abcdef012345{}", "1".repeat(52))),
        "{error}"
    );
}

/// A prefix of a hash from the last `files` listing names it too; a prefix that names
/// nothing says so rather than "no peer has a file named …".
#[test]
fn a_prefix_from_a_listing_and_one_that_names_nothing() {
    let net = net();
    let conf = client_conf(&net.root, &net.addrs());
    // The client shares welcome.txt too (alice, bob and carol hold it).
    std::fs::write(
        net.root.join("client-share/welcome.txt"),
        b"welcome to p2p\n",
    )
    .unwrap();
    let hash = sha256_file(&net.root.join("client-share/welcome.txt"));
    let run = net.run(&conf, true, &format!("files\nget {}\n", &hash[..10]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json_lines()[1]["sha256"], hash.as_str());

    let run = net.run(&conf, false, "get 64896f89\n");
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("starts no hash"), "{}", run.stderr);
}

/// Piped tables keep hashes whole (`transfers` included); `--from` with an odd IPv4
/// spelling says how to write it.
#[test]
fn piped_tables_keep_hashes_whole_and_odd_from_addresses_are_explained() {
    let net = net();
    let conf = client_conf(&net.root, &net.addrs()[..1]);
    let hash = sha256_file(&net.root.join("alice-share/notes.md"));
    let run = net.run(&conf, false, &format!("get {hash}\ntransfers\n"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let row = run
        .stdout
        .lines()
        .find(|l| l.contains("notes.md") && l.contains("done"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(row.contains(&hash), "{row}");
    assert!(!row.contains("0 MB/s"), "{row}");

    let run = net.run(&conf, false, &format!("get {hash} --from 0x7f000002\n"));
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("four decimal numbers"),
        "{}",
        run.stderr
    );
}

/// A bad config under --json: the one `error:` line, exit 2, and one JSON object.
#[test]
fn a_bad_config_under_json_prints_one_error_object() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "[download]\ndir = 42\n").unwrap();
    let run = run_p2p(
        dir.path(),
        &["--config", conf.to_str().unwrap(), "--json", "files"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert!(lines[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("download.dir"));
}
