//! `help` lists every command (built-in and plugin); `help CMD` shows its usage and
//! examples. A plugin is described by its first comment line (see [`plugin::summary`]),
//! and the list says how a plugin's exit status becomes p2p's.

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::{from_matches, Command, CommandError, CommandResult, Context, Output};
use crate::plugin;

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

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: HelpArgs = from_matches(&matches)?;
        let registry = ctx.registry;
        let dirs = &ctx.node.settings.plugins.dirs;
        let plugins: Vec<(String, Option<String>)> = plugin::list(dirs)
            .into_iter()
            .map(|name| {
                let summary = plugin::find(dirs, &name).and_then(|p| plugin::summary(&p, &name));
                (name, summary)
            })
            .collect();
        let Some(name) = args.command else {
            let mut rows: Vec<Vec<String>> = registry
                .commands()
                .map(|c| vec![c.name().to_string(), c.summary().to_string()])
                .collect();
            let mut commands: Vec<_> = registry
                .commands()
                .map(|c| json!({ "name": c.name(), "summary": c.summary(), "plugin": false }))
                .collect();
            for (name, summary) in &plugins {
                let described = match summary {
                    Some(summary) => format!("{summary} (plugin)"),
                    None => "(plugin)".to_string(),
                };
                rows.push(vec![name.clone(), described]);
                commands.push(json!({ "name": name, "summary": summary, "plugin": true }));
            }
            let mut output = Output::new(json!({ "commands": commands }))
                .table(&["command", "does"], rows)
                .line("`help COMMAND` for its usage and examples");
            if !plugins.is_empty() {
                output = output.line(format!("Note: {}.", plugin::EXIT_STATUS_NOTE));
            }
            return Ok(output);
        };
        let Some(command) = registry.find(&name) else {
            if let Some((_, summary)) = plugins.iter().find(|(p, _)| *p == name) {
                let path = plugin::find(dirs, &name).map(|p| p.display().to_string());
                let mut output = Output::new(json!({
                    "name": name, "plugin": true, "summary": summary, "path": path,
                }));
                output = output.line(match (summary, &path) {
                    (Some(summary), Some(path)) => format!("{name}: {summary} (plugin: {path})"),
                    (None, Some(path)) => format!("{name}: a plugin ({path})"),
                    (_, None) => format!("{name}: a plugin"),
                });
                return Ok(output
                    .line(format!("`{name} --help` for its own usage."))
                    .line(format!("Note: {}.", plugin::EXIT_STATUS_NOTE)));
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
