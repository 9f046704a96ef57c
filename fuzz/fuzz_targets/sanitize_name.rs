//! Names from the network made safe: whatever comes in, what comes out is one plain
//! path component — no separator, no control character, not empty, `.` or `..`, not
//! longer than a file system takes, no surrounding spaces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p2p::content::hash::ContentHash;
use p2p::protocol::name::sanitize;

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data);
    let safe = sanitize(&name, &ContentHash::of(data));
    assert!(!safe.is_empty());
    assert!(safe != "." && safe != "..");
    assert!(!safe.contains(['/', '\\']));
    assert!(!safe.chars().any(char::is_control));
    assert!(safe.len() <= 255);
    assert_eq!(safe.trim(), safe);
});
