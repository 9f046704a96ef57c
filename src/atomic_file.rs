//! Replacing a file whole or not at all: the bytes go to a temporary file in the same
//! folder, then a rename puts it in place, so a crash leaves the old file or the new one.
//! The temporary name is hidden and starts with `.p2p-`, so a share never lists it (some
//! of these files live in the download folder, which is shared).

use std::io::Write;
use std::path::Path;

/// Writes `bytes` as the new `path`; with `durable`, flushed to the disk first (files a
/// user edits by hand, like the config; not the frequent checkpoints).
pub(crate) fn write(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".p2p-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    if durable {
        temp.as_file().sync_all()?;
    }
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
