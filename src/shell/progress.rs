//! The download progress bar: drawn on stderr from the engine's progress events, and
//! only on a terminal (never in a pipe, never with `--json`).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::session::OutputMode;
use crate::client::Progress;
use crate::commands::escape_control;

pub struct ProgressView {
    /// Whether a bar may be drawn at all (a terminal, not `--json`).
    visible: bool,
    /// Made when a download starts, not before: a command that downloads nothing
    /// (`wait`, `search`) draws no empty bar.
    bar: std::sync::OnceLock<ProgressBar>,
}

impl ProgressView {
    pub fn new(mode: OutputMode) -> ProgressView {
        ProgressView {
            visible: mode.terminal && !mode.json && std::io::stderr().is_terminal(),
            bar: std::sync::OnceLock::new(),
        }
    }

    fn make_bar() -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{bar:30.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    pub fn show(&self, event: Progress) {
        if !self.visible {
            return;
        }
        let bar = match (&event, self.bar.get()) {
            (Progress::Started { .. }, _) => self.bar.get_or_init(Self::make_bar),
            (_, Some(bar)) => bar,
            (_, None) => return,
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
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
