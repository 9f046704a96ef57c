//! The resume sidecar: which chunks of a `.part` were verified.
//!
//! It sits beside the `.part` as `.p2p-<sha256>.part.state` (hidden, never listed or
//! served) and is written whole to a temporary file then renamed, so a crash leaves the
//! old one or the new one. It is a hint, never trusted: on resume every chunk it names
//! is hashed again against the chunk list, and only those that match count. Without a
//! usable sidecar every chunk already in the `.part` is checked the same way.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::content::hash::ContentHash;
use crate::content::{ChunkIndex, Layout};
use crate::index::hasher::update_from_file;

const SIDECAR_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Sidecar {
    version: u32,
    sha256: ContentHash,
    size: u64,
    chunk_size: u64,
    /// One bit per chunk, chunk 0 in the lowest bit of the first byte, as hex.
    verified: String,
}

pub fn sidecar_path(part: &Path) -> PathBuf {
    let mut name = part.file_name().unwrap_or_default().to_os_string();
    name.push(".state");
    part.with_file_name(name)
}

fn encode_bits(layout: Layout, set: &[ChunkIndex]) -> String {
    let mut bytes = vec![0u8; layout.chunk_count().div_ceil(8) as usize];
    for i in set.iter().map(|i| i.get()) {
        bytes[(i / 8) as usize] |= 1 << (i % 8);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_bits(layout: Layout, hex: &str) -> Option<Vec<ChunkIndex>> {
    if hex.len() as u64 != layout.chunk_count().div_ceil(8) * 2 || !hex.is_ascii() {
        return None;
    }
    let mut out = Vec::new();
    for (byte_index, pair) in hex.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        let byte = u8::from_str_radix(text, 16).ok()?;
        for bit in 0..8 {
            if byte & (1 << bit) == 0 {
                continue;
            }
            if let Some(index) = layout.chunk(byte_index as u64 * 8 + bit) {
                out.push(index);
            }
        }
    }
    Some(out)
}

/// The chunks a sidecar claims, if it exists and describes this very download.
pub fn load(path: &Path, hash: &ContentHash, layout: Layout) -> Option<Vec<ChunkIndex>> {
    let bytes = std::fs::read(path).ok()?;
    let sidecar: Sidecar = serde_json::from_slice(&bytes).ok()?;
    let same = sidecar.version == SIDECAR_VERSION
        && sidecar.sha256 == *hash
        && sidecar.size == layout.size()
        && sidecar.chunk_size == layout.chunk_size();
    if !same {
        return None;
    }
    decode_bits(layout, &sidecar.verified)
}

/// The verified bytes a sidecar names, and the size of its file, whatever the layout
/// the caller expects (for saying what a cancelled download kept).
pub fn kept(path: &Path, hash: &ContentHash) -> Option<(u64, u64)> {
    let bytes = std::fs::read(path).ok()?;
    let sidecar: Sidecar = serde_json::from_slice(&bytes).ok()?;
    if sidecar.version != SIDECAR_VERSION || sidecar.sha256 != *hash {
        return None;
    }
    let layout = Layout::from_claim(
        sidecar.size,
        sidecar.chunk_size,
        sidecar.size.div_ceil(sidecar.chunk_size.max(1)) as usize,
    )
    .ok()?;
    let chunks = decode_bits(layout, &sidecar.verified)?;
    let kept = chunks
        .iter()
        .map(|&i| {
            let r = layout.chunk_range(i);
            r.end - r.start
        })
        .sum();
    Some((kept, layout.size()))
}

pub fn save(
    path: &Path,
    hash: &ContentHash,
    layout: Layout,
    verified: &[ChunkIndex],
) -> std::io::Result<()> {
    let sidecar = Sidecar {
        version: SIDECAR_VERSION,
        sha256: *hash,
        size: layout.size(),
        chunk_size: layout.chunk_size(),
        verified: encode_bits(layout, verified),
    };
    crate::atomic_file::write(path, &serde_json::to_vec(&sidecar)?, false)
}

pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Which of `candidates` really hold their chunk in `part`: each is hashed again.
/// Runs on a few threads; blocking.
pub fn verify_chunks(
    part: &File,
    layout: Layout,
    hashes: &[ContentHash],
    candidates: Vec<ChunkIndex>,
) -> Vec<ChunkIndex> {
    let part_len = part.metadata().map(|m| m.len()).unwrap_or(0);
    let candidates: Vec<ChunkIndex> = candidates
        .into_iter()
        .filter(|&i| layout.chunk_range(i).end <= part_len)
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let per_thread = candidates.len().div_ceil(threads).max(1);
    let mut good = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = candidates
            .chunks(per_thread)
            .map(|slice| {
                scope.spawn(move || {
                    slice
                        .iter()
                        .copied()
                        .filter(|&i| {
                            let mut hasher = Sha256::new();
                            update_from_file(&mut hasher, part, layout.chunk_range(i)).is_ok()
                                && hashes.get(i.slot()) == Some(&ContentHash::from_hasher(hasher))
                        })
                        .collect::<Vec<ChunkIndex>>()
                })
            })
            .collect();
        for handle in handles {
            good.extend(handle.join().unwrap_or_default());
        }
    });
    good.sort_unstable();
    good
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn ixs(layout: Layout, numbers: &[u64]) -> Vec<ChunkIndex> {
        numbers.iter().map(|&i| layout.chunk(i).unwrap()).collect()
    }

    #[test]
    fn bits_round_trip_and_garbage_is_refused() {
        let of = |chunks: u64| Layout::for_size(chunks * MIB, 1 << 20);
        let set = ixs(of(21), &[0, 3, 8, 9, 20]);
        let hex = encode_bits(of(21), &set);
        assert_eq!(decode_bits(of(21), &hex).unwrap(), set);
        assert!(decode_bits(of(21), "zz").is_none());
        assert!(decode_bits(of(22), &hex).is_some());
        assert!(decode_bits(of(100), &hex).is_none());
    }

    #[test]
    fn a_sidecar_for_another_download_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".p2p-x.part.state");
        let layout = Layout::for_size(5 << 20, 1 << 20);
        let hash = ContentHash::of(b"a");
        save(&path, &hash, layout, &ixs(layout, &[1, 4])).unwrap();
        assert_eq!(load(&path, &hash, layout).unwrap(), ixs(layout, &[1, 4]));
        assert!(load(&path, &ContentHash::of(b"b"), layout).is_none());
        assert!(load(&path, &hash, Layout::for_size(6 << 20, 1 << 20)).is_none());
        std::fs::write(&path, b"{").unwrap();
        assert!(load(&path, &hash, layout).is_none());
    }

    #[test]
    fn only_chunks_that_hash_right_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        let mib = 1usize << 20;
        let mut data = vec![7u8; 3 * mib];
        let layout = Layout::for_size(data.len() as u64, 1 << 20);
        let hashes: Vec<_> = data.chunks(mib).map(ContentHash::of).collect();
        data[mib + 5] ^= 1; // chunk 1 corrupted on disk
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(
            verify_chunks(&file, layout, &hashes, ixs(layout, &[0, 1, 2])),
            ixs(layout, &[0, 2])
        );
    }
}
