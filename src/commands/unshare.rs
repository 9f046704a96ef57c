//! `unshare DIR`: stop sharing a folder, now and in the config file.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use clap::Args;

use super::share::share_table;
use super::{from_matches, Command, CommandError, CommandResult, Context};
use crate::config::edit;
use crate::runtime;

pub struct Unshare;

#[derive(Args)]
struct UnshareArgs {
    /// A shared folder
    dir: PathBuf,
}

impl Command for Unshare {
    fn name(&self) -> &'static str {
        "unshare"
    }

    fn summary(&self) -> &'static str {
        "stop sharing a folder"
    }

    fn examples(&self) -> &'static [&'static str] {
        &["unshare ~/Music"]
    }

    fn args(&self) -> clap::Command {
        UnshareArgs::augment_args(clap::Command::new("unshare"))
            .about("Stop sharing DIR (saved to the config file)")
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: UnshareArgs = from_matches(&matches)?;
        let shares = ctx.node.shares()?;
        let given = crate::config::absolute(&args.dir);
        let real = std::fs::canonicalize(&args.dir).ok();
        let root = shares
            .roots()
            .into_iter()
            .find(|r| *r == given || Some(r) == real.as_ref() || r.canonicalize().ok() == real)
            .ok_or_else(|| CommandError::Failed(anyhow!("{} is not shared", args.dir.display())))?;
        shares.remove_root(&root);
        // The download folder is shared by `download.share`, not by `share.dirs` (or by
        // both): unsharing it turns that off too, or the next start would share it again.
        let is_download_dir = same_folder(&root, &ctx.node.settings.download.dir);
        if is_download_dir {
            ctx.node.settings.download.share = false;
        }
        let scanner = shares.clone();
        ctx.node
            .run(runtime::spawn_blocking(move || scanner.scan()))?;
        if let Some(file) = &ctx.node.config_file {
            let base = file.parent().map(PathBuf::from).unwrap_or_default();
            edit::remove_from_list(file, "share", "dirs", |v| {
                same_folder(&crate::config::normalize(&base.join(v)), &root)
            })
            .context("unshared for this ctx, but not saved")?;
            if is_download_dir {
                edit::set_bool(file, "download", "share", false)
                    .context("unshared for this ctx, but not saved")?;
            }
        }
        let mut line = format!("stopped sharing {}", root.display());
        if is_download_dir {
            line.push_str(" (the download folder: download.share = false)");
        }
        Ok(share_table(ctx)?.line(line))
    }
}

/// Whether two paths name the same folder: equal as written, or once resolved.
pub fn same_folder(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}
