//! `UPDATE_SCHEDULED_TASKS`, the step: after a verified deploy, move the EventBridge rules and
//! Scheduler schedules that pinned a service's old revision to its new one. Reads through
//! [`crate::aws::eventbridge`], decides with [`crate::rules::scheduled`] (pure), writes, and reports a line
//! per rule or schedule. A failure here comes after a successful deploy, so it says what is
//! deployed and which scheduled tasks still run the old revision.

use std::collections::BTreeSet;

use crate::aws;
use crate::aws::Written;
use crate::aws::eventbridge::{EventBridge, Rule, Target};
use crate::aws::scheduler::{Schedule, ScheduleRead, Scheduler};
use crate::error::{AwsError, Error, access_denied_hints, parse_denied};
use crate::report::Reporter;
use crate::rules::scheduled::{self, Kind, Revisions, short_revision};
use crate::steps::outputs::ScheduledTaskRecord;

/// The two services scheduled tasks live in: EventBridge's rules and Scheduler's schedules.
pub struct Schedulers {
    /// Rules and their targets.
    pub events: EventBridge,
    /// Schedules.
    pub scheduler: Scheduler,
}

/// What the decision chose to move.
type Selection = scheduled::Selection<Target, ScheduleRead>;

/// Why the scheduled tasks did not all move.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The rules and schedules that still run the old revision, one phrase each; empty when
    /// they could not even be read.
    pub still_old: Vec<String>,
    /// The old revisions concerned (`web:41`).
    pub old: Vec<String>,
    /// The new revisions they should have moved to (`web:42`).
    pub new: Vec<String>,
    /// The errors, first one first.
    pub errors: Vec<AwsError>,
}

/// Reads every rule (on every bus) and every schedule (in every group) that targets the cluster.
pub async fn read(
    schedulers: &Schedulers,
    cluster_arn: &str,
) -> Result<(Vec<Rule>, Vec<Schedule>), AwsError> {
    let mut rules = Vec::new();
    for bus in schedulers.events.event_buses().await? {
        rules.extend(schedulers.events.rules_targeting(&bus, cluster_arn).await?);
    }
    let mut schedules = schedulers
        .scheduler
        .schedules_targeting(cluster_arn)
        .await?;
    // ListSchedules' order is not documented; the log and outputs should not change run to run.
    schedules.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
    Ok((rules, schedules))
}

/// Where the clients go and with which credentials; the clients are built only here, so a run
/// without `UPDATE_SCHEDULED_TASKS` never builds one.
#[derive(Debug, Clone)]
pub struct Endpoints<'a> {
    /// The cluster's region.
    pub region: &'a str,
    /// `AWS_ENDPOINT_URL_EVENTBRIDGE` (or `AWS_ENDPOINT_URL`).
    pub events: Option<&'a str>,
    /// `AWS_ENDPOINT_URL_SCHEDULER` (or `AWS_ENDPOINT_URL`).
    pub scheduler: Option<&'a str>,
}

/// What [`move_scheduled_tasks`] did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Every revision the cluster's rules and schedules pinned when read (`None`: they could
    /// not be read, so any revision may be pinned).
    pub pinned: Option<BTreeSet<String>>,
    /// Set when not everything moved.
    pub failure: Option<Failure>,
}

/// Builds the EventBridge and Scheduler clients and moves (or, on a dry run, lists) the
/// scheduled tasks; see [`move_with`].
pub async fn move_scheduled_tasks(
    endpoints: &Endpoints<'_>,
    credentials: aws::Credentials,
    cluster_arn: &str,
    deployed: &[Revisions],
    dry_run: bool,
    report: &Reporter,
    records: &mut Vec<ScheduledTaskRecord>,
) -> Outcome {
    let schedulers = Schedulers {
        events: EventBridge::new(aws::events_client(
            endpoints.region,
            endpoints.events,
            credentials.clone(),
        )),
        scheduler: Scheduler::new(aws::scheduler_client(
            endpoints.region,
            endpoints.scheduler,
            credentials,
        )),
    };
    move_with(&schedulers, cluster_arn, deployed, dry_run, report, records).await
}

/// Moves (or, on a dry run, lists) every rule target and schedule of `cluster_arn` that pins a
/// `deployed` old revision, and says which revisions the rules and schedules pin, which
/// `KEEP_REVISIONS` must keep.
pub async fn move_with(
    schedulers: &Schedulers,
    cluster_arn: &str,
    deployed: &[Revisions],
    dry_run: bool,
    report: &Reporter,
    records: &mut Vec<ScheduledTaskRecord>,
) -> Outcome {
    let changed: Vec<&Revisions> = deployed.iter().filter(|r| r.old != r.new).collect();
    let olds: Vec<String> = changed
        .iter()
        .map(|r| short_revision(&r.old).to_string())
        .collect();
    let news: Vec<String> = changed
        .iter()
        .map(|r| short_revision(&r.new).to_string())
        .collect();
    report.step(&if dry_run {
        "Scheduled tasks that would follow the deploy (UPDATE_SCHEDULED_TASKS)".to_string()
    } else {
        format!(
            "Moving the scheduled tasks on {} to the new revision (UPDATE_SCHEDULED_TASKS)",
            olds.join(", ")
        )
    });
    let (rules, schedules) = match read(schedulers, cluster_arn).await {
        Ok(read) => read,
        Err(err) => {
            report.warn(&format!("could not read the scheduled tasks: {err}"));
            return Outcome {
                pinned: None,
                failure: Some(Failure {
                    still_old: Vec::new(),
                    old: olds,
                    new: news,
                    errors: vec![err],
                }),
            };
        }
    };
    let selection = scheduled::select(cluster_arn, deployed, &rules, &schedules);
    let pinned = Some(scheduled::pinned(cluster_arn, &rules, &schedules));
    report_left_alone(&selection, report, records);
    if selection.rules.is_empty() && selection.schedules.is_empty() {
        report.detail(&format!(
            "no EventBridge rule or Scheduler schedule of this cluster pins {}",
            if olds.is_empty() {
                "the old revision".to_string()
            } else {
                olds.join(" or ")
            }
        ));
        return Outcome {
            pinned,
            failure: None,
        };
    }
    let failures = write(schedulers, &selection, dry_run, report, records).await;
    if failures.is_empty() {
        return Outcome {
            pinned,
            failure: None,
        };
    }
    let (still_old, errors) = failures.into_iter().unzip();
    Outcome {
        pinned,
        failure: Some(Failure {
            still_old,
            old: olds,
            new: news,
            errors,
        }),
    }
}

/// A line and a record for each target left alone.
fn report_left_alone(
    selection: &Selection,
    report: &Reporter,
    records: &mut Vec<ScheduledTaskRecord>,
) {
    for left in &selection.left_alone {
        report.detail(&left.line());
        records.push(ScheduledTaskRecord {
            kind: kind_word(left.kind).into(),
            place: left.place.clone(),
            name: left.name.clone(),
            previous_task_definition_arn: left.pinned.clone(),
            task_definition_arn: None,
            verdict: "left-alone".into(),
            message: left.reason.clone(),
        });
    }
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Rule => "rule",
        Kind::Schedule => "schedule",
    }
}

/// Writes every move (or only reports it, on a dry run). Tries them all, so one refused role
/// does not hold back the rest; returns (what still runs old, why) for each failure.
async fn write(
    schedulers: &Schedulers,
    selection: &Selection,
    dry_run: bool,
    report: &Reporter,
    records: &mut Vec<ScheduledTaskRecord>,
) -> Vec<(String, AwsError)> {
    let mut failures = Vec::new();
    for m in &selection.rules {
        let what = format!("rule {} on bus {}", m.rule, m.bus);
        let result = if dry_run {
            None
        } else {
            Some(
                schedulers
                    .events
                    .put_targets(&m.bus, &m.rule, &m.targets)
                    .await,
            )
        };
        let record = outcome(&m.line(), result, report, &what, &mut failures);
        records.push(ScheduledTaskRecord {
            kind: "rule".into(),
            place: m.bus.clone(),
            name: m.rule.clone(),
            previous_task_definition_arn: m.old.clone(),
            task_definition_arn: Some(m.new.clone()),
            ..record
        });
    }
    for m in &selection.schedules {
        let what = format!("schedule {} in group {}", m.name, m.group);
        let result = if dry_run {
            None
        } else {
            Some(schedulers.scheduler.update_schedule(&m.schedule).await)
        };
        let record = outcome(&m.line(), result, report, &what, &mut failures);
        records.push(ScheduledTaskRecord {
            kind: "schedule".into(),
            place: m.group.clone(),
            name: m.name.clone(),
            previous_task_definition_arn: m.old.clone(),
            task_definition_arn: Some(m.new.clone()),
            ..record
        });
    }
    failures
}

/// Reports one write (`None`: a dry run) and gives its record's verdict and message.
fn outcome(
    line: &str,
    result: Option<Result<Written, AwsError>>,
    report: &Reporter,
    what: &str,
    failures: &mut Vec<(String, AwsError)>,
) -> ScheduledTaskRecord {
    let (verdict, message) = match result {
        None => {
            report.detail(&format!("would move {line}"));
            ("dry-run", String::new())
        }
        Some(Ok(Written::Answered)) => {
            report.detail(&format!("moved {line}"));
            ("moved", String::new())
        }
        Some(Ok(Written::ReadBack)) => {
            report.detail(&format!(
                "moved {line} (the answer was lost; read back, it is moved)"
            ));
            ("moved", String::new())
        }
        Some(Err(err)) => {
            report.warn(&format!("could not move {line}: {err}"));
            let message = err.to_string();
            failures.push((what.to_string(), err));
            ("failed", message)
        }
    };
    ScheduledTaskRecord {
        verdict: verdict.into(),
        message,
        ..ScheduledTaskRecord::default()
    }
}

/// The error for a deploy that succeeded and whose scheduled tasks did not all move.
/// `deployed` says what is deployed ("service web is deployed (web:42)").
pub fn error(deployed: String, failure: Failure) -> Error {
    let first = failure.errors.first().cloned().unwrap_or_else(|| {
        AwsError::plain(
            "events:PutTargets",
            "the scheduled tasks could not be moved",
        )
    });
    let old = failure.old.join(" or ");
    let still_old = if failure.still_old.is_empty() {
        format!(
            "the scheduled tasks could not be read, so any rule or schedule pinned to {old} still runs it"
        )
    } else {
        format!(
            "{} still run{} {old}",
            failure.still_old.join(", "),
            if failure.still_old.len() == 1 {
                "s"
            } else {
                ""
            }
        )
    };
    let denied = first.message.as_deref().and_then(parse_denied);
    let cause = match denied.as_ref().and_then(|d| d.action.clone()) {
        Some(action) => format!(
            "{} was refused because the role may not {action}",
            first.operation
        ),
        None => first.to_string(),
    };
    let mut details: Vec<String> = failure.errors.iter().map(ToString::to_string).collect();
    details.dedup();
    details.extend(
        first
            .request_id
            .iter()
            .map(|id| format!("request id: {id}")),
    );
    Error::ScheduledTasks {
        deployed,
        still_old,
        cause,
        details,
        hints: hints(&first, &failure.new.join(" or ")),
    }
}

fn hints(err: &AwsError, new: &str) -> Vec<String> {
    let denied = err.message.as_deref().and_then(parse_denied);
    let mut hints = if denied.as_ref().and_then(|d| d.action.as_deref()) == Some("iam:PassRole") {
        let role = denied
            .and_then(|d| d.resource)
            .unwrap_or_else(|| "the target's role".into());
        vec![format!(
            "moving a rule or schedule passes its target's role: allow iam:PassRole on {role} with the condition iam:PassedToService = events.amazonaws.com (rules) or scheduler.amazonaws.com (schedules)"
        ), "`ecs-oidc-deploy --print-iam-policy` with UPDATE_SCHEDULED_TASKS: 'true' prints the complete policy this deploy needs".into()]
    } else if err.is_access_denied() {
        access_denied_hints(err)
    } else {
        Vec::new()
    };
    hints.push(format!("the services are deployed: point the rules and schedules named above at {new} by hand (a re-run of this step would find them pinned to an older revision and leave them alone)"));
    hints
}
