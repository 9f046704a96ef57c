//! Piped mode: one command a line from stdin, no prompt, no colours, `#` comments.
//! Stops at the first failure unless `--keep-going`; always stops on an interrupt.
//! The script's status is the worst of its commands.

use std::io::BufRead;

use super::dispatch::{execute_line, Status};
use super::session::Session;

pub fn run_script(session: &mut Session, mut input: impl BufRead, keep_going: bool) -> Status {
    let mut worst = Status::Ok;
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match input.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: cannot read the script: {e}");
                return worst.worst(Status::Failed);
            }
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let outcome = execute_line(session, line);
        // In a script a plugin's own status counts as a failure (0/1/2 only).
        worst = worst.worst(match outcome.status {
            Status::Exit(_) => Status::Failed,
            status => status,
        });
        if outcome.quit || outcome.status == Status::Interrupted {
            break;
        }
        if outcome.status != Status::Ok && !keep_going {
            break;
        }
    }
    worst
}
