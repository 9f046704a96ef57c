//! Connection accounting: up to `max_connections` served at once; as many again may
//! wait briefly to be told `busy`; beyond that a connection is closed at once. A slot is
//! given back when its guard drops, that is as soon as the connection is closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct Slots {
    max: usize,
    served: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
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
    _guard: Option<SlotGuard>,
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
        }
    }

    /// Three quarters of the places are taken: waiting connections get shorter time-outs.
    pub fn under_pressure(&self) -> bool {
        self.served.load(Ordering::Acquire) * 4 >= self.max * 3
    }

    pub fn take(&self) -> Slot {
        if let Some(guard) = try_take(&self.served, self.max) {
            return Slot {
                kind: SlotKind::Served,
                _guard: Some(guard),
            };
        }
        match try_take(&self.refused, self.max) {
            Some(guard) => Slot {
                kind: SlotKind::Busy,
                _guard: Some(guard),
            },
            None => Slot {
                kind: SlotKind::Drop,
                _guard: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_come_back_when_dropped() {
        let slots = Slots::new(1);
        let first = slots.take();
        assert_eq!(first.kind, SlotKind::Served);
        let second = slots.take();
        assert_eq!(second.kind, SlotKind::Busy);
        assert_eq!(slots.take().kind, SlotKind::Drop);
        drop(second);
        assert_eq!(slots.take().kind, SlotKind::Busy);
        drop(first);
        assert_eq!(slots.take().kind, SlotKind::Served);
    }
}
