//! `cancel N|SHA256|all`: stops queued or running background transfers. A running
//! one's connections close at once; its `.part` and the chunks verified so far are kept,
//! so the next `get` of the same content resumes.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::{from_matches, Command, CommandError, CommandResult, Context, Output};
use crate::node::{TransferState, Which};

pub struct Cancel;

#[derive(Args)]
struct CancelArgs {
    /// A transfer number, a SHA-256 (or 8+ of its first digits), or `all`
    #[arg(value_name = "N|SHA256|all")]
    which: String,
}

/// How long `cancel` waits for a running transfer to stop (its `.part` checkpointed).
const STOP_WAIT: Duration = Duration::from_secs(5);

impl Command for Cancel {
    fn name(&self) -> &'static str {
        "cancel"
    }

    fn summary(&self) -> &'static str {
        "stop background transfers (N, SHA256 or all); the .part is kept for resuming"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["cancel 2", "cancel all"]
    }

    fn args(&self) -> clap::Command {
        CancelArgs::augment_args(clap::Command::new("cancel")).about(
            "Stop a queued or running background transfer (by number, SHA-256 or `all`); \
             what it verified is kept, and the next `get` of it resumes",
        )
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: CancelArgs = from_matches(&matches)?;
        let text = args.which.trim();
        let which = if text.eq_ignore_ascii_case("all") {
            Which::All
        } else if let Ok(id) = text.parse::<u64>().map_err(|_| ()).and_then(|id| {
            // A number of up to 7 digits is a transfer; longer digit runs are hashes.
            if text.len() < 8 {
                Ok(id)
            } else {
                Err(())
            }
        }) {
            Which::Id(id)
        } else if text.len() >= 8 && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            Which::Hash(text.to_string())
        } else {
            return Err(CommandError::Usage(format!(
                "cancel takes a transfer number, a SHA-256 (8+ digits) or `all`, not {text:?}"
            )));
        };
        let board = ctx.node.transfers.clone();
        let cancelled = board.cancel(&which);
        if cancelled.is_empty() {
            let why = match (
                &which,
                board
                    .views()
                    .iter()
                    .find(|v| matches!(which, Which::Id(id) if v.id == id)),
            ) {
                (Which::All, _) => {
                    return Ok(Output::new(json!({ "cancelled": [] }))
                        .line("nothing to cancel: no transfer is queued or running"))
                }
                (Which::Id(id), Some(v)) => {
                    format!("transfer {id} has already ended ({})", v.state.as_str())
                }
                (Which::Id(id), None) => format!("no transfer {id} in this session"),
                (Which::Hash(h), _) => format!("no queued or running transfer of {h}"),
            };
            return Err(CommandError::Failed(anyhow!(why)));
        }
        // Until they have stopped: bytes no longer move and each `.part` is saved.
        let deadline = Instant::now() + STOP_WAIT;
        let _ = board.wait(Some(&cancelled), || Instant::now() >= deadline);
        let views = board.views();
        let mut output = Output::new(json!({ "cancelled": cancelled }));
        for id in &cancelled {
            let state = views
                .iter()
                .find(|v| v.id == *id)
                .map_or(TransferState::Cancelled, |v| v.state);
            let label = views
                .iter()
                .find(|v| v.id == *id)
                .map(|v| v.label().to_string())
                .unwrap_or_default();
            output = output.line(super::escape_control(
                &format!(
                    "[{id}] {}: {label} (what it verified is kept for the next get)",
                    state.as_str()
                ),
                false,
            ));
        }
        Ok(output)
    }
}
