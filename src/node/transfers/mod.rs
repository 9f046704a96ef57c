//! This session's transfers (DESIGN §8): numbered from 1, each queued, running, done,
//! failed or cancelled, with live figures fed by the download engine's events.
//!
//! A background download is a job: the node queues it, and at most `max_active` run at
//! once, each on a thread of its own driving its future (so the prompt, the server and
//! other transfers go on), started in the order they were queued. Cancelling drops the
//! job's future: its connections close at once and the `.part` with its verified chunks
//! is kept for the next `get`. Foreground gets are recorded here when they end, so
//! `transfers` lists every download of the session.
//!
//! The board owns the states; it prints nothing. The REPL gives it an announcer (one
//! line when a background transfer ends) and reads views of it.
//!
//! What a transfer is (its states, live figures, outcome and view) is in `kinds.rs`.

mod kinds;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::runtime;

pub use kinds::{
    Finished, Job, JobOutcome, Live, TransferId, TransferState, TransferView, Unfinished, Which,
};

struct Entry {
    id: TransferId,
    what: String,
    name: Option<String>,
    hash: Option<String>,
    state: TransferState,
    background: bool,
    live: Arc<Live>,
    job: Option<Job>,
    cancel: Option<runtime::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    started: Option<Instant>,
    ended: Option<Instant>,
    outcome: Option<JobOutcome>,
}

struct Board {
    /// When the session began: the origin of `started_at` / `ended_at`.
    born: Instant,
    next_id: TransferId,
    max_active: usize,
    entries: Vec<Entry>,
}

type Announcer = Box<dyn FnMut(&TransferView) + Send>;

pub struct TransferBoard {
    board: Mutex<Board>,
    changed: Condvar,
    announce: Mutex<Option<Announcer>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl TransferBoard {
    pub fn new(max_active: usize) -> Arc<TransferBoard> {
        Arc::new(TransferBoard {
            board: Mutex::new(Board {
                born: Instant::now(),
                next_id: 1,
                max_active: max_active.max(1),
                entries: Vec::new(),
            }),
            changed: Condvar::new(),
            announce: Mutex::new(None),
        })
    }

    /// Says each background transfer's end through `announce` (the REPL's printer).
    pub fn set_announcer(&self, announce: Announcer) {
        *lock(&self.announce) = Some(announce);
    }

    pub fn max_active(&self) -> usize {
        lock(&self.board).max_active
    }

    pub fn set_max_active(self: &Arc<Self>, max_active: usize) {
        lock(&self.board).max_active = max_active.max(1);
        self.pump();
    }

    /// Queues a background download; it starts as soon as fewer than `max_active` run.
    pub fn submit(self: &Arc<Self>, what: String, hash: Option<String>, job: Job) -> TransferId {
        let id = {
            let mut board = lock(&self.board);
            let id = board.next_id;
            board.next_id += 1;
            board.entries.push(Entry {
                id,
                what,
                name: None,
                hash,
                state: TransferState::Queued,
                background: true,
                live: Arc::new(Live::default()),
                job: Some(job),
                cancel: None,
                thread: None,
                started: None,
                ended: None,
                outcome: None,
            });
            id
        };
        self.pump();
        id
    }

    /// Records a foreground download that has ended (`interrupted`: by Ctrl-C).
    pub fn record(&self, what: String, outcome: JobOutcome, interrupted: bool, took: Duration) {
        let mut board = lock(&self.board);
        let id = board.next_id;
        board.next_id += 1;
        let now = Instant::now();
        let live = Arc::new(Live::default());
        if let Ok(done) = &outcome {
            live.bytes.store(done.size, Ordering::Relaxed);
            live.size.store(done.size, Ordering::Relaxed);
        }
        board.entries.push(Entry {
            id,
            what,
            name: None,
            hash: None,
            state: match (&outcome, interrupted) {
                (Ok(_), _) => TransferState::Done,
                (Err(_), true) => TransferState::Interrupted,
                (Err(_), false) => TransferState::Failed,
            },
            background: false,
            live,
            job: None,
            cancel: None,
            thread: None,
            started: now.checked_sub(took).or(Some(now)),
            ended: Some(now),
            outcome: Some(outcome),
        });
    }

    /// Starts queued jobs, oldest first, while fewer than `max_active` run.
    fn pump(self: &Arc<Self>) {
        let mut board = lock(&self.board);
        loop {
            let running = board
                .entries
                .iter()
                .filter(|e| e.state == TransferState::Running)
                .count();
            if running >= board.max_active {
                return;
            }
            let Some(entry) = board
                .entries
                .iter_mut()
                .find(|e| e.state == TransferState::Queued)
            else {
                return;
            };
            let Some(job) = entry.job.take() else {
                entry.state = TransferState::Failed;
                continue;
            };
            let (cancel_tx, cancel_rx) = runtime::bounded::<()>(1);
            entry.state = TransferState::Running;
            entry.started = Some(Instant::now());
            entry.cancel = Some(cancel_tx);
            let id = entry.id;
            let live = entry.live.clone();
            let this = self.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("transfer-{id}"))
                .spawn(move || {
                    let outcome = runtime::block_on(futures_lite::future::or(
                        async move { Some(job(live).await) },
                        async move {
                            let _ = cancel_rx.recv().await;
                            None
                        },
                    ));
                    this.finish(id, outcome);
                });
            match spawned {
                Ok(handle) => entry.thread = Some(handle),
                Err(e) => {
                    entry.state = TransferState::Failed;
                    entry.ended = Some(Instant::now());
                    entry.outcome = Some(Err(Unfinished {
                        message: format!("cannot start a thread for it: {e}"),
                        name: None,
                        hash: None,
                    }));
                }
            }
        }
    }

    /// A job's end (`None`: cancelled), then the next queued one starts.
    fn finish(self: &Arc<Self>, id: TransferId, outcome: Option<JobOutcome>) {
        let view = {
            let mut board = lock(&self.board);
            let born = board.born;
            let Some(entry) = board.entries.iter_mut().find(|e| e.id == id) else {
                return;
            };
            entry.ended = Some(Instant::now());
            entry.cancel = None;
            match outcome {
                Some(Ok(done)) => {
                    entry.state = TransferState::Done;
                    entry.name = Some(done.name.clone());
                    entry.hash = Some(done.hash.clone());
                    entry.outcome = Some(Ok(done));
                }
                Some(Err(failed)) => {
                    entry.state = TransferState::Failed;
                    entry.name = failed.name.clone().or(entry.name.take());
                    entry.hash = failed.hash.clone().or(entry.hash.take());
                    entry.outcome = Some(Err(failed));
                }
                None => {
                    entry.state = TransferState::Cancelled;
                    entry.outcome = Some(Err(Unfinished {
                        message: "cancelled; its .part is kept for the next get".into(),
                        name: None,
                        hash: None,
                    }));
                }
            }
            view_of(entry, born)
        };
        // The next one starts before waiters wake, so they see the queue moved on.
        self.pump();
        self.changed.notify_all();
        if let Some(announce) = lock(&self.announce).as_mut() {
            announce(&view);
        }
    }

    pub fn views(&self) -> Vec<TransferView> {
        let board = lock(&self.board);
        board
            .entries
            .iter()
            .map(|e| view_of(e, board.born))
            .collect()
    }

    /// Background transfers not over yet (queued or running).
    pub fn unfinished(&self) -> usize {
        self.unfinished_ids().len()
    }

    pub fn unfinished_ids(&self) -> Vec<TransferId> {
        lock(&self.board)
            .entries
            .iter()
            .filter(|e| e.background && !e.state.is_over())
            .map(|e| e.id)
            .collect()
    }

    /// Cancels what `which` names among the queued and running; returns their numbers.
    pub fn cancel(self: &Arc<Self>, which: &Which) -> Vec<TransferId> {
        let mut cancelled = Vec::new();
        {
            let mut board = lock(&self.board);
            for entry in board.entries.iter_mut().filter(|e| !e.state.is_over()) {
                let named = match which {
                    Which::All => true,
                    Which::Id(id) => entry.id == *id,
                    Which::Hash(prefix) => entry.hash.as_deref().is_some_and(|h| {
                        h.to_ascii_lowercase()
                            .starts_with(&prefix.to_ascii_lowercase())
                    }),
                };
                if !named {
                    continue;
                }
                cancelled.push(entry.id);
                match entry.state {
                    TransferState::Queued => {
                        entry.job = None;
                        entry.state = TransferState::Cancelled;
                        entry.ended = Some(Instant::now());
                        entry.outcome = Some(Err(Unfinished {
                            message: "cancelled before it started".into(),
                            name: None,
                            hash: None,
                        }));
                    }
                    _ => {
                        // Its thread drops the download and calls `finish`.
                        if let Some(cancel) = &entry.cancel {
                            let _ = cancel.try_send(());
                        }
                    }
                }
            }
        }
        self.changed.notify_all();
        cancelled
    }

    /// Waits until every transfer in `ids` (all background ones if `None`) is over, or
    /// `stop()` says to give up (checked every 100 ms); returns their views.
    pub fn wait(
        &self,
        ids: Option<&[TransferId]>,
        stop: impl Fn() -> bool,
    ) -> Option<Vec<TransferView>> {
        let mut board = lock(&self.board);
        loop {
            let chosen: Vec<&Entry> = board
                .entries
                .iter()
                .filter(|e| match ids {
                    Some(ids) => ids.contains(&e.id),
                    None => e.background,
                })
                .collect();
            if chosen.iter().all(|e| e.state.is_over()) {
                return Some(chosen.into_iter().map(|e| view_of(e, board.born)).collect());
            }
            if stop() {
                return None;
            }
            board = self
                .changed
                .wait_timeout(board, Duration::from_millis(100))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Cancels everything still queued or running and waits (up to `limit`) for their
    /// threads to end, so that each `.part` is checkpointed before the process exits.
    pub fn cancel_all_and_join(self: &Arc<Self>, limit: Duration) -> usize {
        let cancelled = self.cancel(&Which::All).len();
        let deadline = Instant::now() + limit;
        let _ = self.wait(None, || Instant::now() >= deadline);
        let threads: Vec<_> = lock(&self.board)
            .entries
            .iter_mut()
            .filter_map(|e| e.thread.take())
            .collect();
        for thread in threads {
            if thread.is_finished() || Instant::now() < deadline {
                let _ = thread.join();
            }
        }
        cancelled
    }
}

fn view_of(entry: &Entry, born: Instant) -> TransferView {
    let bytes = entry.live.bytes.load(Ordering::Relaxed);
    let size = entry.live.size.load(Ordering::Relaxed);
    let resumed = entry.live.resumed.load(Ordering::Relaxed);
    let elapsed = match (entry.started, entry.ended) {
        (Some(start), Some(end)) => end.duration_since(start),
        (Some(start), None) => start.elapsed(),
        _ => Duration::ZERO,
    };
    let (path, error, summary, sources, name, hash, fetched) = match &entry.outcome {
        Some(Ok(done)) => (
            Some(done.path.clone()),
            None,
            Some(done.summary.clone()),
            done.sources.clone(),
            Some(done.name.clone()),
            Some(done.hash.clone()),
            done.fetched,
        ),
        Some(Err(failed)) => (
            None,
            Some(failed.message.clone()),
            None,
            Vec::new(),
            failed.name.clone().or(entry.name.clone()),
            failed.hash.clone().or(entry.hash.clone()),
            bytes.saturating_sub(resumed),
        ),
        None => {
            let chosen = lock(&entry.live.chosen).clone();
            (
                None,
                None,
                None,
                Vec::new(),
                entry.name.clone().or(chosen.as_ref().map(|c| c.0.clone())),
                entry.hash.clone().or(chosen.map(|c| c.1)),
                bytes.saturating_sub(resumed),
            )
        }
    };
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.05 {
        fetched as f64 / secs
    } else {
        0.0
    };
    let eta = (entry.state == TransferState::Running && rate > 0.0 && size > bytes)
        .then(|| Duration::from_secs_f64((size - bytes) as f64 / rate));
    let (bytes, size) = match &entry.outcome {
        Some(Ok(done)) => (done.size, Some(done.size)),
        _ => (bytes, (size > 0).then_some(size)),
    };
    TransferView {
        id: entry.id,
        what: entry.what.clone(),
        name,
        hash,
        state: entry.state,
        background: entry.background,
        bytes,
        size,
        source_count: if entry.state == TransferState::Running {
            entry.live.sources.load(Ordering::Relaxed)
        } else {
            sources.len()
        },
        sources,
        elapsed,
        started_at: entry.started.map(|t| t.saturating_duration_since(born)),
        ended_at: entry.ended.map(|t| t.saturating_duration_since(born)),
        rate,
        eta,
        path,
        error,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::client::Progress;

    fn job(ms: u64, ok: bool) -> Job {
        Box::new(move |live: Arc<Live>| {
            Box::pin(async move {
                live.on(&Progress::Started {
                    size: 10,
                    resumed: 0,
                    sources: 1,
                });
                runtime::sleep(Duration::from_millis(ms)).await;
                if ok {
                    Ok(Finished {
                        path: PathBuf::from("/x"),
                        name: "x".into(),
                        hash: "ab".repeat(32),
                        size: 10,
                        fetched: 10,
                        sources: vec!["p".into()],
                        summary: "saved".into(),
                    })
                } else {
                    Err(Unfinished {
                        message: "no source".into(),
                        name: None,
                        hash: None,
                    })
                }
            })
        })
    }

    #[test]
    fn jobs_run_at_most_max_active_at_once_in_order_and_end_as_they_should() {
        let board = TransferBoard::new(1);
        let a = board.submit("a".into(), None, job(200, true));
        let b = board.submit("b".into(), None, job(10, false));
        let c = board.submit("c".into(), None, job(5000, true));
        let states: Vec<_> = board.views().iter().map(|v| v.state).collect();
        assert_eq!(
            states,
            [
                TransferState::Running,
                TransferState::Queued,
                TransferState::Queued
            ]
        );
        assert_eq!(board.wait(Some(&[a, b]), || false).unwrap().len(), 2);
        let views = board.views();
        assert_eq!(views[0].state, TransferState::Done);
        assert_eq!(views[1].state, TransferState::Failed);
        assert_eq!(views[2].state, TransferState::Running);
        assert_eq!(board.cancel(&Which::Id(c)), vec![c]);
        let ended = board.wait(None, || false).unwrap();
        assert_eq!(ended[2].state, TransferState::Cancelled);
        assert_eq!(board.unfinished(), 0);
    }
}
