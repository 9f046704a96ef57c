//! Runs one command line: split into words, find the built-in (or plugin), run it,
//! render the outcome, and say how it went as a [`Status`].

use super::render::{print_error, print_output};
use super::session::Session;
use crate::commands::{parse_args, CommandError};
use crate::plugin;

/// How one command went; ordered from best to worst so a script keeps the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Failed,
    Usage,
    Interrupted,
    /// A plugin's own exit status.
    Exit(i32),
}

impl Status {
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::Usage => 2,
            // 128 + the signal, as shells report it.
            Status::Interrupted if super::interrupt::terminated() => 143,
            Status::Interrupted => 130,
            Status::Exit(code) => code,
        }
    }

    /// The status a script ends with: usage error 2 > failure 1 > 0.
    pub fn worst(self, other: Status) -> Status {
        let rank = |s: Status| match s {
            Status::Ok => 0,
            Status::Failed | Status::Exit(_) => 1,
            Status::Usage => 2,
            Status::Interrupted => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// What the shell should do after a line.
pub struct Outcome {
    pub status: Status,
    pub quit: bool,
}

/// Splits a line the way a shell would (quotes, backslashes) and runs it.
pub fn execute_line(session: &mut Session, line: &str) -> Outcome {
    match shell_words::split(line) {
        Ok(words) => execute(session, &words),
        Err(e) => {
            print_error(session.output, "usage", &format!("cannot parse line: {e}"));
            Outcome {
                status: Status::Usage,
                quit: false,
            }
        }
    }
}

pub fn execute(session: &mut Session, words: &[String]) -> Outcome {
    let Some((name, argv)) = words.split_first() else {
        return Outcome {
            status: Status::Ok,
            quit: false,
        };
    };
    session.interrupt().clear();
    let registry = session.registry.clone();
    let result = match registry.find(name) {
        Some(command) => match parse_args(command, argv) {
            Ok(matches) => command.run(session, matches),
            Err(answered) => answered,
        },
        None => match plugin::find(&session.settings.plugins.dirs, name) {
            Some(path) => plugin::run(session, &path, name, argv),
            None => Err(CommandError::Usage(unknown_command(session, name))),
        },
    };
    match result {
        Ok(output) => {
            print_output(session.output, &output);
            Outcome {
                status: Status::Ok,
                quit: output.quit,
            }
        }
        Err(error) => {
            let (status, code, message) = match error {
                CommandError::Usage(m) => (Status::Usage, "usage", m),
                CommandError::Failed(e) => (Status::Failed, "failed", format!("{e:#}")),
                CommandError::Interrupted => (
                    Status::Interrupted,
                    "interrupted",
                    "interrupted".to_string(),
                ),
                CommandError::Cancelled(m) => (Status::Interrupted, "interrupted", m),
                CommandError::Exit(code, m) => (Status::Exit(code), "failed", m),
            };
            print_error(session.output, code, &message);
            Outcome {
                status,
                quit: false,
            }
        }
    }
}

fn unknown_command(session: &Session, name: &str) -> String {
    let mut names: Vec<String> = session
        .registry
        .commands()
        .map(|c| c.name().to_string())
        .collect();
    names.extend(plugin::list(&session.settings.plugins.dirs));
    let nearest = names
        .iter()
        .map(|n| (strsim::levenshtein(name, n), n))
        .filter(|(d, _)| *d <= 2)
        .min();
    match nearest {
        Some((_, n)) => {
            format!("unknown command `{name}`; did you mean `{n}`? (`help` lists commands)")
        }
        None => format!("unknown command `{name}` (`help` lists commands)"),
    }
}
