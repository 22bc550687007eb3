//! The deploy, in runbook order: credentials; read the services, their task definitions and
//! the images; plan (pure); stop there on a dry run; apply (register, update); follow every
//! deployment to a verdict; then tag, clean up or roll back. Each step says what it does
//! before doing it, and each failure says how far the deploy got.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::Value;

use crate::apply::{self, Updated, console_link};
use crate::auth;
use crate::aws;
use crate::blue_green::{self, Deployer, Following, Target};
use crate::cleanup;
use crate::codedeploy::CodeDeploy;
use crate::codedeploy_verdict::console_link as codedeploy_link;
use crate::config::Config;
use crate::diagnose;
use crate::ecr;
use crate::ecs::Ecs;
use crate::error::{Changed, Error};
use crate::follow::{self, Outcome, Watch, human, short};
use crate::image::ImageRef;
use crate::logs::LogReaders;
use crate::outputs::{Record, ServiceRecord};
use crate::plan::{self, Plan, PreDeployPlan};
use crate::pre_deploy;
use crate::read;
use crate::report::Reporter;
use crate::retarget;
use crate::rollback;
use crate::rollout::{Tracked, revision_name};
use crate::scheduled::{self, Revisions};
use crate::task_def;

/// Runs the whole deploy, filling `record` as it goes so the outcome can be written out
/// even when a step fails. Returns the success line, which the caller prints last (after
/// writing the outputs, whose warnings must not come after the verdict).
pub async fn deploy(
    config: &Config,
    report: &Reporter,
    record: &mut Record,
) -> Result<String, Error> {
    let started = Instant::now();
    begin_record(config, record);
    for warning in &config.warnings {
        report.warn(warning);
    }
    let credentials = auth::credentials(config, report).await?;
    let (ecs, logs) = clients(config, &credentials);

    // The ECR lookups do not depend on the services, so they run while those are read: one
    // round trip less before the first change.
    let (read, lookups) = tokio::join!(
        read_everything(&ecs, config, report),
        look_up_images(config, credentials.clone())
    );
    let (services, sources) = read?;
    for (service, live) in record.services.iter_mut().zip(&services) {
        service.previous_task_definition_arn = Some(live.primary_revision().to_string());
    }
    let code_deploy = code_deploy_targets(config, &services, credentials.clone(), report).await?;
    let plan = plan::build(config, &services, &sources)?;
    show_plan(config, &plan, lookups, report, record)?;
    crate::preflight::check(
        &ecs,
        config,
        &credentials,
        (&plan, &services, &sources),
        report,
    )
    .await?;

    if config.dry_run {
        let line = dry_run(config, &plan, &code_deploy.targets, report, record)?;
        dry_run_scheduled_tasks(config, &credentials, &services, &plan, report, record).await?;
        return Ok(line);
    }

    let (registered, updated) = change(
        &ecs,
        &logs,
        config,
        (&plan, &code_deploy),
        &sources,
        report,
        record,
    )
    .await?;

    if !config.wait.enabled {
        tag_services(&ecs, config, &updated, report).await;
        return Ok(started_line(&updated));
    }

    let mut watches = watch(config, &updated, &services);
    report.step(&waiting_line(config, &watches));
    let settings = follow_settings(config, &plan, &registered, code_deploy.client.clone());
    follow::follow(&ecs, &logs, &settings, &mut watches, report).await?;
    record_outcomes(&watches, record);

    if watches
        .iter()
        .all(|w| matches!(w.outcome, Some(Outcome::Succeeded { .. })))
    {
        after_success(
            &ecs,
            config,
            &credentials,
            &services,
            &updated,
            report,
            record,
        )
        .await?;
        return Ok(success_line(config, &watches, &updated, started));
    }
    let mut error = failure(&watches);
    if config.wait.rollback_on_failure {
        error = rollback::roll_back(&ecs, &logs, config, &settings, &updated, report, error).await;
    }
    Err(error)
}

/// The ECS client, and the CloudWatch Logs readers (their clients are built only when a log
/// is read: a failure report, the pre-deploy command's output).
fn clients(config: &Config, credentials: &SharedCredentialsProvider) -> (Ecs, LogReaders) {
    let logs = LogReaders::new(
        config.credentials.endpoints.logs.clone(),
        credentials.clone(),
    );
    let ecs = Ecs::new(aws::ecs_client(
        &config.target.region,
        config.credentials.endpoints.ecs.as_deref(),
        credentials.clone(),
    ));
    (ecs, logs)
}

/// The record starts with the cluster and services asked for, so a deploy that fails before
/// reading them still names them.
fn begin_record(config: &Config, record: &mut Record) {
    record.cluster.clone_from(&config.target.cluster);
    record.services = config
        .target
        .services
        .iter()
        .map(|s| ServiceRecord::new(s))
        .collect();
}

/// The changes in AWS: register the new revisions, run the pre-deploy command, update the
/// services. Returns the ARNs registered (in the order of `plan.revisions`) and the updates;
/// `sources` are the task definitions read.
async fn change(
    ecs: &Ecs,
    logs: &LogReaders,
    config: &Config,
    (plan, code_deploy): (&Plan, &Deployer),
    sources: &HashMap<String, Value>,
    report: &Reporter,
    record: &mut Record,
) -> Result<(Vec<String>, Vec<Updated>), Error> {
    let registered = apply::register(ecs, plan, report).await?;
    for (service, planned) in record.services.iter_mut().zip(&plan.services) {
        service.task_definition_arn = planned.revision.and_then(|i| registered.get(i).cloned());
    }
    if let Some(pre) = &plan.pre_deploy {
        let parts = PreDeploySources {
            plan,
            registered: &registered,
            task_definitions: sources,
        };
        run_pre_deploy(ecs, logs, config, pre, &parts, report, record).await?;
    }
    let updated = update_all(ecs, config, plan, &registered, code_deploy, report).await?;
    record_started(&updated, record);
    Ok((registered, updated))
}

/// The CodeDeploy client and the deployment group of every CODE_DEPLOY service, found
/// before anything changes; with no such service, neither. Also checks that each one's
/// AppSpec can be made, so a service without a load balancer is refused here.
async fn code_deploy_targets(
    config: &Config,
    services: &[crate::rollout::Service],
    credentials: SharedCredentialsProvider,
    report: &Reporter,
) -> Result<Deployer, Error> {
    if !services
        .iter()
        .any(crate::rollout::Service::uses_code_deploy)
    {
        if config.code_deploy != blue_green::Options::default() {
            report.warn("the CODEDEPLOY_* variables are set, but no service uses the CODE_DEPLOY deployment controller; they are ignored");
        }
        return Ok(Deployer::default());
    }
    let cd = CodeDeploy::new(aws::codedeploy_client(
        &config.target.region,
        config.credentials.endpoints.codedeploy.as_deref(),
        credentials,
    ));
    let named: Vec<(&str, &crate::rollout::Service)> = config
        .target
        .services
        .iter()
        .map(String::as_str)
        .zip(services)
        .collect();
    let targets = blue_green::find_groups(
        &cd,
        &config.target.cluster,
        &named,
        &config.code_deploy,
        report,
    )
    .await?;
    for target in &targets {
        blue_green::request(
            target,
            target.live.primary_revision(),
            &config.code_deploy,
            (None, None, None),
        )?;
    }
    Ok(Deployer {
        client: Some(cd),
        targets,
    })
}

/// What the pre-deploy task is made of: the plan, the ARNs registered, and the task
/// definitions read.
struct PreDeploySources<'a> {
    plan: &'a Plan,
    registered: &'a [String],
    task_definitions: &'a HashMap<String, Value>,
}

/// `PRE_DEPLOY_COMMAND`, once, with the first service's new revision and network.
async fn run_pre_deploy(
    ecs: &Ecs,
    logs: &LogReaders,
    config: &Config,
    pre: &PreDeployPlan,
    sources: &PreDeploySources<'_>,
    report: &Reporter,
    record: &mut Record,
) -> Result<(), Error> {
    let first = &sources.plan.services[pre.service];
    let new = sources.plan.revision_of(first);
    let task_definition = first
        .revision
        .and_then(|i| sources.registered.get(i))
        .unwrap_or(&first.current);
    let body = match new {
        Some(revision) => revision.task_definition.register_request(),
        None => sources
            .task_definitions
            .get(&first.current)
            .cloned()
            .unwrap_or(Value::Null),
    };
    let context = pre_deploy::Context {
        log_configuration: diagnose::log_configuration(&body, &pre.container).flatten(),
        service: short(&first.name),
        current: &first.current,
        task_definition,
        registered: sources.registered,
    };
    let mut task = pre_deploy::TaskRecord::default();
    let result = pre_deploy::run(ecs, logs, config, pre, &context, report, &mut task).await;
    record.pre_deploy = Some(task);
    result
}

/// The services, and the task definitions they run (unless a file replaces them, or only a
/// restart was asked for).
async fn read_everything(
    ecs: &Ecs,
    config: &Config,
    report: &Reporter,
) -> Result<(Vec<crate::rollout::Service>, HashMap<String, Value>), Error> {
    let services = read::services(ecs, config, report).await?;
    let sources = if let Some(file) = &config.change.task_definition_file {
        if file.placeholders.is_empty() {
            report.step(&format!("Using the task definition in {}", file.display));
        } else {
            report.step(&format!(
                "Using the task definition in {} (placeholders filled from {})",
                file.display,
                file.placeholders.join(", ")
            ));
        }
        HashMap::new()
    } else if config.change.image.is_some()
        || !config.change.container_images.is_empty()
        || !config.change.overrides.is_empty()
        || config.pre_deploy.is_some()
    {
        let arns: Vec<String> = services.iter().map(|s| s.task_definition.clone()).collect();
        read::task_definitions(ecs, &arns, report).await?
    } else {
        HashMap::new()
    };
    Ok((services, sources))
}

/// Prints each image change and checks each image once; a missing image stops here.
fn show_plan(
    config: &Config,
    plan: &Plan,
    mut lookups: HashMap<String, Result<String, Error>>,
    report: &Reporter,
    record: &mut Record,
) -> Result<(), Error> {
    let several = plan.services.len() > 1;
    let mut checked: HashMap<String, Option<String>> = HashMap::new();
    for revision in &plan.revisions {
        for change in &revision.changes {
            let line = format!(
                "container {}: {} → {}",
                change.container, change.old, change.new
            );
            if several {
                report.detail(&format!(
                    "{} ({}): {line}",
                    revision.source_name(),
                    revision.services.join(", ")
                ));
            } else {
                report.detail(&line);
            }
            if checked.contains_key(&change.new) {
                continue;
            }
            let image = plan::images_to_set(config)
                .into_iter()
                .map(|(_, image)| image)
                .find(|image| image.full == change.new);
            let digest = match image {
                Some(image) => report_image(config, image, lookups.remove(&image.full), report)?,
                None => None,
            };
            checked.insert(change.new.clone(), digest.clone());
            record
                .images
                .push((change.container.clone(), change.new.clone(), digest));
        }
    }
    Ok(())
}

/// `DRY_RUN`: show each new revision as a diff and the calls a deploy would make, change nothing.
fn dry_run(
    config: &Config,
    plan: &Plan,
    targets: &[Target],
    report: &Reporter,
    record: &mut Record,
) -> Result<String, Error> {
    report.step("Dry run: what a deploy would change (DRY_RUN is true)");
    let mut calls = show_revisions(plan, report);
    if let Some(pre) = &plan.pre_deploy {
        calls.push(pre_deploy_call(config, plan, pre));
        record.pre_deploy = Some(pre_deploy::TaskRecord {
            verdict: "dry-run".into(),
            ..pre_deploy::TaskRecord::default()
        });
    }
    let code_deploy_lines = update_calls(config, plan, targets, &mut calls)?;
    if config.wait.enabled {
        calls.push(format!(
            "then follow the deployment{} (timeout {})",
            if plan.services.len() > 1 { "s" } else { "" },
            human(config.wait.timeout)
        ));
    }
    report.detail("calls a deploy would make:");
    for call in &calls {
        report.detail(&format!("  {call}"));
    }
    for line in &code_deploy_lines {
        report.detail(line);
    }
    record.verdict = "dry-run".into();
    for service in &mut record.services {
        service.verdict = "dry-run".into();
    }
    Ok(format!(
        "Dry run of {} in {}: nothing was changed in AWS",
        config.target.services.join(", "),
        config.target.cluster
    ))
}

/// Shows each new revision as a diff against the one it is made from; returns the register
/// call of each.
fn show_revisions(plan: &Plan, report: &Reporter) -> Vec<String> {
    let several = plan.services.len() > 1;
    let mut calls = Vec::new();
    for revision in &plan.revisions {
        let td = &revision.task_definition;
        let mut before_body = revision.before.clone();
        let before_tags = before_body
            .as_object_mut()
            .and_then(|b| b.remove("tags"))
            .unwrap_or(Value::Array(Vec::new()));
        let mut lines = task_def::diff_lines(&before_body, &Value::Object(td.body.clone()));
        lines.extend(task_def::tag_changes(&before_tags, &td.tags));
        if several {
            report.detail(&format!(
                "new revision of {} from {}, for {}:",
                td.family(),
                revision.source_name(),
                revision.services.join(", ")
            ));
        }
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
    calls
}

/// The RunTask call `PRE_DEPLOY_COMMAND` would make, as its request.
fn pre_deploy_call(config: &Config, plan: &Plan, pre: &PreDeployPlan) -> String {
    let first = &plan.services[pre.service];
    let task_definition = match plan.revision_of(first) {
        Some(revision) => format!(
            "<the new revision of {}>",
            revision.task_definition.family()
        ),
        None => first.current.clone(),
    };
    let request = pre_deploy::run_task_request(
        &config.target.cluster,
        &task_definition,
        pre,
        &task_def::audit_tags(&config.context),
        &pre_deploy::started_by(&config.context),
    );
    format!("ecs:RunTask (PRE_DEPLOY_COMMAND, then wait for it to exit 0): {request}")
}

/// The UpdateService call for each service.
/// The calls for each service, added to `calls`: an UpdateService, or for a service that
/// CodeDeploy deploys its calls; returns the AppSpec and CreateDeployment lines of those.
fn update_calls(
    config: &Config,
    plan: &Plan,
    targets: &[Target],
    calls: &mut Vec<String>,
) -> Result<Vec<String>, Error> {
    let mut code_deploy_lines = Vec::new();
    for service in &plan.services {
        if let Some(target) = targets.iter().find(|t| t.service == service.name) {
            code_deploy_lines.extend(dry_run_code_deploy(config, plan, service, target, calls)?);
            continue;
        }
        calls.push(update_call(config, plan, service));
    }
    Ok(code_deploy_lines)
}

/// `DRY_RUN`: the UpdateService call a deploy would make for an ECS service.
fn update_call(config: &Config, plan: &Plan, service: &plan::ServicePlan) -> String {
    let mut update = format!(
        "ecs:UpdateService cluster {} service {}",
        config.target.cluster, service.name
    );
    if let Some(revision) = plan.revision_of(service) {
        if plan.revisions.len() > 1 {
            update.push_str(&format!(
                " taskDefinition=<the new revision of {}>",
                revision.task_definition.family()
            ));
        } else {
            update.push_str(" taskDefinition=<the new revision>");
        }
    }
    if config.change.force_new_deployment {
        update.push_str(" forceNewDeployment=true");
    }
    if let Some(n) = config.change.desired_count {
        update.push_str(&format!(" desiredCount={n}"));
    }
    update
}

/// `DRY_RUN` for a service that CodeDeploy deploys: its calls (added to `calls`), and the
/// AppSpec and CreateDeployment request, as lines.
fn dry_run_code_deploy(
    config: &Config,
    plan: &Plan,
    service: &plan::ServicePlan,
    target: &Target,
    calls: &mut Vec<String>,
) -> Result<Vec<String>, Error> {
    let revision = match plan.revision_of(service) {
        Some(revision) => format!(
            "<the new revision of {}>",
            revision.task_definition.family()
        ),
        None => service.current.clone(),
    };
    if let Some(n) = config.change.desired_count {
        calls.push(format!(
            "ecs:UpdateService cluster {} service {} desiredCount={n} (no task definition: CodeDeploy deploys the service)",
            config.target.cluster, service.name
        ));
    }
    let (spec, body) = blue_green::request(
        target,
        &revision,
        &config.code_deploy,
        apply::build_of(config),
    )?;
    calls.push(format!(
        "codedeploy:CreateDeployment {} for service {} (AppSpec and request below)",
        target.group.label(),
        service.name
    ));
    Ok(blue_green::dry_run_lines(&spec, &body))
}

fn watch(config: &Config, updated: &[Updated], services: &[crate::rollout::Service]) -> Vec<Watch> {
    let several = updated.len() > 1;
    updated
        .iter()
        .map(|u| {
            let known = services
                .iter()
                .find(|s| short(&s.service_name) == short(&u.name) || s.service_arn == u.name)
                .map_or(&[][..], |s| s.events.as_slice());
            let mut watch = Watch::new(
                &u.name,
                Tracked {
                    deployment_id: u.deployment_id.clone(),
                    task_definition: u.target.clone(),
                    previous_task_definition: u.previous.clone(),
                },
                u.service.current_service_deployment.clone(),
                known,
                several,
            );
            if u.code_deploy.is_some() {
                watch.code_deploy = Some(Following::new(
                    &u.deployment_id,
                    &config.target.cluster,
                    &u.name,
                    &config.target.region,
                ));
            }
            watch
        })
        .collect()
}

/// The follow loop's settings; `registered` are the ARNs of `plan`'s revisions, whose
/// container definitions the failure report reads; `codedeploy` follows CodeDeploy's
/// deployments.
fn follow_settings(
    config: &Config,
    plan: &Plan,
    registered: &[String],
    codedeploy: Option<CodeDeploy>,
) -> follow::Settings {
    // The new revisions as registered: where their containers log, for a failure report.
    let task_definitions = plan
        .revisions
        .iter()
        .zip(registered)
        .map(|(revision, arn)| (arn.clone(), revision.task_definition.register_request()))
        .collect();
    follow::Settings {
        cluster: config.target.cluster.clone(),
        timeout: config.wait.timeout,
        interval: config.wait.interval,
        heartbeat: config.wait.heartbeat,
        log_lines: config.wait.log_lines,
        task_definitions,
        codedeploy,
    }
}

fn waiting_line(config: &Config, watches: &[Watch]) -> String {
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

fn started_line(updated: &[Updated]) -> String {
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

fn success_line(
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

/// Updates the ECS services, then starts the CodeDeploy deployments of the CODE_DEPLOY ones.
async fn update_all(
    ecs: &Ecs,
    config: &Config,
    plan: &Plan,
    registered: &[String],
    code_deploy: &Deployer,
    report: &Reporter,
) -> Result<Vec<Updated>, Error> {
    let mut updated = apply::update(ecs, config, plan, registered, report).await?;
    let (cd, targets) = (code_deploy.client.as_ref(), &code_deploy.targets);
    let started =
        apply::start_code_deploys(ecs, cd, config, plan, registered, targets, &updated, report)
            .await?;
    updated.extend(started);
    Ok(updated)
}

fn record_started(updated: &[Updated], record: &mut Record) {
    for u in updated {
        if let Some(service) = record.service_mut(&u.name) {
            service.deployment_id = Some(u.deployment_id.clone());
            service.code_deploy = u
                .code_deploy
                .as_ref()
                .map(|g| (g.application_name.clone(), g.deployment_group_name.clone()));
            service.verdict = "started".into();
        }
    }
}

fn record_outcomes(watches: &[Watch], record: &mut Record) {
    for watch in watches {
        let Some(service) = record.service_mut(&watch.name) else {
            continue;
        };
        match &watch.outcome {
            Some(Outcome::Succeeded { deployment_id }) => {
                service.verdict = "succeeded".into();
                service.deployment_id = Some(deployment_id.clone());
            }
            Some(Outcome::Failed(r)) => {
                service.verdict = "failed".into();
                service.message.clone_from(&r.verdict);
            }
            Some(Outcome::TimedOut(r)) => {
                service.verdict = "timed-out".into();
                service.message.clone_from(&r.verdict);
            }
            None => {}
        }
    }
}

/// The error for a deploy in which some deployment did not succeed. With one service it is
/// that deployment's verdict; with several, each failure's reasons (lines naming their
/// service), a summary line per service and a last line naming the failed ones.
fn failure(watches: &[Watch]) -> Error {
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

/// (previous, current) revision pairs to clean up after, one per family.
fn revisions_to_clean(updated: &[Updated]) -> Vec<(String, String)> {
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

fn family_of(arn: &str) -> &str {
    let name = revision_name(arn);
    name.rsplit_once(':').map_or(name, |(family, _)| family)
}

/// `TAG_SERVICE`: each updated service remembers its last deploy. A failure only warns: the
/// deploy itself is done.
async fn tag_services(ecs: &Ecs, config: &Config, updated: &[Updated], report: &Reporter) {
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

/// Once every deployment succeeded: tag the services, move the scheduled tasks
/// (`UPDATE_SCHEDULED_TASKS`), clean up old revisions (`KEEP_REVISIONS`, sparing what the
/// scheduled tasks pin). Errs only when some scheduled task still runs an old revision.
async fn after_success(
    ecs: &Ecs,
    config: &Config,
    credentials: &SharedCredentialsProvider,
    services: &[crate::rollout::Service],
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
        Some(failure) => Err(retarget::error(deployed_words(updated), failure)),
        None => Ok(()),
    }
}

/// `DRY_RUN` with `UPDATE_SCHEDULED_TASKS`: list what would move. A dry run changes nothing,
/// so failing to read the rules and schedules is a refusal (exit 2), naming the permission.
async fn dry_run_scheduled_tasks(
    config: &Config,
    credentials: &SharedCredentialsProvider,
    services: &[crate::rollout::Service],
    plan: &Plan,
    report: &Reporter,
    record: &mut Record,
) -> Result<(), Error> {
    if !config.after.update_scheduled_tasks {
        return Ok(());
    }
    let deployed = scheduled_dry_run(plan);
    let cluster_arn = cluster_arn(config, services);
    let moved = scheduled_tasks(config, credentials, &cluster_arn, &deployed, report, record).await;
    match moved.failure.and_then(|f| f.errors.into_iter().next()) {
        Some(err) => Err(Error::Aws {
            step: "Reading the scheduled tasks (UPDATE_SCHEDULED_TASKS)".into(),
            err: Box::new(err),
            changed: Changed::Nothing,
        }),
        None => Ok(()),
    }
}

/// `UPDATE_SCHEDULED_TASKS`: moves (on a dry run, lists) the cluster's rules and schedules
/// pinned to an old revision of `deployed`, recording each.
async fn scheduled_tasks(
    config: &Config,
    credentials: &SharedCredentialsProvider,
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

/// What a dry run would move: each planned service's current revision to a placeholder for the
/// revision it would get (it has no number before it is registered).
fn scheduled_dry_run(plan: &Plan) -> Vec<Revisions> {
    plan.services
        .iter()
        .filter_map(|s| {
            let revision = plan.revision_of(s)?;
            Some(Revisions {
                old: s.current.clone(),
                new: scheduled::planned_revision(&s.current, revision.task_definition.family()),
            })
        })
        .collect()
}

/// The cluster's ARN, as ECS gave it with the services (rule and schedule targets name it so).
fn cluster_arn(config: &Config, services: &[crate::rollout::Service]) -> String {
    services
        .iter()
        .map(|s| s.cluster_arn.clone())
        .find(|arn| !arn.is_empty())
        .unwrap_or_else(|| config.target.cluster.clone())
}

/// `service web is deployed (web:42)`, for a failure after the deploy succeeded.
fn deployed_words(updated: &[Updated]) -> String {
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

/// `KEEP_REVISIONS`: deregister older ACTIVE revisions, never one in use: by a service of the
/// cluster, or (`pinned`) by a rule or schedule; `None` when those could not be read, so
/// nothing is deregistered. Failures only warn.
async fn clean_up(
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

/// Looks up every ECR image to deploy (when `VERIFY_IMAGE`), by full reference.
async fn look_up_images(
    config: &Config,
    credentials: SharedCredentialsProvider,
) -> HashMap<String, Result<String, Error>> {
    let mut found = HashMap::new();
    if !config.change.verify_image {
        return found;
    }
    for (_, image) in plan::images_to_set(config) {
        if let Some(ecr_image) = image.ecr()
            && !found.contains_key(&image.full)
        {
            let client = aws::ecr_client(
                &ecr_image.region,
                config.credentials.endpoints.ecr.as_deref(),
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
    if !config.change.verify_image {
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
