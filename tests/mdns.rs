//! mDNS discovery (issue 12): inside a network namespace of the test's own (`unshare
//! -n`, loopback up), two `p2p serve` peers with `mdns = true` announce themselves and a
//! client that lists no peer finds both peers' files, and lists them as found `via`
//! mdns. mDNS joins multicast groups on every interface, so it never runs outside such
//! a namespace; where one cannot be made (not root) the test says so and skips, except
//! under CI, where that is a failure.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs in the new namespace: two peers, a client search and peers, then stops them.
const SCRIPT: &str = r#"
set -u
ip link set lo up
ip link set lo multicast on 2>/dev/null || true
cd "$WORK"
for n in 2 3; do
  mkdir -p s$n
  echo "hello from $n" > s$n/lan-file-$n.txt
  printf '[node]\nname="lan%s"\nlisten="127.0.0.%s:0"\nstate_dir="st%s"\n[share]\ndirs=["s%s"]\n[download]\ndir="d%s"\n[discovery]\nmdns=true\n' $n $n $n $n $n > p$n.conf
  "$P2P" serve --config p$n.conf > o$n 2> e$n &
  echo $! >> pids
done
mkdir -p cs
printf '[node]\nname="client"\nlisten="127.0.0.1:0"\nstate_dir="cst"\n[share]\ndirs=["cs"]\n[download]\ndir="cd"\n[discovery]\nmdns=true\n' > c.conf
# Wait until both peers listen (their first stdout line).
for i in $(seq 1 100); do
  [ -s o2 ] && [ -s o3 ] && break
  sleep 0.1
done
"$P2P" --config c.conf --json search lan-file > search.json 2> search.err
echo $? > search.code
"$P2P" --config c.conf --json peers > peers.json 2> peers.err
for pid in $(cat pids); do kill "$pid" 2>/dev/null; done
wait
"#;

fn namespaces_unavailable() -> Option<String> {
    let probe = Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .map_err(|e| e.to_string());
    match probe {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Some(e),
    }
}

#[test]
fn a_client_with_no_peers_finds_two_peers_on_the_lan() {
    if let Some(reason) = namespaces_unavailable() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to make a network namespace: {reason}"
        );
        eprintln!("skipping: cannot make a network namespace ({reason})");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let status = Command::new("timeout")
        .args(["90", "unshare", "-n", "sh", "-c", SCRIPT])
        .env("WORK", work)
        .env("P2P", env!("CARGO_BIN_EXE_p2p"))
        .status()
        .unwrap();
    let read = |name: &str| std::fs::read_to_string(work.join(name)).unwrap_or_default();
    let context = || {
        format!(
            "status {status:?}\nsearch: {} {}\npeers: {} {}\npeer 2: {}\npeer 3: {}",
            read("search.json"),
            read("search.err"),
            read("peers.json"),
            read("peers.err"),
            read("e2"),
            read("e3")
        )
    };
    assert_eq!(read("search.code").trim(), "0", "{}", context());
    let search: Value = serde_json::from_str(read("search.json").trim()).unwrap_or(Value::Null);
    let mut names: Vec<String> = search["results"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, ["lan-file-2.txt", "lan-file-3.txt"], "{}", context());
    let peers: Value = serde_json::from_str(read("peers.json").trim()).unwrap_or(Value::Null);
    let vias: Vec<&str> = peers["peers"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["via"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(vias, ["mdns", "mdns"], "{}", context());
    assert!(
        Path::new(work).join("cst/peers.json").exists(),
        "{}",
        context()
    );
}
