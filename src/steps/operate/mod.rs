//! Operating a deployment from a Bitbucket step: `WAIT_UNTIL: paused` ends a deploy at a
//! pause for approval, `ACTION: continue` resumes this commit's paused deployment and follows
//! it as a deploy would, `ACTION: rollback` puts each service back on its previous revision.
//!
//! The decisions (which deployment waits, whose it is, what to go back to, how a rollback
//! ended) are in [`crate::rules::operate`]; this module and its three (resume, roll back, digest) read, act and report.

mod digest;
mod resume;
mod roll_back;

use std::collections::HashMap;

use crate::aws;
use crate::aws::codedeploy::CodeDeploy;
use crate::aws::ecs::Ecs;
use crate::aws::logs::LogReaders;
use crate::config::{Action, Config};
use crate::error::{AwsError, Changed, Error};
use crate::model::codedeploy::DeploymentInfo;
use crate::report::Reporter;
use crate::rules::operate::{self as rules};
use crate::rules::rollout::{Service, ServiceDeployment};
use crate::steps::blue_green::{self, Target};
use crate::steps::follow::{self, Outcome, Watch, short};
use crate::steps::outputs::Record;
use crate::steps::read;

pub use digest::{check_digests, name_digest};
pub use roll_back::stop_with_rollback;

/// Statuses of a service deployment that is under way.
const UNDER_WAY: &[&str] = &[
    "PENDING",
    "IN_PROGRESS",
    "STOP_REQUESTED",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
];

/// `ACTION: continue` or `rollback`, for every service of the step.
pub async fn operate(
    ecs: &Ecs,
    logs: &LogReaders,
    config: &Config,
    credentials: crate::aws::Credentials,
    report: &Reporter,
    record: &mut Record,
) -> Result<String, Error> {
    let services = read::services(ecs, config, report).await?;
    let cd = services.iter().any(Service::uses_code_deploy).then(|| {
        CodeDeploy::new(aws::codedeploy_client(
            &config.target.region,
            config.credentials.endpoints.codedeploy.as_deref(),
            credentials.clone(),
        ))
    });
    let targets = match &cd {
        Some(cd) => code_deploy_targets(cd, config, &services, report).await?,
        None => Vec::new(),
    };
    let ctx = Ctx {
        ecs,
        logs,
        config,
        cd: cd.as_ref(),
        targets: &targets,
        credentials: &credentials,
        report,
    };
    match config.operate.action {
        Action::Continue => resume::continue_all(&ctx, &services, record).await,
        Action::Rollback | Action::Deploy => roll_back::rollback_all(&ctx, &services, record).await,
    }
}

/// What every operation needs.
struct Ctx<'a> {
    ecs: &'a Ecs,
    logs: &'a LogReaders,
    config: &'a Config,
    cd: Option<&'a CodeDeploy>,
    targets: &'a [Target],
    credentials: &'a crate::aws::Credentials,
    report: &'a Reporter,
}

async fn code_deploy_targets(
    cd: &CodeDeploy,
    config: &Config,
    services: &[Service],
    report: &Reporter,
) -> Result<Vec<Target>, Error> {
    let named: Vec<(&str, &Service)> = config
        .target
        .services
        .iter()
        .map(String::as_str)
        .zip(services)
        .collect();
    blue_green::find_groups(
        cd,
        &config.target.cluster,
        &named,
        &config.code_deploy,
        report,
    )
    .await
}

fn aws_error(step: String, err: AwsError, changed: Changed) -> Error {
    Error::Aws {
        step,
        err: Box::new(err),
        changed,
    }
}

/// `WAIT_UNTIL: paused`: when every followed deployment completed or waits for a person and
/// at least one waits, records the pauses and returns the last line; `None` otherwise.
pub fn paused(watches: &[Watch], record: &mut Record) -> Option<String> {
    let mut paused = Vec::new();
    let mut done = Vec::new();
    for watch in watches {
        match &watch.outcome {
            Some(Outcome::Paused(pause)) => {
                paused.push((
                    short(&watch.name).to_string(),
                    watch.tracked.task_definition.clone(),
                    pause.clone(),
                ));
            }
            Some(Outcome::Succeeded { .. }) => done.push(short(&watch.name).to_string()),
            _ => return None,
        }
    }
    if paused.is_empty() {
        return None;
    }
    for watch in watches {
        let Some(service) = record.service_mut(&watch.name) else {
            continue;
        };
        if let Some(Outcome::Paused(pause)) = &watch.outcome {
            service.verdict = "paused".into();
            service.hook_id.clone_from(&pause.hook_id);
            if pause.service_deployment_arn.is_some() {
                service
                    .service_deployment_arn
                    .clone_from(&pause.service_deployment_arn);
            }
            if let Some(id) = &pause.code_deploy_id {
                service.deployment_id = Some(id.clone());
            }
        }
    }
    record.verdict = "paused".into();
    let line = rules::paused_line(&paused, &done);
    record.message.clone_from(&line);
    Some(line)
}

fn settings(ctx: &Ctx<'_>, stop_at_pause: bool) -> follow::Settings {
    follow::Settings {
        cluster: ctx.config.target.cluster.clone(),
        timeout: ctx.config.wait.timeout,
        interval: ctx.config.wait.interval,
        heartbeat: ctx.config.wait.heartbeat,
        log_lines: ctx.config.wait.log_lines,
        task_definitions: HashMap::new(),
        codedeploy: ctx.cd.cloned(),
        stop_at_pause,
    }
}

/// The service deployments of `name` under way, described, newest first.
async fn under_way(ctx: &Ctx<'_>, name: &str) -> Result<Vec<ServiceDeployment>, Error> {
    let read = |err| {
        aws_error(
            format!("reading the deployments of {name}"),
            err,
            Changed::Nothing,
        )
    };
    let arns = ctx
        .ecs
        .list_service_deployments(&ctx.config.target.cluster, name, UNDER_WAY)
        .await
        .map_err(read)?;
    let mut found = Vec::new();
    for arn in arns.iter().take(5) {
        if let Some(sd) = ctx
            .ecs
            .describe_service_deployment(arn)
            .await
            .map_err(read)?
        {
            found.push(sd);
        }
    }
    found.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
    Ok(found)
}

/// The task definition a service revision runs, and its tags.
async fn revision_of(
    ctx: &Ctx<'_>,
    service_revision: &str,
) -> Result<(String, serde_json::Value), AwsError> {
    let Some(revision) = ctx.ecs.describe_service_revision(service_revision).await? else {
        return Err(AwsError::plain(
            "ecs:DescribeServiceRevisions",
            format!("ECS does not know service revision {service_revision}"),
        ));
    };
    let td = ctx
        .ecs
        .describe_task_definition(&revision.task_definition)
        .await?;
    let tags = td.get("tags").cloned().unwrap_or(serde_json::Value::Null);
    Ok((revision.task_definition, tags))
}

/// A CODE_DEPLOY service's CodeDeploy client and group, and every deployment CodeDeploy lists
/// as unfinished for that group, each read whole (the list can lag behind a status change).
/// `None` when no group was found for the service.
async fn unfinished_code_deploy<'a>(
    ctx: &Ctx<'a>,
    name: &str,
) -> Result<Option<(&'a CodeDeploy, &'a Target, Vec<DeploymentInfo>)>, Error> {
    let (Some(cd), Some(target)) = (ctx.cd, ctx.targets.iter().find(|t| t.service == name)) else {
        return Ok(None);
    };
    let read = |err| {
        aws_error(
            format!("reading the CodeDeploy deployments of {name}"),
            err,
            Changed::Nothing,
        )
    };
    let group = &target.group;
    let ids = cd
        .unfinished_deployments(&group.application_name, &group.deployment_group_name)
        .await
        .map_err(read)?;
    let mut deployments = Vec::new();
    for id in ids {
        let mut info = cd.deployment(&id).await.map_err(read)?;
        info.deployment_id = id;
        deployments.push(info);
    }
    Ok(Some((cd, target, deployments)))
}
