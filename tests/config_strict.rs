//! Issue 10, items 3 and 4: a config value of the wrong type, an empty path or a bad
//! address is one `error:` line naming the file and the key (or the environment
//! variable), exit 2, before the peer indexes or listens; never converted.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{bin, run_p2p, wait_timeout, Run, Scripted};

const LIMIT: Duration = Duration::from_secs(60);

/// A folder with a share holding one file, and a config whose `[node]`, `[share]` and
/// `[download]` are valid and `extra` appended: a scan would write the hash cache.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("shared")).unwrap();
        std::fs::write(root.join("shared/a.txt"), b"a file").unwrap();
        Setup { _dir: dir, root }
    }

    /// Writes `name` with `text` in the tables given (the rest is valid defaults).
    fn conf(&self, name: &str, text: &str) -> PathBuf {
        let path = self.root.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn state_dir(&self) -> PathBuf {
        self.root.join(".p2p")
    }
}

/// Runs `p2p ARGS` with extra environment variables.
fn run_with_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(bin());
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut run = Scripted::spawn(command, cwd, "");
    let status = wait_timeout(&mut run.child, LIMIT).unwrap_or_else(|| {
        let _ = run.child.kill();
        panic!("p2p {args:?} did not finish within {LIMIT:?}");
    });
    let (stdout, stderr) = run.output();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// Exit 2, nothing on stdout, and stderr exactly one `error:` line holding every one of
/// `needles`; returns that line.
fn one_config_error(run: &Run, what: &str, needles: &[&str]) -> String {
    assert_eq!(run.code, 2, "{what}: exit code; stderr {:?}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line, got {:?}", run.stderr);
    assert!(lines[0].starts_with("error: "), "{what}: {:?}", lines[0]);
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{what}: {needle:?} not in {:?}",
            lines[0]
        );
    }
    // Nothing ran: stdout holds at most the `--json` error object.
    assert!(
        run.stdout.lines().all(|l| l.starts_with("{\"error\"")),
        "{what}: stdout {:?}",
        run.stdout
    );
    lines[0].to_string()
}

/// Issue 10 item 3: every value of the wrong type, in a client command and in `serve`.
#[test]
fn wrong_types_are_one_error_naming_file_and_key_before_anything_runs() {
    let setup = Setup::new();
    let cases: &[(&str, &str)] = &[
        ("[download]\ndir = 42\n", "download.dir"),
        ("[node]\nlisten = 12\n", "node.listen"),
        ("[node]\nname = 42\n", "node.name"),
        ("[share]\ndirs = [7]\n", "share.dirs"),
        ("[peers]\naddrs = [12]\n", "peers.addrs"),
        (
            "[server]\nmax_connections = \"5\"\n",
            "server.max_connections",
        ),
        ("[server]\nmax_connections = -1\n", "server.max_connections"),
        ("[download]\nshare = \"yes\"\n", "download.share"),
        ("[share]\nhidden = 1\n", "share.hidden"),
        (
            "[download]\nstall_timeout_s = 1.5\n",
            "download.stall_timeout_s",
        ),
        (
            "[share]\nfollow_symlinks = \"false\"\n",
            "share.follow_symlinks",
        ),
        ("[node]\nstate_dir = true\n", "node.state_dir"),
        // Right type, but not an address: still before anything runs.
        ("[node]\nlisten = \"12\"\n", "node.listen"),
        ("[node]\nlisten = \"127.0.0.1:notaport\"\n", "node.listen"),
        ("[node]\nlisten = \"127.0.0.1:70000\"\n", "node.listen"),
        ("[peers]\naddrs = [\"127.0.0.1:notaport\"]\n", "peers.addrs"),
        ("[server]\nallow = [\"nowhere\"]\n", "server.allow"),
        ("[node]\nnmae = \"x\"\n", "node.nmae"),
        ("node = 5\n", "node"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let conf = setup.conf(&format!("bad{i}.conf"), text);
        let conf_text = conf.to_str().unwrap();
        for args in [
            vec!["--config", conf_text, "files"],
            vec!["--config", conf_text, "--json", "share"],
            vec!["serve", "--config", conf_text],
        ] {
            let run = run_p2p(&setup.root, &args, "", LIMIT);
            let what = format!("{text:?} with {args:?}");
            one_config_error(&run, &what, &[conf_text, key]);
            // Nothing was indexed: no hash cache, no `indexed` line, no `listening`.
            assert!(!setup.state_dir().exists(), "{what}: indexed anyway");
        }
    }
}

/// The exact line for the first example, so the wording is pinned.
#[test]
fn a_folder_given_as_a_number_is_refused_in_one_line() {
    let setup = Setup::new();
    let conf = setup.conf("dl.conf", "[download]\ndir = 42\n");
    let run = run_p2p(
        &setup.root,
        &["--config", conf.to_str().unwrap(), "files"],
        "",
        LIMIT,
    );
    let line = one_config_error(&run, "dir = 42", &[]);
    assert_eq!(
        line,
        format!(
            "error: {}: key download.dir: invalid type: integer `42`, expected a path (a string)",
            conf.display()
        )
    );
    assert!(!setup.root.join("42").exists());
}

/// An error from the environment names the variable, not the file (which did not say it).
#[test]
fn environment_errors_name_the_variable() {
    let setup = Setup::new();
    let conf = setup.conf("ok.conf", "[node]\nname = \"fine\"\n");
    let conf_text = conf.to_str().unwrap();
    let cases: &[(&str, &str)] = &[
        ("P2P_NODE__BOGUS", "x"),
        ("P2P_NODES__NAME", "x"),
        ("P2P_SHARE__HIDDEN", "1"),
        ("P2P_SHARE__HIDDEN", "yes"),
        ("P2P_SERVER__MAX_CONNECTIONS", "five"),
        ("P2P_SERVER__MAX_CONNECTIONS", "-1"),
        ("P2P_SERVER__MAX_CONNECTIONS", "0"),
        ("P2P_DOWNLOAD__STALL_TIMEOUT_S", "1.5"),
        ("P2P_NODE__LISTEN", "12"),
        ("P2P_PEERS__ADDRS", "127.0.0.1:1,bad host"),
        ("P2P_A__B__C", "1"),
    ];
    for (variable, value) in cases {
        for args in [
            vec!["--config", conf_text, "files"],
            vec!["serve", "--config", conf_text],
        ] {
            let run = run_with_env(&setup.root, &args, &[(variable, value)]);
            let what = format!("{variable}={value} with {args:?}");
            let line = one_config_error(&run, &what, &[variable]);
            assert!(!line.contains(conf_text), "{what}: names the file: {line}");
            assert!(!setup.state_dir().exists(), "{what}: indexed anyway");
        }
    }
}

/// Values of the right type from the environment are taken, as strings, numbers,
/// booleans and comma-separated lists; they override the file.
#[test]
fn environment_values_of_the_right_type_are_taken() {
    let setup = Setup::new();
    std::fs::create_dir_all(setup.root.join("other")).unwrap();
    std::fs::write(setup.root.join("other/.dot"), b"hidden").unwrap();
    let conf = setup.conf("ok.conf", "[share]\nhidden = false\n");
    let run = run_with_env(
        &setup.root,
        &["--config", conf.to_str().unwrap(), "--json", "files"],
        &[
            ("P2P_SHARE__HIDDEN", "true"),
            ("P2P_SHARE__DIRS", "shared, other"),
            ("P2P_SERVER__MAX_CONNECTIONS", "5"),
            ("P2P_NODE__NAME", "42"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let names: Vec<String> = run.json_lines()[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, [".dot", "a.txt"], "{}", run.stdout);
}

/// Issue 10 item 4: an empty path would resolve to the config file's folder and share
/// the config files; it is an error, from the file and from the environment.
#[test]
fn empty_paths_are_config_errors() {
    let setup = Setup::new();
    for (text, key) in [
        ("[share]\ndirs = [\"\"]\n", "share.dirs"),
        ("[share]\ndirs = [\"shared\", \"\"]\n", "share.dirs"),
        ("[download]\ndir = \"\"\n", "download.dir"),
        ("[node]\nstate_dir = \"\"\n", "node.state_dir"),
        ("[peers]\nfile = \"\"\n", "peers.file"),
        ("[plugins]\ndirs = [\"\"]\n", "plugins.dirs"),
    ] {
        let conf = setup.conf("empty.conf", text);
        let conf_text = conf.to_str().unwrap();
        let run = run_p2p(&setup.root, &["--config", conf_text, "files"], "", LIMIT);
        one_config_error(&run, text, &[conf_text, key, "empty path"]);
    }
    let conf = setup.conf("ok.conf", "");
    for (variable, value) in [("P2P_SHARE__DIRS", ""), ("P2P_DOWNLOAD__DIR", "")] {
        let run = run_with_env(
            &setup.root,
            &["--config", conf.to_str().unwrap(), "files"],
            &[(variable, value)],
        );
        one_config_error(&run, variable, &[variable, "empty path"]);
    }
    assert!(!setup.state_dir().exists(), "indexed anyway");
}

/// `listen` without a port takes 12000, as peer addresses do; and `serve` binds before
/// it indexes, so a listen address in use is said at once, with nothing hashed.
#[test]
fn listen_without_a_port_takes_12000_and_is_bound_before_indexing() {
    let setup = Setup::new();
    // Hold 127.0.0.77:12000 (or find it held already: the same for this test).
    let _held = std::net::TcpListener::bind("127.0.0.77:12000");
    let conf = setup.conf("port.conf", "[node]\nlisten = \"127.0.0.77\"\n");
    let run = run_p2p(
        &setup.root,
        &["serve", "--config", conf.to_str().unwrap()],
        "",
        LIMIT,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{:?}", run.stderr);
    assert!(
        lines[0].starts_with("error: cannot listen on 127.0.0.77:12000"),
        "{:?}",
        lines[0]
    );
    assert!(!setup.state_dir().exists(), "indexed before binding");
    assert_eq!(run.stdout, "");
}

/// A bad seed peer list (`[peers] file`) is a config error naming the file and key.
#[test]
fn a_bad_seed_peer_list_names_the_key() {
    let setup = Setup::new();
    std::fs::write(setup.root.join("list.txt"), "127.0.0.1\nnot an address\n").unwrap();
    for text in [
        "[peers]\nfile = \"list.txt\"\n",
        "[peers]\nfile = \"missing.txt\"\n",
    ] {
        let conf = setup.conf("seed.conf", text);
        let conf_text = conf.to_str().unwrap();
        for args in [
            vec!["--config", conf_text, "peers"],
            vec!["serve", "--config", conf_text],
        ] {
            let run = run_p2p(&setup.root, &args, "", LIMIT);
            one_config_error(&run, text, &[conf_text, "peers.file"]);
            assert!(!setup.state_dir().exists(), "{text}: indexed anyway");
        }
    }
}
