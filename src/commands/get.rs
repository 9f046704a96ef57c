//! `get N` · `get SHA256` · `get NAME` [`--from PEER`] [`--to PATH`]: choose the
//! content and its sources, hand them to the download engine, and share the result.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::search::group_rows;
use super::{
    escape_control, from_matches, human_bytes, Command, CommandError, CommandResult, Output,
};
use crate::client::manifest;
use crate::client::ClientError;
use crate::client::{
    download, info_all, ping_all, search_all, DownloadPlan, PeerAddr, PeerKind, Source, Target,
};
use crate::content::hash::ContentHash;
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
        let allowed = resolve_from(session, &args.from)?;
        // With --from, only those peers are asked (listed or not); else every known one.
        let asked = allowed.clone().unwrap_or_else(|| session.peers.clone());
        let chosen = choose(session, &asked, &args.what)?;
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
            target: target.clone(),
            stall_timeout: std::time::Duration::from_secs(
                session.settings.download.stall_timeout_s,
            ),
        };
        let view = ProgressView::new(session.output);
        let started = std::time::Instant::now();
        let result = session.run(download(plan, &|event| view.show(event)));
        view.finish();
        let record = |outcome, bytes, elapsed_ms, sources: Vec<String>| TransferRecord {
            name: chosen.name.clone().unwrap_or_default(),
            hash: chosen.hash.to_string(),
            bytes,
            size: chosen.size,
            elapsed_ms,
            sources,
            outcome,
            interrupted: false,
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let done = match result {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                let message = format!("{:#}", anyhow::Error::from(e));
                session
                    .transfers
                    .push(record(Err(message.clone()), 0, elapsed_ms, Vec::new()));
                return Err(CommandError::Failed(anyhow!(message)));
            }
            Err(_interrupted) => {
                let message = match crate::client::download::kept_for_resume(&target, &chosen.hash)
                {
                    Some((kept, size)) => format!(
                        "interrupted; {} of {} kept for the next `get {}`",
                        human_bytes(kept),
                        human_bytes(size),
                        chosen.hash
                    ),
                    None => "interrupted; nothing was kept".to_string(),
                };
                session.transfers.push(TransferRecord {
                    interrupted: true,
                    ..record(Err(message.clone()), 0, elapsed_ms, Vec::new())
                });
                return Err(CommandError::Cancelled(message));
            }
        };
        // The peers that sent bytes: a source asked but never used is not one.
        let sources: Vec<String> = done
            .sources
            .iter()
            .filter(|(_, bytes)| *bytes > 0)
            .map(|(p, _)| p.to_string())
            .collect();
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
            let from = if sources.is_empty() {
                String::new()
            } else {
                format!(" from {}", sources.join(", "))
            };
            let rate = if done.fetched > 0 {
                format!(" ({}/s)", human_bytes((done.fetched as f64 / secs) as u64))
            } else {
                String::new()
            };
            format!(
                "saved {} ({}){from} in {:.2} s{rate}, sha256 verified",
                done.path.display(),
                human_bytes(done.size),
                secs,
            )
        };
        let mut output = Output::new(json!({
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
        .line(line);
        // Reasons quote peers: one line each, whatever they hold.
        for note in &notes {
            output = output.line(format!("  {}", escape_control(note, false)));
        }
        Ok(output)
    }
}

/// What to download and where from.
struct Chosen {
    hash: ContentHash,
    name: Option<String>,
    size: Option<u64>,
    sources: Vec<Source>,
}

fn choose(session: &mut Session, asked: &[PeerAddr], what: &str) -> Result<Chosen, CommandError> {
    if ContentHash::looks_like(what) {
        let hash: ContentHash = what
            .parse()
            .map_err(|e: crate::content::hash::BadHash| CommandError::Usage(e.to_string()))?;
        return by_hash(session, asked, hash, None);
    }
    if let Some(hash) = by_prefix(session, what)? {
        return by_hash(session, asked, hash, None);
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
    by_name(session, asked, what)
}

/// A hex prefix (at least 8 digits) of a hash in the last search, as tables show them
/// shortened: the one hash it starts, `None` if it starts none (it may be a name), an
/// error listing the candidates if it starts several.
fn by_prefix(session: &Session, what: &str) -> Result<Option<ContentHash>, CommandError> {
    const MIN_PREFIX: usize = 8;
    if what.len() < MIN_PREFIX || what.len() >= 64 || !what.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let prefix = what.to_ascii_lowercase();
    let mut found: Vec<&str> = session
        .last_search
        .iter()
        .flat_map(|last| last.rows.iter())
        .map(|r| r.hash.as_str())
        .filter(|h| h.starts_with(&prefix) && ContentHash::looks_like(h))
        .collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [] => Ok(None),
        [one] => one
            .parse()
            .map(Some)
            .map_err(|e: crate::content::hash::BadHash| CommandError::Failed(anyhow!("{e}"))),
        many => Err(CommandError::Failed(anyhow!(
            "{what} starts {} hashes of the last search; give more digits: {}",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// Every row of `rows` with `row`'s content is a source.
fn from_rows(row: &SearchRow, rows: &[SearchRow]) -> Result<Chosen, CommandError> {
    let hash: ContentHash = row.hash.parse().map_err(|_| {
        let peers: Vec<String> = row.holders.iter().map(|h| h.peer.to_string()).collect();
        CommandError::Failed(anyhow!(
            "{} gave {:?} as the hash of {}: not a SHA-256, so it cannot be verified",
            peers.join(", "),
            row.hash,
            row.name
        ))
    })?;
    let mut sources = Vec::new();
    for holder in rows
        .iter()
        .filter(|r| r.hash == row.hash)
        .flat_map(|r| r.holders.iter())
    {
        if sources.iter().any(|s: &Source| s.peer == holder.peer) {
            continue;
        }
        sources.push(Source {
            peer: holder.peer.clone(),
            legacy_hash: holder.legacy.then(|| row.hash.clone()),
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
    asked: &[PeerAddr],
    hash: ContentHash,
    name: Option<String>,
) -> Result<Chosen, CommandError> {
    let answers = session.run(info_all(asked, hash))?;
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
            Err(e) => troubles.push(e.line()),
        }
    }
    // Seed peers can only be sources for a hash an earlier search found on them.
    if let Some(last) = &session.last_search {
        for row in last.rows.iter().filter(|r| r.hash == hash.to_string()) {
            for holder in row.holders.iter().filter(|h| h.legacy) {
                if !sources.iter().any(|s| s.peer == holder.peer) {
                    sources.push(Source {
                        peer: holder.peer.clone(),
                        legacy_hash: Some(row.hash.clone()),
                    });
                    info_name.get_or_insert(row.name.clone());
                }
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

/// A file by its exact name, or by its exact path under the share when `name` holds a
/// `/` (as search shows paths): from the last search if it is there, else asked for.
fn by_name(session: &mut Session, asked: &[PeerAddr], name: &str) -> Result<Chosen, CommandError> {
    let on_path = name.contains('/');
    let wanted = |row_name: &str, row_path: &str| {
        if on_path {
            row_path == name
        } else {
            row_name == name
        }
    };
    let mut rows: Vec<SearchRow> = session
        .last_search
        .as_ref()
        .map(|last| {
            last.rows
                .iter()
                .filter(|r| r.holders.iter().any(|h| wanted(&r.name, &h.path)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        let outcomes = session.run(search_all(asked, name))?;
        rows = group_rows(&outcomes, |hit| wanted(&hit.name, &hit.path));
    }
    let mut hashes: Vec<&str> = rows.iter().map(|r| r.hash.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    match hashes.as_slice() {
        [] => Err(CommandError::Failed(anyhow!(
            "no peer has a file {} {name:?}",
            if on_path { "at" } else { "named" }
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
        // An address is taken as it is, listed or not: a one-off source.
        match PeerAddr::parse(text) {
            Ok(addr) if session.peers.contains(&addr) || looks_like_address(text) => {
                allowed.push(addr)
            }
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

/// An IP address, or anything with a port: not a peer's name.
fn looks_like_address(text: &str) -> bool {
    text.parse::<std::net::IpAddr>().is_ok()
        || text.parse::<std::net::SocketAddr>().is_ok()
        || text
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
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
