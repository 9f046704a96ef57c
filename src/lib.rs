//! p2p: peer-to-peer file sharing from a shell-style REPL.
//!
//! Layers, and the one direction data flows through them:
//!
//! - [`shell`]: line editor, script runner, dispatcher, rendering (tables or JSON).
//! - [`commands`]: one file per built-in command behind one `Command` trait.
//! - [`client`]: connecting to peers, search fan-out, downloads.
//! - [`index`]: share roots, walking, hashing, the hash cache, matching.
//! - [`server`]: the listener and its per-connection tasks.
//! - [`protocol`]: frames, messages and the seed's legacy protocol, as pure data.
//! - [`config`]: layered settings; `config::edit` saves edits back.
//! - `runtime`: the one place that names async-std; `rate`: rate limits (token buckets).
//!
//! shell → commands → client/index → protocol → network; server → index → protocol.
//! Commands never touch sockets; protocol never touches files.

pub mod app;
pub(crate) mod atomic_file;
pub(crate) mod client;
pub(crate) mod commands;
pub mod config;
pub mod content;
pub(crate) mod demo;
pub mod discovery;
pub(crate) mod error_chain;
pub mod index;
pub(crate) mod logging;
pub(crate) mod node;
pub(crate) mod plugin;
pub mod protocol;
pub mod rate;
pub(crate) mod runtime;
pub mod server;
pub(crate) mod shell;
pub(crate) mod transport;
