//! The committed shell completion scripts match what the binary generates, and bash
//! completes `p2p s` to the commands starting with s.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn committed_completions_match_the_binary() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(common::bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let committed =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("completions/p2p.{shell}"));
        let committed = std::fs::read(&committed).unwrap();
        assert!(
            committed == out.stdout,
            "completions/p2p.{shell} is stale: run `p2p completions {shell} > completions/p2p.{shell}`"
        );
    }
}

#[test]
fn bash_completes_commands() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/p2p.bash");
    let probe = format!(
        "source '{}'; COMP_WORDS=(p2p s); COMP_CWORD=1; COMP_LINE='p2p s'; COMP_POINT=5; _p2p p2p s p2p; echo \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash").arg("-c").arg(probe).output().unwrap();
    let words: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    for want in ["search", "serve", "share"] {
        assert!(words.iter().any(|w| w == want), "{words:?}");
    }
}
