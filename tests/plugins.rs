//! The shipped plugins (`plugins/mirror`, `verify`, `report`) against three real peers,
//! one-shot and from a piped script; and broken plugins (no run bit, exit 3, endless
//! loop) giving a clear error and the right status.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{random_file, run_p2p, sha256_file, Conf, Peer};

const LIMIT: Duration = Duration::from_secs(120);

fn repo_plugins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins")
}

fn client(root: &Path, peers: &[&str], plugin_dirs: &[PathBuf]) -> PathBuf {
    let conf = root.join("client.conf");
    let dirs: Vec<String> = plugin_dirs
        .iter()
        .map(|d| format!("{:?}", d.display().to_string()))
        .collect();
    Conf {
        name: "client".into(),
        listen: "127.0.0.1:0".into(),
        shares: vec![],
        download: root.join("downloads"),
        peers: peers.iter().map(|p| p.to_string()).collect(),
        extra: format!("[plugins]\ndirs = [{}]\n", dirs.join(", ")),
    }
    .write(&conf);
    conf
}

struct Network {
    _dir: tempfile::TempDir,
    root: PathBuf,
    _peers: Vec<Peer>,
    addrs: Vec<String>,
}

/// Three peers: a.pdf on two of them (a duplicate), b.pdf and c.txt on one each.
fn network(base_ip: u8) -> Network {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let shares: Vec<PathBuf> = (0..3).map(|i| root.join(format!("s{i}"))).collect();
    random_file(&shares[0].join("a.pdf"), 300_000, 1);
    std::fs::create_dir_all(&shares[1]).unwrap();
    std::fs::copy(shares[0].join("a.pdf"), shares[1].join("a.pdf")).unwrap();
    random_file(&shares[1].join("b.pdf"), 200_000, 2);
    random_file(&shares[2].join("c.txt"), 1_000, 3);
    let peers: Vec<Peer> = (0..3)
        .map(|i| {
            let ip = format!("127.0.0.{}", base_ip + i as u8);
            Peer::start(
                &root,
                &format!("n{i}"),
                &ip,
                std::slice::from_ref(&shares[i]),
                "",
            )
        })
        .collect();
    let addrs = peers.iter().map(|p| p.addr.clone()).collect();
    Network {
        _dir: dir,
        root,
        _peers: peers,
        addrs,
    }
}

#[test]
fn mirror_report_and_verify_work_one_shot_and_from_a_script() {
    let net = network(61);
    let addrs: Vec<&str> = net.addrs.iter().map(String::as_str).collect();
    let conf = client(&net.root, &addrs, &[repo_plugins()]);
    let c = conf.to_str().unwrap();

    // One-shot: mirror every pdf.
    let run = run_p2p(&net.root, &["--config", c, "mirror", "*.pdf"], "", LIMIT);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("2 downloaded, 0 already here, 0 failed"),
        "{}",
        run.stdout
    );
    let downloads = net.root.join("downloads");
    assert_eq!(
        sha256_file(&downloads.join("a.pdf")),
        sha256_file(&net.root.join("s0/a.pdf"))
    );
    assert_eq!(
        sha256_file(&downloads.join("b.pdf")),
        sha256_file(&net.root.join("s1/b.pdf"))
    );

    // From a script, with --json: mirror again (nothing new), report, verify.
    let script = "mirror *.pdf\nreport\nverify\n";
    let run = run_p2p(&net.root, &["--config", c, "--json"], script, LIMIT);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!(lines[0]["already_here"].as_array().unwrap().len(), 2);
    assert_eq!(lines[1]["peers_up"], 3);
    assert_eq!(lines[1]["files"], 4);
    assert_eq!(lines[1]["unique_contents"], 3);
    assert_eq!(lines[1]["duplicates"][0]["copies"], 2);
    assert_eq!(lines[2]["ok"], 2);

    // A downloaded file that changes is caught by verify (exit 1, named).
    std::fs::write(downloads.join("b.pdf"), b"tampered").unwrap();
    let run = run_p2p(&net.root, &["--config", c, "verify"], "", LIMIT);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("CHANGED") && run.stdout.contains("b.pdf"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);

    // Plugins are listed by help.
    let run = run_p2p(&net.root, &["--config", c, "help"], "", LIMIT);
    for name in ["mirror", "verify", "report"] {
        assert!(run.stdout.contains(name), "{}", run.stdout);
    }
}

#[test]
fn broken_plugins_give_a_clear_error_and_the_right_status() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let plugins = root.join("broken");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("norun"), "#!/bin/sh\necho never\n").unwrap();
    std::fs::write(
        plugins.join("three"),
        "#!/bin/sh\necho about to fail\nexit 3\n",
    )
    .unwrap();
    std::fs::write(
        plugins.join("forever"),
        "#!/bin/sh\nwhile :; do sleep 1; done\n",
    )
    .unwrap();
    for name in ["three", "forever"] {
        let status = Command::new("chmod")
            .arg("+x")
            .arg(plugins.join(name))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let conf = client(root, &[], std::slice::from_ref(&plugins));
    let c = conf.to_str().unwrap();

    let run = run_p2p(root, &["--config", c, "norun"], "", LIMIT);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not executable"), "{}", run.stderr);

    // One-shot passes the plugin's status on; a script counts it as a failure.
    let run = run_p2p(root, &["--config", c, "three"], "", LIMIT);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.contains("about to fail"));
    assert!(
        run.stderr.contains("exited with status 3"),
        "{}",
        run.stderr
    );
    let run = run_p2p(
        root,
        &["--config", c, "--keep-going"],
        "three\nhelp\n",
        LIMIT,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("search"),
        "the script went on: {}",
        run.stdout
    );

    // An endless plugin is stopped by SIGINT; p2p says so and exits non-zero.
    let mut child = Command::new(common::bin())
        .args(["--config", c, "forever"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status =
        common::wait_timeout(&mut child, Duration::from_secs(10)).expect("p2p did not stop");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(130));
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("error: interrupted"), "{err}");
    // No plugin process is left behind.
    let left = Command::new("pgrep")
        .args(["-f", &plugins.join("forever").display().to_string()])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "plugin still running");
}
