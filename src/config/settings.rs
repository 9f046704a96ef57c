//! The settings' sections (`[node]`, `[share]`, `[download]`, `[peers]`, `[server]`,
//! `[plugins]`, `[discovery]`), their defaults, and the checks no type can express:
//! empty paths, ranges, addresses, settings that contradict each other.
//!
//! It never reads a file or the environment; [`super`] does, and hands the merged
//! layers here to be checked once.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use super::normalize;
use crate::content::DEFAULT_PORT;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub node: NodeSettings,
    pub share: ShareSettings,
    pub download: DownloadSettings,
    pub peers: PeerSettings,
    pub server: ServerSettings,
    pub plugins: PluginSettings,
    pub discovery: DiscoverySettings,
}

/// `[discovery]` (DESIGN §6): where peers come from beyond `[peers] addrs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoverySettings {
    /// Peer exchange: ask the peers talked to for the peers they know.
    pub pex: bool,
    pub mdns: bool,
    pub dht: bool,
    pub dht_bootstrap: Vec<String>,
    pub announce: bool,
}

impl Default for DiscoverySettings {
    fn default() -> DiscoverySettings {
        DiscoverySettings {
            pex: true,
            mdns: false,
            dht: false,
            dht_bootstrap: Vec::new(),
            announce: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSettings {
    pub name: String,
    pub listen: String,
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShareSettings {
    pub dirs: Vec<PathBuf>,
    pub follow_symlinks: bool,
    pub hidden: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadSettings {
    pub dir: PathBuf,
    pub share: bool,
    /// A source that sends nothing for this long is dropped from a download.
    pub stall_timeout_s: u64,
    /// Background downloads running at once; more wait in a queue (DESIGN §8).
    pub max_active: usize,
    /// All downloads of this peer together, in bytes a second (0: no limit).
    pub max_rate: crate::rate::Rate,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PeerSettings {
    /// `host[:port]`, or `host:port#ID` to pin the peer's ID (DESIGN §7).
    pub addrs: Vec<String>,
    pub file: Option<PathBuf>,
    /// Never use a peer in the clear (P2P/1 or the seed's protocol).
    pub require_encryption: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub allow: Vec<String>,
    pub max_connections: usize,
    pub preamble_timeout_s: u64,
    pub idle_timeout_s: u64,
    pub max_request_bytes: usize,
    pub max_read_bytes: usize,
    /// Serve P2P/2 only: P2P/1 clients get `encryption_required`, seed clients nothing.
    pub require_encryption: bool,
    /// When not empty, only P2P/2 clients presenting one of these peer IDs are served.
    pub allow_ids: Vec<String>,
    /// All that this peer serves together, in bytes a second (0: no limit).
    pub max_upload_rate: crate::rate::Rate,
    /// Clients served `read`s at once; the next one's `read` gets `busy` (DESIGN §8).
    pub upload_slots: usize,
    /// Answer P2P/2 at all. `false` serves P2P/1 in the clear and the seed's protocol
    /// only: for measuring what encryption costs (benches/run.sh), not for use.
    pub p2p2: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginSettings {
    pub dirs: Vec<PathBuf>,
}

impl Default for NodeSettings {
    fn default() -> NodeSettings {
        NodeSettings {
            name: default_name(),
            listen: format!("0.0.0.0:{DEFAULT_PORT}"),
            state_dir: PathBuf::from("./.p2p"),
        }
    }
}

impl Default for ShareSettings {
    fn default() -> ShareSettings {
        ShareSettings {
            dirs: vec![PathBuf::from("./shared")],
            follow_symlinks: false,
            hidden: false,
        }
    }
}

impl Default for DownloadSettings {
    fn default() -> DownloadSettings {
        DownloadSettings {
            dir: PathBuf::from("./downloads"),
            share: true,
            stall_timeout_s: 15,
            max_active: 3,
            max_rate: crate::rate::Rate(0),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> ServerSettings {
        ServerSettings {
            allow: Vec::new(),
            max_connections: 256,
            preamble_timeout_s: 5,
            idle_timeout_s: 60,
            max_request_bytes: 64 * 1024,
            max_read_bytes: 4 * 1024 * 1024,
            require_encryption: false,
            allow_ids: Vec::new(),
            max_upload_rate: crate::rate::Rate(0),
            upload_slots: 8,
            p2p2: true,
        }
    }
}

impl Default for PluginSettings {
    fn default() -> PluginSettings {
        PluginSettings {
            dirs: vec![PathBuf::from("./plugins")],
        }
    }
}

fn default_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "p2p".to_string())
}

/// A value that has the right type but cannot be used, and the key that holds it.
pub(super) struct BadValue {
    pub(super) key: &'static str,
    pub(super) message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> BadValue {
    BadValue {
        key,
        message: message.into(),
    }
}

impl Settings {
    /// What no type says: paths not empty, numbers in range, addresses well-formed.
    /// Makes relative paths absolute against `base` and gives `listen` its port.
    pub(super) fn check(&mut self, base: &Path) -> Result<(), BadValue> {
        // An empty path would resolve to the config file's own folder and share it.
        let not_empty = |key: &'static str, path: &Path| {
            if path.as_os_str().is_empty() {
                Err(bad(
                    key,
                    "an empty path (write \".\" for the config file's folder)",
                ))
            } else {
                Ok(())
            }
        };
        not_empty("node.state_dir", &self.node.state_dir)?;
        for dir in &self.share.dirs {
            not_empty("share.dirs", dir)?;
        }
        not_empty("download.dir", &self.download.dir)?;
        if let Some(file) = &self.peers.file {
            not_empty("peers.file", file)?;
        }
        for dir in &self.plugins.dirs {
            not_empty("plugins.dirs", dir)?;
        }
        self.node.listen =
            listen_address(&self.node.listen).map_err(|e| bad("node.listen", e.to_string()))?;
        let s = &self.server;
        if s.max_connections == 0 {
            return Err(bad("server.max_connections", "must be at least 1"));
        }
        if s.max_request_bytes < 64 {
            return Err(bad("server.max_request_bytes", "must be at least 64"));
        }
        if s.max_read_bytes == 0 {
            return Err(bad("server.max_read_bytes", "must be at least 1"));
        }
        if self.discovery.dht && self.discovery.dht_bootstrap.is_empty() {
            return Err(bad(
                "discovery.dht_bootstrap",
                "dht = true needs peers to join through (their addresses), or [\"public\"]",
            ));
        }
        if self.download.max_active == 0 {
            return Err(bad("download.max_active", "must be at least 1"));
        }
        if s.upload_slots == 0 {
            return Err(bad("server.upload_slots", "must be at least 1"));
        }
        if self.download.stall_timeout_s == 0 {
            return Err(bad("download.stall_timeout_s", "must be at least 1"));
        }
        crate::content::AllowList::parse(&s.allow)
            .map_err(|e| bad("server.allow", e.to_string()))?;
        for addr in &self.peers.addrs {
            crate::content::PeerAddr::parse_pinned(addr)
                .map_err(|e| bad("peers.addrs", e.to_string()))?;
        }
        for id in &s.allow_ids {
            crate::content::PeerId::parse(id)
                .map_err(|e| bad("server.allow_ids", e.to_string()))?;
        }
        if !s.p2p2 && (s.require_encryption || !s.allow_ids.is_empty()) {
            return Err(bad(
                "server.p2p2",
                "false leaves nothing to serve with require_encryption or allow_ids",
            ));
        }
        self.resolve_paths(base);
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = normalize(&base.join(&*p));
            }
        };
        resolve(&mut self.node.state_dir);
        self.share.dirs.iter_mut().for_each(resolve);
        resolve(&mut self.download.dir);
        if let Some(file) = self.peers.file.as_mut() {
            resolve(file);
        }
        self.plugins.dirs.iter_mut().for_each(resolve);
    }

    /// The folders this peer shares: `share.dirs`, plus the download folder unless
    /// `download.share = false`.
    pub fn share_roots(&self) -> Vec<PathBuf> {
        let mut roots = self.share.dirs.clone();
        if self.download.share && !roots.contains(&self.download.dir) {
            roots.push(self.download.dir.clone());
        }
        roots
    }
}

/// A `listen` value that is not `host` or `host:port`.
#[derive(Debug, Error)]
#[error("{0:?} is not host or host:port (e.g. \"0.0.0.0:{DEFAULT_PORT}\")")]
struct NotAListenAddress(String);

/// `listen` as `host:port`, with the port 12000 when none is given, as for peer
/// addresses (port 0 is allowed here: any free port). The host is a name or an IP
/// address; digits that are no dotted IPv4 address (`12`, `0x7f000001`) are refused,
/// because the system resolver would turn them into some unexpected IPv4 address.
fn listen_address(text: &str) -> Result<String, NotAListenAddress> {
    let text = text.trim();
    let bad = || NotAListenAddress(text.to_string());
    let (host, port, v6) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
        };
        (host, port, true)
    } else if text.matches(':').count() > 1 {
        (text, None, true)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (text, None, false),
        }
    };
    let valid_host = if v6 {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        let looks_numeric = host.starts_with(|c: char| c.is_ascii_digit())
            && host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | 'x' | 'X'));
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            && (!looks_numeric || host.parse::<std::net::Ipv4Addr>().is_ok())
    };
    if !valid_host {
        return Err(bad());
    }
    let port = match port {
        Some(port) => port.parse::<u16>().map_err(|_| bad())?,
        None => DEFAULT_PORT,
    };
    Ok(if v6 {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_get_the_default_port() {
        assert_eq!(listen_address("0.0.0.0").unwrap(), "0.0.0.0:12000");
        assert_eq!(listen_address("127.0.0.1:0").unwrap(), "127.0.0.1:0");
        assert_eq!(listen_address("localhost:9").unwrap(), "localhost:9");
        assert_eq!(listen_address("::").unwrap(), "[::]:12000");
        assert_eq!(listen_address("[::1]:5").unwrap(), "[::1]:5");
        for bad in [
            "",
            "12",
            "0x7f000001",
            "127.0.0.1:x",
            "h:70000",
            "a b",
            "[::1",
            "[zz]:1",
        ] {
            assert!(listen_address(bad).is_err(), "{bad:?} accepted");
        }
    }
}
