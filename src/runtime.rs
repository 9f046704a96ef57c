//! The one seam onto the async runtime.
//!
//! Everything that spawns a task, blocks on a future, sleeps, waits with a deadline,
//! runs work on the blocking pool or opens a TCP socket goes through here. Only this
//! file names `async_std`; the rest of the crate uses `futures-lite` traits, so that a
//! move to `smol` (built on the same crates) stays a change to this one file.

use std::future::Future;
use std::time::Duration;

pub(crate) use async_std::net::{TcpListener, TcpStream};
pub(crate) use async_std::task::JoinHandle;

/// The deadline of [`timeout`] passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimedOut;

/// Runs a future to completion on the current thread.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Spawns a task on the shared executor.
pub(crate) fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    async_std::task::spawn(future)
}

/// Starts a task that nobody awaits: it runs to its end on its own. (Under smol a
/// dropped handle would cancel the task; this is the one place that knows to detach.)
pub(crate) fn spawn_detached<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    drop(async_std::task::spawn(future));
}

/// Runs blocking work (hashing, memory maps, disk scans) off the executor threads.
pub(crate) async fn spawn_blocking<F, T>(work: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    async_std::task::spawn_blocking(work).await
}

/// Waits at most `limit` for `future`.
pub(crate) async fn timeout<F: Future>(limit: Duration, future: F) -> Result<F::Output, TimedOut> {
    async_std::future::timeout(limit, future)
        .await
        .map_err(|_| TimedOut)
}

pub(crate) async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await
}

/// Channels between tasks (and from signal handlers, whose `try_send` never blocks).
pub(crate) use async_std::channel::{bounded, Receiver, Sender};

/// Hands a connected std socket to the runtime.
pub(crate) fn tcp_from_std(stream: std::net::TcpStream) -> TcpStream {
    TcpStream::from(stream)
}

/// Starts blocking work on the blocking pool and returns its handle, to await later.
pub(crate) fn spawn_blocking_task<F, T>(work: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    async_std::task::spawn_blocking(work)
}
