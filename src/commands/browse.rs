//! `browse PEER [PATH]`: what a peer shares, folder by folder (P2P/1 `list`, DESIGN §9):
//! folders with the count and bytes of every file below them, then files with size and
//! hash. Rows are numbered; `get N` takes a file row (from that peer) or a folder row
//! (every file under it). A browse replaces the last search's rows.

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::{from_matches, human_bytes, Command, CommandError, CommandResult, Context, Output};
use crate::client::browse::list;
use crate::client::{resolve_from, EntryKind, PeerAddr};
use crate::node::LastBrowse;

pub struct Browse;

#[derive(Args)]
struct BrowseArgs {
    /// The peer: its name, host or host:port
    peer: String,
    /// A folder of its shares (the top when left out)
    #[arg(default_value = "")]
    path: String,
}

impl Command for Browse {
    fn name(&self) -> &'static str {
        "browse"
    }

    fn summary(&self) -> &'static str {
        "list a peer's shared folders and files; `get N` takes a row (a folder: all of it)"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["browse alice", "browse 192.168.1.20 music/live"]
    }

    fn args(&self) -> clap::Command {
        BrowseArgs::augment_args(clap::Command::new("browse")).about(
            "List what PEER shares in folder PATH (the top by default): folders with the \
             files and bytes below them, then files with size and sha256. Rows are numbered: \
             `get N` downloads a file row, or every file under a folder row (keeping its \
             structure). Seed (legacy) peers cannot be browsed",
        )
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: BrowseArgs = from_matches(&matches)?;
        let peer = one_peer(ctx, &args.peer)?;
        let path = args.path.trim().to_string();
        let (entries, total) = ctx
            .node
            .run(list(&peer, &path))?
            .map_err(|e| CommandError::Failed(anyhow!(e.line())))?;
        let mut rows = Vec::new();
        let mut json_entries = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let (shown, size, files, hash) = match entry.kind {
                EntryKind::Dir => (
                    format!("{}/", entry.name),
                    human_bytes(entry.bytes.unwrap_or(0)),
                    entry.files.map_or_else(String::new, |n| n.to_string()),
                    String::new(),
                ),
                EntryKind::File => (
                    entry.name.clone(),
                    human_bytes(entry.size.unwrap_or(0)),
                    String::new(),
                    entry.sha256.clone().unwrap_or_default(),
                ),
            };
            rows.push(vec![(i + 1).to_string(), shown, size, files, hash]);
            json_entries.push(json!({
                "row": i + 1, "name": entry.name, "path": entry.path,
                "kind": match entry.kind { EntryKind::Dir => "dir", EntryKind::File => "file" },
                "size": entry.size, "sha256": entry.sha256,
                "files": entry.files, "bytes": entry.bytes,
            }));
        }
        let shown_path = if path.is_empty() {
            "/".to_string()
        } else {
            path.clone()
        };
        let mut output = Output::new(json!({
            "peer": peer.to_string(), "path": path, "entries": json_entries, "total": total,
        }));
        output = if rows.is_empty() {
            output.line(format!("{peer} shares nothing in {shown_path}"))
        } else {
            output.table(&["#", "name", "size", "files", "sha256"], rows)
        };
        if (entries.len() as u64) < total {
            output = output.line(format!(
                "  (the first {} of {total} entries)",
                entries.len()
            ));
        }
        ctx.node.last_search = None;
        ctx.node.last_browse = Some(LastBrowse {
            peer,
            path,
            entries,
        });
        Ok(output)
    }
}

/// The one peer `text` names: an address (listed or not), or the name a known peer
/// answers with.
pub(super) fn one_peer(ctx: &mut Context<'_>, text: &str) -> Result<PeerAddr, CommandError> {
    let known = ctx.node.known_peers();
    let found = ctx
        .node
        .run(resolve_from(&known, &[text.to_string()]))?
        .map_err(|e| CommandError::Failed(e.into()))?
        .unwrap_or_default();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CommandError::Failed(anyhow!("no peer {text:?}"))),
        several => Err(CommandError::Failed(anyhow!(
            "{} peers answer to the name {text:?}: {}; give an address",
            several.len(),
            several
                .iter()
                .map(PeerAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
