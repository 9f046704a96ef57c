//! The SHA-256 limit: hashes one file the way the index does (memory-mapped windows,
//! `p2p::index::hasher::hash_file`) and prints the rate.
//!
//!     cargo run --release --example sha256_file -- FILE [RUNS]
//!
//! Prints, for each run, one line `sha256=<hex> bytes=<n> secs=<s> mb_per_s=<MB/s>`
//! (MB = 10^6 bytes). Run it on a file that is already in the page cache to see the
//! CPU limit of verification, which is what `benches/run.sh` does.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: sha256_file FILE [RUNS]");
        return ExitCode::from(2);
    };
    let runs: u32 = match args.next().map(|a| a.to_string_lossy().parse()) {
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("error: RUNS must be a positive integer");
            return ExitCode::from(2);
        }
    };
    let size = match std::fs::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    for _ in 0..runs {
        let started = Instant::now();
        let hash = match p2p::index::hasher::hash_file(&path, size) {
            Ok(hash) => hash,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        };
        let secs = started.elapsed().as_secs_f64();
        println!(
            "sha256={hash} bytes={size} secs={secs:.4} mb_per_s={:.1}",
            size as f64 / secs / 1e6
        );
    }
    ExitCode::SUCCESS
}
