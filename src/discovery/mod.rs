//! Where peers come from beyond `[peers] addrs`: peer exchange (P2P/1 `peers`, one hop
//! within a command), and later mDNS and the Mainline DHT. Everything found goes into
//! the [`PeerBook`], which `search`, `get` and `peers` use beside the static list.
//!
//! What other peers say is a hint: addresses are parsed strictly, de-duplicated,
//! bounded in number, and contacted with the same limits as listed peers; content is
//! trusted only by its hash, as always. Nothing here prints.

mod dht;
mod mdns;
mod peer_book;

pub use dht::{bootstrap_from, content_id, keyword_id, words, Bootstrap, DhtNode};
pub use mdns::Mdns;

pub use peer_book::{PeerBook, Via};

/// The most addresses taken from one `peers` answer, and the most peers a book keeps:
/// a peer that lists ten thousand addresses changes nothing but a bounded amount of work.
pub const MAX_PEX_ANSWER: usize = 200;
pub const MAX_BOOK: usize = 1000;
