//! The committed shell completion scripts match what the binary generates, and bash
//! completes `p2p s` to the commands starting with s, `--from` and `peers remove` to
//! the configured peers, `help` and the first word to commands and plugins, `share` to
//! folders only (issue 10 item 18). Without bash the bash cases skip, unless `CI` is set.

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

/// Whether bash is here; under `CI` it must be.
fn bash_available() -> bool {
    let here = Command::new("bash")
        .arg("-c")
        .arg("true")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        here || std::env::var_os("CI").is_none(),
        "bash is needed under CI"
    );
    if !here {
        eprintln!("skipping: bash is not installed");
    }
    here
}

#[test]
fn bash_completes_commands() {
    if !bash_available() {
        return;
    }
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

/// What bash's completion of `line` (the cursor at its end) offers, run in `cwd` with
/// this build's `p2p` first on `PATH` (the script calls it back for peers and plugins).
fn bash_complete(cwd: &Path, line: &str) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/p2p.bash");
    let bin_dir = common::bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let probe = format!(
        "source '{}'; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
         read -ra COMP_WORDS <<< \"$COMP_LINE\"; \
         [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=(''); \
         COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
         _p2p_dynamic p2p \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(probe)
        .current_dir(cwd)
        .env("PATH", path)
        .env_remove("P2P_CONFIG")
        .output()
        .unwrap();
    let mut words: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    words.sort();
    words
}

#[test]
fn bash_completes_peers_plugins_and_folders() {
    if !bash_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("hello"), "#!/bin/sh\n# greets\necho hi\n").unwrap();
    assert!(Command::new("chmod")
        .arg("+x")
        .arg(plugins.join("hello"))
        .status()
        .unwrap()
        .success());
    std::fs::create_dir_all(root.join("folder-a")).unwrap();
    std::fs::write(root.join("file-a.txt"), b"x").unwrap();
    std::fs::write(
        root.join("my.conf"),
        "[peers]\naddrs = [\"127.0.0.9:4000\", \"10.0.0.1\"]\n[plugins]\ndirs = [\"plugins\"]\n",
    )
    .unwrap();
    let peers = vec!["10.0.0.1:12000".to_string(), "127.0.0.9:4000".to_string()];
    assert_eq!(
        bash_complete(root, "p2p --config my.conf get --from "),
        peers
    );
    assert_eq!(
        bash_complete(root, "p2p --config my.conf get x --from 127"),
        vec!["127.0.0.9:4000".to_string()]
    );
    assert_eq!(
        bash_complete(root, "p2p --config my.conf peers remove "),
        peers
    );
    let help = bash_complete(root, "p2p --config my.conf help ");
    for want in ["get", "hello", "peers", "search"] {
        assert!(help.iter().any(|w| w == want), "{help:?}");
    }
    assert_eq!(
        bash_complete(root, "p2p --config my.conf he"),
        vec!["hello".to_string(), "help".to_string()]
    );
    assert_eq!(
        bash_complete(root, "p2p --config my.conf get --"),
        vec![
            "--from".to_string(),
            "--help".to_string(),
            "--to".to_string()
        ]
    );
    // share: folders only; a plugin's arguments: nothing from p2p (bash offers files).
    assert_eq!(
        bash_complete(root, "p2p --config my.conf share "),
        vec!["folder-a".to_string(), "plugins".to_string()]
    );
    assert_eq!(
        bash_complete(root, "p2p --config my.conf hello "),
        Vec::<String>::new()
    );
    // Without --config, ./p2p.conf is the one used, as p2p itself does.
    std::fs::copy(root.join("my.conf"), root.join("p2p.conf")).unwrap();
    assert_eq!(bash_complete(root, "p2p get --from "), peers);
}

#[test]
fn zsh_and_fish_ask_p2p_for_peers_and_commands() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let zsh = std::fs::read_to_string(dir.join("p2p.zsh")).unwrap();
    for want in [
        ":PEER:_p2p_peers'",
        ":addr:_p2p_peers'",
        ":_p2p_command_names'",
        "commands+=(${(f)\"$(_p2p_words plugins)\"})",
        "':dir -- A shared folder:_files -/'",
    ] {
        assert!(zsh.contains(want), "p2p.zsh lacks {want}");
    }
    // The helpers come before the file runs `_p2p` (autoloaded, it runs at once).
    assert!(zsh.find("_p2p_peers() {") < zsh.find("if [ \"$funcstack[1]\" = \"_p2p\" ]"));
    let fish = std::fs::read_to_string(dir.join("p2p.fish")).unwrap();
    for want in [
        "-l from -d 'Only download from this peer (address or name); may be repeated' -r -f -a \"(__fish_p2p_words peers)\"",
        "__fish_seen_subcommand_from remove\" -f -a \"(__fish_p2p_words peers)\"",
        "-f -a \"(__fish_p2p_words plugins)\"",
        "__fish_p2p_using_subcommand help\" -f -a \"(__fish_p2p_words commands)\"",
    ] {
        assert!(fish.contains(want), "p2p.fish lacks {want}");
    }
    // And the words themselves come from the binary, offline.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .args(["completions", "commands"])
        .current_dir(empty.path())
        .env_remove("P2P_CONFIG")
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(words.lines().any(|w| w == "get"), "{words}");
}
