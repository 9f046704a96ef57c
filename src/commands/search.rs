//! `search PATTERN`: asks every peer at once and shows one table — numbered rows for
//! what was found (what `get N` takes), then a row for each peer that has nothing or
//! could not be asked.

use clap::Args;
use serde_json::json;

use super::{from_matches, human_bytes, Command, CommandResult, Output};
use crate::client::{search_all, PeerSearch};
use crate::shell::session::{LastSearch, SearchRow, Session};

pub struct Search;

#[derive(Args)]
struct SearchArgs {
    /// Substring of the file name, or a glob with * and ? (case-insensitive)
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
        ]
    }

    fn args(&self) -> clap::Command {
        SearchArgs::augment_args(clap::Command::new("search")).about(
            "Ask every peer at once for files whose name matches PATTERN: a \
             case-insensitive substring, or a glob over the whole name when it has * or ?",
        )
    }

    fn run(&self, session: &mut Session, matches: clap::ArgMatches) -> CommandResult {
        let args: SearchArgs = from_matches(&matches)?;
        let query = args.pattern.join(" ");
        let started = std::time::Instant::now();
        let outcomes = session.run(search_all(&session.peers, &query))?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;

        let mut rows = Vec::new();
        let mut peer_entries = Vec::new();
        let mut quiet_rows = Vec::new();
        for (order, outcome) in outcomes.iter().enumerate() {
            let peer = &outcome.peer;
            match &outcome.result {
                PeerSearch::Hits { hits, truncated } => {
                    for hit in hits {
                        rows.push((
                            order,
                            SearchRow {
                                row: 0,
                                peer: peer.clone(),
                                name: hit.name.clone(),
                                path: hit.path.clone(),
                                size: Some(hit.size),
                                hash: hit.sha256.to_string(),
                                modified: Some(hit.modified),
                                legacy: false,
                            },
                        ));
                    }
                    peer_entries.push(json!({
                        "peer": peer.to_string(), "status": if hits.is_empty() { "empty" } else { "ok" },
                        "results": hits.len(), "truncated": truncated,
                    }));
                    if hits.is_empty() {
                        quiet_rows.push(vec![
                            String::new(),
                            peer.to_string(),
                            "—".into(),
                            String::new(),
                            String::new(),
                        ]);
                    }
                }
                PeerSearch::Legacy { name, hash } => {
                    match hash {
                        Some(hash) => rows.push((
                            order,
                            SearchRow {
                                row: 0,
                                peer: peer.clone(),
                                name: name.clone(),
                                path: name.clone(),
                                size: None,
                                hash: hash.clone(),
                                modified: None,
                                legacy: true,
                            },
                        )),
                        None => quiet_rows.push(vec![
                            String::new(),
                            peer.to_string(),
                            "—".into(),
                            String::new(),
                            String::new(),
                        ]),
                    }
                    peer_entries.push(json!({
                        "peer": peer.to_string(), "status": if hash.is_some() { "ok" } else { "empty" },
                        "results": usize::from(hash.is_some()), "truncated": false, "legacy": true,
                    }));
                }
                PeerSearch::Failed(e) => {
                    let reason = e.reason();
                    quiet_rows.push(vec![
                        String::new(),
                        peer.to_string(),
                        format!("error: {reason}"),
                        String::new(),
                        String::new(),
                    ]);
                    peer_entries.push(json!({
                        "peer": peer.to_string(), "status": "error", "results": 0, "error": reason,
                    }));
                }
            }
        }
        // Rows by name, then in the order peers are listed; numbered as shown.
        rows.sort_by(|(oa, a), (ob, b)| {
            a.name
                .cmp(&b.name)
                .then(oa.cmp(ob))
                .then(a.path.cmp(&b.path))
        });
        let rows: Vec<SearchRow> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (_, mut row))| {
                row.row = i + 1;
                row
            })
            .collect();

        let terminal = session.output.terminal;
        let mut table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.row.to_string(),
                    r.peer.to_string(),
                    r.path.clone(),
                    r.size.map_or_else(|| "?".into(), human_bytes),
                    if terminal && r.hash.len() > 16 {
                        format!("{}…", &r.hash[..16])
                    } else {
                        r.hash.clone()
                    },
                ]
            })
            .collect();
        table.extend(quiet_rows);
        let results: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "row": r.row, "peer": r.peer.to_string(), "name": r.name, "path": r.path,
                    "size": r.size, "sha256": r.hash, "modified": r.modified, "legacy": r.legacy,
                })
            })
            .collect();
        let mut output = Output::new(json!({
            "query": query, "results": results, "peers": peer_entries, "elapsed_ms": elapsed_ms,
        }));
        if session.peers.is_empty() {
            output = output.line("no peers to ask: `peers add HOST[:PORT]` adds one");
        } else {
            output = output.table(&["#", "peer", "file", "size", "sha256"], table);
            if rows.is_empty() {
                output = output.line(format!("nothing matches {query:?}"));
            }
        }
        session.last_search = Some(LastSearch { query, rows });
        Ok(output)
    }
}
