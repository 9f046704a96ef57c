//! External commands, found the way git and cargo find theirs: an executable
//! `<dir>/<name>` in one of `[plugins] dirs`, else `p2p-<name>` on `PATH`.
//!
//! A plugin gets its arguments, `P2P_CONFIG` (the config file in use) and `P2P_BIN`
//! (this binary, to call back as `$P2P_BIN --json …`); its output is shown as is and its
//! exit status is the command's. Ctrl-C stops it without taking the shell down.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::anyhow;

/// The signal Ctrl-C sends.
const SIGINT: i32 = 2;

use crate::commands::{CommandError, CommandResult, Output};
use crate::shell::session::Session;

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The plugin called `name`, if there is one. A file there without its run bit is
/// reported by [`run`] rather than ignored, so the user learns why.
pub fn find(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    if !valid_name(name) {
        return None;
    }
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let on_path = format!("p2p-{name}");
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(&on_path))
            .find(|candidate| is_executable(candidate))
    })
}

/// Names of every plugin found, for `help` and "did you mean".
pub fn list(dirs: &[PathBuf]) -> Vec<String> {
    let mut names = Vec::new();
    for dir in dirs {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if valid_name(&name) && is_executable(&entry.path()) {
                    names.push(name);
                }
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    if let Some(name) = file.strip_prefix("p2p-") {
                        if valid_name(name) && is_executable(&entry.path()) {
                            names.push(name.to_string());
                        }
                    }
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

pub fn run(session: &mut Session, path: &Path, name: &str, args: &[String]) -> CommandResult {
    if !is_executable(path) {
        return Err(CommandError::Failed(anyhow!(
            "plugin `{name}` at {} is not executable (chmod +x it)",
            path.display()
        )));
    }
    let bin = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("p2p"));
    let mut command = Command::new(path);
    command
        .args(args)
        .env("P2P_BIN", &bin)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    if let Some(config) = &session.config_file {
        command.env("P2P_CONFIG", config);
    }
    if session.output.json {
        command.env("P2P_JSON", "1");
    }
    let mut child = command
        .spawn()
        .map_err(|e| CommandError::Failed(anyhow!("cannot start plugin `{name}`: {e}")))?;
    let waited = session.run(async {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => crate::runtime::sleep(Duration::from_millis(20)).await,
                Err(e) => return Err(e),
            }
        }
    });
    let status = match waited {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(CommandError::Failed(anyhow!("plugin `{name}`: {e}"))),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CommandError::Interrupted);
        }
    };
    match status.code() {
        // The plugin printed its own output (one JSON object with `--json`); add nothing.
        Some(0) => Ok(Output::new(serde_json::Value::Null)),
        Some(code) => Err(CommandError::Exit(
            code,
            format!("plugin `{name}` exited with status {code}"),
        )),
        // Ctrl-C reaches the plugin too (same process group): it may die of it before
        // our own handler says so. Either way the user interrupted it.
        None if status.signal() == Some(SIGINT) => Err(CommandError::Interrupted),
        None => Err(CommandError::Failed(anyhow!(
            "plugin `{name}` was killed by signal {}",
            status.signal().unwrap_or(0)
        ))),
    }
}
