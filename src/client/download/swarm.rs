//! The chunked download: every agreeing source at once, chunks verified as they land.
//!
//! Each source runs a worker (all of them futures of this one download, so cancelling
//! the download drops them all): it keeps a window of `read`s in flight, takes its next
//! chunk from the [`ChunkTracker`] as it finishes one (so faster sources take more),
//! and hands each chunk to the blocking pool to be hashed against the chunk list and
//! written at its offset. A source that errs, stalls or sends a bad chunk is dropped
//! and its chunks go back to the others. See `STATE.md`.

use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::tracker::{ChunkTracker, Completion, SourceId};
use super::whole::WholeHasher;
use super::{resume, Progress};
use crate::client::landing::LandingError;
use crate::client::{ClientError, Connection, PeerAddr};
use crate::protocol::hash::ContentHash;
use crate::protocol::layout::Layout;
use crate::protocol::message::Request;
use crate::runtime::{self, JoinHandle};

/// Chunks asked for ahead on one connection: enough bytes in flight to keep a fast
/// link busy while the previous chunk is hashed.
const WINDOW_CHUNKS: usize = 8;
/// Largest single `read` (the protocol's limit).
const MAX_READ: u64 = 4 * 1024 * 1024;
/// How often the resume sidecar is rewritten while bytes arrive.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Chunks of one source being hashed and written while the next is received.
const CHECKS_IN_FLIGHT: usize = 2;
/// How long an idle worker waits before looking for work again (endgame, re-queues).
const IDLE_POLL: Duration = Duration::from_millis(20);

/// What the swarm shares between its workers.
struct Shared {
    hash: ContentHash,
    layout: Layout,
    chunks: Arc<Vec<ContentHash>>,
    part: Arc<std::fs::File>,
    part_path: PathBuf,
    sidecar: PathBuf,
    tracker: Mutex<ChunkTracker>,
    whole: WholeHasher,
    last_checkpoint: Mutex<Instant>,
    disk_error: Mutex<Option<LandingError>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn checkpoint(&self, force: bool) {
        let mut last = lock(&self.last_checkpoint);
        if !force && last.elapsed() < CHECKPOINT_EVERY {
            return;
        }
        *last = Instant::now();
        let verified = lock(&self.tracker).verified_chunks();
        // A lost checkpoint only costs re-fetching a few chunks.
        let _ = resume::save(&self.sidecar, &self.hash, self.layout, &verified);
    }
}

/// Saves the sidecar however the download ends, Ctrl-C (the future dropped) included.
struct CheckpointOnDrop(Arc<Shared>);

impl Drop for CheckpointOnDrop {
    fn drop(&mut self) {
        if !lock(&self.0.tracker).is_done() {
            self.0.checkpoint(true);
        }
    }
}

pub struct SwarmOutcome {
    /// Bytes each source delivered (counted whether or not its copy was the one kept).
    pub per_source: Vec<(PeerAddr, u64)>,
    pub reasons: Vec<String>,
    /// Bytes found already verified in the `.part` at the start.
    pub resumed: u64,
    /// `Some` when every chunk is verified: the whole file's hash.
    pub whole: Option<ContentHash>,
    pub verified: u64,
}

pub enum SwarmError {
    Landing(LandingError),
}

/// Runs the chunked download into `part` (an open, locked `.part`).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    hash: ContentHash,
    layout: Layout,
    chunks: Vec<ContentHash>,
    sources: Vec<(PeerAddr, Connection)>,
    part: &crate::client::landing::PartFile,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SwarmOutcome, SwarmError> {
    let disk = |source| {
        SwarmError::Landing(LandingError::Disk {
            path: part.path.clone(),
            source,
        })
    };
    let sidecar = resume::sidecar_path(&part.path);
    let part_file = part.file.try_clone().map_err(disk)?;
    let chunks = Arc::new(chunks);

    // Resume: what the sidecar (or, without one, the `.part` itself) claims is re-hashed.
    let old_len = part_file.metadata().map_err(disk)?.len();
    let candidates = match resume::load(&sidecar, &hash, layout) {
        Some(claimed) => claimed,
        None => (0..layout.chunk_count())
            .filter(|&i| layout.chunk_range(i).end <= old_len)
            .collect(),
    };
    let already = if candidates.is_empty() {
        Vec::new()
    } else {
        let file = part_file.try_clone().map_err(disk)?;
        let list = chunks.clone();
        runtime::spawn_blocking(move || resume::verify_chunks(&file, layout, &list, candidates))
            .await
    };
    part_file.set_len(layout.size()).map_err(disk)?;

    let tracker = ChunkTracker::new(layout, &already);
    let resumed = tracker.verified_bytes();
    let whole = WholeHasher::start(part_file.try_clone().map_err(disk)?);
    whole.advance(tracker.verified_prefix_bytes());
    progress(Progress::Started {
        size: layout.size(),
        resumed,
        sources: sources.len(),
    });
    let shared = Arc::new(Shared {
        hash,
        layout,
        chunks,
        part: Arc::new(part_file),
        part_path: part.path.clone(),
        sidecar,
        tracker: Mutex::new(tracker),
        whole,
        last_checkpoint: Mutex::new(Instant::now()),
        disk_error: Mutex::new(None),
    });
    let guard = CheckpointOnDrop(shared.clone());

    let peers: Vec<PeerAddr> = sources.iter().map(|(p, _)| p.clone()).collect();
    let ends = join_all(
        sources
            .into_iter()
            .enumerate()
            .map(|(id, (peer, conn))| worker(id, peer, conn, &shared, progress)),
    )
    .await;

    if let Some(e) = lock(&shared.disk_error).take() {
        return Err(SwarmError::Landing(e));
    }
    let mut reasons = Vec::new();
    let mut per_source = Vec::new();
    for (peer, end) in peers.into_iter().zip(ends) {
        if let Some(reason) = end.failure {
            reasons.push(reason);
        }
        per_source.push((peer, end.bytes));
    }
    let (done, verified) = {
        let t = lock(&shared.tracker);
        (t.is_done(), t.verified_bytes())
    };
    drop(guard);
    let whole = if done {
        let Ok(shared) = Arc::try_unwrap(shared) else {
            // Unreachable: every worker has ended and the guard is gone.
            return Err(disk(std::io::Error::other("download state still in use")));
        };
        shared.whole.finish(layout.size()).map_err(disk)?
    } else {
        None
    };
    Ok(SwarmOutcome {
        per_source,
        reasons,
        resumed,
        whole,
        verified,
    })
}

struct WorkerEnd {
    bytes: u64,
    failure: Option<String>,
}

enum Verdict {
    Good,
    Bad,
    Disk(std::io::Error),
}

async fn worker(
    id: SourceId,
    peer: PeerAddr,
    mut conn: Connection,
    shared: &Arc<Shared>,
    progress: &(dyn Fn(Progress) + Sync),
) -> WorkerEnd {
    let mut bytes = 0u64;
    let failure = match fetch_loop(id, &mut conn, shared, progress, &mut bytes).await {
        Ok(()) => None,
        Err(reason) => {
            lock(&shared.tracker).drop_source(id);
            progress(Progress::Dropped {
                peer: peer.to_string(),
                reason: reason.clone(),
            });
            Some(reason)
        }
    };
    WorkerEnd { bytes, failure }
}

async fn fetch_loop(
    id: SourceId,
    conn: &mut Connection,
    shared: &Arc<Shared>,
    progress: &(dyn Fn(Progress) + Sync),
    bytes: &mut u64,
) -> Result<(), String> {
    let mut checks = Checks {
        pending: VecDeque::new(),
        spare: Vec::new(),
        peer: conn.peer().to_string(),
    };
    let outcome = receive_loop(id, conn, shared, bytes, &mut checks, progress).await;
    // Chunks already received are settled whatever happens next: their bytes count.
    let settled = checks.settle_all(shared, progress).await;
    outcome.and(settled)
}

/// Chunks received from one source and being hashed and written on the blocking pool,
/// oldest first, so that the next chunk is received while the last ones are checked.
/// A chunk's buffer back, and what its check found.
type Checked = (Vec<u8>, Verdict);

struct Checks {
    pending: VecDeque<(u64, JoinHandle<Checked>)>,
    spare: Vec<Vec<u8>>,
    peer: String,
}

impl Checks {
    fn start(&mut self, shared: &Arc<Shared>, index: u64, chunk: Vec<u8>) {
        let expected = shared.chunks[index as usize];
        let offset = shared.layout.chunk_range(index).start;
        let part = shared.part.clone();
        let task = runtime::spawn_blocking_task(move || {
            if ContentHash::of(&chunk) != expected {
                return (chunk, Verdict::Bad);
            }
            match part.write_all_at(&chunk, offset) {
                Ok(()) => (chunk, Verdict::Good),
                Err(e) => (chunk, Verdict::Disk(e)),
            }
        });
        self.pending.push_back((index, task));
    }

    /// A buffer for the next chunk, reused from a settled one when there is one.
    fn buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Waits for the oldest check and records its outcome.
    async fn settle_one(
        &mut self,
        shared: &Arc<Shared>,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(), String> {
        let Some((index, task)) = self.pending.pop_front() else {
            return Ok(());
        };
        let (chunk, verdict) = task.await;
        self.spare.push(chunk);
        match verdict {
            Verdict::Good => {}
            Verdict::Bad => {
                return Err(format!(
                    "{}: sent bytes that do not match chunk {index}; dropped",
                    self.peer
                ))
            }
            Verdict::Disk(source) => {
                lock(&shared.tracker).abort();
                *lock(&shared.disk_error) = Some(LandingError::Disk {
                    path: shared.part_path.clone(),
                    source,
                });
                return Ok(());
            }
        }
        let (completion, prefix, verified) = {
            let mut t = lock(&shared.tracker);
            let c = t.complete(index);
            (c, t.verified_prefix_bytes(), t.verified_bytes())
        };
        if completion == Completion::Fresh {
            shared.whole.advance(prefix);
            progress(Progress::Verified { bytes: verified });
            shared.checkpoint(false);
        }
        Ok(())
    }

    async fn settle_all(
        &mut self,
        shared: &Arc<Shared>,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(), String> {
        let mut first_error = Ok(());
        while !self.pending.is_empty() {
            let outcome = self.settle_one(shared, progress).await;
            if first_error.is_ok() {
                first_error = outcome;
            }
        }
        first_error
    }
}

async fn receive_loop(
    id: SourceId,
    conn: &mut Connection,
    shared: &Arc<Shared>,
    bytes: &mut u64,
    checks: &mut Checks,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(), String> {
    let layout = shared.layout;
    let mut asked: VecDeque<u64> = VecDeque::new();
    let mut piece: Vec<u8> = Vec::new();
    loop {
        while asked.len() < WINDOW_CHUNKS {
            let Some(index) = lock(&shared.tracker).next_for(id, Instant::now()) else {
                break;
            };
            let range = layout.chunk_range(index);
            let mut offset = range.start;
            while offset < range.end {
                let len = MAX_READ.min(range.end - offset);
                conn.send(&Request::Read {
                    sha256: shared.hash,
                    offset,
                    len,
                })
                .await
                .map_err(|e| e.to_string())?;
                offset += len;
            }
            asked.push_back(index);
        }
        let Some(&index) = asked.front() else {
            if !checks.pending.is_empty() {
                checks.settle_one(shared, progress).await?;
                continue;
            }
            if !lock(&shared.tracker).has_work() {
                return Ok(());
            }
            runtime::sleep(IDLE_POLL).await;
            continue;
        };

        let range = layout.chunk_range(index);
        let want = (range.end - range.start) as usize;
        let mut buf = checks.buffer();
        // Once every chunk is verified (another source won the endgame), stop at once
        // rather than wait for duplicates still on their way from a slow source.
        let receiving = async {
            receive_chunk(conn, want, &mut buf, &mut piece, bytes)
                .await
                .map(Some)
        };
        let finished_elsewhere = async {
            loop {
                runtime::sleep(IDLE_POLL).await;
                if !lock(&shared.tracker).has_work() {
                    return Ok(None);
                }
            }
        };
        if futures_lite::future::or(receiving, finished_elsewhere)
            .await?
            .is_none()
        {
            return Ok(());
        }
        asked.pop_front();
        checks.start(shared, index, buf);
        while checks.pending.len() > CHECKS_IN_FLIGHT {
            checks.settle_one(shared, progress).await?;
        }
        // The workers share one thread: a source whose socket always has bytes ready
        // would otherwise never give the others a turn (and take every chunk).
        futures_lite::future::yield_now().await;
    }
}

/// Reads one chunk of `want` bytes (one or more data frames) into `buf`.
async fn receive_chunk(
    conn: &mut Connection,
    want: usize,
    buf: &mut Vec<u8>,
    piece: &mut Vec<u8>,
    bytes: &mut u64,
) -> Result<(), String> {
    let peer = conn.peer().to_string();
    buf.clear();
    while buf.len() < want {
        let expect = MAX_READ.min((want - buf.len()) as u64) as usize;
        let target = if buf.is_empty() {
            &mut *buf
        } else {
            &mut *piece
        };
        conn.recv_data(target)
            .await
            .map_err(|e: ClientError| e.to_string())?;
        let got = target.len();
        if got != expect {
            return Err(format!("{peer}: asked for {expect} bytes, got {got}"));
        }
        if !piece.is_empty() {
            buf.extend_from_slice(piece);
            piece.clear();
        }
        *bytes += got as u64;
    }
    Ok(())
}
