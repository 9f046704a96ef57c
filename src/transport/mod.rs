//! P2P/2's side of a peer (DESIGN §7): this peer's identity (a key pair and a
//! self-signed certificate, made on first start and kept in `node.state_dir`), from
//! which its peer ID comes, and the TLS 1.3 configuration built on it. The server
//! speaks P2P/2; the client side is not built yet.

mod identity;
mod tls;

pub use identity::{Identity, IdentityError};
pub use tls::{peer_id_of, server_config};
