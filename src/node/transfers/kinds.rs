//! What a transfer is, as the board keeps it and as `transfers` and `wait` show it: its
//! number and state, the live figures its download feeds, how it ended, and the view
//! made of all that. Plain data: it starts nothing and prints nothing (the board in
//! [`super`] does the first, the shell the second).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lock;
use crate::client::Progress;

pub type TransferId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
    /// A foreground get stopped by Ctrl-C (its `.part` kept).
    Interrupted,
}

impl TransferState {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Queued => "queued",
            TransferState::Running => "running",
            TransferState::Done => "done",
            TransferState::Failed => "failed",
            TransferState::Cancelled => "cancelled",
            TransferState::Interrupted => "interrupted",
        }
    }

    pub fn is_over(self) -> bool {
        !matches!(self, TransferState::Queued | TransferState::Running)
    }
}

/// Live figures of a running transfer, written from its progress events.
#[derive(Debug, Default)]
pub struct Live {
    /// Verified bytes so far (those found in an earlier `.part` included).
    pub(super) bytes: AtomicU64,
    /// Bytes already verified when it started (a resume).
    pub(super) resumed: AtomicU64,
    /// The file's size; 0 until known.
    pub(super) size: AtomicU64,
    pub(super) sources: AtomicUsize,
    /// The file's name and SHA-256, once the job has chosen them.
    pub(super) chosen: Mutex<Option<(String, String)>>,
}

impl Live {
    /// Says which content the transfer fetches (as soon as it is known).
    pub fn chosen(&self, name: String, hash: String) {
        *lock(&self.chosen) = Some((name, hash));
    }

    /// Takes one progress event of the download engine.
    pub fn on(&self, event: &Progress) {
        match event {
            Progress::Started {
                size,
                resumed,
                sources,
            } => {
                self.size.store(*size, Ordering::Relaxed);
                self.resumed.store(*resumed, Ordering::Relaxed);
                self.bytes.store(*resumed, Ordering::Relaxed);
                self.sources.store(*sources, Ordering::Relaxed);
            }
            Progress::Verified { bytes } => self.bytes.store(*bytes, Ordering::Relaxed),
            Progress::Joined { .. } => {
                self.sources.fetch_add(1, Ordering::Relaxed);
            }
            Progress::Dropped { .. } | Progress::Left { .. } => {
                let _ = self
                    .sources
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        Some(n.saturating_sub(1))
                    });
            }
        }
    }
}

/// How a download ended well.
#[derive(Debug, Clone)]
pub struct Finished {
    pub path: PathBuf,
    pub name: String,
    pub hash: String,
    pub size: u64,
    /// Bytes that came over the network.
    pub fetched: u64,
    /// The peers that sent bytes.
    pub sources: Vec<String>,
    /// What the REPL says when it ends (`saved …`, `already here: …`).
    pub summary: String,
}

/// Why a download did not end well, said in one line.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub message: String,
    pub name: Option<String>,
    pub hash: Option<String>,
}

pub type JobOutcome = Result<Finished, Unfinished>;

/// A background download, made into its future on the thread that runs it.
pub type Job =
    Box<dyn FnOnce(Arc<Live>) -> Pin<Box<dyn Future<Output = JobOutcome>>> + Send + 'static>;

/// A transfer as `transfers` and `wait` show it.
#[derive(Debug, Clone)]
pub struct TransferView {
    pub id: TransferId,
    /// What was asked for (`get`'s argument), until the file's name is known.
    pub what: String,
    pub name: Option<String>,
    pub hash: Option<String>,
    pub state: TransferState,
    pub background: bool,
    pub bytes: u64,
    pub size: Option<u64>,
    /// Sources in use (running), or the peers that sent bytes (done).
    pub source_count: usize,
    pub sources: Vec<String>,
    pub elapsed: Duration,
    /// When it started and ended, since the board was made (the session began).
    pub started_at: Option<Duration>,
    pub ended_at: Option<Duration>,
    /// Bytes a second fetched over the network (not counting a resume's).
    pub rate: f64,
    pub eta: Option<Duration>,
    pub path: Option<PathBuf>,
    pub error: Option<String>,
    pub summary: Option<String>,
}

impl TransferView {
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.what)
    }
}

/// Which transfers `cancel` means.
#[derive(Debug, Clone)]
pub enum Which {
    Id(TransferId),
    /// A SHA-256 (or a prefix of one, at least 8 digits).
    Hash(String),
    All,
}
