//! What this peer shares: the share roots, the files under them, and their hashes.
//!
//! [`Shares`] owns the roots and an immutable [`Catalog`] snapshot that readers (the
//! server's connections, the shell) clone cheaply; a scan builds a new snapshot and
//! swaps it in. Hashing goes through the persistent [`cache::HashCache`], so a restart
//! re-hashes nothing that is unchanged.
//!
//! Invariants: nothing outside a share root is ever listed (symlinks are skipped, or
//! followed only when their target stays inside a root); dot-files (unless
//! `share.hidden`) and partial downloads are never listed; a file is only listed with
//! the hash of the content it had when it was hashed, and [`SharedFile::is_current`]
//! lets a server refuse to serve it once it has changed.

mod cache;
mod catalog;
pub mod hasher;
mod listing;
mod partials;
mod query;
mod shares;
mod walk;

pub use cache::FileStamp;
pub use catalog::{Catalog, SharedFile};
pub use listing::{folder_path, list, ListError, Listed};
pub use partials::{PartialFile, PartialShare, Partials};
pub use query::Query;
pub use shares::{RootStats, ScanReport, ShareOptions, Shares};

use std::path::PathBuf;

use thiserror::Error;

/// File names that belong to a download in progress: never listed, never served.
pub const PART_SUFFIX: &str = ".part";

/// Files p2p keeps for itself beside shared ones (partial downloads, the download
/// manifest): never listed, never served, even with `share.hidden`.
pub const INTERNAL_PREFIX: &str = ".p2p-";

#[derive(Debug, Error)]
pub enum IndexError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} changed while it was being hashed")]
    Changed(PathBuf),
}
