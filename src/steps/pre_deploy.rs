//! `PRE_DEPLOY_COMMAND`: the migration (or any one-off command) run with the new revision
//! before any service is updated, exactly where the service's own tasks run. The deploy goes
//! on only when the chosen container exited 0.
//!
//! The request and the judgement are pure functions; [`run`] calls RunTask, follows the task
//! to `STOPPED` (printing its status as it changes), stops it on a timeout or a signal, and
//! judges. Sidecars' exit codes are shown but never decide: a proxy that exits 137 when the
//! task ends must not fail a good migration.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::aws::ecs::Ecs;
use crate::aws::idempotency_token;
use crate::aws::logs::{self, Cursor, Located, LogReader, LogReaders};
use crate::config::Config;
use crate::context::BitbucketContext;
use crate::error::{AwsError, Changed, Error};
use crate::report::Reporter;
use crate::rules::plan::PreDeployPlan;
use crate::rules::rollout::revision_name;
use crate::steps::follow::{human, shutdown_signal};

/// What the pre-deploy task did, for the outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRecord {
    /// The task's ARN, once RunTask started one.
    pub task_arn: Option<String>,
    /// The chosen container's exit code, if it has one.
    pub exit_code: Option<i32>,
    /// Seconds from RunTask to the verdict.
    pub duration_seconds: u64,
    /// `succeeded`, `failed`, `not-started`, `timed-out`, `stopped` or `dry-run`.
    pub verdict: String,
}

/// The judgement of one DescribeTasks answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Not stopped yet; its `lastStatus`.
    Running(String),
    /// The chosen container exited 0.
    Succeeded,
    /// It did not succeed; why, and whether the command got to run at all.
    Failed {
        /// One line.
        why: String,
        /// False when the task never started (nothing of the command ran).
        ran: bool,
        /// The chosen container's exit code, if any.
        exit_code: Option<i32>,
    },
}

/// `startedBy` of the task, so it can be found (`aws ecs list-tasks --started-by …`): at most
/// 128 letters, digits, `-`, `_` and `/`.
pub fn started_by(context: &BitbucketContext) -> String {
    let build: String = context
        .build_number
        .as_deref()
        .unwrap_or("local")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(100)
        .collect();
    format!("ecs-oidc-deploy/{build}")
}

/// The RunTask request: one task of `task_definition` in the service's placement, with the
/// command replaced in one container only, tagged with `tags`.
pub fn run_task_request(
    cluster: &str,
    task_definition: &str,
    plan: &PreDeployPlan,
    tags: &[(String, String)],
    started_by: &str,
) -> Value {
    let mut request = Map::new();
    request.insert("cluster".into(), json!(cluster));
    request.insert("taskDefinition".into(), json!(task_definition));
    request.insert("count".into(), json!(1));
    for (key, value) in &plan.placement {
        request.insert(key.clone(), value.clone());
    }
    request.insert(
        "overrides".into(),
        json!({"containerOverrides": [{"name": plan.container, "command": plan.command}]}),
    );
    request.insert("startedBy".into(), json!(started_by));
    if !tags.is_empty() {
        request.insert(
            "tags".into(),
            Value::Array(
                tags.iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect(),
            ),
        );
    }
    Value::Object(request)
}

/// Why RunTask started no task (`failures[]`, or no task at all), if it did not.
pub fn run_failure(answer: &Value) -> Option<String> {
    let failures: Vec<String> = answer
        .get("failures")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .map(|f| {
                    let text = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default();
                    match (text("reason"), text("detail")) {
                        ("", "") => "no reason given".to_string(),
                        (reason, "") => reason.to_string(),
                        ("", detail) => detail.to_string(),
                        (reason, detail) => format!("{reason} ({detail})"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let started = answer
        .get("tasks")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    match (started, failures.is_empty()) {
        (true, true) => None,
        (_, false) => Some(failures.join("; ")),
        (false, true) => Some("RunTask answered without a task or a reason".into()),
    }
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn exit_code(container: &Value) -> Option<i32> {
    container
        .get("exitCode")
        .and_then(Value::as_i64)
        .and_then(|c| i32::try_from(c).ok())
}

/// Judges a DescribeTasks `tasks[]` entry: only `container`'s exit code decides.
pub fn judge(task: &Value, container: &str) -> Judgement {
    let status = text(task, "lastStatus");
    if status != "STOPPED" {
        return Judgement::Running(status.to_string());
    }
    let reason = text(task, "stoppedReason");
    if text(task, "stopCode") == "TaskFailedToStart" {
        return Judgement::Failed {
            why: format!("the task failed to start: {reason}"),
            ran: false,
            exit_code: None,
        };
    }
    let ours = task
        .get("containers")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| text(c, "name") == container));
    let Some(ours) = ours else {
        return Judgement::Failed {
            why: format!("the task has no container {container} ({reason})"),
            ran: true,
            exit_code: None,
        };
    };
    match exit_code(ours) {
        Some(0) => Judgement::Succeeded,
        Some(code) => Judgement::Failed {
            why: format!("container {container} exited with code {code}"),
            ran: true,
            exit_code: Some(code),
        },
        None => {
            let why = match text(ours, "reason") {
                "" => reason,
                container_reason => container_reason,
            };
            Judgement::Failed {
                why: format!("container {container} has no exit code: {why}"),
                ran: true,
                exit_code: None,
            }
        }
    }
}

/// One line per container of a stopped task: exit code and reason; the others marked as not
/// deciding.
pub fn container_lines(task: &Value, container: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for c in task
        .get("containers")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        let name = text(c, "name");
        let mut line = match exit_code(c) {
            Some(code) => format!("container {name} exit code {code}"),
            None => format!("container {name} has no exit code"),
        };
        if !text(c, "reason").is_empty() {
            line.push_str(&format!(" ({})", text(c, "reason")));
        }
        if name != container {
            line.push_str(" (does not decide the result)");
        }
        lines.push(line);
    }
    lines
}

/// The command as a person would type it, quoted where needed.
pub fn shown(command: &[String]) -> String {
    shlex::try_join(command.iter().map(String::as_str)).unwrap_or_else(|_| format!("{command:?}"))
}

/// Where the task runs, in one line.
pub fn placement_line(plan: &PreDeployPlan) -> String {
    let p = &plan.placement;
    let mut parts: Vec<String> = Vec::new();
    if let Some(launch_type) = p.get("launchType").and_then(Value::as_str) {
        parts.push(launch_type.to_string());
    }
    if let Some(strategy) = p.get("capacityProviderStrategy").and_then(Value::as_array) {
        let providers: Vec<&str> = strategy
            .iter()
            .map(|s| text(s, "capacityProvider"))
            .collect();
        parts.push(format!("capacity providers {}", providers.join(", ")));
    }
    if let Some(version) = p.get("platformVersion").and_then(Value::as_str) {
        parts.push(format!("platform {version}"));
    }
    if let Some(vpc) = p
        .get("networkConfiguration")
        .and_then(|n| n.get("awsvpcConfiguration"))
    {
        let list = |key: &str| {
            vpc.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        parts.push(format!("subnets {}", list("subnets")));
        parts.push(format!("security groups {}", list("securityGroups")));
        parts.push(format!("public IP {}", text(vpc, "assignPublicIp")));
    }
    if parts.is_empty() {
        "the cluster's defaults".into()
    } else {
        parts.join(", ")
    }
}

/// What the failure's last line says about the services, given how far the deploy got, and
/// where the chosen container logs.
pub struct Context<'a> {
    /// The chosen container's `logConfiguration` in the revision the task runs (`None`: it
    /// has none), to show its log as it arrives.
    pub log_configuration: Option<&'a Value>,
    /// The first service (whose revision and network the task used).
    pub service: &'a str,
    /// The revision that service still runs.
    pub current: &'a str,
    /// The revision the task ran, registered by this run (or the current one).
    pub task_definition: &'a str,
    /// Revisions registered by this run and now not used.
    pub registered: &'a [String],
}

impl Context<'_> {
    fn unchanged(&self) -> String {
        let mut words = format!(
            "no service was updated ({} still runs {})",
            self.service,
            revision_name(self.current)
        );
        if !self.registered.is_empty() {
            words.push_str(&format!(
                "; {} was registered and not used",
                self.registered
                    .iter()
                    .map(|r| revision_name(r))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        words
    }
}

/// Runs the task and follows it to a verdict. `Ok` only when the chosen container exited 0.
pub async fn run(
    ecs: &Ecs,
    logs: &LogReaders,
    config: &Config,
    plan: &PreDeployPlan,
    context: &Context<'_>,
    report: &Reporter,
    record: &mut TaskRecord,
) -> Result<(), Error> {
    let timeout = config
        .pre_deploy
        .as_ref()
        .map_or(Duration::from_secs(900), |p| p.timeout);
    report.step(&format!(
        "Running the pre-deploy command with {} (PRE_DEPLOY_COMMAND)",
        revision_name(context.task_definition)
    ));
    report.detail(&format!(
        "container {}: {}",
        plan.container,
        shown(&plan.command)
    ));
    report.detail(&format!(
        "where service {} runs: {}",
        context.service,
        placement_line(plan)
    ));
    let started = Instant::now();
    let task_arn = match start(ecs, config, plan, context, timeout, report).await {
        Ok(arn) => arn,
        Err(error) => {
            record.verdict = "not-started".into();
            return Err(error);
        }
    };
    record.task_arn = Some(task_arn.clone());
    let mut log = open_log(logs, config, plan, context, &task_arn, report);
    let outcome = follow_task(ecs, config, &task_arn, timeout, &mut log, report).await;
    record.duration_seconds = started.elapsed().as_secs();
    match outcome {
        Ok(task) => verdict(&task, plan, context, started, report, record),
        Err(ended) => Err(stop(ecs, config, plan, context, &task_arn, *ended, record).await),
    }
}

/// RunTask; the task's ARN, or why no task started. The request carries one `clientToken`
/// for this run, so every retry of it (the SDK's) starts the task at most once; when the
/// answer is lost all the same, the task is looked for by `startedBy`.
async fn start(
    ecs: &Ecs,
    config: &Config,
    plan: &PreDeployPlan,
    context: &Context<'_>,
    timeout: Duration,
    report: &Reporter,
) -> Result<String, Error> {
    let started_by = started_by(&config.context);
    let tags = crate::rules::task_def::audit_tags(&config.context);
    let mut request = run_task_request(
        &config.target.cluster,
        context.task_definition,
        plan,
        &tags,
        &started_by,
    );
    if let Some(fields) = request.as_object_mut() {
        fields.insert("clientToken".into(), json!(idempotency_token()));
    }
    let sent_at = epoch_now();
    let answer = match ecs.run_task(&request).await {
        Ok(answer) => answer,
        Err(err) if err.is_ambiguous() => {
            let lost = LostRun {
                started_by: &started_by,
                sent_at,
                err,
            };
            return find_lost_task(ecs, config, context, &lost, timeout, report).await;
        }
        Err(err) => {
            return Err(Error::Aws {
                step: "starting the pre-deploy task".into(),
                err: err.into(),
                changed: changed(context),
            });
        }
    };
    if let Some(why) = run_failure(&answer) {
        return Err(Error::PreDeploy {
            verdict: format!(
                "PRE_DEPLOY_COMMAND did not run: RunTask started no task: {why}; {}",
                context.unchanged()
            ),
            details: Vec::new(),
            hints: vec![
                "check that the cluster has capacity where the service runs, and that the image can be pulled".into(),
            ],
            ran: false,
        });
    }
    let task_arn = answer
        .pointer("/tasks/0/taskArn")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    report.detail(&format!(
        "task {} started (startedBy {started_by}, timeout {})",
        short_task(&task_arn),
        human(timeout)
    ));
    Ok(task_arn)
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A RunTask whose answer was lost.
struct LostRun<'a> {
    started_by: &'a str,
    /// When it was sent, in epoch seconds.
    sent_at: f64,
    err: AwsError,
}

/// How far this machine's clock and ECS's may be apart when telling this run's task from an
/// earlier run's with the same `startedBy` (a re-run of the step keeps the build number).
pub const CLOCK_SKEW_SECONDS: f64 = 60.0;

/// The task a RunTask without an answer started, among `tasks` (DescribeTasks entries found
/// by `startedBy`): the newest one running `task_definition` and created after the call was
/// sent (give or take [`CLOCK_SKEW_SECONDS`]).
pub fn lost_task(tasks: &[Value], task_definition: &str, sent_at: f64) -> Option<String> {
    tasks
        .iter()
        .filter(|t| text(t, "taskDefinitionArn") == task_definition)
        .map(|t| (t.get("createdAt").and_then(Value::as_f64).unwrap_or(0.0), t))
        .filter(|(created, _)| *created >= sent_at - CLOCK_SKEW_SECONDS)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, t)| text(t, "taskArn").to_string())
        .filter(|arn| !arn.is_empty())
}

/// After a RunTask without an answer: ListTasks by `startedBy`, and follow the task found.
/// Says the command did not run only when that read found no task.
async fn find_lost_task(
    ecs: &Ecs,
    config: &Config,
    context: &Context<'_>,
    lost: &LostRun<'_>,
    timeout: Duration,
    report: &Reporter,
) -> Result<String, Error> {
    let err = &lost.err;
    report.warn(&format!(
        "{err}; the task may have started all the same, so looking for it by startedBy {}",
        lost.started_by
    ));
    let name = revision_name(context.task_definition);
    let family = name.rsplit_once(':').map_or(name, |(family, _)| family);
    let tasks = match ecs
        .tasks_started_by(&config.target.cluster, family, lost.started_by)
        .await
    {
        Ok(tasks) => tasks,
        Err(read) => {
            return Err(Error::PreDeploy {
                verdict: format!(
                    "it is not known whether PRE_DEPLOY_COMMAND ran: RunTask's answer was lost ({err}) and looking for its task failed too ({read}); {}",
                    context.unchanged()
                ),
                details: Vec::new(),
                hints: vec![format!(
                    "look for the task before re-running: aws ecs list-tasks --cluster {} --started-by {}",
                    config.target.cluster, lost.started_by
                )],
                ran: true,
            });
        }
    };
    let Some(task_arn) = lost_task(&tasks, context.task_definition, lost.sent_at) else {
        return Err(Error::PreDeploy {
            verdict: format!(
                "PRE_DEPLOY_COMMAND did not run: RunTask's answer was lost ({err}) and ListTasks shows no task of {name} started by {} since; {}",
                lost.started_by,
                context.unchanged()
            ),
            details: Vec::new(),
            hints: vec![
                "the network between the runner and ECS dropped the call; re-run the step".into(),
            ],
            ran: false,
        });
    };
    report.detail(&format!(
        "found task {} by startedBy {}: following it (timeout {})",
        short_task(&task_arn),
        lost.started_by,
        human(timeout)
    ));
    Ok(task_arn)
}

/// The chosen container's log stream, to show as it arrives, or `None` (said once why).
fn open_log(
    logs: &LogReaders,
    config: &Config,
    plan: &PreDeployPlan,
    context: &Context<'_>,
    task_arn: &str,
    report: &Reporter,
) -> Option<Log> {
    if config.wait.log_lines == 0 {
        return None;
    }
    match logs::locate(
        context.log_configuration,
        &plan.container,
        task_arn,
        &config.target.region,
    ) {
        Located::CloudWatch(at) => {
            report.detail(&format!(
                "its log as it arrives (log group {}, stream {}, {}):",
                at.group, at.stream, at.region
            ));
            Some(Log {
                reader: logs.in_region(&at.region),
                cursor: Cursor::new(&at.group, &at.stream),
            })
        }
        Located::Elsewhere(why) => {
            report.detail(logs::no_logs(&plan.container, &why).trim_start());
            None
        }
    }
}

/// Stops a task that ran out of time or whose step was stopped; the error says so.
async fn stop(
    ecs: &Ecs,
    config: &Config,
    plan: &PreDeployPlan,
    context: &Context<'_>,
    task_arn: &str,
    ended: Ended,
    record: &mut TaskRecord,
) -> Error {
    let stopped = match ecs
        .stop_task(&config.target.cluster, task_arn, &ended.reason)
        .await
    {
        Ok(()) => format!("the pipe stopped task {}", short_task(task_arn)),
        Err(err) => stop_read_back(ecs, &config.target.cluster, task_arn, &err).await,
    };
    record.verdict = ended.verdict.into();
    Error::PreDeploy {
        verdict: format!(
            "PRE_DEPLOY_COMMAND {}; {stopped}; {}",
            ended.what,
            context.unchanged()
        ),
        details: container_lines(&ended.last.unwrap_or(Value::Null), &plan.container),
        hints: ended.hints,
        ran: ended.ran,
    }
}

/// After a StopTask that failed: DescribeTasks, and say whether the task stopped.
async fn stop_read_back(ecs: &Ecs, cluster: &str, task_arn: &str, err: &AwsError) -> String {
    let short = short_task(task_arn);
    let by_hand = format!("stop it by hand: aws ecs stop-task --cluster {cluster} --task {short}");
    match ecs.describe_task(cluster, task_arn).await {
        Ok(Some(task)) => stop_words(&task, short, err, &by_hand),
        Ok(None) => format!(
            "stopping task {short} failed ({err}) and DescribeTasks does not show it; check whether it still runs and {by_hand}"
        ),
        Err(read) => format!(
            "stopping task {short} failed ({err}) and reading it back failed too ({read}); check whether it still runs and {by_hand}"
        ),
    }
}

/// What a task read back after a failed StopTask shows, in words.
pub fn stop_words(task: &Value, short: &str, err: &AwsError, by_hand: &str) -> String {
    match (text(task, "lastStatus"), text(task, "desiredStatus")) {
        ("STOPPED", _) => format!(
            "StopTask for task {short} answered with an error ({err}), but DescribeTasks shows it STOPPED"
        ),
        (status, "STOPPED") => format!(
            "StopTask for task {short} answered with an error ({err}), but DescribeTasks shows it stopping ({status}, desired status STOPPED)"
        ),
        (status, _) => format!(
            "stopping task {short} failed ({err}) and DescribeTasks shows it still {status}; {by_hand}"
        ),
    }
}

/// The verdict of a STOPPED task: only the chosen container's exit code decides.
fn verdict(
    task: &Value,
    plan: &PreDeployPlan,
    context: &Context<'_>,
    started: Instant,
    report: &Reporter,
    record: &mut TaskRecord,
) -> Result<(), Error> {
    let lines = container_lines(task, &plan.container);
    let task_arn = text(task, "taskArn");
    match judge(task, &plan.container) {
        Judgement::Succeeded => {
            record.exit_code = Some(0);
            record.verdict = "succeeded".into();
            for line in lines {
                report.detail(&line);
            }
            report.detail(&format!(
                "the pre-deploy command succeeded in {}",
                human(started.elapsed())
            ));
            Ok(())
        }
        Judgement::Failed {
            why,
            ran,
            exit_code,
        } => {
            record.exit_code = exit_code;
            record.verdict = if ran { "failed" } else { "not-started" }.into();
            let mut details = lines;
            let reason = text(task, "stoppedReason");
            if !reason.is_empty() {
                details.push(format!("task stopped: {reason}"));
            }
            details.push(format!("task {task_arn}"));
            Err(Error::PreDeploy {
                verdict: format!(
                    "PRE_DEPLOY_COMMAND failed: {why} (task {}, after {}); {}",
                    short_task(task_arn),
                    human(started.elapsed()),
                    context.unchanged()
                ),
                details,
                hints: if ran {
                    vec!["the command ran and may have changed things (half a migration); fix it and re-run the step: the revision is registered again".into()]
                } else {
                    vec!["the task never started; check that the image can be pulled and the cluster has capacity where the service runs".into()]
                },
                ran,
            })
        }
        Judgement::Running(status) => Err(Error::PreDeploy {
            verdict: format!(
                "PRE_DEPLOY_COMMAND has no verdict: task {} is {status}; {}",
                short_task(task_arn),
                context.unchanged()
            ),
            details: Vec::new(),
            hints: Vec::new(),
            ran: true,
        }),
    }
}

/// The chosen container's stream, read as it grows.
struct Log {
    reader: LogReader,
    cursor: Cursor,
}

/// Prints what the container logged since the last call, each line once, in order. A read
/// that fails is said once and ends the streaming; the command's verdict does not depend on it.
async fn show_new_lines(log: &mut Option<Log>, report: &Reporter) {
    let Some(current) = log.as_mut() else {
        return;
    };
    match current.reader.read_new(&mut current.cursor).await {
        Ok(events) => {
            for line in events
                .iter()
                .flat_map(|e| e.message.lines())
                .map(|line| line.trim_end_matches('\r'))
            {
                report.detail(&format!("  {}", logs::cut(line)));
            }
        }
        Err(err) => {
            let missing = if err.is_access_denied() {
                " (the role needs logs:GetLogEvents on the log group)"
            } else {
                ""
            };
            report.warn(&format!(
                "cannot show the command's log: {err}{missing}; following the task without it"
            ));
            *log = None;
        }
    }
}

/// Why following the task ended before it stopped.
struct Ended {
    last: Option<Value>,
    reason: String,
    what: String,
    verdict: &'static str,
    hints: Vec<String>,
    ran: bool,
}

/// Polls the task until it is STOPPED; `Err` on a timeout or a signal (the caller stops it).
async fn follow_task(
    ecs: &Ecs,
    config: &Config,
    task_arn: &str,
    timeout: Duration,
    log: &mut Option<Log>,
    report: &Reporter,
) -> Result<Value, Box<Ended>> {
    let deadline = Instant::now() + timeout;
    let mut stop = std::pin::pin!(shutdown_signal());
    let mut last: Option<Value> = None;
    let mut shown_status = String::new();
    let mut reached_running = false;
    loop {
        let described = tokio::select! {
            d = ecs.describe_task(&config.target.cluster, task_arn) => d,
            () = &mut stop => return Err(Box::new(interrupted(last, reached_running))),
        };
        match described {
            Ok(Some(task)) => {
                let status = text(&task, "lastStatus").to_string();
                reached_running |=
                    matches!(status.as_str(), "RUNNING" | "DEACTIVATING" | "STOPPING")
                        || task.get("startedAt").is_some();
                if status != shown_status {
                    report.detail(&format!("task {status}"));
                    shown_status.clone_from(&status);
                }
                if reached_running {
                    show_new_lines(log, report).await;
                }
                if status == "STOPPED" {
                    return Ok(task);
                }
                last = Some(task);
            }
            Ok(None) => {}
            Err(err) if err.is_transient() => {
                report.warn(&format!("{err}; still waiting, will ask again"));
            }
            Err(err) => report.warn(&format!(
                "{err}; the task's status cannot be read, waiting until PRE_DEPLOY_TIMEOUT"
            )),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Box::new(Ended {
                last,
                reason: format!(
                    "ecs-oidc-deploy: PRE_DEPLOY_TIMEOUT ({}) passed",
                    human(timeout)
                ),
                what: format!(
                    "did not finish within PRE_DEPLOY_TIMEOUT ({})",
                    human(timeout)
                ),
                verdict: "timed-out",
                hints: vec!["raise PRE_DEPLOY_TIMEOUT if the command needs longer".into()],
                ran: reached_running,
            }));
        }
        let pause = config.wait.interval.min(deadline - now);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = &mut stop => return Err(Box::new(interrupted(last, reached_running))),
        }
    }
}

fn interrupted(last: Option<Value>, ran: bool) -> Ended {
    Ended {
        last,
        reason: "ecs-oidc-deploy: the Bitbucket step was stopped".into(),
        what: "was interrupted: the step was stopped (SIGTERM/SIGINT) while it ran".into(),
        verdict: "stopped",
        hints: Vec::new(),
        ran,
    }
}

fn changed(context: &Context<'_>) -> Changed {
    if context.registered.is_empty() {
        Changed::Nothing
    } else {
        Changed::Registered {
            revisions: context.registered.to_vec(),
            several_services: false,
        }
    }
}

fn short_task(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
