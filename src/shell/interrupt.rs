//! Ctrl-C and SIGTERM, turned into events: the signal handler only sends on a channel.
//! The REPL uses it to cancel the running command, `serve` to shut down.

use crate::runtime::{bounded, Receiver, Sender};
use std::sync::OnceLock;

static CHANNEL: OnceLock<(Sender<()>, Receiver<()>)> = OnceLock::new();

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
            (tx, rx)
        });
        let _ = tx;
        Interrupt { rx: rx.clone() }
    }

    /// Forgets interrupts that arrived while nothing was running.
    pub fn clear(&self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// Completes at the next interrupt.
    pub async fn wait(&self) {
        let _ = self.rx.recv().await;
    }
}
