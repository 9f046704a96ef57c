//! Chunk arithmetic for one file: how big the chunks are, how many, and the byte range
//! of each. Every offset computation of a transfer goes through [`Layout`], so that a
//! chunk index can only come from here and is always in range.

use std::ops::Range;

use thiserror::Error;

/// The largest `info` answer (DESIGN §3: fixed, not configurable): the chunk list of any
/// file must fit it, which is what makes the chunk size a function of the size alone.
pub const INFO_ANSWER_BYTES: usize = 1024 * 1024;

/// The smallest chunk; doubled until the chunk list fits an `info` answer.
pub const BASE_CHUNK_SIZE: u64 = 1024 * 1024;

/// JSON bytes one chunk hash costs in an `info` answer: 64 hex digits, quotes, comma.
const BYTES_PER_CHUNK_ENTRY: usize = 67;

/// Room left in an `info` answer for everything that is not the chunk list.
const INFO_OVERHEAD: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    size: u64,
    chunk_size: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("chunk size {got} is not the {want} a file of {size} bytes has")]
    BadChunkSize { got: u64, want: u64, size: u64 },
    #[error("{got} chunk hashes for a file that has {want} chunks")]
    WrongChunkCount { got: usize, want: u64 },
}

impl Layout {
    /// The layout a server uses for a file of `size` bytes, given the largest `info`
    /// answer it may send.
    pub fn for_size(size: u64, max_answer_bytes: usize) -> Layout {
        let max_chunks =
            (max_answer_bytes.saturating_sub(INFO_OVERHEAD) / BYTES_PER_CHUNK_ENTRY).max(1) as u64;
        let mut chunk_size = BASE_CHUNK_SIZE;
        while size.div_ceil(chunk_size) > max_chunks {
            chunk_size *= 2;
        }
        Layout { size, chunk_size }
    }

    /// The layout a peer claims in its `info` answer, checked against the one rule
    /// (DESIGN §3): the chunk size is a function of the size alone, so a claim of any
    /// other chunk size (a 1 GiB chunk for a 1 GiB file, say) is refused before a byte is
    /// asked for.
    pub fn from_claim(
        size: u64,
        chunk_size: u64,
        chunk_count: usize,
    ) -> Result<Layout, LayoutError> {
        let layout = Layout::for_size(size, INFO_ANSWER_BYTES);
        if chunk_size != layout.chunk_size {
            return Err(LayoutError::BadChunkSize {
                got: chunk_size,
                want: layout.chunk_size,
                size,
            });
        }
        if layout.chunk_count() != chunk_count as u64 {
            return Err(LayoutError::WrongChunkCount {
                got: chunk_count,
                want: layout.chunk_count(),
            });
        }
        Ok(layout)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// An empty file has no chunks.
    pub fn chunk_count(&self) -> u64 {
        self.size.div_ceil(self.chunk_size)
    }

    /// Chunk `index`, if this file has it.
    pub fn chunk(&self, index: u64) -> Option<ChunkIndex> {
        (index < self.chunk_count()).then_some(ChunkIndex(index))
    }

    /// Every chunk, in order.
    pub fn chunks(&self) -> impl Iterator<Item = ChunkIndex> {
        (0..self.chunk_count()).map(ChunkIndex)
    }

    /// Byte range of a chunk; the last chunk may be short.
    pub fn chunk_range(&self, index: ChunkIndex) -> Range<u64> {
        let start = (index.0 * self.chunk_size).min(self.size);
        let end = (start + self.chunk_size).min(self.size);
        start..end
    }

    /// Where the verified prefix ends when every chunk before `first_missing` is
    /// verified (`None`: all of them).
    pub fn prefix_end(&self, first_missing: Option<ChunkIndex>) -> u64 {
        first_missing.map_or(self.size, |i| self.chunk_range(i).start)
    }
}

/// A chunk number that is in range for the [`Layout`] that made it (rqbit's
/// `ValidPieceIndex`): bounds are checked once, where it is made, and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkIndex(u64);

impl ChunkIndex {
    pub fn get(self) -> u64 {
        self.0
    }

    /// For indexing a per-chunk table of the same layout.
    pub fn slot(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for ChunkIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn small_files_use_one_mib_chunks() {
        let layout = Layout::for_size(300 * MIB + 1, 1 << 20);
        assert_eq!(layout.chunk_size(), MIB);
        assert_eq!(layout.chunk_count(), 301);
        assert_eq!(
            layout.chunk_range(layout.chunk(300).unwrap()),
            300 * MIB..300 * MIB + 1
        );
        assert!(layout.chunk(301).is_none());
        assert_eq!(Layout::for_size(0, 1 << 20).chunk_count(), 0);
    }

    #[test]
    fn chunk_list_always_fits_the_answer() {
        for size in [MIB, 20_000 * MIB, 1 << 40, u64::MAX / 2] {
            let layout = Layout::for_size(size, 1 << 20);
            assert!(layout.chunk_count() as usize * 67 + 16 * 1024 <= 1 << 20);
        }
    }

    #[test]
    fn claims_are_checked() {
        assert!(Layout::from_claim(10 * MIB, MIB, 10).is_ok());
        assert!(Layout::from_claim(10 * MIB, MIB, 9).is_err());
        assert!(Layout::from_claim(10 * MIB, 1000, 10_486).is_err());
        assert!(Layout::from_claim(0, MIB, 0).is_ok());
        // Issue 10: a power of two that is not the rule's answer is refused too.
        assert!(Layout::from_claim(1 << 30, 1 << 30, 1).is_err());
        assert!(Layout::from_claim(1 << 33, 1 << 33, 1).is_err());
        let big = Layout::for_size(1 << 40, 1 << 20);
        assert!(Layout::from_claim(1 << 40, big.chunk_size(), big.chunk_count() as usize).is_ok());
    }
}
