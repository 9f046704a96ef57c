//! Matching a search query against a file name: with `*` or `?` in it, a glob over the
//! whole name; otherwise a substring. Both case-insensitive.

use wildmatch::WildMatch;

#[derive(Debug)]
pub enum Query {
    Glob(WildMatch),
    Substring(String),
}

impl Query {
    pub fn new(pattern: &str) -> Query {
        if pattern.contains(['*', '?']) {
            Query::Glob(WildMatch::new_case_insensitive(pattern))
        } else {
            Query::Substring(pattern.to_lowercase())
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Query::Glob(glob) => glob.matches(name),
            Query::Substring(needle) => name.to_lowercase().contains(needle.as_str()),
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
}
