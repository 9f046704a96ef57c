//! SHA-256 of files read through memory maps, one window at a time.
//!
//! Each window is mapped, hashed and unmapped before the next, so memory stays bounded
//! whatever the file size. These functions block: callers run them on the blocking pool.

use std::fs::File;
use std::io;
use std::path::Path;

use memmap2::{Advice, MmapOptions};
use sha2::{Digest, Sha256};

use crate::content::hash::ContentHash;
use crate::content::layout::Layout;

/// Bytes mapped at once while hashing.
pub const HASH_WINDOW: u64 = 8 * 1024 * 1024;

/// Calls `visit` with consecutive mapped slices covering `range` of `file`.
fn for_each_window(
    file: &File,
    range: std::ops::Range<u64>,
    mut visit: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut offset = range.start;
    while offset < range.end {
        let len = (range.end - offset).min(HASH_WINDOW);
        // A file cut shorter since it was listed must not be mapped past its end (touching
        // such pages is SIGBUS); re-checked for every window.
        if file.metadata()?.len() < offset + len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file got shorter while being read",
            ));
        }
        // SAFETY: the map is read-only, checked against the current length just above,
        // and dropped before the next window. Only a truncation racing these few
        // milliseconds could still fault; the index re-stats every file after hashing
        // and discards any whose size or mtime moved.
        let map = unsafe {
            MmapOptions::new()
                .offset(offset)
                .len(len as usize)
                // Fault the window in at once, not a page at a time while hashing.
                .populate()
                .map(file)?
        };
        let _ = map.advise(Advice::Sequential);
        visit(&map);
        offset += len;
    }
    Ok(())
}

/// The whole-file hash of the first `size` bytes of `path`.
pub fn hash_file(path: &Path, size: u64) -> io::Result<ContentHash> {
    let file = File::open(path)?;
    let mut hasher = Sha256::new();
    for_each_window(&file, 0..size, |bytes| hasher.update(bytes))?;
    Ok(ContentHash::from_hasher(hasher))
}

/// Feeds `range` of an open file into `hasher`.
pub fn update_from_file(
    hasher: &mut Sha256,
    file: &File,
    range: std::ops::Range<u64>,
) -> io::Result<()> {
    for_each_window(file, range, |bytes| hasher.update(bytes))
}

/// The hash of each chunk of `path` under `layout`.
pub fn hash_chunks(path: &Path, layout: Layout) -> io::Result<Vec<ContentHash>> {
    let file = File::open(path)?;
    let mut out = Vec::with_capacity(layout.chunk_count() as usize);
    for index in layout.chunks() {
        let mut hasher = Sha256::new();
        for_each_window(&file, layout.chunk_range(index), |bytes| {
            hasher.update(bytes)
        })?;
        out.push(ContentHash::from_hasher(hasher));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_agree_with_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(HASH_WINDOW as usize * 2 + 12345))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(
            hash_file(&path, data.len() as u64).unwrap(),
            ContentHash::of(&data)
        );
        assert_eq!(hash_file(&path, 0).unwrap(), ContentHash::of(b""));
        let layout = Layout::for_size(data.len() as u64, 1 << 20);
        let chunks = hash_chunks(&path, layout).unwrap();
        assert_eq!(chunks.len() as u64, layout.chunk_count());
        let last = layout.chunk_range(layout.chunks().last().unwrap());
        assert_eq!(
            chunks.last().unwrap(),
            &ContentHash::of(&data[last.start as usize..])
        );
    }
}
