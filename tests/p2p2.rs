//! P2P/2 on the serving side (issue 13, first part): a client that sends the P2P/2
//! preamble and completes TLS 1.3 with its own self-signed certificate (Python's `ssl`,
//! standard library) sees a server certificate whose SHA-256 in base32 is the ID
//! `p2p id` prints, and can `ping` inside the tunnel. P2P/1 in the clear still works
//! (every other test).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{client_conf, run_p2p, Peer};

const CLIENT: &str = r#"
import base64, hashlib, json, socket, ssl, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=10)
sock.sendall(b"\x00P2P\x02")
got = b""
while len(got) < 5:
    got += sock.recv(5 - len(got))
assert got == b"\x00P2P\x02", got
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
if sys.argv[2] != "none":
    ctx.load_cert_chain(sys.argv[2])
tls = ctx.wrap_socket(sock)
der = tls.getpeercert(binary_form=True)
print(base64.b32encode(hashlib.sha256(der).digest()).decode().rstrip("="))
body = json.dumps({"op": "ping"}).encode()
tls.sendall(struct.pack(">IB", len(body) + 1, 1) + body)
def exact(n):
    out = b""
    while len(out) < n:
        part = tls.recv(n - len(out))
        if not part:
            raise EOFError
        out += part
    return out
length, kind = struct.unpack(">IB", exact(5))
print(kind, json.loads(exact(length - 1))["name"])
"#;

fn id_of(dir: &Path, conf: &Path) -> String {
    let run = run_p2p(
        dir,
        &["--config", conf.to_str().unwrap(), "id"],
        "",
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.trim().to_string()
}

#[test]
fn a_tls_client_sees_the_servers_id_and_pings_inside_the_tunnel() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    std::fs::create_dir_all(&share).unwrap();
    let peer = Peer::start(root, "tlspeer", "127.0.0.2", &[share], "");
    let server_id = id_of(root, &peer.conf);
    let client = client_conf(&root.join("c"), &[]);
    let _ = id_of(root, &client);
    let identity = root.join("c/client.state/identity.pem");
    let out = Command::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(&peer.addr)
        .arg(&identity)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], server_id, "the certificate is not the peer's ID");
    assert_eq!(lines[1], "2 tlspeer", "{stdout}");

    // The server requires a client certificate: without one, no ping gets through.
    let out = Command::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(&peer.addr)
        .arg("none")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && !stdout.contains("tlspeer"),
        "a client without a certificate was served: {stdout}"
    );
}

/// A client that sends its TLS hello right behind the P2P/2 preamble, without waiting
/// for the server's answer (Python's `ssl` over memory BIOs): still served.
const EAGER_CLIENT: &str = r#"
import socket, ssl, struct, json, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(sys.argv[2])
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out)
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
sock = socket.create_connection((host, int(port)), timeout=10)
sock.sendall(b"\x00P2P\x02" + out.read())
got = b""
while len(got) < 5:
    part = sock.recv(5 - len(got))
    if not part:
        raise EOFError("closed at the preamble")
    got += part
assert got[:5] == b"\x00P2P\x02", got
def pump():
    data = out.read()
    if data:
        sock.sendall(data)
    part = sock.recv(65536)
    if not part:
        raise EOFError
    inc.write(part)
while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        pump()
sock.sendall(out.read())
body = json.dumps({"op": "ping"}).encode()
tls.write(struct.pack(">IB", len(body) + 1, 1) + body)
sock.sendall(out.read())
buf = b""
while True:
    try:
        buf += tls.read(65536)
    except ssl.SSLWantReadError:
        pump()
        continue
    if len(buf) >= 5:
        length, kind = struct.unpack(">IB", buf[:5])
        if len(buf) >= 4 + length:
            print(kind, json.loads(buf[5:4 + length])["name"])
            break
"#;

#[test]
fn a_tls_hello_sent_with_the_preamble_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    std::fs::create_dir_all(&share).unwrap();
    let peer = Peer::start(root, "eager", "127.0.0.2", &[share], "");
    let client = client_conf(&root.join("c"), &[]);
    let _ = id_of(root, &client);
    let identity = root.join("c/client.state/identity.pem");
    let out = Command::new("python3")
        .arg("-c")
        .arg(EAGER_CLIENT)
        .arg(&peer.addr)
        .arg(&identity)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "2 eager");
}
