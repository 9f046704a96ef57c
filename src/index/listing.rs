//! A folder of the shares as `list` shows it (DESIGN §9): its files, and its sub-folders
//! with the count and bytes of every file below them. Computed from the catalog alone —
//! never from the file system — so it lists nothing the catalog would not serve:
//! no dot-file, no `.part`, nothing outside a share. The top level merges the share
//! roots' top levels, as `search` paths do.
//!
//! A path is a folder relative to the shares, `/`-separated: `""` for the top, a trailing
//! `/` allowed. An absolute path, `.` or `..` components, a backslash or a control
//! character is refused before anything is looked at.

use std::collections::BTreeMap;

use thiserror::Error;

use super::Catalog;
use crate::content::hash::ContentHash;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    File {
        name: String,
        path: String,
        size: u64,
        sha256: ContentHash,
    },
    Dir {
        name: String,
        path: String,
        files: u64,
        bytes: u64,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ListError {
    #[error("bad path {0:?}: a folder relative to the shares, without `..`, `.` or a leading `/`")]
    BadPath(String),
    #[error("no shared folder {0:?}")]
    NotFound(String),
}

/// The folder `path` normalized (`"music/live"`, `""` for the top), or why not.
pub fn folder_path(path: &str) -> Result<String, ListError> {
    let bad = || ListError::BadPath(path.chars().take(200).collect());
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if path.starts_with('/') || path.contains('\\') || path.chars().any(char::is_control) {
        return Err(bad());
    }
    for part in trimmed.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad());
        }
    }
    Ok(trimmed.to_string())
}

/// The entries of folder `path`: sub-folders first, then files, each by name.
pub fn list(catalog: &Catalog, path: &str) -> Result<Vec<Listed>, ListError> {
    let folder = folder_path(path)?;
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let mut dirs: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut files: Vec<Listed> = Vec::new();
    let mut seen_file: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for file in catalog.files() {
        let Some(rest) = file.rel.strip_prefix(&prefix) else {
            continue;
        };
        match rest.split_once('/') {
            Some((dir, _)) => {
                let entry = dirs.entry(dir).or_default();
                entry.0 += 1;
                entry.1 += file.size();
            }
            // Two roots may hold the same relative path: the first one is listed, as
            // the catalog's order (by path) makes it.
            None if seen_file.insert(rest) => files.push(Listed::File {
                name: rest.to_string(),
                path: file.rel.clone(),
                size: file.size(),
                sha256: file.sha256,
            }),
            None => {}
        }
    }
    if dirs.is_empty() && files.is_empty() && !folder.is_empty() {
        return Err(ListError::NotFound(folder));
    }
    let mut entries: Vec<Listed> = dirs
        .into_iter()
        .map(|(name, (count, bytes))| Listed::Dir {
            name: name.to_string(),
            path: format!("{prefix}{name}"),
            files: count,
            bytes,
        })
        .collect();
    entries.extend(files);
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::cache::FileStamp;
    use crate::index::SharedFile;
    use std::path::PathBuf;

    fn file(rel: &str, size: u64) -> SharedFile {
        SharedFile {
            path: PathBuf::from("/r").join(rel),
            root: PathBuf::from("/r"),
            rel: rel.to_string(),
            name: rel.rsplit('/').next().unwrap().to_string(),
            stamp: FileStamp { size, mtime_ns: 0 },
            sha256: ContentHash::of(rel.as_bytes()),
        }
    }

    #[test]
    fn folders_count_everything_below_and_files_come_after() {
        let catalog = Catalog::new(vec![
            file("music/a.ogg", 10),
            file("music/live/b.ogg", 20),
            file("music/live/deep/c.ogg", 30),
            file("notes.md", 1),
        ]);
        let top = list(&catalog, "").unwrap();
        assert_eq!(top.len(), 2);
        assert!(
            matches!(&top[0], Listed::Dir { name, files: 3, bytes: 60, .. } if name == "music")
        );
        assert!(matches!(&top[1], Listed::File { name, size: 1, .. } if name == "notes.md"));
        let music = list(&catalog, "music/").unwrap();
        assert!(
            matches!(&music[0], Listed::Dir { path, files: 2, bytes: 50, .. } if path == "music/live")
        );
        assert!(matches!(&music[1], Listed::File { path, .. } if path == "music/a.ogg"));
        assert_eq!(
            list(&catalog, "nothing"),
            Err(ListError::NotFound("nothing".into()))
        );
        for bad in [
            "..",
            "../etc",
            "/etc",
            "music/../..",
            "a//b",
            "./music",
            "a\\b",
            "m\u{1b}",
        ] {
            assert!(
                matches!(list(&catalog, bad), Err(ListError::BadPath(_))),
                "{bad}"
            );
        }
    }
}
