//! Answers to the P2P/1 ops, as values: an answer frame's JSON, or a file range for
//! the connection to send. Nothing here touches a socket (only `connection.rs` does),
//! so every answer can be tested without one.

use std::net::IpAddr;
use std::sync::Arc;

use super::ServeContext;
use crate::content::hash::ContentHash;
use crate::content::layout::Layout;
use crate::index::{ListError, Listed, PartialFile, Query, SharedFile};
use crate::protocol::message::{
    answer_body, EntryKind, ErrorCode, InfoAnswer, ListAnswer, ListEntry, PeersAnswer, PexEntry,
    PingAnswer, RemoteError, Request, SearchAnswer, SearchHit,
};
use crate::protocol::{MAX_ANSWER_BYTES, VERSION};
use crate::runtime;

/// The most peers one `peers` answer names.
const MAX_PEX_ANSWER: usize = 200;

/// Results per search when the client names no limit, and the most it may ask for.
const DEFAULT_SEARCH_LIMIT: u64 = 1000;
const MAX_SEARCH_LIMIT: u64 = 10_000;

/// What to send back for one request.
#[derive(Debug)]
pub(crate) enum Reply {
    /// An answer frame with this JSON body (an error object included).
    Json(Vec<u8>),
    /// A data frame with `len` bytes of `file` from `offset` (`len` may be 0).
    Range {
        file: Arc<SharedFile>,
        offset: u64,
        len: u64,
    },
}

impl From<RemoteError> for Reply {
    fn from(error: RemoteError) -> Reply {
        Reply::Json(error.to_body())
    }
}

/// Answers one request from `asker`.
pub(crate) async fn answer(request: Request, context: &ServeContext, asker: IpAddr) -> Reply {
    match request {
        Request::Ping => {
            let catalog = context.shares.catalog();
            Reply::Json(answer_body(&PingAnswer {
                name: context.name.clone(),
                version: VERSION,
                files: catalog.len() as u64,
                bytes: catalog.total_bytes(),
            }))
        }
        Request::Search { query, limit } => Reply::Json(search(context, &query, limit)),
        Request::Info { sha256 } => match info(context, sha256).await {
            Ok(body) => Reply::Json(body),
            Err(error) => error.into(),
        },
        Request::Read {
            sha256,
            offset,
            len,
        } => read(context, sha256, offset, len).unwrap_or_else(Reply::from),
        Request::Peers => Reply::Json(answer_body(&PeersAnswer {
            peers: peers(context, asker),
        })),
        Request::List {
            path,
            offset,
            limit,
        } => Reply::Json(list(context, &path, offset, limit)),
    }
}

/// The most entries one `list` answer holds (DESIGN §9), and its default.
const MAX_LIST_LIMIT: u64 = 1000;

/// A page of folder `path`, from the catalog alone (see `index::list`).
fn list(context: &ServeContext, path: &str, offset: Option<u64>, limit: Option<u64>) -> Vec<u8> {
    let catalog = context.shares.catalog();
    let entries = match crate::index::list(&catalog, path) {
        Ok(entries) => entries,
        Err(e @ ListError::BadPath(_)) => {
            return RemoteError::new(ErrorCode::BadRequest, e.to_string()).to_body()
        }
        Err(e @ ListError::NotFound(_)) => {
            return RemoteError::new(ErrorCode::NotFound, e.to_string()).to_body()
        }
    };
    let total = entries.len() as u64;
    let limit = limit.unwrap_or(MAX_LIST_LIMIT).min(MAX_LIST_LIMIT) as usize;
    let offset = offset.unwrap_or(0).min(total) as usize;
    let mut page: Vec<ListEntry> = entries
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|entry| match entry {
            Listed::File {
                name,
                path,
                size,
                sha256,
            } => ListEntry {
                name,
                path,
                kind: EntryKind::File,
                size: Some(size),
                sha256: Some(sha256.to_string()),
                files: None,
                bytes: None,
            },
            Listed::Dir {
                name,
                path,
                files,
                bytes,
            } => ListEntry {
                name,
                path,
                kind: EntryKind::Dir,
                size: None,
                sha256: None,
                files: Some(files),
                bytes: Some(bytes),
            },
        })
        .collect();
    // An answer frame must stay under the limit: a shorter page (the client pages on).
    loop {
        let body = answer_body(&ListAnswer {
            entries: page.clone(),
            total,
        });
        if body.len() <= MAX_ANSWER_BYTES || page.is_empty() {
            return body;
        }
        page.truncate(page.len() / 2);
    }
}

/// The peers to name to `asker`: those the node reached lately, never the asker itself
/// (by address: a peer at that address knows itself), at most [`MAX_PEX_ANSWER`].
fn peers(context: &ServeContext, asker: IpAddr) -> Vec<PexEntry> {
    let Some(known) = &context.known_peers else {
        return Vec::new();
    };
    let asker = asker.to_canonical();
    known()
        .into_iter()
        .filter(|entry| {
            crate::content::PeerAddr::parse(&entry.addr)
                .ok()
                .and_then(|addr| addr.host().parse::<IpAddr>().ok())
                .is_none_or(|ip| ip.to_canonical() != asker)
        })
        .take(MAX_PEX_ANSWER)
        .collect()
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
    let file = match current_file(context, &hash) {
        Ok(file) => file,
        Err(not_here) => {
            // Being downloaded: what it has so far (DESIGN §9).
            let Some(partial) = context.shares.partials().get(&hash) else {
                return Err(not_here);
            };
            partial.note_asked();
            return Ok(answer_body(&InfoAnswer {
                name: partial.name.clone(),
                size: partial.layout.size(),
                chunk_size: partial.layout.chunk_size(),
                chunks: partial.chunks.clone(),
                complete: Some(false),
                have: Some(partial.have_hex()),
            }));
        }
    };
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
        complete: Some(true),
        have: None,
    }))
}

fn read(
    context: &ServeContext,
    hash: ContentHash,
    offset: u64,
    len: u64,
) -> Result<Reply, RemoteError> {
    let max = context.limits.max_read_bytes as u64;
    if len > max {
        return Err(RemoteError::new(
            ErrorCode::TooLarge,
            format!("len {len} is over the limit of {max}"),
        ));
    }
    let file = match current_file(context, &hash) {
        Ok(file) => file,
        Err(not_here) => match context.shares.partials().get(&hash) {
            Some(partial) => partial_range(&partial, offset, len)?,
            None => return Err(not_here),
        },
    };
    let size = file.size();
    if offset > size {
        return Err(RemoteError::new(
            ErrorCode::OutOfRange,
            format!("offset {offset} is past the end ({size} bytes)"),
        ));
    }
    let len = offset.saturating_add(len).min(size) - offset;
    Ok(Reply::Range { file, offset, len })
}

/// A range of a file being downloaded, as a file to send: only whole verified chunks.
fn partial_range(
    partial: &PartialFile,
    offset: u64,
    len: u64,
) -> Result<Arc<SharedFile>, RemoteError> {
    let size = partial.layout.size();
    let end = offset.saturating_add(len).min(size);
    if offset < size && !partial.has_range(offset, end - offset) {
        return Err(RemoteError::new(
            ErrorCode::Unavailable,
            "not all of that range is here yet (see `have` in info)",
        ));
    }
    let path = partial.path();
    // Sent like a shared file: its length is checked before every window.
    let stamp = crate::index::FileStamp::read(&path).map_err(|e| {
        RemoteError::new(ErrorCode::NotFound, format!("the download went away: {e}"))
    })?;
    if stamp.size != size {
        return Err(RemoteError::new(
            ErrorCode::NotFound,
            "the download went away",
        ));
    }
    Ok(Arc::new(SharedFile {
        name: partial.name.clone(),
        rel: partial.name.clone(),
        root: path.parent().map(|p| p.to_path_buf()).unwrap_or_default(),
        path,
        stamp,
        sha256: partial.hash,
    }))
}

#[cfg(test)]
mod tests {
    //! Answers are values: every op is checked here without a socket.
    use super::*;
    use crate::index::{ShareOptions, Shares};
    use crate::server::{ServeContext, ServerLimits};

    fn context(dir: &std::path::Path) -> ServeContext {
        let shares = Arc::new(Shares::new(
            vec![dir.to_path_buf()],
            ShareOptions {
                follow_symlinks: false,
                hidden: false,
                state_dir: None,
            },
        ));
        shares.scan();
        ServeContext::new(
            "tester".into(),
            shares,
            ServerLimits::from_settings(&crate::config::ServerSettings::default()),
        )
    }

    fn json(reply: Reply) -> serde_json::Value {
        match reply {
            Reply::Json(body) => serde_json::from_slice(&body).unwrap(),
            other => panic!("expected JSON, got {other:?}"),
        }
    }

    #[test]
    fn every_op_is_answered_with_a_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"hello world").unwrap();
        let hash = ContentHash::of(b"hello world");
        let context = context(dir.path());
        let local = IpAddr::from([127, 0, 0, 1]);
        let run = |request| runtime::block_on(answer(request, &context, local));

        let ping = json(run(Request::Ping));
        assert_eq!(
            (ping["name"].as_str(), ping["files"].as_u64()),
            (Some("tester"), Some(1))
        );
        let found = json(run(Request::Search {
            query: "a.".into(),
            limit: None,
        }));
        assert_eq!(found["results"][0]["sha256"], hash.to_string());
        let info = json(run(Request::Info { sha256: hash }));
        assert_eq!(info["size"], 11);
        match run(Request::Read {
            sha256: hash,
            offset: 6,
            len: 100,
        }) {
            Reply::Range { file, offset, len } => {
                assert_eq!((file.name.as_str(), offset, len), ("a.txt", 6, 5));
            }
            other => panic!("{other:?}"),
        }
        let past = json(run(Request::Read {
            sha256: hash,
            offset: 12,
            len: 1,
        }));
        assert_eq!(past["error"]["code"], "out_of_range");
        let big = json(run(Request::Read {
            sha256: hash,
            offset: 0,
            len: 1 << 30,
        }));
        assert_eq!(big["error"]["code"], "too_large");
        let missing = json(run(Request::Info {
            sha256: ContentHash::of(b"nope"),
        }));
        assert_eq!(missing["error"]["code"], "not_found");
    }

    #[test]
    fn a_file_being_downloaded_is_served_chunk_by_verified_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let share = dir.path().join("share");
        std::fs::create_dir_all(&share).unwrap();
        let context = context(&share);
        let part = dir.path().join(".p2p-x.part");
        let size = 3 * (1 << 20) + 5;
        std::fs::write(&part, vec![7u8; size]).unwrap();
        let layout = Layout::for_size(size as u64, MAX_ANSWER_BYTES);
        let hash = ContentHash::of(b"the whole file");
        let registered = context.shares.partials().register(
            hash,
            "movie.mkv".into(),
            part,
            layout,
            vec![hash; 4],
            &[layout.chunk(1).unwrap()],
        );
        let local = IpAddr::from([127, 0, 0, 1]);
        let run = |request| runtime::block_on(answer(request, &context, local));
        let info = json(run(Request::Info { sha256: hash }));
        assert_eq!(info["complete"], false, "{info}");
        assert_eq!(info["have"], "02", "{info}");
        match run(Request::Read {
            sha256: hash,
            offset: 1 << 20,
            len: 1 << 20,
        }) {
            Reply::Range { offset, len, .. } => assert_eq!((offset, len), (1 << 20, 1 << 20)),
            other => panic!("expected a range, got {other:?}"),
        }
        let lacking = json(run(Request::Read {
            sha256: hash,
            offset: (1 << 20) - 1,
            len: 2,
        }));
        assert_eq!(lacking["error"]["code"], "unavailable", "{lacking}");
        // Never in a search.
        let found = json(run(Request::Search {
            query: "movie".into(),
            limit: None,
        }));
        assert_eq!(found["results"].as_array().unwrap().len(), 0, "{found}");
        drop(registered);
        let gone = json(run(Request::Info { sha256: hash }));
        assert_eq!(gone["error"]["code"], "not_found");
    }
}
