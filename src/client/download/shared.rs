//! What the workers of one chunked download share: the tracker, the `.part`, the
//! whole-file hasher, the sharing registration, and the rules every worker applies the
//! same way (which chunks are checked on arrival, how a chunk is recorded, how writes
//! reach the file). It owns no task and never touches a connection.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::resume;
use super::tracker::{ChunkTracker, Completion, SourceId};
use super::whole::WholeHasher;
use crate::client::landing::LandingError;
use crate::content::hash::ContentHash;
use crate::content::{ChunkIndex, Layout};
use crate::index::PartialShare;

/// How often the resume sidecar is rewritten while bytes arrive.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Under one hash pass, about one chunk in this many is still checked on its own (which
/// ones is random per download, so a liar cannot aim around them).
pub(super) const SPOT_CHECK_ONE_IN: u64 = 16;

/// What the swarm shares between its workers.
pub(super) struct Shared {
    pub(super) hash: ContentHash,
    pub(super) layout: Layout,
    pub(super) chunks: Arc<Vec<ContentHash>>,
    pub(super) part: Arc<std::fs::File>,
    pub(super) part_path: PathBuf,
    pub(super) sidecar: PathBuf,
    pub(super) tracker: Mutex<ChunkTracker>,
    pub(super) whole: Mutex<WholeHasher>,
    /// Held while writing to `part` (see [`Shared::write_at`]).
    pub(super) writing: Mutex<()>,
    pub(super) last_checkpoint: Mutex<Instant>,
    pub(super) disk_error: Mutex<Option<LandingError>>,
    /// This download shared as it arrives (DESIGN §9): each verified chunk is marked.
    pub(super) partial: Option<PartialShare>,
    /// How long a partial source may have nothing new before it is dropped.
    pub(super) stall_timeout: Duration,
    /// Picks the chunks spot-checked under one hash pass (its keys are random).
    pub(super) spot_checks: std::collections::hash_map::RandomState,
    /// Every chunk is checked as it lands: the chunk list was disputed (some peer's list
    /// disagreed), so the one that won may be a liar's, and only its own chunks can tell.
    pub(super) check_every: bool,
    /// A `.part` with nothing verified in it is kept when this run ends: the next claim
    /// is to be tried in it (see `swarm::Claims`).
    pub(super) keep_empty_part: bool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Writes `data` at `offset` of the `.part`, one write at a time: the kernel takes
    /// the file's lock for each buffered write anyway, and several sources' checks
    /// writing at once spun on it (`rwsem_spin_on_owner`, 5 % of the client's time
    /// with three sources); waiting here sleeps instead.
    pub(super) fn write_at(&self, data: &[u8], offset: u64) -> std::io::Result<()> {
        let _one_at_a_time = lock(&self.writing);
        self.part.write_all_at(data, offset)
    }

    /// Hashes every chunk `source` wrote unchecked (it was caught lying): those that
    /// match are verified, the others needed again, and the whole-file hash starts over
    /// if any went back (it may have taken in their bytes).
    pub(super) async fn recheck_unchecked_from(&self, source: SourceId) {
        let suspect = lock(&self.tracker).unchecked_from(source);
        if suspect.is_empty() {
            return;
        }
        let bad = self.bad_chunks(suspect.clone()).await;
        let mut rejected = false;
        {
            let mut tracker = lock(&self.tracker);
            for index in suspect {
                if !bad.contains(&index) {
                    tracker.confirm(index);
                    if let Some(partial) = &self.partial {
                        partial.file().mark(index);
                    }
                } else {
                    tracker.reject(index);
                    rejected = true;
                }
            }
        }
        if rejected {
            self.restart_whole();
        }
    }

    /// Hashes `candidates` in the `.part` against the chunk list (on the blocking pool);
    /// returns those that do not match.
    pub(super) async fn bad_chunks(&self, candidates: Vec<ChunkIndex>) -> Vec<ChunkIndex> {
        if candidates.is_empty() {
            return Vec::new();
        }
        let (part, layout, list) = (self.part.clone(), self.layout, self.chunks.clone());
        crate::runtime::spawn_blocking(move || {
            let good: std::collections::HashSet<ChunkIndex> =
                resume::verify_chunks(&part, layout, &list, candidates.clone())
                    .into_iter()
                    .collect();
            candidates
                .into_iter()
                .filter(|i| !good.contains(i))
                .collect()
        })
        .await
    }

    /// Chunks below the written prefix were put back to needed: the whole-file hash may
    /// have taken in their old bytes, so it starts over from the first byte (it catches
    /// up with the prefix as that grows again). Without a second handle on the file the
    /// old one goes on, and the final check finds the mismatch (a new round then).
    pub(super) fn restart_whole(&self) {
        let Ok(file) = self.part.try_clone() else {
            return;
        };
        let mut whole = lock(&self.whole);
        let fresh = WholeHasher::start(file);
        fresh.advance(lock(&self.tracker).verified_prefix_bytes());
        *whole = fresh;
    }

    /// Whether some peer asked for this download's `info`: it is being shared.
    pub(super) fn is_asked(&self) -> bool {
        self.partial
            .as_ref()
            .is_some_and(|partial| partial.file().was_asked())
    }

    /// Whether chunk `index`, starting now, has its own hash checked as it lands.
    pub(super) fn check_chunk(&self, index: ChunkIndex) -> bool {
        use std::hash::BuildHasher;
        index.get() == 0
            || self.check_every
            || self
                .spot_checks
                .hash_one(index.get())
                .is_multiple_of(SPOT_CHECK_ONE_IN)
            || self.is_asked()
            || lock(&self.tracker).nothing_needed()
    }

    /// Chunk `index` is written whole by `source`, its hash unchecked: it counts as done
    /// (and towards the whole-file hash), but is not shared.
    pub(super) fn record_unchecked(&self, index: ChunkIndex, source: SourceId) {
        let completion = lock(&self.tracker).complete_unchecked(index, source);
        if completion == Completion::Fresh {
            self.advance_whole();
            self.checkpoint(false);
        }
    }

    /// Tells the whole-file hasher how far the written prefix goes. The prefix is read
    /// while the hasher is held, so that a hasher restarted meanwhile
    /// ([`Shared::restart_whole`]) is never told a prefix from before the restart.
    fn advance_whole(&self) {
        let whole = lock(&self.whole);
        let prefix = lock(&self.tracker).verified_prefix_bytes();
        whole.advance(prefix);
    }

    /// Chunk `index` matched its hash and is written: it counts from this moment, on
    /// the thread that checked it, so that a download cancelled while the source's
    /// next chunks are still arriving keeps it (the sidecar saved on drop says so).
    pub(super) fn record_verified(&self, index: ChunkIndex) {
        let completion = lock(&self.tracker).complete(index);
        if completion == Completion::Fresh {
            if let Some(partial) = &self.partial {
                partial.file().mark(index);
            }
            self.advance_whole();
            self.checkpoint(false);
        }
    }

    pub(super) fn checkpoint(&self, force: bool) {
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
pub(super) struct CheckpointOnDrop(pub(super) Arc<Shared>);

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
            // Nothing worth keeping, unless the caller writes the next claim into it:
            // removing it then would leave that run writing to a file with no name.
            if !self.0.keep_empty_part {
                resume::remove(&self.0.sidecar);
                let _ = std::fs::remove_file(&self.0.part_path);
            }
            return;
        }
        self.0.checkpoint(true);
    }
}
