//! P2P/2's side of a peer (DESIGN §7): this peer's identity (a key pair and a
//! self-signed certificate, made on first start and kept in `node.state_dir`), from
//! which its peer ID comes, the TLS 1.3 configurations built on it (both sides), and the
//! IDs first seen at each address (`known_peers`). Judging an ID is the caller's work
//! (`client::dialer`, the server's `allow_ids`).

mod identity;
mod known_peers;
mod tls;

pub use identity::{Identity, IdentityError};
pub use known_peers::{KnownPeers, KnownPeersError};
pub use tls::{
    client_config, peer_id_of, peer_refused_our_id, server_config, we_refused_their_id,
    TlsSetupError,
};
