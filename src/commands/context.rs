//! What a command acts on: the node, the registry (for `help`), and where progress
//! events go (the shell draws them). A command returns its outcome as a value; it never
//! prints, never touches a socket or the screen.

use super::Registry;
use crate::client::Progress;
use crate::node::Node;

pub struct Context<'a> {
    pub node: &'a mut Node,
    pub registry: &'a Registry,
    /// Transfer progress, as events; the shell turns them into a bar (or nothing).
    pub progress: &'a (dyn Fn(Progress) + Sync),
    /// The line ended with `&`: start the work in the background and return at once
    /// (only `get` can; the shell refuses `&` elsewhere).
    pub background: bool,
}
