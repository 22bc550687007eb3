//! The wait section: whether and how long to follow the rollout, what a failure shows, and
//! whether it rolls back.

use std::time::Duration;

use crate::error::Problem;
use crate::vars;

use super::raw::Raw;

/// The most `LOG_LINES` may ask for: more would bury the verdict in the pipeline log.
pub const MAX_LOG_LINES: u32 = 500;
/// A quiet log looks like a hung step; say something at least this often.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// The wait section of [`super::Config`].
#[derive(Debug, Clone)]
pub struct Wait {
    /// `WAIT`.
    pub enabled: bool,
    /// `WAIT_TIMEOUT`.
    pub timeout: Duration,
    /// `WAIT_INTERVAL`.
    pub interval: Duration,
    /// `ROLLBACK_ON_FAILURE`.
    pub rollback_on_failure: bool,
    /// `LOG_LINES`: lines of each failed container's log shown on a failure; 0 shows none.
    pub log_lines: u32,
    /// How long the log may stay quiet while waiting before a heartbeat line. Not a pipe
    /// variable: [`HEARTBEAT`] in every run, shorter only in tests.
    pub heartbeat: Duration,
}

/// Reads the wait section.
pub fn read(raw: &Raw, problems: &mut Vec<Problem>) -> Wait {
    let enabled = raw.boolean(&vars::WAIT, problems);
    let rollback_on_failure = raw.boolean(&vars::ROLLBACK_ON_FAILURE, problems);
    if rollback_on_failure && !enabled {
        problems.push(Problem::new(
            vars::ROLLBACK_ON_FAILURE.name,
            "needs WAIT: 'true', because a failure is only known by waiting for the rollout",
        ));
    }
    Wait {
        enabled,
        timeout: Duration::from_secs(raw.seconds(&vars::WAIT_TIMEOUT, 1, 6 * 3600, problems)),
        interval: interval(raw, problems),
        rollback_on_failure,
        log_lines: log_lines(raw, problems),
        heartbeat: HEARTBEAT,
    }
}

/// `WAIT_INTERVAL` accepts decimals (`0.5`) so that tests and impatient users can poll fast.
fn interval(raw: &Raw, problems: &mut Vec<Problem>) -> Duration {
    let var = &vars::WAIT_INTERVAL;
    let default = Duration::from_secs_f64(var.default.parse().unwrap_or(5.0));
    let Some(v) = raw.text(var) else {
        return default;
    };
    match v.parse::<f64>() {
        Ok(n) if n.is_finite() && (0.01..=300.0).contains(&n) => Duration::from_secs_f64(n),
        _ => {
            problems.push(Problem::new(
                var.name,
                format!("must be a number of seconds between 0.01 and 300, such as 5, got {v:?}"),
            ));
            default
        }
    }
}

/// `LOG_LINES`: 0 (off) up to [`MAX_LOG_LINES`].
fn log_lines(raw: &Raw, problems: &mut Vec<Problem>) -> u32 {
    let var = &vars::LOG_LINES;
    let default = var.default.parse().unwrap_or(0);
    let Some(v) = raw.text(var) else {
        return default;
    };
    match v.parse::<u32>() {
        Ok(n) if n <= MAX_LOG_LINES => n,
        _ => {
            problems.push(Problem::new(
                var.name,
                format!("must be a whole number of lines from 0 (off) to {MAX_LOG_LINES}, such as {default}, got {v:?}"),
            ));
            default
        }
    }
}
