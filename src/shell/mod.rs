//! The user's side: a session (output mode, the registry, and the node), the dispatcher
//! that runs one command line, rendering of what commands return as tables or JSON,
//! progress drawn from transfer events, and the three ways lines arrive — the
//! interactive REPL, a piped script, or one command from the shell's argv. Only this
//! layer prints.

pub mod background;
pub mod completion;
pub mod dispatch;
pub mod progress;
pub mod render;
pub mod repl;
pub mod script;
pub mod session;
