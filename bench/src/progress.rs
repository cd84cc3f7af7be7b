//! What a person watching a run sees: on a terminal, a bar with what is
//! being measured, the time spent and an estimate of what is left (from the
//! measured rounds done and planned); otherwise, as when the output goes to
//! a file or CI's log, plain lines with the same facts.

use std::{
    io::IsTerminal as _,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug)]
struct Progress {
    /// `None` when stderr is not a terminal.
    bar: Option<ProgressBar>,
    started: Instant,
    planned: AtomicU64,
    done: AtomicU64,
}

static PROGRESS: OnceLock<Progress> = OnceLock::new();

/// Starts the display for a run of about `planned` measured rounds.
pub fn start(planned: u64) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(Some(planned), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} rounds, about {eta} left\n{msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    });
    let _ = PROGRESS.set(Progress {
        bar,
        started: Instant::now(),
        planned: AtomicU64::new(planned),
        done: AtomicU64::new(0),
    });
}

/// A line of the run's story: above the bar on a terminal, on stderr otherwise.
pub fn line(text: &str) {
    match PROGRESS.get().and_then(|progress| progress.bar.as_ref()) {
        Some(bar) => bar.println(text),
        None => eprintln!("{text}"),
    }
}

/// What is being measured now; plain output gets a line with the time spent
/// and the estimate of what is left.
pub fn measuring(what: &str) {
    let Some(progress) = PROGRESS.get() else {
        eprintln!("{what}");
        return;
    };
    match &progress.bar {
        Some(bar) => bar.set_message(what.to_owned()),
        None => eprintln!("{what}  ({})", progress.summary()),
    }
}

/// `rounds` more measured rounds done.
pub fn advance(rounds: u64) {
    if let Some(progress) = PROGRESS.get() {
        progress.done.fetch_add(rounds, Ordering::Relaxed);
        if let Some(bar) = &progress.bar {
            bar.inc(rounds);
        }
    }
}

/// Measured rounds done so far.
pub fn done() -> u64 {
    PROGRESS
        .get()
        .map_or(0, |progress| progress.done.load(Ordering::Relaxed))
}

/// Rounds that will not run after all (a configuration skipped).
pub fn unplan(rounds: u64) {
    if let Some(progress) = PROGRESS.get() {
        let planned = progress
            .planned
            .load(Ordering::Relaxed)
            .saturating_sub(rounds);
        progress.planned.store(planned, Ordering::Relaxed);
        if let Some(bar) = &progress.bar {
            bar.set_length(planned);
        }
    }
}

/// Removes the bar, leaving the lines printed above it.
pub fn finish() {
    if let Some(bar) = PROGRESS.get().and_then(|progress| progress.bar.as_ref()) {
        bar.finish_and_clear();
    }
}

impl Progress {
    /// `12 s elapsed, 30/200 rounds, about 170 s left`.
    fn summary(&self) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let done = self.done.load(Ordering::Relaxed);
        let planned = self.planned.load(Ordering::Relaxed).max(done);
        let left = if done == 0 {
            "left unknown yet".to_owned()
        } else {
            let seconds = elapsed / done as f64 * (planned - done) as f64;
            format!("about {seconds:.0} s left")
        };
        format!("{elapsed:.0} s elapsed, {done}/{planned} rounds, {left}")
    }
}
