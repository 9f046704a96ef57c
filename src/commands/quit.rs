//! `quit` (or `exit`): leave the shell with status 0.

use clap::Args;
use serde_json::json;

use super::{Command, CommandResult, Context, Output};

pub struct Quit;

#[derive(Args)]
struct QuitArgs {}

impl Command for Quit {
    fn name(&self) -> &'static str {
        "quit"
    }

    fn summary(&self) -> &'static str {
        "leave (also `exit`, or Ctrl-D at an empty prompt)"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["quit"]
    }

    fn args(&self) -> clap::Command {
        QuitArgs::augment_args(clap::Command::new("quit")).about("Leave the shell")
    }

    fn run(&self, _ctx: &mut Context<'_>, _matches: clap::ArgMatches) -> CommandResult {
        let mut output = Output::new(json!({ "quit": true }));
        output.quit = true;
        Ok(output)
    }
}
