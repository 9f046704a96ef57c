//! Ctrl-C and SIGTERM, turned into events: the signal handler only sends on a channel.
//! The REPL uses it to cancel the running command, `serve` to shut down.

use crate::runtime::{bounded, Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static CHANNEL: OnceLock<(Sender<()>, Receiver<()>)> = OnceLock::new();

/// Set once a SIGTERM arrived (ctrlc's one handler cannot tell it from SIGINT), so that
/// a command it stopped exits 143 rather than 130.
static TERMINATED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Whether the interrupt that stopped the command was a SIGTERM.
pub fn terminated() -> bool {
    TERMINATED
        .get()
        .is_some_and(|flag| flag.load(Ordering::Relaxed))
}

#[derive(Clone)]
pub struct Interrupt {
    rx: Receiver<()>,
}

impl Interrupt {
    /// Installs the process's handler once; every call returns a view of the same events.
    pub fn install() -> Interrupt {
        let (tx, rx) = CHANNEL.get_or_init(|| {
            let (tx, rx) = bounded(4);
            let handler_tx = tx.clone();
            // If a handler is already set (tests, embedding), interrupts never fire here.
            let _ = ctrlc::set_handler(move || {
                let _ = handler_tx.try_send(());
            });
            // Registered after ctrlc's handler, which signal-hook chains to: both run.
            let flag = TERMINATED.get_or_init(|| Arc::new(AtomicBool::new(false)));
            let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, flag.clone());
            (tx, rx)
        });
        let _ = tx;
        Interrupt { rx: rx.clone() }
    }

    /// Forgets interrupts that arrived while nothing was running.
    pub fn clear(&self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// Whether an interrupt has come and is not yet taken (for code that polls).
    pub fn pending(&self) -> bool {
        !self.rx.is_empty()
    }

    /// Completes at the next interrupt.
    pub async fn wait(&self) {
        let _ = self.rx.recv().await;
    }
}
