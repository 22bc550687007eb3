//! Carries out a [`Plan`]: registers its revisions, then updates its services. Each step
//! reports how far it got, so a failure says exactly what had changed.

use futures_util::StreamExt;

use crate::blue_green::{self, Target};
use crate::codedeploy::{CodeDeploy, Group};
use crate::codedeploy_verdict::console_link as codedeploy_link;
use crate::config::{AUDIT_TAG_PREFIX, Config};
use crate::ecs::Ecs;
use crate::error::{Changed, Error};
use crate::plan::{Plan, ServicePlan, Source};
use crate::report::Reporter;
use crate::rollout::{Service, revision_name};
use crate::task_def;

/// How many UpdateService calls may be in flight at once: enough to start 50 services in a
/// few seconds, few enough not to drain the account's ECS request bucket that other
/// pipelines share (the SDK's retries absorb the occasional throttle).
pub const UPDATE_CONCURRENCY: usize = 5;

/// A service this run updated.
#[derive(Debug, Clone)]
pub struct Updated {
    /// The service, as configured.
    pub name: String,
    /// The service as UpdateService returned it.
    pub service: Service,
    /// The revision it now deploys.
    pub target: String,
    /// The revision it ran before.
    pub previous: String,
    /// The deployment UpdateService started (`ecs-svc/…`), or CodeDeploy's (`d-…`).
    pub deployment_id: String,
    /// The deployment group, when CodeDeploy deploys the service.
    pub code_deploy: Option<Group>,
}

/// Registers every revision of the plan, in order; returns their ARNs by plan index.
pub async fn register(ecs: &Ecs, plan: &Plan, report: &Reporter) -> Result<Vec<String>, Error> {
    let several = plan.services.len() > 1;
    let mut registered: Vec<String> = Vec::new();
    for revision in &plan.revisions {
        let td = &revision.task_definition;
        let request = td.register_request();
        if several {
            report.step(&format!(
                "Registering a new revision of {} (for {})",
                td.family(),
                revision.services.join(", ")
            ));
        } else {
            report.step(&format!("Registering a new revision of {}", td.family()));
        }
        let arn = ecs
            .register_task_definition(&request)
            .await
            .map_err(|err| Error::Aws {
                step: format!("registering a new revision of {}", td.family()),
                err: err.into(),
                changed: if registered.is_empty() {
                    Changed::Nothing
                } else {
                    Changed::Registered {
                        revisions: registered.clone(),
                        several_services: several,
                    }
                },
            })?;
        let changes = match &revision.source {
            Source::File(path) => format!("from {path}"),
            Source::Revision(_) => {
                let paths: Vec<String> = task_def::changed_paths(&revision.before, &request)
                    .into_iter()
                    .filter(|p| !p.starts_with("tags"))
                    .collect();
                if paths.is_empty() {
                    "no field changed".to_string()
                } else {
                    format!("changed: {}", paths.join(", "))
                }
            }
        };
        let mut was: Vec<&str> = Vec::new();
        for service in plan.services.iter().filter(|s| {
            s.revision
                .is_some_and(|i| plan.revisions.get(i) == Some(revision))
        }) {
            let name = revision_name(&service.current);
            if !was.contains(&name) {
                was.push(name);
            }
        }
        report.detail(&format!(
            "registered {} (was {}); {changes}",
            revision_name(&arn),
            was.join(", ")
        ));
        report.detail(&format!(
            "{} tag(s), audit tags under {AUDIT_TAG_PREFIX}",
            td.tags.len()
        ));
        registered.push(arn);
    }
    Ok(registered)
}

/// Updates every service of the plan to its new revision (or restarts it), at most
/// [`UPDATE_CONCURRENCY`] at a time. One UpdateService call per service carries every
/// change, so ECS starts exactly one deployment each. Stops starting updates at the first
/// failure; the error names the services that were already updated.
pub async fn update(
    ecs: &Ecs,
    config: &Config,
    plan: &Plan,
    registered: &[String],
    report: &Reporter,
) -> Result<Vec<Updated>, Error> {
    let several = plan.services.len() > 1;
    let target_of = |s: &ServicePlan| target_of(s, registered);
    let ecs_services: Vec<&ServicePlan> = plan.services.iter().filter(|s| !s.code_deploy).collect();
    if ecs_services.is_empty() {
        return Ok(Vec::new());
    }
    if let [only] = ecs_services.as_slice() {
        report.step(&format!(
            "Updating service {} to {}",
            only.name,
            revision_name(&target_of(only))
        ));
    } else {
        report.step(&format!("Updating {} services", ecs_services.len()));
    }
    if config.change.force_new_deployment {
        report.detail("forcing a new deployment (FORCE_NEW_DEPLOYMENT)");
    }
    if let Some(n) = config.change.desired_count {
        for s in &ecs_services {
            if several {
                report.detail(&format!(
                    "{}: desired count {} → {n}",
                    s.name, s.desired_count
                ));
            } else {
                report.detail(&format!("desired count {} → {n}", s.desired_count));
            }
        }
    }
    let mut calls = futures_util::stream::iter(ecs_services.iter().map(|s| {
        let target = target_of(s);
        let new_revision = s.revision.is_some().then(|| target.clone());
        async move {
            let result = ecs
                .update_service(
                    &config.target.cluster,
                    &s.name,
                    new_revision.as_deref(),
                    config.change.force_new_deployment,
                    config.change.desired_count,
                )
                .await;
            (s, target, result)
        }
    }))
    .buffered(UPDATE_CONCURRENCY);
    let mut updated: Vec<Updated> = Vec::new();
    while let Some((s, target, result)) = calls.next().await {
        let service = match result {
            Ok(service) => service,
            Err(err) => {
                drop(calls);
                return Err(update_failed(plan, registered, &updated, s, err));
            }
        };
        let deployment_id = our_deployment(&service, &target);
        if several {
            report.detail(&format!(
                "{} → {}: deployment {deployment_id} started",
                s.name,
                revision_name(&target)
            ));
        } else {
            report.detail(&format!("deployment {deployment_id} started"));
            report.detail(&console_link(
                &config.target.region,
                &config.target.cluster,
                &s.name,
            ));
        }
        updated.push(Updated {
            name: s.name.clone(),
            service,
            target,
            previous: s.current.clone(),
            deployment_id,
            code_deploy: None,
        });
    }
    Ok(updated)
}

/// (repository, commit, build number): what a CodeDeploy deployment's description names.
pub fn build_of(config: &Config) -> (Option<&str>, Option<&str>, Option<&str>) {
    let ctx = &config.context;
    (
        ctx.repo_full_name.as_deref(),
        ctx.commit.as_deref(),
        ctx.build_number.as_deref(),
    )
}

/// The revision a service moves to: its new revision, or the current one (a restart).
fn target_of(s: &ServicePlan, registered: &[String]) -> String {
    s.revision
        .and_then(|i| registered.get(i).cloned())
        .unwrap_or_else(|| s.current.clone())
}

/// Starts a CodeDeploy deployment of every CODE_DEPLOY service of the plan (after
/// `DESIRED_COUNT` through an UpdateService without a task definition, which ECS allows).
/// `already` are the services updated before, for the error's account of what changed.
#[allow(clippy::too_many_arguments)]
pub async fn start_code_deploys(
    ecs: &Ecs,
    cd: Option<&CodeDeploy>,
    config: &Config,
    plan: &Plan,
    registered: &[String],
    targets: &[Target],
    already: &[Updated],
    report: &Reporter,
) -> Result<Vec<Updated>, Error> {
    let several = plan.services.len() > 1;
    let mut started: Vec<Updated> = Vec::new();
    for s in plan.services.iter().filter(|s| s.code_deploy) {
        let (Some(cd), Some(target)) = (cd, targets.iter().find(|t| t.service == s.name)) else {
            continue;
        };
        let revision = target_of(s, registered);
        report.step(&format!(
            "Deploying {} to service {} through CodeDeploy ({})",
            revision_name(&revision),
            s.name,
            target.group.label()
        ));
        let fail = |started: &[Updated], err: crate::error::AwsError| {
            let mut done: Vec<Updated> = already.to_vec();
            done.extend(started.iter().cloned());
            update_failed(plan, registered, &done, s, err)
        };
        let mut live = target.live.clone();
        if let Some(n) = config.change.desired_count {
            report.detail(&format!("desired count {} → {n}", s.desired_count));
            live = ecs
                .update_service(&config.target.cluster, &s.name, None, false, Some(n))
                .await
                .map_err(|err| fail(&started, err))?;
        }
        let (_, body) =
            blue_green::request(target, &revision, &config.code_deploy, build_of(config))?;
        let id = blue_green::create(cd, &body, report).await.map_err(|err| {
            let step = format!("starting the CodeDeploy deployment of {}", s.name);
            match (fail(&started, err), config.change.desired_count) {
                // The desired count did change, so this service counts as updated.
                (Error::Aws { err, changed, .. }, Some(n)) => {
                    let mut services = match changed {
                        Changed::Services(services) => services,
                        _ => Vec::new(),
                    };
                    services.push(format!(
                        "{} (desired count {n}, no CodeDeploy deployment)",
                        s.name
                    ));
                    Error::Aws {
                        step,
                        err,
                        changed: Changed::Services(services),
                    }
                }
                (Error::Aws { err, changed, .. }, None) => Error::Aws { step, err, changed },
                (other, _) => other,
            }
        })?;
        if several {
            report.detail(&format!(
                "{} → {}: CodeDeploy deployment {id} started",
                s.name,
                revision_name(&revision)
            ));
        } else {
            report.detail(&format!("CodeDeploy deployment {id} started"));
        }
        report.detail(&codedeploy_link(&config.target.region, &id));
        started.push(Updated {
            name: s.name.clone(),
            service: live,
            target: revision,
            previous: s.current.clone(),
            deployment_id: id,
            code_deploy: Some(target.group.clone()),
        });
    }
    Ok(started)
}

fn update_failed(
    plan: &Plan,
    registered: &[String],
    updated: &[Updated],
    failed: &ServicePlan,
    err: crate::error::AwsError,
) -> Error {
    let changed = if updated.is_empty() {
        if registered.is_empty() {
            Changed::Nothing
        } else {
            Changed::Registered {
                revisions: registered.to_vec(),
                several_services: plan.services.len() > 1,
            }
        }
    } else {
        Changed::Services(
            updated
                .iter()
                .map(|u| {
                    format!(
                        "{} (now deploying {}, {})",
                        u.name,
                        revision_name(&u.target),
                        u.deployment_id
                    )
                })
                .collect(),
        )
    };
    Error::Aws {
        step: format!("updating service {}", failed.name),
        err: err.into(),
        changed,
    }
}

/// The deployment UpdateService started: the PRIMARY one running `target`.
pub fn our_deployment(service: &Service, target: &str) -> String {
    service
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY" && d.task_definition == target)
        .or_else(|| service.deployments.iter().find(|d| d.status == "PRIMARY"))
        .map(|d| d.id.clone())
        .unwrap_or_default()
}

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
