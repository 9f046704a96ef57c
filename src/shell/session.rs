//! The shell's side of a session: how output is shown, the command registry, and the
//! [`Node`] the commands act on. Nothing here is a peer's state: that is the node's.

use std::sync::Arc;

use anyhow::Result;

use crate::commands::Registry;
use crate::config::LoadedConfig;
use crate::node::Node;

/// How output is shown.
#[derive(Debug, Clone, Copy)]
pub struct OutputMode {
    pub json: bool,
    /// stdout is a terminal: tables may be fitted to its width, hashes shortened.
    pub terminal: bool,
}

pub struct Session {
    pub node: Node,
    pub output: OutputMode,
    pub registry: Arc<Registry>,
}

impl Session {
    pub fn new(loaded: LoadedConfig, output: OutputMode) -> Result<Session> {
        Ok(Session {
            node: Node::new(loaded)?,
            output,
            registry: Arc::new(Registry::builtin()),
        })
    }
}
