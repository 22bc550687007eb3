//! Lines for the pipeline log: one stream, one line per change, the verdict last.
//!
//! Bitbucket's log is not a terminal but renders basic ANSI colours, so colour is chosen
//! explicitly: on unless `NO_COLOR` is set. There are no spinners or carriage returns;
//! every line is complete when it is written.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::Error;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Writes the user-facing lines. Cloning shares the same output.
#[derive(Clone)]
pub struct Reporter {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    lines: Arc<AtomicU64>,
    color: bool,
}

impl Reporter {
    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + Send>, color: bool) -> Self {
        Self {
            out: Arc::new(Mutex::new(out)),
            lines: Arc::new(AtomicU64::new(0)),
            color,
        }
    }

    /// A reporter writing to standard error.
    pub fn stderr(color: bool) -> Self {
        Self::new(Box::new(std::io::stderr()), color)
    }

    /// Switches colour on or off once the configuration is known.
    pub fn set_color(&mut self, color: bool) {
        self.color = color;
    }

    /// How many lines were written so far; the wait loop uses it to know when to send a
    /// heartbeat.
    pub fn lines_written(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    fn line(&self, text: &str) {
        self.lines.fetch_add(1, Ordering::Relaxed);
        // A log line that cannot be written is not worth failing a deploy for.
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// `▶ text`: a step begins.
    pub fn step(&self, text: &str) {
        self.line(&format!("{} {text}", self.paint(BOLD, "▶")));
    }

    /// `  text`: detail under a step.
    pub fn detail(&self, text: &str) {
        self.line(&format!("  {text}"));
    }

    /// `  ! text`: something the user should know, not fatal.
    pub fn warn(&self, text: &str) {
        self.line(&self.paint(YELLOW, &format!("  ! {text}")));
    }

    /// One [`Reporter::warn`] line for each of `texts`.
    pub fn warn_all(&self, texts: &[String]) {
        for text in texts {
            self.warn(text);
        }
    }

    /// `  event: text`: a service event from ECS, dimmed.
    pub fn event(&self, text: &str) {
        self.line(&format!("  {}", self.paint(DIM, text)));
    }

    /// `✔ text`: the final success line.
    pub fn success(&self, text: &str) {
        self.line(&self.paint(GREEN, &format!("✔ {text}")));
    }

    /// The error's details, hints and, last, `✖ verdict`.
    pub fn failure(&self, error: &Error) {
        for detail in error.details() {
            self.line(&format!("  {detail}"));
        }
        for hint in error.hints() {
            self.line(&format!("  hint: {hint}"));
        }
        for line in error.summary() {
            self.line(&format!("  {line}"));
        }
        self.line(&self.paint(RED, &format!("✖ {error}")));
    }
}
