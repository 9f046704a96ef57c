//! `p2p demo`: a throw-away local network, so a newcomer's first command shows the
//! whole product. Three peers are started in this process on 127.0.0.2–4 (port 12000,
//! or any free port when that is taken), each sharing generated sample files in a
//! temporary folder; then the REPL (or a piped script) runs on a session whose peers
//! are those three. Everything is removed on exit.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::app::{interactive_or_script, open_session, Cli};
use crate::discovery::{self, Bootstrap, DhtNode};
use crate::index::{ShareOptions, Shares};
use crate::protocol::DEFAULT_PORT;
use crate::runtime;
use crate::server::{Server, ServerLimits};

const PEERS: [(&str, &str); 3] = [
    ("alice", "127.0.0.2"),
    ("bob", "127.0.0.3"),
    ("carol", "127.0.0.4"),
];

/// Deterministic pseudo-random bytes (xorshift), so sample files have fixed hashes.
fn sample_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Sample files: one shared by all three (so `get` pulls from several), some on two,
/// one name with different content on two peers (so `get NAME` shows the ambiguity).
fn make_samples(root: &Path) -> Result<()> {
    let welcome = b"Welcome to p2p!\n\nTry: peers, search '*', get 1, transfers, files, help.\n";
    let report = sample_bytes(1, 3 * 1024 * 1024);
    for (name, _) in PEERS {
        write(&root.join(name).join("welcome.txt"), welcome)?;
    }
    write(&root.join("alice/docs/report-2026.pdf"), &report)?;
    write(&root.join("bob/report-2026.pdf"), &report)?;
    write(
        &root.join("bob/photos/beach.jpg"),
        &sample_bytes(2, 1024 * 1024),
    )?;
    write(
        &root.join("carol/music/song.ogg"),
        &sample_bytes(3, 5 * 1024 * 1024 + 17),
    )?;
    write(&root.join("alice/notes.md"), b"# alice's notes\n")?;
    write(
        &root.join("carol/notes.md"),
        b"# carol's notes, not alice's\n",
    )?;
    write(&root.join("carol/empty.dat"), b"")?;
    Ok(())
}

async fn start_peer(name: &str, ip: &str, root: &Path) -> Result<(Server, Arc<Shares>)> {
    let shares = Arc::new(Shares::new(
        vec![root.join(name)],
        ShareOptions {
            state_dir: Some(root.join(format!(".state-{name}"))),
            ..ShareOptions::default()
        },
    ));
    let scanner = shares.clone();
    runtime::spawn_blocking(move || scanner.scan()).await;
    let limits = ServerLimits::from_settings(&crate::config::ServerSettings::default());
    let preferred = format!("{ip}:{DEFAULT_PORT}");
    let mut server =
        match Server::bind(&preferred, name.to_string(), shares.clone(), limits.clone()).await {
            Ok(server) => server,
            Err(_) => {
                Server::bind(&format!("{ip}:0"), name.to_string(), shares.clone(), limits).await?
            }
        };
    // Each peer its own identity, so the demo's connections are P2P/2 as real ones are.
    let identity =
        crate::transport::Identity::load_or_create(&root.join(format!(".state-{name}")))?;
    server.speak_p2p2(crate::transport::server_config(&identity, &[])?);
    Ok((server, shares))
}

/// Every content and keyword id `shares` holds, as a serving peer announces them.
fn dht_ids(shares: &Shares) -> Vec<mainline::Id> {
    let catalog = shares.catalog();
    let mut ids: Vec<mainline::Id> = Vec::new();
    let mut words = std::collections::BTreeSet::new();
    for file in catalog.files() {
        let id = discovery::content_id(&file.sha256);
        if !ids.contains(&id) {
            ids.push(id);
        }
        words.extend(discovery::words(&file.name));
    }
    ids.extend(words.iter().map(|w| discovery::keyword_id(w)));
    ids
}

pub fn run(cli: &Cli) -> i32 {
    match run_demo(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: demo: {e:#}");
            1
        }
    }
}

/// Waits (a few seconds at most) until the demo's peer has met the three peers in the
/// DHT; should the DHT not deliver, they are listed as static peers instead, so that the
/// demo works either way.
fn find_the_peers(session: &mut crate::shell::session::Session, addrs: &[(&str, String)]) {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(6) {
        if session.node.peers_to_ask().is_err() {
            break;
        }
        let known = session.node.known_peers();
        let all = addrs
            .iter()
            .all(|(_, a)| crate::content::PeerAddr::parse(a).is_ok_and(|p| known.contains(&p)));
        if all {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    eprintln!("(the DHT did not introduce every peer in time: listing them directly)");
    for (_, addr) in addrs {
        if let Ok(peer) = crate::content::PeerAddr::parse(addr) {
            session.node.add_peer(peer);
        }
    }
}

fn run_demo(cli: &Cli) -> Result<i32> {
    let temp = tempfile::Builder::new().prefix("p2p-demo-").tempdir()?;
    let root = temp.path();
    make_samples(root)?;
    let mut addrs = Vec::new();
    // The three peers form a private Mainline DHT (the first alone, the others through
    // it), announce what they share, and the demo's own peer finds them there.
    let mut dht_nodes = Vec::new();
    for (name, ip) in PEERS {
        let (server, shares) = runtime::block_on(start_peer(name, ip, root))?;
        let local = server
            .local_addr()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
        let first = addrs.first().map(|(_, a): &(&str, String)| a.clone());
        let bootstrap = match &first {
            None => Bootstrap::Alone,
            Some(first) => discovery::bootstrap_from(std::slice::from_ref(first), local),
        };
        match DhtNode::start(local, bootstrap) {
            Ok(node) => {
                let node = Arc::new(node);
                let announcer = node.clone();
                let ids = dht_ids(&shares);
                runtime::spawn_detached(async move {
                    announcer.announce(&ids, local.port()).await;
                });
                dht_nodes.push(node);
            }
            Err(e) => eprintln!("warning: demo: {}", crate::error_chain::error_chain(&e)),
        }
        addrs.push((name, local.to_string()));
        runtime::spawn_detached(server.run(std::future::pending::<()>()));
    }
    let me = root.join("me");
    std::fs::create_dir_all(&me)?;
    let first_peer = addrs.first().map(|(_, a)| a.clone()).unwrap_or_default();
    let config_path = root.join("p2p.conf");
    std::fs::write(
        &config_path,
        format!(
            "# Written by `p2p demo`; removed when it ends.\n[node]\nname = \"you\"\nstate_dir = \"./.state-you\"\n\n[share]\ndirs = [\"./me\"]\n\n[download]\ndir = \"./downloads\"\n\n[peers]\naddrs = []\n\n[discovery]\ndht = true\ndht_bootstrap = [{first_peer:?}]\n"
        ),
    )?;

    eprintln!("p2p demo: three peers are running in this process, sharing sample files:");
    for (name, addr) in &addrs {
        eprintln!("  {name:<6} {addr}  {}", root.join(name).display());
    }
    eprintln!(
        "Downloads land in {}. All of it is removed when you quit.",
        root.join("downloads").display()
    );
    eprintln!("Try: peers · search '*' · get 1 · get notes.md · transfers · help");

    let Some(mut session) = open_session(Some(&config_path), cli.json) else {
        return Ok(2);
    };
    find_the_peers(&mut session, &addrs);
    let mut demo_cli = Cli {
        config: Some(config_path),
        json: cli.json,
        no_serve: true,
        serve: false,
        keep_going: cli.keep_going,
        verbose: cli.verbose,
        quiet: cli.quiet,
        command: Vec::new(),
    };
    demo_cli.no_serve = true;
    let code = interactive_or_script(&mut session, &demo_cli);
    drop(session);
    drop(dht_nodes);
    drop(temp);
    Ok(code)
}
