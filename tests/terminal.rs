//! The interactive REPL on a real terminal, driven through tmux (send-keys and
//! capture-pane): completion, history, Ctrl-C and Ctrl-D, the progress bar, and a `get`
//! cancelled then resumed; flags and folders completing (issue 10 item 18). Skips with a
//! reason when tmux is not installed, unless `CI` is set.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{random_file, sha256_file, Conf, Listening, Peer};

const MIB: u64 = 1024 * 1024;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Whether the test can run: without tmux it skips, with a reason, except under
    /// `CI`, where a missing tmux is a failure rather than a silent pass.
    fn usable() -> bool {
        let here = Tmux::available();
        assert!(
            here || std::env::var_os("CI").is_none(),
            "tmux is needed under CI"
        );
        if !here {
            eprintln!("skipping: tmux is not installed");
        }
        here
    }

    /// Starts `command` in a detached 160x40 session on a private tmux server.
    fn start(tag: &str, cwd: &Path, env: &[(&str, &Path)], command: &str) -> Tmux {
        let socket = format!("p2p-test-{}-{tag}", std::process::id());
        let mut exports = String::new();
        for (k, v) in env {
            exports.push_str(&format!("export {k}='{}'; ", v.display()));
        }
        let status = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", "160", "-y", "40"])
            .arg(format!(
                "cd '{}' && {exports} {command}; echo EXITED=$?; sleep 30",
                cwd.display()
            ))
            .status()
            .unwrap();
        assert!(status.success());
        Tmux { socket }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-S", "-200"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `test` (at most `limit`), returning it.
    fn wait_for(&self, limit: Duration, what: &str, test: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if test(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last non-empty line of the screen.
    fn last_line(&self) -> String {
        self.screen()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn prompt_ready(screen: &str) -> bool {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_end() == "p2p>")
}

#[test]
fn completion_history_and_the_keys_of_a_shell() {
    if !Tmux::usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    random_file(&share.join("alpha.bin"), 1000, 1);
    random_file(&share.join("beta.bin"), 2000, 2);
    let peer = Peer::start(root, "tp", "127.0.0.55", std::slice::from_ref(&share), "");
    let conf = root.join("client.conf");
    Conf {
        name: "me".into(),
        listen: "127.0.0.55:0".into(),
        shares: vec![],
        download: root.join("downloads"),
        peers: vec![peer.addr.clone()],
        extra: String::new(),
    }
    .write(&conf);
    let data = root.join("xdg-data");
    std::fs::create_dir_all(root.join("tmpdir-for-completion")).unwrap();
    let command = format!("{} --config '{}'", common::bin().display(), conf.display());
    let env = [("XDG_DATA_HOME", data.as_path()), ("HOME", root)];

    let term = Tmux::start("keys", root, &env, &command);
    term.wait_for(Duration::from_secs(20), "the prompt", prompt_ready);
    // A command name completes.
    term.keys(&["sea", "Tab"]);
    term.wait_for(Duration::from_secs(5), "search completed", |s| {
        s.contains("p2p> search")
    });
    term.keys(&["alpha", "Enter"]);
    term.wait_for(Duration::from_secs(10), "search results", |s| {
        s.contains("alpha.bin") && prompt_ready(s)
    });
    // After a search, `get <Tab>` offers its rows.
    term.keys(&["get ", "Tab", "Tab"]);
    term.wait_for(Duration::from_secs(5), "row candidates", |s| {
        s.contains("1  alpha.bin")
    });
    term.keys(&["C-u"]);
    // A local path completes.
    term.keys(&["C-c"]);
    term.keys(&["share ./tmpdir-for", "Tab"]);
    term.wait_for(Duration::from_secs(5), "path completed", |s| {
        s.contains("share ./tmpdir-for-completion/")
    });
    // Ctrl-C clears the line and leaves a fresh prompt.
    term.keys(&["C-c"]);
    term.wait_for(Duration::from_secs(5), "a fresh prompt", prompt_ready);
    // Ctrl-D at an empty prompt leaves with status 0.
    term.keys(&["C-d"]);
    term.wait_for(Duration::from_secs(10), "exit", |s| s.contains("EXITED=0"));
    drop(term);

    // History from the earlier run is there with the up arrow.
    let term = Tmux::start("history", root, &env, &command);
    term.wait_for(Duration::from_secs(20), "the prompt", prompt_ready);
    term.keys(&["Up"]);
    term.wait_for(Duration::from_secs(5), "history", |s| {
        s.contains("p2p> search alpha")
    });
    term.keys(&["C-u", "quit", "Enter"]);
    term.wait_for(Duration::from_secs(10), "exit", |s| s.contains("EXITED=0"));
}

#[test]
fn ctrl_c_cancels_a_get_and_the_next_get_resumes() {
    if !Tmux::usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let original = root.join("origin/slow.bin");
    random_file(&original, 200 * MIB, 3);
    let want = sha256_file(&original);
    let slow = Listening::hostile(&original, "127.0.0.56", &["--delay-ms", "25"]);
    let conf = root.join("client.conf");
    Conf {
        name: "me".into(),
        listen: "127.0.0.56:0".into(),
        shares: vec![],
        download: root.join("downloads"),
        peers: vec![slow.addr.clone()],
        extra: String::new(),
    }
    .write(&conf);
    let command = format!("{} --config '{}'", common::bin().display(), conf.display());
    let data = root.join("xdg-data");
    let env = [("XDG_DATA_HOME", data.as_path()), ("HOME", root)];
    let term = Tmux::start("cancel", root, &env, &command);
    term.wait_for(Duration::from_secs(20), "the prompt", prompt_ready);
    term.keys(&[&format!("get {want}"), "Enter"]);
    // The progress bar shows bytes, rate and the sources in use.
    term.wait_for(Duration::from_secs(20), "the progress bar", |s| {
        s.contains("MiB/200.00 MiB") && s.contains("from 1 source")
    });
    term.keys(&["C-c"]);
    let screen = term.wait_for(Duration::from_secs(10), "cancelled", |s| {
        s.contains("error: interrupted") && prompt_ready(s)
    });
    assert!(!screen.contains("saved "), "{screen}");
    // Issue 10: Ctrl-C says what is kept, and `transfers` lists the interrupted get.
    assert!(screen.contains("kept for the next"), "{screen}");
    let part = root.join("downloads").join(format!(".p2p-{want}.part"));
    assert!(part.exists());
    term.keys(&["transfers", "Enter"]);
    term.wait_for(Duration::from_secs(10), "the transfers table", |s| {
        s.contains("interrupted:") && prompt_ready(s)
    });
    // The prompt still works, and the same get picks up where it stopped.
    term.keys(&[&format!("get {want}"), "Enter"]);
    let screen = term.wait_for(Duration::from_secs(60), "the resumed download", |s| {
        s.contains("saved ") && prompt_ready(s)
    });
    assert!(screen.contains("resumed with"), "{screen}");
    assert_eq!(sha256_file(&root.join("downloads/slow.bin")), want);
    term.keys(&["quit", "Enter"]);
    term.wait_for(Duration::from_secs(10), "exit", |s| s.contains("EXITED=0"));
    let _ = term.last_line();
}

#[test]
fn plugins_run_in_the_repl_and_ctrl_c_stops_a_hung_one() {
    if !Tmux::usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    random_file(&share.join("gamma.bin"), 5000, 4);
    let peer = Peer::start(root, "pp", "127.0.0.54", std::slice::from_ref(&share), "");
    let hung = root.join("hung-plugins");
    std::fs::create_dir_all(&hung).unwrap();
    let forever = hung.join("forever");
    std::fs::write(&forever, "#!/bin/sh\nwhile :; do sleep 1; done\n").unwrap();
    assert!(Command::new("chmod")
        .arg("+x")
        .arg(&forever)
        .status()
        .unwrap()
        .success());
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let conf = root.join("client.conf");
    Conf {
        name: "me".into(),
        listen: "127.0.0.54:0".into(),
        shares: vec![],
        download: root.join("downloads"),
        peers: vec![peer.addr.clone()],
        extra: format!(
            "[plugins]\ndirs = [{:?}, {:?}]\n",
            shipped.display().to_string(),
            hung.display().to_string()
        ),
    }
    .write(&conf);
    let command = format!("{} --config '{}'", common::bin().display(), conf.display());
    let data = root.join("xdg-data");
    let env = [("XDG_DATA_HOME", data.as_path()), ("HOME", root)];
    let term = Tmux::start("plugins", root, &env, &command);
    term.wait_for(Duration::from_secs(20), "the prompt", prompt_ready);
    term.keys(&["report", "Enter"]);
    term.wait_for(Duration::from_secs(20), "the report", |s| {
        s.contains("peers: 1 up, 0 down") && prompt_ready(s)
    });
    term.keys(&["mirror gamma", "Enter"]);
    term.wait_for(Duration::from_secs(20), "the mirror", |s| {
        s.contains("1 downloaded") && prompt_ready(s)
    });
    term.keys(&["forever", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    term.keys(&["C-c"]);
    term.wait_for(Duration::from_secs(10), "the hung plugin stopped", |s| {
        s.contains("error: interrupted") && prompt_ready(s)
    });
    term.keys(&["help", "Enter"]);
    term.wait_for(Duration::from_secs(10), "help after the plugin", |s| {
        s.contains("(plugin)") && prompt_ready(s)
    });
    term.keys(&["quit", "Enter"]);
    term.wait_for(Duration::from_secs(10), "exit", |s| s.contains("EXITED=0"));
}

/// Issue 10 item 18: `get --<Tab>` completes a flag; `share <Tab>` offers folders only.
#[test]
fn flags_complete_and_share_offers_only_folders() {
    if !Tmux::usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("dir-one")).unwrap();
    std::fs::write(root.join("dir-file.txt"), b"not a folder").unwrap();
    let conf = root.join("client.conf");
    Conf {
        name: "me".into(),
        listen: "127.0.0.204:0".into(),
        shares: vec![],
        download: root.join("downloads"),
        peers: vec![],
        extra: String::new(),
    }
    .write(&conf);
    let command = format!(
        "{} --no-serve --config '{}'",
        common::bin().display(),
        conf.display()
    );
    let data = root.join("xdg-data");
    let env = [("XDG_DATA_HOME", data.as_path()), ("HOME", root)];
    let term = Tmux::start("flags", root, &env, &command);
    term.wait_for(Duration::from_secs(20), "the prompt", prompt_ready);
    term.keys(&["get --f", "Tab"]);
    term.wait_for(Duration::from_secs(5), "--from completed", |s| {
        s.contains("p2p> get --from")
    });
    term.keys(&["C-u"]);
    // dir-file.txt shares the prefix; were it offered, nothing would be completed.
    term.keys(&["share ./dir-", "Tab"]);
    term.wait_for(Duration::from_secs(5), "the folder completed", |s| {
        s.contains("p2p> share ./dir-one/")
    });
    term.keys(&["C-u", "quit", "Enter"]);
    term.wait_for(Duration::from_secs(10), "exit", |s| s.contains("EXITED=0"));
}

/// Issue 14: `get SHA &` on a slow transfer gives the prompt back at once; `transfers`
/// shows it running with a percentage; its end is one line above the prompt; leaving
/// with a transfer running says it is cancelled.
#[test]
fn a_background_get_leaves_the_prompt_free_and_says_when_it_ends() {
    if !Tmux::usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let share = root.join("share");
    random_file(&share.join("slow32.bin"), 32 * MIB, 5);
    random_file(&share.join("slow8.bin"), 8 * MIB, 6);
    let want = sha256_file(&share.join("slow32.bin"));
    let peer = Peer::start(root, "bg", "127.0.0.57", std::slice::from_ref(&share), "");
    let conf = root.join("client.conf");
    Conf {
        name: "me".into(),
        listen: "127.0.0.57:0".into(),
        shares: vec![],
        download: root.join("downloads"),
        peers: vec![peer.addr.clone()],
        extra: String::new(),
    }
    .write(&conf);
    // 8 MiB/s: 32 MiB take about 4 s.
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        text.replace("[download]\n", "[download]\nmax_rate = \"8MiB\"\n"),
    )
    .unwrap();
    let command = format!("{} --config '{}'", common::bin().display(), conf.display());
    let data = root.join("xdg-data");
    let env = [("XDG_DATA_HOME", data.as_path()), ("HOME", root)];
    let term = Tmux::start("background", root, &env, &command);
    term.wait_for(Duration::from_secs(20), "the prompt", prompt_ready);
    let asked = Instant::now();
    term.keys(&[&format!("get {want} &"), "Enter"]);
    term.wait_for(Duration::from_secs(5), "the prompt back", |s| {
        s.contains("[1] started") && prompt_ready(s)
    });
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "the prompt came back late"
    );
    // Once it has its sources, `transfers` shows how far it is.
    let mut seen = false;
    for _ in 0..20 {
        term.keys(&["transfers", "Enter"]);
        let screen = term.wait_for(Duration::from_secs(5), "the transfers table", prompt_ready);
        if screen.contains("running") && screen.contains("% of 32.0 MiB") {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen,
        "transfers never showed the running transfer's percentage"
    );
    // Typing goes on while it runs; its end is printed above the line being typed.
    term.keys(&["peers"]);
    let screen = term.wait_for(Duration::from_secs(30), "the end line", |s| {
        s.contains("[1] done: saved")
    });
    assert!(screen.contains("sha256 verified"), "{screen}");
    term.wait_for(Duration::from_secs(5), "the typed line kept", |s| {
        s.lines().any(|l| l.trim_end() == "p2p> peers")
    });
    term.keys(&["C-u"]);
    assert_eq!(sha256_file(&root.join("downloads/slow32.bin")), want);

    // Leaving with one still running: said, and its .part kept.
    term.keys(&["get slow8.bin &", "Enter"]);
    term.wait_for(Duration::from_secs(5), "[2] started", |s| {
        s.contains("[2] started")
    });
    std::thread::sleep(Duration::from_millis(300));
    term.keys(&["quit", "Enter"]);
    let screen = term.wait_for(Duration::from_secs(15), "exit", |s| s.contains("EXITED=0"));
    assert!(
        screen.contains("cancelling 1 background transfer"),
        "{screen}"
    );
}
