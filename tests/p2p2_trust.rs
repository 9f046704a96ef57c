//! P2P/2 from the client's side (issue 13): a `get` through a wiretap shows neither the
//! file, its name nor the ops; a pinned ID that does not match is refused naming both
//! IDs; a peer with a new identity at a known address is refused until `peers forget`;
//! `require_encryption` and `allow_ids` on the server; `peers` names each peer's ID and
//! protocol.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{random_file, run_p2p, sha256_file, tagged_client, Listening, Peer, Run};

const LIMIT: Duration = Duration::from_secs(60);

fn p2p(dir: &Path, conf: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--config", conf.to_str().unwrap()];
    all.extend_from_slice(args);
    run_p2p(dir, &all, "", LIMIT)
}

fn id_of(dir: &Path, conf: &Path) -> String {
    let run = p2p(dir, conf, &["id"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.stdout.trim().to_string();
    assert_eq!(id.len(), 52, "{id}");
    id
}

/// One serving peer on `ip` sharing one file of `size` bytes named `name`.
fn serving(
    root: &Path,
    tag: &str,
    ip: &str,
    name: &str,
    size: u64,
    extra: &str,
) -> (Peer, PathBuf) {
    let share = root.join(format!("{tag}-share"));
    std::fs::create_dir_all(&share).unwrap();
    let file = share.join(name);
    random_file(&file, size, 7);
    (Peer::start(root, tag, ip, &[share], extra), file)
}

/// How many connections a stopped peer's last line says `require_encryption` or
/// `allow_ids` turned away.
fn turned_away(log: &str) -> u64 {
    let Some(line) = log.lines().find(|l| l.starts_with("shutting down:")) else {
        return 0;
    };
    line.split(", ")
        .find_map(|part| part.strip_suffix(" by require_encryption or allow_ids)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error:")).collect()
}

/// A wiretap (tests/peers/throttle_proxy.py, unthrottled) that writes every byte it
/// forwards, both ways, to `record`.
fn wiretap(target: &str, record: &Path) -> Listening {
    let mut command = Command::new("python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/throttle_proxy.py"))
        .arg("--target")
        .arg(target)
        .arg("--rate")
        .arg("0")
        .arg("--record")
        .arg(record);
    Listening::spawn(command)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_get_through_a_wiretap_shows_neither_bytes_nor_name_nor_ops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = "quarterly-secret-report.bin";
    let (peer, file) = serving(root, "tapped", "127.0.0.2", name, 3 * 1024 * 1024 + 5, "");
    let record = root.join("wire.bin");
    let tap = wiretap(&peer.addr, &record);
    let client = tagged_client(root, "c", &[&tap.addr], None, "");

    let run = p2p(root, &client, &["get", name]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let got = root.join("c-downloads").join(name);
    assert_eq!(sha256_file(&got), sha256_file(&file));
    let run = p2p(root, &client, &["--json", "peers"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    drop(tap);

    let wire = std::fs::read(&record).unwrap();
    let content = std::fs::read(&file).unwrap();
    assert!(
        wire.len() > content.len(),
        "the file did not pass the tap: {} bytes",
        wire.len()
    );
    // Any 32 bytes of the file (its start, middle, end) would show in the clear.
    for at in [0, content.len() / 2, content.len() - 32] {
        assert!(
            !contains(&wire, &content[at..at + 32]),
            "file bytes at {at} seen on the wire"
        );
    }
    for word in [
        name.as_bytes(),
        b"quarterly",
        b"\"op\"",
        b"search",
        b"info",
        b"read",
        b"ping",
        b"tapped",
    ] {
        assert!(
            !contains(&wire, word),
            "{:?} seen on the wire",
            String::from_utf8_lossy(word)
        );
    }
    // And the tap saw P2P/2: its preamble, then TLS (a handshake record, 0x16 0x03).
    assert!(
        wire.starts_with(b"\x00P2P\x02"),
        "{:?}",
        &wire[..8.min(wire.len())]
    );
}

#[test]
fn a_wrong_pinned_id_is_refused_naming_both_and_the_right_one_works() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (peer, file) = serving(root, "pinned", "127.0.0.3", "pinned.bin", 200_000, "");
    let right = id_of(root, &peer.conf);
    // Another peer's ID: well-formed, not this peer's.
    let other = tagged_client(root, "other", &[], None, "");
    let wrong = id_of(root, &other);
    assert_ne!(right, wrong);

    let client = tagged_client(root, "c", &[&format!("{}#{wrong}", peer.addr)], None, "");
    let run = p2p(root, &client, &["get", "pinned.bin"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(&right) && errors[0].contains(&wrong),
        "{}",
        errors[0]
    );
    assert!(!root.join("c-downloads/pinned.bin").exists());

    // `--from ADDR#ID` with the right ID, from a client that lists nobody.
    let fresh = tagged_client(root, "d", &[], None, "");
    let from = format!("{}#{right}", peer.addr);
    let run = p2p(root, &fresh, &["get", "pinned.bin", "--from", &from]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        sha256_file(&root.join("d-downloads/pinned.bin")),
        sha256_file(&file)
    );
    // ... and with the wrong one, refused the same way.
    let from = format!("{}#{wrong}", peer.addr);
    let again = tagged_client(root, "e", &[], None, "");
    let run = p2p(root, &again, &["get", "pinned.bin", "--from", &from]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&right) && run.stderr.contains(&wrong),
        "{}",
        run.stderr
    );

    // `peers add ADDR#ID` saves the pin in the config, and `peers` shows the ID.
    let run = p2p(
        root,
        &again,
        &["peers", "add", &format!("{}#{right}", peer.addr)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&again).unwrap();
    assert!(text.contains(&format!("{}#{right}", peer.addr)), "{text}");
    let run = p2p(root, &again, &["--json", "peers"]);
    let peers: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let entry = &peers["peers"][0];
    assert_eq!(entry["id"], right.as_str(), "{entry}");
    assert_eq!(entry["protocol"], "p2p/2", "{entry}");
    let run = p2p(root, &again, &["peers"]);
    assert!(
        run.stdout.contains(&right[..7]) && run.stdout.contains("p2p/2"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_new_identity_at_a_known_address_is_refused_until_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (peer, file) = serving(root, "changing", "127.0.0.4", "stay.bin", 100_000, "");
    let first_id = id_of(root, &peer.conf);
    let addr = peer.addr.clone();
    let client = tagged_client(root, "c", &[&addr], None, "");
    let run = p2p(root, &client, &["get", "stay.bin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let known = std::fs::read_to_string(root.join("c.state/known_peers")).unwrap();
    assert!(known.contains(&format!("{addr} {first_id}")), "{known}");

    // The same address, a new identity (its state folder's identity file gone).
    let conf = peer.conf.clone();
    peer.stop();
    std::fs::remove_file(root.join("changing.state/identity.pem")).unwrap();
    same_address(&conf, &addr, "");
    let peer = Peer::start_with_conf(&conf);
    let new_id = id_of(root, &peer.conf);
    assert_ne!(first_id, new_id);

    std::fs::remove_file(root.join("c-downloads/stay.bin")).unwrap();
    let run = p2p(root, &client, &["get", "stay.bin"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(&first_id) && errors[0].contains(&new_id),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("peers forget"), "{}", errors[0]);
    let run = p2p(root, &client, &["peers"]);
    assert!(run.stdout.contains("CHANGED"), "{}", run.stdout);

    let run = p2p(root, &client, &["peers", "forget", &addr]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&first_id), "{}", run.stdout);
    let run = p2p(root, &client, &["get", "stay.bin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        sha256_file(&root.join("c-downloads/stay.bin")),
        sha256_file(&file)
    );
    let known = std::fs::read_to_string(root.join("c.state/known_peers")).unwrap();
    assert!(known.contains(&format!("{addr} {new_id}")), "{known}");
    drop(peer);
}

/// `conf` rewritten to listen on `addr` exactly (it was written with port 0), plus
/// `extra` TOML: the same peer back at the same address.
fn same_address(conf: &Path, addr: &str, extra: &str) {
    let text = std::fs::read_to_string(conf).unwrap();
    let ip = addr.rsplit_once(':').unwrap().0;
    let port_zero = format!("listen = \"{ip}:0\"");
    assert!(text.contains(&port_zero), "{text}");
    let text = text.replace(&port_zero, &format!("listen = {addr:?}"));
    std::fs::write(conf, format!("{text}\n{extra}")).unwrap();
}

#[test]
fn a_known_peer_that_drops_encryption_is_refused_until_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (peer, file) = serving(root, "dropping", "127.0.0.8", "keep.bin", 100_000, "");
    let id = id_of(root, &peer.conf);
    let addr = peer.addr.clone();
    let client = tagged_client(root, "c", &[&addr], None, "");
    let run = p2p(root, &client, &["get", "keep.bin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Back at the same address with the same identity, but answering in the clear
    // only: to this client, whoever answers could be anyone (a downgrade).
    let conf = peer.conf.clone();
    peer.stop();
    same_address(&conf, &addr, "[server]\np2p2 = false\n");
    let peer = Peer::start_with_conf(&conf);
    let landed = root.join("c-downloads/keep.bin");
    std::fs::remove_file(&landed).unwrap();
    let run = p2p(root, &client, &["get", "keep.bin"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(&id)
            && errors[0].contains("without encryption")
            && errors[0].contains("peers forget"),
        "{}",
        errors[0]
    );
    assert!(!landed.exists());

    let run = p2p(root, &client, &["peers", "forget", &addr]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = p2p(root, &client, &["get", "keep.bin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(sha256_file(&landed), sha256_file(&file));
    let run = p2p(root, &client, &["peers"]);
    assert!(run.stdout.contains("p2p/1 (plain)"), "{}", run.stdout);
    drop(peer);
}

#[test]
fn a_known_peer_that_refuses_our_address_is_not_taken_for_a_downgrade() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (peer, _) = serving(root, "choosy", "127.0.0.9", "c.bin", 10_000, "");
    let id = id_of(root, &peer.conf);
    let addr = peer.addr.clone();
    let client = tagged_client(root, "c", &[&addr], None, "");
    let run = p2p(root, &client, &["get", "c.bin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Back with an allow-list that leaves this client out: it closes without a word,
    // which is not an answer in the clear, and the known ID must not be put in doubt.
    let conf = peer.conf.clone();
    peer.stop();
    same_address(&conf, &addr, "[server]\nallow = [\"127.0.0.99\"]\n");
    let peer = Peer::start_with_conf(&conf);
    std::fs::remove_file(root.join("c-downloads/c.bin")).unwrap();
    let run = p2p(root, &client, &["get", "c.bin"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("without a word"), "{}", errors[0]);
    assert!(!errors[0].contains("peers forget"), "{}", errors[0]);
    // Pinned, the same close is not taken for an answer in the clear either.
    let pinned = format!("{addr}#{id}");
    let run = p2p(root, &client, &["get", "c.bin", "--from", &pinned]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("without a word"), "{}", errors[0]);
    assert!(!errors[0].contains("without encryption"), "{}", errors[0]);
    drop(peer);
}

#[test]
fn a_forgotten_id_that_comes_back_is_kept_again_in_the_same_session() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (peer, _) = serving(root, "again", "127.0.0.10", "a.bin", 10_000, "");
    let id = id_of(root, &peer.conf);
    let addr = peer.addr.clone();
    let client = tagged_client(root, "c", &[&addr], None, "");
    let known = root.join("c.state/known_peers");
    // One process: meet the peer, forget it, meet it again.
    let script = format!("peers\npeers forget {addr}\npeers\n");
    let run = common::run_p2p(
        root,
        &["--config", client.to_str().unwrap()],
        &script,
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&known).unwrap();
    assert!(text.contains(&format!("{addr} {id}")), "{text}");
    drop(peer);
}

/// A P2P/1 client in Python: sends the P2P/1 preamble, prints the preamble it got back,
/// then each frame (type and JSON) until `EOF`; with `ping`, sends one and stops after
/// the first frame.
const P2P1_CLIENT: &str = r#"
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
print(exact(5).hex())
ping = len(sys.argv) > 2
if ping:
    body = json.dumps({"op": "ping"}).encode()
    s.sendall(struct.pack(">IB", len(body) + 1, 1) + body)
try:
    while True:
        length, kind = struct.unpack(">IB", exact(5))
        print(kind, exact(length - 1).decode())
        if ping:
            break
except (EOFError, ConnectionResetError):
    print("EOF")
"#;

/// The seed's client: a file name, then whatever comes back until the close.
const SEED_CLIENT: &str = r#"
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(sys.argv[2].encode())
got = b""
try:
    while True:
        part = s.recv(4096)
        if not part:
            break
        got += part
except ConnectionResetError:
    pass
print(repr(got))
"#;

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn require_encryption_refuses_p2p1_and_seed_clients_and_serves_p2p_clients() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (peer, file) = serving(
        root,
        "strict",
        "127.0.0.5",
        "strict.bin",
        300_000,
        "[server]\nrequire_encryption = true\n",
    );
    let said = python(P2P1_CLIENT, &[&peer.addr]);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[0], "0050325001", "{said}");
    assert!(
        lines[1].starts_with("2 ") && lines[1].contains("\"encryption_required\""),
        "{said}"
    );
    assert_eq!(lines.get(2), Some(&"EOF"), "{said}");
    assert_eq!(lines.len(), 3, "{said}");
    assert_eq!(
        python(SEED_CLIENT, &[&peer.addr, "strict.bin"]).trim(),
        "b''"
    );

    let client = tagged_client(root, "c", &[&peer.addr], None, "");
    let run = p2p(root, &client, &["get", "strict.bin"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        sha256_file(&root.join("c-downloads/strict.bin")),
        sha256_file(&file)
    );
    // Both turned away are in the log (the second line may be folded into a count when
    // it comes within the second) and in the count at the end.
    let (_, log) = peer.stop();
    assert!(log.contains("refused: a P2P/1 client"), "{log}");
    assert_eq!(turned_away(&log), 2, "{log}");
}

#[test]
fn a_default_server_still_speaks_p2p1_and_the_seed_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (peer, _) = serving(root, "open", "127.0.0.6", "open.bin", 1000, "");
    let said = python(P2P1_CLIENT, &[&peer.addr, "ping"]);
    assert!(said.starts_with("0050325001\n2 "), "{said}");
    assert!(said.contains("\"name\":\"open\""), "{said}");
    let got = python(SEED_CLIENT, &[&peer.addr, "open.bin"]);
    assert!(got.trim().len() > 40, "the seed client got no hash: {got}");
}

#[test]
fn allow_ids_serves_only_the_listed_clients() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let friend = tagged_client(root, "friend", &[], None, "");
    let friend_id = id_of(root, &friend);
    let (peer, file) = serving(
        root,
        "picky",
        "127.0.0.7",
        "picky.bin",
        150_000,
        &format!("[server]\nallow_ids = [{friend_id:?}]\n"),
    );
    let run = p2p(root, &friend, &["get", "picky.bin", "--from", &peer.addr]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        sha256_file(&root.join("friend-downloads/picky.bin")),
        sha256_file(&file)
    );

    let stranger = tagged_client(root, "stranger", &[&peer.addr], None, "");
    let run = p2p(root, &stranger, &["get", "picky.bin"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("allow_ids"), "{}", errors[0]);
    assert!(!root.join("stranger-downloads/picky.bin").exists());
    // A P2P/1 client is told why.
    let said = python(P2P1_CLIENT, &[&peer.addr]);
    assert!(said.contains("\"encryption_required\""), "{said}");
    // The server says whom it turned away, and counts them.
    let (_, log) = peer.stop();
    assert!(
        log.contains("refused: its peer ID is not in allow_ids"),
        "{log}"
    );
    assert!(turned_away(&log) >= 2, "{log}");
}
