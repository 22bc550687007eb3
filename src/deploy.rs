//! The deploy, in runbook order: credentials, service, task definition, image, register,
//! update, wait. Each step says what it does before doing it, and each failure says how
//! far the deploy got.

use std::collections::HashMap;
use std::time::Instant;

use crate::auth;
use crate::aws;
use crate::cleanup;
use crate::config::Config;
use crate::ecr;
use crate::ecs::{Ecs, Lookup};
use crate::error::{Changed, Error};
use crate::image::ImageRef;
use crate::logs::LogReaders;
use crate::outputs::Record;
use crate::report::Reporter;
use crate::rollout::{EventLog, Service, Tracked, revision_name};
use crate::task_def::{self, TaskDefinition};
use crate::wait::{self, WaitSettings};
use serde_json::Value;

fn last_segment(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

/// The ECS console page of the service's deployments.
pub fn console_link(region: &str, cluster: &str, service: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{}/services/{}/deployments?region={region}",
        last_segment(cluster),
        last_segment(service)
    )
}

/// Runs the whole deploy, filling `record` as it goes so the outcome can be written out
/// even when a step fails.
pub async fn deploy(config: &Config, report: &Reporter, record: &mut Record) -> Result<(), Error> {
    let started = Instant::now();
    record.cluster.clone_from(&config.cluster);
    record.service.clone_from(&config.service);
    for warning in &config.warnings {
        report.warn(warning);
    }
    let credentials = auth::credentials(config, report).await?;
    let ecs = Ecs::new(aws::ecs_client(
        &config.region,
        config.endpoints.ecs.as_deref(),
        credentials.clone(),
    ));

    report.step(&format!(
        "Reading service {} in cluster {} ({})",
        config.service, config.cluster, config.region
    ));
    // The ECR lookups do not depend on the service, so they run while it is read: one round
    // trip less before the first change.
    let (read, mut lookups) = tokio::join!(
        async {
            let service = read_service(&ecs, config).await?;
            let previous = service.task_definition.clone();
            report.detail(&format!(
                "runs {}: {}/{} tasks running",
                revision_name(&previous),
                service.running_count,
                service.desired_count
            ));
            let source = source_task_definition(&ecs, config, &previous, report).await?;
            Ok::<_, Error>((service, source))
        },
        look_up_images(config, credentials.clone())
    );
    let (service, source) = read?;
    let previous = service.task_definition.clone();
    record.previous_task_definition_arn = Some(previous.clone());

    let rendered = match source {
        Some(mut td) => {
            let before = td.register_request();
            let mut checked: HashMap<String, Option<String>> = HashMap::new();
            for (container, image) in images_to_set(config) {
                let change = td.set_image(container.as_deref(), &image.full)?;
                report.detail(&format!(
                    "container {}: {} → {}",
                    change.container, change.old, change.new
                ));
                let digest = match checked.get(&image.full) {
                    Some(digest) => digest.clone(),
                    None => {
                        let digest =
                            report_image(config, image, lookups.remove(&image.full), report)?;
                        checked.insert(image.full.clone(), digest.clone());
                        digest
                    }
                };
                record
                    .images
                    .push((change.container, image.full.clone(), digest));
            }
            td.apply_tags(&task_def::audit_tags(&config.context), &config.tags)?;
            Some((before, td))
        }
        None => None,
    };

    if config.dry_run {
        dry_run(config, report, rendered.as_ref(), record);
        return Ok(());
    }

    // The new revision as registered, for the failure report: where its containers log.
    let mut task_definitions: HashMap<String, Value> = HashMap::new();
    let new_revision = match rendered {
        Some((before, td)) => {
            let request = td.register_request();
            report.step(&format!("Registering a new revision of {}", td.family()));
            let arn = ecs
                .register_task_definition(&request)
                .await
                .map_err(|err| Error::Aws {
                    step: format!("registering a new revision of {}", td.family()),
                    err: err.into(),
                    changed: Changed::Nothing,
                })?;
            let changes = if config.task_definition_file.is_none() {
                let paths: Vec<String> = task_def::changed_paths(&before, &request)
                    .into_iter()
                    .filter(|p| !p.starts_with("tags"))
                    .collect();
                if paths.is_empty() {
                    "no field changed".to_string()
                } else {
                    format!("changed: {}", paths.join(", "))
                }
            } else {
                format!("from {}", td.source)
            };
            report.detail(&format!(
                "registered {} (was {}); {changes}",
                revision_name(&arn),
                revision_name(&previous)
            ));
            report.detail(&format!(
                "{} tag(s), audit tags under {}",
                td.tags.len(),
                crate::config::AUDIT_TAG_PREFIX
            ));
            record.task_definition_arn = Some(arn.clone());
            task_definitions.insert(arn.clone(), request);
            Some(arn)
        }
        None => None,
    };

    let target = new_revision.clone().unwrap_or_else(|| previous.clone());
    report.step(&format!(
        "Updating service {} to {}",
        config.service,
        revision_name(&target)
    ));
    if config.force_new_deployment {
        report.detail("forcing a new deployment (FORCE_NEW_DEPLOYMENT)");
    }
    if let Some(n) = config.desired_count {
        report.detail(&format!("desired count {} → {n}", service.desired_count));
    }
    let updated = ecs
        .update_service(
            &config.cluster,
            &config.service,
            new_revision.as_deref(),
            config.force_new_deployment,
            config.desired_count,
        )
        .await
        .map_err(|err| Error::Aws {
            step: format!("updating service {}", config.service),
            err: err.into(),
            changed: new_revision.clone().map_or(Changed::Nothing, |revision| {
                Changed::Registered { revision }
            }),
        })?;
    let deployment_id = our_deployment(&updated, &target);
    record.deployment_id = Some(deployment_id.clone());
    report.detail(&format!("deployment {deployment_id} started"));
    report.detail(&console_link(
        &config.region,
        &config.cluster,
        &config.service,
    ));

    if !config.wait {
        tag_service(&ecs, config, &updated.service_arn, report).await;
        report.success(&format!(
            "Started deployment {deployment_id} of {} to {}; not waiting for it (WAIT is false)",
            revision_name(&target),
            config.service
        ));
        return Ok(());
    }

    report.step(&format!(
        "Waiting for {deployment_id} (timeout {}, polling every {})",
        wait::human(config.wait_timeout),
        wait::human(config.wait_interval)
    ));
    let settings = WaitSettings {
        cluster: config.cluster.clone(),
        service: config.service.clone(),
        timeout: config.wait_timeout,
        interval: config.wait_interval,
        service_deployment: updated.current_service_deployment.clone(),
        log_lines: config.log_lines,
        task_definitions,
    };
    // Built only if a failure report reads a container's logs.
    let logs = LogReaders::new(config.endpoints.logs.clone(), credentials);
    let tracked = Tracked {
        deployment_id,
        task_definition: target.clone(),
        previous_task_definition: previous.clone(),
    };
    let mut events = EventLog::default();
    events.prime(&service.events);
    match wait::follow(&ecs, &logs, &settings, tracked, &mut events, report).await {
        Ok(done) => {
            record.deployment_id = Some(done.deployment_id.clone());
            tag_service(&ecs, config, &updated.service_arn, report).await;
            if let Some(keep) = config.keep_revisions {
                clean_up(&ecs, config, keep, &previous, &target, report).await;
            }
            report.success(&format!(
                "Deployed {} to service {} in cluster {} ({} in all); {} is complete: {}",
                revision_name(&target),
                last_segment(&config.service),
                last_segment(&config.cluster),
                wait::human(started.elapsed()),
                done.deployment_id,
                console_link(&config.region, &config.cluster, &config.service)
            ));
            Ok(())
        }
        Err(error) if config.rollback_on_failure => Err(roll_back(
            &ecs,
            &logs,
            &settings,
            &previous,
            &target,
            &mut events,
            report,
            error,
        )
        .await),
        Err(error) => Err(error),
    }
}

/// (container or None for "the only one", image) pairs from IMAGE/CONTAINER_NAME or CONTAINER_IMAGES.
fn images_to_set(config: &Config) -> Vec<(Option<String>, &ImageRef)> {
    match &config.image {
        Some(image) => vec![(config.container.clone(), image)],
        None => config
            .container_images
            .iter()
            .map(|(c, i)| (Some(c.clone()), i))
            .collect(),
    }
}

/// `DRY_RUN`: show the new revision as a diff and the calls a deploy would make, change nothing.
fn dry_run(
    config: &Config,
    report: &Reporter,
    rendered: Option<&(Value, TaskDefinition)>,
    record: &mut Record,
) {
    report.step("Dry run: what a deploy would change (DRY_RUN is true)");
    let mut calls = Vec::new();
    if let Some((before, td)) = rendered {
        let mut before_body = before.clone();
        let before_tags = before_body
            .as_object_mut()
            .and_then(|b| b.remove("tags"))
            .unwrap_or(Value::Array(Vec::new()));
        let mut lines = task_def::diff_lines(&before_body, &Value::Object(td.body.clone()));
        lines.extend(task_def::tag_changes(&before_tags, &td.tags));
        if lines.is_empty() {
            report.detail("the new revision would be identical to the current one");
        }
        for line in lines {
            report.detail(&line);
        }
        calls.push(format!(
            "ecs:RegisterTaskDefinition family {} (a new revision)",
            td.family()
        ));
    }
    let mut update = format!(
        "ecs:UpdateService cluster {} service {}",
        config.cluster, config.service
    );
    if rendered.is_some() {
        update.push_str(" taskDefinition=<the new revision>");
    }
    if config.force_new_deployment {
        update.push_str(" forceNewDeployment=true");
    }
    if let Some(n) = config.desired_count {
        update.push_str(&format!(" desiredCount={n}"));
    }
    calls.push(update);
    if config.wait {
        calls.push(format!(
            "then follow the deployment (timeout {})",
            wait::human(config.wait_timeout)
        ));
    }
    report.detail("calls a deploy would make:");
    for call in &calls {
        report.detail(&format!("  {call}"));
    }
    record.verdict = "dry-run".into();
    report.success(&format!(
        "Dry run of {} in {}: nothing was changed in AWS",
        config.service, config.cluster
    ));
}

/// `TAG_SERVICE`: the service remembers its last deploy. A failure only warns: the deploy
/// itself is done.
async fn tag_service(ecs: &Ecs, config: &Config, service_arn: &str, report: &Reporter) {
    if !config.tag_service || service_arn.is_empty() {
        return;
    }
    let tags: Vec<(String, String)> = task_def::audit_tags(&config.context)
        .into_iter()
        .filter(|(k, _)| !k.ends_with("pipeline-uuid") && !k.ends_with("repository"))
        .collect();
    match ecs.tag(service_arn, &tags).await {
        Ok(()) => report.detail(&format!(
            "tagged the service: {}",
            tags.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(err) => report.warn(&format!(
            "could not tag the service ({err}); the deploy itself succeeded"
        )),
    }
}

/// `KEEP_REVISIONS`: deregister older ACTIVE revisions, never one in use. Failures only warn.
async fn clean_up(
    ecs: &Ecs,
    config: &Config,
    keep: u32,
    previous: &str,
    current: &str,
    report: &Reporter,
) {
    let family = revision_name(current)
        .rsplit_once(':')
        .map_or(revision_name(current), |(f, _)| f)
        .to_string();
    report.step(&format!(
        "Keeping the newest {keep} revisions of {family} (KEEP_REVISIONS)"
    ));
    let active = match ecs.active_revisions(&family).await {
        Ok(active) => active,
        Err(err) => {
            return report.warn(&format!(
                "could not list revisions ({err}); nothing deregistered"
            ));
        }
    };
    let in_use = match ecs.revisions_in_use(&config.cluster).await {
        Ok(in_use) => in_use,
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

async fn read_service(ecs: &Ecs, config: &Config) -> Result<Service, Error> {
    let lookup = ecs
        .describe_service(&config.cluster, &config.service)
        .await
        .map_err(|err| Error::Aws {
            step: format!("reading service {}", config.service),
            err: err.into(),
            changed: Changed::Nothing,
        })?;
    let service = match lookup {
        Lookup::Found(service) => *service,
        Lookup::Missing => {
            return Err(Error::ServiceNotFound {
                cluster: config.cluster.clone(),
                service: config.service.clone(),
                region: config.region.clone(),
            });
        }
        Lookup::NoCluster => {
            return Err(Error::ClusterNotFound {
                cluster: config.cluster.clone(),
                region: config.region.clone(),
            });
        }
    };
    if service.status != "ACTIVE" && !service.status.is_empty() {
        return Err(Error::ServiceNotActive {
            service: config.service.clone(),
            status: service.status,
        });
    }
    if let Some(controller) = &service.deployment_controller
        && matches!(controller.kind.as_str(), "CODE_DEPLOY" | "EXTERNAL")
    {
        return Err(Error::UnsupportedController {
            service: config.service.clone(),
            controller: controller.kind.clone(),
        });
    }
    Ok(service)
}

/// The task definition to modify: the file, or the revision the service runs. `None` when
/// only a forced redeploy of the current revision was asked for.
async fn source_task_definition(
    ecs: &Ecs,
    config: &Config,
    current: &str,
    report: &Reporter,
) -> Result<Option<TaskDefinition>, Error> {
    if let Some(file) = &config.task_definition_file {
        report.step(&format!("Using the task definition in {}", file.display));
        return TaskDefinition::from_json(file.json.clone(), &file.display).map(Some);
    }
    if config.image.is_none() && config.container_images.is_empty() {
        return Ok(None);
    }
    report.step(&format!(
        "Reading task definition {}",
        revision_name(current)
    ));
    let raw = ecs
        .describe_task_definition(current)
        .await
        .map_err(|err| Error::Aws {
            step: format!("reading task definition {}", revision_name(current)),
            err: err.into(),
            changed: Changed::Nothing,
        })?;
    TaskDefinition::from_json(raw, revision_name(current)).map(Some)
}

/// Looks up every ECR image to deploy (when `VERIFY_IMAGE`), by full reference.
async fn look_up_images(
    config: &Config,
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
) -> HashMap<String, Result<String, Error>> {
    let mut found = HashMap::new();
    if !config.verify_image {
        return found;
    }
    for (_, image) in images_to_set(config) {
        if let Some(ecr_image) = image.ecr()
            && !found.contains_key(&image.full)
        {
            let client = aws::ecr_client(
                &ecr_image.region,
                config.endpoints.ecr.as_deref(),
                credentials.clone(),
            );
            let digest = ecr::image_digest(&client, &ecr_image, &image.full).await;
            found.insert(image.full.clone(), digest);
        }
    }
    found
}

/// Reports the ECR check of one image; a missing image stops the deploy here.
fn report_image(
    config: &Config,
    image: &ImageRef,
    lookup: Option<Result<String, Error>>,
    report: &Reporter,
) -> Result<Option<String>, Error> {
    if !config.verify_image {
        return Ok(None);
    }
    let Some(lookup) = lookup else {
        report.detail(&format!("{image} is not in ECR; not checked"));
        return Ok(None);
    };
    report.step(&format!("Checking that {image} exists in ECR"));
    let digest = lookup?;
    report.detail(&format!("found, digest {digest}"));
    Ok(Some(digest))
}

/// The deployment UpdateService started: the PRIMARY one running `target`.
fn our_deployment(service: &Service, target: &str) -> String {
    service
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY" && d.task_definition == target)
        .or_else(|| service.deployments.iter().find(|d| d.status == "PRIMARY"))
        .map(|d| d.id.clone())
        .unwrap_or_default()
}

/// `ROLLBACK_ON_FAILURE`: put the service back on `previous` unless ECS already did, wait
/// for that, and return the original failure with what happened added.
// Both clients, the settings and the two revisions are all needed; a struct for one caller
// would only hide that.
#[allow(clippy::too_many_arguments)]
async fn roll_back(
    ecs: &Ecs,
    logs: &LogReaders,
    settings: &WaitSettings,
    previous: &str,
    target: &str,
    events: &mut EventLog,
    report: &Reporter,
    error: Error,
) -> Error {
    let Error::Rollout {
        verdict,
        mut details,
        hints,
    } = error
    else {
        return error;
    };
    let current = match ecs
        .describe_service(&settings.cluster, &settings.service)
        .await
    {
        Ok(Lookup::Found(s)) => s
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY")
            .map(|d| d.task_definition.clone()),
        _ => None,
    };
    if current.as_deref() == Some(previous) || previous == target {
        details.push(format!(
            "ROLLBACK_ON_FAILURE: the service is already back on {}",
            revision_name(previous)
        ));
        return Error::Rollout {
            verdict,
            details,
            hints,
        };
    }
    report.step(&format!(
        "Rolling back to {} (ROLLBACK_ON_FAILURE)",
        revision_name(previous)
    ));
    let outcome = match ecs
        .update_service(
            &settings.cluster,
            &settings.service,
            Some(previous),
            false,
            None,
        )
        .await
    {
        Ok(updated) => {
            let tracked = Tracked {
                deployment_id: our_deployment(&updated, previous),
                task_definition: previous.to_string(),
                previous_task_definition: target.to_string(),
            };
            // Only the outcome of the rollback is reported, so its logs would not be shown.
            let settings = WaitSettings {
                log_lines: 0,
                ..settings.clone()
            };
            match wait::follow(ecs, logs, &settings, tracked, events, report).await {
                Ok(_) => format!(
                    "rolled back: the service runs {} again",
                    revision_name(previous)
                ),
                Err(e) => format!(
                    "the rollback to {} did not complete either: {e}",
                    revision_name(previous)
                ),
            }
        }
        Err(err) => format!(
            "the rollback to {} could not start: {err}",
            revision_name(previous)
        ),
    };
    details.push(outcome.clone());
    Error::Rollout {
        verdict: format!("{verdict}; {outcome}"),
        details,
        hints,
    }
}
