//! `rescan`: walk the shared folders again and hash what is new or changed.

use clap::Args;
use serde_json::json;

use super::{count, Command, CommandResult, Context, Output};

pub struct Rescan;

#[derive(Args)]
struct RescanArgs {}

impl Command for Rescan {
    fn name(&self) -> &'static str {
        "rescan"
    }

    fn summary(&self) -> &'static str {
        "re-index the shared folders (only new or changed files are hashed)"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["rescan"]
    }

    fn args(&self) -> clap::Command {
        RescanArgs::augment_args(clap::Command::new("rescan"))
            .about("Walk the shared folders again; hash only files that are new or changed")
    }

    fn run(&self, ctx: &mut Context<'_>, _matches: clap::ArgMatches) -> CommandResult {
        let report = ctx.node.rescan()?;
        let failed: Vec<_> = report
            .failed
            .iter()
            .map(|(p, e)| json!({ "path": p.display().to_string(), "error": e }))
            .collect();
        let mut output = Output::new(json!({
            "files": report.files, "bytes": report.bytes, "hashed": report.hashed,
            "cached": report.cached, "failed": failed,
        }))
        .line(format!(
            "{}: {} hashed, {} unchanged (from cache)",
            count(report.files as u64, "file", "files"),
            report.hashed,
            report.cached
        ));
        for (path, error) in &report.failed {
            output = output.line(format!("not shared: {}: {error}", path.display()));
        }
        Ok(output)
    }
}
