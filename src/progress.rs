//! Progress on stderr: a spinner on a terminal, plain lines (only when the text changes) otherwise.
//! stdout stays free for results.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    bar: Option<ProgressBar>,
    last: Mutex<String>,
    start: Instant,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed:>3}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Progress {
            bar,
            last: Mutex::new(String::new()),
            start: Instant::now(),
        }
    }

    /// What is happening now.
    pub fn step(&self, msg: impl Into<String>) {
        let msg = msg.into();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if *last == msg {
            return;
        }
        last.clone_from(&msg);
        match &self.bar {
            Some(b) => b.set_message(msg),
            None => eprintln!("[{:>5.1}s] {msg}", self.start.elapsed().as_secs_f64()),
        }
    }

    /// A line that stays (a finished step), printed above the spinner.
    pub fn note(&self, msg: impl AsRef<str>) {
        let line = format!(
            "[{:>5.1}s] {}",
            self.start.elapsed().as_secs_f64(),
            msg.as_ref()
        );
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Runs `f` (a question on the terminal) with the spinner hidden.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
