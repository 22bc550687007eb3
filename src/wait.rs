//! The poll loop: describe → report what changed → judge → sleep, until a verdict.
//!
//! Judgement lives in `rollout.rs`; this module only fetches, prints and keeps time. Each
//! new service event is printed once, a deployment line only when it changed, and a
//! heartbeat when nothing has been printed for a while. Throttling and server errors never
//! end the wait early; a signal from Bitbucket does, at once.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::diagnose;
use crate::ecs::{Ecs, Lookup};
use crate::error::{Changed, Error};
use crate::logs::LogReaders;
use crate::report::Reporter;
use crate::rollout::{self, EventLog, FailureKind, Service, Tracked, Verdict, revision_name};

/// A quiet log looks like a hung step; say something at least this often.
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// The longest pause between polls after repeated transient errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What `follow` needs to know besides the deployment.
#[derive(Debug, Clone)]
pub struct WaitSettings {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// Give up after this long.
    pub timeout: Duration,
    /// Pause between polls.
    pub interval: Duration,
    /// The service deployment UpdateService started, when ECS said (blue/green and friends).
    pub service_deployment: Option<String>,
    /// `LOG_LINES`: lines of each failed container's log in a failure report.
    pub log_lines: u32,
    /// Task definitions the deploy already holds, by ARN (the new revision's register
    /// request), so a failure report need not describe them again.
    pub task_definitions: HashMap<String, Value>,
}

/// A rollout that finished well.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The deployment that completed (ours, or the one that superseded it).
    pub deployment_id: String,
}

/// Follows `tracked` until ECS decides. On failure the error carries the reasons.
pub async fn follow(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &WaitSettings,
    mut tracked: Tracked,
    events: &mut EventLog,
    report: &Reporter,
) -> Result<Completed, Error> {
    let start = Instant::now();
    let deadline = start + settings.timeout;
    let mut printed: HashMap<String, String> = HashMap::new();
    let mut last_output = Instant::now();
    let mut lines_seen = report.lines_written();
    let mut last: Option<Service> = None;
    let mut transient_errors: u32 = 0;
    let mut service_deployment: Option<String> = settings.service_deployment.clone();
    let mut stop = std::pin::pin!(shutdown_signal());

    loop {
        let polled = tokio::select! {
            polled = ecs.describe_service(&settings.cluster, &settings.service) => polled,
            () = &mut stop => return Err(interrupted(last.as_ref(), &tracked)),
        };
        match polled {
            Ok(Lookup::Found(service)) => {
                transient_errors = 0;
                for event in events.fresh(&service.events) {
                    report.event(&event.message);
                }
                let mut verdict = if service.uses_service_deployments() {
                    match follow_service_deployment(
                        ecs,
                        &service,
                        &tracked,
                        &mut service_deployment,
                        &mut printed,
                        report,
                    )
                    .await
                    {
                        Ok(verdict) => verdict,
                        Err(err) if err.is_transient() => {
                            report.warn(&format!("{err}; still waiting, will ask again"));
                            Verdict::InProgress
                        }
                        Err(err) => {
                            return Err(Error::Aws {
                                step: "following the deployment".into(),
                                err: err.into(),
                                changed: Changed::Service,
                            });
                        }
                    }
                } else {
                    for d in &service.deployments {
                        let line = rollout::deployment_line(d, d.id == tracked.deployment_id);
                        if printed.get(&d.id) != Some(&line) {
                            report.detail(&line);
                            printed.insert(d.id.clone(), line);
                        }
                    }
                    rollout::assess(&service, &tracked)
                };
                if let Verdict::Superseded { by } = &verdict {
                    report.detail(&format!(
                        "deployment {by} of the same revision replaced {} (the step was probably re-run); following it",
                        tracked.deployment_id
                    ));
                    tracked.deployment_id.clone_from(by);
                    if service.uses_service_deployments() {
                        service_deployment = Some(by.clone());
                        verdict = Verdict::InProgress;
                    } else {
                        verdict = rollout::assess(&service, &tracked);
                    }
                }
                match verdict {
                    Verdict::Succeeded => {
                        return Ok(Completed {
                            deployment_id: tracked.deployment_id,
                        });
                    }
                    Verdict::Failed(failure) => {
                        return Err(failed(ecs, logs, settings, &service, &tracked, &failure).await);
                    }
                    Verdict::InProgress | Verdict::Superseded { .. } => {}
                }
                last = Some(*service);
            }
            Ok(Lookup::Missing | Lookup::NoCluster) => {
                return Err(Error::Rollout {
                    verdict: format!(
                        "service {} disappeared while its deployment was in progress",
                        settings.service
                    ),
                    details: Vec::new(),
                    hints: vec![
                        "someone deleted the service or its cluster during the deploy".into(),
                    ],
                });
            }
            Err(err) if err.is_transient() => {
                transient_errors += 1;
                report.warn(&format!("{err}; still waiting, will ask again"));
            }
            Err(err) => {
                return Err(Error::Aws {
                    step: "following the deployment".into(),
                    err: err.into(),
                    changed: Changed::Service,
                });
            }
        }

        let now = Instant::now();
        if report.lines_written() != lines_seen {
            lines_seen = report.lines_written();
            last_output = now;
        }
        if now >= deadline {
            return Err(timed_out(ecs, logs, settings, last.as_ref(), &tracked).await);
        }
        if now.duration_since(last_output) >= HEARTBEAT {
            let state = last.as_ref().map_or_else(
                || "no answer from ECS yet".to_string(),
                |s| rollout::state_summary(s, &tracked),
            );
            report.detail(&format!(
                "… still waiting ({}): {state}",
                human(start.elapsed())
            ));
            last_output = now;
            lines_seen = report.lines_written();
        }
        let pause =
            pause(settings.interval, transient_errors).min(deadline.saturating_duration_since(now));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = &mut stop => return Err(interrupted(last.as_ref(), &tracked)),
        }
    }
}

/// One poll of a blue/green, linear or canary deployment: print the stage when it changes,
/// point at PAUSE hooks that wait for a person, and judge.
async fn follow_service_deployment(
    ecs: &Ecs,
    service: &Service,
    tracked: &Tracked,
    arn: &mut Option<String>,
    printed: &mut HashMap<String, String>,
    report: &Reporter,
) -> Result<Verdict, crate::error::AwsError> {
    if arn.is_none() {
        arn.clone_from(&service.current_service_deployment);
    }
    let Some(current) = arn.clone() else {
        return Ok(Verdict::InProgress);
    };
    let Some(sd) = ecs.describe_service_deployment(&current).await? else {
        return Ok(Verdict::InProgress);
    };
    let line = rollout::service_deployment_line(&sd);
    if printed.get(&current) != Some(&line) {
        report.detail(&format!("service deployment {}", line));
        printed.insert(current.clone(), line);
    }
    for hook in rollout::waiting_hooks(&sd) {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            printed.entry(format!("hook {}", hook.hook_id))
        {
            report.warn(&format!(
                "lifecycle hook {} is paused, waiting for a person: continue with `aws ecs continue-service-deployment --service-deployment-arn {current} --hook-id {} --action CONTINUE` (or --action ROLLBACK)",
                hook.hook_id, hook.hook_id
            ));
            slot.insert(String::new());
        }
    }
    let primary = service
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
        .map(|d| d.task_definition.as_str());
    Ok(rollout::assess_service_deployment(
        &sd,
        tracked,
        service.current_service_deployment.as_deref(),
        primary,
    ))
}

/// The interval, stretched with jittered exponential backoff after transient errors so a
/// throttled account is not hammered, but never beyond [`MAX_BACKOFF`].
fn pause(interval: Duration, transient_errors: u32) -> Duration {
    if transient_errors == 0 {
        return interval;
    }
    let factor = 2u32.saturating_pow(transient_errors.min(6));
    let backoff = interval
        .saturating_mul(factor)
        .min(MAX_BACKOFF)
        .max(interval);
    // Jitter from the clock is enough to spread parallel pipelines apart.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = f64::from(nanos % 1000) / 1000.0;
    interval + (backoff - interval).mul_f64(jitter)
}

/// `4m05s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            // Without signal handlers the default action (terminate) still applies.
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn interrupted(last: Option<&Service>, tracked: &Tracked) -> Error {
    Error::Interrupted {
        state: last.map_or_else(
            || {
                format!(
                    "deployment {} had not been described yet",
                    tracked.deployment_id
                )
            },
            |s| rollout::state_summary(s, tracked),
        ),
    }
}

async fn timed_out(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &WaitSettings,
    last: Option<&Service>,
    tracked: &Tracked,
) -> Error {
    let mut details = Vec::new();
    if let Some(service) = last {
        details.push(format!(
            "state: {}",
            rollout::state_summary(service, tracked)
        ));
        for event in service.events.iter().take(3) {
            details.push(format!("recent event: {}", event.message));
        }
    }
    // Tasks that keep crashing are the usual reason a rollout never completes.
    details.extend(stopped_tasks(ecs, logs, settings, tracked).await);
    Error::Rollout {
        verdict: format!(
            "timed out after {} waiting for {} of {}; ECS keeps trying, so the service may still change",
            human(settings.timeout),
            tracked.deployment_id,
            revision_name(&tracked.task_definition)
        ),
        details,
        hints: vec![
            "raise WAIT_TIMEOUT if the service needs longer (health check grace period, slow draining)".into(),
            "if tasks keep failing, enable the deployment circuit breaker so ECS stops and rolls back on its own".into(),
        ],
    }
}

/// The failure report of our deployment's stopped tasks ([`diagnose::stopped_tasks`]).
async fn stopped_tasks(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &WaitSettings,
    tracked: &Tracked,
) -> Vec<String> {
    diagnose::stopped_tasks(
        ecs,
        logs,
        &settings.cluster,
        &settings.service,
        &tracked.deployment_id,
        &settings.task_definitions,
        settings.log_lines,
    )
    .await
}

async fn failed(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &WaitSettings,
    service: &Service,
    tracked: &Tracked,
    failure: &rollout::Failure,
) -> Error {
    let ours = revision_name(&tracked.task_definition);
    let previous = revision_name(&tracked.previous_task_definition);
    let now = failure.now_running.as_deref().map(revision_name);
    let verdict = match failure.kind {
        FailureKind::CircuitBreaker => {
            let mut v = format!("deployment {} of {ours} failed", tracked.deployment_id);
            if let Some(reason) = &failure.reason {
                v.push_str(&format!(": {}", reason.trim_end_matches('.')));
            }
            match now {
                Some(now) if now != ours => {
                    v.push_str(&format!("; the service is going back to {now}"))
                }
                _ => v.push_str(&format!(
                    "; the service still runs {previous} where {ours} could not start"
                )),
            }
            v
        }
        FailureKind::RolledBack => {
            format!("deployment of {ours} was rolled back; the service runs {previous} again")
        }
        FailureKind::Replaced => format!(
            "deployment of {ours} was replaced by a deployment of {}; the service runs that now",
            now.unwrap_or("another revision")
        ),
        FailureKind::Gone => format!(
            "deployment {} of {ours} disappeared without completing; the service runs {}",
            tracked.deployment_id,
            revision_name(&service.task_definition)
        ),
        FailureKind::ServiceInactive => format!(
            "service {} is {} (being deleted); the deployment of {ours} cannot finish",
            settings.service, service.status
        ),
    };
    let mut details = Vec::new();
    if let Some(reason) = &failure.reason {
        details.push(format!("ECS says: {reason}"));
    }
    details.extend(stopped_tasks(ecs, logs, settings, tracked).await);
    let mut hints = Vec::new();
    if settings.log_lines == 0 && details.iter().any(|d| d.contains("exit code")) {
        hints.push("the container exited; check its logs for the crash (LOG_LINES is 0, so none are shown here)".into());
    }
    if failure.kind == FailureKind::Replaced {
        hints.push("another pipeline or person deployed at the same time; deploy one change at a time per service".into());
    }
    Error::Rollout {
        verdict,
        details,
        hints,
    }
}
