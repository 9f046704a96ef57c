//! The running peer, one per process: its settings and the config file they came from,
//! the peer list, the shares, the last search or listing (what `get N` refers to) and
//! this session's transfers. `serve`, the REPL, scripts, one-shot commands and `demo`
//! all build one the same way ([`Node::new`]); commands act on it through
//! `commands::Context`, never on the shell.
//!
//! It prints nothing: what it does goes up as values.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{Context, Result};

mod discovery;
mod interrupt;
mod transfers;

pub use interrupt::{terminated, Interrupt};
pub use transfers::{
    Finished, Live, TransferBoard, TransferId, TransferState, TransferView, Unfinished, Which,
};

use crate::client::dialer::Dialer;
use crate::client::{PeerAddr, SearchRow};
use crate::config::{LoadedConfig, Settings};
use crate::discovery::{DhtNode, Mdns, PeerBook, Via};
use crate::error_chain::error_chain;
use crate::index::{ScanReport, ShareOptions, Shares};
use crate::runtime;
use crate::transport::{Identity, IdentityError};

/// The most peers one command asks at once (DESIGN §6).
pub const MAX_FANOUT: usize = 64;

pub(super) fn lock(book: &Mutex<PeerBook>) -> MutexGuard<'_, PeerBook> {
    book.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running command was cancelled by Ctrl-C / SIGINT.
#[derive(Debug)]
pub struct Interrupted;

/// The rows of the last search (or browse), numbered as they were shown.
#[derive(Debug, Clone, Default)]
pub struct LastSearch {
    pub query: String,
    pub rows: Vec<SearchRow>,
}

/// The rows of the last `browse` (what `get N` takes after one): a peer's folder.
#[derive(Debug, Clone)]
pub struct LastBrowse {
    pub peer: PeerAddr,
    pub path: String,
    pub entries: Vec<crate::client::ListEntry>,
}

pub struct Node {
    pub settings: Settings,
    pub config_file: Option<PathBuf>,
    pub peers: Vec<PeerAddr>,
    /// Peers that came from `[peers] file` (the seed's list), not from `addrs`.
    pub seed_list_peers: HashSet<PeerAddr>,
    pub last_search: Option<LastSearch>,
    /// The last `browse`; a browse and a search each replace the other's rows.
    pub last_browse: Option<LastBrowse>,
    /// Hashes the last `files` listing showed: a prefix of one names it, as a prefix of
    /// a search row's does.
    pub last_listed: Vec<String>,
    /// This session's downloads: background ones queued and run here (DESIGN §8).
    pub transfers: Arc<TransferBoard>,
    /// Every peer known and how (the config's included), shared with the serving side
    /// (which names them in `peers` answers and pings them).
    pub book: Arc<Mutex<PeerBook>>,
    /// When each peer was last asked for its peers (at most once a minute each).
    pex_asked: HashMap<PeerAddr, Instant>,
    /// LAN discovery, with `[discovery] mdns = true`.
    mdns: Option<Arc<Mdns>>,
    /// Whether found peers are collected in the background (a serving peer): then a
    /// command need not wait for mDNS answers itself.
    mdns_in_background: bool,
    mdns_waited: bool,
    /// The Mainline DHT node, with `[discovery] dht = true` (started when first needed,
    /// or by a serving peer on its listen address).
    dht: Option<Arc<DhtNode>>,
    identity: Option<Arc<Identity>>,
    /// The upload bucket of the server this node runs, once serving.
    upload_limit: Option<Arc<crate::rate::TokenBucket>>,
    /// The address this node's server is bound to, once serving (a peer never asks
    /// itself, even when it listens on port 0 and its address is in a shared list).
    pub(crate) served_at: Option<std::net::SocketAddr>,
    shares: Arc<Shares>,
    scanned: bool,
    interrupt: Interrupt,
}

/// Reads the seed's peer list: one `ip` or `ip:port` a line; blank lines and `#`
/// comments skipped.
pub fn read_seed_peer_file(path: &std::path::Path) -> Result<Vec<PeerAddr>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read peer list {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| (i, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(i, line)| {
            PeerAddr::parse(line).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}

impl Node {
    pub fn new(loaded: LoadedConfig) -> Result<Node> {
        let settings = loaded.settings;
        // Errors here are config errors like the loader's: they name the file and key.
        let label = loaded.file.as_ref().map_or_else(
            || "built-in defaults".to_string(),
            |f| f.display().to_string(),
        );
        let mut peers = Vec::new();
        let mut pins = HashMap::new();
        for addr in &settings.peers.addrs {
            // Already checked by the loader; kept fallible rather than trusted.
            let (peer, pin) = PeerAddr::parse_pinned(addr)
                .with_context(|| format!("{label}: key peers.addrs"))?;
            if let Some(id) = pin {
                pins.insert(peer.clone(), id);
            }
            if !peers.contains(&peer) {
                peers.push(peer);
            }
        }
        let mut seed_list_peers = HashSet::new();
        if let Some(file) = &settings.peers.file {
            let listed =
                read_seed_peer_file(file).with_context(|| format!("{label}: key peers.file"))?;
            for peer in listed {
                seed_list_peers.insert(peer.clone());
                if !peers.contains(&peer) {
                    peers.push(peer);
                }
            }
        }
        // A peer that listens on one loopback address also connects from it (to
        // loopback peers; to other hosts the route picks: client/connect.rs).
        if let Ok(listen) = settings.node.listen.parse::<std::net::SocketAddr>() {
            crate::client::bind_outgoing_to(listen.ip());
        }
        let shares = Arc::new(Shares::new(
            settings.share_roots(),
            ShareOptions {
                follow_symlinks: settings.share.follow_symlinks,
                hidden: settings.share.hidden,
                state_dir: Some(settings.node.state_dir.clone()),
            },
        ));
        crate::client::dialer::install(Dialer::new(
            settings.node.state_dir.clone(),
            settings.peers.require_encryption,
            pins,
        ));
        let max_active = settings.download.max_active;
        crate::client::download_limit().set_rate(settings.download.max_rate);
        let mut book = PeerBook::load(Some(&settings.node.state_dir));
        for peer in &peers {
            book.add(peer.clone(), Via::Config, None);
        }
        Ok(Node {
            book: Arc::new(Mutex::new(book)),
            pex_asked: HashMap::new(),
            mdns: if settings.discovery.mdns {
                match Mdns::browse() {
                    Ok(mdns) => Some(Arc::new(mdns)),
                    Err(e) => {
                        tracing::warn!("{}; going on without LAN discovery", error_chain(&e));
                        None
                    }
                }
            } else {
                None
            },
            mdns_in_background: false,
            mdns_waited: false,
            dht: None,
            identity: None,
            upload_limit: None,
            served_at: None,
            last_listed: Vec::new(),
            settings,
            config_file: loaded.file,
            peers,
            seed_list_peers,
            last_search: None,
            last_browse: None,
            transfers: TransferBoard::new(max_active),
            shares,
            scanned: false,
            interrupt: Interrupt::install(),
        })
    }

    /// The shares, indexed on first use (a client-only script need not hash anything).
    pub fn shares(&mut self) -> Result<Arc<Shares>, Interrupted> {
        if !self.scanned {
            self.rescan()?;
        }
        Ok(self.shares.clone())
    }

    /// Walks the shares now (the first scan of a session included) and says what it did.
    pub fn rescan(&mut self) -> Result<ScanReport, Interrupted> {
        let shares = self.shares.clone();
        let report = self.run(runtime::spawn_blocking(move || shares.scan()))?;
        self.scanned = true;
        Ok(report)
    }

    /// The shares without forcing a scan (the server scans them itself before serving).
    pub fn shares_handle(&self) -> Arc<Shares> {
        self.shares.clone()
    }

    pub fn mark_scanned(&mut self) {
        self.scanned = true;
    }

    pub fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }

    /// Runs a future to its end, or until Ctrl-C, whichever comes first.
    pub fn run<F: Future>(&self, future: F) -> Result<F::Output, Interrupted> {
        let interrupt = self.interrupt.clone();
        runtime::block_on(futures_lite::future::or(
            async { Ok(future.await) },
            async move {
                interrupt.wait().await;
                Err(Interrupted)
            },
        ))
    }

    /// What you download you share (unless `download.share = false`): the new file is
    /// listed without hashing it again.
    pub fn share_download(
        &mut self,
        path: &std::path::Path,
        hash: crate::content::ContentHash,
    ) -> Result<(), Interrupted> {
        if !self.settings.download.share {
            return Ok(());
        }
        let shares = self.shares()?;
        shares.remember(path, hash);
        self.run(runtime::spawn_blocking(move || shares.scan()))?;
        Ok(())
    }

    /// `[download] max_rate`, now: every running download follows it at once.
    pub fn set_download_rate(&mut self, rate: crate::rate::Rate) {
        self.settings.download.max_rate = rate;
        crate::client::download_limit().set_rate(rate);
    }

    /// `[server] max_upload_rate`, now, for the server this node runs (if any).
    pub fn set_upload_rate(&mut self, rate: crate::rate::Rate) {
        self.settings.server.max_upload_rate = rate;
        if let Some(bucket) = &self.upload_limit {
            bucket.set_rate(rate);
        }
    }

    /// This peer's identity (made on first use, kept in `node.state_dir`).
    pub fn identity(&mut self) -> Result<Arc<Identity>, IdentityError> {
        if let Some(identity) = &self.identity {
            return Ok(identity.clone());
        }
        let identity = Arc::new(Identity::load_or_create(&self.settings.node.state_dir)?);
        self.identity = Some(identity.clone());
        Ok(identity)
    }

    /// The rows `get N` and hash prefixes refer to (none before the first search).
    pub fn last_rows(&self) -> &[SearchRow] {
        self.last_search.as_ref().map_or(&[], |l| l.rows.as_slice())
    }

    /// Finds a peer by address (`host[:port]`) among the known peers.
    pub fn known_peer(&self, text: &str) -> Option<PeerAddr> {
        let addr = PeerAddr::parse(text).ok()?;
        self.peers.iter().find(|p| **p == addr).cloned()
    }
}
