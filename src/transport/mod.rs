//! P2P/2's side of a peer (DESIGN §7): this peer's identity (a key pair and a
//! self-signed certificate, made on first start and kept in `node.state_dir`), from
//! which its peer ID comes. The TLS 1.3 transport itself is not built yet.

mod identity;

pub use identity::{Identity, IdentityError};
