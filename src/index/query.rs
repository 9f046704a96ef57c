//! Matching a search query against a shared file: with `*` or `?` in it, a glob over the
//! whole name; otherwise a substring. Both case-insensitive. A pattern holding `/` is
//! matched against the path relative to the share root (`nested/deeper/deep.txt`)
//! instead of the name, so that folders can be searched too.

use wildmatch::WildMatch;

#[derive(Debug)]
pub struct Query {
    matcher: Matcher,
    /// The pattern names a path (it holds `/`), not a file name.
    on_path: bool,
}

#[derive(Debug)]
enum Matcher {
    Glob(WildMatch),
    Substring(String),
}

impl Query {
    pub fn new(pattern: &str) -> Query {
        let matcher = if pattern.contains(['*', '?']) {
            Matcher::Glob(WildMatch::new_case_insensitive(pattern))
        } else {
            Matcher::Substring(pattern.to_lowercase())
        };
        Query {
            matcher,
            on_path: pattern.contains('/'),
        }
    }

    /// Whether a file of this `name` at this `path` (relative to its share root,
    /// `/`-separated) matches.
    pub fn matches_file(&self, name: &str, path: &str) -> bool {
        self.matches(if self.on_path { path } else { name })
    }

    fn matches(&self, text: &str) -> bool {
        match &self.matcher {
            Matcher::Glob(glob) => glob.matches(text),
            Matcher::Substring(needle) => text.to_lowercase().contains(needle.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_and_glob_ignore_case() {
        assert!(Query::new("PORT").matches("report.pdf"));
        assert!(!Query::new("x").matches("report.pdf"));
        assert!(Query::new("*.PDF").matches("report.pdf"));
        assert!(!Query::new("*.pdf").matches("report.pdf.txt"));
        assert!(Query::new("rep?rt*").matches("Report.pdf"));
        assert!(Query::new("").matches("anything"));
    }

    #[test]
    fn a_pattern_with_a_slash_matches_the_path() {
        let (name, path) = ("deep.txt", "nested/deeper/deep.txt");
        assert!(Query::new("deep").matches_file(name, path));
        assert!(!Query::new("deeper").matches_file(name, path));
        assert!(Query::new("deeper/").matches_file(name, path));
        assert!(Query::new("NESTED/deeper/deep.txt").matches_file(name, path));
        assert!(Query::new("nested/*.txt").matches_file(name, path));
        assert!(!Query::new("sub/x").matches_file(name, path));
    }
}
