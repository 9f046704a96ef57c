//! `transfers`: the downloads of this ctx, finished and failed.

use clap::Args;
use serde_json::json;

use super::{human_bytes, Command, CommandResult, Context, Output};

pub struct Transfers;

#[derive(Args)]
struct TransfersArgs {}

impl Command for Transfers {
    fn name(&self) -> &'static str {
        "transfers"
    }

    fn summary(&self) -> &'static str {
        "downloads of this session: done and failed, with rate and sources"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["transfers"]
    }

    fn args(&self) -> clap::Command {
        TransfersArgs::augment_args(clap::Command::new("transfers"))
            .about("List this session's downloads: name, hash, bytes, rate, sources, outcome")
    }

    fn run(&self, ctx: &mut Context<'_>, _matches: clap::ArgMatches) -> CommandResult {
        let mut rows = Vec::new();
        let mut entries = Vec::new();
        for t in &ctx.node.transfers {
            let secs = t.elapsed_ms as f64 / 1000.0;
            let rate = if secs > 0.0 {
                t.bytes as f64 / secs / 1e6
            } else {
                0.0
            };
            let (state, detail) = match &t.outcome {
                Ok(path) => ("done", path.display().to_string()),
                Err(e) if t.interrupted => ("interrupted", e.clone()),
                Err(e) => ("failed", e.clone()),
            };
            // The message may already start with the state ("interrupted; 6 MiB kept").
            let detail = detail.strip_prefix(state).map_or(detail.as_str(), |rest| {
                rest.trim_start_matches([';', ':', ' '])
            });
            rows.push(vec![
                t.name.clone(),
                // Whole: the shell shortens hashes on a terminal only.
                t.hash.clone(),
                human_bytes(t.bytes),
                if t.bytes > 0 && secs > 0.0 {
                    format!("{}/s", human_bytes((t.bytes as f64 / secs) as u64))
                } else {
                    "—".into()
                },
                t.sources.join(", "),
                format!("{state}: {detail}"),
            ]);
            entries.push(json!({
                "name": t.name, "sha256": t.hash, "bytes": t.bytes, "size": t.size,
                "elapsed_ms": t.elapsed_ms, "mb_per_s": rate, "sources": t.sources,
                "state": state, "path": t.outcome.as_ref().ok().map(|p| p.display().to_string()),
                "error": t.outcome.as_ref().err(),
            }));
        }
        let output = Output::new(json!({ "transfers": entries }));
        Ok(if rows.is_empty() {
            output.line("no transfers yet this session")
        } else {
            output.table(
                &["file", "sha256", "fetched", "rate", "sources", "outcome"],
                rows,
            )
        })
    }
}
