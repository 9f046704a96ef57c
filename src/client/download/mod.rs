//! Downloading one content hash: from every agreeing P2P/1 source at once in verified
//! chunks ([`swarm`]), or from a seed peer as one whole-file stream ([`sequential`]).
//!
//! Whatever the path, the rule is the same: bytes land in a locked hidden `.part` beside
//! the destination, and the file gets its final name only once the whole file's SHA-256
//! equals the hash asked for. A failed or cancelled download keeps its `.part` (and the
//! sidecar saying which chunks are verified) for the next `get` of the same hash.

mod checks;
mod discover;
mod error;
mod pace;
mod recruit;
mod resume;
mod sequential;
mod shared;
mod source;
mod swarm;
mod tracker;
mod whole;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::sync::Arc;

pub use error::{DownloadError, SourceError, SourceFailure};
pub use swarm::MAX_SOURCES;

use super::landing::{Destination, PartFile};
use super::PeerAddr;
use crate::content::hash::ContentHash;
use crate::protocol::name::sanitize;

#[derive(Debug, Clone)]
pub struct Source {
    pub peer: PeerAddr,
    /// A seed peer, and the hash string it gave for the file.
    pub legacy_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Target {
    /// The download folder: the file lands under its own (sanitized) name.
    Folder(PathBuf),
    /// `--to PATH`: an existing folder receives the file under its own name; anything
    /// else is the file to write.
    Path(PathBuf),
}

#[derive(Debug, Clone)]
pub struct DownloadPlan {
    pub hash: ContentHash,
    /// The name to give the file if no peer's `info` does better.
    pub name: Option<String>,
    pub size: Option<u64>,
    pub sources: Vec<Source>,
    /// Other peers that may get the file while this download runs (a swarm starting
    /// at once): asked again now and then, they join as sources if they do.
    pub others: Vec<PeerAddr>,
    pub target: Target,
    /// A source that sends nothing for this long is dropped.
    pub stall_timeout: Duration,
    /// Where to share the download as it arrives (DESIGN §9); `None`: not shared.
    pub partials: Option<Arc<crate::index::Partials>>,
}

/// Progress of a running download, as events (the shell draws a bar from them).
#[derive(Debug, Clone)]
pub enum Progress {
    Started {
        size: u64,
        resumed: u64,
        sources: usize,
    },
    Verified {
        bytes: u64,
    },
    Dropped {
        peer: PeerAddr,
        reason: SourceFailure,
    },
    /// A peer asked again during the download became a source (a swarm finding itself).
    Joined {
        peer: PeerAddr,
    },
    /// A partial source had nothing new for a while: let go, to be asked again later.
    Left {
        peer: PeerAddr,
    },
}

#[derive(Debug, Clone)]
pub struct Downloaded {
    pub path: PathBuf,
    pub hash: ContentHash,
    pub size: u64,
    /// Bytes that came over the network this time (less than `size` after a resume).
    pub fetched: u64,
    /// Bytes found verified in an earlier `.part`.
    pub resumed: u64,
    /// Each source used and the bytes it delivered.
    pub sources: Vec<(PeerAddr, u64)>,
    /// Sources dropped on the way, and why.
    pub dropped: Vec<SourceFailure>,
    pub already_present: bool,
    pub elapsed: Duration,
    /// The registration that shared it while it arrived; dropping it ends that.
    pub partial: Option<Arc<crate::index::PartialShare>>,
}

fn destination_for(target: &Target, name: String) -> Destination {
    match target {
        Target::Folder(dir) => Destination::Folder {
            dir: dir.clone(),
            name,
        },
        Target::Path(path) if path.is_dir() => Destination::Folder {
            dir: path.clone(),
            name,
        },
        Target::Path(path) => Destination::File(path.clone()),
    }
}

/// What an unfinished download of `hash` into `target` keeps for the next `get`: the
/// verified bytes its resume sidecar names, and the file's size. `None` when nothing is
/// kept (or the sidecar is unreadable: it is a hint, re-verified on resume anyway).
pub fn kept_for_resume(target: &Target, hash: &ContentHash) -> Option<(u64, u64)> {
    let dir = destination_for(target, String::new()).dir();
    let part = super::landing::part_path(&dir, hash);
    if !part.exists() {
        return None;
    }
    resume::kept(&resume::sidecar_path(&part), hash)
}

fn peer_list<'a>(peers: impl Iterator<Item = &'a PeerAddr>) -> String {
    peers.map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
}

/// Runs one download to the end (or until the future is dropped: Ctrl-C).
pub async fn download(
    plan: DownloadPlan,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Downloaded, DownloadError> {
    let started = Instant::now();
    if plan.sources.is_empty() {
        return Err(DownloadError::NoSource(plan.hash));
    }
    let p2p: Vec<PeerAddr> = plan
        .sources
        .iter()
        .filter(|s| s.legacy_hash.is_none())
        .map(|s| s.peer.clone())
        .collect();
    let (agreed, mut reasons) = if p2p.is_empty() {
        (None, Vec::new())
    } else {
        discover::discover(&p2p, plan.hash, plan.stall_timeout).await
    };

    let size = agreed.as_ref().map(|a| a.layout.size()).or(plan.size);
    let raw_name = plan
        .name
        .clone()
        .or_else(|| agreed.as_ref().map(|a| a.name.clone()))
        .unwrap_or_default();
    let destination = destination_for(&plan.target, sanitize(&raw_name, &plan.hash));
    let finished = |path, size, fetched, resumed, sources, dropped, already_present| Downloaded {
        path,
        hash: plan.hash,
        size,
        fetched,
        resumed,
        sources,
        dropped,
        already_present,
        elapsed: started.elapsed(),
        partial: None,
    };
    if let Some(path) = destination.already_present(&plan.hash, size)? {
        let on_disk = std::fs::metadata(&path).map_or(0, |m| m.len());
        return Ok(finished(path, on_disk, 0, 0, Vec::new(), reasons, true));
    }

    if let Some(agreed) = agreed {
        let part = PartFile::open(&destination.dir(), &plan.hash)?;
        let mut layout = agreed.layout;
        let mut chunks = agreed.chunks;
        let mut sources = agreed.sources;
        // Some peer claimed another chunk list: every chunk is checked on arrival, so a
        // liar that won the vote is found out by its own chunks (not only by luck of the
        // spot checks), and the next claim is tried.
        let disputed = !agreed.others.is_empty();
        let mut other_claims = agreed.others.into_iter();
        let outcome = loop {
            // Everyone asked who is not a source now may become one.
            let mut others: Vec<PeerAddr> = Vec::new();
            for peer in p2p.iter().chain(&plan.others) {
                if !sources.iter().any(|s| s.peer == *peer) && !others.contains(peer) {
                    others.push(peer.clone());
                }
            }
            let share = plan
                .partials
                .clone()
                .map(|partials| swarm::ShareAsItArrives {
                    partials,
                    name: sanitize(&raw_name, &plan.hash),
                });
            let outcome = match swarm::run(
                plan.hash,
                layout,
                chunks.clone(),
                sources,
                others,
                &part,
                share,
                plan.stall_timeout,
                match disputed {
                    false => swarm::Claims::Agreed,
                    true => swarm::Claims::Disputed {
                        more: other_claims.len() > 0,
                    },
                },
                progress,
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(swarm::SwarmError::Landing(e)) => return Err(e.into()),
            };
            // Every source of the claim that won the vote failed, and some of them sent
            // what their own chunk list does not match (a liar can win a tie): the next
            // claim's peers are asked, on fresh connections, with their chunk list. The
            // `.part` stays; the next run re-hashes what it holds against that list.
            let lied =
                outcome.whole.is_none() && outcome.reasons.iter().any(|r| r.liar().is_some());
            if !lied {
                break outcome;
            }
            let mut next = None;
            for claim in other_claims.by_ref() {
                let joined = discover::ask_all(
                    &claim.peers,
                    plan.hash,
                    claim.layout,
                    &claim.chunks,
                    plan.stall_timeout,
                )
                .await;
                if !joined.is_empty() {
                    next = Some((claim, joined));
                    break;
                }
            }
            let Some((claim, joined)) = next else {
                break outcome;
            };
            // They are sources now, not peers that disagree.
            reasons.retain(|r| {
                !matches!(&**r, SourceError::Disagrees { peer, .. } if claim.peers.contains(peer))
            });
            reasons.extend(outcome.reasons.iter().cloned());
            layout = claim.layout;
            chunks = claim.chunks;
            sources = joined;
        };
        reasons.extend(outcome.reasons.iter().cloned());
        let used: Vec<(PeerAddr, u64)> = outcome.per_source.clone();
        match outcome.whole {
            Some(hash) if hash == plan.hash => {
                resume::remove(&resume::sidecar_path(&part.path));
                let path = part.finish(&destination)?;
                // Still shared under the final name until the caller has it in the
                // catalog (then it drops the registration).
                if let Some(partial) = &outcome.partial {
                    partial.file().moved_to(path.clone());
                }
                let fetched = used.iter().map(|(_, b)| b).sum();
                Ok(Downloaded {
                    partial: outcome.partial.map(Arc::new),
                    ..finished(
                        path,
                        layout.size(),
                        fetched,
                        outcome.resumed,
                        used,
                        reasons,
                        false,
                    )
                })
            }
            Some(_) => {
                resume::remove(&resume::sidecar_path(&part.path));
                part.discard();
                Err(DownloadError::Mismatch {
                    hash: plan.hash,
                    peers: peer_list(used.iter().map(|(p, _)| p)),
                })
            }
            None => {
                // A `.part` kept empty for a claim that then could not be tried goes
                // too: nothing verified, nothing left behind.
                if outcome.verified == 0 && layout.size() > 0 {
                    resume::remove(&resume::sidecar_path(&part.path));
                    part.discard();
                }
                Err(DownloadError::SourcesFailed {
                    done: outcome.verified,
                    size: layout.size(),
                    reasons,
                })
            }
        }
    } else {
        let legacy: Vec<&Source> = plan
            .sources
            .iter()
            .filter(|s| s.legacy_hash.is_some())
            .collect();
        if legacy.is_empty() {
            return Err(DownloadError::SourcesFailed {
                done: 0,
                size: size.unwrap_or(0),
                reasons,
            });
        }
        let part = PartFile::open(&destination.dir(), &plan.hash)?;
        for source in legacy {
            let legacy_hash = source.legacy_hash.as_deref().unwrap_or_default();
            match sequential::fetch_legacy(&source.peer, legacy_hash, &part, progress).await {
                Ok((fetched, hash)) if hash == plan.hash => {
                    let path = part.finish(&destination)?;
                    // A seed peer names no size up front: it is what arrived.
                    return Ok(finished(
                        path,
                        fetched,
                        fetched,
                        0,
                        vec![(source.peer.clone(), fetched)],
                        reasons,
                        false,
                    ));
                }
                Ok(_) => reasons.push(Arc::new(SourceError::WrongContent {
                    peer: source.peer.clone(),
                })),
                Err(sequential::SequentialError::Peer(e)) => reasons.push(Arc::new(e.into())),
                Err(sequential::SequentialError::Landing(e)) => return Err(e.into()),
            }
        }
        part.discard();
        Err(DownloadError::SourcesFailed {
            done: 0,
            size: size.unwrap_or(0),
            reasons,
        })
    }
}
