//! Waiting out AWS's rate limits. A throttled call was refused before it was applied, so it is
//! always safe to send again; when many pipelines share one account's request buckets (forty
//! deploys started in the same second, each registering a revision), the SDK's five attempts
//! (about 15 s) are not enough. [`retry`] keeps sending a throttled call with capped, jittered
//! backoff for as long as the deploy's own time allows: within `WAIT_TIMEOUT` and never past
//! [`MAX_WAIT`] for one call. The first time in a run, one line says that AWS is throttling and
//! that the pipe waits its turn. Any other error is returned at once, as before.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::AwsError;
use crate::report::Reporter;

/// The longest one call keeps being retried while throttled.
pub const MAX_WAIT: Duration = Duration::from_secs(120);

/// The longest pause between two tries.
pub const MAX_PAUSE: Duration = Duration::from_secs(8);

/// The first pause; each later one doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Whether the "AWS is throttling" line was already said in this run.
static SAID: AtomicBool = AtomicBool::new(false);

/// How long one throttled call may keep trying: `WAIT_TIMEOUT`, at most [`MAX_WAIT`].
pub fn budget(wait_timeout: Duration) -> Duration {
    wait_timeout.min(MAX_WAIT)
}

/// The pause before try `tries + 1` (pure but for the jitter): half the capped exponential
/// step plus a random part of the other half, so parallel pipelines spread apart.
pub fn pause(tries: u32, jitter: f64) -> Duration {
    let step = FIRST_PAUSE
        .saturating_mul(2u32.saturating_pow(tries.min(10)))
        .min(MAX_PAUSE);
    step / 2 + (step / 2).mul_f64(jitter.clamp(0.0, 1.0))
}

/// Jitter from the clock: enough to spread parallel pipelines apart.
fn jitter() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1000) / 1000.0
}

/// Sends `call` until it is not throttled, or until `budget` (see [`budget`]) would be passed;
/// then returns the last answer. Only a definite throttle is retried here: one that may have
/// been applied ([`AwsError::is_ambiguous`]) is returned for the caller to read back.
pub async fn retry<T, F, Fut>(
    budget: Duration,
    report: &Reporter,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let started = Instant::now();
    let mut tries = 0;
    loop {
        match call().await {
            Err(err) if err.is_throttled() && !err.is_ambiguous() => {
                let wait = pause(tries, jitter());
                if started.elapsed() + wait > budget {
                    return Err(err);
                }
                if !SAID.swap(true, Ordering::SeqCst) {
                    report.warn(&format!(
                        "AWS is throttling {} (its rate limit is shared by every pipeline in this account); waiting for its turn, for up to {}s",
                        err.operation,
                        budget.as_secs()
                    ));
                }
                tokio::time::sleep(wait).await;
                tries += 1;
            }
            other => return other,
        }
    }
}
