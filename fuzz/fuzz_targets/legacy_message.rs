//! The seed protocol's one message: never a panic, and what a client would send for a
//! parsed request parses back to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2p::protocol::legacy::LegacyRequest;

fuzz_target!(|data: &[u8]| {
    let request = LegacyRequest::parse(data);
    let (LegacyRequest::Lookup(name) | LegacyRequest::Download(name)) = &request;
    if !name.contains("download:") && !name.ends_with(['\r', '\n']) {
        assert_eq!(LegacyRequest::parse(&request.to_message()), request);
    }
});
