//! The whole-file SHA-256, computed while the download runs.
//!
//! Chunks are verified in any order, but SHA-256 must see the bytes in order: a thread
//! follows the verified prefix of the `.part` (told by [`WholeHasher::advance`]) and
//! hashes it through memory-map windows, so at the end only the last bytes remain.
//!
//! It also starts the `.part`'s write-back as the prefix grows: every [`WRITE_BACK_EVERY`]
//! bytes hashed, a second thread flushes the file to the disk (`fdatasync`), so that the
//! final flush before the file gets its name has little left (issue 16: durability
//! without a serial tail). Those flushes only save time; the final one is what counts.

use std::fs::File;
use std::sync::mpsc;
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::content::hash::ContentHash;
use crate::index::hasher::update_from_file;

/// Hashed bytes between two background flushes of the `.part`.
const WRITE_BACK_EVERY: u64 = 64 * 1024 * 1024;

pub struct WholeHasher {
    tell: Option<mpsc::Sender<u64>>,
    thread: Option<JoinHandle<std::io::Result<(u64, Sha256)>>>,
}

impl WholeHasher {
    pub fn start(part: File) -> WholeHasher {
        let (tell, told) = mpsc::channel::<u64>();
        let write_back = WriteBack::start(&part);
        let thread = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            let mut done = 0u64;
            let mut flushed = 0u64;
            while let Ok(mut upto) = told.recv() {
                // Catch up with the latest news, not every step of it.
                while let Ok(later) = told.try_recv() {
                    upto = upto.max(later);
                }
                if upto > done {
                    update_from_file(&mut hasher, &part, done..upto)?;
                    done = upto;
                }
                if done - flushed >= WRITE_BACK_EVERY {
                    write_back.kick();
                    flushed = done;
                }
            }
            Ok((done, hasher))
        });
        WholeHasher {
            tell: Some(tell),
            thread: Some(thread),
        }
    }

    /// Everything in `0..verified_prefix` is verified and written.
    pub fn advance(&self, verified_prefix: u64) {
        if let Some(tell) = &self.tell {
            let _ = tell.send(verified_prefix);
        }
    }

    /// Waits for the thread and returns the hash of the first `size` bytes, or `None` if
    /// it did not get that far.
    pub fn finish(&mut self, size: u64) -> std::io::Result<Option<ContentHash>> {
        self.advance(size);
        drop(self.tell.take());
        let Some(thread) = self.thread.take() else {
            return Ok(None);
        };
        let (done, hasher) = thread
            .join()
            .map_err(|_| std::io::Error::other("hashing thread panicked"))??;
        Ok((done == size).then(|| ContentHash::from_hasher(hasher)))
    }
}

/// A thread that flushes the `.part` to the disk when kicked (at most one flush queued:
/// kicks while one runs are folded into the next).
struct WriteBack {
    kick: Option<mpsc::SyncSender<()>>,
}

impl WriteBack {
    fn start(part: &File) -> WriteBack {
        let Ok(file) = part.try_clone() else {
            return WriteBack { kick: None };
        };
        let (kick, kicked) = mpsc::sync_channel::<()>(1);
        let spawned = std::thread::Builder::new()
            .name("write-back".into())
            .spawn(move || {
                while kicked.recv().is_ok() {
                    // Only to start the disk early: an error here is the final flush's
                    // to report.
                    let _ = rustix::fs::fdatasync(&file);
                }
            });
        WriteBack {
            kick: spawned.ok().map(|_| kick),
        }
    }

    fn kick(&self) {
        if let Some(kick) = &self.kick {
            let _ = kick.try_send(());
        }
    }
}

impl Drop for WholeHasher {
    fn drop(&mut self) {
        // Closing the channel ends the thread; it is not waited for on cancel.
        drop(self.tell.take());
    }
}
