//! Peer addresses: `host` or `host:port` (IPv6 as `[::1]:port`), port 12000 when none
//! is given. Two spellings of the same address compare equal once parsed.

use std::fmt;

use thiserror::Error;

use crate::protocol::DEFAULT_PORT;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddr {
    host: String,
    port: u16,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("bad peer address {0:?} (want host or host:port)")]
pub struct BadPeerAddr(pub String);

impl PeerAddr {
    pub fn parse(text: &str) -> Result<PeerAddr, BadPeerAddr> {
        let text = text.trim();
        let bad = || BadPeerAddr(text.to_string());
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
        let is_v6 = host.parse::<std::net::Ipv6Addr>().is_ok();
        let is_name = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !(is_v6 || is_name) {
            return Err(bad());
        }
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?,
            None => DEFAULT_PORT,
        };
        Ok(PeerAddr {
            host: host.to_string(),
            port,
        })
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
}
