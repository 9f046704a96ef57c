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
//! `edit`'s job.
//!
//! The parts: `settings` (the sections, their defaults and the checks no type can
//! express), `layers` (each layer checked alone, key by key), `edit` (commands'
//! changes saved back to the file).

pub(crate) mod edit;
mod layers;
mod settings;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

use layers::{config_value, environment, file_layer, plain, variable_key, variable_value, EnvVar};
pub use settings::{
    DiscoverySettings, DownloadSettings, NodeSettings, PeerSettings, PluginSettings,
    ServerSettings, Settings, ShareSettings,
};

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
    let mut merged = ::config::Config::builder();
    if let Some(text) = text {
        file_layer(text).map_err(|r| in_file(r.0))?;
        merged = merged.add_source(::config::File::from_str(text, ::config::FileFormat::Toml));
    }
    // Which variable set a key, so that a later check blames it and not the file.
    let mut from_variable: HashMap<String, String> = HashMap::new();
    for (variable, value) in environment {
        let in_variable = |message: String| ConfigError::Environment {
            variable: variable.clone(),
            message,
        };
        let (section, key) = variable_key(variable).map_err(|r| in_variable(r.0))?;
        let value = variable_value(&section, &key, value).map_err(|r| in_variable(r.0))?;
        let path = format!("{section}.{key}");
        merged = merged
            .set_override(path.clone(), config_value(value))
            .map_err(|e| in_variable(plain(&e.to_string())))?;
        from_variable.insert(path, variable.clone());
    }
    // Each layer passed alone, so the merge passes too; were it ever not to, this is
    // still an error and not a panic.
    let mut settings: Settings = merged
        .build()
        .and_then(|config| config.try_deserialize())
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

/// `path` made absolute against the current folder, without touching the disk.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
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
        let sample = include_str!("../../p2p.conf");
        let settings = parse_text(sample, "p2p.conf", Path::new("/base")).unwrap();
        assert_eq!(settings.node.listen, "0.0.0.0:12000");
    }
}
