//! `[server] allow`: the CIDR allow-list. Empty allows everyone; otherwise a connection
//! from any other address is closed before a byte of it is read.

use std::net::IpAddr;

use ipnet::IpNet;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0:?} is not an address or CIDR")]
pub struct BadAllowEntry(pub String);

#[derive(Debug, Clone, Default)]
pub struct AllowList {
    nets: Vec<IpNet>,
}

impl AllowList {
    /// Parses CIDRs (`10.0.0.0/8`) or single addresses (`127.0.0.2`).
    pub fn parse(entries: &[String]) -> Result<AllowList, BadAllowEntry> {
        let nets = entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadAllowEntry(entry.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowList { nets })
    }

    /// A list that allows no address at all.
    pub fn deny_all() -> AllowList {
        AllowList {
            // 0.0.0.0/32: no peer ever connects from there.
            nets: vec![IpNet::from(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))],
        }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.is_empty() || self.nets.iter().any(|net| net.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_single_addresses() {
        let list =
            AllowList::parse(&["127.0.0.2/32".into(), "10.0.0.0/8".into(), "::1".into()]).unwrap();
        assert!(list.permits("127.0.0.2".parse().unwrap()));
        assert!(!list.permits("127.0.0.3".parse().unwrap()));
        assert!(list.permits("10.9.8.7".parse().unwrap()));
        assert!(list.permits("::ffff:127.0.0.2".parse().unwrap()));
        assert!(list.permits("::1".parse().unwrap()));
        assert!(AllowList::default().permits("8.8.8.8".parse().unwrap()));
        assert!(AllowList::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(AllowList::parse(&["nope".into()]).is_err());
    }
}
