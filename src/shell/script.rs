//! Piped mode: one command a line from stdin, no prompt, no colours, `#` comments.
//! Stops at the first failure unless `--keep-going`; always stops on an interrupt.
//! The script's status is the worst of its commands. Errors name the line they come
//! from (`error: line 3: …`), counting every line, blank and comment ones included; a
//! UTF-8 byte-order mark before the first line (as some editors save) is skipped.
//! Background transfers (`get ... &`) are waited for at the end and count in the
//! status; a script stopped by a failure cancels them (DESIGN §8).

use std::io::BufRead;

use super::background;
use super::dispatch::{execute_numbered_line, Status};
use super::session::Session;

const BOM: &str = "\u{feff}";

pub fn run_script(session: &mut Session, mut input: impl BufRead, keep_going: bool) -> Status {
    let mut worst = Status::Ok;
    let mut raw = Vec::new();
    let mut number = 0;
    let mut stopped = false;
    loop {
        raw.clear();
        match input.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => number += 1,
            Err(e) => {
                eprintln!("error: cannot read the script: {e}");
                return worst.worst(Status::Failed);
            }
        }
        let line = String::from_utf8_lossy(&raw);
        let line = if number == 1 {
            line.strip_prefix(BOM).unwrap_or(&line)
        } else {
            &line
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let outcome = execute_numbered_line(session, line, Some(number));
        worst = worst.worst(outcome.status);
        if outcome.quit || outcome.status == Status::Interrupted {
            stopped = outcome.status == Status::Interrupted;
            break;
        }
        if outcome.status != Status::Ok && !keep_going {
            stopped = true;
            break;
        }
    }
    // Background transfers: waited for at the end (they count), cancelled on a stop.
    worst.worst(background::settle(session, stopped))
}
