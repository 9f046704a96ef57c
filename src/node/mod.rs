//! The running peer, one per process: its settings and the config file they came from,
//! the peer list, the shares, the last search or listing (what `get N` refers to) and
//! this session's transfers. `serve`, the REPL, scripts, one-shot commands and `demo`
//! all build one the same way ([`Node::new`]); commands act on it through
//! `commands::Context`, never on the shell.
//!
//! It prints nothing: what it does goes up as values.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

mod interrupt;

pub use interrupt::{terminated, Interrupt};

use crate::client::{PeerAddr, SearchRow};
use crate::config::{LoadedConfig, Settings};
use crate::discovery::{
    bootstrap_from, content_id, keyword_id, words, DhtNode, Mdns, PeerBook, Via,
};
use crate::error_chain::error_chain;
use crate::index::{ScanReport, ShareOptions, Shares};
use crate::protocol::message::PexEntry;
use crate::runtime;

/// The most peers one command asks at once (DESIGN §6).
pub const MAX_FANOUT: usize = 64;

/// How long a DHT lookup may take within a command.
const DHT_LOOKUP: Duration = Duration::from_secs(3);
/// How often a serving peer announces again what it shares.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(20 * 60);
type BTreeSetOfWords = std::collections::BTreeSet<String>;

/// How long a command that does not serve looks for peers on mDNS before asking.
const MDNS_LOOK: Duration = Duration::from_millis(1500);

/// How often one peer is asked for the peers it knows.
const PEX_EVERY: Duration = Duration::from_secs(60);

/// How often a serving peer pings the peers it knows.
const PING_EVERY: Duration = Duration::from_secs(300);

fn lock(book: &Mutex<PeerBook>) -> MutexGuard<'_, PeerBook> {
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

/// A download of this session, for `transfers`.
#[derive(Debug, Clone)]
pub struct TransferRecord {
    pub name: String,
    pub hash: String,
    pub bytes: u64,
    pub size: Option<u64>,
    pub elapsed_ms: u64,
    pub sources: Vec<String>,
    pub outcome: Result<PathBuf, String>,
    /// Ctrl-C stopped it (its `.part` kept), rather than a failure.
    pub interrupted: bool,
}

pub struct Node {
    pub settings: Settings,
    pub config_file: Option<PathBuf>,
    pub peers: Vec<PeerAddr>,
    /// Peers that came from `[peers] file` (the seed's list), not from `addrs`.
    pub seed_list_peers: HashSet<PeerAddr>,
    pub last_search: Option<LastSearch>,
    /// Hashes the last `files` listing showed: a prefix of one names it, as a prefix of
    /// a search row's does.
    pub last_listed: Vec<String>,
    pub transfers: Vec<TransferRecord>,
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
        for addr in &settings.peers.addrs {
            // Already checked by the loader; kept fallible rather than trusted.
            let peer =
                PeerAddr::parse(addr).with_context(|| format!("{label}: key peers.addrs"))?;
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
        // A peer that listens on one address also connects from it.
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
            last_listed: Vec::new(),
            settings,
            config_file: loaded.file,
            peers,
            seed_list_peers,
            last_search: None,
            transfers: Vec::new(),
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

    /// Every peer to ask: the static list first, then the peer book's (discovered now or
    /// in an earlier run, whatever the discovery settings of the moment), at most
    /// [`MAX_FANOUT`].
    pub fn known_peers(&self) -> Vec<PeerAddr> {
        let mut all = self.peers.clone();
        for entry in lock(&self.book).entries() {
            if all.len() >= MAX_FANOUT {
                break;
            }
            if !all.contains(&entry.addr) {
                all.push(entry.addr.clone());
            }
        }
        all
    }

    /// The peers a `search` or `get` asks: every known one and, with `pex`, those they
    /// name (one hop; each peer asked at most once a minute), remembered in the book.
    pub fn peers_to_ask(&mut self) -> Result<Vec<PeerAddr>, Interrupted> {
        if let Some(mdns) = self.mdns.clone() {
            // A command that is not serving looks for up to 1.5 s before its first
            // fan-out; later ones (and serving peers) take what has come since.
            let found = if self.mdns_waited || self.mdns_in_background {
                mdns.found_now()
            } else {
                self.mdns_waited = true;
                self.run(mdns.found_within(MDNS_LOOK))?
            };
            let found: Vec<(PeerAddr, Option<String>)> =
                found.into_iter().map(|p| (p, None)).collect();
            self.remember(&found, Via::Mdns);
        }
        if let Some(dht) = self.dht_for_command() {
            // DHT nodes are p2p peers, except other commands' short-lived nodes: a new
            // one counts once it answers a ping as a p2p peer.
            let met = self.run(dht.neighbours(DHT_LOOKUP))?;
            let new: Vec<PeerAddr> = {
                let book = lock(&self.book);
                met.into_iter()
                    .filter(|p| !book.contains(p) && !self.peers.contains(p))
                    .collect()
            };
            let answers = self.run(crate::client::ping_all(&new))?;
            let peers: Vec<PeerAddr> = answers
                .into_iter()
                .filter(|(_, a)| matches!(a, Ok(s) if matches!(s.kind, crate::client::PeerKind::P2p(_))))
                .map(|(p, _)| p)
                .collect();
            self.remember_found(&peers, Via::Dht);
        }
        let known = self.known_peers();
        if !self.settings.discovery.pex {
            return Ok(known);
        }
        let now = Instant::now();
        let due: Vec<PeerAddr> = known
            .iter()
            .filter(|p| {
                self.pex_asked
                    .get(*p)
                    .is_none_or(|at| now.duration_since(*at) >= PEX_EVERY)
            })
            .cloned()
            .collect();
        for peer in &due {
            self.pex_asked.insert(peer.clone(), now);
        }
        let own = self.own_addrs();
        let found = self.run(crate::client::pex::one_hop(&due, &known, &own))?;
        self.remember(&found, Via::Pex);
        let mut all = known;
        for (addr, _) in found {
            if all.len() >= MAX_FANOUT + crate::client::pex::MAX_NEW {
                break;
            }
            if !all.contains(&addr) {
                all.push(addr);
            }
        }
        Ok(all)
    }

    /// This peer's own address, when it listens on a definite one (a peer never asks
    /// itself).
    pub fn own_addrs(&self) -> Vec<PeerAddr> {
        match self.settings.node.listen.parse::<std::net::SocketAddr>() {
            Ok(addr) if !addr.ip().is_unspecified() && addr.port() != 0 => {
                PeerAddr::parse(&addr.to_string()).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// `peers add`: a static peer from now on.
    pub fn add_peer(&mut self, peer: PeerAddr) {
        lock(&self.book).add(peer.clone(), Via::Config, None);
        if !self.peers.contains(&peer) {
            self.peers.push(peer);
        }
    }

    /// `peers remove`: forgotten, static or discovered (the book is saved).
    pub fn forget_peer(&mut self, peer: &PeerAddr) {
        self.peers.retain(|p| p != peer);
        let mut book = lock(&self.book);
        book.remove(peer);
        let _ = book.save();
    }

    /// How a peer came to be known (`config` for the static list).
    pub fn via(&self, peer: &PeerAddr) -> Via {
        if self.peers.contains(peer) {
            return Via::Config;
        }
        lock(&self.book)
            .entries()
            .iter()
            .find(|e| &e.addr == peer)
            .map_or(Via::Config, |e| e.via)
    }

    /// Peers found `via` discovery go into the book (saved at once: a restart knows
    /// them). Returns how many were new.
    pub fn remember(&mut self, found: &[(PeerAddr, Option<String>)], via: Via) -> usize {
        let mut book = lock(&self.book);
        let mut new = 0;
        for (addr, name) in found {
            if !self.peers.contains(addr) && book.add(addr.clone(), via, name.clone()) {
                new += 1;
            }
        }
        if new > 0 {
            if let Err(e) = book.save() {
                tracing::warn!("cannot save the peer book: {e}");
            }
        }
        new
    }

    /// What a serving peer names in `peers` answers: the peers it reached in the last
    /// hour (DESIGN §6).
    pub fn pex_source(&self) -> impl Fn() -> Vec<PexEntry> + Send + Sync + 'static {
        let book = self.book.clone();
        move || {
            lock(&book)
                .reached_within(3600, crate::discovery::MAX_PEX_ANSWER)
                .into_iter()
                .map(|e| PexEntry {
                    addr: e.addr.to_string(),
                    name: e.name,
                })
                .collect()
        }
    }

    /// The DHT node, started on `listen` (the TCP address and port) if it is not yet;
    /// `None` without `dht = true`, or when it cannot start (said once).
    fn dht_on(&mut self, listen: SocketAddr) -> Option<Arc<DhtNode>> {
        if !self.settings.discovery.dht {
            return None;
        }
        if self.dht.is_none() {
            let list = &self.settings.discovery.dht_bootstrap;
            let bootstrap = bootstrap_from(list, listen);
            if matches!(bootstrap, crate::discovery::Bootstrap::Alone)
                && !list.iter().any(|e| {
                    PeerAddr::parse(e).ok().map(|p| p.to_string()) == Some(listen.to_string())
                })
            {
                tracing::warn!(
                    "no address in discovery.dht_bootstrap could be used: this node is alone in its DHT"
                );
            }
            match DhtNode::start(listen, bootstrap) {
                Ok(node) => self.dht = Some(Arc::new(node)),
                Err(e) => {
                    tracing::warn!("{}; going on without the DHT", error_chain(&e));
                    self.settings.discovery.dht = false;
                }
            }
        }
        self.dht.clone()
    }

    /// A command's DHT node: on the listen address's IP, any port (it does not serve).
    fn dht_for_command(&mut self) -> Option<Arc<DhtNode>> {
        let ip = self
            .settings
            .node
            .listen
            .parse::<SocketAddr>()
            .map(|a| a.ip())
            .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        self.dht_on(SocketAddr::new(ip, 0))
    }

    /// Holders of `hash` the DHT knows (remembered in the book as `dht`).
    pub fn dht_holders(
        &mut self,
        hash: &crate::content::ContentHash,
    ) -> Result<Vec<PeerAddr>, Interrupted> {
        let Some(dht) = self.dht_for_command() else {
            return Ok(Vec::new());
        };
        let found = self.run(dht.holders(content_id(hash), DHT_LOOKUP))?;
        self.remember_found(&found, Via::Dht);
        Ok(found)
    }

    /// Peers the DHT knows for the literal words of a search pattern (none for `*`).
    pub fn dht_holders_of_words(&mut self, pattern: &str) -> Result<Vec<PeerAddr>, Interrupted> {
        let literal: String = pattern.replace(['*', '?'], " ");
        let words = words(&literal);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let Some(dht) = self.dht_for_command() else {
            return Ok(Vec::new());
        };
        let lookups = words.iter().map(|w| {
            let dht = dht.clone();
            let id = keyword_id(w);
            async move { dht.holders(id, DHT_LOOKUP).await }
        });
        let all = self.run(futures_util::future::join_all(lookups))?;
        let mut found: Vec<PeerAddr> = Vec::new();
        for peer in all.into_iter().flatten() {
            if !found.contains(&peer) && found.len() < MAX_FANOUT {
                found.push(peer);
            }
        }
        self.remember_found(&found, Via::Dht);
        Ok(found)
    }

    fn remember_found(&mut self, found: &[PeerAddr], via: Via) {
        let own = self.own_addrs();
        let found: Vec<(PeerAddr, Option<String>)> = found
            .iter()
            .filter(|p| !own.contains(p))
            .map(|p| (p.clone(), None))
            .collect();
        self.remember(&found, via);
    }

    /// A serving peer on `listen` joins the DHT there and announces what it shares:
    /// every content id and every keyword id, again every 20 minutes.
    pub fn announce_on_dht(
        &mut self,
        listen: SocketAddr,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let dht = self.dht_on(listen)?;
        if !self.settings.discovery.announce {
            return None;
        }
        let shares = self.shares.clone();
        Some(async move {
            loop {
                let catalog = shares.catalog();
                let mut ids = Vec::new();
                let mut seen = HashSet::new();
                for file in catalog.files() {
                    if seen.insert(file.sha256) {
                        ids.push(content_id(&file.sha256));
                    }
                }
                let mut keywords = BTreeSetOfWords::default();
                for file in catalog.files() {
                    for word in words(&file.name) {
                        keywords.insert(word);
                    }
                }
                ids.extend(keywords.iter().map(|w| keyword_id(w)));
                let done = dht.announce(&ids, listen.port()).await;
                tracing::info!("announced {done} of {} ids on the DHT", ids.len());
                runtime::sleep(ANNOUNCE_EVERY).await;
            }
        })
    }

    /// A serving peer announces itself on mDNS (with `mdns = true`) and collects the
    /// peers found there into the book, until the process ends.
    pub fn announce_on_lan(
        &mut self,
        listen: SocketAddr,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let mdns = self.mdns.as_mut()?;
        match Arc::get_mut(mdns).map(|m| m.announce(&self.settings.node.name, listen)) {
            Some(Err(e)) => tracing::warn!("{}", error_chain(&e)),
            Some(Ok(())) => tracing::info!("announced on mDNS as {listen}"),
            None => {}
        }
        self.mdns_in_background = true;
        let mdns = mdns.clone();
        let book = self.book.clone();
        let statics = self.peers.clone();
        Some(async move {
            while let Some(found) = mdns.next_found().await {
                let mut book = lock(&book);
                let mut new = 0;
                for peer in found.into_iter().filter(|p| !statics.contains(p)) {
                    if book.add(peer.clone(), Via::Mdns, None) {
                        tracing::info!("found {peer} on mDNS");
                        new += 1;
                    }
                }
                if new > 0 {
                    let _ = book.save();
                }
            }
        })
    }

    /// A serving peer pings every peer it knows at start and every 5 minutes, so that
    /// it knows who is up (and can name them to others). Runs until the process ends.
    pub fn pinger(&self) -> impl Future<Output = ()> + Send + 'static {
        let book = self.book.clone();
        async move {
            loop {
                let peers: Vec<PeerAddr> = lock(&book)
                    .entries()
                    .iter()
                    .map(|e| e.addr.clone())
                    .collect();
                let answers = crate::client::ping_all(&peers).await;
                {
                    let mut book = lock(&book);
                    for (peer, answer) in answers {
                        if let Ok(status) = answer {
                            let name = match status.kind {
                                crate::client::PeerKind::P2p(ping) => Some(ping.name),
                                crate::client::PeerKind::Legacy => None,
                            };
                            book.answered(&peer, name);
                        }
                    }
                    // The file holds discovered peers only: nothing to write without any.
                    if book.entries().iter().any(|e| e.via != Via::Config) {
                        let _ = book.save();
                    }
                }
                runtime::sleep(PING_EVERY).await;
            }
        }
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
