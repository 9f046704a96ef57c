//! The shipped plugins (`plugins/mirror`, `verify`, `report`) against three real peers,
//! one-shot and from a piped script; and broken plugins (no run bit, exit 3, endless
//! loop, text under `--json`) giving a clear error and the right status; `help`
//! describing plugins by their first comment line.

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

    // Issue 10 item 17: a status outside 0/1/2 is a failure, 1, and p2p says so.
    let run = run_p2p(root, &["--config", c, "three"], "", LIMIT);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("about to fail"));
    assert_eq!(
        run.stderr,
        "error: plugin `three` exited with status 3 (p2p exits 1: a plugin's exit status \
         0, 1 (failure) or 2 (usage) is p2p's; any other becomes 1)\n"
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

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    let status = Command::new("chmod").arg("+x").arg(path).status().unwrap();
    assert!(status.success());
}

/// Issue 10 item 17: statuses 0/1/2 pass through, others become 1; under `--json` the
/// plugin's one JSON object is the command's, and anything else is a failure with the
/// text on stderr; `help` says what a plugin does from its first comment line.
#[test]
fn plugin_statuses_json_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let plugins = root.join("mine");
    std::fs::create_dir_all(&plugins).unwrap();
    executable(
        &plugins.join("hello"),
        "#!/bin/sh\n# p2p hello [NAME] — greets NAME, in JSON under --json\n\
         if [ \"$P2P_JSON\" = 1 ]; then echo '{\"hello\":\"world\"}'; else echo 'hello, world'; fi\n",
    );
    executable(
        &plugins.join("chatty"),
        "#!/bin/sh\necho 'not json at all'\n",
    );
    executable(&plugins.join("quiet"), "#!/bin/sh\n:\n");
    executable(
        &plugins.join("picky"),
        "#!/bin/sh\necho 'error: usage: picky THING' >&2\n\
         [ \"$P2P_JSON\" = 1 ] && echo '{\"error\":{\"code\":\"usage\",\"message\":\"usage: picky THING\"}}'\nexit 2\n",
    );
    executable(&plugins.join("sad"), "#!/bin/sh\nexit 1\n");
    executable(&plugins.join("seven"), "#!/bin/sh\nexit 7\n");
    let conf = client(root, &[], &[plugins.clone(), repo_plugins()]);
    let c = conf.to_str().unwrap();

    // Plain: output as is, status passed on or mapped.
    let run = run_p2p(root, &["--config", c, "hello"], "", LIMIT);
    assert_eq!((run.code, run.stdout.as_str()), (0, "hello, world\n"));
    for (name, code) in [("sad", 1), ("picky", 2), ("seven", 1)] {
        let run = run_p2p(root, &["--config", c, name], "", LIMIT);
        assert_eq!(run.code, code, "{name}: {}", run.stderr);
    }

    // --json: the plugin's own object passes through; text does not.
    let run = run_p2p(root, &["--config", c, "--json", "hello"], "", LIMIT);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "{\"hello\":\"world\"}\n")
    );
    let run = run_p2p(root, &["--config", c, "--json", "chatty"], "", LIMIT);
    assert_eq!(run.code, 1);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_eq!(lines[0]["error"]["code"], "failed");
    assert_eq!(
        run.stderr,
        "not json at all\nerror: plugin `chatty` printed something other than one JSON \
         object under --json (shown above on stderr)\n"
    );
    let run = run_p2p(root, &["--config", c, "--json", "quiet"], "", LIMIT);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.json_lines(),
        vec![serde_json::json!({"plugin": "quiet", "ok": true})]
    );
    // A failed plugin's own error object is the one object; p2p adds only its stderr line.
    let run = run_p2p(root, &["--config", c, "--json", "picky"], "", LIMIT);
    assert_eq!(run.code, 2);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_eq!(lines[0]["error"]["message"], "usage: picky THING");
    assert!(
        run.stderr
            .ends_with("error: plugin `picky` exited with status 2 (usage)\n"),
        "{}",
        run.stderr
    );
    let run = run_p2p(root, &["--config", c, "--json", "seven"], "", LIMIT);
    assert_eq!(run.code, 1);
    assert_eq!(run.json_lines()[0]["error"]["code"], "failed");

    // The shipped plugins obey too: their help and their usage errors are JSON.
    let run = run_p2p(
        root,
        &["--config", c, "--json", "mirror", "--help"],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.json_lines();
    assert!(lines[0]["help"]
        .as_str()
        .unwrap()
        .contains("mirror PATTERN"));
    let run = run_p2p(root, &["--config", c, "--json", "mirror"], "", LIMIT);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert!(lines[0]["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("usage: mirror PATTERN"));
    // In a script, a mapped status counts as a failure; a usage one as usage.
    let run = run_p2p(
        root,
        &["--config", c, "--keep-going"],
        "seven\nhello\n",
        LIMIT,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("error: line 1: plugin `seven`"),
        "{}",
        run.stderr
    );
    let run = run_p2p(
        root,
        &["--config", c, "--keep-going"],
        "picky\nhello\n",
        LIMIT,
    );
    assert_eq!(run.code, 2);

    // help: what each plugin does, and how its status becomes p2p's.
    let run = run_p2p(root, &["--config", c, "help"], "", LIMIT);
    assert_eq!(run.code, 0);
    for line in [
        "| hello     | greets NAME, in JSON under --json (plugin)",
        "| chatty    | (plugin)",
        "| mirror    | download every search match that is not already here. (plugin)",
        "| verify    | re-hash what was downloaded and report any file that changed. (plugin)",
        "Note: a plugin's exit status 0, 1 (failure) or 2 (usage) is p2p's; any other becomes 1.",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }
    let run = run_p2p(root, &["--config", c, "--json", "help", "hello"], "", LIMIT);
    let lines = run.json_lines();
    assert_eq!(lines[0]["plugin"], true);
    assert_eq!(lines[0]["summary"], "greets NAME, in JSON under --json");
    let run = run_p2p(root, &["--config", c, "--json", "help"], "", LIMIT);
    let commands = run.json_lines()[0]["commands"].clone();
    let chatty = commands
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "chatty")
        .cloned()
        .unwrap();
    assert_eq!(
        chatty,
        serde_json::json!({"name": "chatty", "summary": null, "plugin": true})
    );
}
