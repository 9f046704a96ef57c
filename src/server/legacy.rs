//! The seed's protocol on the serving side: answer one message, then close.
//!
//! A name is answered with the hex SHA-256 of a shared file of exactly that base name,
//! or `None`; `download:<sha256>` with the raw bytes of that file; an unknown hash
//! (`None` included) is closed with nothing sent.

use std::sync::atomic::Ordering;

use super::connection::send;
use super::ops::{map_window, open_unchanged, SEND_WINDOW};
use super::ServeContext;
use crate::protocol::hash::ContentHash;
use crate::protocol::legacy::{LegacyRequest, NONE_ANSWER};
use crate::runtime::TcpStream;

pub(crate) async fn serve(mut stream: TcpStream, message: &[u8], context: &ServeContext) {
    match LegacyRequest::parse(message) {
        LegacyRequest::Lookup(name) => {
            let catalog = context.shares.catalog();
            let answer = catalog
                .files()
                .iter()
                .find(|f| f.name == name && context.is_current(f))
                .map_or_else(|| NONE_ANSWER.to_string(), |f| f.sha256.to_string());
            let _ = send(&mut stream, answer.as_bytes(), context).await;
        }
        LegacyRequest::Download(hash) => {
            let Ok(hash) = hash.trim().parse::<ContentHash>() else {
                return;
            };
            let catalog = context.shares.catalog();
            let Some(file) = catalog
                .with_hash(&hash)
                .find(|f| context.is_current(f))
                .cloned()
            else {
                return;
            };
            let Ok(handle) = open_unchanged(&file) else {
                return;
            };
            let size = file.size();
            let mut offset = 0u64;
            while offset < size {
                let count = (size - offset).min(SEND_WINDOW) as usize;
                // Changed under us: stop rather than send another version.
                let Ok(map) = map_window(&handle, size, offset, count) else {
                    return;
                };
                if send(&mut stream, &map, context).await.is_err() {
                    return;
                }
                context
                    .counters
                    .bytes_served
                    .fetch_add(count as u64, Ordering::Relaxed);
                offset += count as u64;
            }
        }
    }
}
