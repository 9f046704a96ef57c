//! The persistent hash cache: (path, size, mtime) → whole-file hash and, once asked
//! for, the chunk hashes.
//!
//! It lives in `node.state_dir/hashes.json` and is always written whole to a temporary
//! file that is then renamed over the old one, so a crash, or two peers sharing the
//! folder, can lose an update but never leave a corrupt file. A cache that cannot be
//! read is ignored (everything is re-hashed), never trusted in part.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::protocol::hash::ContentHash;

const CACHE_FILE: &str = "hashes.json";
const CACHE_VERSION: u32 = 1;

/// What identifies one version of a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_ns: u128,
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        FileStamp {
            size: meta.len(),
            mtime_ns,
        }
    }

    pub fn read(path: &Path) -> std::io::Result<FileStamp> {
        Ok(FileStamp::of(&std::fs::metadata(path)?))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    pub stamp: FileStamp,
    pub sha256: ContentHash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<ChunkHashes>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkHashes {
    pub chunk_size: u64,
    pub hashes: Vec<ContentHash>,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: HashMap<PathBuf, CacheEntry>,
}

#[derive(Debug, Default)]
pub struct HashCache {
    file: Option<PathBuf>,
    entries: HashMap<PathBuf, CacheEntry>,
    dirty: bool,
}

impl HashCache {
    /// Loads the cache of `state_dir`, or starts empty. `None` keeps it in memory only.
    pub fn load(state_dir: Option<&Path>) -> HashCache {
        let file = state_dir.map(|dir| dir.join(CACHE_FILE));
        let entries = file
            .as_deref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice::<CacheFile>(&bytes).ok())
            .filter(|cache| cache.version == CACHE_VERSION)
            .map(|cache| cache.entries)
            .unwrap_or_default();
        HashCache {
            file,
            entries,
            dirty: false,
        }
    }

    /// The entry for `path` if it was made for exactly this version of the file.
    pub fn get(&self, path: &Path, stamp: FileStamp) -> Option<&CacheEntry> {
        self.entries.get(path).filter(|e| e.stamp == stamp)
    }

    pub fn insert(&mut self, path: PathBuf, stamp: FileStamp, sha256: ContentHash) {
        if let Some(old) = self.entries.get(&path) {
            if old.stamp == stamp && old.sha256 == sha256 {
                return;
            }
        }
        self.entries.insert(
            path,
            CacheEntry {
                stamp,
                sha256,
                chunks: None,
            },
        );
        self.dirty = true;
    }

    pub fn set_chunks(&mut self, path: &Path, stamp: FileStamp, chunks: ChunkHashes) {
        if let Some(entry) = self.entries.get_mut(path).filter(|e| e.stamp == stamp) {
            entry.chunks = Some(chunks);
            self.dirty = true;
        }
    }

    /// Drops entries under `root` that the last scan did not see.
    pub fn retain_under(&mut self, root: &Path, seen: &dyn Fn(&Path) -> bool) {
        let before = self.entries.len();
        self.entries
            .retain(|path, _| !path.starts_with(root) || seen(path));
        self.dirty |= self.entries.len() != before;
    }

    /// Writes the cache if it changed: temp file in the same folder, then rename.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        let body = CacheFile {
            version: CACHE_VERSION,
            entries: self.entries.clone(),
        };
        serde_json::to_writer(std::io::BufWriter::new(&mut temp), &body)?;
        temp.as_file_mut().flush()?;
        temp.persist(path).map_err(|e| e.error)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_round_trip_and_ignores_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = FileStamp {
            size: 3,
            mtime_ns: 42,
        };
        let mut cache = HashCache::load(Some(dir.path()));
        cache.insert("/a".into(), stamp, ContentHash::of(b"abc"));
        cache.save().unwrap();
        let again = HashCache::load(Some(dir.path()));
        assert_eq!(
            again.get(Path::new("/a"), stamp).unwrap().sha256,
            ContentHash::of(b"abc")
        );
        let moved = FileStamp {
            size: 3,
            mtime_ns: 43,
        };
        assert!(again.get(Path::new("/a"), moved).is_none());
        std::fs::write(dir.path().join(CACHE_FILE), b"{not json").unwrap();
        assert!(HashCache::load(Some(dir.path())).entries.is_empty());
    }
}
