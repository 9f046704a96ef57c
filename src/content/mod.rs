//! The vocabulary every layer shares, with no IO of its own: what a content is
//! ([`ContentHash`], the SHA-256 of a whole file) and how it is cut into verified chunks
//! ([`Layout`], and [`ChunkIndex`], a chunk number that only a `Layout` can make, so
//! that it is always in range); where a peer is ([`PeerAddr`]) and who may connect
//! ([`AllowList`]), which the config checks and the client and server use. The
//! protocol, the index, the server and the client all speak it; it depends on none of
//! them (but the default port, a constant).

pub mod allow;
pub mod hash;
pub mod layout;
pub mod peer_addr;
pub mod peer_id;

/// The port of the seed design, and ours when an address names none.
pub const DEFAULT_PORT: u16 = 12000;

pub use allow::{AllowList, BadAllowEntry};
pub use hash::{BadHash, ContentHash};
pub use layout::{ChunkIndex, Layout, LayoutError};
pub use peer_addr::{BadPeerAddr, PeerAddr};
pub use peer_id::{BadPeerId, PeerId};
