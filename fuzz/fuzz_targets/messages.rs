//! Request and answer JSON from the network: never a panic; a request that parses
//! survives a round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2p::protocol::message::{parse_answer, InfoAnswer, PingAnswer, Request, SearchAnswer};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::parse(data) {
        let body = request.to_body();
        assert_eq!(Request::parse(&body).ok().as_ref(), Some(&request));
    }
    let _ = parse_answer::<PingAnswer>(data);
    let _ = parse_answer::<SearchAnswer>(data);
    let _ = parse_answer::<InfoAnswer>(data);
});
