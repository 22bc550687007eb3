//! The follow loop: one poll over every deployment this run started (describe → report
//! what changed → judge → sleep), until each has a verdict or the time is up.
//!
//! Judgement lives in `rollout.rs`; this module only fetches, prints and keeps time. Services
//! are described [`DESCRIBE_SERVICES_MAX`] per call, so N services cost ceil(N/10) calls a
//! poll. Each new service event is printed once, a deployment line only when it changed, and
//! a heartbeat when nothing has been printed for a while. With several services every line
//! starts with `[service]`. A poll that fails after the SDK's retries (throttling, a lost
//! connection, a server error) is not a verdict: it is said in one line and asked again, and
//! only `WAIT_TIMEOUT` ends such a wait, saying how long ECS could not be read and what was last
//! seen. A signal from Bitbucket ends the wait at once.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::aws::codedeploy::CodeDeploy;
use crate::aws::ecs::{DESCRIBE_SERVICES_MAX, Ecs, Lookup};
use crate::aws::logs::LogReaders;
use crate::error::{AwsError, Changed, Error};
use crate::report::Reporter;
use crate::rules::operate::{self, Pause};
use crate::rules::rollout::{
    self, EventLog, Failure, FailureKind, Service, ServiceEvent, Tracked, Verdict, revision_name,
};
use crate::rules::rollout_end::{self, End, Seen};
use crate::steps::blue_green::{self, Following, Polled};
use crate::steps::diagnose;

/// The longest pause between polls after repeated transient errors.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What `follow` needs to know besides the deployments.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Give up after this long.
    pub timeout: Duration,
    /// Pause between polls.
    pub interval: Duration,
    /// Say something at least this often.
    pub heartbeat: Duration,
    /// `LOG_LINES`: lines of each failed container's log in a failure report (0: none).
    pub log_lines: u32,
    /// Task definitions the deploy already holds, by ARN (each new revision's register
    /// request), so a failure report need not describe them again.
    pub task_definitions: HashMap<String, Value>,
    /// The CodeDeploy client, when a service's deployment is CodeDeploy's.
    pub codedeploy: Option<CodeDeploy>,
    /// `WAIT_UNTIL: paused`: a deployment that waits for a person (a PAUSE hook in
    /// AWAITING_ACTION, CodeDeploy `Ready`) ends with [`Outcome::Paused`].
    pub stop_at_pause: bool,
}

/// How one followed deployment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It completed; the id is ours, or the re-run that superseded it.
    Succeeded {
        /// The deployment that completed.
        deployment_id: String,
    },
    /// It failed, was rolled back or replaced, or its service went away.
    Failed(Report),
    /// It was still running when `WAIT_TIMEOUT` passed.
    TimedOut(Report),
    /// It waits for a person, and [`Settings::stop_at_pause`] is set.
    Paused(Pause),
}

/// The verdict of a failed or timed-out deployment, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One line, including what the service runs now.
    pub verdict: String,
    /// Stop reasons, events, counts.
    pub details: Vec<String>,
    /// What the user can do.
    pub hints: Vec<String>,
}

/// One deployment being followed.
#[derive(Debug)]
pub struct Watch {
    /// The service, as configured.
    pub name: String,
    /// The deployment, and the revisions that tell success from rollback.
    pub tracked: Tracked,
    /// The service deployment (blue/green, linear, canary), once known.
    service_deployment: Option<String>,
    events: EventLog,
    printed: HashMap<String, String>,
    last: Option<Service>,
    /// `[web] ` with several services, empty with one.
    label: String,
    /// The CodeDeploy deployment, for a CODE_DEPLOY service: it is judged on CodeDeploy's
    /// answers instead of `deployments[]`.
    pub code_deploy: Option<Following>,
    /// The failure announced while ECS rolls the deployment back (or stops it): followed
    /// until ECS says how that ended.
    ending: Option<Failure>,
    /// What was seen of the service deployment (blue/green, linear, canary) so far.
    seen: Seen,
    /// Set once the deployment has a verdict.
    pub outcome: Option<Outcome>,
    /// The service deployment as last described (blue/green, linear, canary).
    pub last_service_deployment: Option<rollout::ServiceDeployment>,
    /// The PAUSE hook id (or CodeDeploy deployment id at `Ready`) that `ACTION: continue` has
    /// just resumed: ECS may still show it waiting for a poll or two, which is not a new pause.
    pub continued: Option<String>,
}

impl Watch {
    /// A deployment to follow. `known_events` were there before the update and are not
    /// printed again; `service_deployment` is what UpdateService said, if anything.
    pub fn new(
        name: &str,
        tracked: Tracked,
        service_deployment: Option<String>,
        known_events: &[ServiceEvent],
        several: bool,
    ) -> Self {
        let mut events = EventLog::default();
        events.prime(known_events);
        Self {
            name: name.to_string(),
            tracked,
            service_deployment,
            events,
            printed: HashMap::new(),
            last: None,
            label: if several {
                format!("[{}] ", short(name))
            } else {
                String::new()
            },
            code_deploy: None,
            ending: None,
            seen: Seen::default(),
            outcome: None,
            last_service_deployment: None,
            continued: None,
        }
    }

    /// The service as the last poll described it.
    pub fn last_service(&self) -> Option<&Service> {
        self.last.as_ref()
    }

    /// Where the deployment stands, from the last poll.
    pub fn state(&self) -> String {
        if let Some(following) = &self.code_deploy {
            return following.state.clone();
        }
        self.last.as_ref().map_or_else(
            || {
                format!(
                    "deployment {} had not been described yet",
                    self.tracked.deployment_id
                )
            },
            |s| rollout::state_summary(s, &self.tracked),
        )
    }
}

/// The service name from a name or an ARN.
pub fn short(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

/// Follows every watch until each has an [`Outcome`] (a timeout gives the rest
/// [`Outcome::TimedOut`]). A poll that fails after the SDK's retries (throttling, a lost
/// connection, a server error) is not a verdict: it is said in one line and asked again
/// until `WAIT_TIMEOUT`. Errs only when following itself is impossible: a signal, or an AWS
/// error that asking again will not fix (access denied, credentials that cannot be renewed).
pub async fn follow(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &Settings,
    watches: &mut [Watch],
    report: &Reporter,
) -> Result<(), Error> {
    let mut clock = Clock::start(settings, report);
    let mut unread = Unread::default();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        if watches.iter().all(|w| w.outcome.is_some()) {
            return Ok(());
        }
        let polled_at = Instant::now();
        let failed = poll(ecs, logs, settings, watches, report, &mut stop).await?;
        // The verdict goes out at the poll that decided it, not one interval later.
        if watches.iter().all(|w| w.outcome.is_some()) {
            return Ok(());
        }
        unread.record(&failed, polled_at, report);
        if clock.out_of_time(report) {
            time_out(ecs, logs, settings, watches, &unread).await;
            return Ok(());
        }
        clock.heartbeat(watches, report);
        let pause = clock.pause(settings.interval, unread.in_a_row);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = &mut stop => return Err(interrupted(watches)),
        }
    }
}

/// One poll of every deployment without a verdict: describe, print what is new, judge. Returns
/// the errors that asking again may fix, from DescribeServices or from a blue/green service's
/// DescribeServiceDeployments (both are treated alike).
async fn poll<S: Future<Output = ()>>(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &Settings,
    watches: &mut [Watch],
    report: &Reporter,
    stop: &mut Pin<&mut S>,
) -> Result<Vec<AwsError>, Error> {
    let pending: Vec<String> = watches
        .iter()
        .filter(|w| w.outcome.is_none())
        .map(|w| w.name.clone())
        .collect();
    let polled = tokio::select! {
        polled = describe_all(ecs, &settings.cluster, &pending) => polled,
        () = stop.as_mut() => return Err(interrupted(watches)),
    };
    let mut lookups = match polled {
        Ok(lookups) => lookups.into_iter(),
        Err(err) if err.is_transient() => return Ok(vec![err]),
        Err(err) => return Err(lost(err, watches)),
    };
    let mut transient = Vec::new();
    for watch in watches.iter_mut().filter(|w| w.outcome.is_none()) {
        let lookup = lookups.next().unwrap_or(Lookup::Missing);
        let observed = tokio::select! {
            observed = observe(ecs, logs, settings, watch, lookup, report) => observed,
            () = stop.as_mut() => return Err(interrupted(watches)),
        };
        match observed {
            Ok(()) => {}
            Err(err) if err.is_transient() => transient.push(err),
            Err(err) => return Err(lost(err, watches)),
        }
    }
    Ok(transient)
}

/// The wait's time: the deadline, and when something was last printed (for the heartbeat).
struct Clock {
    start: Instant,
    deadline: Instant,
    heartbeat: Duration,
    last_output: Instant,
    lines_seen: u64,
}

impl Clock {
    fn start(settings: &Settings, report: &Reporter) -> Self {
        let start = Instant::now();
        Self {
            start,
            deadline: start + settings.timeout,
            heartbeat: settings.heartbeat,
            last_output: start,
            lines_seen: report.lines_written(),
        }
    }

    /// Notes whether the last poll printed anything; true once `WAIT_TIMEOUT` has passed.
    fn out_of_time(&mut self, report: &Reporter) -> bool {
        let now = Instant::now();
        if report.lines_written() != self.lines_seen {
            self.lines_seen = report.lines_written();
            self.last_output = now;
        }
        now >= self.deadline
    }

    /// A line per deployment still running when nothing has been printed for a while.
    fn heartbeat(&mut self, watches: &[Watch], report: &Reporter) {
        let now = Instant::now();
        if now.duration_since(self.last_output) < self.heartbeat {
            return;
        }
        for watch in watches.iter().filter(|w| w.outcome.is_none()) {
            report.detail(&format!(
                "{}… still waiting ({}): {}",
                watch.label,
                human(self.start.elapsed()),
                watch.state()
            ));
        }
        self.last_output = now;
        self.lines_seen = report.lines_written();
    }

    /// The pause before the next poll, never past the deadline.
    fn pause(&self, interval: Duration, failed_polls: u32) -> Duration {
        pause(interval, failed_polls).min(self.deadline.saturating_duration_since(Instant::now()))
    }
}

/// Polls that failed in a row, and since when: not a verdict, but what a timeout reports.
#[derive(Debug, Default)]
struct Unread {
    in_a_row: u32,
    since: Option<Instant>,
    last_error: String,
}

impl Unread {
    /// Notes the errors of the poll begun at `polled_at` (none: it succeeded), each said in
    /// one line.
    fn record(&mut self, failed: &[AwsError], polled_at: Instant, report: &Reporter) {
        let Some(last) = failed.last() else {
            *self = Self::default();
            return;
        };
        self.in_a_row += 1;
        self.since.get_or_insert(polled_at);
        self.last_error = last.to_string();
        for err in failed {
            report.warn(&format!(
                "{err}; still waiting, will ask again ({} failed poll{} in a row, backing off)",
                self.in_a_row,
                if self.in_a_row == 1 { "" } else { "s" }
            ));
        }
    }
}

/// `WAIT_TIMEOUT` passed: every deployment without a verdict gets [`Outcome::TimedOut`],
/// saying what was last seen and, when the last polls failed, for how long ECS could not be read.
async fn time_out(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &Settings,
    watches: &mut [Watch],
    unread: &Unread,
) {
    for watch in watches.iter_mut().filter(|w| w.outcome.is_none()) {
        watch.outcome = Some(match (unread.since, &watch.ending, watch.seen.pause()) {
            (Some(since), _, _) => {
                Outcome::TimedOut(unreadable(watch, since.elapsed(), &unread.last_error))
            }
            // The deploy failed; only how ECS's rollback ends is unknown.
            (None, Some(ending), _) => {
                Outcome::Failed(still_rolling_back(ecs, logs, settings, watch, ending).await)
            }
            (None, None, Some(pause)) => {
                Outcome::TimedOut(timed_out_paused(settings, watch, pause))
            }
            (None, None, None) => Outcome::TimedOut(timed_out(ecs, logs, settings, watch).await),
        });
    }
}

/// The timeout of a deployment that ECS would not describe at the end: what was last seen,
/// never a guess at the rest.
fn unreadable(watch: &Watch, unread_for: Duration, last_error: &str) -> Report {
    Report {
        verdict: format!(
            "ECS could not be read for {} until WAIT_TIMEOUT; last seen: {}; the service was updated and may still change",
            human(unread_for),
            watch.state()
        ),
        details: vec![format!("last error: {last_error}")],
        hints: vec![
            "look at the service's Deployments tab in the ECS console for the outcome".into(),
            "check the runner's network and the ECS endpoint (AWS_DEFAULT_REGION, AWS_ENDPOINT_URL)".into(),
        ],
    }
}

/// DescribeServices for every name, [`DESCRIBE_SERVICES_MAX`] per call, the calls in
/// parallel; one lookup per name, in order.
pub async fn describe_all(
    ecs: &Ecs,
    cluster: &str,
    names: &[String],
) -> Result<Vec<Lookup>, AwsError> {
    let calls = names
        .chunks(DESCRIBE_SERVICES_MAX)
        .map(|chunk| ecs.describe_services(cluster, chunk));
    let mut lookups = Vec::with_capacity(names.len());
    for answer in futures_util::future::join_all(calls).await {
        lookups.extend(answer?);
    }
    Ok(lookups)
}

/// One poll of one deployment: print what is new and judge; sets `watch.outcome` once
/// decided.
async fn observe(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &Settings,
    watch: &mut Watch,
    lookup: Lookup,
    report: &Reporter,
) -> Result<(), AwsError> {
    let service = match lookup {
        Lookup::Found(service) => *service,
        Lookup::Missing | Lookup::NoCluster => {
            watch.outcome = Some(Outcome::Failed(Report {
                verdict: format!(
                    "service {} disappeared while its deployment was in progress",
                    watch.name
                ),
                details: Vec::new(),
                hints: vec!["someone deleted the service or its cluster during the deploy".into()],
            }));
            return Ok(());
        }
    };
    for event in watch.events.fresh(&service.events) {
        report.event(&format!("{}{}", watch.label, event.message));
    }
    if watch.code_deploy.is_some() {
        return observe_code_deploy(ecs, logs, settings, watch, service, report).await;
    }
    let mut verdict = if service.uses_service_deployments() {
        service_deployment_verdict(ecs, &service, watch, report).await?
    } else {
        for d in &service.deployments {
            let line = rollout::deployment_line(d, d.id == watch.tracked.deployment_id);
            if watch.printed.get(&d.id) != Some(&line) {
                report.detail(&format!("{}{line}", watch.label));
                watch.printed.insert(d.id.clone(), line);
            }
        }
        rollout::assess(&service, &watch.tracked)
    };
    if let Verdict::Superseded { by } = &verdict {
        report.detail(&format!(
            "{}deployment {by} of the same revision replaced {} (the step was probably re-run); following it",
            watch.label, watch.tracked.deployment_id
        ));
        if service.uses_service_deployments() {
            // A service deployment ARN; the ecs-svc/ id of the tracked deployment stays, so
            // timeouts and interrupts can still find its counts in deployments[].
            watch.service_deployment = Some(by.clone());
            if let Some(d) = service.deployments.iter().find(|d| d.status == "PRIMARY") {
                watch.tracked.deployment_id.clone_from(&d.id);
            }
            verdict = Verdict::InProgress;
        } else {
            watch.tracked.deployment_id.clone_from(by);
            verdict = rollout::assess(&service, &watch.tracked);
        }
    }
    match verdict {
        Verdict::Succeeded => {
            watch.outcome = Some(Outcome::Succeeded {
                deployment_id: watch.tracked.deployment_id.clone(),
            });
        }
        Verdict::Failed(failure) => {
            let failure = first_cause(watch.ending.as_ref(), failure);
            let report = failed(ecs, logs, settings, &service, watch, &failure).await;
            watch.outcome = Some(Outcome::Failed(report));
        }
        Verdict::Ending(failure) => announce(watch, failure, report),
        Verdict::InProgress | Verdict::Superseded { .. } => stop_at_pause(settings, watch),
    }
    watch.last = Some(service);
    Ok(())
}

/// A failure while ECS still rolls back (or stops) the deployment: said at the first poll
/// that shows it, then followed until ECS ends it.
fn announce(watch: &mut Watch, failure: Failure, report: &Reporter) {
    let failure = first_cause(watch.ending.as_ref(), failure);
    if watch.ending.is_none() {
        report.warn(&format!(
            "{}{}",
            watch.label,
            rollout_end::announcement(
                &watch.tracked.deployment_id,
                revision_name(&watch.tracked.task_definition),
                failure.reason.as_deref(),
                failure.kind == FailureKind::Stopped,
            )
        ));
    }
    watch.ending = Some(failure);
}

/// The failure as it ends, with the cause announced when it began (ECS's later answers can
/// drop it, e.g. once our deployment is no longer listed).
fn first_cause(announced: Option<&Failure>, failure: Failure) -> Failure {
    match announced.and_then(|a| a.reason.clone()) {
        Some(reason) => Failure {
            reason: Some(reason),
            ..failure
        },
        None => failure,
    }
}

/// `WAIT_UNTIL: paused`: a deployment still running that waits at a PAUSE hook (other than
/// the one `ACTION: continue` just resumed) ends with [`Outcome::Paused`].
fn stop_at_pause(settings: &Settings, watch: &mut Watch) {
    if settings.stop_at_pause
        && let Some(pause) = watch
            .last_service_deployment
            .as_ref()
            .and_then(operate::pause_of)
        && pause.hook_id != watch.continued
    {
        watch.outcome = Some(Outcome::Paused(pause));
    }
}

/// One poll of a CodeDeploy deployment: CodeDeploy judges, the ECS service says what runs.
async fn observe_code_deploy(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &Settings,
    watch: &mut Watch,
    service: Service,
    report: &Reporter,
) -> Result<(), AwsError> {
    let Some(following) = watch.code_deploy.as_mut() else {
        return Ok(());
    };
    let Some(cd) = &settings.codedeploy else {
        return Err(AwsError::plain(
            "codedeploy:GetDeployment",
            "the pipe has no CodeDeploy client to follow the deployment with",
        ));
    };
    let polled = blue_green::observe(
        cd,
        following,
        &service,
        &watch.tracked.task_definition,
        &watch.label,
        report,
    )
    .await?;
    match polled {
        Polled::Waiting => {}
        Polled::Ready
            if settings.stop_at_pause
                && watch.continued.as_ref() != Some(&following.deployment_id) =>
        {
            watch.outcome = Some(Outcome::Paused(Pause {
                stage: "Ready".into(),
                code_deploy_id: Some(following.deployment_id.clone()),
                ..Pause::default()
            }));
        }
        Polled::Ready => {}
        Polled::Succeeded => {
            watch.outcome = Some(Outcome::Succeeded {
                deployment_id: watch.tracked.deployment_id.clone(),
            });
        }
        Polled::Failed {
            verdict,
            mut details,
            hints,
        } => {
            details.extend(stopped_task_lines(ecs, logs, settings, watch).await);
            watch.outcome = Some(Outcome::Failed(Report {
                verdict,
                details,
                hints,
            }));
        }
    }
    watch.last = Some(service);
    Ok(())
}

/// One poll of a blue/green, linear or canary deployment: print the stage when it changes,
/// point at PAUSE hooks that wait for a person, and judge.
async fn service_deployment_verdict(
    ecs: &Ecs,
    service: &Service,
    watch: &mut Watch,
    report: &Reporter,
) -> Result<Verdict, AwsError> {
    if watch.service_deployment.is_none() {
        watch
            .service_deployment
            .clone_from(&service.current_service_deployment);
    }
    let Some(current) = watch.service_deployment.clone() else {
        return Ok(Verdict::InProgress);
    };
    let Some(sd) = ecs.describe_service_deployment(&current).await? else {
        return Ok(Verdict::InProgress);
    };
    watch.seen.note(&sd, epoch_now());
    let line = rollout::service_deployment_line(&sd);
    if watch.printed.get(&current) != Some(&line) {
        report.detail(&format!("{}service deployment {line}", watch.label));
        watch.printed.insert(current.clone(), line);
    }
    for hook in rollout::waiting_hooks(&sd) {
        if watch.continued.as_ref() == Some(&hook.hook_id) {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) =
            watch.printed.entry(format!("hook {}", hook.hook_id))
        {
            let until = operate::pause_of(&sd)
                .map(|p| operate::pause_words(&p))
                .unwrap_or_default();
            report.warn(&format!(
                "{}lifecycle hook {} is paused, waiting for a person {until}: {}; or continue with `aws ecs continue-service-deployment --service-deployment-arn {current} --hook-id {} --action CONTINUE` (or --action ROLLBACK); the pipe never continues on its own",
                watch.label, hook.hook_id, operate::GO_ON, hook.hook_id
            ));
            slot.insert(String::new());
        }
    }
    watch.last_service_deployment = Some(sd.clone());
    // What DescribeServices shows the service running: its PRIMARY deployment's revision.
    let now_running = service
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
        .map(|d| d.task_definition.as_str())
        .or(Some(service.task_definition.as_str()).filter(|td| !td.is_empty()));
    let verdict = rollout::assess_service_deployment(
        &sd,
        &watch.tracked,
        service.current_service_deployment.as_deref(),
        now_running,
        &watch.seen.hook_stages,
    );
    Ok(watch.seen.settle(verdict))
}

/// Now, in epoch seconds.
fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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

/// True when every followed deployment succeeded.
pub fn all_succeeded(watches: &[Watch]) -> bool {
    watches
        .iter()
        .all(|w| matches!(w.outcome, Some(Outcome::Succeeded { .. })))
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

/// Resolves when Bitbucket stops the step (SIGTERM) or a person presses Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
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

fn interrupted(watches: &[Watch]) -> Error {
    let state = match watches {
        [only] => only.state(),
        _ => watches
            .iter()
            .map(|w| match &w.outcome {
                None => format!("{}: {}", short(&w.name), w.state()),
                Some(outcome) => format!("{}: {}", short(&w.name), outcome_word(outcome)),
            })
            .collect::<Vec<_>>()
            .join("; "),
    };
    Error::Interrupted { state }
}

/// `succeeded`, `failed` or `timed out`.
pub fn outcome_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded { .. } => "succeeded",
        Outcome::Failed(_) => "failed",
        Outcome::TimedOut(_) => "timed out",
        Outcome::Paused(_) => "paused",
    }
}

fn lost(err: AwsError, watches: &[Watch]) -> Error {
    Error::Aws {
        step: "following the deployment".into(),
        err: err.into(),
        changed: Changed::Services(watches.iter().map(|w| w.name.clone()).collect()),
    }
}

async fn timed_out(ecs: &Ecs, logs: &LogReaders, settings: &Settings, watch: &Watch) -> Report {
    let mut details = Vec::new();
    if let Some(following) = &watch.code_deploy {
        details.push(format!("state: {}", following.state));
        details.extend(stopped_task_lines(ecs, logs, settings, watch).await);
        return Report {
            verdict: format!(
                "timed out after {} waiting for CodeDeploy deployment {} of {}; CodeDeploy keeps going, so the service may still change",
                human(settings.timeout),
                following.deployment_id,
                revision_name(&watch.tracked.task_definition)
            ),
            details,
            hints: vec![
                "raise WAIT_TIMEOUT if the deployment needs longer (hooks, a linear or canary configuration, a Ready wait); ROLLBACK_ON_FAILURE: 'true' stops it with a rollback at the timeout".into(),
            ],
        };
    }
    if let Some(service) = &watch.last {
        details.push(format!(
            "state: {}",
            rollout::state_summary(service, &watch.tracked)
        ));
        for event in service.events.iter().take(3) {
            details.push(format!("recent event: {}", event.message));
        }
    }
    // Tasks that keep crashing are the usual reason a rollout never completes.
    details.extend(stopped_task_lines(ecs, logs, settings, watch).await);
    Report {
        verdict: format!(
            "timed out after {} waiting for {} of {}; ECS keeps trying, so the service may still change",
            human(settings.timeout),
            watch.tracked.deployment_id,
            revision_name(&watch.tracked.task_definition)
        ),
        details,
        hints: vec![
            "raise WAIT_TIMEOUT if the service needs longer (health check grace period, slow draining)".into(),
            "if tasks keep failing, enable the deployment circuit breaker so ECS stops and rolls back on its own".into(),
        ],
    }
}

/// Why the tasks of our deployment stopped and what their containers logged
/// ([`diagnose::stopped_tasks`]).
async fn stopped_task_lines(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &Settings,
    watch: &Watch,
) -> Vec<String> {
    // Tasks of a CodeDeploy replacement task set are started by the task set's id.
    let started_by = match &watch.code_deploy {
        Some(following) => match &following.replacement_task_set {
            Some(id) => id.as_str(),
            None => return Vec::new(),
        },
        None => watch.tracked.deployment_id.as_str(),
    };
    diagnose::stopped_tasks(
        ecs,
        logs,
        &settings.cluster,
        &watch.name,
        started_by,
        &settings.task_definitions,
        settings.log_lines,
    )
    .await
}

async fn failed(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &Settings,
    service: &Service,
    watch: &Watch,
    failure: &rollout::Failure,
) -> Report {
    let tracked = &watch.tracked;
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
                    v.push_str(&format!("; the service is going back to {now}"));
                }
                _ => v.push_str(&format!(
                    "; the service still runs {previous} where {ours} could not start"
                )),
            }
            v
        }
        FailureKind::RolledBack | FailureKind::RollbackFailed | FailureKind::Stopped => {
            ended(service, watch, failure)
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
            watch.name, service.status
        ),
    };
    let mut details = Vec::new();
    match (&watch.seen.last, &failure.reason) {
        // A service deployment: ECS's own words, next to the cause in the verdict.
        (Some(sd), _) => details.push(rollout_end::ecs_says(sd)),
        (None, Some(reason)) => details.push(format!("ECS says: {reason}")),
        (None, None) => {}
    }
    details.extend(stopped_task_lines(ecs, logs, settings, watch).await);
    let mut hints = Vec::new();
    if settings.log_lines == 0 && details.iter().any(|d| d.contains("exit code")) {
        hints.push("the container exited; check its logs for the crash (LOG_LINES is 0, so none are shown here)".into());
    }
    hints.extend(match failure.kind {
        FailureKind::Replaced => Some("another pipeline or person deployed at the same time; deploy one change at a time per service".into()),
        FailureKind::RollbackFailed => Some("look at the service's Deployments tab in the ECS console, then deploy a revision you trust to put the service in a known state".into()),
        FailureKind::Stopped => Some("the deployment was stopped through the ECS API or console (StopServiceDeployment); deploy again once that is settled".into()),
        _ => None,
    });
    Report {
        verdict,
        details,
        hints,
    }
}

/// The last line of a deployment whose rollback (or stop) ECS ended: rolled back, the rollback
/// failed, or stopped.
fn ended(service: &Service, watch: &Watch, failure: &Failure) -> String {
    let end = match failure.kind {
        FailureKind::RollbackFailed => End::RollbackFailed {
            ecs_says: watch
                .seen
                .last
                .as_ref()
                .map_or_else(|| "ROLLBACK_FAILED".into(), rollout_end::ecs_says),
            service_shows: rollout_end::service_shows(service),
        },
        FailureKind::Stopped => End::Stopped {
            now_running: now_running(failure, service).to_string(),
        },
        _ => End::RolledBack {
            now_running: now_running(failure, service).to_string(),
        },
    };
    rollout_end::end_line(
        &watch.tracked.deployment_id,
        revision_name(&watch.tracked.task_definition),
        failure.reason.as_deref(),
        &end,
    )
}

/// The revision DescribeServices shows the service running after a failure.
fn now_running<'a>(failure: &'a Failure, service: &'a Service) -> &'a str {
    revision_name(
        failure
            .now_running
            .as_deref()
            .unwrap_or(&service.task_definition),
    )
}

/// `WAIT_TIMEOUT` passed while ECS was still rolling back (or stopping) a deployment whose
/// failure was announced: a failure, with the rollback's last state.
async fn still_rolling_back(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &Settings,
    watch: &Watch,
    ending: &Failure,
) -> Report {
    let last_seen = match (&watch.seen.last, &watch.last) {
        (Some(sd), _) => rollout::service_deployment_line(sd),
        (None, Some(service)) => rollout_end::service_shows(service),
        (None, None) => "nothing".into(),
    };
    let mut details = Vec::new();
    if let Some(sd) = &watch.seen.last {
        details.push(rollout_end::ecs_says(sd));
    }
    details.extend(stopped_task_lines(ecs, logs, settings, watch).await);
    Report {
        verdict: rollout_end::end_line(
            &watch.tracked.deployment_id,
            revision_name(&watch.tracked.task_definition),
            ending.reason.as_deref(),
            &End::RollbackStillRunning {
                timeout: human(settings.timeout),
                last_seen,
            },
        ),
        details,
        hints: vec![
            "look at the service's Deployments tab in the ECS console for how the rollback ends"
                .into(),
        ],
    }
}

/// `WAIT_TIMEOUT` passed while the deployment sat at a PAUSE hook: the pause is why.
fn timed_out_paused(settings: &Settings, watch: &Watch, pause: rollout_end::Pause) -> Report {
    let arn = watch.service_deployment.as_deref().unwrap_or("<arn>");
    let hook = pause.hook_id.clone();
    Report {
        verdict: rollout_end::end_line(
            &watch.tracked.deployment_id,
            revision_name(&watch.tracked.task_definition),
            None,
            &End::TimedOutPaused {
                timeout: human(settings.timeout),
                pause,
            },
        ),
        details: watch
            .seen
            .last
            .iter()
            .map(|sd| {
                format!(
                    "state: service deployment {}",
                    rollout::service_deployment_line(sd)
                )
            })
            .collect(),
        hints: vec![
            format!(
                "the deployment goes on once a person continues it: `aws ecs continue-service-deployment --service-deployment-arn {arn} --hook-id {hook} --action CONTINUE` (or --action ROLLBACK)"
            ),
            "raise WAIT_TIMEOUT to keep the step waiting for that person".into(),
        ],
    }
}
