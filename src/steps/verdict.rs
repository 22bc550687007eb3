//! The lines that close a deploy: what is being waited on, the ✔ line of a verified (or only
//! started) deploy, and the error of a failed one, naming what every service runs now.

use std::time::Instant;

use crate::config::Config;
use crate::error::Error;
use crate::rules::codedeploy_verdict::console_link as codedeploy_link;
use crate::rules::rollout::revision_name;
use crate::steps::apply::{Updated, console_link};
use crate::steps::follow::{Outcome, Watch, human, short};

pub fn waiting_line(config: &Config, watches: &[Watch]) -> String {
    let what = match watches {
        [only] => only.tracked.deployment_id.clone(),
        many => format!("{} deployments", many.len()),
    };
    format!(
        "Waiting for {what} (timeout {}, polling every {})",
        human(config.wait.timeout),
        human(config.wait.interval)
    )
}

pub fn started_line(updated: &[Updated]) -> String {
    match updated {
        [only] => format!(
            "Started deployment {} of {} to {}; not waiting for it (WAIT is false)",
            only.deployment_id,
            revision_name(&only.target),
            only.name
        ),
        many => format!(
            "Started deployments of {}; not waiting for them (WAIT is false)",
            many.iter()
                .map(|u| format!("{} to {}", revision_name(&u.target), u.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn success_line(
    config: &Config,
    watches: &[Watch],
    updated: &[Updated],
    started: Instant,
) -> String {
    let cluster = short(&config.target.cluster);
    let elapsed = human(started.elapsed());
    match (watches, updated) {
        ([w], [u]) => {
            let id = match &w.outcome {
                Some(Outcome::Succeeded { deployment_id }) => deployment_id.as_str(),
                _ => u.deployment_id.as_str(),
            };
            if u.code_deploy.is_some() {
                return format!(
                    "Deployed {} to service {} in cluster {cluster} ({elapsed} in all); CodeDeploy deployment {id} has moved all production traffic: {}",
                    revision_name(&u.target),
                    short(&u.name),
                    codedeploy_link(&config.target.region, id)
                );
            }
            format!(
                "Deployed {} to service {} in cluster {cluster} ({elapsed} in all); {id} is complete: {}",
                revision_name(&u.target),
                short(&u.name),
                console_link(&config.target.region, &config.target.cluster, &u.name)
            )
        }
        _ => {
            // web and worker on web:42, scheduler on sched:8
            let mut by_revision: Vec<(&str, Vec<&str>)> = Vec::new();
            for u in updated {
                let revision = revision_name(&u.target);
                match by_revision.iter_mut().find(|(r, _)| *r == revision) {
                    Some((_, names)) => names.push(short(&u.name)),
                    None => by_revision.push((revision, vec![short(&u.name)])),
                }
            }
            format!(
                "Deployed {} services in cluster {cluster} ({elapsed} in all): {}",
                updated.len(),
                by_revision
                    .iter()
                    .map(|(revision, names)| format!("{} on {revision}", names.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    }
}

/// The error for a deploy in which some deployment did not succeed. With one service it is
/// that deployment's verdict; with several, each failure's reasons (lines naming their
/// service), a summary line per service and a last line naming the failed ones.
pub fn failure(watches: &[Watch]) -> Error {
    if let [only] = watches {
        return match &only.outcome {
            Some(Outcome::Failed(r) | Outcome::TimedOut(r)) => Error::Rollout {
                verdict: r.verdict.clone(),
                details: r.details.clone(),
                hints: r.hints.clone(),
            },
            _ => Error::Rollout {
                verdict: format!("the deployment of {} did not finish", only.name),
                details: Vec::new(),
                hints: Vec::new(),
            },
        };
    }
    let mut details = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    let mut summary = Vec::new();
    let mut failed = Vec::new();
    let mut succeeded = Vec::new();
    for watch in watches {
        let name = short(&watch.name);
        match &watch.outcome {
            Some(Outcome::Succeeded { deployment_id }) => {
                summary.push(format!(
                    "{name}: succeeded ({} on {})",
                    deployment_id,
                    revision_name(&watch.tracked.task_definition)
                ));
                succeeded.push(name);
            }
            Some(Outcome::Failed(r) | Outcome::TimedOut(r)) => {
                details.push(format!("[{name}] {}", r.verdict));
                details.extend(r.details.iter().map(|d| format!("[{name}] {d}")));
                for hint in &r.hints {
                    if !hints.contains(hint) {
                        hints.push(hint.clone());
                    }
                }
                let word = if matches!(watch.outcome, Some(Outcome::TimedOut(_))) {
                    "still running at the timeout"
                } else {
                    "failed"
                };
                summary.push(format!("{name}: {word}: {}", r.verdict));
                failed.push(name);
            }
            Some(Outcome::Paused(pause)) => {
                summary.push(format!(
                    "{name}: paused {}",
                    crate::rules::operate::pause_words(pause)
                ));
            }
            None => {
                summary.push(format!("{name}: no verdict"));
                failed.push(name);
            }
        }
    }
    let mut verdict = format!(
        "{} of {} services did not deploy: {}",
        failed.len(),
        watches.len(),
        failed.join(", ")
    );
    if !succeeded.is_empty() {
        verdict.push_str(&format!("; {} succeeded", succeeded.join(", ")));
    }
    Error::Rollouts {
        verdict,
        details,
        hints,
        summary,
    }
}

/// `service web is deployed (web:42)`, for a failure after the deploy succeeded.
pub fn deployed_words(updated: &[Updated]) -> String {
    match updated {
        [only] => format!(
            "service {} is deployed ({})",
            short(&only.name),
            revision_name(&only.target)
        ),
        many => format!(
            "services {} are deployed ({})",
            many.iter()
                .map(|u| short(&u.name))
                .collect::<Vec<_>>()
                .join(", "),
            many.iter()
                .map(|u| revision_name(&u.target))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
