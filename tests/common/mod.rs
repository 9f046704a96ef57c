//! Test harness: real `p2p` processes on loopback addresses, in temporary folders.
//!
//! `Peer::start` writes a config, runs `p2p serve` on `IP:0`, and waits for its
//! `listening on ADDR` line to learn the port. Dropping a `Peer` kills it. Scripts are
//! piped to a fresh `p2p` client process, exactly as a user would.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_p2p"))
}

pub fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `size` pseudo-random bytes (xorshift from `seed`) to `path`.
pub fn random_file(path: &Path, size: u64, seed: u64) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut left = size;
    let mut block = vec![0u8; 1 << 16];
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    out.flush().unwrap();
}

/// A config file for one peer: TOML text from its parts.
pub struct Conf {
    pub name: String,
    pub listen: String,
    pub shares: Vec<PathBuf>,
    pub download: PathBuf,
    pub peers: Vec<String>,
    /// Extra TOML appended as is (e.g. a `[server]` table).
    pub extra: String,
}

impl Conf {
    pub fn write(&self, path: &Path) {
        let quote = |p: &Path| format!("{:?}", p.display().to_string());
        let shares: Vec<String> = self.shares.iter().map(|p| quote(p)).collect();
        let peers: Vec<String> = self.peers.iter().map(|p| format!("{p:?}")).collect();
        let state = path.with_extension("state");
        let text = format!(
            "[node]\nname = {:?}\nlisten = {:?}\nstate_dir = {}\n\n[share]\ndirs = [{}]\n\n[download]\ndir = {}\n\n[peers]\naddrs = [{}]\n\n{}\n",
            self.name,
            self.listen,
            quote(&state),
            shares.join(", "),
            quote(&self.download),
            peers.join(", "),
            self.extra
        );
        std::fs::write(path, text).unwrap();
    }
}

pub struct Peer {
    pub addr: String,
    pub conf: PathBuf,
    child: Option<Child>,
    stderr: mpsc::Receiver<String>,
}

impl Peer {
    /// Starts `p2p serve` on `ip` (any free port) sharing `shares`.
    pub fn start(dir: &Path, name: &str, ip: &str, shares: &[PathBuf], extra: &str) -> Peer {
        let conf = dir.join(format!("{name}.conf"));
        Conf {
            name: name.to_string(),
            listen: format!("{ip}:0"),
            shares: shares.to_vec(),
            download: dir.join(format!("{name}-downloads")),
            peers: Vec::new(),
            extra: extra.to_string(),
        }
        .write(&conf);
        Peer::start_with_conf(&conf)
    }

    pub fn start_with_conf(conf: &Path) -> Peer {
        let mut child = Command::new(bin())
            .arg("serve")
            .arg("--config")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn p2p serve");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = line_tx.send(line);
            }
        });
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        let line = match line_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let err = err_rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                panic!("peer did not start: {err}");
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Peer {
            addr,
            conf: conf.to_path_buf(),
            child: Some(child),
            stderr: err_rx,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGTERM, then the exit status and everything the peer wrote to stderr.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let status = wait_timeout(&mut child, Duration::from_secs(20)).unwrap_or_else(|| {
            let _ = child.kill();
            child.wait().unwrap()
        });
        let err = self
            .stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        (status, err)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// What a client run printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Every stdout line parsed as JSON (for `--json` runs).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect()
    }
}

/// A process fed a script on stdin, its stdout and stderr collected on threads.
pub struct Scripted {
    pub child: Child,
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
}

impl Scripted {
    /// Spawns `command` in `cwd` (without the caller's `P2P_CONFIG`) and pipes `script`.
    pub fn spawn(mut command: Command, cwd: &Path, script: &str) -> Scripted {
        let mut child = command
            .current_dir(cwd)
            .env_remove("P2P_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn p2p");
        let mut stdin = child.stdin.take().unwrap();
        let script = script.to_string();
        std::thread::spawn(move || {
            let _ = stdin.write_all(script.as_bytes());
        });
        let collect = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = pipe.read_to_string(&mut s);
                s
            })
        };
        let out = collect(Box::new(child.stdout.take().unwrap()));
        let err = collect(Box::new(child.stderr.take().unwrap()));
        Scripted { child, out, err }
    }

    /// What it wrote to stdout and stderr (call once it has exited).
    pub fn output(self) -> (String, String) {
        (self.out.join().unwrap(), self.err.join().unwrap())
    }
}

/// Runs `p2p ARGS` with `script` piped to stdin, in `cwd`, killing it after `limit`.
pub fn run_p2p(cwd: &Path, args: &[&str], script: &str, limit: Duration) -> Run {
    let mut command = Command::new(bin());
    command.args(args);
    let mut run = Scripted::spawn(command, cwd, script);
    let status = wait_timeout(&mut run.child, limit).unwrap_or_else(|| {
        let _ = run.child.kill();
        panic!("p2p {args:?} did not finish within {limit:?}");
    });
    let (stdout, stderr) = run.output();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// A client config in `dir` that knows `peers`, downloading into `dir/downloads`.
pub fn client_conf(dir: &Path, peers: &[&str]) -> PathBuf {
    let conf = dir.join("client.conf");
    std::fs::create_dir_all(dir.join("client-share")).unwrap();
    Conf {
        name: "client".into(),
        listen: "127.0.0.1:0".into(),
        shares: vec![dir.join("client-share")],
        download: dir.join("downloads"),
        peers: peers.iter().map(|p| p.to_string()).collect(),
        extra: String::new(),
    }
    .write(&conf);
    conf
}

/// A client config `dir/TAG.conf` on 127.0.0.1:0 that knows `peers`, shares an empty
/// `dir/TAG-share`, downloads into `downloads` (default `dir/TAG-downloads`), with
/// `extra` TOML appended.
pub fn tagged_client(
    dir: &Path,
    tag: &str,
    peers: &[&str],
    downloads: Option<&Path>,
    extra: &str,
) -> PathBuf {
    let conf = dir.join(format!("{tag}.conf"));
    std::fs::create_dir_all(dir.join(format!("{tag}-share"))).unwrap();
    Conf {
        name: tag.into(),
        listen: "127.0.0.1:0".into(),
        shares: vec![dir.join(format!("{tag}-share"))],
        download: downloads.map_or_else(|| dir.join(format!("{tag}-downloads")), Path::to_path_buf),
        peers: peers.iter().map(|p| p.to_string()).collect(),
        extra: extra.to_string(),
    }
    .write(&conf);
    conf
}

/// Any helper process that prints `listening on ADDR` first (the Python peers).
pub struct Listening {
    pub addr: String,
    child: Option<Child>,
    stderr: mpsc::Receiver<String>,
}

impl Listening {
    pub fn spawn(mut command: Command) -> Listening {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn helper peer");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = child.stderr.take().unwrap();
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        let line = lines.next().and_then(Result::ok).unwrap_or_default();
        let addr = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("helper peer said {line:?}"))
            .to_string();
        Listening {
            addr,
            child: Some(child),
            stderr: err_rx,
        }
    }

    /// The hostile P2P/1 peer of `tests/peers/hostile_peer.py` serving `file`.
    pub fn hostile(file: &Path, host: &str, extra: &[&str]) -> Listening {
        let mut command = Command::new("python3");
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/hostile_peer.py"))
            .arg("--file")
            .arg(file)
            .arg("--host")
            .arg(host)
            .args(extra);
        Listening::spawn(command)
    }

    /// SIGTERM, then what it wrote to stderr.
    pub fn stop(mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            if wait_timeout(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Bytes a stopped peer reports having served (`served N bytes` on its stderr).
pub fn served_bytes(stderr: &str) -> u64 {
    stderr
        .split("served ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no served count in {stderr:?}"))
}
