//! The serving side of a peer: one listener, one task per connection.
//!
//! A connection's first byte decides its protocol: `0x00` opens P2P/1
//! ([`connection`]), anything else is the seed's protocol ([`legacy`]). At most
//! `max_connections` are served at once; the next ones get a `busy` answer (P2P/1) or are
//! simply closed (legacy) — and a refused connection gives its place back as soon as it
//! is closed. Files are only ever found through the [`Shares`] catalog, so nothing outside
//! the share roots can be served.
//!
//! Uploads (DESIGN §8): at most `upload_slots` connections are served `read`s (and seed
//! `download:`s) at once ([`upload_slots`]); the others' reads are answered `busy`. All
//! the file bytes sent, by every connection, pass one token bucket holding them to
//! `max_upload_rate`. The running node may change both ([`Server::upload_bucket`],
//! [`Server::upload_slots`]).

mod connection;
mod drain;
mod legacy;
mod ops;
mod slots;
mod upload_slots;
mod window;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use thiserror::Error;

pub use crate::content::AllowList;
use crate::index::{SharedFile, Shares};
use crate::rate::{Rate, TokenBucket};
use crate::runtime::{self, TcpListener};
use drain::Drain;
use slots::Slots;
pub use upload_slots::UploadSlots;

/// How long a shutdown waits for connections still sending.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// The limits of DESIGN.md §3, from `[server]`.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub max_connections: usize,
    pub preamble_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_request_bytes: usize,
    pub max_read_bytes: usize,
    pub allow: AllowList,
    /// Serve P2P/2 clients only (`require_encryption`, or a non-empty `allow_ids`): a
    /// P2P/1 client gets `encryption_required`, a seed client is closed with nothing.
    pub encrypted_only: bool,
    /// Connections served `read`s at once (DESIGN §8).
    pub upload_slots: usize,
    /// All file bytes sent, by every connection together (0: no limit).
    pub max_upload_rate: Rate,
}

impl ServerLimits {
    pub fn from_settings(s: &crate::config::ServerSettings) -> ServerLimits {
        ServerLimits {
            max_connections: s.max_connections,
            preamble_timeout: Duration::from_secs(s.preamble_timeout_s),
            idle_timeout: Duration::from_secs(s.idle_timeout_s),
            max_request_bytes: s.max_request_bytes,
            max_read_bytes: s.max_read_bytes,
            // Checked when the settings were loaded; an entry that does not parse here
            // cannot happen, and would allow nobody rather than everybody.
            allow: AllowList::parse(&s.allow).unwrap_or_else(|_| AllowList::deny_all()),
            encrypted_only: s.require_encryption || !s.allow_ids.is_empty(),
            upload_slots: s.upload_slots.max(1),
            max_upload_rate: s.max_upload_rate,
        }
    }
}

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a server did, for its shutdown line and for tests that watch it from outside.
#[derive(Debug, Default)]
pub struct ServeCounters {
    pub connections: AtomicU64,
    /// Connections closed unread because the allow-list does not name their address.
    pub refused: AtomicU64,
    /// Connections turned away where only P2P/2 is served (`require_encryption`,
    /// `allow_ids`): seed and P2P/1 clients, and P2P/2 clients `allow_ids` does not list.
    pub refused_p2p2_only: AtomicU64,
    pub reads: AtomicU64,
    pub bytes_served: AtomicU64,
}

/// The peers this server tells a `peers` request about (peer exchange): those it
/// reached lately, as the node knows them.
pub(crate) type KnownPeers = Arc<dyn Fn() -> Vec<crate::protocol::message::PexEntry> + Send + Sync>;

/// Everything a connection task needs, shared.
pub(crate) struct ServeContext {
    pub name: String,
    pub shares: Arc<Shares>,
    pub limits: ServerLimits,
    pub counters: Arc<ServeCounters>,
    slots: Slots,
    /// Who may be served `read`s now.
    uploads: Arc<UploadSlots>,
    /// What every connection's file bytes pass through (`max_upload_rate`).
    upload_rate: Arc<TokenBucket>,
    /// Shutdown: tells connections to end, and counts those still running.
    drain: Drain,
    /// Who to name in a `peers` answer; none: an empty list.
    known_peers: Option<KnownPeers>,
    /// P2P/2 (TLS 1.3 with this peer's identity); none: P2P/1 and legacy only.
    tls: Option<futures_rustls::TlsAcceptor>,
    /// A re-scan is running because a served file was found changed.
    rescanning: Arc<AtomicBool>,
    /// A flood of refused connections must not become a flood of log lines.
    refusals: LogThrottle,
}

impl ServeContext {
    /// Counts a refused connection in `counter` and says why in the log: one line each,
    /// or one a second with how many more refusals, for any reason, came since the last.
    pub(crate) fn refused(&self, peer: SocketAddr, counter: &AtomicU64, why: &str) {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(more) = self.refusals.allow() {
            if more > 0 {
                tracing::info!(
                    %peer,
                    "refused: {why} (and {more} more refused connections since the last line)"
                );
            } else {
                tracing::info!(%peer, "refused: {why}");
            }
        }
    }

    pub(crate) fn new(name: String, shares: Arc<Shares>, limits: ServerLimits) -> ServeContext {
        ServeContext {
            name,
            shares,
            slots: Slots::new(limits.max_connections),
            uploads: Arc::new(UploadSlots::new(limits.upload_slots)),
            upload_rate: Arc::new(TokenBucket::new(limits.max_upload_rate)),
            limits,
            counters: Arc::new(ServeCounters::default()),
            drain: Drain::default(),
            known_peers: None,
            tls: None,
            rescanning: Arc::new(AtomicBool::new(false)),
            refusals: LogThrottle::default(),
        }
    }

    /// Whether `file` is still the version that was hashed. When it is not, a re-scan
    /// is started (one at a time) so that it is listed again under its new hash.
    pub fn is_current(&self, file: &SharedFile) -> bool {
        if file.is_current() {
            return true;
        }
        if !self.rescanning.swap(true, Ordering::AcqRel) {
            let shares = self.shares.clone();
            let flag = self.rescanning.clone();
            runtime::spawn_detached(async move {
                runtime::spawn_blocking(move || shares.scan()).await;
                flag.store(false, Ordering::Release);
            });
        }
        false
    }
}

/// At most one log line a second for a repeated event, saying how many were skipped.
#[derive(Default)]
struct LogThrottle {
    last: std::sync::Mutex<Option<std::time::Instant>>,
    skipped: AtomicU64,
}

impl LogThrottle {
    /// `Some(skipped since the last line)` when a line may be logged now.
    fn allow(&self) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < Duration::from_secs(1)) {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.skipped.swap(0, Ordering::Relaxed))
    }
}

pub struct Server {
    listener: TcpListener,
    context: Arc<ServeContext>,
}

impl Server {
    pub async fn bind(
        addr: &str,
        name: String,
        shares: Arc<Shares>,
        limits: ServerLimits,
    ) -> Result<Server, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        Ok(Server {
            listener,
            context: Arc::new(ServeContext::new(name, shares, limits)),
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Speaks P2P/2 with this TLS configuration (this peer's identity); set before `run`.
    pub(crate) fn speak_p2p2(&mut self, config: Arc<rustls::ServerConfig>) {
        if let Some(context) = Arc::get_mut(&mut self.context) {
            context.tls = Some(futures_rustls::TlsAcceptor::from(config));
        }
    }

    /// What `peers` answers (peer exchange); set before `run`.
    pub(crate) fn tell_peers(&mut self, known: KnownPeers) {
        if let Some(context) = Arc::get_mut(&mut self.context) {
            context.known_peers = Some(known);
        }
    }

    pub fn counters(&self) -> Arc<ServeCounters> {
        self.context.counters.clone()
    }

    /// The bucket all uploads pass through: `set_rate` changes `max_upload_rate` while
    /// the server runs.
    pub fn upload_bucket(&self) -> Arc<TokenBucket> {
        self.context.upload_rate.clone()
    }

    /// The upload slots: `set_count` changes `upload_slots` while the server runs.
    pub fn upload_slots(&self) -> Arc<UploadSlots> {
        self.context.uploads.clone()
    }

    /// Accepts connections until `shutdown` completes; then stops accepting, tells every
    /// connection to end, and waits for them up to [`DRAIN_DEADLINE`].
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let accepting = async {
            loop {
                match self.listener.accept().await {
                    Ok((stream, peer)) => {
                        if !self.context.limits.allow.permits(peer.ip()) {
                            drop(stream); // not a byte read
                            let counter = &self.context.counters.refused;
                            self.context.refused(peer, counter, "not in the allow-list");
                            continue;
                        }
                        self.context
                            .counters
                            .connections
                            .fetch_add(1, Ordering::Relaxed);
                        let context = self.context.clone();
                        let slot = context.slots.take();
                        runtime::spawn_detached(async move {
                            connection::serve(stream, peer, context, slot).await;
                        });
                    }
                    // Out of file descriptors or a connection reset before accept: back
                    // off a little rather than spin, and keep serving.
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        runtime::sleep(Duration::from_millis(50)).await
                    }
                }
            }
        };
        future::or(accepting, shutdown).await;
        drop(self.listener);
        let left = self.context.drain.close(DRAIN_DEADLINE).await;
        if left > 0 {
            tracing::warn!(
                "{left} connection(s) still open after {DRAIN_DEADLINE:?}; leaving them"
            );
        }
    }
}
