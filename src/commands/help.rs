//! `help` lists every command (built-in and plugin); `help CMD` shows its usage and
//! examples.

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::{from_matches, Command, CommandError, CommandResult, Output};
use crate::plugin;
use crate::shell::session::Session;

pub struct Help;

#[derive(Args)]
struct HelpArgs {
    /// The command to explain
    command: Option<String>,
}

impl Command for Help {
    fn name(&self) -> &'static str {
        "help"
    }

    fn summary(&self) -> &'static str {
        "list commands, or explain one"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["help", "help get"]
    }

    fn args(&self) -> clap::Command {
        HelpArgs::augment_args(clap::Command::new("help"))
            .about("List commands, or explain COMMAND")
    }

    fn run(&self, session: &mut Session, matches: clap::ArgMatches) -> CommandResult {
        let args: HelpArgs = from_matches(&matches)?;
        let registry = session.registry.clone();
        let plugins = plugin::list(&session.settings.plugins.dirs);
        let Some(name) = args.command else {
            let mut rows: Vec<Vec<String>> = registry
                .commands()
                .map(|c| vec![c.name().to_string(), c.summary().to_string()])
                .collect();
            rows.extend(
                plugins
                    .iter()
                    .map(|p| vec![p.clone(), "(plugin)".to_string()]),
            );
            let commands: Vec<_> = rows
                .iter()
                .map(|r| json!({ "name": r[0], "summary": r[1] }))
                .collect();
            return Ok(Output::new(json!({ "commands": commands }))
                .table(&["command", "does"], rows)
                .line("`help COMMAND` for its usage and examples"));
        };
        let Some(command) = registry.find(&name) else {
            if plugins.contains(&name) {
                return Ok(Output::new(json!({ "name": name, "plugin": true }))
                    .line(format!("{name}: a plugin; try `{name} --help`")));
            }
            return Err(CommandError::Failed(anyhow!("no command called {name:?}")));
        };
        let usage = command
            .args()
            .name(command.name())
            .disable_help_flag(false)
            .render_long_help()
            .to_string();
        let mut output = Output::new(json!({
            "name": command.name(), "summary": command.summary(),
            "usage": usage, "examples": command.examples(),
        }))
        .line(usage.trim_end());
        output = output.line("").line("Examples:");
        for example in command.examples() {
            output = output.line(format!("  {example}"));
        }
        Ok(output)
    }
}
