//! What the simulator shows while it runs, all of it on stderr (stdout carries the JSON report
//! and nothing else).
//!
//! Every phase says `[simulate] ...` when it begins and when it is done; logs, CI and the tests
//! read those lines, so they are printed whatever stderr is. On a terminal each phase also draws
//! a progress bar (indicatif); when stderr is not a terminal indicatif draws nothing, and the
//! sending phase prints a line every 5 s instead.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::time::Duration;

/// How often a drawn bar redraws by itself (its spinner and rate move even while it waits).
const TICK: Duration = Duration::from_millis(120);

/// The simulator's stderr: phase lines, and bars where they can be drawn.
#[derive(Clone, Debug)]
pub struct Progress {
    bars: MultiProgress,
}

impl Progress {
    /// Lines on stderr, and bars too if it is a terminal.
    pub fn stderr() -> Self {
        Self {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        }
    }

    /// Whether bars are drawn (stderr is a terminal).
    pub fn drawn(&self) -> bool {
        !self.bars.is_hidden()
    }

    /// Prints `[simulate] <message>` above the bars (always, terminal or not).
    pub fn line(&self, message: &str) {
        self.bars.suspend(|| eprintln!("[simulate] {message}"));
    }

    /// Prints `text` as it is, above the bars.
    pub fn text(&self, text: &str) {
        self.bars.suspend(|| eprint!("{text}"));
    }

    /// A bar counting `total` things done (accounts, trainees, wearables, samples), with their
    /// rate; `what` labels it and its message says more.
    pub fn bar(&self, total: u64, what: &str) -> ProgressBar {
        self.add(
            ProgressBar::new(total),
            "{spinner:.green} {prefix:>10} [{bar:32.cyan/blue}] {human_pos}/{human_len} \
             ({rate}/s, {elapsed}) {wide_msg}",
            what,
        )
    }

    /// A bar over `seconds` of wall time (the session being live): elapsed of the whole.
    pub fn clock(&self, seconds: u64, what: &str) -> ProgressBar {
        self.add(
            ProgressBar::new(seconds),
            "{spinner:.green} {prefix:>10} [{bar:32.cyan/blue}] {pos}/{len} s {wide_msg}",
            what,
        )
    }

    fn add(&self, bar: ProgressBar, template: &str, what: &str) -> ProgressBar {
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = write!(out, "{:.0}", state.per_sec());
                },
            )
            .progress_chars("=> ");
        let bar = self
            .bars
            .add(bar.with_style(style).with_prefix(what.to_owned()));
        if self.drawn() {
            bar.enable_steady_tick(TICK);
        }
        bar
    }
}
