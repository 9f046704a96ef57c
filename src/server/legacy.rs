//! The seed's protocol on the serving side, as values: what to answer one message with.
//!
//! A name is answered with the hex SHA-256 of a shared file of exactly that base name,
//! or `None`; `download:<sha256>` with the raw bytes of that file; an unknown hash
//! (`None` included) is closed with nothing sent. `connection.rs` does the sending.

use std::sync::Arc;

use super::ServeContext;
use crate::content::hash::ContentHash;
use crate::index::SharedFile;
use crate::protocol::legacy::{LegacyRequest, NONE_ANSWER};

/// What a legacy connection gets before it is closed.
#[derive(Debug)]
pub(crate) enum LegacyReply {
    /// These bytes (a hash, or `None`).
    Text(String),
    /// The whole file, raw.
    File(Arc<SharedFile>),
    /// Nothing at all.
    Nothing,
}

pub(crate) fn answer(message: &[u8], context: &ServeContext) -> LegacyReply {
    match LegacyRequest::parse(message) {
        LegacyRequest::Lookup(name) => {
            let catalog = context.shares.catalog();
            let answer = catalog
                .files()
                .iter()
                .find(|f| f.name == name && context.is_current(f))
                .map_or_else(|| NONE_ANSWER.to_string(), |f| f.sha256.to_string());
            LegacyReply::Text(answer)
        }
        LegacyRequest::Download(hash) => {
            let Ok(hash) = hash.trim().parse::<ContentHash>() else {
                return LegacyReply::Nothing;
            };
            let catalog = context.shares.catalog();
            let file = catalog
                .with_hash(&hash)
                .find(|f| context.is_current(f))
                .cloned();
            file.map_or(LegacyReply::Nothing, LegacyReply::File)
        }
    }
}
