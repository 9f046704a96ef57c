//! Logs (`tracing`) to stderr. `p2p serve` logs at `info` by default (connections
//! refused, files sent, errors); the REPL, scripts and one-shot commands only warnings,
//! so that their output stays the command's. `RUST_LOG` sets any filter; `-v` and `-q`
//! move the default up or down.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the process's logger once. `serving`: the headless peer; `verbosity`: the
/// count of `-v` minus the count of `-q`.
pub fn init(serving: bool, verbosity: i8) {
    let base: i8 = if serving { 2 } else { 1 };
    let level = match base + verbosity {
        i8::MIN..=-1 => "off",
        0 => "error",
        1 => "warn",
        2 => "info",
        3 => "debug",
        _ => "trace",
    };
    // A bad RUST_LOG falls back to the default rather than hiding every log.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|text| EnvFilter::try_new(text).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("p2p={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
