//! Any text as `p2p.conf`: a setting or a one-line error naming the file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match p2p::config::parse_text(text, "fuzz.conf", Path::new("/nonexistent/base")) {
            Ok(_) => {}
            Err(e) => assert!(e.to_string().starts_with("fuzz.conf")),
        }
    }
});
