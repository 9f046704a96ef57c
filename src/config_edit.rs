//! Saving `peers add/remove` and `share/unshare` back to the config file in use, with
//! `toml_edit` so that the user's comments, order and layout survive. The file is
//! rewritten through a temporary file and a rename, never left half-written.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use toml_edit::{Array, DocumentMut, Item, Table, Value};

/// Adds `value` to the string array `section.key` unless it is there.
pub fn add_to_list(file: &Path, section: &str, key: &str, value: &str) -> Result<()> {
    edit_list(file, section, key, |list| {
        if !list.iter().any(|v| v.as_str() == Some(value)) {
            list.push(value);
        }
    })
}

/// Removes every `value` for which `matches` holds from the array `section.key`.
pub fn remove_from_list(
    file: &Path,
    section: &str,
    key: &str,
    matches: impl Fn(&str) -> bool,
) -> Result<()> {
    edit_list(file, section, key, |list| {
        list.retain(|v| !v.as_str().is_some_and(&matches));
    })
}

fn edit_list(file: &Path, section: &str, key: &str, edit: impl FnOnce(&mut Array)) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("cannot parse {}", file.display()))?;
    let table = doc
        .entry(section)
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_mut()
        .with_context(|| format!("{}: [{section}] is not a table", file.display()))?;
    let item = table
        .entry(key)
        .or_insert_with(|| Item::Value(Value::Array(Array::new())));
    let list = item
        .as_array_mut()
        .with_context(|| format!("{}: {section}.{key} is not a list", file.display()))?;
    edit(list);
    // Removing the first element leaves its neighbour's leading space behind: re-space.
    list.fmt();
    write_atomically(file, doc.to_string().as_bytes())
}

/// Writes `bytes` to `file` through a temporary file in the same folder and a rename.
pub fn write_atomically(file: &Path, bytes: &[u8]) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(file)
        .with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_order_survive() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p2p.conf");
        let text =
            "# my peers\n[node]\nname = \"a\" # me\n\n[peers]\naddrs = [\"10.0.0.1\"] # lan\n";
        std::fs::write(&file, text).unwrap();
        add_to_list(&file, "peers", "addrs", "10.0.0.2:12001").unwrap();
        add_to_list(&file, "share", "dirs", "/srv").unwrap();
        let after = std::fs::read_to_string(&file).unwrap();
        assert!(after.starts_with("# my peers\n[node]\nname = \"a\" # me\n"));
        assert!(after.contains("addrs = [\"10.0.0.1\", \"10.0.0.2:12001\"] # lan"));
        assert!(after.contains("[share]\ndirs = [\"/srv\"]"));
        remove_from_list(&file, "peers", "addrs", |v| v == "10.0.0.1").unwrap();
        let after = std::fs::read_to_string(&file).unwrap();
        assert!(!after.contains("10.0.0.1\""), "{after}");
        assert!(after.contains("10.0.0.2:12001"));
    }
}
