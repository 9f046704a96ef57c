//! LAN discovery with mDNS (`mdns-sd`, which runs its own thread and talks through
//! flume channels, so it needs no runtime of ours): a serving peer registers
//! `_p2p._tcp.local.` (instance = its name, port = its TCP port, address = its listen
//! address, or the interfaces' when it listens on a wildcard; TXT `id=<peer id>` and
//! `proto=2`, or `proto=1` without P2P/2), and every
//! peer with `[discovery] mdns = true` browses for the others.
//!
//! mDNS joins multicast groups on every interface: it is off by default, and tests run
//! it only inside a network namespace of their own.

use std::net::{IpAddr, SocketAddr};

use crate::content::PeerId;
use std::time::{Duration, Instant};

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use thiserror::Error;

use crate::content::PeerAddr;

const SERVICE: &str = "_p2p._tcp.local.";

#[derive(Debug, Error)]
pub enum MdnsError {
    #[error("cannot start mDNS")]
    Daemon(#[source] mdns_sd::Error),
    #[error("cannot announce this peer on mDNS")]
    Register(#[source] mdns_sd::Error),
}

/// A running mDNS daemon: browsing always, announcing when this peer serves.
pub struct Mdns {
    daemon: ServiceDaemon,
    found: mdns_sd::Receiver<ServiceEvent>,
    /// This peer's own address (never reported as found).
    own: Option<SocketAddr>,
}

impl Mdns {
    /// Starts browsing for other peers.
    pub fn browse() -> Result<Mdns, MdnsError> {
        let daemon = ServiceDaemon::new().map_err(MdnsError::Daemon)?;
        let found = daemon.browse(SERVICE).map_err(MdnsError::Daemon)?;
        Ok(Mdns {
            daemon,
            found,
            own: None,
        })
    }

    /// Announces this peer, `name` listening on `listen`.
    /// Registers this peer; `id` (its peer ID) goes into TXT as `id=` with `proto=2`
    /// when it speaks P2P/2, else TXT says `proto=1`.
    pub fn announce(
        &mut self,
        name: &str,
        listen: SocketAddr,
        id: Option<&PeerId>,
    ) -> Result<(), MdnsError> {
        // An instance name that is a valid DNS label whatever the peer's name holds.
        let instance: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(50)
            .collect();
        let instance = format!("{}-{}", instance, listen.port());
        let host = format!("{instance}.local.");
        let id = id.map(PeerId::to_string);
        let properties: Vec<(&str, &str)> = match &id {
            Some(id) => vec![("id", id.as_str()), ("proto", "2")],
            None => vec![("proto", "1")],
        };
        let info = if listen.ip().is_unspecified() {
            ServiceInfo::new(
                SERVICE,
                &instance,
                &host,
                "",
                listen.port(),
                &properties[..],
            )
            .map(|info| info.enable_addr_auto())
        } else {
            ServiceInfo::new(
                SERVICE,
                &instance,
                &host,
                listen.ip(),
                listen.port(),
                &properties[..],
            )
        }
        .map_err(MdnsError::Register)?;
        self.daemon.register(info).map_err(MdnsError::Register)?;
        self.own = Some(listen);
        Ok(())
    }

    /// Peers resolved so far (without waiting).
    pub fn found_now(&self) -> Vec<PeerAddr> {
        let mut out = Vec::new();
        while let Ok(event) = self.found.try_recv() {
            self.take(event, &mut out);
        }
        out
    }

    /// Peers resolved within `wait` (a one-shot command's look before its first
    /// fan-out).
    pub async fn found_within(&self, wait: Duration) -> Vec<PeerAddr> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match crate::runtime::timeout(left, self.found.recv_async()).await {
                Ok(Ok(event)) => self.take(event, &mut out),
                _ => break,
            }
        }
        out
    }

    /// Waits for the next peers resolved (a serving peer's background browse).
    pub async fn next_found(&self) -> Option<Vec<PeerAddr>> {
        let event = self.found.recv_async().await.ok()?;
        let mut out = Vec::new();
        self.take(event, &mut out);
        Some(out)
    }

    fn take(&self, event: ServiceEvent, out: &mut Vec<PeerAddr>) {
        let ServiceEvent::ServiceResolved(service) = event else {
            return;
        };
        let port = service.port;
        for ip in service.get_addresses_v4() {
            let addr = SocketAddr::new(IpAddr::V4(ip), port);
            if Some(addr) == self.own {
                continue;
            }
            if let Ok(peer) = PeerAddr::parse(&addr.to_string()) {
                if !out.contains(&peer) {
                    out.push(peer);
                }
            }
        }
    }
}

impl Drop for Mdns {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}
