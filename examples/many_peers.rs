//! Many P2P/1 peers in one process, for the `search` fan-out benchmark.
//!
//!     cargo run --release --example many_peers -- [--peers N] [--first 127.0.0.X] DIR
//!
//! Starts N servers (default 100), each with its own index of DIR, on consecutive
//! loopback addresses from `--first` (default 127.0.1.1) with port 0. Prints each bound
//! address on its own line, then `ready`, and serves until killed. A loopback address
//! per peer keeps them apart the way separate hosts would be.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use p2p::config::ServerSettings;
use p2p::index::{ShareOptions, Shares};
use p2p::server::{Server, ServerLimits};

struct Args {
    peers: u32,
    first: Ipv4Addr,
    dir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut peers = 100;
    let mut first = Ipv4Addr::new(127, 0, 1, 1);
    let mut dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--peers" => {
                peers = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--peers needs a positive integer")?
            }
            "--first" => {
                first = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--first needs an IPv4 address")?
            }
            _ if dir.is_none() && !arg.starts_with("--") => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let dir = dir.ok_or("usage: many_peers [--peers N] [--first 127.0.0.X] DIR")?;
    if !first.is_loopback() {
        return Err(format!("{first} is not a loopback address"));
    }
    Ok(Args { peers, first, dir })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let limits = ServerLimits::from_settings(&ServerSettings::default());
    let started = async_std::task::block_on(async {
        let base = u32::from(args.first);
        for i in 0..args.peers {
            let ip = Ipv4Addr::from(base + i);
            if !ip.is_loopback() {
                return Err(format!("{ip} is past the loopback range"));
            }
            let shares = Arc::new(Shares::new(vec![args.dir.clone()], ShareOptions::default()));
            let scanner = shares.clone();
            let report = async_std::task::spawn_blocking(move || scanner.scan()).await;
            if !report.failed.is_empty() || !report.missing_roots.is_empty() {
                return Err(format!("cannot index {}", args.dir.display()));
            }
            let server = Server::bind(
                &format!("{ip}:0"),
                format!("peer{}", i + 1),
                shares,
                limits.clone(),
            )
            .await
            .map_err(|e| e.to_string())?;
            match server.local_addr() {
                Some(addr) => println!("{addr}"),
                None => return Err(format!("no local address for {ip}")),
            }
            async_std::task::spawn(server.run(std::future::pending::<()>()));
        }
        Ok(())
    });
    if let Err(e) = started {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    println!("ready");
    async_std::task::block_on(std::future::pending::<()>());
    ExitCode::SUCCESS
}
