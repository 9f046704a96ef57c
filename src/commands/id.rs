//! `id` (also `p2p id`): this peer's ID, the SHA-256 of its certificate in base32, to
//! give to friends who pin it (`host:port#ID`). Made on first use, then always the same.

use clap::Args;
use serde_json::json;

use super::{Command, CommandError, CommandResult, Context, Output};

pub struct Id;

#[derive(Args)]
struct IdArgs {}

impl Command for Id {
    fn name(&self) -> &'static str {
        "id"
    }

    fn summary(&self) -> &'static str {
        "this peer's ID, to give to friends who pin it"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["id"]
    }

    fn args(&self) -> clap::Command {
        IdArgs::augment_args(clap::Command::new("id")).about(
            "Print this peer's ID: the SHA-256 of its certificate, 52 characters of base32 \
             (the short form is the first 7). Made on first start and kept in node.state_dir",
        )
    }

    fn run(&self, ctx: &mut Context<'_>, _matches: clap::ArgMatches) -> CommandResult {
        let identity = ctx
            .node
            .identity()
            .map_err(|e| CommandError::Failed(e.into()))?;
        let id = identity.id;
        Ok(Output::new(json!({ "id": id.to_string(), "short": id.short() })).line(id.to_string()))
    }
}
