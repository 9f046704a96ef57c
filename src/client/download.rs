//! Downloading one content hash into its destination.
//!
//! Single source at a time, in order of preference: P2P/1 sources with pipelined
//! `read`s (several in flight, so the link stays full), seed sources as one whole-file
//! stream. Bytes are appended to the `.part`, hashed as they land, and the file takes
//! its final name only when the whole-file SHA-256 matches. A source that fails hands
//! over to the next at the offset reached; a `.part` left by an earlier attempt is
//! re-hashed and continued, not fetched again.

use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::landing::{Destination, LandingError, PartFile};
use super::{connect, legacy, ClientError, Connection, Link, PeerAddr, STALL_TIMEOUT};
use crate::protocol::hash::ContentHash;
use crate::protocol::message::{InfoAnswer, Request};
use crate::protocol::name::sanitize;

/// Bytes asked for by one `read`.
const READ_BLOCK: u64 = 1024 * 1024;
/// `read`s in flight on one connection.
const READ_WINDOW: usize = 8;

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
    pub target: Target,
}

#[derive(Debug, Clone)]
pub struct Downloaded {
    pub path: PathBuf,
    pub hash: ContentHash,
    pub size: u64,
    /// Bytes that came over the network this time (less than `size` after a resume).
    pub fetched: u64,
    pub sources: Vec<PeerAddr>,
    pub already_present: bool,
    pub elapsed: Duration,
}

#[derive(Debug, Error)]
pub enum DownloadError {
    #[error("no peer has {0}")]
    NoSource(ContentHash),
    #[error("every source failed ({done} of {size} bytes kept for a later get): {reasons}")]
    SourcesFailed {
        done: u64,
        size: u64,
        reasons: String,
    },
    #[error("content from {peers} does not match sha256 {hash}; partial data discarded")]
    Mismatch { hash: ContentHash, peers: String },
    #[error(transparent)]
    Landing(#[from] LandingError),
}

/// Runs one download to the end.
pub async fn download(plan: DownloadPlan) -> Result<Downloaded, DownloadError> {
    let started = Instant::now();
    if plan.sources.is_empty() {
        return Err(DownloadError::NoSource(plan.hash));
    }
    let mut reasons = Vec::new();

    // Ask P2P/1 sources for the file's size and name until one answers.
    let mut info: Option<InfoAnswer> = None;
    let mut live: Vec<(Source, Option<Connection>)> = Vec::new();
    for source in &plan.sources {
        if source.legacy_hash.is_some() {
            live.push((source.clone(), None));
            continue;
        }
        match open_with_info(&source.peer, plan.hash).await {
            Ok((conn, answer)) => {
                info.get_or_insert(answer);
                live.push((source.clone(), Some(conn)));
            }
            Err(e) => reasons.push(e.to_string()),
        }
    }
    if live.is_empty() {
        return Err(DownloadError::SourcesFailed {
            done: 0,
            size: plan.size.unwrap_or(0),
            reasons: reasons.join("; "),
        });
    }
    let size = info.as_ref().map(|i| i.size).or(plan.size);
    let raw_name = plan
        .name
        .clone()
        .or_else(|| info.as_ref().map(|i| i.name.clone()))
        .unwrap_or_default();
    let name = sanitize(&raw_name, &plan.hash);
    let destination = match &plan.target {
        Target::Folder(dir) => Destination::Folder {
            dir: dir.clone(),
            name,
        },
        Target::Path(path) if path.is_dir() => Destination::Folder {
            dir: path.clone(),
            name,
        },
        Target::Path(path) => Destination::File(path.clone()),
    };

    if let Some(path) = destination.already_present(&plan.hash, size)? {
        return Ok(Downloaded {
            size: size.unwrap_or(0),
            path,
            hash: plan.hash,
            fetched: 0,
            sources: Vec::new(),
            already_present: true,
            elapsed: started.elapsed(),
        });
    }

    let part = PartFile::open(&destination.dir(), &plan.hash)?;
    let mut landed = Landed::resume(&part, size)?;
    let mut used = Vec::new();
    for (source, conn) in live {
        if size.is_some_and(|s| landed.offset >= s) {
            break;
        }
        let outcome = match (conn, &source.legacy_hash) {
            (Some(mut conn), _) => {
                let total = size.unwrap_or(0);
                fetch_p2p(&mut conn, plan.hash, total, &mut landed, &part).await
            }
            (None, Some(legacy_hash)) => {
                // The seed protocol can only send a whole file: start it over.
                landed.restart(&part)?;
                fetch_legacy(&source.peer, legacy_hash, &mut landed, &part).await
            }
            (None, None) => continue,
        };
        used.push(source.peer.clone());
        match outcome {
            Ok(()) => {
                if size.is_none() || size.is_some_and(|s| landed.offset >= s) {
                    break;
                }
            }
            Err(FetchError::Peer(e)) => reasons.push(e.to_string()),
            Err(FetchError::Landing(e)) => return Err(e.into()),
        }
    }
    // An empty file (or one already whole in the `.part`) needs no read: the peer whose
    // `info` described it is its source.
    if used.is_empty() && size.is_some_and(|s| landed.offset >= s) {
        used.extend(
            plan.sources
                .iter()
                .find(|s| s.legacy_hash.is_none())
                .map(|s| s.peer.clone()),
        );
    }
    let total = size.unwrap_or(landed.offset);
    if landed.offset < total || (size.is_none() && used.is_empty()) {
        return Err(DownloadError::SourcesFailed {
            done: landed.offset,
            size: total,
            reasons: reasons.join("; "),
        });
    }
    if landed.offset > total {
        part.discard();
        return Err(DownloadError::Mismatch {
            hash: plan.hash,
            peers: peer_list(&used),
        });
    }
    if ContentHash::from_hasher(landed.hasher) != plan.hash {
        part.discard();
        return Err(DownloadError::Mismatch {
            hash: plan.hash,
            peers: peer_list(&used),
        });
    }
    let path = part.finish(&destination)?;
    Ok(Downloaded {
        path,
        hash: plan.hash,
        size: total,
        fetched: landed.fetched,
        sources: used,
        already_present: false,
        elapsed: started.elapsed(),
    })
}

fn peer_list(peers: &[PeerAddr]) -> String {
    peers
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn open_with_info(
    peer: &PeerAddr,
    hash: ContentHash,
) -> Result<(Connection, InfoAnswer), ClientError> {
    match connect(peer, STALL_TIMEOUT).await? {
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

/// The verified-so-far state of the `.part`: how far it reaches and the running hash.
struct Landed {
    offset: u64,
    fetched: u64,
    hasher: Sha256,
}

enum FetchError {
    Peer(ClientError),
    Landing(LandingError),
}

impl From<ClientError> for FetchError {
    fn from(e: ClientError) -> FetchError {
        FetchError::Peer(e)
    }
}

impl Landed {
    /// Continues an existing `.part`: its bytes are hashed again (the final check covers
    /// them too), unless it is longer than the file can be.
    fn resume(part: &PartFile, size: Option<u64>) -> Result<Landed, LandingError> {
        let mut len = part.byte_len()?;
        if size.is_none_or(|s| len > s) {
            part.truncate(0)?;
            len = 0;
        }
        let mut hasher = Sha256::new();
        if len > 0 {
            crate::index::hasher::update_from_file(&mut hasher, &part.file, 0..len).map_err(
                |source| LandingError::Disk {
                    path: part.path.clone(),
                    source,
                },
            )?;
        }
        Ok(Landed {
            offset: len,
            fetched: 0,
            hasher,
        })
    }

    fn restart(&mut self, part: &PartFile) -> Result<(), LandingError> {
        part.truncate(0)?;
        self.offset = 0;
        self.hasher = Sha256::new();
        Ok(())
    }

    fn append(&mut self, part: &PartFile, bytes: &[u8]) -> Result<(), LandingError> {
        let disk = |source| LandingError::Disk {
            path: part.path.clone(),
            source,
        };
        let mut file = &part.file;
        file.seek(SeekFrom::Start(self.offset)).map_err(disk)?;
        file.write_all(bytes).map_err(disk)?;
        self.hasher.update(bytes);
        self.offset += bytes.len() as u64;
        self.fetched += bytes.len() as u64;
        Ok(())
    }
}

/// Pulls `[landed.offset, size)` with up to [`READ_WINDOW`] reads in flight.
async fn fetch_p2p(
    conn: &mut Connection,
    hash: ContentHash,
    size: u64,
    landed: &mut Landed,
    part: &PartFile,
) -> Result<(), FetchError> {
    let mut next_ask = landed.offset;
    let mut asked = std::collections::VecDeque::new();
    let mut buf = Vec::with_capacity(READ_BLOCK as usize);
    loop {
        while asked.len() < READ_WINDOW && next_ask < size {
            let len = READ_BLOCK.min(size - next_ask);
            conn.send(&Request::Read {
                sha256: hash,
                offset: next_ask,
                len,
            })
            .await?;
            asked.push_back(len);
            next_ask += len;
        }
        let Some(want) = asked.pop_front() else {
            return Ok(());
        };
        conn.recv_data(&mut buf).await?;
        if buf.len() as u64 != want {
            return Err(FetchError::Peer(ClientError::Protocol {
                peer: conn.peer().clone(),
                message: format!("asked for {want} bytes, got {}", buf.len()),
            }));
        }
        landed.append(part, &buf).map_err(FetchError::Landing)?;
    }
}

async fn fetch_legacy(
    peer: &PeerAddr,
    legacy_hash: &str,
    landed: &mut Landed,
    part: &PartFile,
) -> Result<(), FetchError> {
    let mut disk_error = None;
    let result = legacy::download(peer, legacy_hash, |bytes| {
        landed.append(part, bytes).map_err(|e| {
            let message = e.to_string();
            disk_error = Some(e);
            std::io::Error::other(message)
        })
    })
    .await;
    if let Some(e) = disk_error {
        return Err(FetchError::Landing(e));
    }
    result?;
    Ok(())
}
