//! The whole-file SHA-256, computed while the download runs.
//!
//! Chunks are verified in any order, but SHA-256 must see the bytes in order: a thread
//! follows the verified prefix of the `.part` (told by [`WholeHasher::advance`]) and
//! hashes it through memory-map windows, so at the end only the last bytes remain.

use std::fs::File;
use std::sync::mpsc;
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::content::hash::ContentHash;
use crate::index::hasher::update_from_file;

pub struct WholeHasher {
    tell: Option<mpsc::Sender<u64>>,
    thread: Option<JoinHandle<std::io::Result<(u64, Sha256)>>>,
}

impl WholeHasher {
    pub fn start(part: File) -> WholeHasher {
        let (tell, told) = mpsc::channel::<u64>();
        let thread = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            let mut done = 0u64;
            while let Ok(mut upto) = told.recv() {
                // Catch up with the latest news, not every step of it.
                while let Ok(later) = told.try_recv() {
                    upto = upto.max(later);
                }
                if upto > done {
                    update_from_file(&mut hasher, &part, done..upto)?;
                    done = upto;
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
    pub fn finish(mut self, size: u64) -> std::io::Result<Option<ContentHash>> {
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

impl Drop for WholeHasher {
    fn drop(&mut self) {
        // Closing the channel ends the thread; it is not waited for on cancel.
        drop(self.tell.take());
    }
}
