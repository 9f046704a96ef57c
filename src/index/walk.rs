//! Walking one share root: which paths are candidates for sharing.
//!
//! Never yields a path outside the root: symlinks are skipped unless `follow_symlinks`,
//! and even then only a target whose real path stays inside the root is taken.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::cache::FileStamp;
use super::{INTERNAL_PREFIX, PART_SUFFIX};

/// A regular file found under a root, not yet hashed.
#[derive(Debug, Clone)]
pub struct FoundFile {
    pub path: PathBuf,
    /// Path under the root, `/`-separated.
    pub rel: String,
    pub name: String,
    pub stamp: FileStamp,
}

/// Whether a name is hidden from sharing whatever the settings: downloads in progress,
/// their resume state, and p2p's own bookkeeping (`.p2p-*`).
pub fn is_internal(name: &str) -> bool {
    name.ends_with(PART_SUFFIX) || name.contains(".part.") || name.starts_with(INTERNAL_PREFIX)
}

pub fn walk_root(root: &Path, follow_symlinks: bool, hidden: bool) -> Vec<FoundFile> {
    let Ok(real_root) = root.canonicalize() else {
        return Vec::new();
    };
    let walker = WalkDir::new(&real_root)
        .follow_links(follow_symlinks)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(move |entry| {
            entry.depth() == 0 || hidden || !entry.file_name().to_string_lossy().starts_with('.')
        });
    let mut found = Vec::new();
    for entry in walker.flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_internal(&name) {
            continue;
        }
        let path = entry.path().to_path_buf();
        if entry.path_is_symlink() || follow_symlinks {
            match path.canonicalize() {
                Ok(target) if target.starts_with(&real_root) => {}
                _ => continue,
            }
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let rel = path
            .strip_prefix(&real_root)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        found.push(FoundFile {
            path,
            rel,
            name,
            stamp: FileStamp::of(&meta),
        });
    }
    found
}
