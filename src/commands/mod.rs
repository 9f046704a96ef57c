//! Built-in commands: one file each, all behind the [`Command`] trait, gathered in the
//! [`Registry`]. A command parses its arguments (with clap, so usage errors read the
//! same everywhere), calls into `client` or `index`, and returns an [`Output`]; it
//! never prints and never touches a socket itself.

pub(crate) mod browse;
mod cancel;
mod context;
mod files;
mod get;
mod help;
mod id;
pub mod output;
mod peers;
mod quit;
mod rescan;
mod search;
mod set;
mod share;
mod transfers;
mod unshare;
mod wait;

pub use context::Context;
pub use output::{escape_control, human_bytes, Block, Output};
pub use wait::end_line;

use clap::{ArgMatches, FromArgMatches};

/// Why a command did not succeed; the shell maps each to an exit status.
#[derive(Debug)]
pub enum CommandError {
    /// Bad arguments or an unknown command: exit status 2.
    Usage(String),
    /// The command ran and failed: exit status 1.
    Failed(anyhow::Error),
    /// Ctrl-C or SIGINT stopped it.
    Interrupted,
    /// Ctrl-C or SIGINT stopped it; the message says what was kept (a download's
    /// verified bytes, for the next `get`).
    Cancelled(String),
    /// It failed (a usage error when `usage`) and already has the JSON object `--json`
    /// prints for it: a plugin's own. The `error:` line is still `message`.
    Reported {
        usage: bool,
        message: String,
        json: serde_json::Value,
    },
}

impl From<anyhow::Error> for CommandError {
    fn from(e: anyhow::Error) -> CommandError {
        CommandError::Failed(e)
    }
}

impl From<crate::node::Interrupted> for CommandError {
    fn from(_: crate::node::Interrupted) -> CommandError {
        CommandError::Interrupted
    }
}

pub type CommandResult = Result<Output, CommandError>;

pub trait Command: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line for `help`.
    fn summary(&self) -> &'static str;
    /// Example invocations shown by `help CMD`.
    fn examples(&self) -> &'static [&'static str];
    /// The argument grammar: parsing, usage, help and completion all come from it.
    fn args(&self) -> clap::Command;
    fn run(&self, ctx: &mut Context<'_>, args: ArgMatches) -> CommandResult;
}

/// Parses `argv` (without the command name) against a command's grammar. `--help` is
/// answered here, as a successful output.
pub fn parse_args(command: &dyn Command, argv: &[String]) -> Result<ArgMatches, CommandResult> {
    let grammar = command.args().name(command.name());
    let words = std::iter::once(command.name().to_string()).chain(argv.iter().cloned());
    grammar.try_get_matches_from(words).map_err(|e| {
        use clap::error::ErrorKind;
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let mut text = e.to_string().trim_end().to_string();
                text.push_str("\n\nExamples:");
                for example in command.examples() {
                    text.push_str(&format!("\n  {example}"));
                }
                Ok(Output::new(serde_json::json!({ "help": text })).line(text))
            }
            _ => Err(CommandError::Usage(clap_message(&e))),
        }
    })
}

/// Clap's error as at most two short lines: what is wrong (clap's own indented details
/// and tips folded into it, without its `error: ` prefix, which the shell adds) and the
/// usage line. `help COMMAND` has the rest.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut problem = String::new();
    let mut usage = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("Usage:") {
            usage = Some(rest.trim().to_string());
            break;
        }
        if line.starts_with("For more information") {
            continue;
        }
        let line = line.strip_prefix("error: ").unwrap_or(line);
        if problem.is_empty() {
            problem.push_str(line);
        } else if let Some(tip) = line.strip_prefix("tip: ") {
            problem.push_str(&format!(" ({tip})"));
        } else {
            problem.push(' ');
            problem.push_str(line);
        }
    }
    match usage {
        Some(usage) => format!("{problem}\nusage: {usage}"),
        None => problem,
    }
}

/// A count and its noun, agreeing: `1 file`, `2 files`, `0 files`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Turns matches into a derive(Args) struct.
pub fn from_matches<T: FromArgMatches>(matches: &ArgMatches) -> Result<T, CommandError> {
    T::from_arg_matches(matches).map_err(|e| CommandError::Usage(clap_message(&e)))
}

pub struct Registry {
    commands: Vec<Box<dyn Command>>,
}

impl Registry {
    pub fn builtin() -> Registry {
        Registry {
            commands: vec![
                Box::new(peers::Peers),
                Box::new(search::Search),
                Box::new(get::Get),
                Box::new(browse::Browse),
                Box::new(share::Share),
                Box::new(unshare::Unshare),
                Box::new(rescan::Rescan),
                Box::new(files::Files),
                Box::new(transfers::Transfers),
                Box::new(wait::Wait),
                Box::new(cancel::Cancel),
                Box::new(set::Set),
                Box::new(id::Id),
                Box::new(help::Help),
                Box::new(quit::Quit),
            ],
        }
    }

    pub fn find(&self, name: &str) -> Option<&dyn Command> {
        let name = if name == "exit" { "quit" } else { name };
        self.commands
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.as_ref())
    }

    pub fn commands(&self) -> impl Iterator<Item = &dyn Command> {
        self.commands.iter().map(|c| c.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(0u64, "file", "files"), "0 files");
        assert_eq!(count(1u64, "file", "files"), "1 file");
        assert_eq!(count(2u32, "entry", "entries"), "2 entries");
    }

    #[test]
    fn every_command_has_a_summary_examples_and_a_sound_grammar() {
        for command in Registry::builtin().commands() {
            assert!(!command.summary().is_empty(), "{}", command.name());
            assert!(!command.examples().is_empty(), "{}", command.name());
            command.args().name(command.name()).debug_assert();
            // Every example parses with the command's own grammar.
            for example in command.examples() {
                // A trailing `&` is the shell's (background), not the command's.
                let example = example.strip_suffix(" &").unwrap_or(example);
                let words = shell_words::split(example).unwrap();
                assert_eq!(words[0], command.name(), "{example}");
                assert!(
                    parse_args(command, &words[1..]).is_ok(),
                    "example {example:?} does not parse"
                );
            }
        }
    }
}
