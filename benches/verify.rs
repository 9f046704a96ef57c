//! Chunk verification and chunk arithmetic: the CPU cost of checking what lands.
//!
//!     cargo bench --bench verify           # ~10 s
//!     cargo bench --bench verify -- --quick
//!
//! `chunk_1MiB/verify` is what a download spends per 1 MiB chunk before it counts it
//! (SHA-256 of the chunk compared with the claimed hash); its throughput is the ceiling
//! of a verified transfer on one core.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use p2p::content::hash::ContentHash;
use p2p::content::layout::Layout;
use p2p::protocol::MAX_ANSWER_BYTES;

const MIB: usize = 1024 * 1024;
const GIB: u64 = 1024 * 1024 * 1024;

fn chunk_hashing(c: &mut Criterion) {
    let chunk: Vec<u8> = (0..MIB).map(|i| (i * 131 % 251) as u8).collect();
    let claimed = ContentHash::of(&chunk);
    let mut group = c.benchmark_group("chunk_1MiB");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.bench_function("hash", |b| {
        b.iter(|| black_box(ContentHash::of(black_box(&chunk))))
    });
    group.bench_function("verify", |b| {
        b.iter(|| black_box(ContentHash::of(black_box(&chunk)) == claimed))
    });
    group.finish();
}

fn layout(c: &mut Criterion) {
    let mut group = c.benchmark_group("layout");
    for (label, size) in [("1MiB", MIB as u64), ("1GiB", GIB), ("1TiB", 1024 * GIB)] {
        group.bench_with_input(BenchmarkId::new("for_size", label), &size, |b, &size| {
            b.iter(|| black_box(Layout::for_size(black_box(size), MAX_ANSWER_BYTES)))
        });
    }
    let one_gib = Layout::for_size(GIB, MAX_ANSWER_BYTES);
    group.throughput(Throughput::Elements(one_gib.chunk_count()));
    group.bench_function("chunk_range_all_1GiB", |b| {
        b.iter(|| {
            let layout = black_box(one_gib);
            let mut total = 0u64;
            for index in layout.chunks() {
                let range = layout.chunk_range(index);
                total += range.end - range.start;
            }
            black_box(total)
        })
    });
    group.finish();
}

fn quick() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = quick();
    targets = chunk_hashing, layout
}
criterion_main!(benches);
