//! Shutdown of the connections: one flag that every connection looks at while it waits
//! for a request, and a count of the connections still running, which the listener
//! waits on (with a deadline) before `Server::run` returns.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime;

#[derive(Debug, Default)]
pub(crate) struct Drain {
    closing: AtomicBool,
    active: Arc<AtomicUsize>,
}

/// A running connection; counted until it drops.
pub(crate) struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drain {
    pub(crate) fn enter(&self) -> Active {
        self.active.fetch_add(1, Ordering::AcqRel);
        Active(self.active.clone())
    }

    /// Whether connections should end at their next chance.
    pub(crate) fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Tells every connection to end, then waits for them up to `deadline`; returns how
    /// many are still running then.
    pub(crate) async fn close(&self, deadline: Duration) -> usize {
        self.closing.store(true, Ordering::Release);
        let started = Instant::now();
        loop {
            let left = self.active.load(Ordering::Acquire);
            if left == 0 || started.elapsed() >= deadline {
                return left;
            }
            runtime::sleep(Duration::from_millis(20)).await;
        }
    }
}
