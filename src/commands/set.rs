//! `set [KEY VALUE]`: the settings that can change while the peer runs (DESIGN §8) —
//! `max_rate` (all downloads), `max_upload_rate` (all it serves), `max_active`
//! (background downloads at once). For this session only: the config file is not
//! edited. Without arguments, shows them.

use clap::Args;
use serde_json::json;

use super::{from_matches, Command, CommandError, CommandResult, Context, Output};
use crate::rate::Rate;

pub struct Set;

#[derive(Args)]
struct SetArgs {
    /// max_rate, max_upload_rate or max_active
    key: Option<String>,
    /// A rate ("5MiB", "512KiB", "2MB", bytes a second; 0: none), or a count
    value: Option<String>,
}

const KEYS: &[&str] = &["max_rate", "max_upload_rate", "max_active"];

impl Command for Set {
    fn name(&self) -> &'static str {
        "set"
    }

    fn summary(&self) -> &'static str {
        "show or change rate limits and max_active for this session (set max_rate 5MiB)"
    }

    fn examples(&self) -> &'static [&'static str] {
        &[
            "set",
            "set max_rate 5MiB",
            "set max_upload_rate 0",
            "set max_active 1",
        ]
    }

    fn args(&self) -> clap::Command {
        SetArgs::augment_args(clap::Command::new("set")).about(
            "Show or change, for this session, max_rate (all downloads together, bytes a \
             second: \"5MiB\", \"512KiB\", \"2MB\"; 0 for none), max_upload_rate (all that \
             this peer serves) and max_active (background downloads at once)",
        )
    }

    fn run(&self, ctx: &mut Context<'_>, matches: clap::ArgMatches) -> CommandResult {
        let args: SetArgs = from_matches(&matches)?;
        let node = &mut *ctx.node;
        match (args.key.as_deref(), args.value) {
            (None, _) => {}
            (Some(key), None) => {
                return Err(CommandError::Usage(format!(
                    "set {key} needs a value (e.g. `set max_rate 5MiB`)"
                )))
            }
            (Some(key), Some(value)) => {
                let key = key.rsplit('.').next().unwrap_or(key);
                match key {
                    "max_rate" | "max_upload_rate" => {
                        let rate =
                            Rate::parse(&value).map_err(|e| CommandError::Usage(e.to_string()))?;
                        if key == "max_rate" {
                            node.set_download_rate(rate);
                        } else {
                            node.set_upload_rate(rate);
                        }
                    }
                    "max_active" => {
                        let n =
                            value
                                .parse::<usize>()
                                .ok()
                                .filter(|n| *n > 0)
                                .ok_or_else(|| {
                                    CommandError::Usage(format!(
                                        "max_active is a count of 1 or more, not {value:?}"
                                    ))
                                })?;
                        node.settings.download.max_active = n;
                        node.transfers.set_max_active(n);
                    }
                    other => {
                        return Err(CommandError::Usage(format!(
                            "cannot set {other:?} while running; these can be: {}",
                            KEYS.join(", ")
                        )))
                    }
                }
            }
        }
        let down = node.settings.download.max_rate;
        let up = node.settings.server.max_upload_rate;
        let active = node.settings.download.max_active;
        Ok(Output::new(json!({
            "max_rate": down.0, "max_upload_rate": up.0, "max_active": active,
        }))
        .table(
            &["setting", "value"],
            vec![
                vec!["max_rate".into(), down.to_string()],
                vec!["max_upload_rate".into(), up.to_string()],
                vec!["max_active".into(), active.to_string()],
            ],
        ))
    }
}
