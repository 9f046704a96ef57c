//! Asking every peer at once: `search` by pattern, `info` by hash.
//!
//! Each peer gets its own task and its own deadline, so one slow or dead peer costs the
//! user at most that deadline, and its row still shows what went wrong.

use super::fanout::each_peer;
use super::{connect, legacy, retry, ClientError, Link, PeerAddr, REQUEST_TIMEOUT};
use crate::content::hash::ContentHash;
use crate::protocol::message::{InfoAnswer, Request, SearchAnswer, SearchHit};
use crate::runtime;

/// What one peer answered to a search.
#[derive(Debug)]
pub enum PeerSearch {
    Hits {
        hits: Vec<SearchHit>,
        truncated: bool,
    },
    /// A seed peer, asked for the exact name: the hash it gave, if any.
    Legacy {
        name: String,
        hash: Option<String>,
    },
    Failed(ClientError),
}

#[derive(Debug)]
pub struct SearchOutcome {
    pub peer: PeerAddr,
    pub result: PeerSearch,
}

/// Results each P2P/1 peer is asked for.
pub const SEARCH_LIMIT: u64 = 1000;

async fn search_one(peer: PeerAddr, query: String) -> SearchOutcome {
    let attempt = retry::when_busy(|| async {
        match connect(&peer, REQUEST_TIMEOUT).await? {
            Link::P2p(mut conn) => {
                let answer: SearchAnswer = conn
                    .request(&Request::Search {
                        query: query.clone(),
                        limit: Some(SEARCH_LIMIT),
                    })
                    .await?;
                Ok(PeerSearch::Hits {
                    hits: answer.results,
                    truncated: answer.truncated,
                })
            }
            Link::Legacy => {
                if query.contains(['*', '?']) {
                    return Err(ClientError::LegacyCannot {
                        peer: peer.clone(),
                        what: "match patterns (exact names only)",
                    });
                }
                let hash = legacy::lookup(&peer, &query).await?;
                Ok(PeerSearch::Legacy {
                    name: query.clone(),
                    hash,
                })
            }
        }
    });
    let result = match runtime::timeout(REQUEST_TIMEOUT * 2, attempt).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => PeerSearch::Failed(e),
        Err(_) => PeerSearch::Failed(ClientError::TimedOut {
            peer: peer.clone(),
            what: "search",
            secs: (REQUEST_TIMEOUT * 2).as_secs(),
        }),
    };
    SearchOutcome { peer, result }
}

/// Searches every peer at once; outcomes come back in the order of `peers`.
pub async fn search_all(peers: &[PeerAddr], query: &str) -> Vec<SearchOutcome> {
    each_peer(peers, |peer| search_one(peer, query.to_string())).await
}

/// Asks every P2P/1 peer for `info` on `hash`; seed peers cannot answer it.
pub async fn info_all(
    peers: &[PeerAddr],
    hash: ContentHash,
) -> Vec<(PeerAddr, Result<InfoAnswer, ClientError>)> {
    each_peer(peers, |peer| async move {
        let attempt = retry::when_busy(|| async {
            match connect(&peer, REQUEST_TIMEOUT).await? {
                Link::P2p(mut conn) => conn.request(&Request::Info { sha256: hash }).await,
                Link::Legacy => Err(ClientError::LegacyCannot {
                    peer: peer.clone(),
                    what: "look up a hash",
                }),
            }
        });
        let result = match runtime::timeout(REQUEST_TIMEOUT * 4, attempt).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::TimedOut {
                peer: peer.clone(),
                what: "info",
                secs: (REQUEST_TIMEOUT * 4).as_secs(),
            }),
        };
        (peer, result)
    })
    .await
}

/// One row of a search's table: one distinct (name, content), and every peer that
/// listed it.
#[derive(Debug, Clone)]
pub struct SearchRow {
    pub row: usize,
    pub name: String,
    /// The path the first holder gave (relative to its share root).
    pub path: String,
    pub size: Option<u64>,
    /// The hash as the peers gave it; for P2P/1 peers always a SHA-256.
    pub hash: String,
    pub modified: Option<u64>,
    pub holders: Vec<Holder>,
}

/// A peer that listed a search row's content, and where.
#[derive(Debug, Clone)]
pub struct Holder {
    pub peer: PeerAddr,
    pub path: String,
    /// A seed peer: it can serve the file only by the hash string it gave.
    pub legacy: bool,
}

/// The hits of every peer as numbered rows: one per distinct (name, hash), holding
/// every peer that listed it, sorted by name then by the order peers are listed in.
/// `keep` chooses which hits count (by name, path).
pub(crate) fn group_rows(
    outcomes: &[SearchOutcome],
    keep: impl Fn(&Hit) -> bool,
) -> Vec<SearchRow> {
    let mut rows: Vec<SearchRow> = Vec::new();
    for outcome in outcomes {
        let hits: Vec<Hit> = match &outcome.result {
            PeerSearch::Hits { hits, .. } => hits
                .iter()
                .map(|h| Hit {
                    name: h.name.clone(),
                    path: h.path.clone(),
                    size: Some(h.size),
                    hash: h.sha256.to_string(),
                    modified: Some(h.modified),
                    legacy: false,
                })
                .collect(),
            PeerSearch::Legacy {
                name,
                hash: Some(hash),
            } => vec![Hit {
                name: name.clone(),
                path: name.clone(),
                size: None,
                hash: hash.clone(),
                modified: None,
                legacy: true,
            }],
            _ => Vec::new(),
        };
        for hit in hits.into_iter().filter(|h| keep(h)) {
            let holder = Holder {
                peer: outcome.peer.clone(),
                path: hit.path.clone(),
                legacy: hit.legacy,
            };
            match rows
                .iter_mut()
                .find(|r| r.name == hit.name && r.hash == hit.hash)
            {
                Some(row) => {
                    if !row.holders.iter().any(|h| h.peer == holder.peer) {
                        row.holders.push(holder);
                    }
                    row.size = row.size.or(hit.size);
                    row.modified = row.modified.or(hit.modified);
                }
                None => rows.push(SearchRow {
                    row: 0,
                    name: hit.name,
                    path: hit.path,
                    size: hit.size,
                    hash: hit.hash,
                    modified: hit.modified,
                    holders: vec![holder],
                }),
            }
        }
    }
    // By name, then path; rows of equal name keep the order their first holders came in.
    rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.path.cmp(&b.path)));
    for (i, row) in rows.iter_mut().enumerate() {
        row.row = i + 1;
    }
    rows
}

/// One hit of one peer, before grouping.
pub(crate) struct Hit {
    pub name: String,
    pub path: String,
    size: Option<u64>,
    hash: String,
    modified: Option<u64>,
    legacy: bool,
}
