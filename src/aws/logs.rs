//! Container logs in CloudWatch Logs: where a container's lines are and how to show them
//! (pure), and the reader, the only code that names CloudWatch Logs operations.
//!
//! ECS's `awslogs` driver writes a container's output to the stream
//! `<awslogs-stream-prefix>/<container name>/<task id>` of `awslogs-group` in `awslogs-region`,
//! so the stream of a stopped task follows from its task definition and its ARN alone. Other
//! drivers send the output elsewhere, and `awslogs` without a prefix names the stream after the
//! Docker container id, which ECS does not report; [`locate`] says where to look instead.
//!
//! Clients are built only when a read is needed ([`LogReaders`]), one per region, because a
//! log group may live in another region than the cluster.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::date_time::{DateTime, Format};
use serde_json::Value;

use crate::error::AwsError;

/// Longer lines are cut, so one huge JSON line cannot flood the pipeline log.
pub const MAX_LINE_CHARS: usize = 500;
/// Pages [`LogReader::read_new`] reads per call at most, so a chatty task cannot stall its caller.
const MAX_PAGES_PER_READ: usize = 10;

/// Where one container's stream of one task is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLocation {
    /// `awslogs-group`.
    pub group: String,
    /// `awslogs-region`, or the cluster's region when the option is not set.
    pub region: String,
    /// `<awslogs-stream-prefix>/<container>/<task id>`.
    pub stream: String,
}

impl StreamLocation {
    /// The ARN an IAM statement names to allow reading every stream of the group.
    pub fn group_arn(&self, partition: &str, account: &str) -> String {
        format!(
            "arn:{partition}:logs:{}:{account}:log-group:{}:*",
            self.region, self.group
        )
    }
}

/// The answer of [`locate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// The stream, readable with GetLogEvents.
    CloudWatch(StreamLocation),
    /// Not readable here: why, and where the output is instead (one clause, no full stop).
    Elsewhere(String),
}

/// The task id: the last segment of a task ARN (`arn:…:task/<cluster>/<id>`, or the older
/// `arn:…:task/<id>`).
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// Where `container` of the task `task_arn` logged, given its container definition's
/// `logConfiguration` (`None` when it has none).
pub fn locate(
    log_configuration: Option<&Value>,
    container: &str,
    task_arn: &str,
    default_region: &str,
) -> Located {
    let Some(config) = log_configuration.filter(|c| !c.is_null()) else {
        return Located::Elsewhere(
            "its container definition has no logConfiguration, so ECS kept none of its output"
                .into(),
        );
    };
    let driver = config
        .get("logDriver")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let option = |name: &str| option(config, name);
    if driver != "awslogs" {
        return Located::Elsewhere(elsewhere(driver));
    }
    let region = option("awslogs-region")
        .unwrap_or(default_region)
        .to_string();
    let Some(group) = option("awslogs-group") else {
        return Located::Elsewhere("its awslogs logConfiguration names no awslogs-group".into());
    };
    let Some(prefix) = option("awslogs-stream-prefix") else {
        return Located::Elsewhere(format!(
            "it logs with awslogs but without awslogs-stream-prefix, so its stream is named after the Docker container id, which ECS does not report; look in log group {group} ({region}), or add awslogs-stream-prefix to the task definition"
        ));
    };
    Located::CloudWatch(StreamLocation {
        group: group.to_string(),
        region,
        stream: format!("{prefix}/{container}/{}", task_id(task_arn)),
    })
}

/// A log driver option of a `logConfiguration`; blank counts as unset.
fn option<'a>(config: &'a Value, name: &str) -> Option<&'a str> {
    config
        .get("options")
        .and_then(|o| o.get(name))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Where a non-`awslogs` driver sends a container's output. Option values are never printed:
/// a driver's options can hold tokens.
fn elsewhere(driver: &str) -> String {
    let destination = match driver {
        "" => return "its logConfiguration names no logDriver".into(),
        "none" => return "its log driver is none, so its output was not kept".into(),
        "awsfirelens" => {
            "wherever the task's FireLens log router sends it (see the options of its logConfiguration)"
        }
        "splunk" => "in Splunk (see splunk-url in its logConfiguration)",
        "fluentd" => "in Fluentd (see fluentd-address in its logConfiguration)",
        "gelf" => "on the GELF server (see gelf-address in its logConfiguration)",
        "syslog" => "in syslog (see syslog-address in its logConfiguration)",
        "json-file" | "journald" | "local" => "on the container instance that ran the task",
        _ => "wherever that driver sends it",
    };
    format!("it logs with the {driver} driver, so its output is {destination}")
}

/// One log event as CloudWatch Logs stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the epoch, as the container wrote it.
    pub timestamp: i64,
    /// The line(s), exactly as written.
    pub message: String,
}

/// The lines shown under a failure group: a header naming the stream and the time of the last
/// line, then the last `lines` lines, each indented and cut at [`MAX_LINE_CHARS`]. Every line
/// is otherwise printed as the application wrote it. An event holding several lines (a stack
/// trace joined by a multi-line pattern) counts as several.
pub fn show_tail(
    container: &str,
    at: &StreamLocation,
    events: &[LogEvent],
    lines: usize,
) -> Vec<String> {
    let Some(last) = events.last() else {
        return vec![no_logs(
            container,
            &format!(
                "log stream {} in log group {} ({}) has no lines",
                at.stream, at.group, at.region
            ),
        )];
    };
    // A carriage return would make Bitbucket's log overwrite the line; it ends lines here.
    let all: Vec<&str> = events
        .iter()
        .flat_map(|e| e.message.lines())
        .map(|line| line.trim_end_matches('\r'))
        .collect();
    let shown = &all[all.len().saturating_sub(lines)..];
    let mut out = vec![format!(
        "  last {} of container {container}, up to {} (log group {}, stream {}, {}):",
        count(shown.len(), "line"),
        timestamp(last.timestamp),
        at.group,
        at.stream,
        at.region
    )];
    out.extend(shown.iter().map(|line| format!("    {}", cut(line))));
    out
}

/// The one line said instead of the logs of `container`.
pub fn no_logs(container: &str, why: &str) -> String {
    format!("  no logs of container {container}: {why}")
}

/// `line`, cut at [`MAX_LINE_CHARS`] with a note of how much was left out.
pub fn cut(line: &str) -> String {
    let total = line.chars().count();
    if total <= MAX_LINE_CHARS {
        return line.to_string();
    }
    let kept: String = line.chars().take(MAX_LINE_CHARS).collect();
    let more = total - MAX_LINE_CHARS;
    format!(
        "{kept} … [{more} more character{}]",
        if more == 1 { "" } else { "s" }
    )
}

/// `2026-11-26T10:00:01.123Z`: the time a user finds the line at in the console.
pub fn timestamp(millis: i64) -> String {
    DateTime::from_millis(millis)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| format!("{millis} ms after the epoch"))
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What [`LogReader::last_events`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// The newest events, oldest first (empty when the stream has none).
    Events(Vec<LogEvent>),
    /// The stream (or its group) does not exist.
    NoStream,
}

/// Where [`LogReader::read_new`] goes on from: a stream and how far it has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The log group.
    pub group: String,
    /// The stream.
    pub stream: String,
    token: Option<String>,
}

impl Cursor {
    /// A cursor at the start of a stream, which need not exist yet.
    pub fn new(group: &str, stream: &str) -> Self {
        Self {
            group: group.to_string(),
            stream: stream.to_string(),
            token: None,
        }
    }
}

/// Reads one region's CloudWatch Logs.
#[derive(Debug, Clone)]
pub struct LogReader {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl LogReader {
    /// Wraps a client.
    pub fn new(client: aws_sdk_cloudwatchlogs::Client) -> Self {
        Self { client }
    }

    /// The newest `limit` events of a stream (GetLogEvents with `startFromHead=false`): one call.
    pub async fn last_events(
        &self,
        group: &str,
        stream: &str,
        limit: u32,
    ) -> Result<Tail, AwsError> {
        let result = self
            .client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await;
        match result {
            Ok(out) => Ok(Tail::Events(events(out.events()))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(Tail::NoStream)
            }
            Err(e) => Err(AwsError::from_sdk("logs:GetLogEvents", &e)),
        }
    }

    /// True when the log group `name` exists (`DescribeLogGroups` with the name as prefix,
    /// compared exactly, a few pages at most). Nothing is written. For `PREFLIGHT`.
    pub async fn group_exists(&self, name: &str) -> Result<bool, AwsError> {
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES_PER_READ {
            let out = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(name)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("logs:DescribeLogGroups", &e))?;
            if out
                .log_groups()
                .iter()
                .any(|g| g.log_group_name() == Some(name))
            {
                return Ok(true);
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(false)
    }

    /// The events written since the cursor's last read, oldest first (GetLogEvents with
    /// `startFromHead=true`, following `nextForwardToken`), for showing a one-off task's log
    /// as it arrives. A stream that does not exist yet reads as empty, so the caller can start
    /// before the container has written anything and simply call again.
    pub async fn read_new(&self, cursor: &mut Cursor) -> Result<Vec<LogEvent>, AwsError> {
        let mut read = Vec::new();
        for _ in 0..MAX_PAGES_PER_READ {
            let result = self
                .client
                .get_log_events()
                .log_group_name(&cursor.group)
                .log_stream_name(&cursor.stream)
                .start_from_head(true)
                .set_next_token(cursor.token.clone())
                .send()
                .await;
            let out = match result {
                Ok(out) => out,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(read);
                }
                Err(e) => return Err(AwsError::from_sdk("logs:GetLogEvents", &e)),
            };
            read.extend(events(out.events()));
            // The end of the stream is where CloudWatch Logs hands back the token it was given.
            let next = out.next_forward_token().map(str::to_string);
            let at_end = next.is_none() || next == cursor.token;
            if next.is_some() {
                cursor.token = next;
            }
            if at_end {
                break;
            }
        }
        Ok(read)
    }
}

fn events(events: &[aws_sdk_cloudwatchlogs::types::OutputLogEvent]) -> Vec<LogEvent> {
    events
        .iter()
        .map(|e| LogEvent {
            timestamp: e.timestamp().unwrap_or_default(),
            message: e.message().unwrap_or_default().to_string(),
        })
        .collect()
}

/// Builds a [`LogReader`] per region the first time one is asked for, with the deploy's
/// credentials, so a deploy that never needs logs never builds a client.
#[derive(Debug)]
pub struct LogReaders {
    endpoint: Option<String>,
    credentials: SharedCredentialsProvider,
    built: Mutex<HashMap<String, LogReader>>,
}

impl LogReaders {
    /// Readers signing with `credentials`, sent to `endpoint` when it is overridden.
    pub fn new(endpoint: Option<String>, credentials: SharedCredentialsProvider) -> Self {
        Self {
            endpoint,
            credentials,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The reader for `region`.
    pub fn in_region(&self, region: &str) -> LogReader {
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        built
            .entry(region.to_string())
            .or_insert_with(|| {
                LogReader::new(crate::aws::logs_client(
                    region,
                    self.endpoint.as_deref(),
                    self.credentials.clone(),
                ))
            })
            .clone()
    }
}
