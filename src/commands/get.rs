//! `get N` · `get SHA256` · `get NAME` [`--from PEER`] [`--to PATH`]: choose the
//! content and its sources, hand them to the download engine, and share the result.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::{from_matches, human_bytes, Command, CommandError, CommandResult, Output};
use crate::client::manifest;
use crate::client::ClientError;
use crate::client::{
    download, info_all, ping_all, search_all, DownloadPlan, PeerAddr, PeerKind, PeerSearch, Source,
    Target,
};
use crate::protocol::hash::ContentHash;
use crate::protocol::message::ErrorCode;
use crate::shell::progress::ProgressView;
use crate::shell::session::{SearchRow, Session, TransferRecord};

pub struct Get;

#[derive(Args)]
struct GetArgs {
    /// Row number of the last search, a SHA-256, or an exact file name
    what: String,
    /// Only download from this peer (address or name); may be repeated
    #[arg(long = "from", value_name = "PEER")]
    from: Vec<String>,
    /// Folder to receive the file, or the file to write (never overwritten)
    #[arg(long = "to", value_name = "PATH")]
    to: Option<PathBuf>,
}

impl Command for Get {
    fn name(&self) -> &'static str {
        "get"
    }

    fn summary(&self) -> &'static str {
        "download row N of the last search, a SHA-256, or a file name; verified"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "get 1",
            "get 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "get report.pdf --from 192.168.1.20 --to ~/Documents/",
        ]
    }

    fn args(&self) -> clap::Command {
        GetArgs::augment_args(clap::Command::new("get")).about(
            "Download a file, verified by SHA-256: row N of the last search (from every \
             peer that listed its hash), a SHA-256 (from every peer that has it), or an \
             exact file name",
        )
    }

    fn run(&self, session: &mut Session, matches: clap::ArgMatches) -> CommandResult {
        let args: GetArgs = from_matches(&matches)?;
        let chosen = choose(session, &args.what)?;
        let allowed = resolve_from(session, &args.from)?;
        let sources: Vec<Source> = chosen
            .sources
            .into_iter()
            .filter(|s| allowed.as_ref().is_none_or(|a| a.contains(&s.peer)))
            .collect();
        if sources.is_empty() {
            return Err(CommandError::Failed(anyhow!(
                "none of the peers allowed by --from has {}",
                chosen.hash
            )));
        }
        let target = match args.to {
            Some(path) => Target::Path(expand_home(path)),
            None => Target::Folder(session.settings.download.dir.clone()),
        };
        let plan = DownloadPlan {
            hash: chosen.hash,
            name: chosen.name.clone(),
            size: chosen.size,
            sources,
            target,
            stall_timeout: std::time::Duration::from_secs(
                session.settings.download.stall_timeout_s,
            ),
        };
        let view = ProgressView::new(session.output);
        let result = session.run(download(plan, &|event| view.show(event)));
        view.finish();
        let result = result?;
        let record = |outcome, bytes, elapsed_ms, sources: Vec<String>| TransferRecord {
            name: chosen.name.clone().unwrap_or_default(),
            hash: chosen.hash.to_string(),
            bytes,
            size: chosen.size,
            elapsed_ms,
            sources,
            outcome,
        };
        let done = match result {
            Ok(done) => done,
            Err(e) => {
                session
                    .transfers
                    .push(record(Err(e.to_string()), 0, 0, Vec::new()));
                return Err(CommandError::Failed(e.into()));
            }
        };
        let sources: Vec<String> = done.sources.iter().map(|(p, _)| p.to_string()).collect();
        let served: serde_json::Map<String, serde_json::Value> = done
            .sources
            .iter()
            .map(|(p, bytes)| (p.to_string(), json!(bytes)))
            .collect();
        let elapsed_ms = done.elapsed.as_millis() as u64;
        session.transfers.push(record(
            Ok(done.path.clone()),
            done.fetched,
            elapsed_ms,
            sources.clone(),
        ));
        let download_dir = &session.settings.download.dir;
        if !done.already_present && done.path.parent() == Some(download_dir.as_path()) {
            // Bookkeeping for `verify`; the download itself already succeeded.
            let state_dir = &session.settings.node.state_dir;
            let _ = manifest::record(state_dir, &done.path, &done.hash, done.size);
        }
        share_download(session, &done.path, done.hash)?;

        let secs = done.elapsed.as_secs_f64().max(1e-6);
        let mb_per_s = done.fetched as f64 / secs / 1e6;
        let mut notes = Vec::new();
        if done.resumed > 0 {
            notes.push(format!(
                "resumed with {} already here",
                human_bytes(done.resumed)
            ));
        }
        for reason in &done.dropped {
            notes.push(format!("dropped {reason}"));
        }
        let line = if done.already_present {
            format!(
                "already here: {} ({}), sha256 verified",
                done.path.display(),
                human_bytes(done.size)
            )
        } else {
            format!(
                "saved {} ({}) from {} in {:.2} s ({:.0} MB/s), sha256 verified",
                done.path.display(),
                human_bytes(done.size),
                sources.join(", "),
                secs,
                mb_per_s
            )
        };
        Ok(Output::new(json!({
            "path": done.path.display().to_string(),
            "name": done.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "size": done.size,
            "sha256": done.hash.to_string(),
            "fetched": done.fetched,
            "resumed": done.resumed,
            "served": served,
            "dropped": done.dropped,
            "sources": sources,
            "already_present": done.already_present,
            "elapsed_ms": elapsed_ms,
            "mb_per_s": mb_per_s,
        }))
        .line(line + &notes.iter().map(|n| format!("\n  {n}")).collect::<String>()))
    }
}

/// What to download and where from.
struct Chosen {
    hash: ContentHash,
    name: Option<String>,
    size: Option<u64>,
    sources: Vec<Source>,
}

fn choose(session: &mut Session, what: &str) -> Result<Chosen, CommandError> {
    if ContentHash::looks_like(what) {
        let hash: ContentHash = what
            .parse()
            .map_err(|e: crate::protocol::hash::BadHash| CommandError::Usage(e.to_string()))?;
        return by_hash(session, hash, None);
    }
    if !what.is_empty() && what.bytes().all(|b| b.is_ascii_digit()) {
        let Some(last) = &session.last_search else {
            return Err(CommandError::Failed(anyhow!(
                "no search yet: `search PATTERN` first, then `get N`"
            )));
        };
        let n: usize = what.parse().unwrap_or(0);
        let Some(row) = last.rows.iter().find(|r| r.row == n).cloned() else {
            return Err(CommandError::Failed(anyhow!(
                "no row {what} in the last search ({} rows)",
                last.rows.len()
            )));
        };
        return from_rows(&row, &last.rows.clone());
    }
    by_name(session, what)
}

/// Every row of `rows` with `row`'s content is a source.
fn from_rows(row: &SearchRow, rows: &[SearchRow]) -> Result<Chosen, CommandError> {
    let hash: ContentHash = row.hash.parse().map_err(|_| {
        CommandError::Failed(anyhow!(
            "{} gave {:?} as the hash of {}: not a SHA-256, so it cannot be verified",
            row.peer,
            row.hash,
            row.name
        ))
    })?;
    let mut sources = Vec::new();
    for r in rows.iter().filter(|r| r.hash == row.hash) {
        if sources.iter().any(|s: &Source| s.peer == r.peer) {
            continue;
        }
        sources.push(Source {
            peer: r.peer.clone(),
            legacy_hash: r.legacy.then(|| r.hash.clone()),
        });
    }
    // P2P/1 sources first: they can resume and say the size.
    sources.sort_by_key(|s| s.legacy_hash.is_some());
    Ok(Chosen {
        hash,
        name: Some(row.name.clone()),
        size: rows
            .iter()
            .filter(|r| r.hash == row.hash)
            .find_map(|r| r.size),
        sources,
    })
}

fn by_hash(
    session: &mut Session,
    hash: ContentHash,
    name: Option<String>,
) -> Result<Chosen, CommandError> {
    let answers = session.run(info_all(&session.peers, hash))?;
    let mut sources = Vec::new();
    let mut size = None;
    let mut info_name = None;
    // Why peers that might have it could not say so (not `not_found`, nor a seed peer).
    let mut troubles = Vec::new();
    for (peer, answer) in answers {
        match answer {
            Ok(info) => {
                size.get_or_insert(info.size);
                info_name.get_or_insert(info.name);
                sources.push(Source {
                    peer,
                    legacy_hash: None,
                });
            }
            Err(ClientError::Remote { error, .. }) if error.code == ErrorCode::NotFound => {}
            Err(ClientError::LegacyCannot { .. }) => {}
            Err(e) => troubles.push(e.to_string()),
        }
    }
    // Seed peers can only be sources for a hash an earlier search found on them.
    if let Some(last) = &session.last_search {
        for row in last
            .rows
            .iter()
            .filter(|r| r.legacy && r.hash == hash.to_string())
        {
            if !sources.iter().any(|s| s.peer == row.peer) {
                sources.push(Source {
                    peer: row.peer.clone(),
                    legacy_hash: Some(row.hash.clone()),
                });
                info_name.get_or_insert(row.name.clone());
            }
        }
    }
    if sources.is_empty() {
        if troubles.is_empty() {
            return Err(CommandError::Failed(anyhow!("no peer has {hash}")));
        }
        return Err(CommandError::Failed(anyhow!(
            "no peer could serve {hash}: {}",
            troubles.join("; ")
        )));
    }
    Ok(Chosen {
        hash,
        name: name.or(info_name),
        size,
        sources,
    })
}

fn by_name(session: &mut Session, name: &str) -> Result<Chosen, CommandError> {
    let mut rows: Vec<SearchRow> = session
        .last_search
        .as_ref()
        .map(|last| {
            last.rows
                .iter()
                .filter(|r| r.name == name)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        let outcomes = session.run(search_all(&session.peers, name))?;
        for outcome in outcomes {
            match outcome.result {
                PeerSearch::Hits { hits, .. } => {
                    rows.extend(
                        hits.into_iter()
                            .filter(|h| h.name == name)
                            .map(|h| SearchRow {
                                row: 0,
                                peer: outcome.peer.clone(),
                                name: h.name,
                                path: h.path,
                                size: Some(h.size),
                                hash: h.sha256.to_string(),
                                modified: Some(h.modified),
                                legacy: false,
                            }),
                    );
                }
                PeerSearch::Legacy {
                    hash: Some(hash), ..
                } => rows.push(SearchRow {
                    row: 0,
                    peer: outcome.peer.clone(),
                    name: name.to_string(),
                    path: name.to_string(),
                    size: None,
                    hash,
                    modified: None,
                    legacy: true,
                }),
                _ => {}
            }
        }
    }
    let mut hashes: Vec<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    match hashes.as_slice() {
        [] => Err(CommandError::Failed(anyhow!(
            "no peer has a file named {name:?}"
        ))),
        [_] => from_rows(&rows[0], &rows),
        many => Err(CommandError::Failed(anyhow!(
            "{name:?} names {} different files; get one by its sha256: {}",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// The peers `--from` allows, or `None` when it was not given. A value is a peer's
/// address, or the name it answers `ping` with.
fn resolve_from(
    session: &mut Session,
    from: &[String],
) -> Result<Option<Vec<PeerAddr>>, CommandError> {
    if from.is_empty() {
        return Ok(None);
    }
    let mut allowed = Vec::new();
    let mut by_name = Vec::new();
    for text in from {
        match PeerAddr::parse(text) {
            Ok(addr) if session.peers.contains(&addr) => allowed.push(addr),
            _ => by_name.push(text.clone()),
        }
    }
    if !by_name.is_empty() {
        let statuses = session.run(ping_all(&session.peers))?;
        for wanted in by_name {
            let found: Vec<PeerAddr> = statuses
                .iter()
                .filter(|(_, s)| matches!(s, Ok(s) if matches!(&s.kind, PeerKind::P2p(p) if p.name == wanted)))
                .map(|(peer, _)| peer.clone())
                .collect();
            if found.is_empty() {
                return Err(CommandError::Failed(anyhow!(
                    "--from {wanted}: no known peer has that address or name"
                )));
            }
            allowed.extend(found);
        }
    }
    Ok(Some(allowed))
}

fn expand_home(path: PathBuf) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path,
    }
}

/// What you download you share: list the new file without hashing it again.
fn share_download(
    session: &mut Session,
    path: &std::path::Path,
    hash: ContentHash,
) -> Result<(), CommandError> {
    if !session.settings.download.share {
        return Ok(());
    }
    let shares = session.shares()?;
    shares.remember(path, hash);
    session.run(crate::runtime::spawn_blocking(move || shares.scan()))?;
    Ok(())
}
