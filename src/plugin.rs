//! External commands, found the way git and cargo find theirs: an executable
//! `<dir>/<name>` in one of `[plugins] dirs`, else `p2p-<name>` on `PATH`.
//!
//! A plugin gets its arguments, `P2P_CONFIG` (the config file in use), `P2P_BIN` (this
//! binary, to call back as `$P2P_BIN --json …`) and, under `--json`, `P2P_JSON=1`. Ctrl-C
//! stops it without taking the shell down.
//!
//! Its output is shown as is, except under `--json`, where p2p keeps its promise of one
//! JSON object per command: the plugin must print exactly one object on one line, which
//! is passed on; anything else goes to stderr and the command fails (a plugin that
//! prints nothing and succeeds gets `{"plugin": NAME, "ok": true}`).
//!
//! Exit status: 0, 1 (failure) and 2 (usage error) are p2p's own and pass through; any
//! other status (or a death by a signal other than Ctrl-C's) is a failure, 1, so that
//! p2p's exit status keeps its meaning.
//!
//! `help` describes a plugin by the first comment (or Python docstring) line after its
//! `#!` line, e.g. `# p2p hello — greets every peer`.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::anyhow;
use serde_json::{json, Value};

/// The signal Ctrl-C sends.
const SIGINT: i32 = 2;

use crate::commands::{CommandError, CommandResult, Output};
use crate::node::Node;

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

/// How much of a plugin `summary` reads: the first lines are enough.
const SUMMARY_HEAD_BYTES: u64 = 4096;

/// What `help` says a plugin does: the first comment or docstring line after `#!`,
/// without a leading `p2p NAME ARGS — ` synopsis. `None` for a binary or no comment.
pub fn summary(path: &Path, name: &str) -> Option<String> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(SUMMARY_HEAD_BYTES).read_to_end(&mut head))
        .ok()?;
    if head.contains(&0) {
        return None; // a compiled program: nothing to read
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with("#!"))
        .map(str::trim)
        .skip_while(|l| l.is_empty());
    let line = lines.next()?;
    let body = if let Some(rest) = line.strip_prefix("\"\"\"").or(line.strip_prefix("'''")) {
        // A docstring's first paragraph may wrap: read it up to a blank line or its end.
        let mut paragraph = rest.to_string();
        if !rest.contains("\"\"\"") && !rest.contains("'''") {
            for more in lines.take_while(|l| !l.is_empty()) {
                paragraph.push(' ');
                paragraph.push_str(more);
                if more.contains("\"\"\"") || more.contains("'''") {
                    break;
                }
            }
        }
        paragraph
            .split("\"\"\"")
            .next()
            .unwrap_or_default()
            .split("'''")
            .next()
            .unwrap_or_default()
            .to_string()
    } else if let Some(rest) = line.strip_prefix('#').or(line.strip_prefix("//")) {
        rest.trim_start_matches(['#', '/']).to_string()
    } else {
        return None;
    };
    let body = body.trim();
    // "p2p mirror PATTERN — download …": the synopsis is in `NAME --help`; keep the rest.
    let synopsis = body.strip_prefix("p2p ").unwrap_or(body);
    let described = if synopsis.starts_with(name) {
        [" — ", " - ", ": "]
            .iter()
            .find_map(|sep| synopsis.split_once(sep).map(|(_, rest)| rest.trim()))
            .unwrap_or(body)
    } else {
        body
    };
    let described: String = described.chars().filter(|c| !c.is_control()).collect();
    (!described.is_empty()).then_some(described)
}

/// The exit statuses p2p passes on from a plugin, said in `help`.
pub const EXIT_STATUS_NOTE: &str =
    "a plugin's exit status 0, 1 (failure) or 2 (usage) is p2p's; any other becomes 1";

pub fn run(
    node: &mut Node,
    json_mode: bool,
    path: &Path,
    name: &str,
    args: &[String],
) -> CommandResult {
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
        // Under --json its stdout is checked before it reaches ours (one object).
        .stdout(if json_mode {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stderr(Stdio::inherit());
    if let Some(config) = &node.config_file {
        command.env("P2P_CONFIG", config);
    }
    if json_mode {
        command.env("P2P_JSON", "1");
    } else {
        command.env_remove("P2P_JSON");
    }
    let mut child = command
        .spawn()
        .map_err(|e| CommandError::Failed(anyhow!("cannot start plugin `{name}`: {e}")))?;
    // Read on a thread while it runs: a plugin blocked on a full pipe would never end.
    let captured = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        })
    });
    let waited = node.run(async {
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
    let printed = captured
        .map(|reader| reader.join().unwrap_or_default())
        .map(|bytes| judge_json(&bytes));
    let failure = match status.code() {
        Some(0) => None,
        Some(1) => Some(Failure::Failed(format!(
            "plugin `{name}` exited with status 1"
        ))),
        Some(2) => Some(Failure::Usage(format!(
            "plugin `{name}` exited with status 2 (usage)"
        ))),
        Some(code) => Some(Failure::Failed(format!(
            "plugin `{name}` exited with status {code} (p2p exits 1: {EXIT_STATUS_NOTE})"
        ))),
        // Ctrl-C reaches the plugin too (same process group): it may die of it before
        // our own handler says so. Either way the user interrupted it.
        None if status.signal() == Some(SIGINT) => return Err(CommandError::Interrupted),
        None => Some(Failure::Failed(format!(
            "plugin `{name}` was killed by signal {}",
            status.signal().unwrap_or(0)
        ))),
    };
    match (printed, failure) {
        // Not under --json: it printed its own output already.
        (None, None) => Ok(Output::new(Value::Null)),
        (None, Some(failure)) => Err(failure.into_error(None)),
        (Some(Printed::Object(object)), None) => Ok(Output::new(object)),
        (Some(Printed::Nothing), None) => Ok(Output::new(json!({ "plugin": name, "ok": true }))),
        (Some(Printed::Object(object)), Some(failure)) => Err(failure.into_error(Some(object))),
        (Some(Printed::Nothing), Some(failure)) => Err(failure.into_error(None)),
        (Some(Printed::Other(text)), failure) => {
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
            let broke = format!(
                "plugin `{name}` printed something other than one JSON object under --json \
                 (shown above on stderr)"
            );
            Err(match failure {
                Some(failure) => failure.into_error(None),
                None => CommandError::Failed(anyhow!(broke)),
            })
        }
    }
}

/// What a plugin printed on stdout under `--json`.
enum Printed {
    Nothing,
    /// Exactly one JSON object (on one line, maybe with blank lines around).
    Object(Value),
    Other(String),
}

fn judge_json(bytes: &[u8]) -> Printed {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.as_slice() {
        [] => Printed::Nothing,
        [line] => match serde_json::from_str::<Value>(line) {
            Ok(object @ Value::Object(_)) => Printed::Object(object),
            _ => Printed::Other(text.into_owned()),
        },
        _ => Printed::Other(text.into_owned()),
    }
}

/// How a plugin failed, as p2p's statuses see it.
enum Failure {
    Failed(String),
    Usage(String),
}

impl Failure {
    /// The command's error; `printed` is the plugin's own JSON object, when it gave one.
    fn into_error(self, printed: Option<Value>) -> CommandError {
        let (usage, message) = match self {
            Failure::Failed(m) => (false, m),
            Failure::Usage(m) => (true, m),
        };
        match printed {
            Some(json) => CommandError::Reported {
                usage,
                message,
                json,
            },
            None if usage => CommandError::Usage(message),
            None => CommandError::Failed(anyhow!(message)),
        }
    }
}
