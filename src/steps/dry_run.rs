//! `DRY_RUN`: the plan shown as the calls the deploy would make (registrations, the
//! pre-deploy task, the updates or CodeDeploy deployments, the scheduled-task moves), and
//! nothing written.

use serde_json::Value;

use crate::aws;
use crate::config::Config;
use crate::error::{Changed, Error};
use crate::model::service::Service;
use crate::report::Reporter;
use crate::rules::plan::{self, Plan, PreDeployPlan};
use crate::rules::scheduled::{self, Revisions};
use crate::rules::task_def;
use crate::steps::after;
use crate::steps::apply;
use crate::steps::blue_green::{self, Target};
use crate::steps::follow::human;
use crate::steps::outputs::Record;
use crate::steps::pre_deploy;

/// `DRY_RUN`: show each new revision as a diff and the calls a deploy would make, change nothing.
/// `DRY_RUN`: the plan as the calls a deploy would make, and the scheduled tasks that would
/// move; `read` is what was read (the services, the plan, the CodeDeploy targets).
pub async fn run(
    config: &Config,
    credentials: &aws::Credentials,
    (services, plan, targets): (&[Service], &Plan, &[Target]),
    report: &Reporter,
    record: &mut Record,
) -> Result<String, Error> {
    let line = show(config, plan, targets, report, record)?;
    scheduled_tasks(config, credentials, services, plan, report, record).await?;
    Ok(line)
}

pub fn show(
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
pub fn show_revisions(plan: &Plan, report: &Reporter) -> Vec<String> {
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
pub fn pre_deploy_call(config: &Config, plan: &Plan, pre: &PreDeployPlan) -> String {
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
pub fn update_calls(
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
pub fn update_call(config: &Config, plan: &Plan, service: &plan::ServicePlan) -> String {
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
pub fn dry_run_code_deploy(
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

/// `DRY_RUN` with `UPDATE_SCHEDULED_TASKS`: list what would move. A dry run changes nothing,
/// so failing to read the rules and schedules is a refusal (exit 2), naming the permission.
pub async fn scheduled_tasks(
    config: &Config,
    credentials: &aws::Credentials,
    services: &[crate::rules::rollout::Service],
    plan: &Plan,
    report: &Reporter,
    record: &mut Record,
) -> Result<(), Error> {
    if !config.after.update_scheduled_tasks {
        return Ok(());
    }
    let deployed = scheduled_dry_run(plan);
    let cluster_arn = after::cluster_arn(config, services);
    let moved =
        after::scheduled_tasks(config, credentials, &cluster_arn, &deployed, report, record).await;
    match moved.failure.and_then(|f| f.errors.into_iter().next()) {
        Some(err) => Err(Error::Aws {
            step: "Reading the scheduled tasks (UPDATE_SCHEDULED_TASKS)".into(),
            err: Box::new(err),
            changed: Changed::Nothing,
        }),
        None => Ok(()),
    }
}

/// What a dry run would move: each planned service's current revision to a placeholder for the
/// revision it would get (it has no number before it is registered).
pub fn scheduled_dry_run(plan: &Plan) -> Vec<Revisions> {
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
