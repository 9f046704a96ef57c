//! `wait [N...]`: waits for the given background transfers (all of them without
//! arguments) and says how each ended, in one result; fails if any did not finish well.
//! Ctrl-C stops the waiting, not the transfers.

use clap::Args;
use serde_json::json;

use super::{escape_control, from_matches, Command, CommandError, CommandResult, Context, Output};
use crate::node::{TransferId, TransferState, TransferView};

pub struct Wait;

#[derive(Args)]
struct WaitArgs {
    /// Transfer numbers (as `get ... &` and `transfers` show them); none: every one
    #[arg(value_name = "N")]
    ids: Vec<TransferId>,
}

impl Command for Wait {
    fn name(&self) -> &'static str {
        "wait"
    }

    fn summary(&self) -> &'static str {
        "wait for background transfers (all, or N...); fails if any failed"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["wait", "wait 2 3"]
    }

    fn args(&self) -> clap::Command {
        WaitArgs::augment_args(clap::Command::new("wait")).about(
            "Wait for background transfers (`get ... &`): the given numbers, or all of them; \
             exit status 1 if any failed or was cancelled",
        )
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: WaitArgs = from_matches(&matches)?;
        let board = ctx.node.transfers.clone();
        let known: Vec<TransferId> = board.views().iter().map(|v| v.id).collect();
        if let Some(unknown) = args.ids.iter().find(|id| !known.contains(id)) {
            return Err(CommandError::Usage(format!(
                "no transfer {unknown} in this session (`transfers` lists them)"
            )));
        }
        let ids = (!args.ids.is_empty()).then_some(args.ids.as_slice());
        let interrupt = ctx.node.interrupt().clone();
        let Some(views) = board.wait(ids, || interrupt.pending()) else {
            return Err(CommandError::Cancelled(
                "interrupted; the transfers go on (`transfers`, `cancel`)".into(),
            ));
        };
        report(&views)
    }
}

/// One line a transfer, and the JSON of them all; a failure if any did not end well.
pub(super) fn report(views: &[TransferView]) -> CommandResult {
    let lines: Vec<String> = views.iter().map(end_line).collect();
    let entries: Vec<serde_json::Value> = views
        .iter()
        .map(|v| {
            json!({
                "id": v.id, "what": v.what, "name": v.name, "sha256": v.hash,
                "state": v.state.as_str(), "bytes": v.bytes, "size": v.size,
                "path": v.path.as_ref().map(|p| p.display().to_string()),
                "error": v.error,
            })
        })
        .collect();
    let failed = views
        .iter()
        .filter(|v| v.state != TransferState::Done)
        .count();
    let json = json!({ "transfers": entries, "ok": failed == 0, "failed": failed });
    if failed > 0 {
        return Err(CommandError::Reported {
            usage: false,
            message: format!(
                "{failed} of {} transfers did not finish: {}",
                views.len(),
                lines.join("; ")
            ),
            json,
        });
    }
    let mut output = Output::new(json);
    if lines.is_empty() {
        output = output.line("no background transfers to wait for");
    }
    for line in lines {
        output = output.line(line);
    }
    Ok(output)
}

/// `[2] done: saved …` / `[3] failed: …`: what the REPL prints when a transfer ends.
pub fn end_line(v: &TransferView) -> String {
    let what = match (&v.summary, &v.error) {
        (Some(summary), _) => summary.clone(),
        (None, Some(error)) => format!("{}: {error}", v.label()),
        (None, None) => v.label().to_string(),
    };
    escape_control(&format!("[{}] {}: {what}", v.id, v.state.as_str()), false).into_owned()
}
