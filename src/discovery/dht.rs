//! The Mainline DHT (BitTorrent's, BEP 5) through the `mainline` crate: an existing
//! engine, never a home-made one. It runs its own thread; we talk to it through its
//! async API (flume channels), which needs no runtime of ours.
//!
//! DESIGN §6 fixes the ids: a content's id is the first 20 bytes of its SHA-256; a
//! keyword's, the first 20 bytes of SHA-256("p2p-keyword:" + word), for each distinct
//! word of a name (split on anything not a letter or digit, lower-cased, at least 3
//! characters, at most 8 a name). Announces always name the TCP port (an implied port
//! would be the UDP one). What the DHT returns is a hint: addresses de-duplicated and
//! bounded; content is trusted only by its hash.
//!
//! The node is always built with an explicit bootstrap (or none): `mainline`'s default
//! contacts the public routers, which only `dht_bootstrap = ["public"]` may do.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use mainline::async_dht::AsyncDht;
use mainline::{Dht, Id};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::content::{ContentHash, PeerAddr};

/// A LAN answers within this; the crate's default suits the Internet.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// At most this many announces a second (DESIGN §6).
const ANNOUNCES_PER_SECOND: u32 = 20;
/// The most holders taken from one lookup.
const MAX_HOLDERS: usize = 64;
/// Words a name contributes, at most.
const MAX_WORDS: usize = 8;

#[derive(Debug, Error)]
pub enum DhtError {
    #[error("cannot start the DHT node on UDP {addr}")]
    Start {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the DHT needs an IPv4 listen address, not {0}")]
    NotIpv4(SocketAddr),
}

pub struct DhtNode {
    dht: AsyncDht,
}

/// How the node joins.
pub enum Bootstrap {
    /// The well-known public routers (`["public"]`): only ever a user's choice.
    Public,
    /// Alone: the first node of a private DHT (its list names only itself).
    Alone,
    Through(Vec<SocketAddrV4>),
}

impl DhtNode {
    /// A DHT node in server mode on UDP `listen` (the TCP listen address and port).
    pub fn start(listen: SocketAddr, bootstrap: Bootstrap) -> Result<DhtNode, DhtError> {
        let SocketAddr::V4(v4) = listen else {
            return Err(DhtError::NotIpv4(listen));
        };
        let mut builder = Dht::builder();
        builder
            .server_mode()
            .port(v4.port())
            .request_timeout(REQUEST_TIMEOUT);
        if !v4.ip().is_unspecified() {
            builder.bind_address(*v4.ip());
        }
        match bootstrap {
            Bootstrap::Public => {}
            Bootstrap::Alone => {
                builder.no_bootstrap();
            }
            Bootstrap::Through(nodes) => {
                builder.bootstrap(&nodes);
            }
        }
        let dht = builder
            .build()
            .map_err(|source| DhtError::Start {
                addr: listen,
                source,
            })?
            .as_async();
        Ok(DhtNode { dht })
    }

    /// Announces each id with this TCP port, at most [`ANNOUNCES_PER_SECOND`].
    pub async fn announce(&self, ids: &[Id], tcp_port: u16) -> usize {
        let mut done = 0;
        let pause = Duration::from_secs(1) / ANNOUNCES_PER_SECOND;
        for id in ids {
            let started = Instant::now();
            if self.dht.announce_peer(*id, Some(tcp_port)).await.is_ok() {
                done += 1;
            }
            if let Some(left) = pause.checked_sub(started.elapsed()) {
                crate::runtime::sleep(left).await;
            }
        }
        done
    }

    /// The DHT nodes closest to this one, within `limit`: p2p peers, since every p2p DHT
    /// node listens on its peer's TCP address and port (DESIGN §6).
    pub async fn neighbours(&self, limit: Duration) -> Vec<PeerAddr> {
        let lookup = async {
            let own = *self.dht.info().await.id();
            self.dht.find_node(own).await
        };
        let nodes = crate::runtime::timeout(limit, lookup)
            .await
            .unwrap_or_default();
        nodes
            .iter()
            .map(|n| n.address())
            .filter(|a| a.port() != 0)
            .take(MAX_HOLDERS)
            .filter_map(|a| PeerAddr::parse(&a.to_string()).ok())
            .collect()
    }

    /// Who announced `id`, within `limit` time: de-duplicated, at most [`MAX_HOLDERS`].
    pub async fn holders(&self, id: Id, limit: Duration) -> Vec<PeerAddr> {
        let mut stream = self.dht.get_peers(id);
        let mut seen: BTreeSet<SocketAddrV4> = BTreeSet::new();
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match crate::runtime::timeout(left, stream.next()).await {
                Ok(Some(batch)) => {
                    seen.extend(batch.into_iter().filter(|a| a.port() != 0));
                    if seen.len() >= MAX_HOLDERS {
                        break;
                    }
                }
                _ => break,
            }
        }
        seen.into_iter()
            .take(MAX_HOLDERS)
            .filter_map(|a| PeerAddr::parse(&a.to_string()).ok())
            .collect()
    }
}

/// A content's DHT id: the first 20 bytes of its SHA-256.
pub fn content_id(hash: &ContentHash) -> Id {
    let mut id = [0u8; 20];
    id.copy_from_slice(&hash.as_bytes()[..20]);
    Id::from(id)
}

/// A keyword's DHT id.
pub fn keyword_id(word: &str) -> Id {
    let digest = Sha256::digest(format!("p2p-keyword:{word}").as_bytes());
    let mut id = [0u8; 20];
    id.copy_from_slice(&digest[..20]);
    Id::from(id)
}

/// The words of a name (or a pattern's literal parts) that are looked up or announced.
pub fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3)
    {
        if !out.contains(&word) {
            out.push(word);
        }
        if out.len() >= MAX_WORDS {
            break;
        }
    }
    out
}

/// Parses `dht_bootstrap` for a node listening on `listen`.
pub fn bootstrap_from(list: &[String], listen: SocketAddr) -> Bootstrap {
    if list.iter().any(|e| e == "public") {
        return Bootstrap::Public;
    }
    let nodes: Vec<SocketAddrV4> = list
        .iter()
        .filter_map(|e| PeerAddr::parse(e).ok())
        .filter_map(|p| {
            let ip: Ipv4Addr = p.host().parse().ok()?;
            Some(SocketAddrV4::new(ip, p.port()))
        })
        .filter(|a| SocketAddr::V4(*a) != listen)
        .collect();
    if nodes.is_empty() {
        Bootstrap::Alone
    } else {
        Bootstrap::Through(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_words_follow_the_design() {
        assert_eq!(
            words("Live-At_Wembley 1986 (remastered).flac"),
            ["live", "wembley", "1986", "remastered", "flac"]
        );
        assert_eq!(words("a b cd"), Vec::<String>::new());
        let hash = ContentHash::of(b"x");
        assert_eq!(content_id(&hash).as_bytes()[..], hash.as_bytes()[..20]);
        assert_ne!(keyword_id("live"), keyword_id("wembley"));
        let me: SocketAddr = "127.0.0.2:4000".parse().unwrap();
        assert!(matches!(
            bootstrap_from(&["127.0.0.2:4000".into()], me),
            Bootstrap::Alone
        ));
        assert!(matches!(
            bootstrap_from(&["public".into()], me),
            Bootstrap::Public
        ));
        assert!(matches!(
            bootstrap_from(&["127.0.0.3:4000".into(), "junk".into()], me),
            Bootstrap::Through(v) if v.len() == 1
        ));
    }
}
