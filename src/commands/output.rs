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

/// Text from the network made safe to show: control characters (C0, DEL, C1) and the
/// bidirectional overrides that can disguise a name appear visibly, as `\x1b` or
/// `\u{202e}`, so that nothing a peer sends can move the cursor, retitle the terminal
/// or split a line. With `keep_newlines`, `\n` stays (trusted multi-line text such as
/// help); everything else is escaped. `--json` never goes through this: it carries the
/// exact strings.
pub fn escape_control(text: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(keep_newlines && c == '\n'))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    std::borrow::Cow::Owned(out)
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

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(escape_control("plain.txt", false), "plain.txt");
        assert_eq!(
            escape_control("esc\x1b[31mred.txt", false),
            "esc\\x1b[31mred.txt"
        );
        assert_eq!(
            escape_control("evil\x1b]0;PWNED\x07\x1b[2J", false),
            "evil\\x1b]0;PWNED\\x07\\x1b[2J"
        );
        assert_eq!(escape_control("a\nb", false), "a\\x0ab");
        assert_eq!(escape_control("a\nb", true), "a\nb");
        assert_eq!(
            escape_control("\u{9b}2J \u{202e}txt", false),
            "\\u{9b}2J \\u{202e}txt"
        );
        assert_eq!(escape_control("naïve café", false), "naïve café");
    }
}
