//! What a command returns: one JSON object (what `--json` prints) and the same facts
//! for people, as tables and lines. Commands never print; the shell renders this.

use serde_json::Value;

#[derive(Debug, Clone)]
pub enum Block {
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Line(String),
}

#[derive(Debug, Clone)]
pub struct Output {
    pub json: Value,
    pub blocks: Vec<Block>,
    /// The command asks the shell to end (`quit`).
    pub quit: bool,
}

impl Output {
    pub fn new(json: Value) -> Output {
        Output {
            json,
            blocks: Vec::new(),
            quit: false,
        }
    }

    pub fn line(mut self, text: impl Into<String>) -> Output {
        self.blocks.push(Block::Line(text.into()));
        self
    }

    pub fn table(mut self, header: &[&str], rows: Vec<Vec<String>>) -> Output {
        self.blocks.push(Block::Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        });
        self
    }
}

/// `1.5 MiB`-style sizes for tables.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024 * 1024), "1.0 MiB");
        assert_eq!(human_bytes(300 * 1024 * 1024), "300.0 MiB");
    }
}
