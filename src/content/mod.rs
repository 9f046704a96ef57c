//! The vocabulary every layer shares, with no IO of its own: what a content is
//! ([`ContentHash`], the SHA-256 of a whole file) and how it is cut into verified chunks
//! ([`Layout`], and [`ChunkIndex`], a chunk number that only a `Layout` can make, so
//! that it is always in range). The protocol, the index, the server and the client all
//! speak it; it depends on none of them.

pub mod hash;
pub mod layout;

pub use hash::{BadHash, ContentHash};
pub use layout::{ChunkIndex, Layout, LayoutError};
