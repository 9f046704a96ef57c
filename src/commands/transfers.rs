//! `transfers`: this session's downloads — running ones first (percent, rate, sources,
//! ETA), then queued, then those that ended (done, failed, cancelled, interrupted).

use clap::Args;
use serde_json::json;

use super::{human_bytes, Command, CommandResult, Context, Output};
use crate::node::{TransferState, TransferView};

pub struct Transfers;

#[derive(Args)]
struct TransfersArgs {}

impl Command for Transfers {
    fn name(&self) -> &'static str {
        "transfers"
    }

    fn summary(&self) -> &'static str {
        "downloads of this session: running (%, rate, ETA), queued, done, failed"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["transfers"]
    }

    fn args(&self) -> clap::Command {
        TransfersArgs::augment_args(clap::Command::new("transfers")).about(
            "List this session's downloads: running ones with percent, rate, sources and ETA, \
             then queued, done and failed ones",
        )
    }

    fn run(&self, ctx: &mut Context<'_>, _matches: clap::ArgMatches) -> CommandResult {
        let mut views = ctx.node.transfers.views();
        // Running, queued, then the ended ones in the order they were started.
        views.sort_by_key(|v| {
            let rank = match v.state {
                TransferState::Running => 0,
                TransferState::Queued => 1,
                _ => 2,
            };
            (rank, v.id)
        });
        let rows: Vec<Vec<String>> = views.iter().map(row).collect();
        let entries: Vec<serde_json::Value> = views.iter().map(entry).collect();
        let output = Output::new(json!({ "transfers": entries }));
        Ok(if rows.is_empty() {
            output.line("no transfers yet this session")
        } else {
            output.table(
                &[
                    "#", "file", "sha256", "state", "progress", "rate", "sources", "eta", "outcome",
                ],
                rows,
            )
        })
    }
}

fn percent(view: &TransferView) -> Option<f64> {
    match view.size {
        Some(0) => Some(100.0),
        Some(size) => Some(100.0 * view.bytes as f64 / size as f64),
        None => None,
    }
}

fn row(v: &TransferView) -> Vec<String> {
    let progress = match (v.state, percent(v)) {
        (TransferState::Queued, _) => "—".to_string(),
        (_, Some(p)) => format!("{p:.0}% of {}", human_bytes(v.size.unwrap_or(0))),
        // Still asking peers which of them have it, and how big it is.
        (TransferState::Running, None) => "0% (finding sources)".to_string(),
        (_, None) => human_bytes(v.bytes),
    };
    let rate = if v.rate > 0.0 {
        format!("{}/s", human_bytes(v.rate as u64))
    } else {
        "—".into()
    };
    let sources = match v.state {
        TransferState::Running => v.source_count.to_string(),
        _ if v.sources.is_empty() => "—".into(),
        _ => v.sources.join(", "),
    };
    let eta = v
        .eta
        .map_or_else(|| "—".to_string(), |eta| format!("{} s", eta.as_secs()));
    let state = v.state.as_str();
    let outcome = match (&v.path, &v.error) {
        (Some(path), _) => format!("{state}: {}", path.display()),
        // The message may already start with the state ("interrupted; 6 MiB kept").
        (None, Some(e)) => {
            let detail = e
                .strip_prefix(state)
                .map_or(e.as_str(), |rest| rest.trim_start_matches([';', ':', ' ']));
            format!("{state}: {detail}")
        }
        (None, None) => state.to_string(),
    };
    vec![
        if v.background {
            v.id.to_string()
        } else {
            format!("{} (fg)", v.id)
        },
        v.label().to_string(),
        // Whole: the shell shortens hashes on a terminal only.
        v.hash.clone().unwrap_or_else(|| "—".into()),
        state.to_string(),
        progress,
        rate,
        sources,
        eta,
        outcome,
    ]
}

fn entry(v: &TransferView) -> serde_json::Value {
    json!({
        "id": v.id,
        "what": v.what,
        "name": v.name,
        "sha256": v.hash,
        "state": v.state.as_str(),
        "background": v.background,
        "bytes": v.bytes,
        "size": v.size,
        "percent": percent(v),
        "rate_bytes_per_s": v.rate,
        "mb_per_s": v.rate / 1e6,
        "sources": v.sources,
        "source_count": v.source_count,
        "eta_s": v.eta.map(|e| e.as_secs_f64()),
        "elapsed_ms": v.elapsed.as_millis() as u64,
        "started_ms": v.started_at.map(|t| t.as_millis() as u64),
        "ended_ms": v.ended_at.map(|t| t.as_millis() as u64),
        "path": v.path.as_ref().map(|p| p.display().to_string()),
        "error": v.error,
    })
}
