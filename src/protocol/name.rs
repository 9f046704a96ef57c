//! Making a file name from the network safe to create on disk.
//!
//! Names are never refused for their looks, only made safe: keep the last path
//! component (after `/` or `\`), drop C0, C1 and DEL control characters, trim
//! surrounding spaces, and cut what is too long for a file system. What is left empty,
//! `.` or `..` becomes the first 16 hex digits of the content's hash.

use crate::content::hash::ContentHash;

/// Longest name we create, in bytes; file systems take 255.
const MAX_NAME_BYTES: usize = 200;

pub fn sanitize(name: &str, hash: &ContentHash) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim();
    let short = shorten(trimmed);
    match short.as_str() {
        "" | "." | ".." => hash.short(),
        _ => short,
    }
}

/// Text from the network made fit for one line of a terminal: control characters
/// escaped (`\n`, `\u{1b}`), and cut to 80 characters.
pub fn printable(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == 80 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    format!("\"{out}\"")
}

/// Cuts a long name to [`MAX_NAME_BYTES`], keeping a short extension if it has one.
fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let ext = match name.rfind('.') {
        Some(dot) if name.len() - dot <= 16 => &name[dot..],
        _ => "",
    };
    let mut stem_end = MAX_NAME_BYTES - ext.len();
    while !name.is_char_boundary(stem_end) {
        stem_end -= 1;
    }
    format!("{}{}", name[..stem_end].trim_end(), ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(name: &str) -> String {
        sanitize(name, &ContentHash::of(b"x"))
    }

    #[test]
    fn paths_and_controls_are_removed() {
        let fallback = ContentHash::of(b"x").short();
        assert_eq!(clean("../../etc/passwd"), "passwd");
        assert_eq!(clean("/etc/passwd"), "passwd");
        assert_eq!(clean("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(clean("a\u{0}b\u{1b}[31mc\u{7f}\u{85}.txt"), "ab[31mc.txt");
        assert_eq!(clean("  spaced  "), "spaced");
        assert_eq!(clean(".."), fallback);
        assert_eq!(clean("dir/"), fallback);
        assert_eq!(clean(""), fallback);
        assert_eq!(clean("CON"), "CON");
    }

    #[test]
    fn printable_escapes_controls() {
        assert_eq!(printable("HTTP/1.1 400\r\nX"), "\"HTTP/1.1 400\\r\\nX\"");
        assert!(!printable("\u{1b}[31m").contains('\u{1b}'));
    }

    #[test]
    fn long_names_are_cut_on_a_char_boundary() {
        let long = format!("{}.tar.gz", "é".repeat(5000));
        let short = clean(&long);
        assert!(short.len() <= MAX_NAME_BYTES);
        assert!(short.ends_with(".gz"));
    }
}
