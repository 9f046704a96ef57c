//! The persistent hash cache: (path, size, mtime) → whole-file hash and, once asked
//! for, the chunk hashes.
//!
//! It lives in `node.state_dir/hashes.json` and is always written whole to a temporary
//! file that is then renamed over the old one, so a crash, or two peers sharing the
//! folder, can lose an update but never leave a corrupt file. A cache that cannot be
//! read is ignored (everything is re-hashed), never trusted in part.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::content::hash::ContentHash;

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

/// The file on disk. JSON keys are strings, and a path need not be UTF-8 (Linux allows
/// any bytes but `/` and NUL in a name): such paths go, as their bytes, to `raw_entries`,
/// so that one odd name never stops the whole cache from being saved. Older versions
/// of p2p ignore `raw_entries` and read the rest.
#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    entries: HashMap<String, CacheEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    raw_entries: Vec<RawEntry>,
}

#[derive(Serialize, Deserialize)]
struct RawEntry {
    path: Vec<u8>,
    entry: CacheEntry,
}

impl CacheFile {
    fn from_entries(all: &HashMap<PathBuf, CacheEntry>) -> CacheFile {
        let mut entries = HashMap::new();
        let mut raw_entries = Vec::new();
        for (path, entry) in all {
            match path.to_str() {
                Some(text) => {
                    entries.insert(text.to_string(), entry.clone());
                }
                None => {
                    if let Some(path) = path_bytes(path) {
                        raw_entries.push(RawEntry {
                            path,
                            entry: entry.clone(),
                        });
                    }
                }
            }
        }
        CacheFile {
            version: CACHE_VERSION,
            entries,
            raw_entries,
        }
    }

    fn into_entries(self) -> HashMap<PathBuf, CacheEntry> {
        let mut all: HashMap<PathBuf, CacheEntry> = self
            .entries
            .into_iter()
            .map(|(path, entry)| (PathBuf::from(path), entry))
            .collect();
        for raw in self.raw_entries {
            if let Some(path) = path_from_bytes(raw.path) {
                all.insert(path, raw.entry);
            }
        }
        all
    }
}

/// A path's bytes as the OS has them. Only Unix paths have bytes to keep; elsewhere a
/// path that is not Unicode is left out of the cache (and hashed again on each start).
#[cfg(unix)]
fn path_bytes(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    Some(path.as_os_str().as_bytes().to_vec())
}

#[cfg(not(unix))]
fn path_bytes(_path: &Path) -> Option<Vec<u8>> {
    None
}

#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

#[cfg(not(unix))]
fn path_from_bytes(_bytes: Vec<u8>) -> Option<PathBuf> {
    None
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
            .map(CacheFile::into_entries)
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
        let body = serde_json::to_vec(&CacheFile::from_entries(&self.entries))?;
        crate::atomic_file::write(path, &body, false)?;
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

    /// Issue 10: one name that is not UTF-8 stopped the whole cache from being saved.
    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_saved_too() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let stamp = FileStamp {
            size: 3,
            mtime_ns: 42,
        };
        let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"/share/caf\xe9.txt"));
        let mut cache = HashCache::load(Some(dir.path()));
        cache.insert(odd.clone(), stamp, ContentHash::of(b"odd"));
        cache.insert("/share/plain.txt".into(), stamp, ContentHash::of(b"abc"));
        cache.save().unwrap();
        let again = HashCache::load(Some(dir.path()));
        assert_eq!(
            again.get(&odd, stamp).unwrap().sha256,
            ContentHash::of(b"odd")
        );
        assert_eq!(
            again
                .get(Path::new("/share/plain.txt"), stamp)
                .unwrap()
                .sha256,
            ContentHash::of(b"abc")
        );
        // A cache with a broken entry is ignored whole, never trusted in part.
        std::fs::write(dir.path().join(CACHE_FILE), b"{not json").unwrap();
        assert!(HashCache::load(Some(dir.path())).entries.is_empty());
    }
}
