//! `files [PATTERN]`: what this peer itself shares.

use clap::Args;
use serde_json::json;

use super::{count, from_matches, human_bytes, Command, CommandResult, Context, Output};
use crate::index::Query;

pub struct Files;

#[derive(Args)]
struct FilesArgs {
    /// Only files matching this (substring, or glob with * and ?)
    pattern: Option<String>,
}

impl Command for Files {
    fn name(&self) -> &'static str {
        "files"
    }

    fn summary(&self) -> &'static str {
        "list what this peer shares"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["files", "files '*.iso'"]
    }

    fn args(&self) -> clap::Command {
        FilesArgs::augment_args(clap::Command::new("files"))
            .about("List the files this peer shares, optionally only those matching PATTERN")
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: FilesArgs = from_matches(&matches)?;
        let catalog = ctx.node.shares()?.catalog();
        let query = Query::new(args.pattern.as_deref().unwrap_or(""));
        let (files, _) = catalog.search(&query, usize::MAX);
        ctx.node.last_listed = files.iter().map(|f| f.sha256.to_string()).collect();
        // Whole hashes: the shell shortens them on a terminal.
        let rows = files
            .iter()
            .map(|f| vec![f.rel.clone(), human_bytes(f.size()), f.sha256.to_string()])
            .collect();
        let entries: Vec<_> = files
            .iter()
            .map(|f| {
                json!({
                    "name": f.name, "path": f.rel, "root": f.root.display().to_string(),
                    "size": f.size(), "sha256": f.sha256.to_string(), "modified": f.modified(),
                })
            })
            .collect();
        let total: u64 = files.iter().map(|f| f.size()).sum();
        Ok(Output::new(json!({ "files": entries }))
            .table(&["file", "size", "sha256"], rows)
            .line(format!(
                "{}, {}",
                count(files.len() as u64, "file", "files"),
                human_bytes(total)
            )))
    }
}
