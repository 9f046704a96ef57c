//! The DHT at scale: N p2p DHT nodes (as `serve` runs them: server mode, 500 ms request
//! timeout, each on its own 127.0.x.y address) in this one process, joined through the
//! first; every content held by `--copies` nodes and announced with its keyword. Then a
//! client node looks contents up by id and by keyword, as `get SHA256` and
//! `search WORD` do, and reports recall (holders found ÷ holders that announced) and
//! time per lookup. Loopback only: nothing leaves the machine.
//!
//!     cargo run --release --example dht_sim -- [--nodes N] [--copies K] [--lookups L]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2p::content::{ContentHash, PeerAddr};
use p2p::discovery::{content_id, keyword_id, Bootstrap, DhtNode};

const PORT: u16 = 27_400;
const LOOKUP_LIMIT: Duration = Duration::from_secs(3);

fn addr_of(i: usize) -> SocketAddr {
    // 127.0.x.y from 127.0.8.1 on: one address per node, like separate hosts.
    let n = i + 8 * 256 + 1;
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(127, 0, (n / 256) as u8, (n % 256) as u8),
        PORT,
    ))
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> ExitCode {
    let nodes = arg("--nodes", 1000).max(2);
    let copies = arg("--copies", 5).max(1);
    let lookups = arg("--lookups", 50).max(1);
    let contents = (nodes / copies).max(1);
    let started = Instant::now();
    let mut dht = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let bootstrap = if i == 0 {
            Bootstrap::Alone
        } else {
            let SocketAddr::V4(first) = addr_of(0) else {
                unreachable!()
            };
            Bootstrap::Through(vec![first])
        };
        match DhtNode::start(addr_of(i), bootstrap) {
            Ok(node) => dht.push(Arc::new(node)),
            Err(e) => {
                eprintln!("error: node {i}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let joined = started.elapsed();
    // Node i holds content i % contents, named "sim<content>": every content has
    // `copies` holders.
    let hash = |c: usize| ContentHash::of(format!("content {c}").as_bytes());
    let announcing = Instant::now();
    let tasks: Vec<_> = dht
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let node = node.clone();
            let c = i % contents;
            let ids = vec![content_id(&hash(c)), keyword_id(&format!("sim{c}"))];
            std::thread::spawn(move || {
                async_std::task::block_on(node.announce(&ids, PORT));
            })
        })
        .collect();
    for task in tasks {
        let _ = task.join();
    }
    let announced = announcing.elapsed();

    let SocketAddr::V4(first) = addr_of(0) else {
        unreachable!()
    };
    let client = match DhtNode::start(
        SocketAddr::from(([127, 0, 7, 1], PORT)),
        Bootstrap::Through(vec![first]),
    ) {
        Ok(node) => node,
        Err(e) => {
            eprintln!("error: client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let holders_of = |c: usize| -> Vec<PeerAddr> {
        (0..nodes)
            .filter(|i| i % contents == c)
            .filter_map(|i| PeerAddr::parse(&addr_of(i).to_string()).ok())
            .collect()
    };
    let report = |what: &str, id_of: &dyn Fn(usize) -> mainline::Id| {
        let mut times = Vec::new();
        let (mut found, mut wanted) = (0usize, 0usize);
        for l in 0..lookups {
            let c = (l * 7919) % contents;
            let truth = holders_of(c);
            let t = Instant::now();
            let got = async_std::task::block_on(client.holders(id_of(c), LOOKUP_LIMIT));
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            wanted += truth.len();
            found += truth.iter().filter(|h| got.contains(h)).count();
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| {nodes} | {what} | {:.1} % | {:.0} ms | {:.0} ms |",
            100.0 * found as f64 / wanted.max(1) as f64,
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    };
    println!(
        "# {nodes} nodes joined in {:.1} s, {} ids announced in {:.1} s ({copies} holders a content, {lookups} lookups each)",
        joined.as_secs_f64(),
        nodes * 2,
        announced.as_secs_f64()
    );
    println!("| nodes | lookup | holder recall | p50 | p99 |");
    println!("|---:|---|---:|---:|---:|");
    report("`get SHA256` (content id)", &|c| content_id(&hash(c)));
    report("`search WORD` (keyword id)", &|c| {
        keyword_id(&format!("sim{c}"))
    });
    ExitCode::SUCCESS
}
