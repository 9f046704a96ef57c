//! Printing a command's outcome: one JSON object on one line with `--json`, tables and
//! lines otherwise. On a terminal tables fit its width; in a pipe nothing is wrapped or
//! cut, so scripts see names and hashes whole. Errors are one `error: …` line on stderr
//! (and, with `--json`, an error object on stdout too).

use std::io::Write;

use comfy_table::{presets, ContentArrangement, Table};
use serde_json::json;

use super::dispatch::FirstError;
use super::session::OutputMode;
use crate::commands::{escape_control, Block, Output};

/// Prints `output`; the first write error is returned for the shell to judge (a broken
/// pipe is fine, a full disk is a failure).
pub fn print_output(mode: OutputMode, output: &Output) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = FirstError::new(stdout.lock());
    // A closed stdout (`p2p … | head`) is not an error worth a panic.
    if mode.json {
        if !output.json.is_null() {
            let _ = writeln!(out, "{}", output.json);
        }
        return out.finish();
    }
    // Whatever a peer sent (names, paths, peer names, messages) is in these blocks:
    // control characters are shown, never obeyed, on a terminal and in a pipe alike.
    for block in &output.blocks {
        match block {
            Block::Line(text) => {
                let _ = writeln!(out, "{}", escape_control(text, true));
            }
            Block::Table { header, rows } => {
                let _ = writeln!(out, "{}", table(mode, header, rows));
            }
        }
    }
    out.finish()
}

fn table(mode: OutputMode, header: &[String], rows: &[Vec<String>]) -> Table {
    let mut table = Table::new();
    if mode.terminal {
        table
            .load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        table
            .load_style(presets::ASCII_MARKDOWN)
            .set_content_arrangement(ContentArrangement::Disabled);
    }
    table.set_header(header);
    for row in rows {
        table.add_row(row.iter().map(|cell| {
            let cell = escape_control(cell, false);
            // On a terminal a SHA-256 is shown by its first 16 digits (any 8 or more
            // name it in `get`); in a pipe it stays whole.
            if mode.terminal && cell.len() == 64 && cell.bytes().all(|b| b.is_ascii_hexdigit()) {
                format!("{}…", &cell[..16])
            } else {
                cell.into_owned()
            }
        }));
    }
    table
}

/// Reports a failed command: `error: …` on stderr, and the JSON error object on stdout.
pub fn print_error(mode: OutputMode, code: &str, message: &str) {
    // A usage text may span lines (ours); any other message is one line, whatever a
    // peer's part of it holds.
    let shown = escape_control(message, code == "usage");
    let mut lines = shown.lines();
    let first = lines.next().unwrap_or("failed");
    eprintln!("error: {first}");
    for line in lines {
        eprintln!("{line}");
    }
    if mode.json {
        let body = json!({ "error": { "code": code, "message": message } });
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = writeln!(out, "{body}");
        let _ = out.flush();
    }
}
