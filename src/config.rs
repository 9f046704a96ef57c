//! Settings, loaded in layers: built-in defaults < the file (`--config`, else
//! `./p2p.conf`, else the user's config dir) < `P2P_SECTION__KEY` environment < flags.
//!
//! Unknown keys are errors (they are usually typos), and every error names the file and
//! the key. Relative paths in the file are relative to the file's folder (to the current
//! folder when no file is in use). This module only reads; saving edits back is
//! [`crate::config_edit`]'s job.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::protocol::DEFAULT_PORT;

pub const CONFIG_FILE_NAME: &str = "p2p.conf";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("cannot read {file}: {source}")]
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
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PeerSettings {
    pub addrs: Vec<String>,
    pub file: Option<PathBuf>,
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
    let file = locate(explicit);
    let label = file
        .as_ref()
        .map_or_else(|| "environment".to_string(), |f| f.display().to_string());
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
    let settings = build(text.as_deref(), Some(environment()), &label, &base)?;
    Ok(LoadedConfig {
        settings,
        file: file.map(|f| absolute(&f)),
    })
}

/// Settings from the text of a config file alone (no environment), as `label` says
/// where it came from and `base` resolves its relative paths. What fuzzing drives.
pub fn parse_text(text: &str, label: &str, base: &Path) -> Result<Settings, ConfigError> {
    build(Some(text), None, label, base)
}

fn build(
    text: Option<&str>,
    environment: Option<config::Environment>,
    label: &str,
    base: &Path,
) -> Result<Settings, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(text) = text {
        builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
    }
    if let Some(environment) = environment {
        builder = builder.add_source(environment);
    }
    let invalid = |message: String| ConfigError::Invalid {
        file: label.to_string(),
        message,
    };
    let mut settings: Settings = builder
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| invalid(one_line(&e.to_string())))?;
    settings.resolve_paths(base);
    settings.validate().map_err(invalid)?;
    Ok(settings)
}

/// `P2P_NODE__LISTEN=…` style variables. Only names with a `__` are settings: `P2P_BIN`
/// and `P2P_CONFIG`, which plugins receive, are not.
fn environment() -> config::Environment {
    let vars: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("P2P_") && k[4..].contains("__"))
        .collect();
    config::Environment::with_prefix("P2P")
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("share.dirs")
        .with_list_parse_key("peers.addrs")
        .with_list_parse_key("server.allow")
        .with_list_parse_key("plugins.dirs")
        .source(Some(vars))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `path` made absolute against the current folder, without touching the disk.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Settings {
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

    fn validate(&self) -> Result<(), String> {
        let s = &self.server;
        if s.max_connections == 0 {
            return Err("server.max_connections must be at least 1".into());
        }
        if s.max_request_bytes < 64 {
            return Err("server.max_request_bytes must be at least 64".into());
        }
        if self.download.stall_timeout_s == 0 {
            return Err("download.stall_timeout_s must be at least 1".into());
        }
        if s.max_read_bytes == 0 {
            return Err("server.max_read_bytes must be at least 1".into());
        }
        crate::server::AllowList::parse(&s.allow)?;
        for addr in &self.peers.addrs {
            crate::client::PeerAddr::parse(addr).map_err(|e| format!("peers.addrs: {e}"))?;
        }
        Ok(())
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
}
