//! Is a CodeDeploy blue/green deployment finished, failed or still going? A pure function of
//! what GetDeployment and GetDeploymentTarget returned, with the same honesty as the ECS path
//! (`rollout.rs`): the verdict is about *our* deployment, and a rollback is a failure.
//!
//! The ✔ does not wait out the original task set's termination window: once all production
//! traffic is on the replacement task set and `AfterAllowTraffic` has succeeded, the new
//! revision serves every request and nothing of this deploy is left to check. CodeDeploy only
//! keeps the original task set for a rollback until the window ends (`aws deploy wait
//! deployment-successful` and aws-actions wait for it; aws-cli #5963).

use serde::Deserialize;

/// GetDeployment's `deploymentInfo`, the parts a verdict needs.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct DeploymentInfo {
    #[serde(default)]
    pub deployment_id: String,
    /// Created, Queued, InProgress, Baking, Ready, Succeeded, Failed or Stopped.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub error_information: Option<ErrorInformation>,
    #[serde(default)]
    pub rollback_info: Option<RollbackInfo>,
    #[serde(default)]
    pub blue_green_deployment_configuration: Option<BlueGreenConfiguration>,
    #[serde(default)]
    pub description: Option<String>,
    /// `revision` as CodeDeploy returned it (the AppSpec content for ECS).
    #[serde(default)]
    pub revision: Option<serde_json::Value>,
}

/// `errorInformation`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct ErrorInformation {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `rollbackInfo`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RollbackInfo {
    #[serde(default)]
    pub rollback_deployment_id: Option<String>,
    #[serde(default)]
    pub rollback_triggering_deployment_id: Option<String>,
    #[serde(default)]
    pub rollback_message: Option<String>,
}

/// `blueGreenDeploymentConfiguration`, the termination window.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct BlueGreenConfiguration {
    #[serde(default)]
    pub terminate_blue_instances_on_deployment_success: Option<TerminateBlue>,
}

/// `terminateBlueInstancesOnDeploymentSuccess`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TerminateBlue {
    #[serde(default)]
    pub termination_wait_time_in_minutes: Option<i64>,
}

/// GetDeploymentTarget's `deploymentTarget.ecsTarget`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct EcsTarget {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub lifecycle_events: Vec<LifecycleEvent>,
    #[serde(default)]
    pub task_sets_info: Vec<TaskSetInfo>,
}

/// One `lifecycleEvents[]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct LifecycleEvent {
    #[serde(default)]
    pub lifecycle_event_name: String,
    /// Pending, InProgress, Succeeded, Failed, Skipped or Unknown.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub diagnostics: Option<Diagnostics>,
    /// Epoch seconds.
    #[serde(default)]
    pub end_time: Option<f64>,
}

/// `diagnostics` of a lifecycle event.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Diagnostics {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub script_name: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub log_tail: Option<String>,
}

/// One `taskSetsInfo[]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TaskSetInfo {
    /// The task set id (`ecs-svc/…`); the API spells the field `identifer`.
    #[serde(default, rename = "identifer")]
    pub id: String,
    #[serde(default)]
    pub desired_count: i64,
    #[serde(default)]
    pub pending_count: i64,
    #[serde(default)]
    pub running_count: i64,
    #[serde(default)]
    pub status: String,
    /// Percent of production traffic, 0 to 100.
    #[serde(default)]
    pub traffic_weight: f64,
    /// `BLUE` (original) or `GREEN` (replacement).
    #[serde(default)]
    pub task_set_label: String,
}

impl EcsTarget {
    /// The replacement task set (label `GREEN`).
    pub fn replacement(&self) -> Option<&TaskSetInfo> {
        self.task_sets_info
            .iter()
            .find(|t| t.task_set_label.eq_ignore_ascii_case("Green"))
    }

    fn event(&self, name: &str) -> Option<&LifecycleEvent> {
        self.lifecycle_events
            .iter()
            .find(|e| e.lifecycle_event_name == name)
    }
}

/// The state of our CodeDeploy deployment after one poll.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Keep waiting.
    InProgress,
    /// `Ready`: the replacement runs and CodeDeploy waits for someone to reroute traffic
    /// (ContinueDeployment); keep waiting until `WAIT_TIMEOUT`.
    Ready,
    /// All production traffic is on the replacement task set.
    Succeeded {
        /// Until when CodeDeploy keeps the original task set for a rollback (epoch seconds),
        /// when the deployment is not yet `Succeeded` and the window is known.
        original_kept_until: Option<f64>,
        /// True when the verdict came before CodeDeploy's own `Succeeded`.
        early: bool,
    },
    /// Failed or Stopped.
    Failed(Failure),
}

/// A failed or stopped deployment, in CodeDeploy's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `Failed` or `Stopped`.
    pub status: String,
    /// errorInformation, the failed lifecycle event with its diagnostics, rollbackInfo.
    pub details: Vec<String>,
    /// The deployment CodeDeploy started to roll this one back, if any.
    pub rollback_deployment: Option<String>,
}

fn is_done(status: &str) -> bool {
    matches!(status, "Succeeded" | "Skipped")
}

/// Judges one poll. `target` is GetDeploymentTarget's ECS target, when it exists yet.
pub fn assess(info: &DeploymentInfo, target: Option<&EcsTarget>) -> Verdict {
    match info.status.as_str() {
        "Succeeded" => {
            return Verdict::Succeeded {
                original_kept_until: None,
                early: false,
            };
        }
        "Failed" | "Stopped" => return Verdict::Failed(failure(info, target)),
        _ => {}
    }
    if let Some(target) = target {
        let shifted = target
            .replacement()
            .is_some_and(|green| green.traffic_weight >= 100.0);
        let after = target.event("AfterAllowTraffic");
        if shifted && after.is_some_and(|e| is_done(&e.status)) {
            let wait = info
                .blue_green_deployment_configuration
                .as_ref()
                .and_then(|c| c.terminate_blue_instances_on_deployment_success.as_ref())
                .and_then(|t| t.termination_wait_time_in_minutes);
            let original_kept_until = match (after.and_then(|e| e.end_time), wait) {
                (Some(end), Some(minutes)) => Some(end + (minutes * 60) as f64),
                _ => None,
            };
            return Verdict::Succeeded {
                original_kept_until,
                early: true,
            };
        }
    }
    if info.status == "Ready" {
        Verdict::Ready
    } else {
        Verdict::InProgress
    }
}

/// Why the deployment failed or stopped: CodeDeploy's error, the failed lifecycle event and
/// its diagnostics, and what CodeDeploy did about it.
pub fn failure(info: &DeploymentInfo, target: Option<&EcsTarget>) -> Failure {
    let mut details = Vec::new();
    if let Some(error) = &info.error_information {
        let text = match (&error.code, &error.message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(one), None) | (None, Some(one)) => one.clone(),
            (None, None) => String::new(),
        };
        if !text.is_empty() {
            details.push(format!("CodeDeploy says: {text}"));
        }
    }
    for event in target
        .into_iter()
        .flat_map(|t| &t.lifecycle_events)
        .filter(|e| e.status == "Failed")
    {
        let mut line = format!("lifecycle event {} failed", event.lifecycle_event_name);
        if let Some(d) = &event.diagnostics {
            let what: Vec<&str> = [&d.error_code, &d.script_name, &d.message]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .collect();
            if !what.is_empty() {
                line.push_str(&format!(": {}", what.join(": ")));
            }
        }
        details.push(line);
        for log in event
            .diagnostics
            .as_ref()
            .and_then(|d| d.log_tail.as_deref())
            .into_iter()
            .flat_map(str::lines)
            .filter(|l| !l.trim().is_empty())
        {
            details.push(format!("  {}: {log}", event.lifecycle_event_name));
        }
    }
    let rollback = info.rollback_info.as_ref();
    let rollback_deployment = rollback.and_then(|r| r.rollback_deployment_id.clone());
    match (&rollback_deployment, rollback.and_then(|r| r.rollback_message.as_deref())) {
        (Some(id), Some(message)) => {
            details.push(format!("CodeDeploy rolled back with deployment {id}: {message}"));
        }
        (Some(id), None) => details.push(format!("CodeDeploy rolled back with deployment {id}")),
        (None, Some(message)) => details.push(format!("CodeDeploy rollback: {message}")),
        (None, None) => details.push(
            "CodeDeploy did not roll back (the deployment group has no automatic rollback for this event)"
                .into(),
        ),
    }
    Failure {
        status: info.status.clone(),
        details,
        rollback_deployment,
    }
}

/// The progress line printed when it changes: status, the lifecycle event that runs, and the
/// traffic on each task set.
pub fn progress_line(info: &DeploymentInfo, target: Option<&EcsTarget>) -> String {
    let mut line = info.status.clone();
    let Some(target) = target else {
        return line;
    };
    let running = target
        .lifecycle_events
        .iter()
        .find(|e| e.status == "InProgress" || e.status == "Failed")
        .or_else(|| {
            target
                .lifecycle_events
                .iter()
                .rev()
                .find(|e| is_done(&e.status))
        });
    if let Some(event) = running {
        let state = if event.status == "InProgress" {
            "running".to_string()
        } else {
            event.status.to_lowercase()
        };
        line.push_str(&format!(": {} {state}", event.lifecycle_event_name));
    }
    let mut sets: Vec<&TaskSetInfo> = target.task_sets_info.iter().collect();
    // The replacement first: it is what this deploy is about.
    sets.sort_by_key(|t| !t.task_set_label.eq_ignore_ascii_case("Green"));
    let traffic: Vec<String> = sets
        .iter()
        .map(|t| {
            let name = if t.task_set_label.eq_ignore_ascii_case("Green") {
                "replacement"
            } else {
                "original"
            };
            format!(
                "{name} {}% ({}/{} running)",
                percent(t.traffic_weight),
                t.running_count,
                t.desired_count
            )
        })
        .collect();
    if !traffic.is_empty() {
        line.push_str(&format!("; traffic: {}", traffic.join(", ")));
    }
    line
}

fn percent(weight: f64) -> String {
    if weight.fract() == 0.0 {
        format!("{weight:.0}")
    } else {
        format!("{weight:.1}")
    }
}

/// `2026-12-03T10:41:00Z` from epoch seconds.
pub fn utc(epoch_seconds: f64) -> String {
    let secs = epoch_seconds.max(0.0) as u64;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The CodeDeploy console page of a deployment.
pub fn console_link(region: &str, deployment_id: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/codesuite/codedeploy/deployments/{deployment_id}?region={region}"
    )
}
