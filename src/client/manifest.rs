//! The download manifest: one JSON line per verified download that landed in the
//! download folder (`.p2p-downloads.jsonl` there), so that `verify` can later tell
//! whether a file still holds what was downloaded. Appending never rewrites old lines.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::protocol::hash::ContentHash;

pub const MANIFEST_NAME: &str = ".p2p-downloads.jsonl";

/// Appends a record; the file itself is not affected if this fails.
pub fn record(
    download_dir: &Path,
    path: &Path,
    hash: &ContentHash,
    size: u64,
) -> std::io::Result<()> {
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
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(download_dir.join(MANIFEST_NAME))?;
    // One write of one line: concurrent appenders never interleave inside a line.
    file.write_all(format!("{line}\n").as_bytes())
}
