//! What happens to background transfers (`get ... &`) when a script, a one-shot command
//! or the REPL ends (DESIGN §8): a script that reached its end waits for them and they
//! count in its status; one stopped by a failure or an interrupt cancels them; leaving
//! the REPL cancels them, saying so on a terminal. Cancelled ones keep their `.part`.

use std::time::Duration;

use super::dispatch::Status;
use super::render::print_error;
use super::session::Session;
use crate::commands::end_line;
use crate::node::TransferState;

/// How long leaving waits for cancelled transfers to save their `.part`.
const JOIN_LIMIT: Duration = Duration::from_secs(5);

/// At the end of a script or one-shot command: waits for the background transfers
/// (or cancels them when `stopped`), and returns the status they add.
pub fn settle(session: &mut Session, stopped: bool) -> Status {
    let board = session.node.transfers.clone();
    // Those a `wait` already reported are over, and counted in the script's status.
    let ids = board.unfinished_ids();
    if ids.is_empty() {
        return Status::Ok;
    }
    if stopped {
        board.cancel_all_and_join(JOIN_LIMIT);
        return Status::Ok;
    }
    let interrupt = session.node.interrupt().clone();
    interrupt.clear();
    let Some(views) = board.wait(Some(&ids), || interrupt.pending()) else {
        board.cancel_all_and_join(JOIN_LIMIT);
        return Status::Interrupted;
    };
    let mut status = Status::Ok;
    for view in views.iter().filter(|v| v.state != TransferState::Done) {
        print_error(session.output, "failed", &end_line(view));
        status = Status::Failed;
    }
    status
}

/// Leaving the REPL: cancels what still runs, saying how many on a terminal.
pub fn leave(session: &mut Session, terminal: bool) {
    let board = session.node.transfers.clone();
    let unfinished = board.unfinished();
    if unfinished == 0 {
        return;
    }
    if terminal {
        eprintln!(
            "cancelling {unfinished} background transfer{} (what they verified is kept for the next get)",
            if unfinished == 1 { "" } else { "s" }
        );
    }
    board.cancel_all_and_join(JOIN_LIMIT);
}
