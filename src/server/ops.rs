//! Answers to the four P2P/1 ops. `read` is served from a memory map of just the range
//! asked for, written straight from the map to the socket and unmapped after.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use memmap2::MmapOptions;

use super::connection::{send, send_answer};
use super::ServeContext;
use crate::index::{Query, SharedFile};
use crate::protocol::frame::{self, FrameType};
use crate::protocol::hash::ContentHash;
use crate::protocol::layout::Layout;
use crate::protocol::message::{
    answer_body, ErrorCode, InfoAnswer, PingAnswer, RemoteError, Request, SearchAnswer, SearchHit,
};
use crate::protocol::{MAX_ANSWER_BYTES, VERSION};
use crate::runtime::{self, TcpStream};

/// Results per search when the client names no limit, and the most it may ask for.
const DEFAULT_SEARCH_LIMIT: u64 = 1000;
const MAX_SEARCH_LIMIT: u64 = 10_000;

/// Answers one request. An `Err` means the connection is broken and must end.
pub(crate) async fn answer(
    request: Request,
    context: &ServeContext,
    stream: &mut TcpStream,
) -> std::io::Result<()> {
    let body = match request {
        Request::Ping => {
            let catalog = context.shares.catalog();
            Ok(answer_body(&PingAnswer {
                name: context.name.clone(),
                version: VERSION,
                files: catalog.len() as u64,
                bytes: catalog.total_bytes(),
            }))
        }
        Request::Search { query, limit } => Ok(search(context, &query, limit)),
        Request::Info { sha256 } => info(context, sha256).await,
        Request::Read {
            sha256,
            offset,
            len,
        } => return read(context, stream, sha256, offset, len).await,
    };
    let body = body.unwrap_or_else(|error| error.to_body());
    send_answer(stream, &body, context).await
}

fn search(context: &ServeContext, query: &str, limit: Option<u64>) -> Vec<u8> {
    let limit = limit.unwrap_or(DEFAULT_SEARCH_LIMIT).min(MAX_SEARCH_LIMIT) as usize;
    let (files, mut truncated) = context.shares.catalog().search(&Query::new(query), limit);
    // A file changed since it was hashed is not listed under its old hash.
    let mut results: Vec<SearchHit> = files
        .iter()
        .filter(|f| context.is_current(f))
        .map(|f| SearchHit {
            name: f.name.clone(),
            path: f.rel.clone(),
            size: f.size(),
            sha256: f.sha256,
            modified: f.modified(),
        })
        .collect();
    // An answer frame must stay under the limit: drop results until it does.
    loop {
        let body = answer_body(&SearchAnswer {
            results: results.clone(),
            truncated,
        });
        if body.len() <= MAX_ANSWER_BYTES || results.is_empty() {
            return body;
        }
        results.truncate(results.len() / 2);
        truncated = true;
    }
}

/// The first file with this content that is still what was hashed.
fn current_file(
    context: &ServeContext,
    hash: &ContentHash,
) -> Result<Arc<SharedFile>, RemoteError> {
    context
        .shares
        .catalog()
        .with_hash(hash)
        .find(|f| context.is_current(f))
        .cloned()
        .ok_or_else(|| RemoteError::new(ErrorCode::NotFound, format!("no file with sha256 {hash}")))
}

async fn info(context: &ServeContext, hash: ContentHash) -> Result<Vec<u8>, RemoteError> {
    let file = current_file(context, &hash)?;
    let layout = Layout::for_size(file.size(), MAX_ANSWER_BYTES);
    let shares = context.shares.clone();
    let name = file.name.clone();
    let chunks = runtime::spawn_blocking(move || shares.chunk_hashes(&file, layout))
        .await
        .map_err(|e| RemoteError::new(ErrorCode::NotFound, e.to_string()))?;
    Ok(answer_body(&InfoAnswer {
        name,
        size: layout.size(),
        chunk_size: layout.chunk_size(),
        chunks,
    }))
}

async fn read(
    context: &ServeContext,
    stream: &mut TcpStream,
    hash: ContentHash,
    offset: u64,
    len: u64,
) -> std::io::Result<()> {
    let refuse = |code, message: String| RemoteError::new(code, message).to_body();
    if len > context.limits.max_read_bytes as u64 {
        let body = refuse(
            ErrorCode::TooLarge,
            format!(
                "len {len} is over the limit of {}",
                context.limits.max_read_bytes
            ),
        );
        return send_answer(stream, &body, context).await;
    }
    let file = match current_file(context, &hash) {
        Ok(file) => file,
        Err(error) => return send_answer(stream, &error.to_body(), context).await,
    };
    let size = file.size();
    if offset > size {
        let body = refuse(
            ErrorCode::OutOfRange,
            format!("offset {offset} is past the end ({size} bytes)"),
        );
        return send_answer(stream, &body, context).await;
    }
    let end = offset.saturating_add(len).min(size);
    let count = (end - offset) as usize;
    if count == 0 {
        return send(stream, &frame::encode_header(FrameType::Data, 0), context).await;
    }
    let handle = match open_unchanged(&file) {
        Ok(handle) => handle,
        Err(message) => {
            let body = refuse(ErrorCode::Internal, message);
            return send_answer(stream, &body, context).await;
        }
    };
    send(
        stream,
        &frame::encode_header(FrameType::Data, count),
        context,
    )
    .await?;
    // A window at a time: a client that reads slowly (or never) holds one small map,
    // not the whole range. Once the header is out, a failure can only close.
    let end = offset + count as u64;
    let mut at = offset;
    while at < end {
        let len = (end - at).min(SEND_WINDOW) as usize;
        let map = map_window(&handle, file.size(), at, len).map_err(std::io::Error::other)?;
        send(stream, &map, context).await?;
        at += len as u64;
    }
    context.counters.reads.fetch_add(1, Ordering::Relaxed);
    context
        .counters
        .bytes_served
        .fetch_add(count as u64, Ordering::Relaxed);
    Ok(())
}

/// Bytes mapped at once while sending: with every connection place taken by clients that
/// do not read, mapped memory stays at `max_connections` × this.
pub(crate) const SEND_WINDOW: u64 = 256 * 1024;

/// Opens a shared file, checking it still has the length it was hashed with.
pub(crate) fn open_unchanged(file: &SharedFile) -> Result<File, String> {
    let handle = File::open(&file.path).map_err(|e| format!("cannot open file: {e}"))?;
    let on_disk = handle.metadata().map(|m| m.len()).unwrap_or(0);
    if on_disk != file.size() {
        return Err("file changed since it was indexed".to_string());
    }
    Ok(handle)
}

/// Maps `len` bytes at `offset`, re-checking on the open handle that the file was not
/// shortened meanwhile (mapping past the end would fault).
pub(crate) fn map_window(
    handle: &File,
    size: u64,
    offset: u64,
    len: usize,
) -> Result<memmap2::Mmap, String> {
    if handle.metadata().map(|m| m.len()).unwrap_or(0) != size {
        return Err("file changed while being sent".to_string());
    }
    // SAFETY: read-only map of a range checked against the file's current length; it
    // is dropped as soon as its bytes are written to the socket (the kernel copies from
    // it inside `write`, where a page gone meanwhile is an EFAULT, not a signal).
    unsafe { MmapOptions::new().offset(offset).len(len).map(handle) }
        .map_err(|e| format!("cannot map file: {e}"))
}
