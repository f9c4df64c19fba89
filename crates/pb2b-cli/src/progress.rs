//! Progress of long work (import, sync, export download), always on stderr, shaped by where
//! stderr goes:
//!
//! | stderr                      | `--json` | shown                                                     |
//! |-----------------------------|----------|-----------------------------------------------------------|
//! | a terminal                  | no       | one bar (a spinner when the total is unknown), redrawn in place |
//! | not a terminal (log, pipe)  | no       | a plain line at most every [`LINE_EVERY`], and the last state at the end; never `\r` |
//! | anything                    | yes      | nothing: stdout holds the one JSON document               |
//!
//! Colour only on a terminal, and never when `NO_COLOR` is set to anything but the empty
//! string (<https://no-color.org>). Notes that must stay ([`Progress::note`]) are printed above
//! the bar, so a bar never eats a line.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain line is written when stderr is not a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(5);

/// Whether colour may be used on a terminal.
pub fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Plain lines: when one was last printed, and the newest state not printed yet.
#[derive(Default)]
struct Lines {
    printed_at: Option<Instant>,
    unprinted: Option<String>,
}

enum Shape {
    Bar(ProgressBar),
    Lines(Mutex<Lines>),
    Quiet,
}

pub struct Progress {
    shape: Shape,
}

impl Progress {
    /// Progress for a command; `json` silences it.
    pub fn new(json: bool) -> Self {
        let shape = if json {
            Shape::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
            Shape::Bar(bar)
        } else {
            Shape::Lines(Mutex::default())
        };
        Self { shape }
    }

    /// The current state: `done` of `total` (unknown: a spinner) and a short message.
    pub fn set(&self, done: u64, total: Option<u64>, message: String) {
        match &self.shape {
            Shape::Quiet => {}
            Shape::Bar(bar) => {
                let wanted = style(total.is_some());
                if bar.length() != total {
                    bar.set_style(wanted);
                    match total {
                        Some(t) => bar.set_length(t),
                        None => bar.unset_length(),
                    }
                }
                bar.set_position(done);
                bar.set_message(message);
            }
            Shape::Lines(lines) => {
                let Ok(mut lines) = lines.lock() else { return };
                let line = plain_line(done, total, &message);
                if lines.printed_at.is_none_or(|at| at.elapsed() >= LINE_EVERY) {
                    eprintln!("{line}");
                    lines.printed_at = Some(Instant::now());
                    lines.unprinted = None;
                } else {
                    lines.unprinted = Some(line);
                }
            }
        }
    }

    /// A line that stays (a state change, a warning), above the bar on a terminal.
    pub fn note(&self, line: &str) {
        match &self.shape {
            Shape::Quiet => {}
            Shape::Bar(bar) => bar.println(line),
            Shape::Lines(_) => eprintln!("{line}"),
        }
    }

    /// Ends the display: the bar is cleared (the caller prints the summary); in plain lines,
    /// the last state is printed if it was not.
    pub fn finish(&self) {
        match &self.shape {
            Shape::Quiet => {}
            Shape::Bar(bar) => bar.finish_and_clear(),
            Shape::Lines(lines) => {
                if let Some(line) = lines.lock().ok().and_then(|mut l| l.unprinted.take()) {
                    eprintln!("{line}");
                }
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Shape::Bar(bar) = &self.shape {
            if !bar.is_finished() {
                bar.finish_and_clear();
            }
        }
    }
}

fn plain_line(done: u64, total: Option<u64>, message: &str) -> String {
    match total {
        Some(t) => format!("{done}/{t} {message}"),
        None => message.to_owned(),
    }
}

fn style(known_total: bool) -> ProgressStyle {
    let template = match (known_total, colour_allowed()) {
        (true, true) => "{spinner:.cyan} [{bar:32.cyan/blue}] {pos}/{len} {msg}",
        (true, false) => "{spinner} [{bar:32}] {pos}/{len} {msg}",
        (false, true) => "{spinner:.cyan} {msg}",
        (false, false) => "{spinner} {msg}",
    };
    // The templates are constants, so this cannot fail; the default style is the fallback.
    ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}
