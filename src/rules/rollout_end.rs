//! How a deployment that will not succeed ends, in words: the cause ECS names (alarms, a
//! lifecycle hook, the circuit breaker, its own reasons), how ECS's rollback ended, and the
//! pause a timeout sat at. Pure: no I/O, no SDK types; `follow.rs` feeds it and prints.
//!
//! Every line says only what was seen: "rolled back" once ECS said the rollback succeeded
//! (or, for a rolling deployment, its rollback deployment COMPLETED), "the rollback failed"
//! with what ECS and DescribeServices showed, "still running" at the timeout.

use std::collections::HashMap;

use crate::rules::codedeploy_verdict::utc;
use crate::rules::rollout::{Service, ServiceDeployment, Verdict, revision_name, waiting_hooks};

/// What the follow loop remembers of a service deployment across polls.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The service deployment as last described.
    pub last: Option<ServiceDeployment>,
    /// The lifecycle stage each hook was last seen running or waiting at, by `hookId`
    /// (ECS's hook details do not name their stage).
    pub hook_stages: HashMap<String, String>,
    /// When each PAUSE hook was first seen waiting for a person (epoch seconds), by `hookId`.
    pub paused_since: HashMap<String, f64>,
    /// Polls in a row that showed the last status.
    pub same_status: u32,
}

impl Seen {
    /// Notes one DescribeServiceDeployments answer, polled at `now` (epoch seconds).
    pub fn note(&mut self, sd: &ServiceDeployment, now: f64) {
        if let Some(stage) = &sd.lifecycle_stage {
            for hook in &sd.lifecycle_hook_details {
                let running = matches!(hook.status.as_str(), "IN_PROGRESS" | "AWAITING_ACTION");
                if running || !self.hook_stages.contains_key(&hook.hook_id) {
                    self.hook_stages.insert(hook.hook_id.clone(), stage.clone());
                }
            }
        }
        for hook in waiting_hooks(sd) {
            self.paused_since.entry(hook.hook_id.clone()).or_insert(now);
        }
        let same = self.last.as_ref().is_some_and(|l| l.status == sd.status);
        self.same_status = if same { self.same_status + 1 } else { 1 };
        self.last = Some(sd.clone());
    }

    /// ECS said `ROLLBACK_SUCCESSFUL` while DescribeServices still showed our revision
    /// ([`Verdict::Ending`]): DescribeServices gets one more poll to catch up, then the verdict
    /// says what both showed.
    pub fn settle(&self, verdict: Verdict) -> Verdict {
        match verdict {
            Verdict::Ending(failure)
                if self.same_status >= 2
                    && self
                        .last
                        .as_ref()
                        .is_some_and(|sd| sd.status == "ROLLBACK_SUCCESSFUL") =>
            {
                Verdict::Failed(failure)
            }
            other => other,
        }
    }

    /// The pause the deployment sits at now: a hook waiting for a person in a deployment that
    /// is still in progress.
    pub fn pause(&self) -> Option<Pause> {
        let sd = self.last.as_ref()?;
        if !matches!(sd.status.as_str(), "PENDING" | "IN_PROGRESS") {
            return None;
        }
        let hook = waiting_hooks(sd).into_iter().next()?;
        Some(Pause {
            hook_id: hook.hook_id.clone(),
            stage: self
                .hook_stages
                .get(&hook.hook_id)
                .cloned()
                .or_else(|| sd.lifecycle_stage.clone()),
            since: self.paused_since.get(&hook.hook_id).copied(),
            expires_at: hook.expires_at,
            timeout_action: hook.timeout_action.clone(),
        })
    }
}

/// A deployment waiting at a PAUSE hook for `ContinueServiceDeployment`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pause {
    /// `hookId`, for `--hook-id`.
    pub hook_id: String,
    /// The lifecycle stage it waits at.
    pub stage: Option<String>,
    /// When the pipe first saw it waiting (epoch seconds).
    pub since: Option<f64>,
    /// When ECS stops waiting (epoch seconds).
    pub expires_at: Option<f64>,
    /// What ECS does then: `ROLLBACK` or `CONTINUE`.
    pub timeout_action: Option<String>,
}

impl Pause {
    /// `it sat paused at lifecycle hook approve (POST_TEST_TRAFFIC_SHIFT), waiting for a
    /// person since …; the hook expires at …, then ECS rolls the deployment back (timeoutAction
    /// ROLLBACK)`.
    pub fn describe(&self) -> String {
        let mut line = format!("it sat paused at lifecycle hook {}", self.hook_id);
        if let Some(stage) = &self.stage {
            line.push_str(&format!(" ({stage})"));
        }
        line.push_str(", waiting for a person");
        if let Some(since) = self.since {
            line.push_str(&format!(" since {} or earlier", utc(since)));
        }
        match self.expires_at {
            Some(at) => line.push_str(&format!("; the hook expires at {}", utc(at))),
            None => line.push_str("; ECS did not say when the hook expires"),
        }
        match self.timeout_action.as_deref() {
            Some("ROLLBACK") => {
                line.push_str(", then ECS rolls the deployment back (timeoutAction ROLLBACK)");
            }
            Some("CONTINUE") => {
                line.push_str(", then ECS continues the deployment (timeoutAction CONTINUE)");
            }
            Some(other) => line.push_str(&format!(", then ECS takes timeoutAction {other}")),
            None => {}
        }
        line
    }
}

/// Why a service deployment failed, from what ECS returned: the alarms that went off, a
/// failed or timed-out hook (its Lambda function and stage), the tripped circuit breaker;
/// ECS's own words (`statusReason`, `rollback.reason`) when it names none of these.
pub fn cause(sd: &ServiceDeployment, hook_stages: &HashMap<String, String>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(alarms) = &sd.alarms
        && !alarms.triggered_alarm_names.is_empty()
    {
        let names = &alarms.triggered_alarm_names;
        parts.push(format!(
            "{} {} went off",
            if names.len() == 1 { "alarm" } else { "alarms" },
            names.join(", ")
        ));
    }
    for hook in &sd.lifecycle_hook_details {
        let verb = match hook.status.as_str() {
            "FAILED" => "failed",
            "TIMED_OUT" => "timed out",
            _ => continue,
        };
        let mut what = format!("lifecycle hook {}", hook.hook_id);
        if let Some(function) = hook.target_arn.as_deref().map(function_name) {
            what.push_str(&format!(" (Lambda function {function})"));
        }
        what.push_str(&format!(" {verb}"));
        if let Some(stage) = hook_stages
            .get(&hook.hook_id)
            .or(sd.lifecycle_stage.as_ref())
        {
            what.push_str(&format!(" at {stage}"));
        }
        parts.push(what);
    }
    if let Some(cb) = &sd.deployment_circuit_breaker
        && cb.status.as_deref() == Some("TRIGGERED")
    {
        parts.push(format!(
            "the circuit breaker tripped ({} failed tasks, threshold {})",
            cb.failure_count, cb.threshold
        ));
    }
    if parts.is_empty() {
        let words = ecs_words(sd);
        if !words.is_empty() {
            parts.push(words.join("; "));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `statusReason` and `rollback.reason`, each once, without a trailing full stop.
fn ecs_words(sd: &ServiceDeployment) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let rollback = sd.rollback.as_ref().and_then(|r| r.reason.as_ref());
    for text in [sd.status_reason.as_ref(), rollback].into_iter().flatten() {
        let text = text.trim().trim_end_matches('.').to_string();
        if !text.is_empty() && !words.contains(&text) {
            words.push(text);
        }
    }
    words
}

/// `ECS says: ROLLBACK_FAILED: <statusReason>; <rollback.reason>`, the detail line of a
/// failed service deployment.
pub fn ecs_says(sd: &ServiceDeployment) -> String {
    let words = ecs_words(sd);
    if words.is_empty() {
        format!("ECS says: {}", sd.status)
    } else {
        format!("ECS says: {}: {}.", sd.status, words.join("; "))
    }
}

/// `smoke-test` from `arn:aws:lambda:eu-west-1:123456789012:function:smoke-test[:live]`.
pub fn function_name(arn: &str) -> &str {
    match arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => arn,
    }
}

/// What DescribeServices shows the service running: each deployment's revision and counts.
pub fn service_shows(service: &Service) -> String {
    if service.deployments.is_empty() {
        return format!(
            "{} with {}/{} tasks running",
            revision_name(&service.task_definition),
            service.running_count,
            service.desired_count
        );
    }
    service
        .deployments
        .iter()
        .map(|d| {
            let mut s = format!(
                "{} {} {}/{} running",
                d.status,
                revision_name(&d.task_definition),
                d.running_count,
                d.desired_count
            );
            if let Some(state) = &d.rollout_state {
                s.push_str(&format!(" ({state})"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a deployment that will not succeed ended, as far as the pipe saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// ECS's rollback ended well: the service runs this revision.
    RolledBack {
        /// The revision DescribeServices shows.
        now_running: String,
    },
    /// ECS's rollback failed.
    RollbackFailed {
        /// [`ecs_says`] of the service deployment.
        ecs_says: String,
        /// [`service_shows`].
        service_shows: String,
    },
    /// `WAIT_TIMEOUT` passed while ECS was still rolling back (or stopping).
    RollbackStillRunning {
        /// `10.0s`.
        timeout: String,
        /// The last state seen (a service-deployment status, or the rollback deployment).
        last_seen: String,
    },
    /// Stopped from outside, no newer deployment seen.
    Stopped {
        /// The revision DescribeServices shows.
        now_running: String,
    },
    /// `WAIT_TIMEOUT` passed while the deployment sat at a PAUSE hook.
    TimedOutPaused {
        /// `10.0s`.
        timeout: String,
        /// The pause.
        pause: Pause,
    },
}

/// The last line: `deployment` (its id) of `ours` (a revision name), why it failed (`cause`)
/// and how it ended.
pub fn end_line(deployment: &str, ours: &str, cause: Option<&str>, end: &End) -> String {
    let failed = match cause {
        Some(cause) => format!(
            "deployment {deployment} of {ours} failed: {}",
            cause.trim_end_matches('.')
        ),
        None => format!("deployment {deployment} of {ours} failed"),
    };
    match end {
        End::RolledBack { now_running } => {
            format!("{failed}; rolled back: the service runs {now_running}")
        }
        End::RollbackFailed {
            ecs_says,
            service_shows,
        } => format!(
            "{failed}; the rollback failed: {}; DescribeServices shows {service_shows}; the service is in no known state",
            ecs_says.trim_end_matches('.')
        ),
        End::RollbackStillRunning { timeout, last_seen } => format!(
            "{failed}; the rollback was still running when WAIT_TIMEOUT ({timeout}) passed (last seen: {last_seen}); the service may still change"
        ),
        End::Stopped { now_running } => {
            let mut line = format!("deployment {deployment} of {ours} was stopped");
            if let Some(cause) = cause {
                line.push_str(&format!(": {}", cause.trim_end_matches('.')));
            }
            format!("{line}; no newer deployment was seen; the service runs {now_running}")
        }
        End::TimedOutPaused { timeout, pause } => format!(
            "timed out after {timeout} waiting for {deployment} of {ours}: {}",
            pause.describe()
        ),
    }
}

/// The line that announces a failure while ECS still rolls back (or stops) the deployment.
pub fn announcement(deployment: &str, ours: &str, cause: Option<&str>, stopping: bool) -> String {
    let why = cause.map_or(String::new(), |c| format!(": {}", c.trim_end_matches('.')));
    if stopping {
        format!(
            "deployment {deployment} of {ours} is being stopped{why}; following it until it ends"
        )
    } else {
        format!(
            "deployment {deployment} of {ours} failed{why}; ECS is rolling it back, following the rollback until it ends"
        )
    }
}
