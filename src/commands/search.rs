//! `search PATTERN`: asks every peer at once and shows one table — numbered rows for
//! what was found (what `get N` takes), then a row for each peer that has nothing or
//! could not be asked.

use clap::Args;
use serde_json::json;

use anyhow::anyhow;

use super::{from_matches, human_bytes, Command, CommandError, CommandResult, Context, Output};
use crate::client::{group_rows, SearchRow};
use crate::client::{search_all, PeerSearch};
use crate::node::LastSearch;

pub struct Search;

#[derive(Args)]
struct SearchArgs {
    /// Substring of the file name, or a glob with * and ? (case-insensitive); with a `/`
    /// in it, matched against the path instead
    #[arg(required = true, num_args = 1..)]
    pattern: Vec<String>,
}

impl Command for Search {
    fn name(&self) -> &'static str {
        "search"
    }

    fn summary(&self) -> &'static str {
        "ask every peer for files matching a pattern (substring, or glob with * ?)"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "search report",
            "search '*.pdf'",
            "search 'photo-20??-*.jpg'",
            "search albums/2024/",
        ]
    }

    fn args(&self) -> clap::Command {
        SearchArgs::augment_args(clap::Command::new("search")).about(
            "Ask every peer at once for files whose name matches PATTERN: a \
             case-insensitive substring, or a glob over the whole name when it has * or ?. \
             A PATTERN with / in it is matched against the path under the share instead \
             (`search music/live/`). One row per distinct name and content, with the \
             peers holding it; `get N` takes every one of them as a source.",
        )
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: SearchArgs = from_matches(&matches)?;
        let query = args.pattern.join(" ");
        let mut asked = ctx.node.peers_to_ask()?;
        // The DHT's holders of the pattern's words are asked too (none for `*`).
        for peer in ctx.node.dht_holders_of_words(&query)? {
            if !asked.contains(&peer) {
                asked.push(peer);
            }
        }
        if asked.is_empty() {
            return Err(CommandError::Failed(anyhow!(
                "no peers to ask: `peers add HOST[:PORT]` adds one"
            )));
        }
        let started = std::time::Instant::now();
        let outcomes = ctx.node.run(search_all(&asked, &query))?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;

        let mut peer_entries = Vec::new();
        let mut quiet_rows = Vec::new();
        let mut failures = Vec::new();
        for outcome in &outcomes {
            let peer = &outcome.peer;
            let quiet =
                |what: String| vec![String::new(), peer.to_string(), what, "".into(), "".into()];
            match &outcome.result {
                PeerSearch::Hits { hits, truncated } => {
                    peer_entries.push(json!({
                        "peer": peer.to_string(), "status": if hits.is_empty() { "empty" } else { "ok" },
                        "results": hits.len(), "truncated": truncated,
                    }));
                    if hits.is_empty() {
                        quiet_rows.push(quiet("—".into()));
                    }
                }
                PeerSearch::Legacy { hash, .. } => {
                    if hash.is_none() {
                        quiet_rows.push(quiet("—".into()));
                    }
                    peer_entries.push(json!({
                        "peer": peer.to_string(), "status": if hash.is_some() { "ok" } else { "empty" },
                        "results": usize::from(hash.is_some()), "truncated": false, "legacy": true,
                    }));
                }
                PeerSearch::Failed(e) => {
                    let reason = e.reason();
                    quiet_rows.push(quiet(format!("error: {reason}")));
                    peer_entries.push(json!({
                        "peer": peer.to_string(), "status": "error", "results": 0, "error": reason,
                    }));
                    failures.push(e.line());
                }
            }
        }
        // A search nobody answered found nothing out: it failed, with every reason.
        if failures.len() == outcomes.len() {
            return Err(CommandError::Failed(anyhow!(
                "no peer answered the search: {}",
                failures.join("; ")
            )));
        }
        let rows = group_rows(&outcomes, |_| true);

        // Whole hashes: the shell shortens them on a terminal.
        let mut table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.row.to_string(),
                    holders_cell(r),
                    r.path.clone(),
                    r.size.map_or_else(|| "?".into(), human_bytes),
                    r.hash.clone(),
                ]
            })
            .collect();
        table.extend(quiet_rows);
        let results: Vec<_> = rows
            .iter()
            .map(|r| {
                let legacy = r.holders.iter().all(|h| h.legacy);
                json!({
                    "row": r.row, "name": r.name, "path": r.path,
                    "size": r.size, "sha256": r.hash, "modified": r.modified, "legacy": legacy,
                    "peer": r.holders.first().map(|h| h.peer.to_string()),
                    "peers": r.holders.iter().map(|h| json!({
                        "peer": h.peer.to_string(), "path": h.path, "legacy": h.legacy,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut output = Output::new(json!({
            "query": query, "results": results, "peers": peer_entries, "elapsed_ms": elapsed_ms,
        }))
        .table(&["#", "peers", "file", "size", "sha256"], table);
        if rows.is_empty() {
            output = output.line(format!("nothing matches {query:?}"));
        }
        ctx.node.last_search = Some(LastSearch { query, rows });
        ctx.node.last_browse = None;
        Ok(output)
    }
}

/// Who holds a row, for its table cell: the peer, or how many peers.
fn holders_cell(row: &SearchRow) -> String {
    match row.holders.as_slice() {
        [one] => one.peer.to_string(),
        many => format!("{} peers", many.len()),
    }
}
