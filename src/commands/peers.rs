//! `peers`, `peers add ADDR[#ID]`, `peers remove ADDR|NAME`, `peers forget ADDR`: the
//! peer table (pinged at once, with each peer's ID and protocol), edits that apply now
//! and are saved back to the config file in use, and forgetting the ID first seen at an
//! address (trust on first use, DESIGN §7) so that a peer's new identity is accepted.
//!
//! `peers add` refuses this peer's own address (`node.listen`, or any address of this
//! machine on that port when it listens on every interface): a peer that lists itself
//! would search and download from itself. `peers remove` takes an address or the name
//! a peer answers `ping` with, as `get --from` does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{from_matches, human_bytes, Command, CommandError, CommandResult, Context, Output};
use crate::client::{ping_all, PeerAddr, PeerKind};
use crate::config::edit;

pub struct Peers;

#[derive(Args)]
struct PeersArgs {
    #[command(subcommand)]
    action: Option<PeersAction>,
}

#[derive(Subcommand)]
enum PeersAction {
    /// Add a peer (host or host:port; port 12000 by default; host:port#ID pins its ID)
    Add {
        #[arg(value_name = "ADDR[#ID]")]
        addr: String,
    },
    /// Remove a peer, by address or by the name it answers with
    Remove {
        #[arg(value_name = "ADDR|NAME")]
        addr: String,
    },
    /// Forget the peer ID first seen at ADDR, to accept the new one it presents
    Forget { addr: String },
}

impl Command for Peers {
    fn name(&self) -> &'static str {
        "peers"
    }

    fn summary(&self) -> &'static str {
        "list peers (ID, protocol, up/down, round trip, what they share); add, remove, forget an ID"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "peers",
            "peers add 192.168.1.20",
            "peers add 192.168.1.20:12000#MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPJQWEY3EMVTA",
            "peers forget 192.168.1.20",
            "peers remove 127.0.0.1:12001",
            "peers remove alice",
        ]
    }

    fn args(&self) -> clap::Command {
        PeersArgs::augment_args(clap::Command::new("peers"))
            .about("List peers, or add/remove one (saved to the config file)")
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: PeersArgs = from_matches(&matches)?;
        match args.action {
            None => list(ctx),
            Some(PeersAction::Add { addr }) => add(ctx, &addr),
            Some(PeersAction::Remove { addr }) => remove(ctx, &addr),
            Some(PeersAction::Forget { addr }) => forget(ctx, &addr),
        }
    }
}

fn list(ctx: &mut Context<'_>) -> CommandResult {
    // Every peer known, discovery included (peer exchange, mDNS, the DHT's nodes).
    ctx.node.peers_to_ask()?;
    let known = ctx.node.known_peers();
    let statuses = ctx.node.run(ping_all(&known))?;
    let via = |peer: &PeerAddr| ctx.node.via(peer).as_str();
    let mut rows = Vec::new();
    let mut entries = Vec::new();
    for (peer, status) in statuses {
        let via = via(&peer);
        match status {
            Ok(status) => {
                let rtt_ms = status.rtt.as_secs_f64() * 1000.0;
                let protocol = status.protocol();
                let shown_protocol = match protocol {
                    "p2p/1" => "p2p/1 (plain)",
                    other => other,
                };
                let id = status.id.map(|id| id.to_string());
                let short_id = status.id.map_or_else(|| "—".to_string(), |id| id.short());
                let (name, files, bytes) = match &status.kind {
                    PeerKind::P2p(ping) => {
                        (Some(ping.name.clone()), Some(ping.files), Some(ping.bytes))
                    }
                    PeerKind::Legacy => (None, None, None),
                };
                rows.push(vec![
                    peer.to_string(),
                    name.clone().unwrap_or_else(|| "—".into()),
                    short_id,
                    shown_protocol.into(),
                    via.into(),
                    "up".into(),
                    format!("{rtt_ms:.1}"),
                    files.map_or_else(|| "?".into(), |f| f.to_string()),
                    bytes.map_or_else(|| "?".into(), human_bytes),
                ]);
                entries.push(json!({
                    "addr": peer.to_string(), "name": name, "id": id, "up": true, "via": via,
                    "protocol": protocol, "rtt_ms": rtt_ms,
                    "files": files, "bytes": bytes,
                }));
            }
            Err(e) => {
                let reason = e.reason();
                rows.push(vec![
                    peer.to_string(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    via.into(),
                    format!("down: {reason}"),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                ]);
                entries.push(json!({
                    "addr": peer.to_string(), "name": null, "id": null, "up": false, "via": via,
                    "protocol": null, "error": reason,
                }));
            }
        }
    }
    let mut output = Output::new(json!({ "peers": entries }));
    if rows.is_empty() {
        output = output.line("no peers yet: `peers add HOST[:PORT]` adds one");
    } else {
        output = output.table(
            &[
                "peer", "name", "id", "protocol", "via", "status", "rtt ms", "files", "shared",
            ],
            rows,
        );
    }
    Ok(output)
}

fn add(ctx: &mut Context<'_>, text: &str) -> CommandResult {
    let (peer, pin) =
        PeerAddr::parse_pinned(text).map_err(|e| CommandError::Usage(e.to_string()))?;
    let entry = match pin {
        Some(id) => format!("{peer}#{id}"),
        None => peer.to_string(),
    };
    if is_own_address(&ctx.node.settings.node.listen, &peer) {
        return Err(CommandError::Failed(anyhow!(
            "{peer} is this peer's own address (node.listen = {:?}); a peer does not list itself",
            ctx.node.settings.node.listen
        )));
    }
    if ctx.node.peers.contains(&peer) && pin.is_none() {
        return Ok(
            Output::new(json!({ "added": null, "peer": peer.to_string(), "saved": null }))
                .line(format!("{peer} is already a peer")),
        );
    }
    if let Some(id) = pin {
        ctx.node.pin_peer(&peer, id);
    }
    ctx.node.add_peer(peer.clone());
    let saved = match &ctx.node.config_file {
        Some(file) => {
            // A new pin for a listed peer replaces its entry.
            edit::remove_from_list(file, "peers", "addrs", |v| {
                PeerAddr::parse_pinned(v).is_ok_and(|(p, _)| p == peer)
            })
            .and_then(|()| edit::add_to_list(file, "peers", "addrs", &entry))
            .context("peer added for this session, but not saved")?;
            Some(file.display().to_string())
        }
        None => None,
    };
    let note = match &saved {
        Some(file) => format!("added {entry} (saved to {file})"),
        None => format!("added {entry} (for this session: no config file in use)"),
    };
    Ok(Output::new(json!({
        "added": peer.to_string(), "peer": peer.to_string(),
        "id": pin.map(|id| id.to_string()), "saved": saved,
    }))
    .line(note))
}

fn forget(ctx: &mut Context<'_>, text: &str) -> CommandResult {
    let (peer, _) = PeerAddr::parse_pinned(text).map_err(|e| CommandError::Usage(e.to_string()))?;
    let forgotten = ctx
        .node
        .forget_peer_id(&peer)
        .context("cannot forget the peer ID")?;
    let pinned = ctx
        .node
        .settings
        .peers
        .addrs
        .iter()
        .any(|v| PeerAddr::parse_pinned(v).is_ok_and(|(p, id)| p == peer && id.is_some()));
    let mut note = match forgotten {
        Some(id) => format!("forgot {peer}'s peer ID {id}: the next one it presents will be kept"),
        None => format!("no peer ID was kept for {peer}"),
    };
    if pinned {
        note.push_str(" (it is also pinned in [peers] addrs: change the pin there)");
    }
    Ok(Output::new(json!({
        "peer": peer.to_string(),
        "forgotten": forgotten.map(|id| id.to_string()),
        "pinned": pinned,
    }))
    .line(note))
}

/// The listed peer `text` stands for: its address, else the name it answers `ping`
/// with (asking every peer only when the address is not a listed one).
fn find_listed(
    ctx: &mut Context<'_>,
    text: &str,
) -> Result<(PeerAddr, Option<String>), CommandError> {
    let parsed = PeerAddr::parse_pinned(text).map(|(peer, _)| peer);
    if let Ok(peer) = &parsed {
        if ctx.node.peers.contains(peer) {
            return Ok((peer.clone(), None));
        }
    }
    let statuses = ctx.node.run(ping_all(&ctx.node.peers))?;
    let named: Vec<PeerAddr> = statuses
        .into_iter()
        .filter(
            |(_, s)| matches!(s, Ok(s) if matches!(&s.kind, PeerKind::P2p(p) if p.name == text)),
        )
        .map(|(peer, _)| peer)
        .collect();
    match (named.as_slice(), parsed) {
        ([one], _) => Ok((one.clone(), Some(text.to_string()))),
        ([], Ok(peer)) => Err(CommandError::Failed(anyhow!(
            "{peer} is not a peer (no listed peer has that address or name)"
        ))),
        ([], Err(e)) => Err(CommandError::Usage(format!(
            "{e}; and no listed peer answers to that name"
        ))),
        (several, _) => Err(CommandError::Failed(anyhow!(
            "{} peers answer to the name {text:?}: {}; remove one by its address",
            several.len(),
            several
                .iter()
                .map(PeerAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn remove(ctx: &mut Context<'_>, text: &str) -> CommandResult {
    let (peer, name) = find_listed(ctx, text)?;
    ctx.node.forget_peer(&peer);
    let mut saved = None;
    if let Some(file) = &ctx.node.config_file {
        edit::remove_from_list(file, "peers", "addrs", |v| {
            PeerAddr::parse_pinned(v).is_ok_and(|(p, _)| p == peer)
        })
        .context("peer removed for this session, but not saved")?;
        saved = Some(file.display().to_string());
    }
    if ctx.node.seed_list_peers.remove(&peer) {
        if let Some(list) = &ctx.node.settings.peers.file {
            let text = std::fs::read_to_string(list)
                .with_context(|| format!("cannot read {}", list.display()))?;
            let kept: Vec<&str> = text
                .lines()
                .filter(|line| PeerAddr::parse(line).map_or(true, |p| p != peer))
                .collect();
            edit::write_atomically(list, (kept.join("\n") + "\n").as_bytes())?;
            saved = Some(list.display().to_string());
        }
    }
    let note = match &name {
        Some(name) => format!("removed {peer} ({name})"),
        None => format!("removed {peer}"),
    };
    Ok(
        Output::new(json!({ "removed": peer.to_string(), "name": name, "saved": saved }))
            .line(note),
    )
}

/// Whether `peer` is this peer itself, listening on `listen`. A wildcard listen address
/// (`0.0.0.0`, `::`) means this machine's addresses on that port (see [`is_local`]); a
/// host name is looked up (briefly: a slow resolver must not hang `peers add`).
fn is_own_address(listen: &str, peer: &PeerAddr) -> bool {
    let Ok(listen) = PeerAddr::parse(listen) else {
        return false; // port 0 (any free port) or unparsable: nothing to compare with
    };
    if listen.port() != peer.port() {
        return false;
    }
    let listen_ips = resolve(&listen);
    let peer_ips = resolve(peer);
    peer_ips.iter().any(|ip| {
        listen_ips.iter().any(|own| {
            if own.is_unspecified() {
                is_local(*ip)
            } else {
                own == ip || ip.is_unspecified()
            }
        })
    })
}

/// What a wildcard listener is reached at on this machine: the usual loopback address
/// (127.0.0.1, ::1), the wildcard itself, or an address of one of its interfaces (one it
/// can bind to). The rest of 127.0.0.0/8 is left out: that is where local networks of
/// several peers live (the demo, tests), each its own peer on the same port.
fn is_local(ip: IpAddr) -> bool {
    ip == IpAddr::from(Ipv4Addr::LOCALHOST)
        || ip == IpAddr::from(Ipv6Addr::LOCALHOST)
        || ip.is_unspecified()
        || (!ip.is_loopback() && std::net::UdpSocket::bind((ip, 0)).is_ok())
}

/// The IP addresses of a peer: itself when it is one, else what the resolver says
/// within a second (nothing if it says nothing in time).
fn resolve(peer: &PeerAddr) -> Vec<IpAddr> {
    if let Some(ip) = peer.ip() {
        return vec![ip];
    }
    let target = (peer.host().to_string(), peer.port());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ips: Vec<IpAddr> = target
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .unwrap_or_default();
        let _ = tx.send(ips);
    });
    rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default()
}
