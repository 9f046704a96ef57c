//! Any byte stream through the frame decoder: never a panic, never a frame longer than
//! the limit, never more bytes used than given, and "need more" stays "need more" for
//! every prefix of an incomplete frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2p::protocol::frame::{decode, decode_header, encode, HEADER_LEN};

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(frame)) = decode(rest, LIMIT) {
        assert!(frame.used <= rest.len());
        assert!(frame.body.len() <= LIMIT);
        assert_eq!(frame.used, HEADER_LEN + frame.body.len());
        // What decodes re-encodes to the same bytes.
        let mut again = Vec::new();
        encode(frame.kind, frame.body, &mut again);
        assert_eq!(&again[..], &rest[..frame.used]);
        rest = &rest[frame.used..];
    }
    if let Ok(None) = decode(rest, LIMIT) {
        for cut in 0..rest.len() {
            assert!(matches!(decode(&rest[..cut], LIMIT), Ok(None)));
        }
    }
    let _ = decode_header(data, usize::MAX);
});
