//! Frame codec and request parsing: what every request and every 1 MiB of data costs
//! before it reaches a socket.
//!
//!     cargo bench --bench codec            # ~15 s
//!     cargo bench --bench codec -- --quick

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use p2p::content::hash::ContentHash;
use p2p::protocol::frame::{self, FrameType};
use p2p::protocol::message::Request;

const MIB: usize = 1024 * 1024;

fn read_request() -> Request {
    Request::Read {
        sha256: ContentHash::of(b"benchmark"),
        offset: 7 * MIB as u64,
        len: MIB as u64,
    }
}

fn request_frames(c: &mut Criterion) {
    let request = read_request();
    let mut group = c.benchmark_group("request_frame");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_read", |b| {
        let mut out = Vec::with_capacity(256);
        b.iter(|| {
            out.clear();
            let body = black_box(&request).to_body();
            frame::encode(FrameType::Request, &body, &mut out);
            black_box(out.len())
        })
    });
    let mut wire = Vec::new();
    frame::encode(FrameType::Request, &request.to_body(), &mut wire);
    group.bench_function("decode_and_parse_read", |b| {
        b.iter(|| {
            let decoded = frame::decode(black_box(&wire), 64 * 1024).unwrap().unwrap();
            black_box(Request::parse(decoded.body).unwrap())
        })
    });
    group.finish();

    let mut group = c.benchmark_group("request_parse");
    group.throughput(Throughput::Elements(1));
    let bodies = [
        ("read", request.to_body()),
        ("info", br#"{"op":"info","sha256":"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"}"#.to_vec()),
        ("search", br#"{"op":"search","query":"holiday *.jpg","limit":500}"#.to_vec()),
        ("ping", br#"{"op":"ping"}"#.to_vec()),
        ("bad_json", br#"{"op":"read","sha256":"nope""#.to_vec()),
    ];
    for (name, body) in &bodies {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(Request::parse(black_box(body))))
        });
    }
    group.finish();
}

fn data_frames(c: &mut Criterion) {
    let payload: Vec<u8> = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
    let mut group = c.benchmark_group("data_frame_1MiB");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.bench_function("encode_copy", |b| {
        let mut out = Vec::with_capacity(MIB + frame::HEADER_LEN);
        b.iter(|| {
            out.clear();
            frame::encode(FrameType::Data, black_box(&payload), &mut out);
            black_box(out.len())
        })
    });
    group.finish();

    // Header-only work: the payload is never copied (it is sent from a memory map
    // and borrowed on decode), so these cost the same whatever the size.
    let mut group = c.benchmark_group("data_frame_1MiB_zero_copy");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_header", |b| {
        b.iter(|| {
            black_box(frame::encode_header(
                FrameType::Data,
                black_box(payload.len()),
            ))
        })
    });
    let mut wire = Vec::new();
    frame::encode(FrameType::Data, &payload, &mut wire);
    group.bench_function("decode", |b| {
        b.iter(|| {
            let decoded = frame::decode(black_box(&wire), 4 * MIB).unwrap().unwrap();
            black_box(decoded.body.len())
        })
    });
    group.bench_function("decode_partial", |b| {
        // Half a frame in the buffer: "need more", nothing consumed.
        let half = &wire[..wire.len() / 2];
        b.iter(|| black_box(frame::decode(black_box(half), 4 * MIB).unwrap().is_none()))
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
    targets = request_frames, data_frames
}
criterion_main!(benches);
