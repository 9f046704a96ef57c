//! When a read of a data body wakes: the socket's `SO_RCVLOWAT` levels, and how long a
//! read waits for one. It owns the one `setsockopt` call and the rule for the levels; it
//! never reads or writes a socket (`connection.rs` does).
//!
//! While a data body is read, the task wakes only once [`WAKE_AT`] of it is queued on the
//! socket, not at every segment. Over a 1 Gbit/s link a GiB took 15,000 wakeups (epoll,
//! futexes, timers: 1.4 s of system time), over three 200 Mbit/s links 180,000 reads of
//! 6 KiB each; the receiving iperf3, reading 128 KiB at once, a tenth of that CPU
//! (benches/run.sh cases 7 and 8).

use std::time::Duration;

use crate::runtime::TcpStream;

/// The highest level: 256 KiB queued before a body's read wakes.
const WAKE_AT: usize = 256 * 1024;

/// How long a read waits for a raised level before it takes any byte: 256 KiB come in
/// 2 ms at 1 Gbit/s, 100 ms at 20 Mbit/s; slower than that, a read wakes this often.
pub(super) const PATIENCE: Duration = Duration::from_millis(100);

/// Body bytes TLS may hold above the socket besides its read buffer: the record rustls
/// is putting together and the plaintext of the last one it opened (16 KiB each, at most).
pub(super) const TLS_HELD: usize = 64 * 1024;

/// The level for a read when `sure` more bytes of the body are certain to reach the
/// socket: steps rather than the exact rest, so one `setsockopt` serves many reads.
pub(super) fn level(sure: usize) -> usize {
    [WAKE_AT, WAKE_AT / 4, WAKE_AT / 16]
        .into_iter()
        .find(|&level| sure >= level)
        .unwrap_or(1)
}

/// Sets `SO_RCVLOWAT`: readiness (and so a read's wakeup) only once `bytes` are queued.
/// Only ever set to bytes the peer has committed to send (the rest of a data frame's
/// body), so a read cannot wait for bytes that never come; the kernel also wakes on EOF,
/// an error, or a receive window too small to reach it.
pub(super) fn set_wake_at(socket: &TcpStream, bytes: usize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid open socket descriptor (borrowed from `socket` for the call) and a
    // pointer to a live c_int with its exact size, as setsockopt(2) expects.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match done {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_never_exceed_what_is_sure_to_come() {
        for sure in [0, 1, 16 * 1024 - 1, 16 * 1024, 70_000, 300_000, 10 << 20] {
            let level = level(sure);
            assert!(level == 1 || level <= sure, "{sure}: {level}");
        }
        assert_eq!(level(10 << 20), WAKE_AT);
        assert_eq!(level(100), 1);
    }
}
