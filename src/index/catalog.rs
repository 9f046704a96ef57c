//! An immutable snapshot of the shared files, with lookups by hash, by exact name, and
//! by query. Readers hold an `Arc<Catalog>`; a scan replaces it whole.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::cache::FileStamp;
use super::query::Query;
use crate::content::hash::ContentHash;

#[derive(Debug, Clone)]
pub struct SharedFile {
    /// Absolute, real path (the root is canonical).
    pub path: PathBuf,
    /// The share root this file was found under.
    pub root: PathBuf,
    /// Path under the root, `/`-separated, as search results show it.
    pub rel: String,
    pub name: String,
    pub stamp: FileStamp,
    pub sha256: ContentHash,
}

impl SharedFile {
    pub fn size(&self) -> u64 {
        self.stamp.size
    }

    /// Modification time in whole Unix seconds.
    pub fn modified(&self) -> u64 {
        (self.stamp.mtime_ns / 1_000_000_000) as u64
    }

    /// Whether the file on disk is still the version that was hashed. A server checks
    /// this before serving, so a changed file is never served under its old hash.
    pub fn is_current(&self) -> bool {
        FileStamp::read(&self.path).is_ok_and(|now| now == self.stamp)
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    files: Vec<Arc<SharedFile>>,
    by_hash: HashMap<ContentHash, Vec<usize>>,
    total_bytes: u64,
}

impl Catalog {
    pub fn new(mut files: Vec<SharedFile>) -> Catalog {
        files.sort_by(|a, b| a.rel.cmp(&b.rel).then_with(|| a.path.cmp(&b.path)));
        files.dedup_by(|a, b| a.path == b.path);
        let mut by_hash: HashMap<ContentHash, Vec<usize>> = HashMap::new();
        for (i, file) in files.iter().enumerate() {
            by_hash.entry(file.sha256).or_default().push(i);
        }
        let total_bytes = files.iter().map(|f| f.size()).sum();
        Catalog {
            files: files.into_iter().map(Arc::new).collect(),
            by_hash,
            total_bytes,
        }
    }

    pub fn files(&self) -> &[Arc<SharedFile>] {
        &self.files
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Every file with this content (copies in several folders are all listed).
    pub fn with_hash(&self, hash: &ContentHash) -> impl Iterator<Item = &Arc<SharedFile>> {
        self.by_hash
            .get(hash)
            .into_iter()
            .flatten()
            .map(|&i| &self.files[i])
    }

    /// The first file with exactly this base name, as the seed's walk finds it.
    pub fn with_name(&self, name: &str) -> Option<&Arc<SharedFile>> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Files whose name matches `query`, at most `limit`; `true` when more matched.
    pub fn search(&self, query: &Query, limit: usize) -> (Vec<Arc<SharedFile>>, bool) {
        let mut hits = self
            .files
            .iter()
            .filter(|f| query.matches_file(&f.name, &f.rel));
        let found: Vec<_> = hits.by_ref().take(limit).cloned().collect();
        let truncated = hits.next().is_some();
        (found, truncated)
    }
}
