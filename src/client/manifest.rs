//! The download manifest: one JSON line per verified download that landed in the
//! download folder, kept in the peer's `node.state_dir` (`downloads.jsonl`) so that the
//! `verify` plugin can later tell whether a file still holds what was downloaded. It
//! lives apart from the download folder, which holds only downloaded files. Appending
//! never rewrites old lines.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::content::hash::ContentHash;

pub const MANIFEST_NAME: &str = "downloads.jsonl";

/// Appends a record; the file itself is not affected if this fails.
pub fn record(state_dir: &Path, path: &Path, hash: &ContentHash, size: u64) -> std::io::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let line = json!({
        "path": path.display().to_string(),
        "name": path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "sha256": hash.to_string(),
        "size": size,
        "time": now,
    });
    std::fs::create_dir_all(state_dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join(MANIFEST_NAME))?;
    // One write of one line: concurrent appenders never interleave inside a line.
    file.write_all(format!("{line}\n").as_bytes())
}
