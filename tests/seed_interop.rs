//! Interop with the seed (legacy) protocol, both ways, using the Python port of the
//! seed client and server in `tests/seed/`:
//! - the seed client downloads from `p2p serve`;
//! - `p2p` searches and downloads from the seed server, verified;
//! - `download:None`, unknown names, unknown hashes and random bytes do not hurt either side.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{client_conf, random_file, run_p2p, sha256_file, wait_timeout, Listening, Peer, Run};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("seed")
}

/// A Python child process, killed when dropped.
struct PyChild(Child);

impl Drop for PyChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `seed_server.py` sharing `share` on `ip` (any free port); returns it and its
/// `host:port`.
fn start_seed_server(share: &Path, ip: &str) -> (Listening, String) {
    let mut command = Command::new("python3");
    command
        .arg(seed_dir().join("seed_server.py"))
        .arg("--dir")
        .arg(share)
        .args(["--port", "0", "--host", ip, "--quiet"]);
    let server = Listening::spawn(command);
    let addr = server.addr.clone();
    (server, addr)
}

fn connect(addr: &str) -> TcpStream {
    let sock: SocketAddr = addr.parse().unwrap();
    let stream = TcpStream::connect_timeout(&sock, IO_TIMEOUT).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// One legacy exchange: send `message` in one write, read until the server closes.
/// A reset after the answer counts as a close; a time-out is a failure.
fn legacy(addr: &str, message: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(message).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "legacy {:?} to {addr}: {e}",
                String::from_utf8_lossy(message)
            ),
        }
    }
    answer
}

/// A P2P/1 search over a raw socket: the hits' names.
fn p2p_search(addr: &str, query: &str) -> Vec<String> {
    let mut stream = connect(addr);
    stream.write_all(&[0x00, 0x50, 0x32, 0x50, 0x01]).unwrap();
    let body = json!({"op": "search", "query": query}).to_string();
    let mut frame = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    frame.push(0x01);
    frame.extend_from_slice(body.as_bytes());
    stream.write_all(&frame).unwrap();
    let mut preamble = [0u8; 5];
    stream.read_exact(&mut preamble).unwrap();
    assert_eq!(preamble, [0x00, 0x50, 0x32, 0x50, 0x01]);
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).unwrap();
    assert_eq!(header[4], 0x02, "answer frame expected");
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let mut body = vec![0u8; len - 1];
    stream.read_exact(&mut body).unwrap();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {answer}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

fn stderr_lines(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect()
}

fn assert_no_panic(run: &Run) {
    assert!(
        !run.stderr.contains("panicked"),
        "panic in p2p: {}",
        run.stderr
    );
}

/// The seed client (Python, stdin piped) downloads files of 0 B, 1 B, 1 MiB and one in a
/// subfolder from a `p2p serve` peer; every byte matches. An unknown name is `None`.
#[test]
fn seed_client_downloads_from_p2p_serve() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    let files: [(&str, &str, u64); 4] = [
        ("empty.bin", "empty.bin", 0),
        ("one.bin", "one.bin", 1),
        ("big.bin", "big.bin", 1 << 20),
        ("deep.bin", "sub/inner/deep.bin", 300_001),
    ];
    for (i, (_, rel, size)) in files.iter().enumerate() {
        random_file(&share.join(rel), *size, 100 + i as u64);
    }
    let peer = Peer::start(
        dir.path(),
        "served",
        "127.0.0.20",
        std::slice::from_ref(&share),
        "",
    );

    let list = dir.path().join("arquivo_configuracao.txt");
    std::fs::write(&list, format!("{}\n", peer.addr)).unwrap();
    let downloads = dir.path().join("seed-downloads");
    let mut script = String::new();
    for (name, _, _) in &files {
        script.push_str(&format!("{name}\n0\n"));
    }
    script.push_str("no-such-file.bin\n0\nsair\n");

    let mut child = Command::new("python3")
        .arg(seed_dir().join("seed_client.py"))
        .arg("--config")
        .arg(&list)
        .arg("--dir")
        .arg(&downloads)
        .args(["--timeout", "10"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3 seed_client.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut child = PyChild(child);
    let status = wait_timeout(&mut child.0, LIMIT).expect("seed client did not finish");
    let out = out.join().unwrap();
    let err = err.join().unwrap();
    assert!(status.success(), "seed client failed: {err}\n{out}");

    // One "0 ADDR ANSWER" line per name asked, in order.
    let prefix = format!("0 {} ", peer.addr);
    let answers: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    assert_eq!(answers.len(), files.len() + 1, "{out}");
    for ((name, rel, _), answer) in files.iter().zip(&answers) {
        assert_eq!(
            *answer,
            sha256_file(&share.join(rel)),
            "hash of {name} from p2p serve"
        );
    }
    assert_eq!(answers[files.len()], "None", "unknown name: {out}");
    assert!(!out.contains("ERROR"), "{out}");
    assert_eq!(
        out.matches("Transferencia concluida!").count(),
        files.len(),
        "{out}"
    );
    assert_eq!(
        out.matches("Arquivo nao disponivel neste servidor").count(),
        1,
        "{out}"
    );

    for (name, rel, size) in &files {
        let got = downloads.join(name);
        let line = format!("{size} bytes em {}", got.display());
        assert!(out.contains(&line), "missing {line:?} in {out}");
        assert_eq!(std::fs::metadata(&got).unwrap().len(), *size, "{name}");
        assert_eq!(sha256_file(&got), sha256_file(&share.join(rel)), "{name}");
    }
    assert!(!downloads.join("no-such-file.bin").exists());

    // The peer is still fine.
    assert_eq!(p2p_search(&peer.addr, "big"), vec!["big.bin".to_string()]);
}

/// `p2p` searches a seed server by exact name, then `get 1` and `get NAME`; the files
/// land byte for byte. `peers` shows the seed server as a legacy peer.
#[test]
fn p2p_searches_and_downloads_from_seed_server() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("seed-share");
    random_file(&share.join("hello.txt"), 5_000, 1);
    random_file(&share.join("big.bin"), (1 << 20) + 7, 2);
    random_file(&share.join("sub/deep.bin"), 70_000, 3);
    random_file(&share.join("empty.bin"), 0, 4);
    let (_seed, seed_addr) = start_seed_server(&share, "127.0.0.21");

    let work = dir.path().join("client");
    std::fs::create_dir_all(&work).unwrap();
    let conf = client_conf(&work, &[&seed_addr]);
    let script = "peers\n\
                  search hello.txt\n\
                  get 1\n\
                  get big.bin\n\
                  search deep.bin\n\
                  get 1\n\
                  search empty.bin\n\
                  get empty.bin\n";
    let run = run_p2p(
        &work,
        &["--config", conf.to_str().unwrap(), "--json"],
        script,
        LIMIT,
    );
    assert_no_panic(&run);
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let lines = run.json_lines();
    assert_eq!(lines.len(), 8, "{}", run.stdout);

    // peers: the seed server, up, legacy.
    let peers = lines[0]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1, "{}", lines[0]);
    assert_eq!(peers[0]["addr"], json!(seed_addr));
    assert_eq!(peers[0]["up"], json!(true));
    assert_eq!(peers[0]["protocol"], json!("legacy"));

    let downloads = work.join("downloads");
    let check_search = |line: &Value, name: &str, rel: &str| {
        let results = line["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{line}");
        assert_eq!(results[0]["row"], json!(1));
        assert_eq!(results[0]["name"], json!(name));
        assert_eq!(results[0]["legacy"], json!(true));
        assert_eq!(results[0]["peer"], json!(seed_addr));
        assert_eq!(results[0]["sha256"], json!(sha256_file(&share.join(rel))));
    };
    let check_get = |line: &Value, name: &str, rel: &str| {
        let original = share.join(rel);
        let path = PathBuf::from(line["path"].as_str().unwrap_or_else(|| panic!("{line}")));
        assert_eq!(path, downloads.join(name), "{line}");
        assert_eq!(line["sha256"], json!(sha256_file(&original)));
        assert_eq!(
            line["size"],
            json!(std::fs::metadata(&original).unwrap().len())
        );
        assert_eq!(sha256_file(&path), sha256_file(&original));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&original).unwrap()
        );
    };
    check_search(&lines[1], "hello.txt", "hello.txt");
    check_get(&lines[2], "hello.txt", "hello.txt");
    check_get(&lines[3], "big.bin", "big.bin");
    check_search(&lines[4], "deep.bin", "sub/deep.bin");
    check_get(&lines[5], "deep.bin", "sub/deep.bin");
    check_search(&lines[6], "empty.bin", "empty.bin");
    check_get(&lines[7], "empty.bin", "empty.bin");

    // Nothing but the finished files in the download folder (no .part left behind).
    let mut names: Vec<String> = std::fs::read_dir(&downloads)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names, ["big.bin", "deep.bin", "empty.bin", "hello.txt"]);
}

/// `download:None`, an unknown name, an unknown `download:<hash>` and random bytes sent
/// to `p2p serve` as legacy messages: each is answered or closed, an unknown name gets
/// exactly `None`, and the server keeps serving both protocols.
#[test]
fn legacy_junk_to_p2p_serve_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    random_file(&share.join("real.txt"), 4_321, 7);
    random_file(&share.join("sub/nested.dat"), 100_000, 8);
    let real_hash = sha256_file(&share.join("real.txt"));
    let peer = Peer::start(
        dir.path(),
        "junk",
        "127.0.0.22",
        std::slice::from_ref(&share),
        "",
    );

    let still_serving = |what: &str| {
        assert_eq!(
            legacy(&peer.addr, b"real.txt"),
            real_hash.as_bytes(),
            "legacy lookup after {what}"
        );
        assert_eq!(
            p2p_search(&peer.addr, "nested"),
            vec!["nested.dat".to_string()],
            "P2P/1 search after {what}"
        );
    };

    assert_eq!(legacy(&peer.addr, b"download:None"), b"", "download:None");
    still_serving("download:None");

    assert_eq!(
        legacy(&peer.addr, b"no-such-file.txt"),
        b"None",
        "unknown name"
    );
    still_serving("an unknown name");

    let unknown = format!("download:{}", "ab".repeat(32));
    assert_eq!(legacy(&peer.addr, unknown.as_bytes()), b"", "unknown hash");
    still_serving("an unknown hash");

    let not_hex = format!("download:{}", "zz".repeat(32));
    assert_eq!(legacy(&peer.addr, not_hex.as_bytes()), b"", "not a hash");
    still_serving("a malformed hash");

    // Random bytes (first byte not 0x00): whatever the answer, the server closes.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for (round, len) in [1usize, 17, 1024, 3000].into_iter().enumerate() {
        let mut junk = Vec::with_capacity(len);
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            junk.push((state >> 24) as u8);
        }
        junk[0] = 0xff - round as u8;
        let answer = legacy(&peer.addr, &junk);
        assert!(
            answer.len() <= 1024,
            "random bytes got {} bytes",
            answer.len()
        );
        still_serving("random bytes");
    }

    // A name with a trailing newline (someone typing into nc) and a path-like name.
    assert_eq!(legacy(&peer.addr, b"real.txt\n"), real_hash.as_bytes());
    assert_eq!(legacy(&peer.addr, b"../share/real.txt"), b"None");
    // A file in a subfolder is found by its base name, as in the seed.
    assert_eq!(
        legacy(&peer.addr, b"nested.dat"),
        sha256_file(&share.join("sub/nested.dat")).as_bytes()
    );

    // download:<hash> of a shared file sends exactly its bytes.
    let bytes = legacy(&peer.addr, format!("download:{real_hash}").as_bytes());
    assert_eq!(bytes, std::fs::read(share.join("real.txt")).unwrap());

    // And a real client still gets everything.
    let work = dir.path().join("client");
    std::fs::create_dir_all(&work).unwrap();
    let conf = client_conf(&work, &[&peer.addr]);
    let run = run_p2p(
        &work,
        &["--config", conf.to_str().unwrap(), "--json"],
        "search real\nget 1\n",
        LIMIT,
    );
    assert_no_panic(&run);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(sha256_file(&work.join("downloads/real.txt")), real_hash);
}

/// `p2p` asks a seed server for a name it does not have: the search succeeds with no
/// result, `get NAME` fails with exit 1 and one `error:` line, and the seed server still
/// answers afterwards (also after a `download:None`).
#[test]
fn p2p_asks_seed_server_for_a_missing_name() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("seed-share");
    random_file(&share.join("hello.txt"), 2_048, 11);
    let hello_hash = sha256_file(&share.join("hello.txt"));
    let (_seed, seed_addr) = start_seed_server(&share, "127.0.0.23");

    let work = dir.path().join("client");
    std::fs::create_dir_all(&work).unwrap();
    let conf = client_conf(&work, &[&seed_addr]);
    let conf = conf.to_str().unwrap();

    let search = run_p2p(
        &work,
        &["--config", conf, "--json"],
        "search missing.txt\n",
        LIMIT,
    );
    assert_no_panic(&search);
    assert_eq!(search.code, 0, "{}\n{}", search.stdout, search.stderr);
    assert!(stderr_lines(&search).is_empty(), "{}", search.stderr);
    let lines = search.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["results"], json!([]), "{}", lines[0]);
    let peers = lines[0]["peers"].as_array().unwrap();
    assert_eq!(
        peers.len(),
        1,
        "the seed server still gets its row: {}",
        lines[0]
    );
    assert_eq!(peers[0]["peer"], json!(seed_addr));
    assert_eq!(peers[0]["status"], json!("empty"));

    // The same as a table: the peer's row is there.
    let table = run_p2p(&work, &["--config", conf], "search missing.txt\n", LIMIT);
    assert_eq!(table.code, 0, "{}\n{}", table.stdout, table.stderr);
    assert!(table.stdout.contains(&seed_addr), "{}", table.stdout);

    let get = run_p2p(
        &work,
        &["--config", conf, "--json"],
        "get missing.txt\n",
        LIMIT,
    );
    assert_no_panic(&get);
    assert_eq!(get.code, 1, "{}\n{}", get.stdout, get.stderr);
    let errors = stderr_lines(&get);
    assert_eq!(errors.len(), 1, "one error line: {:?}", get.stderr);
    assert!(errors[0].starts_with("error: "), "{:?}", errors[0]);
    let lines = get.json_lines();
    assert_eq!(lines.len(), 1, "{}", get.stdout);
    assert!(lines[0]["error"]["message"].is_string(), "{}", lines[0]);
    let downloads = work.join("downloads");
    if downloads.exists() {
        assert_eq!(
            std::fs::read_dir(&downloads).unwrap().count(),
            0,
            "nothing downloaded"
        );
    }

    // The seed server is unharmed, also by a download:None.
    assert_eq!(legacy(&seed_addr, b"download:None"), b"");
    assert_eq!(legacy(&seed_addr, b"missing.txt"), b"None");
    assert_eq!(legacy(&seed_addr, b"hello.txt"), hello_hash.as_bytes());
    let again = run_p2p(
        &work,
        &["--config", conf, "--json"],
        "get hello.txt\n",
        LIMIT,
    );
    assert_no_panic(&again);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(sha256_file(&downloads.join("hello.txt")), hello_hash);
}
