//! Files this peer is downloading, shared as they arrive (DESIGN §9): for each content
//! hash being fetched, its `.part`, its layout and chunk hashes (those agreed with the
//! sources it came from), and which chunks are verified.
//!
//! The download engine registers a file once its layout is agreed and marks each chunk
//! as it is verified (never before: an unverified byte is never served); the server
//! answers `info` with `complete: false` and the `have` bitmap, and `read`s only within
//! verified chunks. A registration ends when its guard is dropped — after the finished
//! file is in the catalog, so that there is no moment when the peer has neither.
//! `search` never sees these: they are not in the catalog.
//!
//! A peer's `info` about a registered file is noted ([`PartialFile::note_asked`]): from
//! then on the engine checks each chunk's own hash as it lands (one hash pass skips that
//! for a single source, and an unchecked chunk is never marked here, so never served).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::content::hash::ContentHash;
use crate::content::{ChunkIndex, Layout};

#[derive(Debug)]
pub struct PartialFile {
    pub hash: ContentHash,
    pub name: String,
    pub layout: Layout,
    pub chunks: Vec<ContentHash>,
    /// The `.part` (or, once landed, the final file).
    path: Mutex<PathBuf>,
    /// One bit per verified chunk, chunk 0 in the lowest bit of the first byte.
    have: Mutex<Vec<u8>>,
    /// Whether some peer asked about this file (its `info`): then it is worth sharing.
    asked: AtomicBool,
}

impl PartialFile {
    pub fn path(&self) -> PathBuf {
        lock(&self.path).clone()
    }

    /// The file moved (landed under its final name).
    pub fn moved_to(&self, path: PathBuf) {
        *lock(&self.path) = path;
    }

    /// A peer asked what this peer has of the file.
    pub fn note_asked(&self) {
        self.asked.store(true, Ordering::Relaxed);
    }

    pub fn was_asked(&self) -> bool {
        self.asked.load(Ordering::Relaxed)
    }

    /// A chunk found bad after all (its bytes were overwritten): no longer served.
    pub fn unmark(&self, chunk: ChunkIndex) {
        let i = chunk.get();
        if let Some(byte) = lock(&self.have).get_mut((i / 8) as usize) {
            *byte &= !(1 << (i % 8));
        }
    }

    pub fn mark(&self, chunk: ChunkIndex) {
        let i = chunk.get();
        if let Some(byte) = lock(&self.have).get_mut((i / 8) as usize) {
            *byte |= 1 << (i % 8);
        }
    }

    /// The `have` bitmap in hex, exactly ceil(chunks / 8) bytes (as the sidecar writes it).
    pub fn have_hex(&self) -> String {
        lock(&self.have)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn has(&self, chunk: u64) -> bool {
        lock(&self.have)
            .get((chunk / 8) as usize)
            .is_some_and(|byte| byte & (1 << (chunk % 8)) != 0)
    }

    /// Whether every chunk that `len` bytes at `offset` touch is verified.
    pub fn has_range(&self, offset: u64, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        let chunk = self.layout.chunk_size();
        let first = offset / chunk;
        let last = (offset + len - 1) / chunk;
        (first..=last).all(|i| self.has(i))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Default)]
pub struct Partials {
    files: RwLock<HashMap<ContentHash, Arc<PartialFile>>>,
}

/// A registration: the file is shared while this lives (hold it in an `Arc` to pass it
/// on with a download's result).
#[derive(Debug)]
pub struct PartialShare {
    partials: Arc<Partials>,
    file: Arc<PartialFile>,
}

impl PartialShare {
    pub fn file(&self) -> &Arc<PartialFile> {
        &self.file
    }
}

impl Drop for PartialShare {
    fn drop(&mut self) {
        let mut files = self
            .partials
            .files
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // A newer download of the same hash may have registered since: leave it.
        if files
            .get(&self.file.hash)
            .is_some_and(|f| Arc::ptr_eq(f, &self.file))
        {
            files.remove(&self.file.hash);
        }
    }
}

impl Partials {
    /// Shares `hash` as it arrives in `part`, with the chunks in `verified` already there.
    pub fn register(
        self: &Arc<Self>,
        hash: ContentHash,
        name: String,
        part: PathBuf,
        layout: Layout,
        chunks: Vec<ContentHash>,
        verified: &[ChunkIndex],
    ) -> PartialShare {
        let file = Arc::new(PartialFile {
            hash,
            name,
            layout,
            chunks,
            path: Mutex::new(part),
            have: Mutex::new(vec![0; layout.chunk_count().div_ceil(8) as usize]),
            asked: AtomicBool::new(false),
        });
        for chunk in verified {
            file.mark(*chunk);
        }
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash, file.clone());
        PartialShare {
            partials: self.clone(),
            file,
        }
    }

    pub fn get(&self, hash: &ContentHash) -> Option<Arc<PartialFile>> {
        self.files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn have_bits_and_ranges_follow_the_verified_chunks_and_the_guard_ends_it() {
        let partials = Arc::new(Partials::default());
        let layout = Layout::for_size(10 * 1024 * 1024, 1 << 20);
        let hash = ContentHash::of(b"x");
        let share = partials.register(
            hash,
            "x".into(),
            PathBuf::from("/p"),
            layout,
            vec![hash; 10],
            &[layout.chunk(0).unwrap()],
        );
        let file = partials.get(&hash).unwrap();
        file.mark(layout.chunk(9).unwrap());
        assert_eq!(file.have_hex(), "0102");
        assert!(file.has_range(0, 1 << 20));
        assert!(!file.has_range(0, (1 << 20) + 1));
        assert!(file.has_range(9 << 20, 1 << 20));
        file.unmark(layout.chunk(9).unwrap());
        assert_eq!(file.have_hex(), "0100");
        assert!(!file.has_range(9 << 20, 1 << 20));
        assert!(!file.was_asked());
        file.note_asked();
        assert!(file.was_asked());
        drop(file);
        drop(share);
        assert!(partials.get(&hash).is_none());
    }
}
