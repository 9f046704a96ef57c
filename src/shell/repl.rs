//! The interactive shell: rustyline with history in the user's data dir and tab
//! completion. Ctrl-C clears the line (or cancels the running command, through the
//! session's interrupt); Ctrl-D at an empty prompt, or `quit`, leaves with status 0.
//! `get ... &` returns at once; when such a transfer ends, one line is printed above the
//! line being typed (rustyline's external printer). Leaving cancels the transfers still
//! running, saying how many (their `.part` kept).

use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::Editor;

use rustyline::ExternalPrinter as _;

use super::background;
use super::completion::ReplHelper;
use super::dispatch::{execute_line, Status};
use super::session::Session;
use crate::commands::end_line;

const PROMPT: &str = "p2p> ";

/// Where history is kept: the user's data dir, apart from any one peer.
pub fn history_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "p2p").map(|d| d.data_dir().join("history"))
}

fn editor_config() -> rustyline::Config {
    let builder = rustyline::Config::builder()
        .auto_add_history(false)
        .history_ignore_space(true)
        .completion_type(rustyline::CompletionType::List);
    builder
        .history_ignore_dups(true)
        .and_then(|b| b.max_history_size(1000))
        .map(|b| b.build())
        .unwrap_or_default()
}

pub fn run_repl(session: &mut Session) -> Status {
    let config = editor_config();
    let mut editor: Editor<ReplHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return Status::Failed;
        }
    };
    editor.set_helper(Some(ReplHelper::new(session)));
    // A background transfer's end is one line printed above the line being typed.
    match editor.create_external_printer() {
        Ok(mut printer) => {
            let output = session.output;
            session.node.transfers.set_announcer(Box::new(move |view| {
                let line = end_line(view);
                let line = if output.json {
                    serde_json::json!({ "transfer_ended": view.id, "line": line }).to_string()
                } else {
                    line
                };
                let _ = printer.print(format!("{line}\n"));
            }));
        }
        Err(e) => tracing::debug!("no external printer: {e}"),
    }
    let history = history_file();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    loop {
        if let Some(helper) = editor.helper_mut() {
            helper.refresh(session);
        }
        match editor.readline(PROMPT) {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                if let Some(path) = &history {
                    if let Some(dir) = path.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    let _ = editor.save_history(path);
                }
                let outcome = execute_line(session, &line);
                if outcome.quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                background::leave(session, true);
                return Status::Failed;
            }
        }
    }
    background::leave(session, true);
    Status::Ok
}
