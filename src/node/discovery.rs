//! Where a node's peers come from beyond its static list, and what a serving node tells
//! the world: the peer book, peer exchange (one hop a command), mDNS and the Mainline
//! DHT (DESIGN §6). Found peers go into the book; nothing here prints.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{lock, Interrupted, Node, MAX_FANOUT};
use crate::client::PeerAddr;
use crate::discovery::{bootstrap_from, content_id, keyword_id, words, DhtNode, Via};
use crate::error_chain::error_chain;
use crate::protocol::message::PexEntry;
use crate::runtime;
use crate::transport::{IdentityError, TlsSetupError};

/// Why a peer whose settings say `[server] p2p2 = true` cannot serve P2P/2.
#[derive(Debug, thiserror::Error)]
pub enum CannotServeP2p2 {
    #[error("cannot serve P2P/2")]
    Identity(#[source] IdentityError),
    #[error("cannot serve P2P/2")]
    Tls(#[source] TlsSetupError),
}

/// How often a serving peer looks for new or changed files in its shares.
const RESCAN_INTERVAL: Duration = Duration::from_secs(30);

async fn rescan_periodically(shares: Arc<crate::index::Shares>) {
    loop {
        runtime::sleep(RESCAN_INTERVAL).await;
        let scanner = shares.clone();
        runtime::spawn_blocking(move || scanner.scan()).await;
    }
}

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

impl Node {
    /// Turns P2P/2 on for `server` with this peer's identity (made now on a first
    /// start), unless `[server] p2p2 = false`. Called before anything is indexed or
    /// announced, so that a peer without a usable identity (a damaged identity file, a
    /// state folder it cannot write) says so at once and serves nothing: serving in the
    /// clear instead would drop the identity every client that knows this peer checks.
    pub fn serve_p2p2(
        &mut self,
        server: &mut crate::server::Server,
    ) -> Result<(), CannotServeP2p2> {
        if !self.settings.server.p2p2 {
            return Ok(());
        }
        let allow_ids: Vec<crate::content::PeerId> = self
            .settings
            .server
            .allow_ids
            .iter()
            .filter_map(|id| crate::content::PeerId::parse(id).ok()) // checked at load
            .collect();
        let identity = self.identity().map_err(CannotServeP2p2::Identity)?;
        let config =
            crate::transport::server_config(&identity, &allow_ids).map_err(CannotServeP2p2::Tls)?;
        server.speak_p2p2(config);
        Ok(())
    }

    /// What a serving node runs beside its server, until the process ends: re-scanning
    /// its shares, naming the peers it reached (`peers` answers), pinging them, and
    /// announcing itself on the DHT and mDNS when those are on.
    pub fn start_serving(&mut self, server: &mut crate::server::Server) {
        server.tell_peers(Arc::new(self.pex_source()));
        // `set max_upload_rate` reaches the running server through its bucket.
        self.upload_limit = Some(server.upload_bucket());
        if let Some(addr) = server.local_addr() {
            self.served_at = Some(addr);
            if let Some(announcing) = self.announce_on_dht(addr) {
                runtime::spawn_detached(announcing);
            }
            if let Some(lan) = self.announce_on_lan(addr) {
                runtime::spawn_detached(lan);
            }
        }
        runtime::spawn_detached(rescan_periodically(self.shares_handle()));
        runtime::spawn_detached(self.pinger());
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
        // A peer never asks itself (its own address may well be in a shared `addrs`).
        let own = self.own_addrs();
        let known: Vec<PeerAddr> = self
            .known_peers()
            .into_iter()
            .filter(|p| !own.contains(p))
            .collect();
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
        let mut own = Vec::new();
        let listen = self
            .settings
            .node
            .listen
            .parse::<std::net::SocketAddr>()
            .ok();
        for addr in listen.into_iter().chain(self.served_at) {
            if addr.ip().is_unspecified() || addr.port() == 0 {
                continue;
            }
            if let Ok(peer) = PeerAddr::parse(&addr.to_string()) {
                if !own.contains(&peer) {
                    own.push(peer);
                }
            }
        }
        own
    }

    /// `peers add`: a static peer from now on.
    pub fn add_peer(&mut self, peer: PeerAddr) {
        lock(&self.book).add(peer.clone(), Via::Config, None);
        if !self.peers.contains(&peer) {
            self.peers.push(peer);
        }
    }

    /// `peers remove`: forgotten, static or discovered (the book is saved).
    /// Pins `peer` to `id` for this session (a connection presenting another is refused).
    pub fn pin_peer(&mut self, peer: &PeerAddr, id: crate::content::PeerId) {
        crate::client::dialer::pin(peer, id);
    }

    /// Forgets the peer ID first seen at `peer` (trust on first use); returns it.
    pub fn forget_peer_id(
        &mut self,
        peer: &PeerAddr,
    ) -> Result<Option<crate::content::PeerId>, crate::transport::KnownPeersError> {
        crate::client::dialer::forget(peer)
    }

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
        let id = match self.settings.server.p2p2 {
            true => self.identity.as_ref().map(|identity| identity.id),
            false => None,
        };
        let mdns = self.mdns.as_mut()?;
        match Arc::get_mut(mdns).map(|m| m.announce(&self.settings.node.name, listen, id.as_ref()))
        {
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
}
