//! Settings, loaded in layers: built-in defaults < the file (`--config`, else
//! `./p2p.conf`, else the user's config dir) < `P2P_SECTION__KEY` environment < flags.
//!
//! Every layer is checked on its own, strictly, before the `config` crate merges the
//! layers (it would turn `42` into the path "42"): each key of
//! the file and each variable is deserialized alone into [`Settings`], so a value of the
//! wrong type (`dir = 42`, `listen = 12`, `max_connections = -1`, `hidden = 1`) is an error
//! naming that key and where it came from (the file, or the variable), never converted.
//! Unknown keys are errors too (they are usually typos). Then come the checks no type
//! can express: empty paths, ranges, addresses. All of this happens before the peer does
//! anything else, so a bad setting never half-starts a peer.
//!
//! Relative paths in the file are relative to the file's folder (to the current folder
//! when no file is in use). This module only reads; saving edits back is
//! [`crate::config_edit`]'s job.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::content::DEFAULT_PORT;

pub const CONFIG_FILE_NAME: &str = "p2p.conf";

/// A setting that cannot be used. Each is one line naming where the value came from
/// (the file, or the environment variable) and the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file's syntax, or one of its keys (unknown, of the wrong type, out of range).
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    /// A `P2P_SECTION__KEY` variable: named instead of the file, which did not say it.
    #[error("environment variable {variable}: {message}")]
    Environment { variable: String, message: String },
    #[error("cannot read {file}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub node: NodeSettings,
    pub share: ShareSettings,
    pub download: DownloadSettings,
    pub peers: PeerSettings,
    pub server: ServerSettings,
    pub plugins: PluginSettings,
    pub discovery: DiscoverySettings,
}

/// `[discovery]` (DESIGN §6): where peers come from beyond `[peers] addrs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoverySettings {
    /// Peer exchange: ask the peers talked to for the peers they know.
    pub pex: bool,
    pub mdns: bool,
    pub dht: bool,
    pub dht_bootstrap: Vec<String>,
    pub announce: bool,
}

impl Default for DiscoverySettings {
    fn default() -> DiscoverySettings {
        DiscoverySettings {
            pex: true,
            mdns: false,
            dht: false,
            dht_bootstrap: Vec::new(),
            announce: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSettings {
    pub name: String,
    pub listen: String,
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShareSettings {
    pub dirs: Vec<PathBuf>,
    pub follow_symlinks: bool,
    pub hidden: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadSettings {
    pub dir: PathBuf,
    pub share: bool,
    /// A source that sends nothing for this long is dropped from a download.
    pub stall_timeout_s: u64,
    /// Background downloads running at once; more wait in a queue (DESIGN §8).
    pub max_active: usize,
    /// All downloads of this peer together, in bytes a second (0: no limit).
    pub max_rate: crate::rate::Rate,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PeerSettings {
    /// `host[:port]`, or `host:port#ID` to pin the peer's ID (DESIGN §7).
    pub addrs: Vec<String>,
    pub file: Option<PathBuf>,
    /// Never use a peer in the clear (P2P/1 or the seed's protocol).
    pub require_encryption: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub allow: Vec<String>,
    pub max_connections: usize,
    pub preamble_timeout_s: u64,
    pub idle_timeout_s: u64,
    pub max_request_bytes: usize,
    pub max_read_bytes: usize,
    /// Serve P2P/2 only: P2P/1 clients get `encryption_required`, seed clients nothing.
    pub require_encryption: bool,
    /// When not empty, only P2P/2 clients presenting one of these peer IDs are served.
    pub allow_ids: Vec<String>,
    /// All that this peer serves together, in bytes a second (0: no limit).
    pub max_upload_rate: crate::rate::Rate,
    /// Clients served `read`s at once; the next one's `read` gets `busy` (DESIGN §8).
    pub upload_slots: usize,
    /// Answer P2P/2 at all. `false` serves P2P/1 in the clear and the seed's protocol
    /// only: for measuring what encryption costs (benches/run.sh), not for use.
    pub p2p2: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginSettings {
    pub dirs: Vec<PathBuf>,
}

impl Default for NodeSettings {
    fn default() -> NodeSettings {
        NodeSettings {
            name: default_name(),
            listen: format!("0.0.0.0:{DEFAULT_PORT}"),
            state_dir: PathBuf::from("./.p2p"),
        }
    }
}

impl Default for ShareSettings {
    fn default() -> ShareSettings {
        ShareSettings {
            dirs: vec![PathBuf::from("./shared")],
            follow_symlinks: false,
            hidden: false,
        }
    }
}

impl Default for DownloadSettings {
    fn default() -> DownloadSettings {
        DownloadSettings {
            dir: PathBuf::from("./downloads"),
            share: true,
            stall_timeout_s: 15,
            max_active: 3,
            max_rate: crate::rate::Rate(0),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> ServerSettings {
        ServerSettings {
            allow: Vec::new(),
            max_connections: 256,
            preamble_timeout_s: 5,
            idle_timeout_s: 60,
            max_request_bytes: 64 * 1024,
            max_read_bytes: 4 * 1024 * 1024,
            require_encryption: false,
            allow_ids: Vec::new(),
            max_upload_rate: crate::rate::Rate(0),
            upload_slots: 8,
            p2p2: true,
        }
    }
}

impl Default for PluginSettings {
    fn default() -> PluginSettings {
        PluginSettings {
            dirs: vec![PathBuf::from("./plugins")],
        }
    }
}

fn default_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "p2p".to_string())
}

/// Settings plus where they came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub settings: Settings,
    /// The file in use, if any; edits (`peers add`, `share DIR`) are saved back to it.
    pub file: Option<PathBuf>,
}

/// Finds the file to use: `explicit`, else `./p2p.conf`, else the user's config dir.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let local = PathBuf::from(CONFIG_FILE_NAME);
    if local.is_file() {
        return Some(local);
    }
    directories::ProjectDirs::from("", "", "p2p")
        .map(|dirs| dirs.config_dir().join(CONFIG_FILE_NAME))
        .filter(|path| path.is_file())
}

/// Loads the settings from defaults, the located file and the environment.
pub fn load(explicit: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    // Absolute from here on: errors name the file unambiguously, and edits are saved
    // to it whatever the current folder becomes.
    let file = locate(explicit).map(|f| absolute(&f));
    // Without a file, only the defaults are left to blame for a bad value.
    let label = file.as_ref().map_or_else(
        || "built-in defaults".to_string(),
        |f| f.display().to_string(),
    );
    let text = match &file {
        Some(path) => {
            Some(
                std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                    file: label.clone(),
                    source,
                })?,
            )
        }
        None => None,
    };
    let base = match &file {
        Some(path) => absolute(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        ),
        None => absolute(Path::new(".")),
    };
    let settings = build(text.as_deref(), &environment()?, &label, &base)?;
    Ok(LoadedConfig { settings, file })
}

/// Settings from the text of a config file alone (no environment), as `label` says
/// where it came from and `base` resolves its relative paths. What fuzzing drives.
pub fn parse_text(text: &str, label: &str, base: &Path) -> Result<Settings, ConfigError> {
    build(Some(text), &[], label, base)
}

/// One `P2P_SECTION__KEY=value` variable.
type EnvVar = (String, String);

fn build(
    text: Option<&str>,
    environment: &[EnvVar],
    label: &str,
    base: &Path,
) -> Result<Settings, ConfigError> {
    let in_file = |message: String| ConfigError::Invalid {
        file: label.to_string(),
        message,
    };
    // The layers are merged by the `config` crate, in order; each was checked alone
    // first, so its conversions of scalars find nothing left to convert.
    let mut layers = ::config::Config::builder();
    if let Some(text) = text {
        file_layer(text).map_err(in_file)?;
        layers = layers.add_source(::config::File::from_str(text, ::config::FileFormat::Toml));
    }
    // Which variable set a key, so that a later check blames it and not the file.
    let mut from_variable: HashMap<String, String> = HashMap::new();
    for (variable, value) in environment {
        let in_variable = |message: String| ConfigError::Environment {
            variable: variable.clone(),
            message,
        };
        let (section, key) = variable_key(variable).map_err(in_variable)?;
        let value = variable_value(&section, &key, value).map_err(in_variable)?;
        let path = format!("{section}.{key}");
        layers = layers
            .set_override(path.clone(), config_value(value))
            .map_err(|e| in_variable(plain(&e.to_string())))?;
        from_variable.insert(path, variable.clone());
    }
    // Each layer passed alone, so the merge passes too; were it ever not to, this is
    // still an error and not a panic.
    let mut settings: Settings = layers
        .build()
        .and_then(|merged| merged.try_deserialize())
        .map_err(|e| in_file(plain(&e.to_string())))?;
    settings
        .check(base)
        .map_err(|bad| match from_variable.get(bad.key) {
            Some(variable) => ConfigError::Environment {
                variable: variable.clone(),
                message: format!("key {}: {}", bad.key, bad.message),
            },
            None => in_file(format!("key {}: {}", bad.key, bad.message)),
        })?;
    Ok(settings)
}

/// A checked TOML value as the `config` crate holds one.
fn config_value(value: toml::Value) -> ::config::Value {
    use ::config::ValueKind;
    let kind = match value {
        toml::Value::String(s) => ValueKind::String(s),
        toml::Value::Integer(i) => ValueKind::I64(i),
        toml::Value::Float(f) => ValueKind::Float(f),
        toml::Value::Boolean(b) => ValueKind::Boolean(b),
        toml::Value::Datetime(d) => ValueKind::String(d.to_string()),
        toml::Value::Array(items) => {
            ValueKind::Array(items.into_iter().map(config_value).collect())
        }
        toml::Value::Table(table) => ValueKind::Table(
            table
                .into_iter()
                .map(|(k, v)| (k, config_value(v)))
                .collect(),
        ),
    };
    ::config::Value::new(None, kind)
}

/// The file's table, every key checked alone for its name and type.
fn file_layer(text: &str) -> Result<toml::Table, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // Counted in bytes: a span need not fall on a character boundary.
        let line = e.span().map(|span| {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            before.iter().filter(|&&b| b == b'\n').count() + 1
        });
        match line {
            Some(line) => format!("line {line}: {}", one_line(e.message())),
            None => one_line(e.message()),
        }
    })?;
    for (section, value) in &table {
        check_alone(section, None, &toml::Value::Table(toml::Table::new()))?;
        let toml::Value::Table(keys) = value else {
            return Err(format!(
                "key {section}: expected a table [{section}], found {}",
                value.type_str()
            ));
        };
        for (key, value) in keys {
            check_alone(section, Some(key), value)?;
        }
    }
    Ok(table)
}

/// Deserializes `section.key = value` (or an empty `[section]`) alone into [`Settings`]:
/// both names must exist and the value must have the key's type, as it is.
fn check_alone(section: &str, key: Option<&str>, value: &toml::Value) -> Result<(), String> {
    let inner = match key {
        Some(key) => toml::Table::from_iter([(key.to_string(), value.clone())]),
        None => toml::Table::new(),
    };
    let outer = toml::Table::from_iter([(section.to_string(), toml::Value::Table(inner))]);
    match Settings::deserialize(outer) {
        Ok(_) => Ok(()),
        Err(e) => Err(explain(section, key, e.message())),
    }
}

/// A serde message about `[section]` alone (`key` is `None`) or `section.key`, as one
/// line for a person that names the key.
fn explain(section: &str, key: Option<&str>, message: &str) -> String {
    let message = plain(message);
    let unknown = |name: &str| format!("unknown field `{name}`");
    match key {
        None => match message.strip_prefix(&unknown(section)) {
            // Sections are written as tables: list the choices that way.
            Some(rest) => format!(
                "unknown section [{section}]{}",
                rest.replace("`, `", "], [")
                    .replace("one of `", "one of [")
                    .replace('`', "]")
            ),
            None => format!("key {section}: {message}"),
        },
        Some(key) => match message.strip_prefix(&unknown(key)) {
            Some(rest) => format!("unknown key {section}.{key}{rest}"),
            None => format!("key {section}.{key}: {message}"),
        },
    }
}

/// Serde's words for types, as a user would say them.
fn plain(message: &str) -> String {
    let mut message = one_line(message);
    for (rust, words) in [
        ("expected usize", "expected a whole number ≥ 0"),
        ("expected u64", "expected a whole number ≥ 0"),
        ("expected u32", "expected a whole number ≥ 0"),
        ("expected u16", "expected a whole number ≥ 0"),
        ("expected path string", "expected a path (a string)"),
        ("expected a sequence", "expected a list"),
        ("floating point", "number"),
    ] {
        message = message.replace(rust, words);
    }
    message
}

/// `P2P_NODE__LISTEN` → (`node`, `listen`).
fn variable_key(variable: &str) -> Result<(String, String), String> {
    let rest = variable.strip_prefix("P2P_").unwrap_or(variable);
    match rest.split("__").collect::<Vec<_>>()[..] {
        [section, key] if !section.is_empty() && !key.is_empty() => {
            Ok((section.to_lowercase(), key.to_lowercase()))
        }
        _ => Err("not a setting (want P2P_SECTION__KEY, e.g. P2P_NODE__LISTEN)".into()),
    }
}

/// A variable's text as the value `section.key` takes. The environment has only
/// strings, so the text is tried as a string, then as a TOML scalar (`true`, `5`),
/// then as a comma-separated list; the first that has the key's type wins. Nothing is
/// converted that the key would not take as it is: `P2P_SHARE__HIDDEN=1` is an error.
fn variable_value(section: &str, key: &str, text: &str) -> Result<toml::Value, String> {
    // An unknown section first, so that it is not taken for an unknown key.
    check_alone(section, None, &toml::Value::Table(toml::Table::new()))?;
    let as_string = toml::Value::String(text.to_string());
    let as_scalar = scalar(text);
    let as_list = toml::Value::Array(
        text.split(',')
            .map(|item| toml::Value::String(item.trim().to_string()))
            .collect(),
    );
    let string_error = match check_alone(section, Some(key), &as_string) {
        Ok(()) => return Ok(as_string),
        Err(e) => e,
    };
    let scalar_error = match as_scalar {
        Some(value) => match check_alone(section, Some(key), &value) {
            Ok(()) => return Ok(value),
            Err(e) => Some(e),
        },
        None => None,
    };
    if check_alone(section, Some(key), &as_list).is_ok() {
        return Ok(as_list);
    }
    // The most telling error: what the text looks like (a number, a boolean) if it
    // looks like one, else the text as a string.
    Err(scalar_error.unwrap_or(string_error))
}

/// `true`, `false`, an integer or a float, as TOML would read them; else `None`.
fn scalar(text: &str) -> Option<toml::Value> {
    match text {
        "true" => Some(toml::Value::Boolean(true)),
        "false" => Some(toml::Value::Boolean(false)),
        _ => text
            .parse::<i64>()
            .map(toml::Value::Integer)
            .or_else(|_| text.parse::<f64>().map(toml::Value::Float))
            .ok(),
    }
}

/// The `P2P_SECTION__KEY` variables, sorted so that errors come in a stable order.
/// Only names with a `__` are settings: `P2P_BIN`, `P2P_CONFIG` and `P2P_JSON`, which
/// plugins receive, are not.
fn environment() -> Result<Vec<EnvVar>, ConfigError> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|n| is_setting_variable(n)) else {
            continue;
        };
        let value = value.into_string().map_err(|_| ConfigError::Environment {
            variable: name.to_string(),
            message: "not UTF-8".into(),
        })?;
        vars.push((name.to_string(), value));
    }
    vars.sort();
    Ok(vars)
}

fn is_setting_variable(name: &str) -> bool {
    name.strip_prefix("P2P_")
        .is_some_and(|rest| rest.contains("__"))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `path` made absolute against the current folder, without touching the disk.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A value that has the right type but cannot be used, and the key that holds it.
struct BadValue {
    key: &'static str,
    message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> BadValue {
    BadValue {
        key,
        message: message.into(),
    }
}

impl Settings {
    /// What no type says: paths not empty, numbers in range, addresses well-formed.
    /// Makes relative paths absolute against `base` and gives `listen` its port.
    fn check(&mut self, base: &Path) -> Result<(), BadValue> {
        // An empty path would resolve to the config file's own folder and share it.
        let not_empty = |key: &'static str, path: &Path| {
            if path.as_os_str().is_empty() {
                Err(bad(
                    key,
                    "an empty path (write \".\" for the config file's folder)",
                ))
            } else {
                Ok(())
            }
        };
        not_empty("node.state_dir", &self.node.state_dir)?;
        for dir in &self.share.dirs {
            not_empty("share.dirs", dir)?;
        }
        not_empty("download.dir", &self.download.dir)?;
        if let Some(file) = &self.peers.file {
            not_empty("peers.file", file)?;
        }
        for dir in &self.plugins.dirs {
            not_empty("plugins.dirs", dir)?;
        }
        self.node.listen = listen_address(&self.node.listen).map_err(|m| bad("node.listen", m))?;
        let s = &self.server;
        if s.max_connections == 0 {
            return Err(bad("server.max_connections", "must be at least 1"));
        }
        if s.max_request_bytes < 64 {
            return Err(bad("server.max_request_bytes", "must be at least 64"));
        }
        if s.max_read_bytes == 0 {
            return Err(bad("server.max_read_bytes", "must be at least 1"));
        }
        if self.discovery.dht && self.discovery.dht_bootstrap.is_empty() {
            return Err(bad(
                "discovery.dht_bootstrap",
                "dht = true needs peers to join through (their addresses), or [\"public\"]",
            ));
        }
        if self.download.max_active == 0 {
            return Err(bad("download.max_active", "must be at least 1"));
        }
        if s.upload_slots == 0 {
            return Err(bad("server.upload_slots", "must be at least 1"));
        }
        if self.download.stall_timeout_s == 0 {
            return Err(bad("download.stall_timeout_s", "must be at least 1"));
        }
        crate::content::AllowList::parse(&s.allow)
            .map_err(|e| bad("server.allow", e.to_string()))?;
        for addr in &self.peers.addrs {
            crate::content::PeerAddr::parse_pinned(addr)
                .map_err(|e| bad("peers.addrs", e.to_string()))?;
        }
        for id in &s.allow_ids {
            crate::content::PeerId::parse(id)
                .map_err(|e| bad("server.allow_ids", e.to_string()))?;
        }
        if !s.p2p2 && (s.require_encryption || !s.allow_ids.is_empty()) {
            return Err(bad(
                "server.p2p2",
                "false leaves nothing to serve with require_encryption or allow_ids",
            ));
        }
        self.resolve_paths(base);
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = normalize(&base.join(&*p));
            }
        };
        resolve(&mut self.node.state_dir);
        self.share.dirs.iter_mut().for_each(resolve);
        resolve(&mut self.download.dir);
        if let Some(file) = self.peers.file.as_mut() {
            resolve(file);
        }
        self.plugins.dirs.iter_mut().for_each(resolve);
    }

    /// The folders this peer shares: `share.dirs`, plus the download folder unless
    /// `download.share = false`.
    pub fn share_roots(&self) -> Vec<PathBuf> {
        let mut roots = self.share.dirs.clone();
        if self.download.share && !roots.contains(&self.download.dir) {
            roots.push(self.download.dir.clone());
        }
        roots
    }
}

/// Removes `.` and `..` components lexically (the folder may not exist yet).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `listen` as `host:port`, with the port 12000 when none is given, as for peer
/// addresses (port 0 is allowed here: any free port). The host is a name or an IP
/// address; digits that are no dotted IPv4 address (`12`, `0x7f000001`) are refused,
/// because the system resolver would turn them into some unexpected IPv4 address.
pub fn listen_address(text: &str) -> Result<String, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not host or host:port (e.g. \"0.0.0.0:{DEFAULT_PORT}\")");
    let (host, port, v6) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
        };
        (host, port, true)
    } else if text.matches(':').count() > 1 {
        (text, None, true)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (text, None, false),
        }
    };
    let valid_host = if v6 {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        let looks_numeric = host.starts_with(|c: char| c.is_ascii_digit())
            && host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | 'x' | 'X'));
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            && (!looks_numeric || host.parse::<std::net::Ipv4Addr>().is_ok())
    };
    if !valid_host {
        return Err(bad());
    }
    let port = match port {
        Some(port) => port.parse::<u16>().map_err(|_| bad())?,
        None => DEFAULT_PORT,
    };
    Ok(if v6 {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<LoadedConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2p.conf");
        std::fs::write(&path, text).unwrap();
        load(Some(&path))
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2p.conf");
        std::fs::write(
            &path,
            "[share]\ndirs = [\"./a\"]\n[download]\ndir = \"dl\"\n",
        )
        .unwrap();
        let loaded = load(Some(&path)).unwrap();
        let base = absolute(dir.path());
        assert_eq!(loaded.settings.share.dirs, vec![base.join("a")]);
        assert_eq!(loaded.settings.download.dir, base.join("dl"));
        assert_eq!(loaded.settings.server.max_connections, 256);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let err = load_text("[node]\nnmae = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("nmae"), "{err}");
        let err = load_text("[server]\nmax_connections = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_connections"), "{err}");
        let err = load_text("[node\n").unwrap_err().to_string();
        assert!(err.contains("p2p.conf"), "{err}");
        let err = load_text("[peers]\naddrs = [\"host:notaport\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("peers.addrs"), "{err}");
    }

    fn with_env(text: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: Vec<EnvVar> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        build(Some(text), &vars, "f.conf", Path::new("/base"))
    }

    #[test]
    fn values_are_never_converted_to_another_type() {
        for text in [
            "[download]\ndir = 42\n",
            "[node]\nname = 42\n",
            "[share]\ndirs = [7]\n",
            "[share]\nhidden = 1\n",
            "[download]\nshare = \"yes\"\n",
            "[download]\nstall_timeout_s = 1.5\n",
            "[server]\nmax_connections = \"5\"\n",
            "[server]\nmax_connections = -1\n",
        ] {
            let err = parse_text(text, "f.conf", Path::new("/base"));
            assert!(err.is_err(), "{text} was accepted");
        }
    }

    #[test]
    fn the_environment_overrides_the_file_with_values_of_the_right_type() {
        let settings = with_env(
            "[server]\nmax_connections = 9\n[share]\ndirs = [\"x\"]\n",
            &[
                ("P2P_SERVER__MAX_CONNECTIONS", "5"),
                ("P2P_SHARE__HIDDEN", "true"),
                ("P2P_SHARE__DIRS", "a, /b"),
                ("P2P_NODE__NAME", "42"),
                ("P2P_NODE__LISTEN", "127.0.0.1"),
            ],
        )
        .unwrap();
        assert_eq!(settings.server.max_connections, 5);
        assert!(settings.share.hidden);
        assert_eq!(
            settings.share.dirs,
            [PathBuf::from("/base/a"), PathBuf::from("/b")]
        );
        assert_eq!(settings.node.name, "42");
        assert_eq!(settings.node.listen, "127.0.0.1:12000");
    }

    #[test]
    fn environment_errors_name_the_variable_and_not_the_file() {
        for (variable, value) in [
            ("P2P_NODE__BOGUS", "x"),
            ("P2P_SHARE__HIDDEN", "1"),
            ("P2P_SERVER__MAX_CONNECTIONS", "five"),
            ("P2P_SERVER__MAX_CONNECTIONS", "0"),
            ("P2P_SHARE__DIRS", ""),
            ("P2P_NODE__X__Y", "1"),
        ] {
            let err = with_env("", &[(variable, value)]).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("environment variable {variable}: ")),
                "{err}"
            );
            assert!(!err.contains("f.conf"), "{err}");
        }
    }

    #[test]
    fn empty_paths_are_errors() {
        for text in [
            "[share]\ndirs = [\"\"]\n",
            "[download]\ndir = \"\"\n",
            "[node]\nstate_dir = \"\"\n",
        ] {
            let err = parse_text(text, "f.conf", Path::new("/base"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("empty path"), "{err}");
        }
    }

    #[test]
    fn the_commented_sample_is_valid() {
        let sample = include_str!("../p2p.conf");
        let settings = parse_text(sample, "p2p.conf", Path::new("/base")).unwrap();
        assert_eq!(settings.node.listen, "0.0.0.0:12000");
    }

    #[test]
    fn listen_addresses_get_the_default_port() {
        assert_eq!(listen_address("0.0.0.0").unwrap(), "0.0.0.0:12000");
        assert_eq!(listen_address("127.0.0.1:0").unwrap(), "127.0.0.1:0");
        assert_eq!(listen_address("localhost:9").unwrap(), "localhost:9");
        assert_eq!(listen_address("::").unwrap(), "[::]:12000");
        assert_eq!(listen_address("[::1]:5").unwrap(), "[::1]:5");
        for bad in [
            "",
            "12",
            "0x7f000001",
            "127.0.0.1:x",
            "h:70000",
            "a b",
            "[::1",
            "[zz]:1",
        ] {
            assert!(listen_address(bad).is_err(), "{bad:?} accepted");
        }
    }
}
