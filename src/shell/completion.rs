//! Tab completion, hints and line validation for the REPL.
//!
//! Completes command names (built-in and plugins), `peers` sub-commands, known peer
//! addresses (`peers remove`, `--from`), row numbers and hashes of the last search
//! (`get`), and local paths (`share`, `unshare`, `--to`). A line with an unterminated
//! quote is not accepted: Enter continues it on the next line.

use std::borrow::Cow;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::session::Session;
use crate::plugin;

pub struct ReplHelper {
    commands: Vec<String>,
    peers: Vec<String>,
    /// (row number, sha256, name) of the last search.
    rows: Vec<(String, String, String)>,
    paths: FilenameCompleter,
    hints: HistoryHinter,
}

impl ReplHelper {
    pub fn new(session: &Session) -> ReplHelper {
        let mut helper = ReplHelper {
            commands: Vec::new(),
            peers: Vec::new(),
            rows: Vec::new(),
            paths: FilenameCompleter::new(),
            hints: HistoryHinter::new(),
        };
        helper.refresh(session);
        helper
    }

    /// Picks up what the last command changed: peers, rows, plugins.
    pub fn refresh(&mut self, session: &Session) {
        let mut commands: Vec<String> = session
            .registry
            .commands()
            .map(|c| c.name().to_string())
            .collect();
        commands.extend(plugin::list(&session.settings.plugins.dirs));
        commands.sort();
        commands.dedup();
        self.commands = commands;
        self.peers = session.peers.iter().map(|p| p.to_string()).collect();
        self.rows = session
            .last_search
            .as_ref()
            .map(|last| {
                last.rows
                    .iter()
                    .map(|r| (r.row.to_string(), r.hash.clone(), r.name.clone()))
                    .collect()
            })
            .unwrap_or_default();
    }

    fn candidates(&self, words: &[&str], current: &str) -> Option<Vec<Pair>> {
        let pairs = |items: Vec<(String, String)>| -> Vec<Pair> {
            items
                .into_iter()
                .filter(|(replacement, _)| replacement.starts_with(current))
                .map(|(replacement, display)| Pair {
                    display,
                    replacement,
                })
                .collect()
        };
        let plain =
            |items: &[String]| pairs(items.iter().map(|i| (i.clone(), i.clone())).collect());
        let Some(command) = words.first() else {
            return Some(
                plain(&self.commands)
                    .into_iter()
                    .map(|p| Pair {
                        display: p.display,
                        replacement: format!("{} ", p.replacement),
                    })
                    .collect(),
            );
        };
        let previous = words.last().copied().unwrap_or_default();
        if previous == "--from" {
            return Some(plain(&self.peers));
        }
        match (*command, words.len()) {
            ("peers", 1) => Some(plain(&["add".to_string(), "remove".to_string()])),
            ("peers", 2) if words[1] == "remove" => Some(plain(&self.peers)),
            ("get", 1) => Some(pairs(
                self.rows
                    .iter()
                    .flat_map(|(n, hash, name)| {
                        [
                            (n.clone(), format!("{n}  {name}")),
                            (hash.clone(), format!("{hash}  {name}")),
                        ]
                    })
                    .collect(),
            )),
            ("help", 1) => Some(plain(&self.commands)),
            _ => None,
        }
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let current = &before[start..];
        let words: Vec<&str> = before[..start].split_whitespace().collect();
        if let Some(found) = self.candidates(&words, current) {
            return Ok((start, found));
        }
        let wants_path = matches!(words.first(), Some(&"share") | Some(&"unshare"))
            || words.last() == Some(&"--to");
        if wants_path {
            return self.paths.complete(line, pos, ctx);
        }
        Ok((start, Vec::new()))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        self.hints.hint(line, pos, ctx)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if std::env::var_os("NO_COLOR").is_some() {
            Cow::Borrowed(hint)
        } else {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        }
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(match shell_words::split(ctx.input()) {
            Err(_) => ValidationResult::Incomplete,
            Ok(_) => ValidationResult::Valid(None),
        })
    }
}

impl Helper for ReplHelper {}
