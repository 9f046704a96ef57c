//! The download progress bar: drawn on stderr from the engine's progress events, and
//! only on a terminal (never in a pipe, never with `--json`).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::session::OutputMode;
use crate::client::Progress;
use crate::commands::escape_control;

pub struct ProgressView {
    bar: Option<ProgressBar>,
}

impl ProgressView {
    pub fn new(mode: OutputMode) -> ProgressView {
        let visible = mode.terminal && !mode.json && std::io::stderr().is_terminal();
        if !visible {
            return ProgressView { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{bar:30.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        ProgressView { bar: Some(bar) }
    }

    pub fn show(&self, event: Progress) {
        let Some(bar) = &self.bar else {
            return;
        };
        match event {
            Progress::Started {
                size,
                resumed,
                sources,
            } => {
                bar.set_length(size);
                bar.set_position(resumed);
                bar.reset_eta();
                bar.set_message(format!(
                    "from {sources} source{}",
                    if sources == 1 { "" } else { "s" }
                ));
            }
            Progress::Verified { bytes } => bar.set_position(bytes),
            // Sources joining and leaving a swarm are routine: the bar does not say.
            Progress::Joined { .. } | Progress::Left { .. } => {}
            Progress::Dropped { reason, .. } => {
                // The reason names the peer.
                let text = crate::error_chain::error_chain(reason.as_ref());
                bar.println(format!("dropped {}", escape_control(&text, false)));
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
