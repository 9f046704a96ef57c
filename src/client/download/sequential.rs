//! The seed's way: one source streams the whole file, hashed as it lands. Used for seed
//! (legacy) peers, which cannot send chunks or say a size.

use std::io::{Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use super::Progress;
use crate::client::landing::{LandingError, PartFile};
use crate::client::{legacy, ClientError, PeerAddr};
use crate::content::hash::ContentHash;

pub enum SequentialError {
    Peer(ClientError),
    Landing(LandingError),
}

/// Streams `legacy_hash` from `peer` into a fresh `.part`; returns the byte count and the
/// SHA-256 of what arrived.
pub async fn fetch_legacy(
    peer: &PeerAddr,
    legacy_hash: &str,
    part: &PartFile,
    progress: &dyn Fn(Progress),
) -> Result<(u64, ContentHash), SequentialError> {
    part.truncate(0).map_err(SequentialError::Landing)?;
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    let mut disk_error = None;
    let result = legacy::download(peer, legacy_hash, |bytes| {
        let mut file = &part.file;
        let written = file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(bytes));
        if let Err(source) = written {
            let message = source.to_string();
            disk_error = Some(LandingError::Disk {
                path: part.path.clone(),
                source,
            });
            return Err(std::io::Error::other(message));
        }
        hasher.update(bytes);
        offset += bytes.len() as u64;
        progress(Progress::Verified { bytes: offset });
        Ok(())
    })
    .await;
    if let Some(e) = disk_error {
        return Err(SequentialError::Landing(e));
    }
    result.map_err(SequentialError::Peer)?;
    Ok((offset, ContentHash::from_hasher(hasher)))
}
