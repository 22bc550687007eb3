//! Reads everything a deploy depends on before anything changes: the services
//! ([`DESCRIBE_SERVICES_MAX`] per DescribeServices call, the calls in parallel) and the task
//! definitions they run (once per distinct revision, in parallel). A service that is missing,
//! being deleted or driven by an external deployment controller stops the deploy here, with
//! nothing changed. A CODE_DEPLOY service is deployable: `blue_green.rs` drives CodeDeploy.

use std::collections::HashMap;

use futures_util::future::join_all;
use serde_json::Value;

use crate::aws;
use crate::aws::codedeploy::CodeDeploy;
use crate::aws::ecs::{DESCRIBE_SERVICES_MAX, Ecs, Lookup};
use crate::config::Config;
use crate::error::{Changed, Error};
use crate::report::Reporter;
use crate::rules::plan;
use crate::rules::rollout::{Service, revision_name};
use crate::steps::blue_green::{self, Deployer};

/// The live services, in the configured order, each checked to be deployable.
pub async fn services(
    ecs: &Ecs,
    config: &Config,
    report: &Reporter,
) -> Result<Vec<Service>, Error> {
    match config.target.services.as_slice() {
        [only] => report.step(&format!(
            "Reading service {only} in cluster {} ({})",
            config.target.cluster, config.target.region
        )),
        many => report.step(&format!(
            "Reading {} services in cluster {} ({})",
            many.len(),
            config.target.cluster,
            config.target.region
        )),
    }
    let calls = config
        .target
        .services
        .chunks(DESCRIBE_SERVICES_MAX)
        .map(|chunk| ecs.describe_services(&config.target.cluster, chunk));
    let mut lookups = Vec::with_capacity(config.target.services.len());
    for (answer, chunk) in join_all(calls)
        .await
        .into_iter()
        .zip(config.target.services.chunks(DESCRIBE_SERVICES_MAX))
    {
        lookups.extend(answer.map_err(|err| Error::Aws {
            step: format!("reading service {}", chunk.join(", ")),
            err: err.into(),
            changed: Changed::Nothing,
        })?);
    }
    let several = config.target.services.len() > 1;
    let mut services = Vec::with_capacity(lookups.len());
    for (name, lookup) in config.target.services.iter().zip(lookups) {
        let service = deployable(config, name, lookup)?;
        let runs = format!(
            "runs {}: {}/{} tasks running{}",
            revision_name(service.primary_revision()),
            service.running_count,
            service.desired_count,
            if service.uses_code_deploy() {
                " (deployed by CodeDeploy)"
            } else {
                ""
            }
        );
        if several {
            report.detail(&format!("{name} {runs}"));
        } else {
            report.detail(&runs);
        }
        services.push(service);
    }
    Ok(services)
}

fn deployable(config: &Config, name: &str, lookup: Lookup) -> Result<Service, Error> {
    let service = match lookup {
        Lookup::Found(service) => *service,
        Lookup::Missing => {
            return Err(Error::ServiceNotFound {
                cluster: config.target.cluster.clone(),
                service: name.to_string(),
                region: config.target.region.clone(),
            });
        }
        Lookup::NoCluster => {
            return Err(Error::ClusterNotFound {
                cluster: config.target.cluster.clone(),
                region: config.target.region.clone(),
            });
        }
    };
    if service.status != "ACTIVE" && !service.status.is_empty() {
        return Err(Error::ServiceNotActive {
            service: name.to_string(),
            status: service.status,
        });
    }
    if let Some(controller) = &service.deployment_controller
        && controller.kind == "EXTERNAL"
    {
        return Err(Error::UnsupportedController {
            service: name.to_string(),
            controller: controller.kind.clone(),
        });
    }
    Ok(service)
}

/// DescribeTaskDefinition (with tags) of each revision, once per distinct ARN.
pub async fn task_definitions(
    ecs: &Ecs,
    arns: &[String],
    report: &Reporter,
) -> Result<HashMap<String, Value>, Error> {
    let mut distinct: Vec<&String> = Vec::new();
    for arn in arns {
        if !distinct.contains(&arn) {
            distinct.push(arn);
        }
    }
    let names: Vec<&str> = distinct.iter().map(|a| revision_name(a)).collect();
    match names.as_slice() {
        [] => return Ok(HashMap::new()),
        [one] => report.step(&format!("Reading task definition {one}")),
        many => report.step(&format!("Reading task definitions {}", many.join(", "))),
    }
    let answers = join_all(distinct.iter().map(|arn| ecs.describe_task_definition(arn))).await;
    let mut found = HashMap::new();
    for (arn, answer) in distinct.into_iter().zip(answers) {
        let json = answer.map_err(|err| Error::Aws {
            step: format!("reading task definition {}", revision_name(arn)),
            err: err.into(),
            changed: Changed::Nothing,
        })?;
        found.insert(arn.clone(), json);
    }
    Ok(found)
}

/// The services, and the task definitions they run (unless a file replaces them, or only a
/// restart was asked for).
pub async fn everything(
    ecs: &Ecs,
    config: &Config,
    report: &Reporter,
) -> Result<(Vec<crate::rules::rollout::Service>, HashMap<String, Value>), Error> {
    let services = services(ecs, config, report).await?;
    if let Some(promote) = &config.change.promote {
        let mut sources = task_definitions(ecs, std::slice::from_ref(promote), report).await?;
        if plan::images_to_set(config).is_empty() && config.change.overrides.is_empty() {
            report.detail("deployed as it is, with no new registration (TASK_DEFINITION names a registered revision)");
        } else if config.pre_deploy.is_some() {
            let arns: Vec<String> = services.iter().map(|s| s.task_definition.clone()).collect();
            sources.extend(task_definitions(ecs, &arns, report).await?);
        }
        return Ok((services, sources));
    }
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
        task_definitions(ecs, &arns, report).await?
    } else {
        HashMap::new()
    };
    Ok((services, sources))
}

/// The CodeDeploy client and the deployment group of every CODE_DEPLOY service, found
/// before anything changes; with no such service, neither. Also checks that each one's
/// AppSpec can be made, so a service without a load balancer is refused here.
pub async fn code_deploy_targets(
    config: &Config,
    services: &[crate::rules::rollout::Service],
    credentials: aws::Credentials,
    report: &Reporter,
) -> Result<Deployer, Error> {
    if !services
        .iter()
        .any(crate::rules::rollout::Service::uses_code_deploy)
    {
        if config.code_deploy != crate::config::code_deploy::Options::default() {
            report.warn("the CODEDEPLOY_* variables are set, but no service uses the CODE_DEPLOY deployment controller; they are ignored");
        }
        return Ok(Deployer::default());
    }
    let cd = CodeDeploy::new(aws::codedeploy_client(
        &config.target.region,
        config.credentials.endpoints.codedeploy.as_deref(),
        credentials,
    ));
    let named: Vec<(&str, &crate::rules::rollout::Service)> = config
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
