//! Is the rollout finished, failed or still going? A pure function of what ECS returned.
//!
//! The verdict follows *our* deployment, the one UpdateService created, never "the
//! service": a service that is stable again after a circuit-breaker rollback is a failed
//! deploy, and a deployment of our revision that replaced ours (the step was re-run) is
//! followed instead of being called a failure. `wait.rs` feeds this module and reports.

use std::collections::HashSet;

use serde::Deserialize;

/// The parts of a DescribeServices `services[]` entry that a verdict needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Service {
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub service_arn: String,
    #[serde(default)]
    pub cluster_arn: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub task_definition: String,
    #[serde(default)]
    pub desired_count: i64,
    #[serde(default)]
    pub running_count: i64,
    #[serde(default)]
    pub pending_count: i64,
    #[serde(default)]
    pub deployments: Vec<Deployment>,
    #[serde(default)]
    pub events: Vec<ServiceEvent>,
    #[serde(default)]
    pub deployment_controller: Option<DeploymentController>,
    #[serde(default)]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// ARN of the service deployment ECS is running or last ran.
    #[serde(default)]
    pub current_service_deployment: Option<String>,
    /// Where the service's tasks run; a pre-deploy task runs in the same place. Kept as
    /// JSON so that RunTask gets exactly what the service has.
    #[serde(default)]
    pub launch_type: Option<String>,
    #[serde(default)]
    pub capacity_provider_strategy: Option<serde_json::Value>,
    #[serde(default)]
    pub platform_version: Option<String>,
    #[serde(default)]
    pub network_configuration: Option<serde_json::Value>,
    /// `loadBalancers[]`: a CODE_DEPLOY service's AppSpec names the first one's container.
    #[serde(default)]
    pub load_balancers: Vec<serde_json::Value>,
    /// `serviceRegistries[]`: `PREFLIGHT` checks their container and port in the new revision.
    #[serde(default)]
    pub service_registries: Vec<serde_json::Value>,
    /// `taskSets[]` (CODE_DEPLOY and EXTERNAL services only).
    #[serde(default)]
    pub task_sets: Vec<TaskSet>,
}

/// A `taskSets[]` entry: CodeDeploy runs the original and the replacement as task sets.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TaskSet {
    #[serde(default)]
    pub id: String,
    /// `PRIMARY` (serves production traffic) or `ACTIVE`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub task_definition: String,
    #[serde(default)]
    pub running_count: i64,
    #[serde(default)]
    pub computed_desired_count: i64,
}

impl Service {
    /// True when CodeDeploy runs the service's deployments (`deploymentController` `CODE_DEPLOY`).
    pub fn uses_code_deploy(&self) -> bool {
        self.deployment_controller
            .as_ref()
            .is_some_and(|c| c.kind == "CODE_DEPLOY")
    }

    /// The revision of the PRIMARY task set (the one serving production traffic), for a
    /// CODE_DEPLOY service; its `taskDefinition` otherwise.
    pub fn primary_revision(&self) -> &str {
        self.task_sets
            .iter()
            .find(|t| t.status == "PRIMARY")
            .map_or(self.task_definition.as_str(), |t| {
                t.task_definition.as_str()
            })
    }

    /// True for ECS native blue/green, linear and canary deployments, which are followed
    /// through the service-deployments API instead of `deployments[]`.
    pub fn uses_service_deployments(&self) -> bool {
        self.deployment_configuration
            .as_ref()
            .and_then(|c| c.strategy.as_deref())
            .is_some_and(|s| matches!(s, "BLUE_GREEN" | "LINEAR" | "CANARY"))
    }
}

/// `deploymentConfiguration`, the part that matters here.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct DeploymentConfiguration {
    #[serde(default)]
    pub strategy: Option<String>,
}

/// A DescribeServiceDeployments `serviceDeployments[]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ServiceDeployment {
    #[serde(default)]
    pub service_deployment_arn: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub lifecycle_stage: Option<String>,
    #[serde(default)]
    pub target_service_revision: Option<RevisionSummary>,
    #[serde(default)]
    pub rollback: Option<Rollback>,
    #[serde(default)]
    pub lifecycle_hook_details: Vec<HookDetail>,
}

/// `targetServiceRevision` / `sourceServiceRevisions[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RevisionSummary {
    #[serde(default)]
    pub arn: String,
    #[serde(default)]
    pub requested_task_count: i64,
    #[serde(default)]
    pub running_task_count: i64,
    #[serde(default)]
    pub pending_task_count: i64,
}

/// `rollback` of a service deployment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Rollback {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub service_revision_arn: Option<String>,
}

/// `lifecycleHookDetails[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct HookDetail {
    #[serde(default)]
    pub hook_id: String,
    #[serde(default)]
    pub target_type: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub timeout_action: Option<String>,
}

/// `deployments[]` of a service (the ECS rolling controller).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Deployment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub task_definition: String,
    #[serde(default)]
    pub desired_count: i64,
    #[serde(default)]
    pub pending_count: i64,
    #[serde(default)]
    pub running_count: i64,
    #[serde(default)]
    pub failed_tasks: i64,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`; absent behind a Classic Load Balancer.
    #[serde(default)]
    pub rollout_state: Option<String>,
    #[serde(default)]
    pub rollout_state_reason: Option<String>,
    /// Epoch seconds; 0 when ECS did not say.
    #[serde(default)]
    pub created_at: f64,
    /// Service Connect (`services[].portName` must exist in the new revision; `PREFLIGHT`).
    #[serde(default)]
    pub service_connect_configuration: Option<serde_json::Value>,
}

/// One entry of `events[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ServiceEvent {
    #[serde(default)]
    pub id: String,
    /// Epoch seconds, as the JSON protocol sends timestamps.
    #[serde(default)]
    pub created_at: f64,
    #[serde(default)]
    pub message: String,
}

/// `deploymentController`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct DeploymentController {
    #[serde(rename = "type", default)]
    pub kind: String,
}

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
    /// The service went back to the revision it ran before.
    RolledBack,
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
        return Verdict::Failed(Failure {
            kind: FailureKind::CircuitBreaker,
            reason: ours.rollout_state_reason.clone(),
            now_running: primary.map(|p| p.task_definition.clone()),
        });
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
    let kind = if primary.task_definition == tracked.previous_task_definition {
        FailureKind::RolledBack
    } else {
        FailureKind::Replaced
    };
    Verdict::Failed(Failure {
        kind,
        reason,
        now_running: Some(primary.task_definition.clone()),
    })
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

/// Judges a service deployment (blue/green, linear, canary). `current_primary_td` is the
/// revision of the service's PRIMARY deployment, used to tell "superseded by a re-run of
/// the same revision" from "stopped".
pub fn assess_service_deployment(
    sd: &ServiceDeployment,
    tracked: &Tracked,
    current_service_deployment: Option<&str>,
    current_primary_td: Option<&str>,
) -> Verdict {
    let reason = sd
        .rollback
        .as_ref()
        .and_then(|r| r.reason.clone())
        .or_else(|| sd.status_reason.clone());
    match sd.status.as_str() {
        "SUCCESSFUL" => Verdict::Succeeded,
        "ROLLBACK_REQUESTED"
        | "ROLLBACK_IN_PROGRESS"
        | "ROLLBACK_SUCCESSFUL"
        | "ROLLBACK_FAILED" => Verdict::Failed(Failure {
            kind: FailureKind::RolledBack,
            reason: Some(match reason {
                Some(r) => format!("{}: {r}", sd.status),
                None => sd.status.clone(),
            }),
            now_running: Some(tracked.previous_task_definition.clone()),
        }),
        "STOP_REQUESTED" | "STOPPED" => match current_service_deployment {
            Some(current)
                if current != sd.service_deployment_arn
                    && current_primary_td == Some(tracked.task_definition.as_str()) =>
            {
                Verdict::Superseded {
                    by: current.to_string(),
                }
            }
            _ => Verdict::Failed(Failure {
                kind: FailureKind::Replaced,
                reason: Some(match reason {
                    Some(r) => format!("{}: {r}", sd.status),
                    None => format!(
                        "the service deployment was {}",
                        sd.status.to_lowercase().replace('_', " ")
                    ),
                }),
                now_running: current_primary_td.map(str::to_string),
            }),
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
