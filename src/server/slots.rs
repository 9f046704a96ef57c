//! Connection accounting: up to `max_connections` served at once; as many again may
//! wait briefly to be told `busy`; beyond that a connection is closed at once. A slot is
//! given back when its guard drops, that is as soon as the connection is closed.
//!
//! A flood of connections that never say hello cannot lock honest clients out: when
//! every place is taken, a new connection takes the place of the oldest one still
//! waiting for its hello (the preamble and first request), which is told to end. A
//! client that says hello at once keeps its place; silent holders lose theirs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

#[derive(Debug)]
pub struct Slots {
    max: usize,
    served: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    /// Connections holding a place that have not said hello yet, oldest first.
    silent: Mutex<VecDeque<Weak<Place>>>,
}

/// A connection's hold on its place, which a newer connection may take over while this
/// one has not said hello.
#[derive(Debug)]
pub struct Place {
    kind: SlotKind,
    guard: Mutex<Option<SlotGuard>>,
    evicted: AtomicBool,
    greeted: AtomicBool,
}

/// What a new connection may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    Served,
    /// Over the cap: read the preamble, answer `busy`, close.
    Busy,
    /// Far over the cap: close without a word.
    Drop,
}

/// A connection's place; it is given back when this drops.
#[derive(Debug)]
pub struct Slot {
    pub kind: SlotKind,
    place: Option<Arc<Place>>,
}

impl Slot {
    /// The connection said hello: its place is no longer up for the taking.
    pub fn greeted(&self) {
        if let Some(place) = &self.place {
            place.greeted.store(true, Ordering::Release);
        }
    }

    /// Whether the connection said hello (a served connection that has not is "silent").
    pub fn is_greeted(&self) -> bool {
        self.place
            .as_ref()
            .is_none_or(|p| p.greeted.load(Ordering::Acquire))
    }

    /// A newer connection took this one's place: it must end now.
    pub fn evicted(&self) -> bool {
        self.place
            .as_ref()
            .is_some_and(|p| p.evicted.load(Ordering::Acquire))
    }
}

#[derive(Debug)]
pub struct SlotGuard(Arc<AtomicUsize>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn try_take(counter: &Arc<AtomicUsize>, max: usize) -> Option<SlotGuard> {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| SlotGuard(counter.clone()))
}

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            max,
            served: Arc::new(AtomicUsize::new(0)),
            refused: Arc::new(AtomicUsize::new(0)),
            silent: Mutex::new(VecDeque::new()),
        }
    }

    /// Three quarters of the places are taken: waiting connections get shorter time-outs.
    pub fn under_pressure(&self) -> bool {
        self.served.load(Ordering::Acquire) * 4 >= self.max * 3
    }

    /// Every served place is taken: a connection that has not said hello yet gets very
    /// little time, so that places held by silent connections turn over fast enough
    /// for a client that says hello at once to get one.
    pub fn full(&self) -> bool {
        self.served.load(Ordering::Acquire) >= self.max
    }

    pub fn take(&self) -> Slot {
        let (kind, guard) = match try_take(&self.served, self.max) {
            Some(guard) => (SlotKind::Served, guard),
            None => match try_take(&self.refused, self.max) {
                Some(guard) => (SlotKind::Busy, guard),
                None => match self.take_over() {
                    Some(taken) => taken,
                    None => {
                        return Slot {
                            kind: SlotKind::Drop,
                            place: None,
                        }
                    }
                },
            },
        };
        let place = Arc::new(Place {
            kind,
            guard: Mutex::new(Some(guard)),
            evicted: AtomicBool::new(false),
            greeted: AtomicBool::new(false),
        });
        let mut silent = self.silent.lock().unwrap_or_else(|p| p.into_inner());
        // Forget connections that ended or said hello, so the queue stays as long as
        // the places it can hold.
        silent.retain(|w| {
            w.upgrade()
                .is_some_and(|p| !p.greeted.load(Ordering::Acquire))
        });
        silent.push_back(Arc::downgrade(&place));
        Slot {
            kind,
            place: Some(place),
        }
    }

    /// The place of the oldest connection still waiting for its hello, told to end.
    fn take_over(&self) -> Option<(SlotKind, SlotGuard)> {
        let mut silent = self.silent.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(weak) = silent.pop_front() {
            let Some(place) = weak.upgrade() else {
                continue;
            };
            if place.greeted.load(Ordering::Acquire) {
                continue;
            }
            let guard = place.guard.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(guard) = guard {
                place.evicted.store(true, Ordering::Release);
                return Some((place.kind, guard));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_come_back_when_dropped() {
        let slots = Slots::new(1);
        let first = slots.take();
        first.greeted();
        assert_eq!(first.kind, SlotKind::Served);
        let second = slots.take();
        second.greeted();
        assert_eq!(second.kind, SlotKind::Busy);
        assert_eq!(slots.take().kind, SlotKind::Drop);
        drop(second);
        let third = slots.take();
        assert_eq!(third.kind, SlotKind::Busy);
        third.greeted();
        drop(first);
        assert_eq!(slots.take().kind, SlotKind::Served);
        drop(third);
    }

    #[test]
    fn a_new_connection_takes_the_place_of_the_oldest_silent_one() {
        let slots = Slots::new(1);
        let silent = slots.take();
        let greeted = slots.take();
        greeted.greeted();
        assert_eq!(
            (silent.kind, greeted.kind),
            (SlotKind::Served, SlotKind::Busy)
        );
        let newcomer = slots.take();
        assert_eq!(newcomer.kind, SlotKind::Served);
        assert!(silent.evicted() && !greeted.evicted());
        newcomer.greeted();
        // Nobody silent is left: the next is closed.
        assert_eq!(slots.take().kind, SlotKind::Drop);
        drop(silent);
        assert_eq!(slots.take().kind, SlotKind::Drop);
        drop(newcomer);
        assert_eq!(slots.take().kind, SlotKind::Served);
    }
}
