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
