//! This peer's identity (issue 13, first part): `p2p id` prints a stable 52-character
//! ID, made once per state folder even when several processes start at once, kept
//! readable by its owner only, and a damaged identity file is one clear error, never
//! silently replaced: `id` says it, and `serve` refuses to start rather than serve
//! without its identity.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{client_conf, run_p2p};

const LIMIT: Duration = Duration::from_secs(30);

fn id(dir: &Path, conf: &Path) -> common::Run {
    run_p2p(dir, &["--config", conf.to_str().unwrap(), "id"], "", LIMIT)
}

#[test]
fn the_id_is_stable_private_made_once_and_damage_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let conf = client_conf(root, &[]);
    // Four processes at once on a fresh state folder: one identity.
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(common::bin())
                .args(["--config", conf.to_str().unwrap(), "id"])
                .current_dir(root)
                .output()
        })
        .collect();
    let mut ids: Vec<String> = children
        .into_iter()
        .map(|out| {
            String::from_utf8_lossy(&out.unwrap().stdout)
                .trim()
                .to_string()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let first = ids[0].clone();
    assert_eq!(first.len(), 52, "{first}");
    assert!(first
        .chars()
        .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
    let again = id(root, &conf);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout.trim(), first);
    let json = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "--json", "id"],
        "",
        LIMIT,
    );
    let line = &json.json_lines()[0];
    assert_eq!(line["id"], first.as_str());
    assert_eq!(line["short"], &first[..7]);

    let file = root.join("client.state/identity.pem");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "identity readable by others: {mode:o}");

    std::fs::write(&file, "-----BEGIN PRIVATE KEY-----\ngarbage\n").unwrap();
    let damaged = id(root, &conf);
    assert_eq!(damaged.code, 1, "{}", damaged.stdout);
    let lines: Vec<&str> = damaged.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", damaged.stderr);
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("damaged"),
        "{}",
        lines[0]
    );
    assert!(
        std::fs::read_to_string(&file).unwrap().contains("garbage"),
        "replaced"
    );

    // Serving with it is the same one error, before the port is announced: serving in
    // the clear instead would drop the identity that clients know this peer by.
    let serve = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "serve"],
        "",
        LIMIT,
    );
    assert_eq!(serve.code, 1, "{}\n{}", serve.stdout, serve.stderr);
    assert!(!serve.stdout.contains("listening on"), "{}", serve.stdout);
    let errors: Vec<&str> = serve
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", serve.stderr);
    assert!(
        errors[0].contains("cannot serve P2P/2") && errors[0].contains("damaged"),
        "{}",
        errors[0]
    );
    assert!(
        std::fs::read_to_string(&file).unwrap().contains("garbage"),
        "replaced"
    );

    // The REPL's (here a script's) background server is not started either, and does
    // not announce itself first.
    let script = run_p2p(
        root,
        &["--config", conf.to_str().unwrap(), "--serve"],
        "id\n",
        LIMIT,
    );
    assert!(!script.stderr.contains("serving on"), "{}", script.stderr);
    assert!(
        script
            .stderr
            .contains("warning: not serving: cannot serve P2P/2"),
        "{}",
        script.stderr
    );
}
