//! Trust on first use (DESIGN §7): the first peer ID seen at each address, kept in
//! `node.state_dir/known_peers`, one `host:port ID` a line, as ssh keeps `known_hosts`.
//!
//! It owns that file and nothing else: whether a connection is refused is the dialer's
//! call. Every change re-reads the file and replaces it whole (temporary file, then
//! rename), so two processes of one peer lose at most a race, never the file. A line
//! that does not parse is an error naming the file and the line, never skipped: a
//! skipped line would let the next ID at that address in unchecked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::content::{PeerAddr, PeerId};

const FILE: &str = "known_peers";

const HEADER: &str = "# p2p: the peer ID first seen at each address (trust on first use).\n\
# A different ID at one of these addresses is refused; `peers forget ADDR` removes a line.\n";

#[derive(Debug, Error)]
pub enum KnownPeersError {
    #[error("cannot read or write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: not `host:port PEER-ID` (fix or delete the line)", path.display())]
    Damaged { path: PathBuf, line: usize },
}

#[derive(Debug)]
pub struct KnownPeers {
    path: PathBuf,
    ids: BTreeMap<PeerAddr, PeerId>,
    /// The file as it was when `ids` was read from it (`Some(None)`: there was none);
    /// `None`: unknown, read again before trusting `ids`. Every change replaces the
    /// file through a rename, so a new inode says another writer (a `peers forget` in
    /// another process) changed it.
    seen: Option<Option<FileStamp>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

fn stamp(path: &Path) -> Result<Option<FileStamp>, KnownPeersError> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(FileStamp {
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KnownPeersError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl KnownPeers {
    /// The known peers of the peer whose state folder is `state_dir` (none yet if the
    /// file does not exist).
    pub fn load(state_dir: &Path) -> Result<KnownPeers, KnownPeersError> {
        let mut known = KnownPeers {
            path: state_dir.join(FILE),
            ids: BTreeMap::new(),
            seen: None,
        };
        known.reload()?;
        Ok(known)
    }

    pub fn get(&self, addr: &PeerAddr) -> Option<PeerId> {
        self.ids.get(addr).copied()
    }

    /// The ID at `addr` as the file says now: read again only when it changed since
    /// this copy was read (a `peers forget`, here or in another process), else a `stat`.
    pub fn get_current(&mut self, addr: &PeerAddr) -> Result<Option<PeerId>, KnownPeersError> {
        if self.seen != Some(stamp(&self.path)?) {
            self.reload()?;
        }
        Ok(self.get(addr))
    }

    /// Keeps `id` as the one at `addr`, unless another process put one there first:
    /// that one wins and is returned (the caller then judges `id` against it).
    pub fn remember(&mut self, addr: &PeerAddr, id: PeerId) -> Result<PeerId, KnownPeersError> {
        self.reload()?;
        if let Some(first) = self.ids.get(addr) {
            return Ok(*first);
        }
        self.ids.insert(addr.clone(), id);
        self.save()?;
        Ok(id)
    }

    /// Forgets the ID at `addr`; returns it, if there was one.
    pub fn forget(&mut self, addr: &PeerAddr) -> Result<Option<PeerId>, KnownPeersError> {
        self.reload()?;
        let gone = self.ids.remove(addr);
        if gone.is_some() {
            self.save()?;
        }
        Ok(gone)
    }

    fn reload(&mut self) -> Result<(), KnownPeersError> {
        // Stamped before reading: a change between the two makes the next look read
        // again, never trust an old copy.
        let before = stamp(&self.path)?;
        self.ids = read(&self.path)?;
        self.seen = Some(before);
        Ok(())
    }

    fn save(&mut self) -> Result<(), KnownPeersError> {
        let path = &self.path;
        let mut text = String::from(HEADER);
        for (addr, id) in &self.ids {
            text.push_str(&format!("{addr} {id}\n"));
        }
        let io = |source| KnownPeersError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        crate::atomic_file::write(path, text.as_bytes(), true).map_err(io)?;
        // What is on disk is ours now, but another writer may follow at once: the next
        // look reads it again rather than stamp someone else's file with our copy.
        self.seen = None;
        Ok(())
    }
}

fn read(path: &Path) -> Result<BTreeMap<PeerAddr, PeerId>, KnownPeersError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(KnownPeersError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut ids = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let damaged = || KnownPeersError::Damaged {
            path: path.to_path_buf(),
            line: i + 1,
        };
        let mut words = line.split_whitespace();
        let (Some(addr), Some(id), None) = (words.next(), words.next(), words.next()) else {
            return Err(damaged());
        };
        let addr = PeerAddr::parse(addr).map_err(|_| damaged())?;
        let id = PeerId::parse(id).map_err(|_| damaged())?;
        ids.insert(addr, id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> PeerId {
        PeerId::of_certificate(&[n])
    }

    #[test]
    fn the_first_id_at_an_address_stays_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let addr = PeerAddr::parse("127.0.0.2:12000").unwrap();
        let mut known = KnownPeers::load(dir.path()).unwrap();
        assert_eq!(known.remember(&addr, id(1)).unwrap(), id(1));
        // Another process reading the file sees it, and keeps the first ID.
        let mut other = KnownPeers::load(dir.path()).unwrap();
        assert_eq!(other.get(&addr), Some(id(1)));
        assert_eq!(other.remember(&addr, id(2)).unwrap(), id(1));
        assert_eq!(known.forget(&addr).unwrap(), Some(id(1)));
        assert_eq!(KnownPeers::load(dir.path()).unwrap().get(&addr), None);
    }

    #[test]
    fn a_damaged_line_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE),
            "# comment\n127.0.0.2:12000 NOT-AN-ID\n",
        )
        .unwrap();
        let err = KnownPeers::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("known_peers:2: not `host:port PEER-ID` (fix or delete the line)"),
            "{err}"
        );
    }
}
