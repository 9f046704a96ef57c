//! Before a chunked download: ask every P2P/1 source for `info` at once, check each
//! claim, and keep the sources that agree with the most others.
//!
//! A chunk list is a peer's claim, not the truth (the whole-file hash is). A source
//! whose layout is impossible, or whose chunk list differs from the majority's, is
//! dropped for this download; if the majority itself lied, the whole-file check at the
//! end catches it. A source still downloading the file itself (`complete: false`)
//! agrees like any other; its `have` bitmap says which chunks it can give (DESIGN §9).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use super::error::{SourceError, SourceFailure};
use crate::client::{connect, retry, ClientError, Connection, Link, PeerAddr};
use crate::content::hash::ContentHash;
use crate::content::layout::Layout;
use crate::protocol::message::{InfoAnswer, Request};

pub struct Agreed {
    pub layout: Layout,
    pub name: String,
    pub chunks: Vec<ContentHash>,
    pub sources: Vec<AgreedSource>,
    /// The claims that lost the vote, largest first: tried in turn if every source of
    /// the winning one turns out to lie (a liar can win a tie).
    pub others: Vec<OtherClaim>,
}

/// A claim about the file that lost the vote, and the peers that made it.
pub struct OtherClaim {
    pub layout: Layout,
    pub chunks: Vec<ContentHash>,
    pub peers: Vec<PeerAddr>,
}

/// A source that agrees, with what it has when it is itself still downloading.
pub struct AgreedSource {
    pub peer: PeerAddr,
    pub conn: Connection,
    /// A partial source's verified chunks (one bit each); `None`: it has the whole file.
    pub have: Option<Vec<u8>>,
}

/// What `info` says a source has: `None` for a complete file; the bitmap of a partial
/// one, which must be exactly ceil(chunks / 8) bytes of hex.
pub fn have_of(info: &InfoAnswer, chunk_count: u64) -> Result<Option<Vec<u8>>, ()> {
    if info.is_complete() {
        return Ok(None);
    }
    let hex = info.have.as_deref().ok_or(())?;
    let bytes = chunk_count.div_ceil(8) as usize;
    if hex.len() != bytes * 2 || !hex.is_ascii() {
        return Err(());
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|t| u8::from_str_radix(t, 16).ok())
                .ok_or(())
        })
        .collect::<Result<Vec<u8>, ()>>()
        .map(Some)
}

async fn open_with_info(
    peer: &PeerAddr,
    hash: ContentHash,
    io_timeout: Duration,
) -> Result<(Connection, InfoAnswer), ClientError> {
    match connect(peer, io_timeout).await? {
        Link::P2p(mut conn) => {
            let info: InfoAnswer = conn.request(&Request::Info { sha256: hash }).await?;
            Ok((conn, info))
        }
        Link::Legacy => Err(ClientError::LegacyCannot {
            peer: peer.clone(),
            what: "look up a hash",
        }),
    }
}

/// What asking a peer again during a download found.
pub enum Asked {
    /// It has (some of) the file, with the agreed layout and chunk list.
    Joins(Box<AgreedSource>),
    /// Not now (it does not have the file yet, or could not be reached): ask later.
    NotYet,
    /// Its claim disagrees with the download's, or is impossible: never ask again.
    Never,
}

/// Asks `peer` for `info` during a download whose layout and chunk list are agreed.
pub async fn ask_again(
    peer: &PeerAddr,
    hash: ContentHash,
    layout: Layout,
    chunks: &[ContentHash],
    io_timeout: Duration,
) -> Asked {
    let (conn, info) = match open_with_info(peer, hash, io_timeout).await {
        Ok(answer) => answer,
        // A seed peer cannot describe a hash now or later.
        Err(ClientError::LegacyCannot { .. }) => return Asked::Never,
        Err(_) => return Asked::NotYet,
    };
    let same = Layout::from_claim(info.size, info.chunk_size, info.chunks.len())
        .is_ok_and(|claimed| claimed == layout)
        && info.chunks == chunks;
    if !same {
        return Asked::Never;
    }
    match have_of(&info, layout.chunk_count()) {
        Ok(have) => Asked::Joins(Box::new(AgreedSource {
            peer: peer.clone(),
            conn,
            have,
        })),
        Err(()) => Asked::Never,
    }
}

/// Asks every one of `peers` at once (`ask_again`); returns those that join.
pub async fn ask_all(
    peers: &[PeerAddr],
    hash: ContentHash,
    layout: Layout,
    chunks: &[ContentHash],
    io_timeout: Duration,
) -> Vec<AgreedSource> {
    join_all(
        peers
            .iter()
            .map(|peer| ask_again(peer, hash, layout, chunks, io_timeout)),
    )
    .await
    .into_iter()
    .filter_map(|asked| match asked {
        Asked::Joins(source) => Some(*source),
        Asked::NotYet | Asked::Never => None,
    })
    .collect()
}

/// One claim about the file, and the sources that made it.
type Claim = (Layout, InfoAnswer, Vec<AgreedSource>);

/// Asks every peer at once; returns the agreeing sources (if any) and why others fell.
pub async fn discover(
    peers: &[PeerAddr],
    hash: ContentHash,
    io_timeout: Duration,
) -> (Option<Agreed>, Vec<SourceFailure>) {
    let answers = join_all(peers.iter().map(|peer| async move {
        let answer = retry::when_busy(|| open_with_info(peer, hash, io_timeout)).await;
        (peer.clone(), answer)
    }))
    .await;
    let mut reasons = Vec::new();
    // Groups of sources making the same claim, in order of first appearance.
    let mut groups: Vec<Claim> = Vec::new();
    for (peer, answer) in answers {
        let (conn, info) = match answer {
            Ok(found) => found,
            Err(e) => {
                reasons.push(Arc::new(e.into()));
                continue;
            }
        };
        let layout = match Layout::from_claim(info.size, info.chunk_size, info.chunks.len()) {
            Ok(layout) => layout,
            Err(e) => {
                reasons.push(Arc::new(SourceError::ImpossibleInfo { peer, source: e }));
                continue;
            }
        };
        let Ok(have) = have_of(&info, layout.chunk_count()) else {
            reasons.push(Arc::new(SourceError::BadHave { peer }));
            continue;
        };
        let source = AgreedSource { peer, conn, have };
        match groups
            .iter_mut()
            .find(|(l, i, _)| *l == layout && i.chunks == info.chunks)
        {
            Some((_, _, members)) => members.push(source),
            None => groups.push((layout, info, vec![source])),
        }
    }
    // The largest group wins; on a tie, the one that answered first in peer order.
    let best = groups
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, _, members))| (members.len(), std::cmp::Reverse(*i)))
        .map(|(i, _)| i);
    let Some(best) = best else {
        return (None, reasons);
    };
    let (layout, info, sources) = groups.remove(best);
    let mut others = Vec::new();
    groups.sort_by_key(|(_, _, members)| std::cmp::Reverse(members.len()));
    for (layout, info, members) in groups {
        let mut peers = Vec::new();
        for member in members {
            reasons.push(Arc::new(SourceError::Disagrees {
                peer: member.peer.clone(),
                agreeing: sources.len(),
            }));
            peers.push(member.peer);
        }
        others.push(OtherClaim {
            layout,
            chunks: info.chunks,
            peers,
        });
    }
    (
        Some(Agreed {
            layout,
            name: info.name,
            chunks: info.chunks,
            sources,
            others,
        }),
        reasons,
    )
}
