//! The failure report of one deployment: why its tasks stopped, identical stops grouped into
//! one line, and under each group the last lines its failed container logged.
//!
//! [`stopped_tasks`] is the only function here that talks to AWS; it is called wherever a
//! verdict is a failure (circuit breaker, rollback, replaced, timeout). It never fails: what
//! it cannot find out becomes one line of the report, and the verdict and exit code stay as
//! they are. The choices (grouping, which container, where its logs are) are pure functions.

use std::collections::HashMap;

use serde_json::Value;

use crate::aws::ecs::{Ecs, StoppedTask};
use crate::aws::logs::{self, Located, LogReaders, StreamLocation, Tail};
use crate::rules::rollout::revision_name;

/// Tasks that stopped the same way, shown as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopGroup<'a> {
    /// Stop code, reason and each container's exit code, as one line.
    pub reason: String,
    /// How many tasks stopped this way.
    pub count: usize,
    /// The first of them, whose container's logs stand for the group.
    pub task: &'a StoppedTask,
}

impl StopGroup<'_> {
    /// `stopped task: …`, or `3 stopped tasks: …`.
    pub fn line(&self) -> String {
        if self.count == 1 {
            format!("stopped task: {}", self.reason)
        } else {
            format!("{} stopped tasks: {}", self.count, self.reason)
        }
    }
}

/// Groups tasks by the way they stopped, in the order first seen: three identical crashes
/// read as one line.
pub fn group_stopped(tasks: &[StoppedTask]) -> Vec<StopGroup<'_>> {
    let mut groups: Vec<StopGroup<'_>> = Vec::new();
    for task in tasks {
        let reason = stop_reason(task);
        match groups.iter_mut().find(|g| g.reason == reason) {
            Some(group) => group.count += 1,
            None => groups.push(StopGroup {
                reason,
                count: 1,
                task,
            }),
        }
    }
    groups
}

fn stop_reason(task: &StoppedTask) -> String {
    let mut line = String::new();
    if !task.stop_code.is_empty() {
        line.push_str(&task.stop_code);
        line.push_str(": ");
    }
    line.push_str(if task.stopped_reason.is_empty() {
        "stopped"
    } else {
        &task.stopped_reason
    });
    for (name, exit_code, reason) in &task.containers {
        match (exit_code, reason.is_empty()) {
            (Some(code), true) => line.push_str(&format!("; container {name} exit code {code}")),
            (Some(code), false) => {
                line.push_str(&format!("; container {name} exit code {code} ({reason})"))
            }
            (None, false) => line.push_str(&format!("; container {name}: {reason}")),
            (None, true) => {}
        }
    }
    line
}

/// The container whose logs explain the stop: the first that exited with an error, else the
/// first with a reason, else the first that exited, else the first. `Err` says why no
/// container's logs would help.
pub fn failed_container(task: &StoppedTask) -> Result<&str, String> {
    let containers = &task.containers;
    let never_ran = containers.iter().all(|(_, code, _)| code.is_none());
    if task.stop_code == "TaskFailedToStart" && never_ran {
        return Err("no container of this task started, so none logged anything".into());
    }
    containers
        .iter()
        .find(|(_, code, _)| code.is_some_and(|c| c != 0))
        .or_else(|| containers.iter().find(|(_, _, reason)| !reason.is_empty()))
        .or_else(|| containers.iter().find(|(_, code, _)| code.is_some()))
        .or_else(|| containers.first())
        .map(|(name, _, _)| name.as_str())
        .ok_or_else(|| "ECS reported no containers for this task".into())
}

/// The `logConfiguration` of `container` in a task definition, given as a register request,
/// the bare `taskDefinition` object, or a DescribeTaskDefinition answer: `None` when the task
/// definition has no such container, `Some(None)` when the container has no logConfiguration.
pub fn log_configuration<'a>(
    task_definition: &'a Value,
    container: &str,
) -> Option<Option<&'a Value>> {
    let body = task_definition
        .get("taskDefinition")
        .unwrap_or(task_definition);
    body.get("containerDefinitions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        })
        .map(|c| c.get("logConfiguration"))
}

/// `(partition, region, account)` of an ARN such as a task's.
fn arn_parts(arn: &str) -> (&str, &str, &str) {
    let mut parts = arn.split(':').skip(1);
    let partition = parts.next().filter(|p| !p.is_empty()).unwrap_or("aws");
    let region = parts.nth(1).unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    (partition, region, account)
}

/// The failure report of `deployment_id`: one line per group of identical stops, each
/// followed (when `log_lines` is not 0) by the last `log_lines` lines of its failed
/// container's CloudWatch Logs stream, or by one line saying why they cannot be shown.
///
/// Reads at most one stream per group, and the task definition (DescribeTaskDefinition) only
/// when `task_definitions` does not hold it; `task_definitions` maps a task-definition ARN to
/// its JSON (a register request, or a DescribeTaskDefinition answer). Never fails.
pub async fn stopped_tasks(
    ecs: &Ecs,
    logs: &LogReaders,
    cluster: &str,
    service: &str,
    deployment_id: &str,
    task_definitions: &HashMap<String, Value>,
    log_lines: u32,
) -> Vec<String> {
    let tasks = match ecs.stopped_tasks(cluster, service, deployment_id).await {
        Ok(tasks) => tasks,
        Err(err) => return vec![format!("could not list the stopped tasks: {err}")],
    };
    let mut described: HashMap<String, Result<Value, String>> = HashMap::new();
    let mut lines = Vec::new();
    for group in group_stopped(&tasks) {
        lines.push(group.line());
        if log_lines == 0 {
            continue;
        }
        let task = group.task;
        let container = match failed_container(task) {
            Ok(container) => container,
            Err(why) => {
                lines.push(format!("  no logs: {why}"));
                continue;
            }
        };
        let arn = &task.task_definition_arn;
        if !task_definitions.contains_key(arn) && !described.contains_key(arn) {
            let answer = ecs
                .describe_task_definition(arn)
                .await
                .map_err(|err| err.to_string());
            described.insert(arn.clone(), answer);
        }
        let task_definition = match (task_definitions.get(arn), described.get(arn)) {
            (Some(td), _) | (None, Some(Ok(td))) => td,
            (None, Some(Err(err))) => {
                lines.push(logs::no_logs(
                    container,
                    &format!(
                        "could not read task definition {} to find them ({err})",
                        revision_name(arn)
                    ),
                ));
                continue;
            }
            // Described just above.
            (None, None) => continue,
        };
        let Some(config) = log_configuration(task_definition, container) else {
            lines.push(logs::no_logs(
                container,
                &format!(
                    "task definition {} has no such container",
                    revision_name(arn)
                ),
            ));
            continue;
        };
        let (_, cluster_region, _) = arn_parts(&task.task_arn);
        match logs::locate(config, container, &task.task_arn, cluster_region) {
            Located::Elsewhere(why) => lines.push(logs::no_logs(container, &why)),
            Located::CloudWatch(at) => {
                lines.extend(read_tail(logs, &task.task_arn, container, &at, log_lines).await);
            }
        }
    }
    lines
}

/// The one GetLogEvents of a group, shown; every failure becomes one line.
async fn read_tail(
    logs: &LogReaders,
    task_arn: &str,
    container: &str,
    at: &StreamLocation,
    log_lines: u32,
) -> Vec<String> {
    let reader = logs.in_region(&at.region);
    match reader.last_events(&at.group, &at.stream, log_lines).await {
        Ok(Tail::Events(events)) => logs::show_tail(container, at, &events, log_lines as usize),
        Ok(Tail::NoStream) => vec![logs::no_logs(
            container,
            &format!(
                "log stream {} does not exist in log group {} ({}): the container stopped before it wrote anything",
                at.stream, at.group, at.region
            ),
        )],
        Err(err) if err.is_access_denied() => {
            let (partition, _, account) = arn_parts(task_arn);
            vec![logs::no_logs(
                container,
                &format!(
                    "the role may not read them ({}); allow logs:GetLogEvents on {} to show them here (optional; --print-iam-policy prints the statement)",
                    err.code_or_kind(),
                    at.group_arn(partition, account)
                ),
            )]
        }
        Err(err) => vec![logs::no_logs(
            container,
            &format!("could not read them ({err})"),
        )],
    }
}
