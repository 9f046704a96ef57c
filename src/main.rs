//! The `p2p` binary: everything lives in the library; `main` only hands over the exit code.

fn main() {
    std::process::exit(p2p::app::run());
}
