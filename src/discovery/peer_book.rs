//! The peer book: every peer known and how (`config`, `pex`, `mdns`, `dht`), with when
//! it last answered. It lives in `node.state_dir/peers.json`, written whole to a
//! temporary file and renamed, so a crash leaves the old book or the new one, and a
//! restart knows the peers found before.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::MAX_BOOK;
use crate::content::PeerAddr;

const BOOK_FILE: &str = "peers.json";
const BOOK_VERSION: u32 = 1;

/// How a peer came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Config,
    Pex,
    Mdns,
    Dht,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Config => "config",
            Via::Pex => "pex",
            Via::Mdns => "mdns",
            Via::Dht => "dht",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BookEntry {
    pub addr: PeerAddr,
    pub via: Via,
    #[serde(default)]
    pub name: Option<String>,
    /// Unix seconds of its last answer, if it ever answered.
    #[serde(default)]
    pub answered: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct BookFile {
    version: u32,
    peers: Vec<BookEntry>,
}

/// Peers found by discovery (the static list is the config's; it is not copied here).
#[derive(Debug, Default)]
pub struct PeerBook {
    path: Option<PathBuf>,
    entries: Vec<BookEntry>,
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl PeerBook {
    /// The book in `state_dir` (empty when there is none, or it is unreadable: it is a
    /// cache of hints, rebuilt as peers are found again).
    pub fn load(state_dir: Option<&Path>) -> PeerBook {
        let path = state_dir.map(|d| d.join(BOOK_FILE));
        let entries = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|bytes| serde_json::from_slice::<BookFile>(&bytes).ok())
            .filter(|file| file.version == BOOK_VERSION)
            .map(|file| file.peers)
            .unwrap_or_default();
        let mut book = PeerBook {
            path,
            entries: Vec::new(),
        };
        for entry in entries {
            if !book.contains(&entry.addr) && book.entries.len() < MAX_BOOK {
                book.entries.push(entry);
            }
        }
        book
    }

    pub fn entries(&self) -> &[BookEntry] {
        &self.entries
    }

    pub fn contains(&self, addr: &PeerAddr) -> bool {
        self.entries.iter().any(|e| &e.addr == addr)
    }

    /// Adds a peer found `via` some discovery; a known one keeps how it was first found.
    /// Returns whether it was new.
    pub fn add(&mut self, addr: PeerAddr, via: Via, name: Option<String>) -> bool {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.addr == addr) {
            if entry.name.is_none() {
                entry.name = name;
            }
            return false;
        }
        if self.entries.len() >= MAX_BOOK {
            // Forget the peer that answered longest ago (or never) to make room.
            if let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.answered.unwrap_or(0))
                .map(|(i, _)| i)
            {
                self.entries.remove(oldest);
            }
        }
        self.entries.push(BookEntry {
            addr,
            via,
            name,
            answered: None,
        });
        true
    }

    /// Forgets a peer (`peers remove`).
    pub fn remove(&mut self, addr: &PeerAddr) {
        self.entries.retain(|e| &e.addr != addr);
    }

    /// Peers that answered within `secs`, most recent first, at most `limit`.
    pub fn reached_within(&self, secs: u64, limit: usize) -> Vec<BookEntry> {
        let since = now_secs().saturating_sub(secs);
        let mut recent: Vec<BookEntry> = self
            .entries
            .iter()
            .filter(|e| e.answered.is_some_and(|at| at >= since))
            .cloned()
            .collect();
        recent.sort_by_key(|e| std::cmp::Reverse(e.answered));
        recent.truncate(limit);
        recent
    }

    /// `addr` answered now (under `name`).
    pub fn answered(&mut self, addr: &PeerAddr, name: Option<String>) {
        if let Some(entry) = self.entries.iter_mut().find(|e| &e.addr == addr) {
            entry.answered = Some(now_secs());
            if name.is_some() {
                entry.name = name;
            }
        }
    }

    /// Writes the book atomically; a book without a state dir lives in memory only.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        // The config's peers are the config's: only discovered ones are kept here.
        let body = serde_json::to_vec_pretty(&BookFile {
            version: BOOK_VERSION,
            peers: self
                .entries
                .iter()
                .filter(|e| e.via != Via::Config)
                .cloned()
                .collect(),
        })?;
        crate::atomic_file::write(path, &body, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_survives_a_restart_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut book = PeerBook::load(Some(dir.path()));
        let a = PeerAddr::parse("127.0.0.2:12000").unwrap();
        assert!(book.add(a.clone(), Via::Pex, None));
        assert!(!book.add(a.clone(), Via::Dht, Some("alice".into())));
        book.answered(&a, Some("alice".into()));
        book.save().unwrap();
        let again = PeerBook::load(Some(dir.path()));
        assert_eq!(again.entries().len(), 1);
        assert_eq!(again.entries()[0].via, Via::Pex);
        assert_eq!(again.entries()[0].name.as_deref(), Some("alice"));
        assert!(again.entries()[0].answered.is_some());

        let mut full = PeerBook::default();
        for i in 0..(MAX_BOOK + 50) {
            let addr = PeerAddr::parse(&format!("10.0.{}.{}:1", i / 250, i % 250 + 1)).unwrap();
            full.add(addr, Via::Pex, None);
        }
        assert_eq!(full.entries().len(), MAX_BOOK);
        std::fs::write(dir.path().join(BOOK_FILE), b"{garbage").unwrap();
        assert!(PeerBook::load(Some(dir.path())).entries().is_empty());
    }
}
