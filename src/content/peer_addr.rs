//! Peer addresses: `host` or `host:port` (IPv6 as `[::1]:port`), port 12000 when none
//! is given. Two spellings of the same address compare equal once parsed: IPv6 is kept
//! in its canonical form (an IPv4-mapped one as plain IPv4), host names in lower case.
//!
//! IPv4 is taken only as four decimal numbers (`127.0.0.2`). The other spellings that
//! the C resolver accepts (`2130706434`, `0x7f000002`, `127.1`, `127.0.0.02`, octal
//! in one and decimal in another) are refused with a hint, never passed on as a "name":
//! each would otherwise be a second, different-looking entry for the same peer.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use super::{PeerId, DEFAULT_PORT};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr {
    host: String,
    port: u16,
}

/// Stored (the peer book) as the text it is written in: `host:port`.
impl serde::Serialize for PeerAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PeerAddr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<PeerAddr, D::Error> {
        let text = String::deserialize(deserializer)?;
        PeerAddr::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BadPeerAddr {
    #[error("bad peer address {0:?} (want host or host:port)")]
    Syntax(String),
    #[error(
        "bad peer address {0:?}: write an IPv4 address as four decimal numbers, \
         e.g. 127.0.0.2 (other spellings are refused)"
    )]
    OddIpv4(String),
    #[error("bad peer address {0:?}: after `#` comes the peer's ID (52 characters of base32, as `p2p id` prints it)")]
    BadId(String),
}

/// `text` as an error quotes it: at most 120 characters, the cut marked with `…`.
fn clipped(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX - 1).collect();
    out.push('…');
    out
}

impl PeerAddr {
    pub fn parse(text: &str) -> Result<PeerAddr, BadPeerAddr> {
        let text = text.trim();
        let bad = || BadPeerAddr::Syntax(text.to_string());
        if text.is_empty() || text.contains(char::is_whitespace) || text.contains('/') {
            return Err(bad());
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else if text.matches(':').count() > 1 {
            (text, None) // a bare IPv6 address
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let host = match host.parse::<Ipv6Addr>() {
            // `::ffff:127.0.0.2` is 127.0.0.2; any other IPv6 in its one canonical form.
            Ok(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            },
            Err(_) => {
                let is_name = !host.is_empty()
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
                if !is_name {
                    return Err(bad());
                }
                if looks_like_ipv4(host) && host.parse::<Ipv4Addr>().is_err() {
                    return Err(BadPeerAddr::OddIpv4(text.to_string()));
                }
                host.to_ascii_lowercase()
            }
        };
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?,
            None => DEFAULT_PORT,
        };
        Ok(PeerAddr { host, port })
    }

    /// `host[:port]` with an optional pinned peer ID after a `#` (`host:port#ID`,
    /// DESIGN §7): a connection to that address must present that ID.
    pub fn parse_pinned(text: &str) -> Result<(PeerAddr, Option<PeerId>), BadPeerAddr> {
        match text.trim().split_once('#') {
            None => Ok((PeerAddr::parse(text)?, None)),
            Some((addr, id)) => {
                let addr = PeerAddr::parse(addr)?;
                let id = PeerId::parse(id).map_err(|_| BadPeerAddr::BadId(clipped(text.trim())))?;
                Ok((addr, Some(id)))
            }
        }
    }

    /// The host as an IP address, when it is one (not a name to resolve).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, as the socket API takes it.
    pub fn socket_string(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Whether the resolver would read `host` as an IPv4 address rather than a name: as in
/// the WHATWG URL rules, a host whose last label is a number (decimal, or hex with `0x`)
/// is an address, however many labels it has.
fn looks_like_ipv4(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let last = host.rsplit('.').next().unwrap_or(host);
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|digits| digits.chars().all(|c| c.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.chars().all(|c| c.is_ascii_digit()))
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.socket_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            PeerAddr::parse("192.168.1.20").unwrap().to_string(),
            "192.168.1.20:12000"
        );
        assert_eq!(
            PeerAddr::parse("127.0.0.1:12001").unwrap(),
            PeerAddr::parse(" 127.0.0.1:12001 ").unwrap()
        );
        assert_eq!(PeerAddr::parse("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert_eq!(PeerAddr::parse("::1").unwrap().port(), 12000);
        for bad in [
            "",
            "a:b",
            "a:0",
            "a:70000",
            "a b",
            ":5",
            "[::1]x",
            "not:a:port:x",
            "a;b",
        ] {
            assert!(PeerAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_peer_has_one_spelling() {
        for odd in [
            "0x7f000002",
            "2130706434",
            "127.0.0.02",
            "127.1",
            "0x7f.0.0.2",
            "127.0.0.2.",
            "127.000.0.2:9",
            "1.2.3.4.5",
        ] {
            assert!(
                matches!(PeerAddr::parse(odd), Err(BadPeerAddr::OddIpv4(_))),
                "{odd}"
            );
        }
        let canonical = PeerAddr::parse("127.0.0.2").unwrap();
        assert_eq!(PeerAddr::parse("::ffff:127.0.0.2").unwrap(), canonical);
        assert_eq!(PeerAddr::parse("[::ffff:7f00:2]:12000").unwrap(), canonical);
        assert_eq!(
            PeerAddr::parse("[0:0:0:0:0:0:0:1]").unwrap(),
            PeerAddr::parse("::1").unwrap()
        );
        assert_eq!(
            PeerAddr::parse("Peer-A.example:5").unwrap().to_string(),
            "peer-a.example:5"
        );
        // Names that merely contain digits stay names.
        assert!(PeerAddr::parse("node7.lan").is_ok());
        assert!(PeerAddr::parse("7zip.example").is_ok());
        assert_eq!(
            PeerAddr::parse("127.0.0.2").unwrap().ip(),
            Some(IpAddr::from([127, 0, 0, 2]))
        );
    }
}
