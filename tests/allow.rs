//! `[server] allow`: an address outside the list gets nothing but a closed connection,
//! before a byte of it is read; the client says so clearly; allowed addresses are served.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::{random_file, run_p2p, sha256_file, Conf, Peer};

const LIMIT: Duration = Duration::from_secs(60);

fn client_from(root: &Path, name: &str, ip: &str, peer: &str) -> std::path::PathBuf {
    let conf = root.join(format!("{name}.conf"));
    Conf {
        name: name.into(),
        listen: format!("{ip}:0"),
        shares: vec![],
        download: root.join(format!("{name}-downloads")),
        peers: vec![peer.to_string()],
        extra: String::new(),
    }
    .write(&conf);
    conf
}

#[test]
fn only_listed_addresses_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    random_file(&share.join("secret.bin"), 50_000, 9);
    let want = sha256_file(&share.join("secret.bin"));
    let peer = Peer::start(
        root,
        "guarded",
        "127.0.0.57",
        std::slice::from_ref(&share),
        "[server]\nallow = [\"127.0.0.58/32\"]\n",
    );

    // From the allowed address: search and get work.
    let allowed = client_from(root, "friend", "127.0.0.58", &peer.addr);
    let run = run_p2p(
        root,
        &["--config", allowed.to_str().unwrap(), "--json"],
        &format!("search secret\nget {want}\n"),
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.json_lines();
    assert_eq!(lines[0]["results"][0]["sha256"], want.as_str());
    assert_eq!(
        sha256_file(Path::new(lines[1]["path"].as_str().unwrap())),
        want
    );

    // From 127.0.0.59: the peers table shows the refusal, search has an error row, get fails.
    let refused = client_from(root, "stranger", "127.0.0.59", &peer.addr);
    let c = refused.to_str().unwrap();
    let run = run_p2p(root, &["--config", c, "--json", "peers"], "", LIMIT);
    assert_eq!(run.code, 0);
    let row = &run.json_lines()[0]["peers"][0];
    assert_eq!(row["up"], false);
    assert!(
        row["error"].as_str().unwrap().contains("allow-list"),
        "{row}"
    );
    let run = run_p2p(
        root,
        &["--config", c, "--json", "search", "secret"],
        "",
        LIMIT,
    );
    // No peer answered: the search failed, and says why (issue 10).
    assert_eq!(run.code, 1);
    let line = &run.json_lines()[0];
    assert!(
        line["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allow-list"),
        "{line}"
    );
    let run = run_p2p(root, &["--config", c, "get", &want], "", LIMIT);
    assert_eq!(run.code, 1);
    assert!(!root.join("stranger-downloads/secret.bin").exists());

    // A raw connection from a refused address gets nothing at all, whatever it sends.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.59:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket
        .connect(&peer.addr.parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(b"\x00P2P\x01");
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "a refused address was sent {:?}", &buf[..n]);

    let (status, stderr) = peer.stop();
    assert!(status.success());
    assert!(!stderr.contains("(0 refused"), "{stderr}");
}
