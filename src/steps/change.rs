//! Apply: the changes in AWS, in order: register the new revisions, run the pre-deploy
//! command, update every service (or start its CodeDeploy deployment). Each change is
//! recorded as it is made, so a failure says exactly how far the deploy got.

use super::record;
use std::collections::HashMap;

use serde_json::Value;

use crate::aws::ecs::Ecs;
use crate::aws::logs::LogReaders;
use crate::config::Config;
use crate::error::Error;
use crate::report::Reporter;
use crate::rules::plan::{Plan, PreDeployPlan};
use crate::steps::apply::{self, Updated};
use crate::steps::blue_green::Deployer;
use crate::steps::diagnose;
use crate::steps::follow::short;
use crate::steps::outputs::Record;
use crate::steps::pre_deploy;

/// The changes in AWS: register the new revisions, run the pre-deploy command, update the
/// services. Returns the ARNs registered (in the order of `plan.revisions`) and the updates;
/// `sources` are the task definitions read.
pub async fn apply_all(
    ecs: &Ecs,
    logs: &LogReaders,
    config: &Config,
    (plan, code_deploy): (&Plan, &Deployer),
    sources: &HashMap<String, Value>,
    report: &Reporter,
    record: &mut Record,
) -> Result<(Vec<String>, Vec<Updated>), Error> {
    let registered = apply::register(ecs, config, plan, report).await?;
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
    record::started(&updated, record);
    Ok((registered, updated))
}

/// What the pre-deploy task is made of: the plan, the ARNs registered, and the task
/// definitions read.
pub struct PreDeploySources<'a> {
    plan: &'a Plan,
    registered: &'a [String],
    task_definitions: &'a HashMap<String, Value>,
}

/// `PRE_DEPLOY_COMMAND`, once, with the first service's new revision and network.
pub async fn run_pre_deploy(
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

/// Updates the ECS services, then starts the CodeDeploy deployments of the CODE_DEPLOY ones.
pub async fn update_all(
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
