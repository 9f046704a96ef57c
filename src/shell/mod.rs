//! The user's side: a session (settings, peers, last search, transfers), the dispatcher
//! that runs one command line, rendering as tables or JSON, and the three ways lines
//! arrive — the interactive REPL, a piped script, or one command from the shell's argv.

pub mod completion;
pub mod dispatch;
pub mod interrupt;
pub mod progress;
pub mod render;
pub mod repl;
pub mod script;
pub mod session;

pub use dispatch::Status;
