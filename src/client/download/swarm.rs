//! The chunked download: every agreeing source at once, chunks verified as they land.
//!
//! Each source runs a worker (all of them futures of this one download, so cancelling
//! the download drops them all): it keeps a window of `read`s in flight, takes its next
//! chunk from the [`ChunkTracker`] as it finishes one (so faster sources take more),
//! and hands each chunk to the blocking pool to be hashed against the chunk list and
//! written at its offset. A source that errs, stalls or sends a bad chunk is dropped
//! and its chunks go back to the others. A source that answers `busy` (its upload slots
//! all taken) is not failing: it lets go of its chunks, waits a growing pause and asks
//! again, for as long as it takes, while the others go on. See `STATE.md`.
//!
//! One hash pass (issue 16): while nobody has asked for this download's `info`, most
//! chunks are written without their own hash being checked; the whole-file SHA-256
//! (which must see every byte anyway) decides. The first chunk and a random one in
//! [`SPOT_CHECK_ONE_IN`] are still checked, so a source sending garbage is caught and
//! dropped at once, not after the whole file; so is every chunk in the endgame (two
//! sources may write one chunk then). If the whole-file hash fails, the unchecked chunks
//! are hashed after all (every chunk, if those all match): the bad ones are needed
//! again, their sources dropped, and the other peers fetch them in a new round (at most
//! [`REFETCH_ROUNDS`]). Once a peer asks for this file's `info` (it is about to be
//! shared), every chunk is checked as it lands, so nothing unchecked is ever served.

use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::future::{join_all, Either};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::discover::{ask_again, have_of, AgreedSource, Asked};
use super::error::{SourceError, SourceFailure};
use super::pace::Pace;
use super::recruit::{Recruiter, Wanted};
use super::tracker::{ChunkTracker, Completion, SourceId};
use super::whole::WholeHasher;
use super::{resume, Progress};
use crate::client::landing::LandingError;
use crate::client::retry::BusyBackoff;
use crate::client::{ClientError, Connection, PeerAddr};
use crate::content::hash::ContentHash;
use crate::content::{ChunkIndex, Layout};
use crate::index::{PartialShare, Partials};
use crate::protocol::message::{ErrorCode, InfoAnswer, Request};
use crate::runtime::{self, JoinHandle};

/// The largest `read` the engine asks for. Chunks larger than this (files over ~15 GiB,
/// or a peer claiming such a size) arrive as several pieces, so that a source never
/// costs more than about `(CHECKS_IN_FLIGHT + 2) × PIECE` of memory (DESIGN §4).
const PIECE: u64 = crate::content::layout::BASE_CHUNK_SIZE;
/// How often the resume sidecar is rewritten while bytes arrive.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Pieces of one source being hashed and written while the next is received.
const CHECKS_IN_FLIGHT: usize = 2;
/// How long an idle worker waits before looking for work again (endgame, re-queues).
const IDLE_POLL: Duration = Duration::from_millis(20);
/// Most sources of one download at once (DESIGN §6): more add connections, not speed.
pub const MAX_SOURCES: usize = 16;
/// How often a partial source is asked what it has (its `info` again).
const REFRESH_HAVE: Duration = Duration::from_secs(1);
/// Under one hash pass, about one chunk in this many is still checked on its own (which
/// ones is random per download, so a liar cannot aim around them).
const SPOT_CHECK_ONE_IN: u64 = 16;
/// How many times the chunks a failed whole-file hash found bad are fetched again from
/// the other peers before the download gives up.
const REFETCH_ROUNDS: u32 = 2;
/// How often a source pausing after `busy` looks whether the download ended meanwhile.
const BUSY_POLL: Duration = Duration::from_millis(100);

/// What the swarm shares between its workers.
struct Shared {
    hash: ContentHash,
    layout: Layout,
    chunks: Arc<Vec<ContentHash>>,
    part: Arc<std::fs::File>,
    part_path: PathBuf,
    sidecar: PathBuf,
    tracker: Mutex<ChunkTracker>,
    whole: Mutex<WholeHasher>,
    /// Held while writing to `part` (see [`Shared::write_at`]).
    writing: Mutex<()>,
    last_checkpoint: Mutex<Instant>,
    disk_error: Mutex<Option<LandingError>>,
    /// This download shared as it arrives (DESIGN §9): each verified chunk is marked.
    partial: Option<PartialShare>,
    /// How long a partial source may have nothing new before it is dropped.
    stall_timeout: Duration,
    /// Picks the chunks spot-checked under one hash pass (its keys are random).
    spot_checks: std::collections::hash_map::RandomState,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Writes `data` at `offset` of the `.part`, one write at a time: the kernel takes
    /// the file's lock for each buffered write anyway, and several sources' checks
    /// writing at once spun on it (`rwsem_spin_on_owner`, 5 % of the client's time
    /// with three sources); waiting here sleeps instead.
    fn write_at(&self, data: &[u8], offset: u64) -> std::io::Result<()> {
        let _one_at_a_time = lock(&self.writing);
        self.part.write_all_at(data, offset)
    }

    /// Whether some peer asked for this download's `info`: it is being shared.
    fn is_asked(&self) -> bool {
        self.partial
            .as_ref()
            .is_some_and(|partial| partial.file().was_asked())
    }

    /// Whether chunk `index`, starting now, has its own hash checked as it lands.
    fn check_chunk(&self, index: ChunkIndex) -> bool {
        use std::hash::BuildHasher;
        index.get() == 0
            || self
                .spot_checks
                .hash_one(index.get())
                .is_multiple_of(SPOT_CHECK_ONE_IN)
            || self.is_asked()
            || lock(&self.tracker).nothing_needed()
    }

    /// Chunk `index` is written whole by `source`, its hash unchecked: it counts as done
    /// (and towards the whole-file hash), but is not shared.
    fn record_unchecked(&self, index: ChunkIndex, source: SourceId) {
        let (completion, prefix) = {
            let mut t = lock(&self.tracker);
            (
                t.complete_unchecked(index, source),
                t.verified_prefix_bytes(),
            )
        };
        if completion == Completion::Fresh {
            lock(&self.whole).advance(prefix);
            self.checkpoint(false);
        }
    }

    /// Chunk `index` matched its hash and is written: it counts from this moment, on
    /// the thread that checked it, so that a download cancelled while the source's
    /// next chunks are still arriving keeps it (the sidecar saved on drop says so).
    fn record_verified(&self, index: ChunkIndex) {
        let (completion, prefix) = {
            let mut t = lock(&self.tracker);
            (t.complete(index), t.verified_prefix_bytes())
        };
        if completion == Completion::Fresh {
            if let Some(partial) = &self.partial {
                partial.file().mark(index);
            }
            lock(&self.whole).advance(prefix);
            self.checkpoint(false);
        }
    }

    fn checkpoint(&self, force: bool) {
        let mut last = lock(&self.last_checkpoint);
        if !force && last.elapsed() < CHECKPOINT_EVERY {
            return;
        }
        *last = Instant::now();
        let verified = lock(&self.tracker).written_chunks();
        // A lost checkpoint only costs re-fetching a few chunks.
        let _ = resume::save(&self.sidecar, &self.hash, self.layout, &verified);
    }
}

/// Saves the sidecar however the download ends, Ctrl-C (the future dropped) included.
/// A download that ends with nothing verified leaves nothing behind: a sparse `.part`
/// of the whole size and its sidecar would only mislead.
struct CheckpointOnDrop(Arc<Shared>);

impl Drop for CheckpointOnDrop {
    fn drop(&mut self) {
        let (done, verified) = {
            let t = lock(&self.0.tracker);
            (t.is_done(), t.verified_bytes())
        };
        if done {
            return;
        }
        if verified == 0 && self.0.layout.size() > 0 {
            resume::remove(&self.0.sidecar);
            let _ = std::fs::remove_file(&self.0.part_path);
            return;
        }
        self.0.checkpoint(true);
    }
}

pub struct SwarmOutcome {
    /// Bytes each source delivered (counted whether or not its copy was the one kept).
    pub per_source: Vec<(PeerAddr, u64)>,
    pub reasons: Vec<SourceFailure>,
    /// Bytes found already verified in the `.part` at the start.
    pub resumed: u64,
    /// `Some` when every chunk is verified: the whole file's hash.
    pub whole: Option<ContentHash>,
    pub verified: u64,
    /// The registration that shares this download while it runs, to be ended by whoever
    /// has put the finished file in the catalog.
    pub partial: Option<PartialShare>,
}

/// Sharing a download as it arrives: where partial files are registered, under what name.
pub struct ShareAsItArrives {
    pub partials: Arc<Partials>,
    pub name: String,
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
    sources: Vec<AgreedSource>,
    others: Vec<PeerAddr>,
    part: &crate::client::landing::PartFile,
    share: Option<ShareAsItArrives>,
    stall_timeout: Duration,
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
        None => layout
            .chunks()
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
    // Room for the rest first: a peer may claim any size, and the bytes of a large chunk
    // are written before its hash is known.
    let allocated = {
        use std::os::unix::fs::MetadataExt;
        part_file.metadata().map_or(0, |m| m.blocks() * 512)
    };
    let needed = layout.size().saturating_sub(allocated);
    let dir = part.path.parent().unwrap_or(std::path::Path::new("."));
    if let Some(free) = crate::client::landing::free_space(dir).filter(|&free| free < needed) {
        if already.is_empty() {
            resume::remove(&sidecar);
            let _ = std::fs::remove_file(&part.path);
        }
        return Err(SwarmError::Landing(LandingError::NoSpace {
            dir: dir.to_path_buf(),
            needed,
            free,
        }));
    }
    if let Err(e) = part_file.set_len(layout.size()) {
        // A size this file system cannot hold (a peer claiming petabytes, a full disk):
        // nothing of this download is kept, so nothing is left behind.
        if already.is_empty() {
            resume::remove(&sidecar);
            let _ = std::fs::remove_file(&part.path);
        }
        return Err(disk(e));
    }

    let mut tracker = ChunkTracker::new(layout, &already);
    if sources.len() > 1 || !others.is_empty() {
        // Perhaps a swarm: peers that start at once should not fetch alike (tracker.rs).
        tracker.spread_out();
    }
    // From here the verified chunks are served to other peers.
    let partial = share.map(|share| {
        share.partials.register(
            hash,
            share.name,
            part.path.clone(),
            layout,
            chunks.to_vec(),
            &already,
        )
    });
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
        whole: Mutex::new(whole),
        writing: Mutex::new(()),
        last_checkpoint: Mutex::new(Instant::now()),
        disk_error: Mutex::new(None),
        partial,
        stall_timeout,
        spot_checks: Default::default(),
    });
    let guard = CheckpointOnDrop(shared.clone());

    // Rounds: the sources fetch every chunk; the whole-file hash decides. If it fails
    // because of chunks written unchecked (one hash pass), the bad ones are needed
    // again, whoever sent them is dropped, and the other peers fetch them afresh.
    let mut peers: Vec<PeerAddr> = Vec::new();
    let mut tally = Tally::default();
    let mut liars: Vec<PeerAddr> = Vec::new();
    let mut sources = sources;
    let mut round = 0;
    let whole = loop {
        run_workers(
            &shared,
            sources,
            others.clone(),
            &mut peers,
            &mut tally,
            progress,
        )
        .await;
        if let Some(e) = lock(&shared.disk_error).take() {
            return Err(SwarmError::Landing(e));
        }
        if !lock(&shared.tracker).is_done() {
            break None;
        }
        let got = lock(&shared.whole).finish(layout.size()).map_err(disk)?;
        let Some(got) = got.filter(|got| *got != hash) else {
            break got;
        };
        let bad = locate_bad_chunks(&shared).await;
        if bad.is_empty() {
            // Every chunk matches its hash: the agreed chunk list itself lied.
            break Some(got);
        }
        for (index, source) in bad {
            let Some(peer) = source.map(|id| peers[id].clone()) else {
                continue;
            };
            if !liars.contains(&peer) {
                let reason = Arc::new(SourceError::BadChunk {
                    peer: peer.clone(),
                    index,
                });
                progress(Progress::Dropped {
                    peer: peer.clone(),
                    reason: reason.clone(),
                });
                tally.reasons.push(reason);
                liars.push(peer);
            }
        }
        round += 1;
        let mut candidates: Vec<PeerAddr> = Vec::new();
        for peer in peers.iter().chain(&others) {
            if !liars.contains(peer) && !candidates.contains(peer) {
                candidates.push(peer.clone());
            }
        }
        sources =
            if round > REFETCH_ROUNDS {
                Vec::new()
            } else {
                join_all(candidates.iter().map(|peer| {
                    ask_again(peer, hash, layout, &shared.chunks, shared.stall_timeout)
                }))
                .await
                .into_iter()
                .filter_map(|asked| match asked {
                    Asked::Joins(source) => Some(source),
                    _ => None,
                })
                .collect()
            };
        if sources.is_empty() {
            break None;
        }
        // The whole-file hash starts over (its state went into the failed digest).
        let restarted = WholeHasher::start(shared.part.try_clone().map_err(disk)?);
        restarted.advance(lock(&shared.tracker).verified_prefix_bytes());
        *lock(&shared.whole) = restarted;
    };

    let done = lock(&shared.tracker).is_done();
    let verified = lock(&shared.tracker).verified_bytes();
    let Tally {
        per_source,
        mut reasons,
        idle,
    } = tally;
    if !done {
        reasons.extend(idle);
    }
    drop(guard);
    let Ok(shared) = Arc::try_unwrap(shared) else {
        // Unreachable: every worker has ended and the guard is gone.
        return Err(disk(std::io::Error::other("download state still in use")));
    };
    Ok(SwarmOutcome {
        per_source,
        reasons,
        resumed,
        whole,
        verified,
        partial: shared.partial,
    })
}

/// One round of fetching: every source runs as a worker future of this one download;
/// peers that are not sources now are asked again meanwhile, and join as workers
/// (recruit.rs). Each source gets the next `SourceId` (its index in `peers`).
async fn run_workers(
    shared: &Arc<Shared>,
    sources: Vec<AgreedSource>,
    others: Vec<PeerAddr>,
    peers: &mut Vec<PeerAddr>,
    tally: &mut Tally,
    progress: &(dyn Fn(Progress) + Sync),
) {
    let launch = |id: SourceId, source: AgreedSource| {
        lock(&shared.tracker).set_have(id, source.have.clone());
        let work = worker(id, source.peer, source.conn, shared, progress);
        async move { (id, work.await) }
    };
    let mut workers = FuturesUnordered::new();
    for source in sources {
        peers.push(source.peer.clone());
        workers.push(launch(peers.len() - 1, source));
    }
    let recruiter = Recruiter::new(others);
    let wanted = Wanted {
        hash: shared.hash,
        layout: shared.layout,
        chunks: &shared.chunks,
    };
    let mut recruiting = true;
    while !workers.is_empty() {
        if !recruiting {
            if let Some((id, end)) = workers.next().await {
                tally.ended(peers[id].clone(), end);
            }
            continue;
        }
        let active = workers.len();
        let recruit = recruiter.next(
            &wanted,
            || MAX_SOURCES.saturating_sub(active),
            || !lock(&shared.tracker).has_work(),
        );
        futures_util::pin_mut!(recruit);
        match futures_util::future::select(workers.next(), recruit).await {
            Either::Left((Some((id, end)), _)) => {
                if let Some(peer) = tally.ended(peers[id].clone(), end) {
                    recruiter.again(peer);
                }
            }
            Either::Left((None, _)) => {}
            Either::Right((Some(source), _)) => {
                peers.push(source.peer.clone());
                progress(Progress::Joined {
                    peer: source.peer.clone(),
                });
                workers.push(launch(peers.len() - 1, source));
            }
            // The download needs no one else: the workers finish it alone.
            Either::Right((None, _)) => recruiting = false,
        }
    }
}

/// After a failed whole-file hash: hashes every chunk written unchecked against the
/// chunk list, or, if those all match, every chunk (a bad copy may have landed over a
/// verified one in the endgame). The bad ones are needed again; each is returned with
/// the source that sent it, when that is known.
async fn locate_bad_chunks(shared: &Shared) -> Vec<(ChunkIndex, Option<SourceId>)> {
    let layout = shared.layout;
    let unchecked = lock(&shared.tracker).unchecked();
    let check = |candidates: Vec<ChunkIndex>| {
        let (part, list) = (shared.part.clone(), shared.chunks.clone());
        runtime::spawn_blocking(move || {
            let good: std::collections::HashSet<ChunkIndex> =
                resume::verify_chunks(&part, layout, &list, candidates.clone())
                    .into_iter()
                    .collect();
            candidates
                .into_iter()
                .filter(|i| !good.contains(i))
                .collect::<Vec<ChunkIndex>>()
        })
    };
    let bad_unchecked = check(unchecked.iter().map(|&(i, _)| i).collect()).await;
    let bad: Vec<(ChunkIndex, Option<SourceId>)> = if bad_unchecked.is_empty() {
        check(layout.chunks().collect())
            .await
            .into_iter()
            .map(|i| (i, None))
            .collect()
    } else {
        unchecked
            .into_iter()
            .filter(|(i, _)| bad_unchecked.contains(i))
            .map(|(i, source)| (i, Some(source)))
            .collect()
    };
    let mut tracker = lock(&shared.tracker);
    for &(index, _) in &bad {
        tracker.reject(index);
    }
    bad
}

/// What the sources did, gathered as they end.
#[derive(Default)]
struct Tally {
    /// Bytes each peer delivered (a peer that left and came back counted once).
    per_source: Vec<(PeerAddr, u64)>,
    reasons: Vec<SourceFailure>,
    /// Why partial sources were let go: reasons only if the download fails.
    idle: Vec<SourceFailure>,
}

impl Tally {
    /// Records a source's end; returns its peer when it may be asked again later.
    fn ended(&mut self, peer: PeerAddr, end: WorkerEnd) -> Option<PeerAddr> {
        match self.per_source.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, bytes)) => *bytes += end.bytes,
            None => self.per_source.push((peer.clone(), end.bytes)),
        }
        match end.failure {
            Some(reason) if end.idle => {
                self.idle.push(reason);
                Some(peer)
            }
            Some(reason) => {
                self.reasons.push(reason);
                None
            }
            None => None,
        }
    }
}

struct WorkerEnd {
    bytes: u64,
    failure: Option<SourceFailure>,
    /// A partial source let go for having nothing new: it may be asked again.
    idle: bool,
}

async fn worker(
    id: SourceId,
    peer: PeerAddr,
    mut conn: Connection,
    shared: &Arc<Shared>,
    progress: &(dyn Fn(Progress) + Sync),
) -> WorkerEnd {
    let mut bytes = 0u64;
    let mut idle = false;
    let failure = match fetch_loop(id, &mut conn, shared, progress, &mut bytes).await {
        Ok(()) => None,
        Err(reason) => {
            lock(&shared.tracker).drop_source(id);
            idle = matches!(reason, SourceError::NothingNew { .. });
            let reason = Arc::new(reason);
            if idle {
                progress(Progress::Left { peer });
            } else {
                progress(Progress::Dropped {
                    peer,
                    reason: reason.clone(),
                });
            }
            Some(reason)
        }
    };
    WorkerEnd {
        bytes,
        failure,
        idle,
    }
}

async fn fetch_loop(
    id: SourceId,
    conn: &mut Connection,
    shared: &Arc<Shared>,
    progress: &(dyn Fn(Progress) + Sync),
    bytes: &mut u64,
) -> Result<(), SourceError> {
    let mut checks = Checks {
        pending: VecDeque::new(),
        carry: None,
        unchecked: None,
        spare: Vec::new(),
        peer: conn.peer().clone(),
        source: id,
    };
    let outcome = receive_loop(id, conn, shared, bytes, &mut checks, progress).await;
    // Chunks already received are settled whatever happens next: their bytes count.
    let settled = checks.settle_all(shared, progress).await;
    outcome.and(settled)
}

/// A chunk's hash state while its pieces arrive, carried from one piece's check to the
/// next (pieces of one chunk are hashed strictly in order).
type ChunkHasher = sha2::Sha256;

/// One `read` of a chunk: at most [`PIECE`] bytes, so that what one source holds in
/// memory is bounded by a few pieces whatever chunk size the file has.
#[derive(Debug, Clone, Copy)]
struct Piece {
    index: ChunkIndex,
    offset: u64,
    len: u64,
    first: bool,
    last: bool,
}

/// What checking one piece found.
enum Verdict {
    /// Hashed and written; the chunk goes on in the next piece.
    Partial(Box<ChunkHasher>),
    /// The chunk's last piece: the chunk matched its hash and is written.
    Good,
    /// The chunk does not match its hash.
    Bad,
    /// Written without a hash of its own (one hash pass); `last`: the chunk's last piece.
    Unchecked {
        last: bool,
    },
    Disk(std::io::Error),
}

/// A piece's buffer back, and what its check found.
type Checked = (Vec<u8>, Verdict);

/// Pieces received from one source and being hashed and written on the blocking pool,
/// oldest first, so that the next piece is received while the last ones are checked.
struct Checks {
    pending: VecDeque<(Piece, JoinHandle<Checked>)>,
    /// The hash state of the chunk whose next piece is due, once its last check ended.
    carry: Option<(ChunkIndex, Box<ChunkHasher>)>,
    /// The chunk whose pieces are being written unchecked (one hash pass).
    unchecked: Option<ChunkIndex>,
    spare: Vec<Vec<u8>>,
    peer: PeerAddr,
    source: SourceId,
}

impl Checks {
    async fn start(
        &mut self,
        shared: &Arc<Shared>,
        piece: Piece,
        data: Vec<u8>,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(), SourceError> {
        use sha2::Digest;
        // Whether this chunk is checked is decided at its first piece, for all of them.
        if piece.first {
            self.unchecked = (!shared.check_chunk(piece.index)).then_some(piece.index);
        }
        if self.unchecked == Some(piece.index) {
            let owner = shared.clone();
            let last = piece.last;
            let task =
                runtime::spawn_blocking_task(move || match owner.write_at(&data, piece.offset) {
                    Ok(()) => (data, Verdict::Unchecked { last }),
                    Err(e) => (data, Verdict::Disk(e)),
                });
            self.pending.push_back((piece, task));
            return Ok(());
        }
        let hasher = if piece.first {
            None
        } else {
            // The previous piece of this chunk must be checked before this one can be.
            while !matches!(&self.carry, Some((i, _)) if *i == piece.index) {
                if self.pending.is_empty() {
                    return Err(SourceError::LostHashState {
                        peer: self.peer.clone(),
                        index: piece.index,
                    });
                }
                self.settle_one(shared, progress).await?;
            }
            self.carry.take().map(|(_, h)| h)
        };
        let expected = shared.chunks[piece.index.slot()];
        let owner = shared.clone();
        let task = runtime::spawn_blocking_task(move || {
            if piece.first && piece.last {
                // A whole chunk in one piece: verified before it is written, so a bad
                // copy never touches the `.part` (endgame duplicates may overlap).
                if ContentHash::of(&data) != expected {
                    return (data, Verdict::Bad);
                }
                return match owner.write_at(&data, piece.offset) {
                    Ok(()) => {
                        owner.record_verified(piece.index);
                        (data, Verdict::Good)
                    }
                    Err(e) => (data, Verdict::Disk(e)),
                };
            }
            // A chunk of several pieces is written as it arrives (bounded memory) and
            // counts only when its last piece makes the hash match. Only one source
            // ever holds such a chunk (the tracker gives no endgame copies of them),
            // so unverified bytes never land over verified ones.
            let mut hasher = hasher.unwrap_or_else(|| Box::new(ChunkHasher::new()));
            hasher.update(&data);
            if let Err(e) = owner.write_at(&data, piece.offset) {
                return (data, Verdict::Disk(e));
            }
            if !piece.last {
                return (data, Verdict::Partial(hasher));
            }
            let got = ContentHash::from_bytes(hasher.finalize().into());
            if got == expected {
                owner.record_verified(piece.index);
                (data, Verdict::Good)
            } else {
                (data, Verdict::Bad)
            }
        });
        self.pending.push_back((piece, task));
        Ok(())
    }

    /// A buffer for the next piece, reused from a settled one when there is one.
    fn buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Waits for the oldest check and records its outcome.
    async fn settle_one(
        &mut self,
        shared: &Arc<Shared>,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(), SourceError> {
        let Some((piece, task)) = self.pending.pop_front() else {
            return Ok(());
        };
        let (data, verdict) = task.await;
        self.spare.push(data);
        let index = piece.index;
        match verdict {
            Verdict::Partial(hasher) => {
                self.carry = Some((index, hasher));
                return Ok(());
            }
            Verdict::Good => {}
            Verdict::Unchecked { last: false } => return Ok(()),
            Verdict::Unchecked { last: true } => {
                // Recorded here, in order: every earlier piece of the chunk is settled,
                // so all of it is written before the whole-file hasher may read it.
                shared.record_unchecked(index, self.source);
            }
            Verdict::Bad => {
                return Err(SourceError::BadChunk {
                    peer: self.peer.clone(),
                    index,
                })
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
        // The chunk was recorded as verified by its check already.
        let verified = lock(&shared.tracker).verified_bytes();
        progress(Progress::Verified { bytes: verified });
        Ok(())
    }

    async fn settle_all(
        &mut self,
        shared: &Arc<Shared>,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(), SourceError> {
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
) -> Result<(), SourceError> {
    let layout = shared.layout;
    let mut asked: VecDeque<Piece> = VecDeque::new();
    // The chunk whose pieces are being asked for: (index, next offset, end).
    let mut asking: Option<(ChunkIndex, u64, u64)> = None;
    let mut backoff = BusyBackoff::new();
    // A partial source: when its `have` was last asked, and when it last had something
    // this download still lacked.
    let mut refreshed = Instant::now();
    let mut useful_at = Instant::now();
    // Reads asked ahead: about a second of this source's rate (pace.rs).
    let mut pace = Pace::default();
    loop {
        while asked.len() < pace.window(PIECE) {
            // A partial source's `have` is asked for every few seconds, also while it
            // is busy: at a chunk boundary, ask for nothing more, so that the reads
            // drain and the `info` can go (its answer would otherwise come among them).
            if asking.is_none()
                && refreshed.elapsed() >= REFRESH_HAVE
                && lock(&shared.tracker).is_partial(id)
            {
                break;
            }
            let (index, offset, end) = match asking {
                Some(cursor) => cursor,
                None => {
                    let mut tracker = lock(&shared.tracker);
                    if shared.is_asked() {
                        tracker.spread_out();
                    }
                    let Some(index) = tracker.next_for(id, Instant::now()) else {
                        break;
                    };
                    drop(tracker);
                    let range = layout.chunk_range(index);
                    (index, range.start, range.end)
                }
            };
            let len = PIECE.min(end - offset);
            conn.send(&Request::Read {
                sha256: shared.hash,
                offset,
                len,
            })
            .await?;
            asked.push_back(Piece {
                index,
                offset,
                len,
                first: offset == layout.chunk_range(index).start,
                last: offset + len == end,
            });
            asking = (offset + len < end).then_some((index, offset + len, end));
        }
        let Some(&piece) = asked.front() else {
            // Nothing in flight: the time until the next piece is no measure of rate.
            pace.paused();
            if !checks.pending.is_empty() {
                checks.settle_one(shared, progress).await?;
                continue;
            }
            if !lock(&shared.tracker).has_work() {
                return Ok(());
            }
            if lock(&shared.tracker).is_partial(id) {
                // Nothing of what it has is needed now: ask what it has gained, every
                // few seconds; one that gains nothing useful for the stall time goes.
                if lock(&shared.tracker).could_help(id) {
                    useful_at = Instant::now();
                }
                if refreshed.elapsed() >= REFRESH_HAVE {
                    refresh_have(id, conn, shared).await?;
                    refreshed = Instant::now();
                    continue;
                }
                if useful_at.elapsed() >= shared.stall_timeout {
                    return Err(SourceError::NothingNew {
                        peer: conn.peer().clone(),
                        secs: shared.stall_timeout.as_secs(),
                    });
                }
            }
            runtime::sleep(IDLE_POLL).await;
            continue;
        };

        let mut buf = checks.buffer();
        // Once every chunk is verified (another source won the endgame), stop at once
        // rather than wait for duplicates still on their way from a slow source.
        let receiving = async {
            receive_piece(conn, piece.len as usize, &mut buf, bytes)
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
        match futures_lite::future::or(receiving, finished_elsewhere).await {
            Ok(Some(())) => {
                backoff.reset();
                pace.arrived(piece.len, Instant::now());
            }
            Ok(None) => return Ok(()),
            Err(e) if is_busy(&e) || is_unavailable(&e) => {
                // `unavailable`: a partial source lacks that chunk after all; like
                // `busy`, not a failure: let go, and learn what it has at once.
                pace.paused();
                if is_unavailable(&e) {
                    refreshed = Instant::now() - REFRESH_HAVE;
                }
                checks.spare.push(buf);
                let cursor = asking.take();
                if step_back(
                    id, conn, shared, &mut asked, cursor, checks, bytes, progress,
                )
                .await?
                {
                    // A read was served meanwhile: a slot is ours now.
                    backoff.reset();
                } else {
                    let pause = backoff.next_pause();
                    let peer = conn.peer();
                    tracing::debug!(%peer, "upload slots full; asking again in {pause:?}");
                    if !pause_unless_done(pause, shared).await {
                        return Ok(());
                    }
                }
                continue;
            }
            Err(e) => return Err(e),
        }
        asked.pop_front();
        checks.start(shared, piece, buf, progress).await?;
        while checks.pending.len() > CHECKS_IN_FLIGHT {
            checks.settle_one(shared, progress).await?;
        }
        // The workers share one thread: a source whose socket always has bytes ready
        // would otherwise never give the others a turn (and take every chunk).
        futures_lite::future::yield_now().await;
    }
}

/// A `read` answered `busy`: every upload slot of the source is taken (DESIGN §8).
fn is_busy(error: &SourceError) -> bool {
    answered(error, ErrorCode::Busy)
}

/// A `read` answered `unavailable`: a partial source lacks that chunk (DESIGN §9).
fn is_unavailable(error: &SourceError) -> bool {
    answered(error, ErrorCode::Unavailable)
}

fn answered(error: &SourceError, code: ErrorCode) -> bool {
    matches!(error, SourceError::Peer(ClientError::Remote { error, .. }) if error.code == code)
}

/// Asks a partial source what it has now (its `info` again) and tells the tracker; a
/// source that has finished its own download has everything from now on.
async fn refresh_have(
    id: SourceId,
    conn: &mut Connection,
    shared: &Shared,
) -> Result<(), SourceError> {
    let info: InfoAnswer = conn
        .request(&Request::Info {
            sha256: shared.hash,
        })
        .await?;
    let have = have_of(&info, shared.layout.chunk_count()).map_err(|()| SourceError::BadHave {
        peer: conn.peer().clone(),
    })?;
    lock(&shared.tracker).set_have(id, have);
    Ok(())
}

/// The source answered `busy` to the read at the front of `asked`. It is alive, only
/// full, so it is not dropped: the answers to the reads still asked are taken in (a whole
/// chunk that came anyway, because a slot came free meanwhile, is checked as usual; a
/// piece of a larger chunk is let go, as its chunk is); the checks under way are settled,
/// so that none of this source's bytes is still being written; then every chunk it held
/// and did not get goes back to the tracker for the other sources. Returns whether a read
/// was served meanwhile (a slot is this source's now: ask again at once).
#[allow(clippy::too_many_arguments)]
async fn step_back(
    id: SourceId,
    conn: &mut Connection,
    shared: &Arc<Shared>,
    asked: &mut VecDeque<Piece>,
    asking: Option<(ChunkIndex, u64, u64)>,
    checks: &mut Checks,
    bytes: &mut u64,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<bool, SourceError> {
    let mut let_go: Vec<ChunkIndex> = asked.pop_front().map(|p| p.index).into_iter().collect();
    let_go.extend(asking.map(|(index, _, _)| index));
    let mut served = false;
    while let Some(piece) = asked.pop_front() {
        let mut buf = checks.buffer();
        match receive_piece(conn, piece.len as usize, &mut buf, bytes).await {
            Ok(()) if piece.first && piece.last => {
                served = true;
                checks.start(shared, piece, buf, progress).await?;
                while checks.pending.len() > CHECKS_IN_FLIGHT {
                    checks.settle_one(shared, progress).await?;
                }
            }
            Ok(()) => {
                served = true;
                checks.spare.push(buf);
                let_go.push(piece.index);
            }
            Err(e) if is_busy(&e) || is_unavailable(&e) => {
                checks.spare.push(buf);
                let_go.push(piece.index);
            }
            Err(e) => return Err(e),
        }
    }
    checks.settle_all(shared, progress).await?;
    // A chunk let go starts again from its first piece, with whichever source takes it.
    checks.carry = None;
    let mut tracker = lock(&shared.tracker);
    for index in let_go {
        tracker.release(index, id);
    }
    Ok(served)
}

/// Waits `pause` (a source backing off `busy`), or less if the download ends meanwhile:
/// `false` then.
async fn pause_unless_done(pause: Duration, shared: &Shared) -> bool {
    let until = Instant::now() + pause;
    loop {
        if !lock(&shared.tracker).has_work() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        runtime::sleep(left.min(BUSY_POLL)).await;
    }
}

/// Reads one piece: a single data frame of exactly `want` bytes, into `buf`.
async fn receive_piece(
    conn: &mut Connection,
    want: usize,
    buf: &mut Vec<u8>,
    bytes: &mut u64,
) -> Result<(), SourceError> {
    buf.clear();
    conn.recv_data(buf).await?;
    let got = buf.len();
    *bytes += got as u64;
    if got != want {
        return Err(SourceError::ShortPiece {
            peer: conn.peer().clone(),
            want,
            got,
        });
    }
    Ok(())
}
