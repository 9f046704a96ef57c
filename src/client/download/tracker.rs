//! The one owner of a download's chunk states.
//!
//! Each chunk is exactly one of: needed, in flight (with the sources fetching it) or
//! verified. Every transition is a named method; chunk indexes only come from the
//! [`Layout`]. Near the end (nothing left that is needed), a chunk in flight may be
//! handed to a second source, so that one slow source cannot hold the file hostage;
//! whichever copy verifies first wins.
//!
//! Which needed chunk a source gets: the lowest, while this download is alone (so the
//! verified prefix, which the whole-file hasher follows, grows steadily). In a swarm
//! (a partial source is known, or peers ask this one for the file) that would make every
//! peer fetch the same chunks in the same order and have nothing to give each other, so
//! a source gets the rarest chunk among the lowest [`SPREAD_WINDOW`] it can give (the
//! fewest partial sources have it), kept near the front so the prefix still follows,
//! at random among equals: peers fetching from one seed at once mostly fetch different
//! chunks, then trade them (BitTorrent's rarest first). Not a walk from a random place:
//! a peer learns what another fetched only a second or two later, so a walk that
//! reaches another's ground lands on its frontier and the two fetch alike from then on
//! (measured: the seed sent 2.4× the file to four peers, against 1.4× with dice).
//!
//! One hash pass (issue 16): a chunk from the only source of a download may be written
//! without its own hash being checked ("unchecked"): it counts as done for everything
//! but sharing, because the whole-file SHA-256, which sees every byte anyway, decides.
//! If that fails, the unchecked chunks are hashed after all ([`ChunkTracker::reject`]
//! puts the bad ones back to needed). See `STATE.md`.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::content::{ChunkIndex, Layout};

pub type SourceId = usize;

/// Most sources fetching one chunk at once (the first plus one in the endgame).
const MAX_HOLDERS: usize = 2;

/// How many of the lowest needed chunks a source chooses among in a swarm.
pub const SPREAD_WINDOW: usize = 64;

/// How long a chunk must have been in flight before a second source may be asked for it.
pub const ENDGAME_AFTER: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, PartialEq, Eq)]
enum ChunkState {
    Needed,
    /// Fetched by these sources, handed out first at this time.
    InFlight(Vec<SourceId>, Instant),
    Verified,
    /// Written whole by this source, its hash not checked: the whole-file hash decides.
    Unchecked(SourceId),
}

impl ChunkState {
    /// Verified or unchecked: written, and not to be fetched again.
    fn is_written(&self) -> bool {
        matches!(self, ChunkState::Verified | ChunkState::Unchecked(_))
    }
}

/// What `complete` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// This copy is the one that counts.
    Fresh,
    /// Another source's copy was verified first; this one changes nothing.
    AlreadyDone,
}

#[derive(Debug)]
pub struct ChunkTracker {
    layout: Layout,
    states: Vec<ChunkState>,
    needed: BTreeSet<ChunkIndex>,
    verified: u64,
    verified_bytes: u64,
    /// How many chunks from the first are verified: a verified prefix.
    prefix: u64,
    dropped: Vec<SourceId>,
    aborted: bool,
    /// What each partial source has (DESIGN §9): one bit per chunk; a source not in
    /// here has every chunk.
    have: HashMap<SourceId, Vec<u8>>,
    /// Whether the endgame may hand a chunk to a second source. Only for chunks that
    /// arrive in one piece (verified before they are written): larger chunks are
    /// written piece by piece before their hash is known, so two sources writing one
    /// would let a liar's bytes land over an honest copy.
    endgame: bool,
    /// Rarest first near the front, rather than lowest first (see the module doc).
    spread: bool,
    /// Breaks ties in `spread` order (random keys; `picks` makes each draw differ).
    dice: std::collections::hash_map::RandomState,
    picks: u64,
}

impl ChunkTracker {
    /// A tracker for `layout` where the chunks in `already` are verified (a resume).
    pub fn new(layout: Layout, already: &[ChunkIndex]) -> ChunkTracker {
        let count = layout.chunk_count();
        let mut tracker = ChunkTracker {
            layout,
            states: vec![ChunkState::Needed; count as usize],
            needed: layout.chunks().collect(),
            verified: 0,
            verified_bytes: 0,
            prefix: 0,
            dropped: Vec::new(),
            aborted: false,
            have: HashMap::new(),
            endgame: layout.chunk_size() <= crate::content::layout::BASE_CHUNK_SIZE,
            spread: false,
            dice: Default::default(),
            picks: 0,
        };
        for &index in already {
            tracker.mark_verified(index);
        }
        tracker
    }

    fn mark_verified(&mut self, index: ChunkIndex) {
        self.mark_written(index, ChunkState::Verified);
    }

    fn mark_written(&mut self, index: ChunkIndex, state: ChunkState) {
        if self.states[index.slot()].is_written() {
            return;
        }
        self.states[index.slot()] = state;
        self.needed.remove(&index);
        self.verified += 1;
        let range = self.layout.chunk_range(index);
        self.verified_bytes += range.end - range.start;
        while self.prefix < self.layout.chunk_count()
            && self.states[self.prefix as usize].is_written()
        {
            self.prefix += 1;
        }
    }

    /// The next chunk `source` should fetch at `now`: the lowest needed one, else
    /// (endgame) the chunk longest in flight with another source, once it has been so
    /// for [`ENDGAME_AFTER`] — a chunk about to arrive is not worth asking twice. `None`
    /// when there is nothing for it now.
    pub fn next_for(&mut self, source: SourceId, now: Instant) -> Option<ChunkIndex> {
        if self.aborted || self.dropped.contains(&source) {
            return None;
        }
        let first = if self.spread || !self.have.is_empty() {
            self.rarest_near_front(source)
        } else {
            match self.have.get(&source) {
                None => self.needed.first().copied(),
                Some(bits) => self.needed.iter().copied().find(|i| has(bits, *i)),
            }
        };
        if let Some(index) = first {
            self.needed.remove(&index);
            self.states[index.slot()] = ChunkState::InFlight(vec![source], now);
            return Some(index);
        }
        // The endgame is the end of the whole download (nothing needed by anyone), not a
        // partial source having nothing needed to give: in a swarm that would copy
        // every chunk in flight elsewhere, wasting the uplinks that are the bottleneck.
        if !self.endgame || !self.needed.is_empty() {
            return None;
        }
        let bits = self.have.get(&source);
        let (index, holders) = self
            .states
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| bits.is_none_or(|b| has_slot(b, *i)))
            .filter_map(|(i, s)| match s {
                ChunkState::InFlight(h, since)
                    if h.len() < MAX_HOLDERS
                        && !h.contains(&source)
                        && now.saturating_duration_since(*since) >= ENDGAME_AFTER =>
                {
                    Some((i, *since, h))
                }
                _ => None,
            })
            .min_by_key(|(_, since, _)| *since)
            .map(|(i, _, h)| (i, h))?;
        holders.push(source);
        self.layout.chunk(index as u64)
    }

    /// This download is part of a swarm (peers ask for it): hand out chunks rarest first
    /// near the front from now on.
    pub fn spread_out(&mut self) {
        self.spread = true;
    }

    /// Among the lowest [`SPREAD_WINDOW`] needed chunks `source` can give, one that the
    /// fewest partial sources have, at random among equals.
    fn rarest_near_front(&mut self, source: SourceId) -> Option<ChunkIndex> {
        use std::hash::BuildHasher;
        let bits = self.have.get(&source);
        let others: Vec<&Vec<u8>> = self
            .have
            .iter()
            .filter(|(id, _)| !self.dropped.contains(id))
            .map(|(_, b)| b)
            .collect();
        self.picks += 1;
        let draw = self.picks;
        self.needed
            .iter()
            .copied()
            .filter(|&i| bits.is_none_or(|b| has(b, i)))
            .take(SPREAD_WINDOW)
            .min_by_key(|&i| {
                let holders = others.iter().filter(|b| has(b, i)).count();
                (holders, self.dice.hash_one((draw, i.get())))
            })
    }

    /// What a partial source has now (`None`: all of it, it is complete now). `bits` has
    /// one bit per chunk, chunk 0 in the lowest bit of the first byte.
    pub fn set_have(&mut self, source: SourceId, bits: Option<Vec<u8>>) {
        match bits {
            Some(bits) => self.have.insert(source, bits),
            None => self.have.remove(&source),
        };
    }

    /// Whether `source` is a partial source (has only some chunks).
    pub fn is_partial(&self, source: SourceId) -> bool {
        self.have.contains_key(&source)
    }

    /// Whether `source` has some chunk still needed or in flight with another source:
    /// something it could be asked for now or soon.
    pub fn could_help(&self, source: SourceId) -> bool {
        let Some(bits) = self.have.get(&source) else {
            return self.has_work();
        };
        self.states
            .iter()
            .enumerate()
            .any(|(i, s)| !s.is_written() && has_slot(bits, i))
    }

    /// A copy of chunk `index` matched its hash.
    pub fn complete(&mut self, index: ChunkIndex) -> Completion {
        if self.states[index.slot()].is_written() {
            return Completion::AlreadyDone;
        }
        self.mark_verified(index);
        Completion::Fresh
    }

    /// Chunk `index` is written whole by `source`, its hash not checked (one hash pass):
    /// the whole-file hash decides.
    pub fn complete_unchecked(&mut self, index: ChunkIndex, source: SourceId) -> Completion {
        if self.states[index.slot()].is_written() {
            return Completion::AlreadyDone;
        }
        self.mark_written(index, ChunkState::Unchecked(source));
        Completion::Fresh
    }

    /// The chunks written unchecked, and by whom.
    pub fn unchecked(&self) -> Vec<(ChunkIndex, SourceId)> {
        self.layout
            .chunks()
            .filter_map(|i| match self.states[i.slot()] {
                ChunkState::Unchecked(source) => Some((i, source)),
                _ => None,
            })
            .collect()
    }

    /// The chunks `source` wrote unchecked.
    pub fn unchecked_from(&self, source: SourceId) -> Vec<ChunkIndex> {
        self.layout
            .chunks()
            .filter(|i| self.states[i.slot()] == ChunkState::Unchecked(source))
            .collect()
    }

    /// An unchecked chunk was hashed after all and matched: it is verified.
    pub fn confirm(&mut self, index: ChunkIndex) {
        if matches!(self.states[index.slot()], ChunkState::Unchecked(_)) {
            self.states[index.slot()] = ChunkState::Verified;
        }
    }

    /// The whole-file hash failed and this written chunk does not match its own hash
    /// (an unchecked one, or a copy that landed over a verified one): needed again.
    pub fn reject(&mut self, index: ChunkIndex) {
        if !self.states[index.slot()].is_written() {
            return;
        }
        self.states[index.slot()] = ChunkState::Needed;
        self.needed.insert(index);
        self.verified -= 1;
        let range = self.layout.chunk_range(index);
        self.verified_bytes -= range.end - range.start;
        self.prefix = self.prefix.min(index.get());
    }

    /// `source` no longer fetches chunk `index`; it is needed again if nobody else is.
    pub fn release(&mut self, index: ChunkIndex, source: SourceId) {
        if let ChunkState::InFlight(holders, _) = &mut self.states[index.slot()] {
            holders.retain(|&h| h != source);
            if holders.is_empty() {
                self.states[index.slot()] = ChunkState::Needed;
                self.needed.insert(index);
            }
        }
    }

    /// Drops a source for the rest of this download: everything it held is re-queued.
    pub fn drop_source(&mut self, source: SourceId) {
        if !self.dropped.contains(&source) {
            self.dropped.push(source);
        }
        let held: Vec<ChunkIndex> = self
            .layout
            .chunks()
            .filter(|i| matches!(&self.states[i.slot()], ChunkState::InFlight(h, _) if h.contains(&source)))
            .collect();
        for index in held {
            self.release(index, source);
        }
    }

    /// Stops handing out work (a disk error): every source ends at its next turn.
    pub fn abort(&mut self) {
        self.aborted = true;
    }

    /// How many chunks are needed (not yet handed out).
    pub fn needed_count(&self) -> usize {
        self.needed.len()
    }

    /// Nothing is left to hand out first-hand: the endgame, if chunks are in flight.
    pub fn nothing_needed(&self) -> bool {
        self.needed.is_empty()
    }

    pub fn is_done(&self) -> bool {
        self.verified == self.layout.chunk_count()
    }

    /// Whether some chunk could still be handed out or is being fetched.
    pub fn has_work(&self) -> bool {
        !self.aborted && !self.is_done()
    }

    pub fn verified_bytes(&self) -> u64 {
        self.verified_bytes
    }

    /// Bytes from offset 0 that are all verified.
    pub fn verified_prefix_bytes(&self) -> u64 {
        self.layout.prefix_end(self.layout.chunk(self.prefix))
    }

    /// Indexes of written chunks, verified or not (for the resume sidecar: a hint,
    /// every chunk it names is hashed again on resume).
    pub fn written_chunks(&self) -> Vec<ChunkIndex> {
        self.layout
            .chunks()
            .filter(|i| self.states[i.slot()].is_written())
            .collect()
    }
}

fn has(bits: &[u8], index: ChunkIndex) -> bool {
    has_slot(bits, index.slot())
}

fn has_slot(bits: &[u8], slot: usize) -> bool {
    bits.get(slot / 8)
        .is_some_and(|b| b & (1 << (slot % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// A moment well after everything was handed out: endgame copies are allowed.
    fn late() -> Instant {
        Instant::now() + ENDGAME_AFTER * 2
    }

    fn ix(t: &ChunkTracker, i: u64) -> ChunkIndex {
        t.layout.chunk(i).unwrap()
    }

    fn tracker(chunks: u64) -> ChunkTracker {
        ChunkTracker::new(Layout::for_size(chunks * MIB, 1 << 20), &[])
    }

    #[test]
    fn hands_out_lowest_first_then_duplicates_in_the_endgame() {
        let mut t = tracker(3);
        let start = Instant::now();
        assert_eq!(t.next_for(0, start).map(ChunkIndex::get), Some(0));
        assert_eq!(t.next_for(1, start).map(ChunkIndex::get), Some(1));
        assert_eq!(t.next_for(0, start).map(ChunkIndex::get), Some(2));
        // Just handed out: not worth a second copy yet.
        assert_eq!(t.next_for(1, start).map(ChunkIndex::get), None);
        // Nothing needed: source 1 may take a chunk source 0 holds, but not its own.
        let later = late() + ENDGAME_AFTER;
        assert_eq!(t.next_for(1, later).map(ChunkIndex::get), Some(0));
        assert_eq!(t.next_for(1, late()).map(ChunkIndex::get), Some(2));
        assert_eq!(t.next_for(1, late()).map(ChunkIndex::get), None);
        assert_eq!(t.complete(ix(&t, 0)), Completion::Fresh);
        assert_eq!(t.complete(ix(&t, 0)), Completion::AlreadyDone);
        assert_eq!(t.verified_prefix_bytes(), MIB);
    }

    #[test]
    fn dropping_a_source_requeues_only_what_nobody_else_holds() {
        let mut t = tracker(4);
        for (source, want) in [(0, 0), (0, 1), (1, 2), (1, 3)] {
            assert_eq!(t.next_for(source, late()).map(ChunkIndex::get), Some(want));
        }
        t.drop_source(1);
        assert_eq!(
            t.next_for(1, late()).map(ChunkIndex::get),
            None,
            "a dropped source gets nothing"
        );
        assert_eq!(t.next_for(0, late()).map(ChunkIndex::get), Some(2));
        assert_eq!(t.next_for(0, late()).map(ChunkIndex::get), Some(3));
        for i in 0..4 {
            assert_eq!(t.complete(ix(&t, i)), Completion::Fresh);
        }
        assert!(t.is_done());
        assert_eq!(t.verified_prefix_bytes(), 4 * MIB);
    }

    #[test]
    fn a_busy_source_lets_go_of_its_chunks_and_gets_work_again_later() {
        let mut t = tracker(4);
        let start = Instant::now();
        for (source, want) in [(0, 0), (0, 1), (1, 2)] {
            assert_eq!(t.next_for(source, start).map(ChunkIndex::get), Some(want));
        }
        // Source 0 was answered `busy`: it releases what it holds, and is not dropped.
        t.release(ix(&t, 0), 0);
        t.release(ix(&t, 1), 0);
        assert_eq!(t.next_for(1, start).map(ChunkIndex::get), Some(0));
        assert_eq!(t.next_for(1, start).map(ChunkIndex::get), Some(1));
        // Back from its pause, it takes what is left like any source.
        assert_eq!(t.next_for(0, start).map(ChunkIndex::get), Some(3));
        // A chunk held by another source too stays in flight with that one.
        let mut t = tracker(1);
        assert_eq!(t.next_for(0, start).map(ChunkIndex::get), Some(0));
        let later = late() + ENDGAME_AFTER;
        assert_eq!(t.next_for(1, later).map(ChunkIndex::get), Some(0));
        t.release(ix(&t, 0), 1);
        // Not needed again (that would be handed out at once), still source 0's.
        assert_eq!(t.next_for(2, start).map(ChunkIndex::get), None);
    }

    #[test]
    fn resumed_chunks_are_not_fetched_again() {
        let layout = Layout::for_size(3 * MIB + 5, 1 << 20);
        let mut t = ChunkTracker::new(layout, &[0, 2].map(|i| layout.chunk(i).unwrap()));
        assert_eq!(t.verified_bytes(), MIB + MIB);
        assert_eq!(t.verified_prefix_bytes(), MIB);
        assert_eq!(t.next_for(7, late()).map(ChunkIndex::get), Some(1));
        assert_eq!(t.next_for(7, late()).map(ChunkIndex::get), Some(3));
        t.complete(ix(&t, 1));
        t.complete(ix(&t, 3));
        assert!(t.is_done());
        assert_eq!(t.verified_prefix_bytes(), 3 * MIB + 5);
        assert_eq!(
            t.written_chunks()
                .into_iter()
                .map(ChunkIndex::get)
                .collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert!(
            layout.chunk(99).is_none(),
            "an index out of range cannot be made"
        );
    }

    #[test]
    fn a_partial_source_is_asked_only_for_what_it_has() {
        let mut t = tracker(10);
        let start = Instant::now();
        // Source 1 has chunks 2 and 9.
        t.set_have(1, Some(vec![0b0000_0100, 0b0000_0010]));
        let mut got: Vec<u64> = (0..2)
            .filter_map(|_| t.next_for(1, start).map(ChunkIndex::get))
            .collect();
        got.sort();
        assert_eq!(got, vec![2, 9]);
        assert_eq!(t.next_for(1, start).map(ChunkIndex::get), None);
        assert!(t.could_help(1), "its chunks are in flight, not verified");
        t.complete(ix(&t, 2));
        t.complete(ix(&t, 9));
        assert!(!t.could_help(1));
        // A complete source takes the rest: with a partial source about, at random
        // among the rarest near the front (here all are equally rare).
        let first = t.next_for(0, start).unwrap().get();
        assert!(![2, 9].contains(&first));
        // Now it has everything, and takes what is left.
        t.set_have(1, None);
        assert!(t.next_for(1, start).is_some());
    }

    #[test]
    fn unchecked_chunks_count_until_rejected_then_are_needed_again() {
        let mut t = tracker(4);
        for _ in 0..4 {
            let i = t.next_for(0, late()).unwrap();
            assert_eq!(t.complete_unchecked(i, 0), Completion::Fresh);
        }
        assert!(t.is_done());
        assert_eq!(t.verified_prefix_bytes(), 4 * MIB);
        assert_eq!(t.complete(ix(&t, 1)), Completion::AlreadyDone);
        assert_eq!(t.unchecked().len(), 4);
        // The whole-file hash failed; chunk 1 was the bad one.
        t.reject(ix(&t, 1));
        assert!(!t.is_done());
        assert_eq!(t.verified_bytes(), 3 * MIB);
        assert_eq!(t.verified_prefix_bytes(), MIB);
        assert_eq!(t.next_for(0, late()).map(ChunkIndex::get), Some(1));
        t.complete(ix(&t, 1));
        assert_eq!(t.unchecked().len(), 3);
        assert!(t.is_done());
        // A verified chunk whose bytes turn out bad (a copy landed over it) goes too.
        t.reject(ix(&t, 1));
        assert!(!t.is_done());
        assert_eq!(t.next_for(0, late()).map(ChunkIndex::get), Some(1));
    }

    #[test]
    fn in_a_swarm_the_rarest_chunks_go_first_and_peers_pick_apart() {
        let mut t = tracker(8);
        // Partial sources 1 and 2 both have chunks 0-3; 1 also has 4.
        t.set_have(1, Some(vec![0b0001_1111]));
        t.set_have(2, Some(vec![0b0000_1111]));
        // A complete source takes what no partial source has (5, 6, 7) first.
        let mut first: Vec<u64> = (0..3)
            .map(|_| t.next_for(0, late()).unwrap().get())
            .collect();
        first.sort();
        assert_eq!(first, vec![5, 6, 7]);
        // Then chunk 4 (one holder) before 0-3 (two holders).
        assert_eq!(t.next_for(0, late()).map(ChunkIndex::get), Some(4));
        // Source 2 gets only what it has, and no endgame copy while chunks are needed.
        let two: Vec<u64> = (0..4)
            .map(|_| t.next_for(2, late()).unwrap().get())
            .collect();
        assert!(two.iter().all(|i| *i < 4), "{two:?}");
        assert_eq!(t.next_for(2, late()), None, "nothing needed is left for it");
        // Without partial sources (and not spread out), lowest first.
        let mut alone = tracker(8);
        assert_eq!(alone.next_for(0, late()).map(ChunkIndex::get), Some(0));
        alone.spread_out();
        let picks: std::collections::BTreeSet<u64> = (0..7)
            .map(|_| alone.next_for(0, late()).unwrap().get())
            .collect();
        assert_eq!(picks.len(), 7, "every chunk once");
    }

    #[test]
    fn a_partial_source_takes_no_endgame_copy_while_chunks_are_needed() {
        let mut t = tracker(3);
        // The complete source holds chunk 0; then partial source 1 turns up with only it.
        assert_eq!(t.next_for(0, late()).map(ChunkIndex::get), Some(0));
        t.set_have(1, Some(vec![0b0000_0001]));
        assert_eq!(
            t.next_for(1, late()),
            None,
            "chunks 1 and 2 are still needed"
        );
        let mut rest: Vec<u64> = (0..2)
            .map(|_| t.next_for(0, late()).unwrap().get())
            .collect();
        rest.sort();
        assert_eq!(rest, vec![1, 2]);
        // Nothing is needed any more: the endgame may copy chunk 0 to source 1.
        let later = late() + ENDGAME_AFTER;
        assert_eq!(t.next_for(1, later).map(ChunkIndex::get), Some(0));
    }

    #[test]
    fn empty_files_are_done_at_once() {
        let t = ChunkTracker::new(Layout::for_size(0, 1 << 20), &[]);
        assert!(t.is_done());
        assert!(!t.has_work());
    }
}
