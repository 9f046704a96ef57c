//! Runs one command line: split into words, find the built-in (or plugin), run it,
//! render the outcome, and say how it went as a [`Status`].
//!
//! A line of a script carries its number into its error (`error: line 3: …`), so the
//! first line still starts with `error: ` as everywhere else. Output that stdout does not
//! take (a full disk, a closed file) fails the command; a closed pipe (`| head`) does not.

use std::io::Write;

use super::progress::ProgressView;
use super::render::{print_error, print_output};
use super::session::{OutputMode, Session};
use crate::commands::{parse_args, CommandError, Context, Output};
use crate::plugin;

/// How one command went; ordered from best to worst so a script keeps the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Failed,
    Usage,
    Interrupted,
}

impl Status {
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::Usage => 2,
            // 128 + the signal, as shells report it.
            Status::Interrupted if crate::node::terminated() => 143,
            Status::Interrupted => 130,
        }
    }

    /// The status a script ends with: usage error 2 > failure 1 > 0.
    pub fn worst(self, other: Status) -> Status {
        let rank = |s: Status| match s {
            Status::Ok => 0,
            Status::Failed => 1,
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
    execute_numbered_line(session, line, None)
}

/// [`execute_line`] for line `number` of a script: its errors say where they are.
pub fn execute_numbered_line(session: &mut Session, line: &str, number: Option<usize>) -> Outcome {
    // A trailing `&`, as in a shell (`get x &` or `get x&`), runs it in the background.
    let trimmed = line.trim_end();
    let (line, background) = match trimmed.strip_suffix('&') {
        Some(rest) if !rest.ends_with('\\') && !rest.ends_with('&') => (rest, true),
        _ => (line, false),
    };
    match shell_words::split(line) {
        Ok(words) => execute_at(session, &words, number, background),
        Err(e) => {
            let message = located(number, format!("cannot parse line: {e}"));
            print_error(session.output, "usage", &message);
            Outcome {
                status: Status::Usage,
                quit: false,
            }
        }
    }
}

/// Runs one command given as words (one-shot: `p2p get x '&'` runs it in the
/// background, and the process waits for it before it exits).
pub fn execute(session: &mut Session, words: &[String]) -> Outcome {
    match words.split_last() {
        Some((last, rest)) if last == "&" => execute_at(session, rest, None, true),
        _ => execute_at(session, words, None, false),
    }
}

/// `line N: ` before a script's error message.
fn located(number: Option<usize>, message: String) -> String {
    match number {
        Some(n) => format!("line {n}: {message}"),
        None => message,
    }
}

fn execute_at(
    session: &mut Session,
    words: &[String],
    number: Option<usize>,
    background: bool,
) -> Outcome {
    let Some((name, argv)) = words.split_first() else {
        return Outcome {
            status: Status::Ok,
            quit: false,
        };
    };
    if background && name != "get" {
        let message = located(
            number,
            format!("only `get` runs in the background (`get ... &`), not `{name}`"),
        );
        print_error(session.output, "usage", &message);
        return Outcome {
            status: Status::Usage,
            quit: false,
        };
    }
    session.node.interrupt().clear();
    let registry = session.registry.clone();
    let result = match registry.find(name) {
        Some(command) => match parse_args(command, argv) {
            Ok(matches) => {
                // Progress comes up as events; the bar (on a terminal) is drawn here.
                let view = ProgressView::new(session.output);
                let progress = |event| view.show(event);
                let mut context = Context {
                    node: &mut session.node,
                    registry: &registry,
                    progress: &progress,
                    background,
                };
                let result = command.run(&mut context, matches);
                view.finish();
                result
            }
            Err(answered) => answered,
        },
        None => match plugin::find(&session.node.settings.plugins.dirs, name) {
            Some(path) => plugin::run(&mut session.node, session.output.json, &path, name, argv),
            None => Err(CommandError::Usage(unknown_command(session, name))),
        },
    };
    match result {
        Ok(output) => match print_output(session.output, &output) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                let message = located(number, format!("cannot write the output: {e}"));
                print_error(session.output, "failed", &message);
                Outcome {
                    status: Status::Failed,
                    quit: output.quit,
                }
            }
            _ => Outcome {
                status: Status::Ok,
                quit: output.quit,
            },
        },
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
                CommandError::Reported {
                    usage,
                    message,
                    json,
                } => {
                    // The `error:` line is ours; the one JSON object is the one it made.
                    let stderr_only = OutputMode {
                        json: false,
                        ..session.output
                    };
                    print_error(stderr_only, "failed", &located(number, message));
                    if session.output.json {
                        let _ = print_output(session.output, &Output::new(json));
                    }
                    return Outcome {
                        status: if usage { Status::Usage } else { Status::Failed },
                        quit: false,
                    };
                }
            };
            print_error(session.output, code, &located(number, message));
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
    names.extend(plugin::list(&session.node.settings.plugins.dirs));
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

/// A writer that remembers its first error, so that printing goes on as written and the
/// caller still learns whether stdout took it all.
pub(super) struct FirstError<W: Write> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W: Write> FirstError<W> {
    pub(super) fn new(inner: W) -> Self {
        FirstError { inner, error: None }
    }

    pub(super) fn finish(mut self) -> std::io::Result<()> {
        let flushed = self.inner.flush();
        match self.error.take() {
            Some(e) => Err(e),
            None => flushed,
        }
    }
}

impl<W: Write> Write for FirstError<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf);
        if let Err(e) = &written {
            if e.kind() != std::io::ErrorKind::Interrupted && self.error.is_none() {
                self.error = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        }
        written
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
