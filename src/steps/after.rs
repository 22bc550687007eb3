//! After a verified deploy: tag the services, move the scheduled tasks that pinned the old
//! revision (`UPDATE_SCHEDULED_TASKS`), and deregister old revisions (`KEEP_REVISIONS`), never
//! one that a service or a schedule still uses.

use super::verdict;
use std::collections::BTreeSet;
use std::time::Instant;

use crate::aws;
use crate::aws::ecs::Ecs;
use crate::config::Config;
use crate::error::Error;
use crate::model::service::Service;
use crate::report::Reporter;
use crate::rules::cleanup;
use crate::rules::rollout::revision_name;
use crate::rules::scheduled::Revisions;
use crate::rules::task_def;
use crate::steps::apply::Updated;
use crate::steps::follow::Watch;
use crate::steps::follow::short;
use crate::steps::operate;
use crate::steps::outputs::Record;
use crate::steps::retarget;

/// A verified deploy, as the work after it needs it.
pub struct Deployed<'a> {
    /// The services as read before the deploy.
    pub services: &'a [Service],
    /// What each update started.
    pub updated: &'a [Updated],
    /// The followed deployments, each succeeded.
    pub watches: &'a [Watch],
    /// When the deploy started.
    pub started: Instant,
}

/// After a verified deploy: the work that follows it ([`after_success`]), the running digests
/// checked against the ones checked before, and the ✔ line.
pub async fn finish(
    ecs: &Ecs,
    config: &Config,
    credentials: &aws::Credentials,
    done: &Deployed<'_>,
    report: &Reporter,
    record: &mut Record,
) -> Result<String, Error> {
    let (services, updated) = (done.services, done.updated);
    after_success(ecs, config, credentials, services, updated, report, record).await?;
    operate::check_digests(ecs, done.watches, record, report).await;
    let line = verdict::success_line(config, done.watches, updated, done.started);
    Ok(operate::name_digest(line, record))
}

/// Once every deployment succeeded: tag the services, move the scheduled tasks
/// (`UPDATE_SCHEDULED_TASKS`), clean up old revisions (`KEEP_REVISIONS`, sparing what the
/// scheduled tasks pin). Errs only when some scheduled task still runs an old revision.
pub async fn after_success(
    ecs: &Ecs,
    config: &Config,
    credentials: &aws::Credentials,
    services: &[crate::rules::rollout::Service],
    updated: &[Updated],
    report: &Reporter,
    record: &mut Record,
) -> Result<(), Error> {
    tag_services(ecs, config, updated, report).await;
    let moved = if config.after.update_scheduled_tasks {
        let deployed: Vec<Revisions> = updated
            .iter()
            .map(|u| Revisions {
                old: u.previous.clone(),
                new: u.target.clone(),
            })
            .collect();
        let cluster_arn = cluster_arn(config, services);
        scheduled_tasks(config, credentials, &cluster_arn, &deployed, report, record).await
    } else {
        retarget::Outcome {
            pinned: Some(BTreeSet::new()),
            failure: None,
        }
    };
    if let Some(keep) = config.after.keep_revisions {
        for (previous, current) in revisions_to_clean(updated) {
            let pinned = moved.pinned.as_ref();
            clean_up(ecs, config, keep, (&previous, &current), pinned, report).await;
        }
    }
    match moved.failure {
        Some(failure) => Err(retarget::error(verdict::deployed_words(updated), failure)),
        None => Ok(()),
    }
}

/// `TAG_SERVICE`: each updated service remembers its last deploy. A failure only warns: the
/// deploy itself is done.
pub async fn tag_services(ecs: &Ecs, config: &Config, updated: &[Updated], report: &Reporter) {
    if !config.after.tag_service {
        return;
    }
    let tags: Vec<(String, String)> = task_def::audit_tags(&config.context)
        .into_iter()
        .filter(|(k, _)| !k.ends_with("pipeline-uuid") && !k.ends_with("repository"))
        .collect();
    let shown = tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    for u in updated {
        if u.service.service_arn.is_empty() {
            continue;
        }
        match ecs.tag(&u.service.service_arn, &tags).await {
            Ok(()) if updated.len() == 1 => report.detail(&format!("tagged the service: {shown}")),
            Ok(()) => report.detail(&format!("tagged {}: {shown}", short(&u.name))),
            Err(err) => report.warn(&format!(
                "could not tag {} ({err}); the deploy itself succeeded",
                short(&u.name)
            )),
        }
    }
}

/// `UPDATE_SCHEDULED_TASKS`: moves (on a dry run, lists) the cluster's rules and schedules
/// pinned to an old revision of `deployed`, recording each.
pub async fn scheduled_tasks(
    config: &Config,
    credentials: &aws::Credentials,
    cluster_arn: &str,
    deployed: &[Revisions],
    report: &Reporter,
    record: &mut Record,
) -> retarget::Outcome {
    let endpoints = retarget::Endpoints {
        region: &config.target.region,
        events: config.credentials.endpoints.events.as_deref(),
        scheduler: config.credentials.endpoints.scheduler.as_deref(),
    };
    retarget::move_scheduled_tasks(
        &endpoints,
        credentials.clone(),
        cluster_arn,
        deployed,
        config.dry_run,
        report,
        &mut record.scheduled_tasks,
    )
    .await
}

/// (previous, current) revision pairs to clean up after, one per family.
pub fn revisions_to_clean(updated: &[Updated]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for u in updated {
        let family = family_of(&u.target);
        if !pairs
            .iter()
            .any(|(_, current)| family_of(current) == family)
        {
            pairs.push((u.previous.clone(), u.target.clone()));
        }
    }
    pairs
}

pub fn family_of(arn: &str) -> &str {
    let name = revision_name(arn);
    name.rsplit_once(':').map_or(name, |(family, _)| family)
}

/// `KEEP_REVISIONS`: deregister older ACTIVE revisions, never one in use: by a service of the
/// cluster, or (`pinned`) by a rule or schedule; `None` when those could not be read, so
/// nothing is deregistered. Failures only warn.
pub async fn clean_up(
    ecs: &Ecs,
    config: &Config,
    keep: u32,
    (previous, current): (&str, &str),
    pinned: Option<&BTreeSet<String>>,
    report: &Reporter,
) {
    let family = family_of(current).to_string();
    report.step(&format!(
        "Keeping the newest {keep} revisions of {family} (KEEP_REVISIONS)"
    ));
    let Some(pinned) = pinned else {
        return report.warn(
            "the scheduled tasks could not be read, so any revision may still be pinned; nothing deregistered",
        );
    };
    let active = match ecs.active_revisions(&family).await {
        Ok(active) => active,
        Err(err) => {
            return report.warn(&format!(
                "could not list revisions ({err}); nothing deregistered"
            ));
        }
    };
    let in_use = match ecs.revisions_in_use(&config.target.cluster).await {
        Ok(mut in_use) => {
            in_use.extend(pinned.iter().cloned());
            in_use
        }
        Err(err) => {
            return report.warn(&format!(
                "could not list the revisions in use ({err}); nothing deregistered"
            ));
        }
    };
    let doomed = cleanup::to_deregister(&active, keep, &in_use, previous, current);
    if doomed.is_empty() {
        report.detail("nothing to deregister");
    }
    for arn in doomed {
        match ecs.deregister(&arn).await {
            Ok(()) => report.detail(&format!("deregistered {}", revision_name(&arn))),
            Err(err) => report.warn(&format!(
                "could not deregister {} ({err})",
                revision_name(&arn)
            )),
        }
    }
}

/// The cluster's ARN, as ECS gave it with the services (rule and schedule targets name it so).
pub fn cluster_arn(config: &Config, services: &[crate::rules::rollout::Service]) -> String {
    services
        .iter()
        .map(|s| s.cluster_arn.clone())
        .find(|arn| !arn.is_empty())
        .unwrap_or_else(|| config.target.cluster.clone())
}
