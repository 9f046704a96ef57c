//! `get N` · `get SHA256` · `get NAME` · `get PEER:PATH/` [`--from PEER`] [`--to PATH`]
//! [`&`]: choose the content and its sources, hand them to the download engine (here, or
//! as a background transfer of the node), and share the result. Folders: `folder.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::{
    escape_control, from_matches, human_bytes, Command, CommandError, CommandResult, Context,
    Output,
};
use crate::client::manifest;
use crate::client::{
    choose, download, resolve_from, DownloadPlan, PeerAddr, Progress, SelectError, Source, Target,
};
use crate::content::ContentHash;
use crate::node::{Finished, Live, Unfinished};
use crate::runtime;

mod folder;

pub struct Get;

/// The most sources one download takes.

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

// A trailing `&` (as in a shell) runs it in the background: the shell takes it off the
// line and sets `Context::background`.

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
            "get big.iso &",
            "get alice:music/",
            "get 192.168.1.20:12000:photos/2024/ --to ~/Pictures/",
        ]
    }

    fn args(&self) -> clap::Command {
        GetArgs::augment_args(clap::Command::new("get")).about(
            "Download a file, verified by SHA-256: row N of the last search or browse (from \
             every peer that listed its hash), a SHA-256 (from every peer that has it), or an \
             exact file name; PEER:PATH/ (or a browse's folder row) takes every file under \
             a peer's folder, keeping its structure. A trailing & runs it in the background",
        )
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let mut args: GetArgs = from_matches(&matches)?;
        // `get PEER:PATH/`: a folder.
        if let Some((peer, path)) = folder::target(&args.what) {
            return folder::get_folder(ctx, &peer, &path, args.to.take());
        }
        // `get N` after a browse: a file of that peer, or every file under a folder.
        if let (Some(browse), Ok(n)) = (&ctx.node.last_browse, args.what.parse::<usize>()) {
            let rows = browse.entries.len();
            let Some(entry) = n.checked_sub(1).and_then(|i| browse.entries.get(i)) else {
                return Err(CommandError::Failed(anyhow!(
                    "no row {n} in the last browse ({rows} rows)"
                )));
            };
            let peer = browse.peer.to_string();
            match entry.kind {
                crate::client::EntryKind::Dir => {
                    let path = format!("{}/", entry.path);
                    return folder::get_folder(ctx, &peer, &path, args.to.take());
                }
                crate::client::EntryKind::File => {
                    args.what = entry.sha256.clone().unwrap_or_default();
                    args.from = vec![peer];
                }
            }
        }
        let job = prepare(ctx, args)?;
        if ctx.background {
            let what = job.what.clone();
            let id = submit(ctx, job);
            let queued = ctx
                .node
                .transfers
                .views()
                .iter()
                .any(|v| v.id == id && v.state == crate::node::TransferState::Queued);
            let state = if queued { "queued" } else { "started" };
            return Ok(
                Output::new(json!({ "transfer": id, "state": state, "what": what })).line(format!(
                    "[{id}] {state}: get {} (see `transfers`, `wait {id}`, `cancel {id}`)",
                    escape_control(&what, false)
                )),
            );
        }
        let what = job.what.clone();
        let target = job.target.clone();
        let resolved = job.resolved.clone();
        let started = std::time::Instant::now();
        let result = ctx.node.run(job.run(ctx.progress));
        let took = started.elapsed();
        let done = match result {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                let message = format!("{:#}", anyhow::Error::from(e));
                ctx.node
                    .transfers
                    .record(what, Err(unfinished(&message)), false, took);
                return Err(CommandError::Failed(anyhow!(message)));
            }
            Err(_interrupted) => {
                let hash = resolved.get().copied().or_else(|| what.parse().ok());
                let kept = hash.and_then(|h| crate::client::download::kept_for_resume(&target, &h));
                let message = match (kept, hash) {
                    (Some((kept, size)), Some(hash)) => format!(
                        "interrupted; {} of {} kept for the next `get {hash}`",
                        human_bytes(kept),
                        human_bytes(size),
                    ),
                    _ => "interrupted; what was verified is kept for the next `get`".to_string(),
                };
                ctx.node
                    .transfers
                    .record(what, Err(unfinished(&message)), true, took);
                return Err(CommandError::Cancelled(message));
            }
        };
        ctx.node
            .transfers
            .record(what, Ok(done.finished()), false, took);
        Ok(done.output())
    }
}

/// Queues `job` as a background transfer of the node; returns its number.
fn submit(ctx: &mut Context<'_>, job: GetJob) -> crate::node::TransferId {
    let what = job.label.clone().unwrap_or_else(|| job.what.clone());
    let hash = job.what.parse::<ContentHash>().ok().map(|h| h.to_string());
    ctx.node.transfers.submit(
        what,
        hash,
        Box::new(move |live: Arc<Live>| {
            Box::pin(async move {
                let mut job = job;
                job.live = Some(live.clone());
                let resolved = job.resolved.clone();
                let progress = move |event: Progress| live.on(&event);
                job.run(&progress)
                    .await
                    .map(|done| done.finished())
                    .map_err(|e| Unfinished {
                        message: format!("{:#}", anyhow::Error::from(e)),
                        name: None,
                        hash: resolved.get().map(|h| h.to_string()),
                    })
            })
        }),
    )
}

/// Everything a download needs, gathered in the foreground (arguments checked, peers
/// to ask found) so that it can run there or in the background.
struct GetJob {
    what: String,
    asked: Vec<PeerAddr>,
    /// `--from`'s peers, when given.
    allowed: Option<Vec<PeerAddr>>,
    last_rows: Vec<crate::client::SearchRow>,
    last_listed: Vec<String>,
    target: Target,
    stall_timeout: std::time::Duration,
    /// Where a finished download is shared (none with `download.share = false`).
    shares: Option<Arc<crate::index::Shares>>,
    download_dir: PathBuf,
    state_dir: PathBuf,
    /// The hash chosen, once known (what an interrupted get kept is said by it).
    resolved: Arc<std::sync::OnceLock<ContentHash>>,
    /// A background transfer's live figures, told the name and hash once chosen.
    live: Option<Arc<Live>>,
    /// What `transfers` calls it until its name is known (else `what`).
    label: Option<String>,
    /// The name to save it under, whatever a peer's `info` says (a folder's listed name:
    /// two files of one content keep their own names).
    save_as: Option<String>,
}

fn prepare(ctx: &mut Context<'_>, args: GetArgs) -> Result<GetJob, CommandError> {
    let node = &mut *ctx.node;
    let allowed = node
        .run(resolve_from(&node.known_peers(), &args.from))?
        .map_err(failed)?;
    // With --from, only those peers are asked (listed or not); else every known one.
    let asked = match &allowed {
        Some(allowed) => allowed.clone(),
        None => {
            let mut asked = node.peers_to_ask()?;
            // A hash: the DHT's holders of that content are asked too.
            if let Ok(hash) = args.what.parse() {
                for peer in node.dht_holders(&hash)? {
                    if !asked.contains(&peer) {
                        asked.push(peer);
                    }
                }
            }
            asked
        }
    };
    let target = match args.to {
        Some(path) => Target::Path(expand_home(path)),
        None => Target::Folder(node.settings.download.dir.clone()),
    };
    Ok(GetJob {
        what: args.what,
        asked,
        allowed,
        last_rows: node.last_rows().to_vec(),
        last_listed: node.last_listed.clone(),
        target,
        stall_timeout: std::time::Duration::from_secs(node.settings.download.stall_timeout_s),
        shares: node.settings.download.share.then(|| node.shares_handle()),
        download_dir: node.settings.download.dir.clone(),
        state_dir: node.settings.node.state_dir.clone(),
        resolved: Arc::default(),
        live: None,
        label: None,
        save_as: None,
    })
}

/// Why a get failed.
#[derive(Debug, thiserror::Error)]
enum GetError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Download(#[from] crate::client::download::DownloadError),
}

impl GetJob {
    /// Chooses the content and its sources, downloads it, and shares the result.
    async fn run(self, progress: &(dyn Fn(Progress) + Sync)) -> Result<Done, GetError> {
        let chosen = choose(&self.asked, &self.last_rows, &self.last_listed, &self.what).await?;
        let _ = self.resolved.set(chosen.hash);
        if let Some(live) = &self.live {
            live.chosen(
                chosen.name.clone().unwrap_or_else(|| self.what.clone()),
                chosen.hash.to_string(),
            );
        }
        let sources: Vec<Source> = chosen
            .sources
            .into_iter()
            .filter(|s| self.allowed.as_ref().is_none_or(|a| a.contains(&s.peer)))
            .collect();
        if sources.is_empty() {
            return Err(SelectError::NotFromThose(chosen.hash).into());
        }
        // At most 16 sources for one download (DESIGN §6): more add connections, not
        // speed. P2P/1 sources come first.
        let sources: Vec<Source> = sources
            .into_iter()
            .take(crate::client::download::MAX_SOURCES)
            .collect();
        let plan = DownloadPlan {
            hash: chosen.hash,
            name: self.save_as.clone().or(chosen.name.clone()),
            size: chosen.size,
            // With --from, only those; else everyone asked, for a swarm to find itself.
            others: match &self.allowed {
                Some(allowed) => allowed.clone(),
                None => self.asked.clone(),
            },
            sources,
            target: self.target.clone(),
            stall_timeout: self.stall_timeout,
            // What you download you share, from its first verified chunk (DESIGN §9).
            partials: self.shares.as_ref().map(|s| s.partials().clone()),
        };
        let mut done = download(plan, progress).await?;
        if !done.already_present && done.path.parent() == Some(self.download_dir.as_path()) {
            // Bookkeeping for `verify`; the download itself already succeeded.
            let _ = manifest::record(&self.state_dir, &done.path, &done.hash, done.size);
        }
        // What you download you share: listed without hashing it again.
        if let Some(shares) = self.shares {
            let (path, hash) = (done.path.clone(), done.hash);
            runtime::spawn_blocking(move || {
                shares.remember(&path, hash);
                shares.scan();
            })
            .await;
        }
        // In the catalog now: no longer shared as a partial file.
        drop(done.partial.take());
        Ok(Done(done))
    }
}

/// A download that ended well, and how to say it.
struct Done(crate::client::download::Downloaded);

impl Done {
    /// The peers that sent bytes: a source asked but never used is not one.
    fn sources(&self) -> Vec<String> {
        self.0
            .sources
            .iter()
            .filter(|(_, bytes)| *bytes > 0)
            .map(|(p, _)| p.to_string())
            .collect()
    }

    fn summary(&self) -> String {
        let done = &self.0;
        if done.already_present {
            return format!(
                "already here: {} ({}), sha256 verified",
                done.path.display(),
                human_bytes(done.size)
            );
        }
        let secs = done.elapsed.as_secs_f64().max(1e-6);
        let sources = self.sources();
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
    }

    fn finished(&self) -> Finished {
        let done = &self.0;
        Finished {
            path: done.path.clone(),
            name: done
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            hash: done.hash.to_string(),
            size: done.size,
            fetched: done.fetched,
            sources: self.sources(),
            summary: self.summary(),
        }
    }

    fn output(&self) -> Output {
        let done = &self.0;
        let served: serde_json::Map<String, serde_json::Value> = done
            .sources
            .iter()
            .map(|(p, bytes)| (p.to_string(), json!(bytes)))
            .collect();
        let secs = done.elapsed.as_secs_f64().max(1e-6);
        let mut notes = Vec::new();
        if done.resumed > 0 {
            notes.push(format!(
                "resumed with {} already here",
                human_bytes(done.resumed)
            ));
        }
        let dropped: Vec<String> = done
            .dropped
            .iter()
            .map(|reason| crate::error_chain::error_chain(reason.as_ref()))
            .collect();
        for reason in &dropped {
            notes.push(format!("dropped {reason}"));
        }
        let mut output = Output::new(json!({
            "path": done.path.display().to_string(),
            "name": done.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "size": done.size,
            "sha256": done.hash.to_string(),
            "fetched": done.fetched,
            "resumed": done.resumed,
            "served": served,
            "dropped": dropped,
            "sources": self.sources(),
            "already_present": done.already_present,
            "elapsed_ms": done.elapsed.as_millis() as u64,
            "mb_per_s": done.fetched as f64 / secs / 1e6,
        }))
        .line(self.summary());
        // Reasons quote peers: one line each, whatever they hold.
        for note in &notes {
            output = output.line(format!("  {}", escape_control(note, false)));
        }
        output
    }
}

fn unfinished(message: &str) -> Unfinished {
    Unfinished {
        message: message.to_string(),
        name: None,
        hash: None,
    }
}

fn failed(error: SelectError) -> CommandError {
    CommandError::Failed(error.into())
}

fn expand_home(path: PathBuf) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path,
    }
}
