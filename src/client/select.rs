//! Choosing what `get` downloads and from whom: a row of the last search, a SHA-256
//! (every peer asked for `info`), a unique hash prefix, or an exact name or path; and
//! the peers `--from` allows. The answers are a [`Chosen`] content with its sources, or
//! a [`SelectError`] that says what was missing.

use thiserror::Error;

use super::download::Source;
use super::search::{group_rows, PeerSearch, SearchRow};
use super::{info_all, ping_all, search_all, ClientError, PeerAddr, PeerKind};
use crate::content::ContentHash;

/// The fewest hex digits taken as a hash prefix: fewer would be ambiguous in any
/// network worth the name, and look like names or row numbers.
const MIN_PREFIX: usize = 8;

/// What to download and where from.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub hash: ContentHash,
    /// The name to give it, if a search or a peer's `info` said one.
    pub name: Option<String>,
    pub size: Option<u64>,
    pub sources: Vec<Source>,
}

#[derive(Debug, Error)]
pub enum SelectError {
    #[error("no search yet: `search PATTERN` first, then `get N`")]
    NoSearch,
    #[error("no row {row} in the last search ({rows} rows)")]
    NoRow { row: String, rows: usize },
    #[error(
        "{peers} gave {hash:?} as the hash of {name}: not a SHA-256, so it cannot be verified"
    )]
    NotVerifiable {
        peers: String,
        hash: String,
        name: String,
    },
    #[error("{prefix} starts {} hashes of the last search; give more digits: {}", .hashes.len(), .hashes.join(", "))]
    AmbiguousPrefix { prefix: String, hashes: Vec<String> },
    #[error("no peer has {0}")]
    NoHolder(ContentHash),
    #[error("no peer could serve {hash}: {}", .reasons.iter().map(ClientError::line).collect::<Vec<_>>().join("; "))]
    NoneCouldServe {
        hash: ContentHash,
        reasons: Vec<ClientError>,
    },
    #[error("{}", no_name(.name, *.on_path, *.answered, .unasked))]
    NoName {
        name: String,
        on_path: bool,
        /// How many peers answered the search (none had the name).
        answered: usize,
        /// Why the peers that could not be asked were not (all of them, when none was).
        unasked: Vec<ClientError>,
    },
    #[error("{name:?} names {} different files; get one by its sha256: {}", .hashes.len(), .hashes.join(", "))]
    SeveralContents { name: String, hashes: Vec<String> },
    #[error("{0} starts no hash of the last search or listing (`search` first), and no peer has a file of that name")]
    NoPrefix(String),
    #[error("--from: {0}")]
    BadAddress(crate::content::BadPeerAddr),
    #[error("--from {0}: no known peer has that address or name")]
    UnknownPeer(String),
    #[error("none of the peers allowed by --from has {0}")]
    NotFromThose(ContentHash),
}

/// The content `what` names: a SHA-256, a hash prefix or a row number of `rows` (the
/// last search), or a name; peers are asked (`asked`) where the rows do not say.
pub async fn choose(
    asked: &[PeerAddr],
    rows: &[SearchRow],
    listed: &[String],
    what: &str,
) -> Result<Chosen, SelectError> {
    if let Ok(hash) = what.parse::<ContentHash>() {
        return by_hash(asked, rows, hash).await;
    }
    if let Some(hash) = by_prefix(rows, listed, what)? {
        return by_hash(asked, rows, hash).await;
    }
    if !what.is_empty() && what.bytes().all(|b| b.is_ascii_digit()) {
        if rows.is_empty() {
            return Err(SelectError::NoSearch);
        }
        let n: usize = what.parse().unwrap_or(0);
        let Some(row) = rows.iter().find(|r| r.row == n) else {
            return Err(SelectError::NoRow {
                row: what.to_string(),
                rows: rows.len(),
            });
        };
        return from_rows(row, rows);
    }
    by_name(asked, rows, what).await
}

/// A hex prefix (at least [`MIN_PREFIX`] digits) of a hash in `rows` or `listed` (the
/// last search and listing), as tables show them shortened: the one hash it starts,
/// `None` if it starts none (it may be a name), an error listing the candidates if it
/// starts several.
fn by_prefix(
    rows: &[SearchRow],
    listed: &[String],
    what: &str,
) -> Result<Option<ContentHash>, SelectError> {
    if what.len() < MIN_PREFIX || what.len() >= 64 || !what.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let prefix = what.to_ascii_lowercase();
    let mut found: Vec<&str> = rows
        .iter()
        .map(|r| r.hash.as_str())
        .chain(listed.iter().map(String::as_str))
        .filter(|h| h.starts_with(&prefix) && ContentHash::looks_like(h))
        .collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(one.parse().ok()),
        many => Err(SelectError::AmbiguousPrefix {
            prefix: what.to_string(),
            hashes: many.iter().map(|h| h.to_string()).collect(),
        }),
    }
}

/// Every holder of every row with `row`'s content is a source.
fn from_rows(row: &SearchRow, rows: &[SearchRow]) -> Result<Chosen, SelectError> {
    let hash: ContentHash = row.hash.parse().map_err(|_| SelectError::NotVerifiable {
        peers: row
            .holders
            .iter()
            .map(|h| h.peer.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        hash: row.hash.clone(),
        name: row.name.clone(),
    })?;
    let mut sources = Vec::new();
    for holder in rows
        .iter()
        .filter(|r| r.hash == row.hash)
        .flat_map(|r| r.holders.iter())
    {
        if sources.iter().any(|s: &Source| s.peer == holder.peer) {
            continue;
        }
        sources.push(Source {
            peer: holder.peer.clone(),
            legacy_hash: holder.legacy.then(|| row.hash.clone()),
        });
    }
    // P2P/1 sources first: they can resume and say the size.
    sources.sort_by_key(|s| s.legacy_hash.is_some());
    Ok(Chosen {
        hash,
        name: Some(row.name.clone()),
        size: rows
            .iter()
            .filter(|r| r.hash == row.hash)
            .find_map(|r| r.size),
        sources,
    })
}

/// Every P2P/1 peer asked for `info`; seed peers only where `rows` found the hash on
/// them (they cannot look a hash up).
async fn by_hash(
    asked: &[PeerAddr],
    rows: &[SearchRow],
    hash: ContentHash,
) -> Result<Chosen, SelectError> {
    let answers = info_all(asked, hash).await;
    let mut sources = Vec::new();
    let mut size = None;
    let mut name = None;
    // Why peers that might have it could not say so (not "not found", nor a seed peer).
    let mut troubles = Vec::new();
    for (peer, answer) in answers {
        match answer {
            Ok(info) => {
                size.get_or_insert(info.size);
                name.get_or_insert(info.name);
                sources.push(Source {
                    peer,
                    legacy_hash: None,
                });
            }
            Err(e) if e.is_not_found() => {}
            Err(ClientError::LegacyCannot { .. }) => {}
            Err(e) => troubles.push(e),
        }
    }
    let text = hash.to_string();
    for row in rows.iter().filter(|r| r.hash == text) {
        for holder in row.holders.iter().filter(|h| h.legacy) {
            if !sources.iter().any(|s| s.peer == holder.peer) {
                sources.push(Source {
                    peer: holder.peer.clone(),
                    legacy_hash: Some(row.hash.clone()),
                });
                name.get_or_insert(row.name.clone());
            }
        }
    }
    if sources.is_empty() {
        return Err(if troubles.is_empty() {
            SelectError::NoHolder(hash)
        } else {
            SelectError::NoneCouldServe {
                hash,
                reasons: troubles,
            }
        });
    }
    Ok(Chosen {
        hash,
        name,
        size,
        sources,
    })
}

/// A file by its exact name, or by its exact path under the share when `name` holds a
/// `/` (as search shows paths): from `rows` if it is there, else asked for.
async fn by_name(
    asked: &[PeerAddr],
    rows: &[SearchRow],
    name: &str,
) -> Result<Chosen, SelectError> {
    let on_path = name.contains('/');
    let wanted = |row_name: &str, row_path: &str| {
        if on_path {
            row_path == name
        } else {
            row_name == name
        }
    };
    let mut found: Vec<SearchRow> = rows
        .iter()
        .filter(|r| r.holders.iter().any(|h| wanted(&r.name, &h.path)))
        .cloned()
        .collect();
    let mut unasked = Vec::new();
    let mut answered = 0;
    if found.is_empty() {
        let outcomes = search_all(asked, name).await;
        found = group_rows(&outcomes, |hit| wanted(&hit.name, &hit.path));
        answered = outcomes
            .iter()
            .filter(|o| !matches!(o.result, PeerSearch::Failed(_)))
            .count();
        unasked = outcomes
            .into_iter()
            .filter_map(|o| match o.result {
                PeerSearch::Failed(e) => Some(e),
                _ => None,
            })
            .collect();
    }
    let mut hashes: Vec<&str> = found.iter().map(|r| r.hash.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    match hashes.as_slice() {
        [] if is_hex_prefix(name) => Err(SelectError::NoPrefix(name.to_string())),
        [] => Err(SelectError::NoName {
            name: name.to_string(),
            on_path,
            answered,
            unasked,
        }),
        [_] => from_rows(&found[0], &found),
        many => Err(SelectError::SeveralContents {
            name: name.to_string(),
            hashes: many.iter().map(|h| h.to_string()).collect(),
        }),
    }
}

/// The peers `--from` allows, or `None` when it was not given. A value is an address
/// (listed or not: a one-off source), or the name a known peer answers `ping` with.
pub async fn resolve_from(
    known: &[PeerAddr],
    from: &[String],
) -> Result<Option<Vec<PeerAddr>>, SelectError> {
    if from.is_empty() {
        return Ok(None);
    }
    let mut allowed = Vec::new();
    let mut by_name = Vec::new();
    for text in from {
        match PeerAddr::parse_pinned(text) {
            // `ADDR#ID`: that peer, and only if it presents that ID.
            Ok((addr, Some(id))) => {
                super::dialer::pin(&addr, id);
                allowed.push(addr);
            }
            Ok((addr, None)) if known.contains(&addr) || looks_like_address(text) => {
                allowed.push(addr)
            }
            // An address spelled oddly, or a bad pinned ID, is no name: say how to write it.
            Err(
                e @ (crate::content::BadPeerAddr::OddIpv4(_)
                | crate::content::BadPeerAddr::BadId(_)),
            ) => return Err(SelectError::BadAddress(e)),
            _ => by_name.push(text.clone()),
        }
    }
    if !by_name.is_empty() {
        let statuses = ping_all(known).await;
        for wanted in by_name {
            let found: Vec<PeerAddr> = statuses
                .iter()
                .filter(|(_, s)| {
                    matches!(s, Ok(s) if matches!(&s.kind, PeerKind::P2p(p) if p.name == wanted))
                })
                .map(|(peer, _)| peer.clone())
                .collect();
            if found.is_empty() {
                return Err(SelectError::UnknownPeer(wanted));
            }
            allowed.extend(found);
        }
    }
    Ok(Some(allowed))
}

/// "no peer has a file named X", with why peers could not be asked: a refused identity
/// or a dead peer must not read as "nobody has it", and when no peer could be asked at
/// all, nothing is said about who has it.
fn no_name(name: &str, on_path: bool, answered: usize, unasked: &[ClientError]) -> String {
    let what = if on_path { "at" } else { "named" };
    let reasons = unasked
        .iter()
        .map(ClientError::line)
        .collect::<Vec<_>>()
        .join("; ");
    match (answered, unasked.len()) {
        (_, 0) => format!("no peer has a file {what} {name:?}"),
        (0, _) => format!("could not ask any peer for a file {what} {name:?}: {reasons}"),
        _ => format!("no peer that answered has a file {what} {name:?}; could not ask {reasons}"),
    }
}

fn is_hex_prefix(text: &str) -> bool {
    (MIN_PREFIX..64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An IP address, or anything with a port: not a peer's name.
fn looks_like_address(text: &str) -> bool {
    text.parse::<std::net::IpAddr>().is_ok()
        || text.parse::<std::net::SocketAddr>().is_ok()
        || text
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_nobody_could_be_asked_for_is_not_said_to_be_missing() {
        let dead = |addr: &str| ClientError::Refused {
            peer: PeerAddr::parse(addr).unwrap(),
        };
        assert_eq!(
            no_name("a.txt", false, 2, &[]),
            "no peer has a file named \"a.txt\""
        );
        let some = no_name("a.txt", false, 1, &[dead("127.0.0.2:1")]);
        assert!(
            some.starts_with(
                "no peer that answered has a file named \"a.txt\"; could not ask 127.0.0.2:1: "
            ),
            "{some}"
        );
        let none = no_name(
            "x/a.txt",
            true,
            0,
            &[dead("127.0.0.2:1"), dead("127.0.0.3:1")],
        );
        assert!(
            none.starts_with("could not ask any peer for a file at \"x/a.txt\": 127.0.0.2:1: "),
            "{none}"
        );
        assert!(!none.contains("no peer has"), "{none}");
        assert!(none.contains("127.0.0.3:1"), "{none}");
    }
}
