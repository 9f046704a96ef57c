//! Saving `peers add/remove` and `share/unshare` back to the config file in use, with
//! `toml_edit` so that the user's comments, order and layout survive. The file is
//! rewritten through a temporary file and a rename, never left half-written.

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

/// Sets `section.key` to the boolean `value`, keeping the comment and layout around it
/// (a new key goes at the end of its table; a missing table at the end of the file).
pub fn set_bool(file: &Path, section: &str, key: &str, value: bool) -> Result<()> {
    let mut doc = read_document(file)?;
    let table = section_mut(&mut doc, file, section)?;
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) => {
            // Replacing the value alone would drop its decor: its spacing and `# comment`.
            let decor = old.decor().clone();
            *old = Value::from(value);
            *old.decor_mut() = decor;
        }
        None => {
            table.insert(key, toml_edit::value(value));
        }
    }
    write_atomically(file, doc.to_string().as_bytes())
}

/// `[section]`, added at the end of the file if it is not there.
fn section_mut<'d>(doc: &'d mut DocumentMut, file: &Path, section: &str) -> Result<&'d mut Table> {
    if !doc.contains_key(section) {
        // Comments after the last table are the document's trailing text, printed after
        // every table: keep them above the new table, where they were.
        let trailing = doc.trailing().as_str().unwrap_or("").to_string();
        doc.set_trailing("");
        let mut table = Table::new();
        table.decor_mut().set_prefix(trailing);
        doc.insert(section, Item::Table(table));
    }
    doc.get_mut(section)
        .and_then(Item::as_table_mut)
        .with_context(|| format!("{}: [{section}] is not a table", file.display()))
}

/// The config file as `toml_edit` keeps it: comments and layout included.
fn read_document(file: &Path) -> Result<DocumentMut> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    text.parse()
        .with_context(|| format!("cannot parse {}", file.display()))
}

fn edit_list(file: &Path, section: &str, key: &str, edit: impl FnOnce(&mut Array)) -> Result<()> {
    let mut doc = read_document(file)?;
    let table = section_mut(&mut doc, file, section)?;
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
    crate::atomic_file::write(file, bytes, true)
        .with_context(|| format!("cannot replace {}", file.display()))
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

    #[test]
    fn a_boolean_is_set_in_place_with_its_comment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p2p.conf");
        let text = "# top\n[download]\ndir = \"dl\"   # where\nshare = true      # shared\n\n[peers]\naddrs = []\n";
        std::fs::write(&file, text).unwrap();
        set_bool(&file, "download", "share", false).unwrap();
        let after = std::fs::read_to_string(&file).unwrap();
        assert_eq!(after, text.replace("share = true", "share = false"));
        // A key or a table that is not there yet is added.
        std::fs::write(&file, "# only a comment\n").unwrap();
        set_bool(&file, "download", "share", false).unwrap();
        let after = std::fs::read_to_string(&file).unwrap();
        assert_eq!(after, "# only a comment\n[download]\nshare = false\n");
    }
}
