//! Whom this peer trusts when it connects (DESIGN §7): its TLS identity for P2P/2, the
//! pinned IDs (`host:port#ID` in `[peers] addrs`, `peers add`, `--from`), the IDs first
//! seen at each address (`known_peers`, trust on first use) and whether a peer may be
//! used in the clear at all (`[peers] require_encryption`).
//!
//! One per process, installed by the node when it starts ([`install`]); every
//! connection (`client::connect`) consults it. Without one — library use with no node —
//! connections are P2P/1 in the clear, as before P2P/2. It judges IDs; it never touches
//! a socket.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use super::error::CannotEncrypt;
use super::{ClientError, PeerAddr};
use crate::content::PeerId;
use crate::transport::{client_config, Identity, KnownPeers, KnownPeersError};

pub struct Dialer {
    state_dir: PathBuf,
    require_encryption: bool,
    pins: Mutex<HashMap<PeerAddr, PeerId>>,
    /// Peers found without P2P/2 (they answered P2P/1, closed, or said nothing to its
    /// preamble), and when: for a while they are dialled in P2P/1 at once, so that only
    /// the first connection pays for the question.
    plain_since: Mutex<HashMap<PeerAddr, Instant>>,
    /// Made on the first connection, not before: a command that connects to nobody
    /// (and `serve` before it has bound its port) writes nothing in the state folder.
    /// `Err`: why this peer cannot encrypt (a damaged identity or `known_peers`); then
    /// every connection fails with it, never falls back to the clear.
    ready: OnceLock<Result<Ready, Arc<CannotEncrypt>>>,
}

struct Ready {
    tls: futures_rustls::TlsConnector,
    known: Mutex<KnownPeers>,
}

/// How long a peer found without P2P/2 is dialled in P2P/1 straight away.
const RECHECK_PLAIN: Duration = Duration::from_secs(600);

static CURRENT: RwLock<Option<Arc<Dialer>>> = RwLock::new(None);

/// Makes `dialer` the one every later connection of this process uses.
pub fn install(dialer: Dialer) {
    *CURRENT.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(dialer));
}

pub(crate) fn current() -> Option<Arc<Dialer>> {
    CURRENT.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Pins `addr` to `id` for the rest of this process (a `peers add` or `--from` with
/// `#ID`). Without an installed dialer there is nothing to pin against: P2P/1 only.
pub fn pin(addr: &PeerAddr, id: PeerId) {
    if let Some(dialer) = current() {
        lock(&dialer.pins).insert(addr.clone(), id);
    }
}

/// Forgets the ID first seen at `addr`, so that the next one is trusted; returns it.
pub fn forget(addr: &PeerAddr) -> Result<Option<PeerId>, KnownPeersError> {
    match current() {
        // The file, not the dialer's copy: it may never have connected.
        Some(dialer) => KnownPeers::load(&dialer.state_dir)?.forget(addr),
        None => Ok(None),
    }
}

/// `known_peers` could not be read or written while judging `peer`.
fn known_peers_error(peer: &PeerAddr) -> impl FnOnce(KnownPeersError) -> ClientError + '_ {
    move |source| ClientError::KnownPeers {
        peer: peer.clone(),
        source,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Dialer {
    /// The dialer of the peer whose identity and known peers live in `state_dir`.
    pub fn new(
        state_dir: PathBuf,
        require_encryption: bool,
        pins: HashMap<PeerAddr, PeerId>,
    ) -> Dialer {
        Dialer {
            state_dir,
            require_encryption,
            pins: Mutex::new(pins),
            plain_since: Mutex::new(HashMap::new()),
            ready: OnceLock::new(),
        }
    }

    fn ready(&self, peer: &PeerAddr) -> Result<&Ready, ClientError> {
        self.ready
            .get_or_init(|| {
                let ready = || -> Result<Ready, CannotEncrypt> {
                    let identity = Identity::load_or_create(&self.state_dir)?;
                    let tls = client_config(&identity)?;
                    let known = KnownPeers::load(&self.state_dir)?;
                    Ok(Ready {
                        tls: futures_rustls::TlsConnector::from(tls),
                        known: Mutex::new(known),
                    })
                };
                ready().map_err(Arc::new)
            })
            .as_ref()
            .map_err(|why| ClientError::NoIdentity {
                peer: peer.clone(),
                source: why.clone(),
            })
    }

    pub(crate) fn connector(
        &self,
        peer: &PeerAddr,
    ) -> Result<&futures_rustls::TlsConnector, ClientError> {
        Ok(&self.ready(peer)?.tls)
    }

    /// Notes that `peer` has no P2P/2 (see `plain_since`).
    pub(crate) fn found_plain(&self, peer: &PeerAddr) {
        lock(&self.plain_since).insert(peer.clone(), Instant::now());
    }

    /// Whether `peer` was found without P2P/2 lately (then ask in P2P/1 straight away).
    pub(crate) fn known_plain(&self, peer: &PeerAddr) -> bool {
        let mut plain = lock(&self.plain_since);
        match plain.get(peer) {
            Some(since) if since.elapsed() < RECHECK_PLAIN => true,
            Some(_) => {
                plain.remove(peer);
                false
            }
            None => false,
        }
    }

    /// Refuses using `peer` in the clear when it is pinned or `[peers]
    /// require_encryption` is on: asked before any connection in the clear.
    pub(crate) fn check_plain_allowed(&self, peer: &PeerAddr) -> Result<(), ClientError> {
        let refused = |why| {
            Err(ClientError::NotEncrypted {
                peer: peer.clone(),
                why,
            })
        };
        if lock(&self.pins).contains_key(peer) {
            return refused("it is pinned to a peer ID");
        }
        if self.require_encryption {
            return refused("[peers] require_encryption is on");
        }
        Ok(())
    }

    /// Refuses `peer`, which answered in the clear, when an ID is known at its address.
    /// Trust on first use covers the clear too: whoever answers without encryption at
    /// the address of a peer known by its ID could be anyone (a downgrade), so it is
    /// refused as a changed ID is, until `peers forget ADDR`. Only an answer in the
    /// clear counts: a peer that closes or stays silent is not taken for one.
    pub(crate) fn check_not_known(&self, peer: &PeerAddr) -> Result<(), ClientError> {
        let known = lock(&self.ready(peer)?.known)
            .get_current(peer)
            .map_err(known_peers_error(peer))?;
        match known {
            Some(known) => Err(ClientError::Downgraded {
                peer: peer.clone(),
                known,
            }),
            None => Ok(()),
        }
    }

    /// Judges the ID `peer` presented: the pinned one if pinned, else the one first
    /// seen there (kept now if this is the first time).
    pub(crate) fn judge(&self, peer: &PeerAddr, got: PeerId) -> Result<(), ClientError> {
        if let Some(pinned) = lock(&self.pins).get(peer).copied() {
            if pinned != got {
                return Err(ClientError::WrongId {
                    peer: peer.clone(),
                    pinned,
                    got,
                });
            }
            return Ok(());
        }
        let mut known = lock(&self.ready(peer)?.known);
        // As the file says now: after a `peers forget` (here or in another process) the
        // ID presented must be kept again, not waved through by an old copy.
        let current = known.get_current(peer).map_err(known_peers_error(peer))?;
        if current == Some(got) {
            return Ok(());
        }
        // New here, or not the one remembered: the file decides (another process may
        // have kept or forgotten an ID since we read it).
        let first = known.remember(peer, got).map_err(known_peers_error(peer))?;
        if first != got {
            return Err(ClientError::IdChanged {
                peer: peer.clone(),
                known: first,
                got,
            });
        }
        Ok(())
    }
}
