//! Each layer of the settings (the file, each `P2P_SECTION__KEY` variable) checked
//! alone, key by key, before the `config` crate merges them: every key must exist and
//! hold a value of its type as it is, so that nothing is silently converted.
//!
//! It only checks and explains; it never decides which layer wins (that is the merge
//! in [`super`]) and never reads a file.

use serde::Deserialize;
use thiserror::Error;

use super::{ConfigError, Settings};

/// What is wrong with one key or section of a layer, as one line for a person that
/// names the key.
#[derive(Debug, Error)]
#[error("{0}")]
pub(super) struct Rejected(pub(super) String);

/// One `P2P_SECTION__KEY=value` variable.
pub(super) type EnvVar = (String, String);

/// A checked TOML value as the `config` crate holds one.
pub(super) fn config_value(value: toml::Value) -> ::config::Value {
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
pub(super) fn file_layer(text: &str) -> Result<toml::Table, Rejected> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // Counted in bytes: a span need not fall on a character boundary.
        let line = e.span().map(|span| {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            before.iter().filter(|&&b| b == b'\n').count() + 1
        });
        Rejected(match line {
            Some(line) => format!("line {line}: {}", one_line(e.message())),
            None => one_line(e.message()),
        })
    })?;
    for (section, value) in &table {
        check_alone(section, None, &toml::Value::Table(toml::Table::new()))?;
        let toml::Value::Table(keys) = value else {
            return Err(Rejected(format!(
                "key {section}: expected a table [{section}], found {}",
                value.type_str()
            )));
        };
        for (key, value) in keys {
            check_alone(section, Some(key), value)?;
        }
    }
    Ok(table)
}

/// Deserializes `section.key = value` (or an empty `[section]`) alone into [`Settings`]:
/// both names must exist and the value must have the key's type, as it is.
fn check_alone(section: &str, key: Option<&str>, value: &toml::Value) -> Result<(), Rejected> {
    let inner = match key {
        Some(key) => toml::Table::from_iter([(key.to_string(), value.clone())]),
        None => toml::Table::new(),
    };
    let outer = toml::Table::from_iter([(section.to_string(), toml::Value::Table(inner))]);
    match Settings::deserialize(outer) {
        Ok(_) => Ok(()),
        Err(e) => Err(Rejected(explain(section, key, e.message()))),
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
pub(super) fn plain(message: &str) -> String {
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
pub(super) fn variable_key(variable: &str) -> Result<(String, String), Rejected> {
    let rest = variable.strip_prefix("P2P_").unwrap_or(variable);
    match rest.split("__").collect::<Vec<_>>()[..] {
        [section, key] if !section.is_empty() && !key.is_empty() => {
            Ok((section.to_lowercase(), key.to_lowercase()))
        }
        _ => Err(Rejected(
            "not a setting (want P2P_SECTION__KEY, e.g. P2P_NODE__LISTEN)".into(),
        )),
    }
}

/// A variable's text as the value `section.key` takes. The environment has only
/// strings, so the text is tried as a string, then as a TOML scalar (`true`, `5`),
/// then as a comma-separated list; the first that has the key's type wins. Nothing is
/// converted that the key would not take as it is: `P2P_SHARE__HIDDEN=1` is an error.
pub(super) fn variable_value(
    section: &str,
    key: &str,
    text: &str,
) -> Result<toml::Value, Rejected> {
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
pub(super) fn environment() -> Result<Vec<EnvVar>, ConfigError> {
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
