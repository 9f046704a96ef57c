//! Flags → mode: the REPL on a terminal, a script runner when stdin is piped, one
//! command from argv, the headless `serve`, the `demo`, or `completions`. Returns the
//! process exit status: 0 success, 1 a command failed, 2 usage or configuration error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::{CommandFactory, Parser};

use crate::commands::{count, human_bytes};
use crate::config;
use crate::index::Shares;
use crate::runtime;
use crate::server::{Server, ServerLimits};
use crate::shell::dispatch::{self, Status};
use crate::shell::repl::run_repl;
use crate::shell::script::run_script;
use crate::shell::session::{OutputMode, Session};

#[derive(Parser, Debug)]
#[command(
    name = "p2p",
    version,
    about = "Peer-to-peer file sharing from a shell-style REPL",
    after_help = "Modes:\n  p2p                      REPL on a terminal (also serves); script runner when stdin is piped (--serve: serves too)\n  p2p COMMAND ARGS...      run one REPL command and exit (p2p search report)\n  p2p serve                headless peer: share and serve, no prompt\n  p2p demo                 a throw-away local network of 3 peers, and the REPL on it\n  p2p completions SHELL    print a completion script (bash, zsh, fish)\n\nType `help` in the REPL (or `p2p help`) for the commands."
)]
pub struct Cli {
    /// Config file (default: ./p2p.conf, else the user's config dir)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print every command's result as one JSON object on one line
    #[arg(long)]
    pub json: bool,
    /// Do not serve while the REPL runs
    #[arg(long)]
    pub no_serve: bool,
    /// Serve while a piped script runs too (as the REPL does), sharing what it downloads
    /// as it arrives
    #[arg(long, conflicts_with = "no_serve")]
    pub serve: bool,
    /// In a script, go on after a failed command
    #[arg(long)]
    pub keep_going: bool,
    /// More log lines on stderr (repeat for more); RUST_LOG sets any filter
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Fewer log lines on stderr (repeat for none)
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// A REPL command and its arguments, or serve / demo / completions
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

#[derive(Parser, Debug)]
#[command(
    name = "p2p serve",
    about = "Share and serve, with no prompt, until SIGINT/SIGTERM"
)]
struct ServeCli {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log lines (debug); RUST_LOG sets any filter
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Fewer log lines (-q: errors only, -qq: none)
    #[arg(short, long, action = clap::ArgAction::Count)]
    quiet: u8,
}

pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let verbosity = |v: u8, q: u8| v.min(4) as i8 - q.min(4) as i8;
    if cli.command.first().map(String::as_str) != Some("serve") {
        crate::logging::init(false, verbosity(cli.verbose, cli.quiet));
    }
    match cli.command.first().map(String::as_str) {
        Some("serve") => {
            let mut words = vec!["p2p serve".to_string()];
            words.extend(cli.command[1..].iter().cloned());
            match ServeCli::try_parse_from(words) {
                Ok(serve) => {
                    crate::logging::init(
                        true,
                        verbosity(cli.verbose + serve.verbose, cli.quiet + serve.quiet),
                    );
                    serve_mode(serve.config.or(cli.config).as_deref())
                }
                Err(e) => {
                    let _ = e.print();
                    if e.use_stderr() {
                        2
                    } else {
                        0
                    }
                }
            }
        }
        Some("demo") => crate::demo::run(&cli),
        Some("completions") => completions(cli.config.as_deref(), &cli.command[1..]),
        Some(_) => {
            let Some(mut session) = open_session(cli.config.as_deref(), cli.json) else {
                return 2;
            };
            let status = dispatch::execute(&mut session, &cli.command).status;
            // `p2p get x '&'`: the process lives until its background transfer ends.
            let stopped = status == Status::Interrupted;
            status
                .worst(crate::shell::background::settle(&mut session, stopped))
                .exit_code()
        }
        None => {
            let Some(mut session) = open_session(cli.config.as_deref(), cli.json) else {
                return 2;
            };
            interactive_or_script(&mut session, &cli)
        }
    }
}

/// The REPL on a terminal (serving unless `--no-serve`), else the script runner.
pub fn interactive_or_script(session: &mut Session, cli: &Cli) -> i32 {
    if std::io::stdin().is_terminal() {
        if !cli.no_serve {
            start_background_server(session);
        }
        run_repl(session).exit_code()
    } else {
        if cli.serve {
            start_background_server(session);
        }
        let stdin = std::io::stdin();
        run_script(session, stdin.lock(), cli.keep_going).exit_code()
    }
}

/// Loads the config and opens a session; reports a bad config as one line (exit 2).
pub fn open_session(config_path: Option<&Path>, json: bool) -> Option<Session> {
    let output = OutputMode {
        json,
        terminal: std::io::stdout().is_terminal(),
    };
    let opened = config::load(config_path)
        .map_err(anyhow::Error::from)
        .and_then(|loaded| Session::new(loaded, output));
    match opened {
        Ok(session) => Some(session),
        Err(e) => {
            // One line (the error, then each cause once); with --json the one object
            // a command owes stdout, as any failed command's.
            crate::shell::render::print_error(output, "usage", &format!("{e:#}"));
            None
        }
    }
}

fn scan_and_report(shares: &Arc<Shares>, download_dir: &Path) {
    let started = Instant::now();
    let scanner = shares.clone();
    let report = runtime::block_on(runtime::spawn_blocking(move || scanner.scan()));
    eprintln!(
        "indexed {} ({}): {} hashed, {} unchanged from cache, in {} ms",
        count(report.files as u64, "file", "files"),
        human_bytes(report.bytes),
        report.hashed,
        report.cached,
        started.elapsed().as_millis()
    );
    // A download folder that does not exist yet is normal: the first `get` makes it.
    for root in report.missing_roots.iter().filter(|r| *r != download_dir) {
        eprintln!("warning: shared folder {} does not exist", root.display());
    }
    for (path, error) in &report.failed {
        eprintln!("warning: not shared: {}: {error}", path.display());
    }
    if let Some(error) = &report.cache_not_saved {
        eprintln!("warning: hash cache not saved (the next start hashes again): {error}");
    }
}

/// Serves the session's shares in the background while the REPL runs. A listen address
/// in use is one warning, and the REPL goes on as a client; so is an identity that
/// cannot be used (then the client side cannot encrypt either, and each command says so).
fn start_background_server(session: &mut Session) {
    let shares = session.node.shares_handle();
    scan_and_report(&shares, &session.node.settings.download.dir);
    session.node.mark_scanned();
    let settings = &session.node.settings;
    let bound = runtime::block_on(Server::bind(
        &settings.node.listen,
        settings.node.name.clone(),
        shares.clone(),
        ServerLimits::from_settings(&settings.server),
    ));
    match bound {
        Ok(mut server) => match session.node.serve_p2p2(&mut server) {
            Ok(()) => {
                if let Some(addr) = server.local_addr() {
                    eprintln!("serving on {addr} (--no-serve to stop that)");
                }
                session.node.start_serving(&mut server);
                runtime::spawn_detached(server.run(std::future::pending::<()>()));
            }
            Err(e) => eprintln!(
                "warning: not serving: {}",
                crate::error_chain::error_chain(&e)
            ),
        },
        Err(e) => eprintln!(
            "warning: {}; going on as a client only",
            crate::error_chain::error_chain(&e)
        ),
    }
}

fn serve_mode(config_path: Option<&Path>) -> i32 {
    let Some(mut session) = open_session(config_path, false) else {
        return 2;
    };
    let shares = session.node.shares_handle();
    let settings = &session.node.settings;
    // Bind before indexing: a listen address that cannot be used is said at once, not
    // after minutes of hashing. Connections wait in the backlog until the index is
    // ready and `run` accepts them.
    let mut server = match runtime::block_on(Server::bind(
        &settings.node.listen,
        settings.node.name.clone(),
        shares.clone(),
        ServerLimits::from_settings(&settings.server),
    )) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {}", crate::error_chain::error_chain(&e));
            return 1;
        }
    };
    // Before indexing, as the address: an identity that cannot be used is said at once.
    if let Err(e) = session.node.serve_p2p2(&mut server) {
        eprintln!("error: {}", crate::error_chain::error_chain(&e));
        return 1;
    }
    let settings = &session.node.settings;
    scan_and_report(&shares, &settings.download.dir);
    let counters = server.counters();
    match server.local_addr() {
        Some(addr) => println!("listening on {addr}"),
        None => println!("listening on {}", settings.node.listen),
    }
    let interrupt = session.node.interrupt().clone();
    session.node.start_serving(&mut server);
    runtime::block_on(server.run(async move { interrupt.wait().await }));
    use std::sync::atomic::Ordering::Relaxed;
    let p2p2_only = match counters.refused_p2p2_only.load(Relaxed) {
        0 => String::new(),
        n => format!(", {n} by require_encryption or allow_ids"),
    };
    eprintln!(
        "shutting down: served {} in {} over {} ({} refused by the allow-list{p2p2_only})",
        count(counters.bytes_served.load(Relaxed), "byte", "bytes"),
        count(counters.reads.load(Relaxed), "read", "reads"),
        count(
            counters.connections.load(Relaxed),
            "connection",
            "connections"
        ),
        counters.refused.load(Relaxed)
    );
    0
}

fn completions(config_path: Option<&Path>, args: &[String]) -> i32 {
    use clap_complete::Shell;
    let shell = match args.first().map(String::as_str) {
        Some("bash") => Shell::Bash,
        Some("zsh") => Shell::Zsh,
        Some("fish") => Shell::Fish,
        Some(kind @ ("peers" | "commands" | "plugins")) => {
            return completion_words(config_path, kind)
        }
        _ => {
            eprintln!("error: usage: p2p completions bash|zsh|fish");
            return 2;
        }
    };
    let script = crate::shell::completion::shell_script(shell, completion_command());
    write_stdout(&script)
}

/// The words a completion script asks for when Tab is pressed: the configured peers,
/// every command (built-in and plugin), or the plugins alone; one a line. Quiet and
/// offline (no peer is asked anything): a bad config just completes nothing.
fn completion_words(config_path: Option<&Path>, kind: &str) -> i32 {
    let Ok(loaded) = config::load(config_path) else {
        return 1;
    };
    let settings = &loaded.settings;
    let mut words: Vec<String> = Vec::new();
    match kind {
        "peers" => {
            let listed = settings
                .peers
                .addrs
                .iter()
                .map(|a| crate::client::PeerAddr::parse(a));
            words.extend(listed.filter_map(Result::ok).map(|p| p.to_string()));
            if let Some(file) = &settings.peers.file {
                let seed = crate::node::read_seed_peer_file(file).unwrap_or_default();
                words.extend(seed.iter().map(|p| p.to_string()));
            }
        }
        _ => {
            if kind == "commands" {
                let registry = crate::commands::Registry::builtin();
                words.extend(registry.commands().map(|c| c.name().to_string()));
            }
            words.extend(crate::plugin::list(&settings.plugins.dirs));
        }
    }
    let mut seen = std::collections::HashSet::new();
    words.retain(|w| seen.insert(w.clone()));
    let text: String = words.iter().map(|w| format!("{w}\n")).collect();
    write_stdout(text.as_bytes())
}

/// Writes to stdout: 0, or 1 with one `error:` line when stdout does not take it (a
/// closed pipe is not an error).
fn write_stdout(bytes: &[u8]) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: cannot write the output: {e}");
            1
        }
    }
}

/// The whole command line as one clap tree (modes and every REPL command as
/// sub-commands), for shell completion scripts. Value hints say what an argument is
/// (a peer, a command, a folder); `shell_script` turns the peer and command ones into
/// questions to the binary.
pub fn completion_command() -> clap::Command {
    use clap::ValueHint;
    let mut root = Cli::command()
        .args_conflicts_with_subcommands(true)
        .disable_help_subcommand(true);
    // The trailing COMMAND argument is replaced by real sub-commands here.
    root = root.mut_arg("command", |a| a.hide(true));
    root = root.subcommand(clap::Command::new("serve").about("Share and serve, with no prompt"));
    root =
        root.subcommand(clap::Command::new("demo").about("A throw-away local network of 3 peers"));
    root = root.subcommand(
        clap::Command::new("completions")
            .about("Print a shell completion script")
            .arg(clap::Arg::new("shell").value_parser(["bash", "zsh", "fish"])),
    );
    for command in crate::commands::Registry::builtin().commands() {
        let mut sub = command.args().name(command.name()).about(command.summary());
        sub = match command.name() {
            "get" => sub.mut_arg("from", |a| a.value_hint(ValueHint::Hostname)),
            "peers" => sub.mut_subcommand("remove", |r| {
                r.mut_arg("addr", |a| a.value_hint(ValueHint::Hostname))
            }),
            "help" => sub.mut_arg("command", |a| a.value_hint(ValueHint::CommandName)),
            "share" | "unshare" => sub.mut_arg("dir", |a| a.value_hint(ValueHint::DirPath)),
            _ => sub,
        };
        root = root.subcommand(sub);
    }
    root
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_completion_tree_is_consistent() {
        super::completion_command().debug_assert();
        super::Cli::command().debug_assert();
    }
}
