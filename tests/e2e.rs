//! End to end through real processes: three `p2p serve` peers on distinct loopback
//! addresses, and a fourth `p2p` driven by piped scripts and one-shot commands.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{client_conf, random_file, run_p2p, sha256_file, Peer};

const MIB: u64 = 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn three_peers_serve_files_of_every_size_to_a_piped_script() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let shares: Vec<PathBuf> = (0..3).map(|i| root.join(format!("share{i}"))).collect();
    // 0 B and 1 B on one peer, 1 MiB on two, 300 MiB on the third.
    std::fs::create_dir_all(&shares[0]).unwrap();
    std::fs::write(shares[0].join("zero.bin"), b"").unwrap();
    std::fs::write(shares[0].join("one.bin"), b"x").unwrap();
    random_file(&shares[1].join("mib.bin"), MIB, 1);
    std::fs::copy(shares[1].join("mib.bin"), shares[0].join("mib.bin")).unwrap();
    random_file(&shares[2].join("sub/big.bin"), 300 * MIB, 2);

    let peers: Vec<Peer> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .enumerate()
        .map(|(i, ip)| Peer::start(root, &format!("peer{i}"), ip, &[shares[i].clone()], ""))
        .collect();
    let addrs: Vec<&str> = peers.iter().map(|p| p.addr.as_str()).collect();
    let conf = client_conf(root, &addrs);
    let conf_arg = conf.to_str().unwrap();

    for (name, origin) in [
        ("zero.bin", shares[0].join("zero.bin")),
        ("one.bin", shares[0].join("one.bin")),
        ("mib.bin", shares[1].join("mib.bin")),
        ("big.bin", shares[2].join("sub/big.bin")),
    ] {
        let want = sha256_file(&origin);
        let script = format!("search {name}\nget 1\nget {want}\n");
        let run = run_p2p(root, &["--config", conf_arg, "--json"], &script, LIMIT);
        assert_eq!(run.code, 0, "{name}: {}\n{}", run.stdout, run.stderr);
        let lines = run.json_lines();
        assert_eq!(
            lines.len(),
            3,
            "one JSON object per command: {}",
            run.stdout
        );
        let results = lines[0]["results"].as_array().unwrap();
        assert!(!results.is_empty(), "{name} not found: {}", run.stdout);
        assert_eq!(results[0]["name"], name);
        assert_eq!(results[0]["sha256"], want.as_str());
        // Every peer gets its row in the peer list, found or not.
        assert_eq!(lines[0]["peers"].as_array().unwrap().len(), 3);
        let first = &lines[1];
        let landed = PathBuf::from(first["path"].as_str().unwrap());
        assert!(landed.starts_with(root.join("downloads")), "{landed:?}");
        assert_eq!(landed.file_name().unwrap(), name);
        assert_eq!(sha256_file(&landed), want);
        assert_eq!(
            std::fs::read(&landed).unwrap(),
            std::fs::read(&origin).unwrap()
        );
        // The second get of the same content finds it already there.
        assert_eq!(lines[2]["sha256"], want.as_str());
        assert_eq!(lines[2]["already_present"], true);
    }
    // No partial files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(root.join("downloads"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The peers themselves saw the bytes go out, and shut down cleanly on SIGTERM.
    let big_served = peers.into_iter().map(|p| p.stop()).last().unwrap();
    assert!(big_served.0.success(), "{}", big_served.1);
    assert!(
        big_served.1.contains("served 314572800 bytes"),
        "{}",
        big_served.1
    );
}

#[test]
fn one_shot_commands_and_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("s");
    random_file(&share.join("report.pdf"), 1000, 3);
    let peer = Peer::start(root, "solo", "127.0.0.5", std::slice::from_ref(&share), "");
    let conf = client_conf(root, &[&peer.addr]);
    let c = conf.to_str().unwrap();

    let run = run_p2p(root, &["--config", c, "search", "REPORT"], "", LIMIT);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("report.pdf"), "{}", run.stdout);
    // Piped output is never cut: the whole hash is there.
    assert!(run.stdout.contains(&sha256_file(&share.join("report.pdf"))));

    // A search that finds nothing succeeds; a get that gets nothing fails.
    let run = run_p2p(root, &["--config", c, "search", "nothing-here"], "", LIMIT);
    assert_eq!(run.code, 0);
    let run = run_p2p(
        root,
        &["--config", c, "--json", "get", "nothing-here"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.json_lines()[0]["error"]["message"].is_string());

    // Unknown commands and bad arguments are usage errors (2), with a suggestion.
    let run = run_p2p(root, &["--config", c, "serch", "x"], "", LIMIT);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("did you mean `search`"),
        "{}",
        run.stderr
    );
    let run = run_p2p(root, &["--config", c, "get"], "", LIMIT);
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);

    // A script stops at the first failure, or goes on with --keep-going; its status is
    // the worst of its commands.
    let script = "search report\nget 99\nsearch report\n";
    let run = run_p2p(root, &["--config", c, "--json"], script, LIMIT);
    assert_eq!(run.code, 1);
    assert_eq!(run.json_lines().len(), 2);
    let run = run_p2p(
        root,
        &["--config", c, "--json", "--keep-going"],
        script,
        LIMIT,
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.json_lines().len(), 3);
    let run = run_p2p(
        root,
        &["--config", c, "--keep-going"],
        "# comment\n\nbogus\nsearch report\n",
        LIMIT,
    );
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("report.pdf"));
}

#[test]
fn peers_add_and_remove_are_saved_keeping_comments() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let conf = root.join("p2p.conf");
    std::fs::write(
        &conf,
        "# my network\n[node]\nname = \"me\" # who I am\n\n[peers]\naddrs = [\"127.0.0.9:4000\"] # the lab\n",
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    let run = run_p2p(
        root,
        &["--config", c, "--json"],
        "peers add 127.0.0.8\npeers remove 127.0.0.9:4000\n",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.starts_with("# my network\n[node]\nname = \"me\" # who I am\n"),
        "{text}"
    );
    assert!(
        text.contains("addrs = [\"127.0.0.8:12000\"] # the lab"),
        "{text}"
    );
    let run = run_p2p(root, &["--config", c], "peers remove 127.0.0.77\n", LIMIT);
    assert_eq!(run.code, 1);
    let run = run_p2p(root, &["--config", c], "peers add not:a:port:x\n", LIMIT);
    assert_ne!(run.code, 0);
}

#[test]
fn restart_over_a_thousand_unchanged_files_rehashes_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("many");
    std::fs::create_dir_all(&share).unwrap();
    for i in 0..1000 {
        std::fs::write(share.join(format!("f{i:04}.txt")), format!("file {i}\n")).unwrap();
    }
    let first = Peer::start(root, "idx", "127.0.0.6", std::slice::from_ref(&share), "");
    let (_, err) = first.stop();
    assert!(err.contains("indexed 1000 files"), "{err}");
    assert!(err.contains("1000 hashed, 0 unchanged"), "{err}");
    // Touch one file: exactly that one is hashed again.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(share.join("f0007.txt"), "changed\n").unwrap();
    let second = Peer::start_with_conf(&root.join("idx.conf"));
    let (_, err) = second.stop();
    assert!(err.contains("1 hashed, 999 unchanged"), "{err}");
    let third = Peer::start_with_conf(&root.join("idx.conf"));
    let (_, err) = third.stop();
    assert!(err.contains("0 hashed, 1000 unchanged"), "{err}");
}

#[test]
fn demo_runs_piped() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_p2p(
        dir.path(),
        &["--json", "demo"],
        "peers\nsearch *\nget 1\nget welcome.txt\n",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 4);
    let peers = lines[0]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 3);
    assert!(peers.iter().all(|p| p["up"] == true), "{peers:?}");
    // Issue 12: the demo's peer lists none; it meets the three in their private DHT.
    assert!(peers.iter().all(|p| p["via"] == "dht"), "{peers:?}");
    // One row per distinct content, with every holder (issue 10): the demo's welcome.txt
    // is on all three peers.
    let results = lines[1]["results"].as_array().unwrap();
    assert!(results.len() >= 5, "{}", lines[1]);
    let welcome = results
        .iter()
        .find(|r| r["name"] == "welcome.txt")
        .unwrap_or_else(|| panic!("{}", lines[1]));
    assert_eq!(welcome["peers"].as_array().unwrap().len(), 3, "{welcome}");
    assert!(lines[2]["path"].is_string());
    assert!(!lines[3]["sources"].as_array().unwrap().is_empty());
    // The temporary network is gone after exit.
    let tmp_dir = PathBuf::from(lines[2]["path"].as_str().unwrap());
    assert!(!tmp_dir.exists());
}
