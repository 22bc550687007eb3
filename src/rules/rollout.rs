//! Is the rollout finished, failed or still going? A pure function of what ECS returned.
//!
//! The verdict follows *our* deployment, the one UpdateService created, never "the
//! service": a service that is stable again after a circuit-breaker rollback is a failed
//! deploy, and a deployment of our revision that replaced ours (the step was re-run) is
//! followed instead of being called a failure. `wait.rs` feeds this module and reports.

use std::collections::{HashMap, HashSet};

pub use crate::model::service::*;

/// The deployment the pipe is following.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// `ecs-svc/…` of our deployment.
    pub deployment_id: String,
    /// The revision we deployed.
    pub task_definition: String,
    /// The revision the service ran before, to recognise a rollback.
    pub previous_task_definition: String,
}

/// Why a rollout failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The deployment circuit breaker (or an alarm) marked our deployment FAILED.
    CircuitBreaker,
    /// The service went back to the revision it ran before (or, in [`Verdict::Ending`], ECS
    /// is taking it back there).
    RolledBack,
    /// ECS's rollback of our deployment failed (`ROLLBACK_FAILED`): the service is in no known
    /// state.
    RollbackFailed,
    /// Our deployment was stopped from outside and no newer deployment was seen.
    Stopped,
    /// Another revision's deployment replaced ours.
    Replaced,
    /// Our deployment vanished and no deployment is PRIMARY.
    Gone,
    /// The service is DRAINING or INACTIVE.
    ServiceInactive,
}

/// A failed rollout and what the service runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What happened.
    pub kind: FailureKind,
    /// ECS's own words (`rolloutStateReason`, service status).
    pub reason: Option<String>,
    /// The revision the PRIMARY deployment runs now, when that is known.
    pub now_running: Option<String>,
}

/// The state of our rollout after one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep waiting.
    InProgress,
    /// A newer deployment of the same revision replaced ours; follow that one.
    Superseded {
        /// Its id.
        by: String,
    },
    /// Our deployment is PRIMARY, COMPLETED, runs our revision, and running = desired.
    Succeeded,
    /// It will not succeed.
    Failed(Failure),
    /// It will not succeed, and ECS is still rolling it back (or stopping it): announce the
    /// failure, then follow ECS until the rollback ends. The kind says how it ends if it goes
    /// well ([`FailureKind::RolledBack`] or [`FailureKind::Stopped`]).
    Ending(Failure),
}

fn is(value: Option<&String>, expected: &str) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case(expected))
}

/// Judges one DescribeServices snapshot.
pub fn assess(service: &Service, tracked: &Tracked) -> Verdict {
    if !service.status.is_empty() && service.status != "ACTIVE" {
        return Verdict::Failed(Failure {
            kind: FailureKind::ServiceInactive,
            reason: Some(format!("the service is {}", service.status)),
            now_running: None,
        });
    }
    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
    let ours = service
        .deployments
        .iter()
        .find(|d| d.id == tracked.deployment_id);

    let Some(ours) = ours else {
        return match primary {
            Some(p) => lost_to(p, tracked, None),
            None => Verdict::Failed(Failure {
                kind: FailureKind::Gone,
                reason: Some(format!(
                    "deployment {} is no longer listed",
                    tracked.deployment_id
                )),
                now_running: None,
            }),
        };
    };

    if is(ours.rollout_state.as_ref(), "FAILED") {
        let failure = Failure {
            kind: FailureKind::CircuitBreaker,
            reason: ours.rollout_state_reason.clone(),
            now_running: primary.map(|p| p.task_definition.clone()),
        };
        return match primary {
            // ECS's rollback deployment: followed until it completes.
            Some(p) if p.id != ours.id && p.task_definition == tracked.previous_task_definition => {
                rolling_back(p, failure)
            }
            _ => Verdict::Failed(failure),
        };
    }
    if ours.status != "PRIMARY" {
        return match primary {
            Some(p) => lost_to(p, tracked, ours.rollout_state_reason.clone()),
            // Between two polls ECS can briefly list no PRIMARY; look again.
            None => Verdict::InProgress,
        };
    }
    if ours.task_definition != tracked.task_definition {
        return Verdict::Failed(Failure {
            kind: FailureKind::Replaced,
            reason: Some(format!(
                "deployment {} runs {}",
                ours.id, ours.task_definition
            )),
            now_running: Some(ours.task_definition.clone()),
        });
    }
    if is_done(service, ours) {
        Verdict::Succeeded
    } else {
        Verdict::InProgress
    }
}

/// Our deployment is no longer the PRIMARY one: `primary` is. The same revision means a
/// re-run took over; the previous one, a rollback; any other, someone else's deploy.
fn lost_to(primary: &Deployment, tracked: &Tracked, reason: Option<String>) -> Verdict {
    if primary.task_definition == tracked.task_definition {
        return Verdict::Superseded {
            by: primary.id.clone(),
        };
    }
    let failure = Failure {
        kind: FailureKind::Replaced,
        reason,
        now_running: Some(primary.task_definition.clone()),
    };
    if primary.task_definition == tracked.previous_task_definition {
        return rolling_back(primary, failure);
    }
    Verdict::Failed(failure)
}

/// `primary` runs the revision the service ran before ours: a rollback, which is over once
/// ECS says that deployment is COMPLETED (or, without a `rolloutState`, all its tasks run).
fn rolling_back(primary: &Deployment, failure: Failure) -> Verdict {
    let counts_done = primary.running_count == primary.desired_count && primary.pending_count == 0;
    let done = match primary.rollout_state.as_deref() {
        Some("COMPLETED") => true,
        None | Some("") => counts_done,
        _ => false,
    };
    let failure = Failure {
        kind: FailureKind::RolledBack,
        now_running: Some(primary.task_definition.clone()),
        ..failure
    };
    if done {
        Verdict::Failed(failure)
    } else {
        Verdict::Ending(failure)
    }
}

/// Whether `ours`, the PRIMARY deployment of the revision we registered, has finished.
fn is_done(service: &Service, ours: &Deployment) -> bool {
    let others_drained = service
        .deployments
        .iter()
        .filter(|d| d.id != ours.id)
        .all(|d| d.running_count == 0 && d.pending_count == 0);
    let counts_done = ours.running_count == ours.desired_count && ours.pending_count == 0;
    match ours.rollout_state.as_deref() {
        Some("COMPLETED") => counts_done && others_drained,
        // No rolloutState: Classic Load Balancer services and emulators. Fall back to the
        // classic rule: ours is the only deployment and all its tasks run.
        None | Some("") => service.deployments.len() == 1 && counts_done,
        _ => false,
    }
}

/// Judges a service deployment (blue/green, linear, canary). `current_service_deployment`
/// is the service's `currentServiceDeployment` and `now_running` the revision DescribeServices
/// shows it running (its PRIMARY deployment's); together they tell "superseded by a re-run of
/// the same revision" and "replaced by a newer deployment" from "stopped". `hook_stages` are
/// the stages each hook was seen at ([`crate::rules::rollout_end::Seen`]), to name a failed hook's.
///
/// A rollback is a failure from `ROLLBACK_REQUESTED` on, but [`Verdict::Ending`] until ECS
/// says how it ended: `ROLLBACK_FAILED`, or `ROLLBACK_SUCCESSFUL` with DescribeServices showing
/// the service off our revision. Only `SUCCESSFUL` is success (`BAKE_TIME` is still
/// `IN_PROGRESS`).
pub fn assess_service_deployment(
    sd: &ServiceDeployment,
    tracked: &Tracked,
    current_service_deployment: Option<&str>,
    now_running: Option<&str>,
    hook_stages: &HashMap<String, String>,
) -> Verdict {
    let failure = |kind| Failure {
        kind,
        reason: crate::rules::rollout_end::cause(sd, hook_stages),
        now_running: now_running.map(str::to_string),
    };
    match sd.status.as_str() {
        "SUCCESSFUL" => Verdict::Succeeded,
        "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" => {
            Verdict::Ending(failure(FailureKind::RolledBack))
        }
        // DescribeServices (read just before) still shows our revision: not back yet.
        "ROLLBACK_SUCCESSFUL" if now_running == Some(tracked.task_definition.as_str()) => {
            Verdict::Ending(failure(FailureKind::RolledBack))
        }
        "ROLLBACK_SUCCESSFUL" => Verdict::Failed(failure(FailureKind::RolledBack)),
        "ROLLBACK_FAILED" => Verdict::Failed(failure(FailureKind::RollbackFailed)),
        "STOP_REQUESTED" | "STOPPED" => match current_service_deployment {
            // A newer deployment was seen: a re-run of our revision, or someone else's.
            Some(current) if current != sd.service_deployment_arn => {
                if now_running == Some(tracked.task_definition.as_str()) {
                    Verdict::Superseded {
                        by: current.to_string(),
                    }
                } else {
                    Verdict::Failed(Failure {
                        kind: FailureKind::Replaced,
                        reason: Some(format!("service deployment {current} replaced it")),
                        now_running: now_running.map(str::to_string),
                    })
                }
            }
            _ if sd.status == "STOP_REQUESTED" => Verdict::Ending(failure(FailureKind::Stopped)),
            _ => Verdict::Failed(failure(FailureKind::Stopped)),
        },
        _ => Verdict::InProgress,
    }
}

/// The line printed when a service deployment's status, stage or hooks change.
pub fn service_deployment_line(sd: &ServiceDeployment) -> String {
    let mut line = format!(
        "{} {}",
        sd.status,
        sd.lifecycle_stage.as_deref().unwrap_or("-")
    );
    if let Some(target) = &sd.target_service_revision {
        line.push_str(&format!(
            ": {}/{} running, {} pending",
            target.running_task_count, target.requested_task_count, target.pending_task_count
        ));
    }
    for hook in &sd.lifecycle_hook_details {
        line.push_str(&format!(", hook {} {}", hook.hook_id, hook.status));
    }
    line
}

/// Hooks that wait for a person: PAUSE hooks in AWAITING_ACTION.
pub fn waiting_hooks(sd: &ServiceDeployment) -> Vec<&HookDetail> {
    sd.lifecycle_hook_details
        .iter()
        .filter(|h| h.status == "AWAITING_ACTION")
        .collect()
}

/// `web:42` from `arn:aws:ecs:…:task-definition/web:42`.
pub fn revision_name(arn: &str) -> &str {
    arn.rsplit_once('/').map_or(arn, |(_, name)| name)
}

/// One line per deployment, printed when it changes.
pub fn deployment_line(d: &Deployment, ours: bool) -> String {
    let mut line = format!(
        "{}{} {} {}: {}/{} running, {} pending",
        d.status,
        if ours { " (ours)" } else { "" },
        d.id,
        revision_name(&d.task_definition),
        d.running_count,
        d.desired_count,
        d.pending_count,
    );
    if d.failed_tasks > 0 {
        line.push_str(&format!(", {} failed", d.failed_tasks));
    }
    if let Some(state) = &d.rollout_state {
        line.push_str(&format!(", {state}"));
    }
    line
}

/// A one-line summary of where the rollout stands, for timeouts and interrupts.
pub fn state_summary(service: &Service, tracked: &Tracked) -> String {
    match service
        .deployments
        .iter()
        .find(|d| d.id == tracked.deployment_id)
    {
        Some(d) => {
            let mut s = format!(
                "deployment {} of {}: {}/{} running, {} pending",
                d.id,
                revision_name(&d.task_definition),
                d.running_count,
                d.desired_count,
                d.pending_count
            );
            if let Some(state) = &d.rollout_state {
                s.push_str(&format!(", rollout {state}"));
            }
            if let Some(reason) = &d.rollout_state_reason {
                s.push_str(&format!(" ({reason})"));
            }
            s
        }
        None => format!(
            "deployment {} is no longer listed; the service runs {}",
            tracked.deployment_id,
            revision_name(&service.task_definition)
        ),
    }
}

/// Remembers which service events were printed, so each is printed once, oldest first.
#[derive(Debug, Default)]
pub struct EventLog {
    seen: HashSet<String>,
}

impl EventLog {
    /// Marks these events as already known without returning them (the ones from before
    /// the deploy started).
    pub fn prime(&mut self, events: &[ServiceEvent]) {
        self.seen.extend(events.iter().map(|e| e.id.clone()));
    }

    /// The events not seen before, oldest first (ECS lists newest first).
    pub fn fresh(&mut self, events: &[ServiceEvent]) -> Vec<ServiceEvent> {
        let mut fresh: Vec<ServiceEvent> = events
            .iter()
            .filter(|e| self.seen.insert(e.id.clone()))
            .cloned()
            .collect();
        fresh.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
        fresh
    }
}
