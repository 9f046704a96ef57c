//! A shared file opened for sending, mapped one window at a time.
//!
//! The length it was hashed with is checked when it is opened and again before every
//! window is mapped, so a file shortened meanwhile is never mapped past its end (which
//! would fault) and a changed file is never sent under its old hash.

use std::fs::File;

use memmap2::{Mmap, MmapOptions};
use thiserror::Error;

use crate::index::SharedFile;

/// Bytes mapped at once while sending: with every connection place taken by clients that
/// do not read, mapped memory stays at `max_connections` × this.
pub(crate) const SEND_WINDOW: u64 = 256 * 1024;

#[derive(Debug, Error)]
pub(crate) enum WindowError {
    #[error("cannot open the file")]
    Open(#[source] std::io::Error),
    #[error("the file changed since it was indexed")]
    Changed,
    #[error("cannot map the file")]
    Map(#[source] std::io::Error),
}

pub(crate) struct FileWindows {
    handle: File,
    size: u64,
}

impl FileWindows {
    /// Opens `file`, checking it still has the length it was hashed with.
    pub(crate) fn open(file: &SharedFile) -> Result<FileWindows, WindowError> {
        let handle = File::open(&file.path).map_err(WindowError::Open)?;
        let windows = FileWindows {
            handle,
            size: file.size(),
        };
        windows.check()?;
        Ok(windows)
    }

    fn check(&self) -> Result<(), WindowError> {
        match self.handle.metadata() {
            Ok(meta) if meta.len() == self.size => Ok(()),
            _ => Err(WindowError::Changed),
        }
    }

    /// Maps `len` bytes at `offset`, re-checking on the open handle that the file was not
    /// shortened meanwhile.
    pub(crate) fn map(&self, offset: u64, len: usize) -> Result<Mmap, WindowError> {
        self.check()?;
        // SAFETY: read-only map of a range checked against the file's current length; it
        // is dropped as soon as its bytes are written to the socket (the kernel copies
        // from it inside `write`, where a page gone meanwhile is an EFAULT, not a signal).
        unsafe { MmapOptions::new().offset(offset).len(len).map(&self.handle) }
            .map_err(WindowError::Map)
    }
}
