//! One source of a chunked download: its worker asks the tracker for chunks, keeps
//! about a second of `read`s in flight on its connection, receives the pieces and hands
//! them to its [`Checks`]; it backs off a `busy` source, refreshes a partial source's
//! `have`, and ends with the bytes it delivered and, if it failed, why.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::checks::{Checks, Piece};
use super::discover::have_of;
use super::error::{SourceError, SourceFailure};
use super::pace::Pace;
use super::shared::{lock, Shared};
use super::tracker::SourceId;
use super::Progress;
use crate::client::retry::BusyBackoff;
use crate::client::{ClientError, Connection, PeerAddr};
use crate::content::ChunkIndex;
use crate::protocol::message::{ErrorCode, InfoAnswer, Request};
use crate::runtime;

/// The largest `read` the engine asks for. Chunks larger than this (files over ~15 GiB,
/// or a peer claiming such a size) arrive as several pieces, so that a source never
/// costs more than about `(CHECKS_IN_FLIGHT + 2) × PIECE` of memory (DESIGN §4).
const PIECE: u64 = crate::content::layout::BASE_CHUNK_SIZE;
/// Pieces of one source being hashed and written while the next is received.
const CHECKS_IN_FLIGHT: usize = 2;
/// How long an idle worker waits before looking for work again (endgame, re-queues).
const IDLE_POLL: Duration = Duration::from_millis(20);
/// How often a partial source is asked what it has (its `info` again).
const REFRESH_HAVE: Duration = Duration::from_secs(1);
/// How often a source pausing after `busy` looks whether the download ended meanwhile.
const BUSY_POLL: Duration = Duration::from_millis(100);

pub(super) struct WorkerEnd {
    pub(super) bytes: u64,
    pub(super) failure: Option<SourceFailure>,
    /// A partial source let go for having nothing new: it may be asked again.
    pub(super) idle: bool,
}

pub(super) async fn worker(
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
            if reason.liar().is_some() {
                // What else it wrote unchecked is as suspect: hashed now, and the bad
                // ones fetched again from the others.
                shared.recheck_unchecked_from(id).await;
            }
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
    let mut checks = Checks::new(conn.peer().clone(), id);
    let outcome = receive_loop(id, conn, shared, bytes, &mut checks, progress).await;
    // Chunks already received are settled whatever happens next: their bytes count.
    let settled = checks.settle_all(shared, progress).await;
    outcome.and(settled)
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
            if !checks.is_idle() {
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
                // It gave something this download needed: the stall time starts over
                // (a partial source is let go only after that long with nothing new).
                useful_at = Instant::now();
            }
            Ok(None) => return Ok(()),
            Err(e) if is_busy(&e) || is_unavailable(&e) => {
                // `unavailable`: a partial source lacks that chunk after all; like
                // `busy`, not a failure: let go, and learn what it has at once.
                pace.paused();
                if is_unavailable(&e) {
                    refreshed = Instant::now() - REFRESH_HAVE;
                }
                checks.give_back(buf);
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
        while checks.in_flight() > CHECKS_IN_FLIGHT {
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
                while checks.in_flight() > CHECKS_IN_FLIGHT {
                    checks.settle_one(shared, progress).await?;
                }
            }
            Ok(()) => {
                served = true;
                checks.give_back(buf);
                let_go.push(piece.index);
            }
            Err(e) if is_busy(&e) || is_unavailable(&e) => {
                checks.give_back(buf);
                let_go.push(piece.index);
            }
            Err(e) => return Err(e),
        }
    }
    checks.settle_all(shared, progress).await?;
    // A chunk let go starts again from its first piece, with whichever source takes it.
    checks.forget_hash_state();
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

/// Reads one piece: a single data frame of exactly `want` bytes, into `buf` (a reused
/// buffer, overwritten in place).
async fn receive_piece(
    conn: &mut Connection,
    want: usize,
    buf: &mut Vec<u8>,
    bytes: &mut u64,
) -> Result<(), SourceError> {
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
