//! Rate limits (DESIGN §8): a rate in bytes a second as users write it (`"10MiB"`,
//! `"512KiB"`, `"5MB"`, `2097152`; `0`: none), and the token bucket that holds a peer's
//! transfers to it — one bucket for all downloads, one for all uploads.
//!
//! The bucket starts empty and holds at most a quarter of a second of credit (DESIGN
//! allows one second; less keeps the average over any 5 s within 5 % of the limit), and
//! a taker may go into debt (it then waits the debt off before its bytes move), so
//! whatever the sizes taken, the bytes that pass over any stretch of time are at most
//! `rate × time + a quarter second's worth`.
//! The rate can change while transfers run (`set max_rate ...`). It never blocks a
//! thread: waiting is an async sleep.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Bytes a second; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate(pub u64);

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "{0:?} is not a rate (bytes a second: 2097152, \"512KiB\", \"10MiB\", \"5MB\"; 0 for none)"
)]
pub struct BadRate(pub String);

impl Rate {
    /// `"10MiB"`, `"512 KiB"`, `"5MB"`, `"100k"`, `"2097152"`, `"0"`. Binary units are
    /// powers of 1,024, decimal ones of 1,000; a trailing `/s` is allowed.
    pub fn parse(text: &str) -> Result<Rate, BadRate> {
        let bad = || BadRate(text.chars().take(60).collect());
        let t = text.trim();
        let t = t.strip_suffix("/s").unwrap_or(t).trim_end();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "m" | "mb" => 1e6,
            "g" | "gb" => 1e9,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        let bytes = number * scale;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 / 2.0 {
            return Err(bad());
        }
        Ok(Rate(bytes.round() as u64))
    }

    pub fn is_limited(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("none"),
            b if b % (1024 * 1024) == 0 => write!(f, "{}MiB/s", b / (1024 * 1024)),
            b if b % 1024 == 0 => write!(f, "{}KiB/s", b / 1024),
            b => write!(f, "{b}B/s"),
        }
    }
}

/// A rate in a config file: an integer (bytes a second) or a string with a unit.
impl<'de> serde::Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rate, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Written {
            Bytes(u64),
            Text(String),
        }
        match Written::deserialize(deserializer) {
            Ok(Written::Bytes(n)) => Ok(Rate(n)),
            Ok(Written::Text(t)) => Rate::parse(&t).map_err(serde::de::Error::custom),
            Err(_) => Err(serde::de::Error::custom(
                "expected a rate: bytes a second (an integer) or a string like \"10MiB\"",
            )),
        }
    }
}

/// The most credit a bucket holds, in seconds of its rate.
const CREDIT_SECS: f64 = 0.25;

/// The token bucket of one direction of a peer's traffic.
#[derive(Debug)]
pub struct TokenBucket {
    rate: AtomicU64,
    state: Mutex<Credit>,
}

#[derive(Debug)]
struct Credit {
    /// Bytes that may pass now; negative: owed.
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn new(rate: Rate) -> TokenBucket {
        TokenBucket {
            rate: AtomicU64::new(rate.0),
            state: Mutex::new(Credit {
                tokens: 0.0,
                at: Instant::now(),
            }),
        }
    }

    pub fn rate(&self) -> Rate {
        Rate(self.rate.load(Ordering::Relaxed))
    }

    pub fn set_rate(&self, rate: Rate) {
        self.rate.store(rate.0, Ordering::Relaxed);
        let mut credit = self.state.lock().unwrap_or_else(|p| p.into_inner());
        credit.tokens = credit.tokens.min(rate.0 as f64 * CREDIT_SECS);
        credit.at = Instant::now();
    }

    /// How long the taker of `bytes` must wait before moving them (zero when unlimited
    /// or in credit). The bytes are counted now: callers take, wait, then move them.
    pub fn take(&self, bytes: u64) -> Duration {
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 {
            return Duration::ZERO;
        }
        let rate = rate as f64;
        let mut credit = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let earned = now.duration_since(credit.at).as_secs_f64() * rate;
        credit.tokens = (credit.tokens + earned).min(rate * CREDIT_SECS);
        credit.at = now;
        credit.tokens -= bytes as f64;
        if credit.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-credit.tokens / rate)
        }
    }

    /// Takes `bytes` and waits until they may move.
    pub async fn admit(&self, bytes: u64) {
        let wait = self.take(bytes);
        if !wait.is_zero() {
            crate::runtime::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_users_write_them() {
        assert_eq!(Rate::parse("10MiB"), Ok(Rate(10 * 1024 * 1024)));
        assert_eq!(Rate::parse("512 KiB"), Ok(Rate(512 * 1024)));
        assert_eq!(Rate::parse("5MB"), Ok(Rate(5_000_000)));
        assert_eq!(Rate::parse("2097152"), Ok(Rate(2_097_152)));
        assert_eq!(Rate::parse("1.5MiB/s"), Ok(Rate(1_572_864)));
        assert_eq!(Rate::parse("0"), Ok(Rate(0)));
        for bad in ["", "fast", "-1MiB", "10 parsecs", "1e400"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Rate(2 * 1024 * 1024).to_string(), "2MiB/s");
    }

    #[test]
    fn the_bucket_starts_empty_keeps_a_quarter_second_and_makes_takers_wait() {
        let bucket = TokenBucket::new(Rate(1000));
        let wait = bucket.take(500);
        assert!(
            wait > Duration::from_millis(450) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        std::thread::sleep(Duration::from_millis(1600));
        // The debt is paid, and at most 250 bytes of credit were saved up.
        let wait = bucket.take(500);
        assert!(
            wait > Duration::from_millis(200) && wait <= Duration::from_millis(260),
            "{wait:?}"
        );
        bucket.set_rate(Rate(0));
        assert_eq!(bucket.take(1 << 40), Duration::ZERO);
    }
}
