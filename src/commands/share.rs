//! `share` lists the shared folders; `share DIR` adds one, now and in the config file.

use std::path::PathBuf;

use anyhow::{anyhow, Context as _};
use clap::Args;
use serde_json::json;

use super::unshare::same_folder;
use super::{from_matches, human_bytes, Command, CommandError, CommandResult, Context, Output};
use crate::config::edit;
use crate::runtime;

pub struct Share;

#[derive(Args)]
struct ShareArgs {
    /// A folder to share (saved to the config file)
    dir: Option<PathBuf>,
}

impl Command for Share {
    fn name(&self) -> &'static str {
        "share"
    }

    fn summary(&self) -> &'static str {
        "list shared folders (files, bytes, % hashed), or share one more"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["share", "share ~/Music"]
    }

    fn args(&self) -> clap::Command {
        ShareArgs::augment_args(clap::Command::new("share"))
            .about("List the shared folders, or add DIR to them (saved to the config file)")
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: ShareArgs = from_matches(&matches)?;
        let Some(dir) = args.dir else {
            return list(ctx);
        };
        let dir = std::fs::canonicalize(&dir)
            .ok()
            .filter(|d| d.is_dir())
            .ok_or_else(|| CommandError::Failed(anyhow!("{} is not a folder", dir.display())))?;
        let shares = ctx.node.shares()?;
        if !shares.add_root(dir.clone()) {
            return Ok(list(ctx)?.line(format!("{} is already shared", dir.display())));
        }
        // The download folder is shared through `download.share` (which also lists each
        // new download at once), the way `unshare` of it turns that off.
        let is_download_dir = same_folder(&dir, &ctx.node.settings.download.dir);
        if is_download_dir {
            ctx.node.settings.download.share = true;
        }
        let scanner = shares.clone();
        let report = ctx
            .node
            .run(runtime::spawn_blocking(move || scanner.scan()))?;
        if let Some(file) = &ctx.node.config_file {
            let saved = if is_download_dir {
                edit::set_bool(file, "download", "share", true)
            } else {
                edit::add_to_list(file, "share", "dirs", &dir.display().to_string())
            };
            saved.context("shared for this ctx, but not saved")?;
        }
        Ok(list(ctx)?.line(format!(
            "sharing {} ({} hashed now, {} from cache)",
            dir.display(),
            super::count(report.hashed as u64, "file", "files"),
            report.cached
        )))
    }
}

/// The table of shared folders.
pub fn list(ctx: &mut Context<'_>) -> Result<Output, CommandError> {
    let shares = ctx.node.shares()?;
    let stats = shares.root_stats();
    let rows = stats
        .iter()
        .map(|s| {
            let total = s.files + s.unhashed;
            let percent = if total == 0 {
                100.0
            } else {
                s.files as f64 * 100.0 / total as f64
            };
            vec![
                s.root.display().to_string(),
                if s.exists {
                    s.files.to_string()
                } else {
                    "missing".into()
                },
                human_bytes(s.bytes),
                format!("{percent:.0}%"),
            ]
        })
        .collect();
    let json_rows: Vec<_> = stats
        .iter()
        .map(|s| {
            let total = s.files + s.unhashed;
            json!({
                "dir": s.root.display().to_string(), "exists": s.exists, "files": s.files,
                "bytes": s.bytes, "unhashed": s.unhashed,
                "hashed_percent": if total == 0 { 100.0 } else { s.files as f64 * 100.0 / total as f64 },
            })
        })
        .collect();
    Ok(Output::new(json!({ "shares": json_rows }))
        .table(&["folder", "files", "bytes", "hashed"], rows))
}

// `unshare` and `rescan` reuse the table.
pub use list as share_table;
