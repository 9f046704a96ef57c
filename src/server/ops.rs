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
    let io_limit = context.limits.idle_timeout;
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
    send_answer(stream, &body, io_limit).await
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
    let io_limit = context.limits.idle_timeout;
    let refuse = |code, message: String| RemoteError::new(code, message).to_body();
    if len > context.limits.max_read_bytes as u64 {
        let body = refuse(
            ErrorCode::TooLarge,
            format!(
                "len {len} is over the limit of {}",
                context.limits.max_read_bytes
            ),
        );
        return send_answer(stream, &body, io_limit).await;
    }
    let file = match current_file(context, &hash) {
        Ok(file) => file,
        Err(error) => return send_answer(stream, &error.to_body(), io_limit).await,
    };
    let size = file.size();
    if offset > size {
        let body = refuse(
            ErrorCode::OutOfRange,
            format!("offset {offset} is past the end ({size} bytes)"),
        );
        return send_answer(stream, &body, io_limit).await;
    }
    let end = offset.saturating_add(len).min(size);
    let count = (end - offset) as usize;
    if count == 0 {
        return send(stream, &frame::encode_header(FrameType::Data, 0), io_limit).await;
    }
    let map = match map_range(&file, offset, count) {
        Ok(map) => map,
        Err(message) => {
            let body = refuse(ErrorCode::Internal, message);
            return send_answer(stream, &body, io_limit).await;
        }
    };
    send(
        stream,
        &frame::encode_header(FrameType::Data, count),
        io_limit,
    )
    .await?;
    send(stream, &map, io_limit).await?;
    context.counters.reads.fetch_add(1, Ordering::Relaxed);
    context
        .counters
        .bytes_served
        .fetch_add(count as u64, Ordering::Relaxed);
    Ok(())
}

fn map_range(file: &SharedFile, offset: u64, count: usize) -> Result<memmap2::Mmap, String> {
    let handle = File::open(&file.path).map_err(|e| format!("cannot open file: {e}"))?;
    // Re-checked on the open handle: a file shortened since it was listed must not be
    // mapped past its end.
    let on_disk = handle.metadata().map(|m| m.len()).unwrap_or(0);
    if on_disk != file.size() {
        return Err("file changed since it was indexed".to_string());
    }
    // SAFETY: read-only map of a range checked against the file's current length; it
    // is dropped as soon as the bytes are written.
    unsafe { MmapOptions::new().offset(offset).len(count).map(&handle) }
        .map_err(|e| format!("cannot map file: {e}"))
}
