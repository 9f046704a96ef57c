//! Where downloaded bytes land: the hidden `.part` file beside the final name, and the
//! final name itself.
//!
//! Invariants: a `.part` is held under an exclusive lock while it is written, so two
//! `get`s of one hash never write it at once; the final name is created with a hard
//! link, which fails rather than replace a file that appeared meanwhile, so an existing
//! file is never overwritten; nothing is written outside the destination folder.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::content::hash::ContentHash;
use crate::index::hasher;
use crate::index::PART_SUFFIX;

#[derive(Debug, Error)]
pub enum LandingError {
    #[error("cannot write {path}")]
    Disk {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("another get of {0} is already writing it")]
    Busy(ContentHash),
    #[error("{0} exists with other content (not overwritten)")]
    Exists(PathBuf),
    #[error("not enough room in {dir} for {needed} more bytes ({free} free)")]
    NoSpace {
        dir: PathBuf,
        needed: u64,
        free: u64,
    },
}

/// Bytes this user may still write on the file system holding `dir`, when it says.
pub fn free_space(dir: &Path) -> Option<u64> {
    rustix::fs::statvfs(dir)
        .ok()
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
}

fn disk(path: &Path) -> impl FnOnce(io::Error) -> LandingError + '_ {
    move |source| LandingError::Disk {
        path: path.to_path_buf(),
        source,
    }
}

/// The partial file of one content hash in one folder.
pub fn part_path(dir: &Path, hash: &ContentHash) -> PathBuf {
    dir.join(format!(".p2p-{hash}{PART_SUFFIX}"))
}

/// An open, locked `.part` file.
pub struct PartFile {
    pub path: PathBuf,
    pub file: File,
}

impl PartFile {
    /// Opens (or creates) the `.part` for `hash` in `dir` and locks it.
    pub fn open(dir: &Path, hash: &ContentHash) -> Result<PartFile, LandingError> {
        std::fs::create_dir_all(dir).map_err(disk(dir))?;
        let path = part_path(dir, hash);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(disk(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(LandingError::Busy(*hash)),
            Err(std::fs::TryLockError::Error(e)) => return Err(disk(&path)(e)),
        }
        Ok(PartFile { path, file })
    }

    pub fn truncate(&self, len: u64) -> Result<(), LandingError> {
        self.file.set_len(len).map_err(disk(&self.path))
    }

    /// Makes the verified bytes durable, then gives them their final name.
    pub fn finish(self, destination: &Destination) -> Result<PathBuf, LandingError> {
        self.file.sync_data().map_err(disk(&self.path))?;
        let final_path = destination.link_unique(&self.path)?;
        std::fs::remove_file(&self.path).map_err(disk(&self.path))?;
        Ok(final_path)
    }

    /// Drops a `.part` whose content proved wrong.
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where a finished download goes.
#[derive(Debug, Clone)]
pub enum Destination {
    /// Into `dir` under `name`, or `name (1)`… beside a different file.
    Folder { dir: PathBuf, name: String },
    /// Exactly this file; never overwritten.
    File(PathBuf),
}

impl Destination {
    /// The folder the `.part` lives in: the final file's own, so the rename stays on
    /// one file system.
    pub fn dir(&self) -> PathBuf {
        match self {
            Destination::Folder { dir, .. } => dir.clone(),
            Destination::File(path) => path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        }
    }

    /// An existing file that already holds exactly this content, if any. For `File`, a
    /// file there with other content is an error.
    pub fn already_present(
        &self,
        hash: &ContentHash,
        size: Option<u64>,
    ) -> Result<Option<PathBuf>, LandingError> {
        let holds = |candidate: &Path| {
            std::fs::metadata(candidate).is_ok_and(|meta| {
                meta.is_file()
                    && size.is_none_or(|s| s == meta.len())
                    && hasher::hash_file(candidate, meta.len()).ok() == Some(*hash)
            })
        };
        match self {
            Destination::File(path) if !path.exists() => Ok(None),
            Destination::File(path) if holds(path) => Ok(Some(path.clone())),
            Destination::File(path) => Err(LandingError::Exists(path.clone())),
            // The name, or a `name (N)` sibling an earlier get of other content made: a
            // content already here under either is not fetched again.
            Destination::Folder { dir, name } => Ok(siblings(dir, name)
                .into_iter()
                .find(|candidate| holds(candidate))),
        }
    }

    fn link_unique(&self, part: &Path) -> Result<PathBuf, LandingError> {
        match self {
            Destination::File(path) => match std::fs::hard_link(part, path) {
                Ok(()) => Ok(path.clone()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Err(LandingError::Exists(path.clone()))
                }
                Err(e) => rename_if_absent(part, path)
                    .map(|()| path.clone())
                    .map_err(|_| disk(path)(e)),
            },
            Destination::Folder { dir, name } => {
                for n in 0..10_000u32 {
                    let path = dir.join(numbered(name, n));
                    match std::fs::hard_link(part, &path) {
                        Ok(()) => return Ok(path),
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                        Err(e) => {
                            if path.exists() {
                                continue;
                            }
                            return rename_if_absent(part, &path)
                                .map(|()| path.clone())
                                .map_err(|_| disk(&path)(e));
                        }
                    }
                }
                Err(LandingError::Exists(dir.join(name)))
            }
        }
    }
}

/// `dir/name` and every `dir/name (N)` beside it, the plain name first.
fn siblings(dir: &Path, name: &str) -> Vec<PathBuf> {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    let mut numbered: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let text = file_name.to_str()?;
            let n: u32 = text
                .strip_prefix(stem)?
                .strip_suffix(ext)?
                .strip_prefix(" (")?
                .strip_suffix(')')?
                .parse()
                .ok()?;
            (n > 0).then(|| (n, entry.path()))
        })
        .collect();
    numbered.sort();
    std::iter::once(dir.join(name))
        .chain(numbered.into_iter().map(|(_, path)| path))
        .collect()
}

/// For file systems without hard links: copy, having checked the name is free (the
/// caller removes the `.part` after).
fn rename_if_absent(part: &Path, path: &Path) -> io::Result<()> {
    if path.exists() {
        return Err(io::ErrorKind::AlreadyExists.into());
    }
    std::fs::copy(part, path).map(|_| ())
}

/// `name`, `name (1)`, `name (2)`… with the number before the extension.
pub fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_keeps_the_extension() {
        assert_eq!(numbered("a.txt", 0), "a.txt");
        assert_eq!(numbered("a.txt", 1), "a (1).txt");
        assert_eq!(numbered("README", 2), "README (2)");
        assert_eq!(numbered(".bashrc", 1), ".bashrc (1)");
    }

    #[test]
    fn never_overwrites_and_locks_the_part() {
        let dir = tempfile::tempdir().unwrap();
        let hash = ContentHash::of(b"new");
        std::fs::write(dir.path().join("f.txt"), b"old").unwrap();
        let part = PartFile::open(dir.path(), &hash).unwrap();
        assert!(matches!(
            PartFile::open(dir.path(), &hash),
            Err(LandingError::Busy(_))
        ));
        std::fs::write(&part.path, b"new").unwrap();
        let dest = Destination::Folder {
            dir: dir.path().to_path_buf(),
            name: "f.txt".into(),
        };
        assert_eq!(dest.already_present(&hash, Some(3)).unwrap(), None);
        let landed = part.finish(&dest).unwrap();
        assert_eq!(landed, dir.path().join("f (1).txt"));
        assert_eq!(std::fs::read(dir.path().join("f.txt")).unwrap(), b"old");
        assert_eq!(std::fs::read(&landed).unwrap(), b"new");
        assert!(!part_path(dir.path(), &hash).exists());
        // Issue 10: the content under a `name (N)` sibling is already here.
        assert_eq!(dest.already_present(&hash, Some(3)).unwrap(), Some(landed));
        let exact = Destination::File(dir.path().join("f.txt"));
        assert!(matches!(
            exact.already_present(&hash, Some(3)),
            Err(LandingError::Exists(_))
        ));
    }
}
