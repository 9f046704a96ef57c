//! Checking and writing the pieces one source delivers, on the blocking pool, oldest
//! first, while the source's next piece is received: each chunk hashed against its
//! chunk hash (or, under one hash pass, written unchecked), then written at its offset
//! and recorded. It never reads from a connection.

use std::collections::VecDeque;
use std::sync::Arc;

use super::error::SourceError;
use super::shared::{lock, Shared};
use super::tracker::SourceId;
use super::Progress;
use crate::client::landing::LandingError;
use crate::client::PeerAddr;
use crate::content::hash::ContentHash;
use crate::content::ChunkIndex;
use crate::runtime::{self, JoinHandle};

/// A chunk's hash state while its pieces arrive, carried from one piece's check to the
/// next (pieces of one chunk are hashed strictly in order).
type ChunkHasher = sha2::Sha256;

/// One `read` of a chunk: at most [`PIECE`] bytes, so that what one source holds in
/// memory is bounded by a few pieces whatever chunk size the file has.
#[derive(Debug, Clone, Copy)]
pub(super) struct Piece {
    pub(super) index: ChunkIndex,
    pub(super) offset: u64,
    pub(super) len: u64,
    pub(super) first: bool,
    pub(super) last: bool,
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
pub(super) struct Checks {
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
    pub(super) fn new(peer: PeerAddr, source: SourceId) -> Checks {
        Checks {
            pending: VecDeque::new(),
            carry: None,
            unchecked: None,
            spare: Vec::new(),
            peer,
            source,
        }
    }

    /// Pieces being checked or written now.
    pub(super) fn in_flight(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// A buffer not used after all (its read was answered otherwise), for reuse.
    pub(super) fn give_back(&mut self, buf: Vec<u8>) {
        self.spare.push(buf);
    }

    /// The chunk being received in pieces was let go: its hash state goes too.
    pub(super) fn forget_hash_state(&mut self) {
        self.carry = None;
    }

    pub(super) async fn start(
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
    pub(super) fn buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Waits for the oldest check and records its outcome.
    pub(super) async fn settle_one(
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

    pub(super) async fn settle_all(
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
