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
//! This file runs the rounds and the sources of one download; a source's worker is in
//! `source.rs`, the checking and writing of what it receives in `checks.rs`, what they
//! all share (and the rules they apply alike) in `shared.rs`, which chunk goes to whom
//! in `tracker.rs`, peers joining in `recruit.rs`, and how far ahead a source is asked
//! in `pace.rs`.
//!
//! One hash pass (issue 16): while nobody has asked for this download's `info`, most
//! chunks are written without their own hash being checked; the whole-file SHA-256
//! (which must see every byte anyway) decides. The first chunk and a random one in
//! `SPOT_CHECK_ONE_IN` are still checked, so a source sending garbage is caught and
//! dropped at once, not after the whole file; so is every chunk in the endgame (two
//! sources may write one chunk then). If the whole-file hash fails, the unchecked chunks
//! are hashed after all (every chunk, if those all match): the bad ones are needed
//! again, their sources dropped, and the other peers fetch them in a new round (at most
//! [`REFETCH_ROUNDS`]). Once a peer asks for this file's `info` (it is about to be
//! shared), every chunk is checked as it lands, so nothing unchecked is ever served.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::Either;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::discover::{ask_all, AgreedSource};
use super::error::{SourceError, SourceFailure};
use super::recruit::{Recruiter, Wanted};
use super::shared::{lock, CheckpointOnDrop, Shared};
use super::source::{worker, WorkerEnd};
use super::tracker::{ChunkTracker, SourceId};
use super::whole::WholeHasher;
use super::{resume, Progress};
use crate::client::landing::LandingError;
use crate::client::PeerAddr;
use crate::content::hash::ContentHash;
use crate::content::{ChunkIndex, Layout};
use crate::index::{PartialShare, Partials};
use crate::runtime;

/// Most sources of one download at once (DESIGN §6): more add connections, not speed.
pub const MAX_SOURCES: usize = 16;
/// How many times the chunks a failed whole-file hash found bad are fetched again from
/// the other peers before the download gives up.
const REFETCH_ROUNDS: u32 = 2;

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

/// How the chunk list a run downloads against was agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claims {
    /// Every peer that answered `info` agreed.
    Agreed,
    /// Some peer claimed another list: every chunk is checked on arrival. `more`: another
    /// claim is left to try after this run, in the same `.part`, so the run keeps it even
    /// when nothing in it was verified.
    Disputed { more: bool },
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
    claims: Claims,
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
    if share.is_some() && (sources.len() > 1 || !others.is_empty()) {
        // Perhaps a swarm: peers that start at once should not fetch alike (tracker.rs).
        // A download that is not shared has no one to differ from: lowest first keeps
        // its writes in order and the whole-file hasher right behind them.
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
        check_every: claims != Claims::Agreed,
        keep_empty_part: claims == Claims::Disputed { more: true },
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
            // Every chunk matches its own hash. Once more over the file as it is on disk
            // (a hasher restarted mid-download may have taken in bytes replaced since);
            // if that fails too, the agreed chunk list itself lied.
            let file = shared.part.try_clone().map_err(disk)?;
            let size = layout.size();
            let again =
                runtime::spawn_blocking(move || WholeHasher::start(file).finish(size)).await;
            break Some(again.map_err(disk)?.unwrap_or(got));
        }
        // Sources dropped during the round for sending something false (a spot check
        // caught a bad chunk) are named once, and not asked for the refetch either.
        for reason in &tally.reasons {
            if let Some(peer) = reason.liar() {
                if !liars.contains(peer) {
                    liars.push(peer.clone());
                }
            }
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
        sources = if round > REFETCH_ROUNDS {
            Vec::new()
        } else {
            ask_all(
                &candidates,
                hash,
                layout,
                &shared.chunks,
                shared.stall_timeout,
            )
            .await
        };
        if sources.is_empty() {
            break None;
        }
        tracing::info!(
            round,
            bad = lock(&shared.tracker).needed_count(),
            sources = sources.len(),
            "the whole-file hash failed; fetching the bad chunks again"
        );
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
    let unchecked = lock(&shared.tracker).unchecked();
    let bad_unchecked = shared
        .bad_chunks(unchecked.iter().map(|&(i, _)| i).collect())
        .await;
    let bad: Vec<(ChunkIndex, Option<SourceId>)> = if bad_unchecked.is_empty() {
        shared
            .bad_chunks(shared.layout.chunks().collect())
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
        if let Some(partial) = &shared.partial {
            partial.file().unmark(index);
        }
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
