//! Browsing a peer (DESIGN §9): its folders page by page with P2P/1 `list`, and every
//! file under one folder, for `get PEER:PATH/`.
//!
//! What a peer lists is a claim, never a path to trust: [`local_path`] turns the names
//! it gives into components that stay inside the target folder (each one sanitized as
//! a name; one that would climb out, or an absolute path, is refused). Walking a folder
//! is bounded in depth, in folders and in files, however the peer nests or repeats them.

use super::{connect, ClientError, Connection, Link, PeerAddr, REQUEST_TIMEOUT};
use crate::content::hash::ContentHash;
use crate::protocol::message::{EntryKind, ListAnswer, ListEntry, Request};
use crate::protocol::name::sanitize;

/// Entries one `list` page holds at most (the protocol's limit).
pub const PAGE: u64 = 1000;

/// The most entries one folder is read for, and the most files a folder get takes.
pub const MAX_ENTRIES: usize = 100_000;

/// How deep, and how many folders, a folder get walks at most.
const MAX_DEPTH: usize = 32;
const MAX_FOLDERS: usize = 10_000;

async fn open(peer: &PeerAddr) -> Result<Connection, ClientError> {
    match connect(peer, REQUEST_TIMEOUT).await? {
        Link::P2p(conn) => Ok(conn),
        Link::Legacy => Err(ClientError::LegacyCannot {
            peer: peer.clone(),
            what: "list its folders (the seed's protocol has no `list`)",
        }),
    }
}

/// Every entry of folder `path` (at most [`MAX_ENTRIES`]), and whether there were more.
async fn read_folder(
    conn: &mut Connection,
    path: &str,
) -> Result<(Vec<ListEntry>, u64), ClientError> {
    let mut entries: Vec<ListEntry> = Vec::new();
    loop {
        let page: ListAnswer = conn
            .request(&Request::List {
                path: path.to_string(),
                offset: Some(entries.len() as u64),
                limit: Some(PAGE),
            })
            .await?;
        let got = page.entries.len();
        entries.extend(page.entries);
        entries.truncate(MAX_ENTRIES);
        // A peer that sends nothing more, or claims more than it will ever send, ends it.
        if got == 0 || entries.len() as u64 >= page.total || entries.len() >= MAX_ENTRIES {
            return Ok((entries, page.total));
        }
    }
}

/// The entries of `path` on `peer` (`""`: the top), and the folder's total.
pub async fn list(peer: &PeerAddr, path: &str) -> Result<(Vec<ListEntry>, u64), ClientError> {
    let mut conn = open(peer).await?;
    read_folder(&mut conn, path).await
}

/// Why a listed entry is not fetched.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("refused {0:?}: it would leave the target folder")]
    Climbs(String),
    #[error("no valid sha256 in the listing")]
    NoHash,
    #[error("a folder")]
    Folder,
}

/// A file found under a folder, and where it goes below the target folder.
#[derive(Debug, Clone)]
pub struct FolderFile {
    /// Its path on the peer (as listed).
    pub remote: String,
    /// Its path below the target folder: safe components, or why it was refused.
    pub local: Result<Vec<String>, Refused>,
    pub size: u64,
    pub sha256: Result<ContentHash, Refused>,
}

/// Every file under folder `path` on `peer`, recursively, with where each goes
/// (below a folder named after `path`'s last component). Bounded: see the module doc.
pub async fn walk(peer: &PeerAddr, path: &str) -> Result<(Vec<FolderFile>, bool), ClientError> {
    let mut conn = open(peer).await?;
    let mut files = Vec::new();
    let mut truncated = false;
    // (remote folder, local components so far, depth)
    let mut folders: Vec<(String, Vec<String>, usize)> = vec![(path.to_string(), Vec::new(), 0)];
    let mut walked = 0;
    while let Some((folder, local, depth)) = folders.pop() {
        walked += 1;
        let (entries, total) = read_folder(&mut conn, &folder).await?;
        truncated |= (entries.len() as u64) < total;
        for entry in entries {
            let here = local_component(&entry.name).map(|part| {
                let mut path = local.clone();
                path.push(part);
                path
            });
            match entry.kind {
                EntryKind::Dir => match here {
                    Ok(here) if depth < MAX_DEPTH && walked + folders.len() < MAX_FOLDERS => {
                        folders.push((entry.path.clone(), here, depth + 1))
                    }
                    Ok(_) => truncated = true,
                    // A folder that would climb out: its files are not even asked for.
                    Err(why) => files.push(FolderFile {
                        remote: entry.path.clone(),
                        local: Err(why),
                        size: 0,
                        sha256: Err(Refused::Folder),
                    }),
                },
                EntryKind::File => files.push(FolderFile {
                    remote: entry.path.clone(),
                    local: here,
                    size: entry.size.unwrap_or(0),
                    sha256: entry
                        .sha256
                        .as_deref()
                        .unwrap_or_default()
                        .parse()
                        .map_err(|_| Refused::NoHash),
                }),
            }
            if files.len() >= MAX_ENTRIES {
                return Ok((files, true));
            }
        }
    }
    files.sort_by(|a, b| a.remote.cmp(&b.remote));
    Ok((files, truncated))
}

/// One listed name as a safe path component, or why it is refused: a name with a path
/// in it (`a/../b`, `/etc/x`, `..`) is refused whole; control characters are dropped.
pub fn local_component(name: &str) -> Result<String, Refused> {
    let refuse = || Refused::Climbs(name.to_string());
    if name.contains(['/', '\\']) || name == ".." || name == "." {
        return Err(refuse());
    }
    // The fallback name sanitize gives an empty result is a hash; none is known here.
    let cleaned = sanitize(name, &ContentHash::of(name.as_bytes()));
    if cleaned.starts_with('.') && cleaned.trim_start_matches('.').is_empty() {
        return Err(refuse());
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_climb_out_are_refused_and_controls_dropped() {
        for bad in [
            "..",
            "../evil.txt",
            "a/../../b.txt",
            "/etc/x",
            "a\\..\\b",
            ".",
        ] {
            assert!(local_component(bad).is_err(), "{bad}");
        }
        assert_eq!(local_component("red\u{1b}[31m.txt").unwrap(), "red[31m.txt");
        assert_eq!(local_component("song.ogg").unwrap(), "song.ogg");
    }
}
