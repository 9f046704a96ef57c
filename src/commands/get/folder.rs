//! `get PEER:PATH/` (or `get N` of a folder row after `browse`): every file under a
//! peer's folder, into the download folder (or `--to`) with the folder's own name on top
//! and its structure below (DESIGN §9).
//!
//! The peer's listing is walked first (bounded, see `client::browse`); each name becomes
//! a safe path component or the file is refused and counted as failed. Each file is then
//! one transfer of the node — verified, never overwriting (`name (1).ext`), at most
//! `max_active` at once — and the command waits for them all (with `&`, it returns
//! their numbers at once). One summary line; `--json` gives each file's outcome.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use serde_json::json;

use super::{expand_home, submit, GetJob};
use crate::client::browse::{local_component, walk};
use crate::client::{PeerAddr, Target};
use crate::commands::browse::one_peer;
use crate::commands::{escape_control, human_bytes, CommandError, CommandResult, Context, Output};
use crate::index::folder_path;
use crate::node::{TransferId, TransferState};

/// `PEER:PATH/` split into the peer (a name, `host` or `host:port`) and the folder:
/// `None` for anything that is not such a folder. `host:port:path/` takes the port.
pub(super) fn target(what: &str) -> Option<(String, String)> {
    if !what.ends_with('/') {
        return None;
    }
    if let Some(rest) = what.strip_prefix('[') {
        // `[v6]:port:path/`
        let (host, after) = rest.split_once(']')?;
        let after = after.strip_prefix(':')?;
        return match after.split_once(':') {
            Some((port, path)) if port.parse::<u16>().is_ok() => {
                Some((format!("[{host}]:{port}"), path.to_string()))
            }
            _ => Some((format!("[{host}]"), after.to_string())),
        };
    }
    let (first, rest) = what.split_once(':')?;
    if let Some((port, path)) = rest.split_once(':') {
        // `host:port#ID:path/`: the port may carry a pinned ID.
        if port
            .split('#')
            .next()
            .is_some_and(|p| p.parse::<u16>().is_ok())
        {
            return Some((format!("{first}:{port}"), path.to_string()));
        }
    }
    Some((first.to_string(), rest.to_string()))
}

/// One file of the folder, and how it went.
struct Planned {
    remote: String,
    local: Option<PathBuf>,
    size: u64,
    sha256: Option<String>,
    transfer: Option<TransferId>,
    /// Why it was refused before any transfer.
    refused: Option<String>,
}

pub(super) fn get_folder(
    ctx: &mut Context<'_>,
    peer_text: &str,
    path: &str,
    to: Option<PathBuf>,
) -> CommandResult {
    let folder = folder_path(path).map_err(|e| CommandError::Usage(e.to_string()))?;
    let peer = one_peer(ctx, peer_text)?;
    let started = Instant::now();
    let (files, truncated) = ctx
        .node
        .run(walk(&peer, &folder))?
        .map_err(|e| CommandError::Failed(anyhow!(e.line())))?;
    if files.is_empty() {
        return Err(CommandError::Failed(anyhow!(
            "{peer} shares no file under {}/",
            escape_control(&folder, false)
        )));
    }
    let root = match to {
        Some(path) => expand_home(path),
        None => ctx.node.settings.download.dir.clone(),
    };
    // The folder's own name on top (the peer's address for its top level).
    let top_name = folder.rsplit('/').next().unwrap_or_default();
    let top = match local_component(top_name) {
        Ok(name) if !top_name.is_empty() => name,
        _ => local_component(&peer.to_string().replace(':', "_")).unwrap_or_else(|_| "peer".into()),
    };
    let base = root.join(&top);
    let mut planned = Vec::new();
    // Files of one content in one folder share one `.part`: the second of them waits for
    // a later wave (it lands under its own name then).
    let mut writing: std::collections::HashSet<(PathBuf, String)> = Default::default();
    let mut later: Vec<(usize, GetJob, (PathBuf, String))> = Vec::new();
    for file in files {
        let mut plan = Planned {
            remote: file.remote.clone(),
            local: None,
            size: file.size,
            sha256: file.sha256.as_ref().ok().map(|h| h.to_string()),
            transfer: None,
            refused: None,
        };
        match (&file.local, &file.sha256) {
            (Ok(parts), Ok(hash)) => {
                let dir = parts[..parts.len().saturating_sub(1)]
                    .iter()
                    .fold(base.clone(), |dir, part| dir.join(part));
                plan.local = parts.last().map(|name| dir.join(name));
                match make_dir_inside(&root, &dir) {
                    Ok(()) => {
                        let name = parts.last().cloned();
                        let key = (dir.clone(), hash.to_string());
                        let mut job = file_job(ctx, &peer, hash.to_string(), dir, &file.remote);
                        job.save_as = name;
                        if ctx.background || writing.insert(key.clone()) {
                            plan.transfer = Some(submit(ctx, job));
                        } else {
                            later.push((planned.len(), job, key));
                        }
                    }
                    Err(why) => plan.refused = Some(crate::error_chain::error_chain(&why)),
                }
            }
            (Err(why), _) | (_, Err(why)) => plan.refused = Some(why.to_string()),
        }
        planned.push(plan);
    }
    let ids: Vec<TransferId> = planned.iter().filter_map(|p| p.transfer).collect();
    if ctx.background {
        return Ok(Output::new(json!({
            "peer": peer.to_string(), "folder": folder, "target": base.display().to_string(),
            "transfers": ids, "refused": planned.iter().filter(|p| p.refused.is_some()).count(),
        }))
        .line(format!(
            "{} transfers started for {peer}:{}/ into {} (see `transfers`, `wait`)",
            ids.len(),
            escape_control(&folder, false),
            base.display()
        )));
    }
    let board = ctx.node.transfers.clone();
    let interrupt = ctx.node.interrupt().clone();
    let mut ids = ids;
    let mut wave = ids.clone();
    loop {
        if board.wait(Some(&wave), || interrupt.pending()).is_none() {
            for id in &ids {
                board.cancel(&crate::node::Which::Id(*id));
            }
            let _ = board.wait(Some(&ids), || false);
            return Err(CommandError::Cancelled(
                "interrupted; what each file verified is kept for the next get".into(),
            ));
        }
        if later.is_empty() {
            break;
        }
        writing.clear();
        wave.clear();
        for (index, job, key) in std::mem::take(&mut later) {
            if writing.insert(key.clone()) {
                let id = submit(ctx, job);
                planned[index].transfer = Some(id);
                wave.push(id);
                ids.push(id);
            } else {
                later.push((index, job, key));
            }
        }
    }
    let views = board.wait(Some(&ids), || false).unwrap_or_default();
    summarize(&peer, &folder, &base, planned, &views, truncated, started)
}

fn summarize(
    peer: &PeerAddr,
    folder: &str,
    base: &Path,
    planned: Vec<Planned>,
    views: &[crate::node::TransferView],
    truncated: bool,
    started: Instant,
) -> CommandResult {
    let mut entries = Vec::new();
    let mut failures = Vec::new();
    let (mut done, mut bytes) = (0u64, 0u64);
    for plan in &planned {
        let view = plan
            .transfer
            .and_then(|id| views.iter().find(|v| v.id == id));
        let (state, error, path) = match (view, &plan.refused) {
            (_, Some(why)) => ("refused", Some(why.clone()), None),
            (Some(v), None) if v.state == TransferState::Done => {
                done += 1;
                bytes += v.bytes;
                ("done", None, v.path.clone())
            }
            (Some(v), None) => (v.state.as_str(), v.error.clone(), None),
            (None, None) => ("failed", Some("not started".into()), None),
        };
        if state != "done" {
            failures.push(format!(
                "{}: {}",
                plan.remote,
                error.clone().unwrap_or_else(|| state.to_string())
            ));
        }
        entries.push(json!({
            "remote": plan.remote, "sha256": plan.sha256, "size": plan.size,
            "local": path.or(plan.local.clone()).map(|p| p.display().to_string()),
            "state": state, "error": error,
        }));
    }
    let failed = failures.len();
    let secs = started.elapsed().as_secs_f64();
    let line = format!(
        "got {peer}:{}/ into {}: {done} of {} files, {} in {secs:.1} s{}{}",
        escape_control(folder, false),
        base.display(),
        planned.len(),
        human_bytes(bytes),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        },
        if truncated {
            " (the listing was cut at its limits)"
        } else {
            ""
        },
    );
    let json = json!({
        "peer": peer.to_string(), "folder": folder, "target": base.display().to_string(),
        "files": entries, "count": planned.len(), "done": done, "failed": failed,
        "bytes": bytes, "truncated": truncated,
    });
    if failed > 0 {
        let detail: Vec<String> = failures
            .iter()
            .map(|f| escape_control(f, false).into_owned())
            .collect();
        return Err(CommandError::Reported {
            usage: false,
            message: format!("{line}: {}", detail.join("; ")),
            json,
        });
    }
    Ok(Output::new(json).line(line))
}

/// Why a folder of the download could not be made where it belongs.
#[derive(Debug, thiserror::Error)]
enum FolderRefused {
    #[error("cannot create {}", .dir.display())]
    Create {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot resolve {}", .dir.display())]
    Unresolved {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refused {}: it leads out of {}", .dir.display(), .root.display())]
    LeadsOut { dir: PathBuf, root: PathBuf },
}

/// Creates `dir`, which must stay inside `root` (its components were made safe; this
/// also refuses a link on the way that points out).
fn make_dir_inside(root: &Path, dir: &Path) -> Result<(), FolderRefused> {
    std::fs::create_dir_all(dir).map_err(|source| FolderRefused::Create {
        dir: dir.to_path_buf(),
        source,
    })?;
    let unresolved = |at: &Path| {
        let at = at.to_path_buf();
        move |source| FolderRefused::Unresolved { dir: at, source }
    };
    let root = root.canonicalize().map_err(unresolved(root))?;
    let real = dir.canonicalize().map_err(unresolved(dir))?;
    if real.starts_with(&root) {
        Ok(())
    } else {
        Err(FolderRefused::LeadsOut {
            dir: dir.to_path_buf(),
            root: root.to_path_buf(),
        })
    }
}

/// A download of one file of the folder: by its hash, from that peer only, into `dir`.
fn file_job(
    ctx: &mut Context<'_>,
    peer: &PeerAddr,
    hash: String,
    dir: PathBuf,
    remote: &str,
) -> GetJob {
    let node = &*ctx.node;
    GetJob {
        what: hash,
        asked: vec![peer.clone()],
        allowed: Some(vec![peer.clone()]),
        last_rows: Vec::new(),
        last_listed: Vec::new(),
        target: Target::Path(dir),
        stall_timeout: std::time::Duration::from_secs(node.settings.download.stall_timeout_s),
        shares: node.settings.download.share.then(|| node.shares_handle()),
        download_dir: node.settings.download.dir.clone(),
        state_dir: node.settings.node.state_dir.clone(),
        resolved: Default::default(),
        live: None,
        label: Some(remote.to_string()),
        save_as: None,
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn peer_and_folder_split_where_a_user_expects() {
        let t = |s: &str| target(s).map(|(p, f)| format!("{p} | {f}"));
        assert_eq!(t("alice:music/").as_deref(), Some("alice | music/"));
        assert_eq!(
            t("127.0.0.2:12000:music/live/").as_deref(),
            Some("127.0.0.2:12000 | music/live/")
        );
        assert_eq!(t("127.0.0.2:music/").as_deref(), Some("127.0.0.2 | music/"));
        assert_eq!(t("[::1]:12000:a/").as_deref(), Some("[::1]:12000 | a/"));
        assert_eq!(t("alice:/").as_deref(), Some("alice | /"));
        assert_eq!(
            t("10.0.0.2:12000#ABC:m/").as_deref(),
            Some("10.0.0.2:12000#ABC | m/")
        );
        assert_eq!(t("report.pdf"), None);
        assert_eq!(t("music/"), None);
    }
}
