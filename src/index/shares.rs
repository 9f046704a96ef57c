//! The live share set: its roots, the current [`Catalog`], and the hash cache.
//!
//! Scans and chunk hashing block (disk and SHA-256): callers run them on the blocking
//! pool. One scan runs at a time; readers never wait for a scan, they keep the snapshot
//! they hold until the new one is swapped in.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::cache::{ChunkHashes, FileStamp, HashCache};
use super::catalog::{Catalog, SharedFile};
use super::partials::Partials;
use super::walk::{walk_root, FoundFile};
use super::{hasher, IndexError};
use crate::content::hash::ContentHash;
use crate::content::layout::Layout;

/// Most threads hashing at once during a scan.
const MAX_HASH_THREADS: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct ShareOptions {
    pub follow_symlinks: bool,
    pub hidden: bool,
    /// Where the hash cache lives; `None` keeps it in memory.
    pub state_dir: Option<PathBuf>,
}

/// What one scan did.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    pub files: usize,
    pub bytes: u64,
    /// Files hashed by this scan (new or changed).
    pub hashed: usize,
    /// Files whose hash came from the cache.
    pub cached: usize,
    /// Files that could not be hashed, with why.
    pub failed: Vec<(PathBuf, String)>,
    /// Roots that do not exist or cannot be read.
    pub missing_roots: Vec<PathBuf>,
    /// Why the hash cache could not be saved, if it could not (the next start will
    /// hash these files again; nothing shared is lost).
    pub cache_not_saved: Option<String>,
}

/// Per-root figures for `share`.
#[derive(Debug, Clone)]
pub struct RootStats {
    pub root: PathBuf,
    pub exists: bool,
    pub files: usize,
    pub bytes: u64,
    /// Files seen under the root but not (yet) hashed.
    pub unhashed: usize,
}

#[derive(Debug)]
pub struct Shares {
    options: ShareOptions,
    roots: RwLock<Vec<PathBuf>>,
    catalog: RwLock<Arc<Catalog>>,
    unhashed: RwLock<Vec<PathBuf>>,
    cache: Mutex<HashCache>,
    scan_lock: Mutex<()>,
    /// What this peer is downloading, shared as it arrives (never in the catalog).
    partials: Arc<Partials>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; go on with it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shares {
    pub fn new(roots: Vec<PathBuf>, options: ShareOptions) -> Shares {
        let cache = HashCache::load(options.state_dir.as_deref());
        let mut unique = Vec::new();
        for root in roots {
            if !unique.contains(&root) {
                unique.push(root);
            }
        }
        Shares {
            options,
            roots: RwLock::new(unique),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            unhashed: RwLock::new(Vec::new()),
            cache: Mutex::new(cache),
            scan_lock: Mutex::new(()),
            partials: Arc::default(),
        }
    }

    /// The files being downloaded, shared as they arrive (DESIGN §9).
    pub fn partials(&self) -> &Arc<Partials> {
        &self.partials
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn roots(&self) -> Vec<PathBuf> {
        self.roots.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Adds a root; `false` if it was already there. Call [`Shares::scan`] after.
    pub fn add_root(&self, root: PathBuf) -> bool {
        let mut roots = self.roots.write().unwrap_or_else(|p| p.into_inner());
        if roots.contains(&root) {
            return false;
        }
        roots.push(root);
        true
    }

    /// Removes a root; `false` if it was not there. Call [`Shares::scan`] after.
    pub fn remove_root(&self, root: &Path) -> bool {
        let mut roots = self.roots.write().unwrap_or_else(|p| p.into_inner());
        let before = roots.len();
        roots.retain(|r| r != root);
        roots.len() != before
    }

    /// Walks every root, hashes what is new or changed, and swaps in the new catalog.
    pub fn scan(&self) -> ScanReport {
        let _one_scan = lock(&self.scan_lock);
        let mut report = ScanReport::default();
        let mut found: Vec<(PathBuf, FoundFile)> = Vec::new();
        let mut seen = HashSet::new();
        for root in self.roots() {
            if !root.is_dir() {
                report.missing_roots.push(root.clone());
                continue;
            }
            let real_root = root.canonicalize().unwrap_or_else(|_| root.clone());
            for file in walk_root(&root, self.options.follow_symlinks, self.options.hidden) {
                if seen.insert(file.path.clone()) {
                    found.push((real_root.clone(), file));
                }
            }
        }

        let mut ready = Vec::new();
        let mut to_hash = Vec::new();
        {
            let cache = lock(&self.cache);
            for (root, file) in found {
                match cache.get(&file.path, file.stamp) {
                    Some(entry) => ready.push(shared(root, file, entry.sha256)),
                    None => to_hash.push((root, file)),
                }
            }
        }
        report.cached = ready.len();

        let mut unhashed = Vec::new();
        for (root, file, outcome) in hash_all(to_hash) {
            match outcome {
                Ok(hash) => {
                    lock(&self.cache).insert(file.path.clone(), file.stamp, hash);
                    ready.push(shared(root, file, hash));
                    report.hashed += 1;
                }
                Err(e) => {
                    report.failed.push((file.path.clone(), e.to_string()));
                    unhashed.push(file.path);
                }
            }
        }

        {
            let mut cache = lock(&self.cache);
            for root in self.roots() {
                if let Ok(real_root) = root.canonicalize() {
                    cache.retain_under(&real_root, &|p| seen.contains(p));
                }
            }
            // The cache only saves re-hashing; failing to write it loses nothing shared,
            // so it is reported, not fatal.
            report.cache_not_saved = cache.save().err().map(|e| e.to_string());
        }

        report.files = ready.len();
        report.bytes = ready.iter().map(|f| f.size()).sum();
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Catalog::new(ready));
        *self.unhashed.write().unwrap_or_else(|p| p.into_inner()) = unhashed;
        report
    }

    /// Figures per root, from the current catalog.
    pub fn root_stats(&self) -> Vec<RootStats> {
        let catalog = self.catalog();
        let unhashed = self.unhashed.read().unwrap_or_else(|p| p.into_inner());
        self.roots()
            .into_iter()
            .map(|root| {
                let real = root.canonicalize().ok();
                let under = |p: &Path| real.as_ref().is_some_and(|r| p.starts_with(r));
                let files: Vec<_> = catalog.files().iter().filter(|f| under(&f.root)).collect();
                RootStats {
                    exists: root.is_dir(),
                    files: files.len(),
                    bytes: files.iter().map(|f| f.size()).sum(),
                    unhashed: unhashed.iter().filter(|p| under(p)).count(),
                    root,
                }
            })
            .collect()
    }

    /// Records the hash of a file this peer wrote itself (a verified download), so the
    /// next scan lists it without reading it again.
    pub fn remember(&self, path: &Path, hash: ContentHash) {
        let Ok(real) = path.canonicalize() else {
            return;
        };
        if let Ok(stamp) = FileStamp::read(&real) {
            lock(&self.cache).insert(real, stamp, hash);
        }
    }

    /// The chunk hashes of `file` under `layout`, from the cache or computed now.
    /// Fails with [`IndexError::Changed`] when the file is no longer what was hashed.
    pub fn chunk_hashes(
        &self,
        file: &SharedFile,
        layout: Layout,
    ) -> Result<Vec<ContentHash>, IndexError> {
        if let Some(entry) = lock(&self.cache).get(&file.path, file.stamp) {
            if let Some(chunks) = entry.chunks.as_ref() {
                if chunks.chunk_size == layout.chunk_size() {
                    return Ok(chunks.hashes.clone());
                }
            }
        }
        if !file.is_current() {
            return Err(IndexError::Changed(file.path.clone()));
        }
        let hashes =
            hasher::hash_chunks(&file.path, layout).map_err(|source| IndexError::Read {
                path: file.path.clone(),
                source,
            })?;
        if !file.is_current() {
            return Err(IndexError::Changed(file.path.clone()));
        }
        let mut cache = lock(&self.cache);
        cache.set_chunks(
            &file.path,
            file.stamp,
            ChunkHashes {
                chunk_size: layout.chunk_size(),
                hashes: hashes.clone(),
            },
        );
        let _ = cache.save();
        Ok(hashes)
    }
}

fn shared(root: PathBuf, file: FoundFile, sha256: ContentHash) -> SharedFile {
    SharedFile {
        path: file.path,
        root,
        rel: file.rel,
        name: file.name,
        stamp: file.stamp,
        sha256,
    }
}

type HashOutcome = (PathBuf, FoundFile, Result<ContentHash, IndexError>);

/// Hashes files on a few threads at once, largest first so the threads end together.
fn hash_all(mut files: Vec<(PathBuf, FoundFile)>) -> Vec<HashOutcome> {
    // Popped from the end: largest first.
    files.sort_by_key(|(_, f)| f.stamp.size);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_HASH_THREADS)
        .min(files.len().max(1));
    let queue = Mutex::new(files);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let Some((root, file)) = lock(&queue).pop() else {
                    break;
                };
                let outcome = hash_one(&file);
                lock(&results).push((root, file, outcome));
            });
        }
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

fn hash_one(file: &FoundFile) -> Result<ContentHash, IndexError> {
    let read_error = |source| IndexError::Read {
        path: file.path.clone(),
        source,
    };
    let hash = hasher::hash_file(&file.path, file.stamp.size).map_err(read_error)?;
    // A file written to while we read it would be listed under a hash of no version.
    if FileStamp::read(&file.path).map_err(read_error)? != file.stamp {
        return Err(IndexError::Changed(file.path.clone()));
    }
    Ok(hash)
}
