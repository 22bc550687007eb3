//! `ROLLBACK_ON_FAILURE`: after a failed deploy, put every service this run updated back on
//! the revision it ran before (they ship together), unless ECS already did, follow those
//! deployments, and add what happened to the original failure. The exit code stays 1.
//!
//! A service that CodeDeploy deploys is never updated back with a task definition (ECS
//! refuses that): a CodeDeploy deployment still running (the timeout, or the termination wait
//! after its traffic moved) is stopped with CodeDeploy's automatic rollback; one that has
//! Succeeded gets a new CodeDeploy deployment of the previous revision, followed with the
//! others; a failed or stopped one was already CodeDeploy's to roll back (its report says
//! whether it did).

use std::collections::HashMap;

use crate::aws::codedeploy::CodeDeploy;
use crate::aws::ecs::{Ecs, Lookup};
use crate::aws::logs::LogReaders;
use crate::config::Config;
use crate::error::Error;
use crate::report::Reporter;
use crate::rules::rollout::{Tracked, revision_name};
use crate::steps::apply::{self, Updated};
use crate::steps::blue_green::{self, Following, Target};
use crate::steps::follow::{self, Outcome, Watch, short};
use crate::steps::rollback_read_back;

/// With `ROLLBACK_ON_FAILURE`, rolls back what `updated` changed and returns `error` with the
/// outcome added; without it, returns `error` as it is. `settings` are the ones the failed
/// deploy was followed with.
pub async fn roll_back(
    ecs: &Ecs,
    logs: &LogReaders,
    config: &Config,
    settings: &follow::Settings,
    updated: &[Updated],
    report: &Reporter,
    error: Error,
) -> Error {
    if !config.wait.rollback_on_failure {
        return error;
    }
    // CodeDeploy services are rolled back through the client their deployments were followed with.
    let cd = settings.codedeploy.as_ref();
    let several = updated.len() > 1;
    let (by_code_deploy, updated): (Vec<Updated>, Vec<Updated>) = updated
        .iter()
        .cloned()
        .partition(|u| u.code_deploy.is_some());
    let updated = updated.as_slice();
    let mut code_deploy_lines = Vec::new();
    let mut redeploys = Vec::new();
    if let Some(cd) = cd {
        for u in &by_code_deploy {
            match stop_code_deploy(ecs, cd, config, u, report).await {
                Some(lines) => code_deploy_lines.extend(lines),
                None => match redeploy(cd, config, u, several, report).await {
                    Ok(watch) => redeploys.push(watch),
                    Err(line) => code_deploy_lines.push(line),
                },
            }
        }
    }
    let (mut lines, to_roll, stopped) = still_changed(ecs, config, updated, report).await;
    lines.splice(0..0, code_deploy_lines.iter().cloned());
    let outcome = if to_roll.is_empty() && redeploys.is_empty() {
        Vec::new()
    } else if to_roll.is_empty() {
        roll(
            ecs, logs, config, settings, &to_roll, redeploys, several, report,
        )
        .await
    } else {
        if let ([only], false) = (to_roll.as_slice(), several) {
            report.step(&format!(
                "Rolling back to {} (ROLLBACK_ON_FAILURE)",
                revision_name(&only.previous)
            ));
        } else {
            report.step(&format!(
                "Rolling back {} (ROLLBACK_ON_FAILURE: the services ship together)",
                to_roll
                    .iter()
                    .map(|u| format!("{} to {}", short(&u.name), revision_name(&u.previous)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        roll(
            ecs, logs, config, settings, &to_roll, redeploys, several, report,
        )
        .await
    };
    lines.extend(outcome.iter().cloned());
    let mut outcome = outcome;
    outcome.splice(0..0, code_deploy_lines);
    outcome.splice(0..0, stopped.iter().cloned());
    lines.extend(stopped);
    with_outcome(error, lines, &outcome)
}

/// A CodeDeploy deployment still running is stopped with CodeDeploy's rollback (lines ending
/// with where the service is); a failed or stopped one is left to CodeDeploy (a line that says
/// so); `None` for one that Succeeded, which only a new deployment can move back.
async fn stop_code_deploy(
    ecs: &Ecs,
    cd: &CodeDeploy,
    config: &Config,
    u: &Updated,
    report: &Reporter,
) -> Option<Vec<String>> {
    let name = short(&u.name);
    let mut lines = match cd.deployment(&u.deployment_id).await.map(|i| i.status) {
        Ok(status) if matches!(status.as_str(), "Failed" | "Stopped") => {
            return Some(vec![format!(
                "ROLLBACK_ON_FAILURE: CodeDeploy deployment {} of {name} is {status}; rolling it back was CodeDeploy's (see above)",
                u.deployment_id
            )]);
        }
        Ok(status) if status == "Succeeded" => return None,
        _ => {
            let following = Following::new(
                &u.deployment_id,
                &config.target.cluster,
                &u.name,
                &config.target.region,
            );
            blue_green::stop_and_roll_back(
                cd,
                &following,
                config.wait.interval,
                config.wait.timeout.min(std::time::Duration::from_secs(300)),
                report,
            )
            .await
        }
    };
    if let Ok(Lookup::Found(service)) = ecs.describe_service(&config.target.cluster, &u.name).await
    {
        lines.push(format!(
            "after the rollback, {name} serves production traffic from {} (its PRIMARY task set)",
            revision_name(service.primary_revision())
        ));
    }
    Some(lines)
}

/// A new CodeDeploy deployment of the revision `u` ran before, to follow with the other
/// rollbacks; or the line saying why it could not start.
async fn redeploy(
    cd: &CodeDeploy,
    config: &Config,
    u: &Updated,
    several: bool,
    report: &Reporter,
) -> Result<Watch, String> {
    let name = short(&u.name);
    let could_not = |why: String| {
        format!(
            "the rollback of {name} to {} could not start: {why}",
            revision_name(&u.previous)
        )
    };
    let Some(group) = u.code_deploy.clone() else {
        return Err(could_not("no deployment group".into()));
    };
    report.step(&format!(
        "Rolling back {name} to {} through CodeDeploy (ROLLBACK_ON_FAILURE: its deployment {} had succeeded)",
        revision_name(&u.previous),
        u.deployment_id
    ));
    let target = Target {
        service: u.name.clone(),
        group,
        live: u.service.clone(),
    };
    let (_, body) = blue_green::request(
        &target,
        &u.previous,
        &config.code_deploy,
        apply::build_of(config),
    )
    .map_err(|e| could_not(e.to_string()))?;
    let id = blue_green::create(cd, &body, report)
        .await
        .map_err(|e| could_not(e.to_string()))?;
    report.detail(&format!("CodeDeploy deployment {id} started"));
    let mut watch = Watch::new(
        &u.name,
        Tracked {
            deployment_id: id.clone(),
            task_definition: u.previous.clone(),
            previous_task_definition: u.target.clone(),
        },
        None,
        &u.service.events,
        several,
    );
    watch.code_deploy = Some(Following::new(
        &id,
        &config.target.cluster,
        &u.name,
        &config.target.region,
    ));
    Ok(watch)
}

/// Lines for the services already back on their previous revision or rolled back by stopping
/// their service deployment in flight (StopServiceDeployment ROLLBACK), and the ones to
/// update back.
async fn still_changed<'a>(
    ecs: &Ecs,
    config: &Config,
    updated: &'a [Updated],
    report: &Reporter,
) -> (Vec<String>, Vec<&'a Updated>, Vec<String>) {
    let mut lines = Vec::new();
    let mut to_roll = Vec::new();
    let mut stopped = Vec::new();
    // One DescribeServices per 10 services; a service that cannot be read is rolled back.
    let names: Vec<String> = updated.iter().map(|u| u.name.clone()).collect();
    let lookups = follow::describe_all(ecs, &config.target.cluster, &names)
        .await
        .unwrap_or_default();
    for (i, u) in updated.iter().enumerate() {
        let now = match lookups.get(i) {
            Some(Lookup::Found(s)) => s
                .deployments
                .iter()
                .find(|d| d.status == "PRIMARY")
                .map(|d| d.task_definition.clone()),
            _ => None,
        };
        if let Some(Lookup::Found(s)) = lookups.get(i)
            && let Some(line) =
                crate::steps::operate::stop_with_rollback(ecs, config, s, report).await
        {
            stopped.push(line);
            continue;
        }
        if now.as_deref() == Some(u.previous.as_str()) || u.previous == u.target {
            let who = if updated.len() > 1 {
                format!("{} is", short(&u.name))
            } else {
                "the service is".into()
            };
            lines.push(format!(
                "ROLLBACK_ON_FAILURE: {who} already back on {}",
                revision_name(&u.previous)
            ));
        } else {
            to_roll.push(u);
        }
    }
    (lines, to_roll, stopped)
}

/// Updates each service back and follows those deployments together; one line each.
#[allow(clippy::too_many_arguments)]
async fn roll(
    ecs: &Ecs,
    logs: &LogReaders,
    config: &Config,
    settings: &follow::Settings,
    to_roll: &[&Updated],
    redeploys: Vec<Watch>,
    several: bool,
    report: &Reporter,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut watches = redeploys;
    for u in to_roll {
        match update_back(ecs, config, u, several, report).await {
            Ok(watch) => watches.push(watch),
            Err(line) => lines.push(line),
        }
    }
    // Only the outcome of the rollback is reported, so its logs would not be shown; nor are
    // the new revisions' definitions of any use: the rollback runs the previous ones.
    let settings = follow::Settings {
        log_lines: 0,
        task_definitions: HashMap::new(),
        stop_at_pause: false,
        ..settings.clone()
    };
    let followed = follow::follow(ecs, logs, &settings, &mut watches, report).await;
    for watch in &watches {
        lines.push(rollback_line(&followed, watch, several));
    }
    lines
}

/// Updates `u`'s service back to the revision it ran before, and returns the watch that follows
/// that update; or the line that says why it could not start.
async fn update_back(
    ecs: &Ecs,
    config: &Config,
    u: &Updated,
    several: bool,
    report: &Reporter,
) -> Result<Watch, String> {
    let started = match ecs
        .update_service(
            &config.target.cluster,
            &u.name,
            Some(&u.previous),
            false,
            None,
        )
        .await
    {
        Ok(service) => Ok((apply::our_deployment(&service, &u.previous), service)),
        // No definite answer: read the service back before saying anything.
        Err(err) if err.is_ambiguous() => {
            rollback_read_back::settle(ecs, &config.target.cluster, u, err, report).await
        }
        Err(err) => Err(format!(
            "the rollback of {} to {} could not start: {err}",
            short(&u.name),
            revision_name(&u.previous)
        )),
    };
    let (deployment_id, service) = started?;
    Ok(Watch::new(
        &u.name,
        Tracked {
            deployment_id,
            task_definition: u.previous.clone(),
            previous_task_definition: u.target.clone(),
        },
        service.current_service_deployment.clone(),
        &service.events,
        several,
    ))
}

/// How one followed rollback ended, in one line.
fn rollback_line(followed: &Result<(), Error>, watch: &Watch, several: bool) -> String {
    let name = short(&watch.name);
    let previous = revision_name(&watch.tracked.task_definition);
    match (followed, &watch.outcome) {
        (_, Some(Outcome::Succeeded { .. })) if !several => {
            format!("rolled back: the service runs {previous} again")
        }
        (_, Some(Outcome::Succeeded { .. })) => {
            format!("rolled back: {name} runs {previous} again")
        }
        (_, Some(Outcome::Paused(p))) => format!(
            "the rollback of {name} to {previous} waits for a person {}",
            crate::rules::operate::pause_words(p)
        ),
        (_, Some(Outcome::Failed(r) | Outcome::TimedOut(r))) => format!(
            "the rollback of {name} to {previous} did not complete either: {}",
            r.verdict
        ),
        (Err(e), None) => {
            format!("the rollback of {name} to {previous} did not complete either: {e}")
        }
        (Ok(()), None) => format!("the rollback of {name} to {previous} has no verdict"),
    }
}

/// The failure with the rollback's lines added to its details and, when a rollback ran, its
/// outcome to the last line.
fn with_outcome(error: Error, lines: Vec<String>, outcome: &[String]) -> Error {
    match error {
        Error::Rollout {
            verdict,
            mut details,
            hints,
        } => {
            details.extend(lines);
            let verdict = if outcome.is_empty() {
                verdict
            } else {
                format!("{verdict}; {}", outcome.join("; "))
            };
            Error::Rollout {
                verdict,
                details,
                hints,
            }
        }
        Error::Rollouts {
            verdict,
            mut details,
            hints,
            summary,
        } => {
            details.extend(lines);
            let verdict = if outcome.is_empty() {
                verdict
            } else {
                format!("{verdict}; rolled back what this run updated (ROLLBACK_ON_FAILURE)")
            };
            Error::Rollouts {
                verdict,
                details,
                hints,
                summary,
            }
        }
        other => other,
    }
}
