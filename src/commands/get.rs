//! `get N` · `get SHA256` · `get NAME` [`--from PEER`] [`--to PATH`]: choose the
//! content and its sources, hand them to the download engine, and share the result.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::{
    escape_control, from_matches, human_bytes, Command, CommandError, CommandResult, Context,
    Output,
};
use crate::client::manifest;
use crate::client::{choose, download, resolve_from, DownloadPlan, SelectError, Source, Target};
use crate::node::TransferRecord;

pub struct Get;

/// The most sources one download takes.
const MAX_SOURCES: usize = 16;

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

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: GetArgs = from_matches(&matches)?;
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
        let chosen = node
            .run(choose(
                &asked,
                node.last_rows(),
                &node.last_listed,
                &args.what,
            ))?
            .map_err(failed)?;
        let sources: Vec<Source> = chosen
            .sources
            .into_iter()
            .filter(|s| allowed.as_ref().is_none_or(|a| a.contains(&s.peer)))
            .collect();
        if sources.is_empty() {
            return Err(failed(SelectError::NotFromThose(chosen.hash)));
        }
        // At most 16 sources for one download (DESIGN §6): more add connections, not
        // speed. P2P/1 sources come first.
        let sources: Vec<Source> = sources.into_iter().take(MAX_SOURCES).collect();
        let target = match args.to {
            Some(path) => Target::Path(expand_home(path)),
            None => Target::Folder(ctx.node.settings.download.dir.clone()),
        };
        let plan = DownloadPlan {
            hash: chosen.hash,
            name: chosen.name.clone(),
            size: chosen.size,
            sources,
            target: target.clone(),
            stall_timeout: std::time::Duration::from_secs(
                ctx.node.settings.download.stall_timeout_s,
            ),
        };
        let started = std::time::Instant::now();
        let result = ctx.node.run(download(plan, ctx.progress));
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
                ctx.node
                    .transfers
                    .push(record(Err(message.clone()), 0, elapsed_ms, Vec::new()));
                return Err(CommandError::Failed(anyhow!(message)));
            }
            Err(_interrupted) => {
                let kept = crate::client::download::kept_for_resume(&target, &chosen.hash);
                let message = match kept {
                    Some((kept, size)) => format!(
                        "interrupted; {} of {} kept for the next `get {}`",
                        human_bytes(kept),
                        human_bytes(size),
                        chosen.hash
                    ),
                    None => "interrupted; nothing was kept".to_string(),
                };
                let kept = kept.map_or(0, |(kept, _)| kept);
                ctx.node.transfers.push(TransferRecord {
                    interrupted: true,
                    ..record(Err(message.clone()), kept, elapsed_ms, Vec::new())
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
        ctx.node.transfers.push(record(
            Ok(done.path.clone()),
            done.fetched,
            elapsed_ms,
            sources.clone(),
        ));
        let download_dir = &ctx.node.settings.download.dir;
        if !done.already_present && done.path.parent() == Some(download_dir.as_path()) {
            // Bookkeeping for `verify`; the download itself already succeeded.
            let state_dir = &ctx.node.settings.node.state_dir;
            let _ = manifest::record(state_dir, &done.path, &done.hash, done.size);
        }
        ctx.node.share_download(&done.path, done.hash)?;

        let secs = done.elapsed.as_secs_f64().max(1e-6);
        let mb_per_s = done.fetched as f64 / secs / 1e6;
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
            "dropped": dropped,
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

fn failed(error: SelectError) -> CommandError {
    CommandError::Failed(error.into())
}

fn expand_home(path: PathBuf) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path,
    }
}
