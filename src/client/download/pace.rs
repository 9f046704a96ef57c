//! How many `read`s one source gets ahead: about [`AHEAD`] of its own measured rate.
//!
//! Enough bytes in flight keep a fast link busy while earlier pieces are checked; too
//! many on a slow link only hold chunks for seconds that another source (in a swarm, a
//! peer that is about to have them) could give sooner, and hide from other peers what
//! this one is fetching. So the window follows the rate each source has shown: at least
//! [`MIN_PIECES`], at most [`MAX_PIECES`] (1 MiB each).

use std::time::{Duration, Instant};

/// The time's worth of bytes kept asked for ahead.
const AHEAD: Duration = Duration::from_secs(1);
pub const MIN_PIECES: usize = 1;
pub const MAX_PIECES: usize = 8;
/// Weight of the newest sample in the rate's moving average.
const NEWEST: f64 = 0.3;

#[derive(Debug, Default)]
pub struct Pace {
    last: Option<Instant>,
    /// Bytes a second, once two pieces have arrived.
    rate: Option<f64>,
}

impl Pace {
    /// A piece of `len` bytes arrived now.
    pub fn arrived(&mut self, len: u64, now: Instant) {
        if let Some(last) = self.last {
            let took = now.saturating_duration_since(last).as_secs_f64().max(1e-6);
            let sample = len as f64 / took;
            self.rate = Some(match self.rate {
                Some(rate) => rate + NEWEST * (sample - rate),
                None => sample,
            });
        }
        self.last = Some(now);
    }

    /// The source waited for something other than bytes (a busy pause, a `have`
    /// refresh): that gap says nothing about its rate.
    pub fn paused(&mut self) {
        self.last = None;
    }

    /// Pieces to keep asked for, given pieces of `piece` bytes.
    pub fn window(&self, piece: u64) -> usize {
        let Some(rate) = self.rate else {
            return MIN_PIECES;
        };
        let pieces = (rate * AHEAD.as_secs_f64() / piece as f64).ceil() as usize;
        pieces.clamp(MIN_PIECES, MAX_PIECES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn the_window_follows_the_rate_within_bounds() {
        let start = Instant::now();
        let mut pace = Pace::default();
        assert_eq!(pace.window(MIB), MIN_PIECES, "before any figure");
        // 1 MiB every millisecond: a fast link gets the most.
        for i in 0..10 {
            pace.arrived(MIB, start + Duration::from_millis(i));
        }
        assert_eq!(pace.window(MIB), MAX_PIECES);
        // 1 MiB every 1.6 s (a 640 KB/s link): the least.
        let mut slow = Pace::default();
        for i in 0..10 {
            slow.arrived(MIB, start + Duration::from_millis(1600 * i));
        }
        assert_eq!(slow.window(MIB), MIN_PIECES);
        // About 4 MiB a second: about 4 pieces.
        let mut mid = Pace::default();
        for i in 0..20 {
            mid.arrived(MIB, start + Duration::from_millis(250 * i));
        }
        assert_eq!(mid.window(MIB), 4);
        // A pause is not a sample.
        mid.paused();
        mid.arrived(MIB, start + Duration::from_secs(100));
        assert_eq!(mid.window(MIB), 4);
    }
}
