//! `ACTION: rollback`, and `ROLLBACK_ON_FAILURE` for a service deployment in flight: stop a
//! deployment in progress with ECS's (or CodeDeploy's) own rollback, roll back one paused at
//! a hook, or deploy the revision the service ran before; then follow the rollback to its end.

use std::time::{Duration, Instant};

use super::{Ctx, aws_error, revision_of, settings, under_way, unfinished_code_deploy};
use crate::aws::codedeploy::CodeDeploy;
use crate::aws::ecs::{Ecs, Lookup};
use crate::config::Config;
use crate::error::{AwsError, Changed, Error};
use crate::report::Reporter;
use crate::rules::operate::{self as rules, RollbackState};
use crate::rules::rollout::{Service, ServiceDeployment, Tracked, revision_name};
use crate::steps::blue_green::{self, Following, Target};
use crate::steps::follow::{self, Outcome, Watch, short};
use crate::steps::outputs::Record;

/// `ACTION: rollback`: each service goes back to the revision it ran before; the line says
/// where each one is now.
pub(super) async fn rollback_all(
    ctx: &Ctx<'_>,
    services: &[Service],
    record: &mut Record,
) -> Result<String, Error> {
    let mut lines: Vec<String> = Vec::new();
    for (name, service) in ctx.config.target.services.iter().zip(services) {
        let rolled = if service.uses_code_deploy() {
            rollback_code_deploy(ctx, name, service).await
        } else {
            rollback_service(ctx, name, service, record).await
        };
        let line = match rolled {
            Ok(line) => line,
            Err(err) if lines.is_empty() => return Err(err),
            // Some services were rolled back already: say so, and exit 1.
            Err(err) => {
                let why = err.to_string();
                return Err(Error::Rollout {
                    verdict: format!(
                        "rolled back {}, but not {}: {}",
                        lines.join(", "),
                        short(name),
                        why.trim_end_matches("; nothing was changed in AWS")
                    ),
                    details: err.details(),
                    hints: err.hints(),
                });
            }
        };
        if let Some(r) = record.service_mut(name) {
            r.verdict = "rolled-back".into();
        }
        lines.push(line);
    }
    record.verdict = "rolled-back".into();
    Ok(format!("rolled back {}", lines.join(", ")))
}

/// One ECS service: a deployment under way is stopped with a rollback (or, paused at a hook,
/// continued with ROLLBACK); with nothing under way the previous revision is deployed again.
pub(super) async fn rollback_service(
    ctx: &Ctx<'_>,
    name: &str,
    service: &Service,
    record: &mut Record,
) -> Result<String, Error> {
    let deployments = under_way(ctx, name).await?;
    let Some(sd) = deployments.iter().find(|sd| rules::in_flight(sd)) else {
        if let Some(sd) = deployments.first() {
            // ECS is already rolling back (ROLLBACK_IN_PROGRESS): follow it.
            return follow_rollback(ctx, name, &sd.service_deployment_arn).await;
        }
        return redeploy_previous(ctx, name, service, record).await;
    };
    let arn = sd.service_deployment_arn.clone();
    let sent = match rules::pause_of(sd).and_then(|p| p.hook_id) {
        Some(hook) => {
            ctx.report.step(&format!(
                "Rolling back {}: its deployment waits at hook {hook}; continuing it with ROLLBACK",
                short(name)
            ));
            ctx.ecs
                .continue_service_deployment(&arn, &hook, "ROLLBACK")
                .await
        }
        None => {
            ctx.report.step(&format!(
                "Rolling back {}: stopping service deployment {arn} ({} at {}) with ROLLBACK",
                short(name),
                sd.status,
                sd.lifecycle_stage.as_deref().unwrap_or("-")
            ));
            ctx.ecs.stop_service_deployment(&arn, "ROLLBACK").await
        }
    };
    sent.map_err(|err| {
        let changed = if err.is_ambiguous() {
            Changed::Services(vec![name.to_string()])
        } else {
            Changed::Nothing
        };
        aws_error(format!("rolling back {name}"), err, changed)
    })?;
    if let Some(r) = record.service_mut(name) {
        r.service_deployment_arn = Some(arn.clone());
    }
    follow_rollback(ctx, name, &arn).await
}

/// Follows a service deployment being rolled back until ECS says how it ended, then reads
/// what the service runs: `web to web:41`, or the error of a failed rollback.
pub(super) async fn follow_rollback(ctx: &Ctx<'_>, name: &str, arn: &str) -> Result<String, Error> {
    let started = Instant::now();
    let deadline = started + ctx.config.wait.timeout;
    let mut last_line = String::new();
    let mut last_said = started;
    let state = loop {
        let sd = ctx.ecs.describe_service_deployment(arn).await;
        let sd = match sd {
            Ok(Some(sd)) => sd,
            Ok(None) => ServiceDeployment::default(),
            Err(err) if err.is_transient() => ServiceDeployment::default(),
            Err(err) => {
                return Err(aws_error(
                    format!("following the rollback of {name}"),
                    err,
                    Changed::Services(vec![name.into()]),
                ));
            }
        };
        if !sd.status.is_empty() {
            let line = crate::rules::rollout::service_deployment_line(&sd);
            if line != last_line {
                ctx.report.detail(&format!("service deployment {line}"));
                last_line = line;
                last_said = Instant::now();
            } else if last_said.elapsed() >= ctx.config.wait.heartbeat {
                ctx.report.detail(&format!(
                    "… still rolling back ({}): {last_line}",
                    follow::human(started.elapsed())
                ));
                last_said = Instant::now();
            }
            let state = rules::rollback_state(&sd);
            if state != RollbackState::Going {
                break state;
            }
        }
        if Instant::now() >= deadline {
            break RollbackState::Going;
        }
        tokio::time::sleep(ctx.config.wait.interval).await;
    };
    match state {
        RollbackState::Done => now_runs(ctx, name).await,
        RollbackState::Going => Err(Error::Rollout {
            verdict: format!(
                "the rollback of {} was still running at WAIT_TIMEOUT ({}); ECS goes on rolling back",
                short(name),
                if last_line.is_empty() { "not described yet" } else { last_line.as_str() }
            ),
            details: vec![format!("service deployment {arn}")],
            hints: vec!["raise WAIT_TIMEOUT, or look at the service's Deployments tab in the ECS console".into()],
        }),
        RollbackState::Failed(reason) => Err(Error::Rollout {
            verdict: format!(
                "the rollback of {} failed ({reason}); the service is in no known state",
                short(name)
            ),
            details: vec![format!("service deployment {arn}")],
            hints: vec!["look at the service's Deployments tab in the ECS console, and deploy a known revision".into()],
        }),
    }
}

/// `web to web:41`, once the service runs the previous revision and is stable (a few polls).
pub(super) async fn now_runs(ctx: &Ctx<'_>, name: &str) -> Result<String, Error> {
    for _ in 0..20 {
        let lookup = ctx
            .ecs
            .describe_service(&ctx.config.target.cluster, name)
            .await;
        if let Ok(Lookup::Found(service)) = lookup
            && service.running_count == service.desired_count
            && service.pending_count == 0
        {
            return Ok(format!(
                "{} to {}",
                short(name),
                revision_name(&service.task_definition)
            ));
        }
        tokio::time::sleep(ctx.config.wait.interval).await;
    }
    Err(Error::Rollout {
        verdict: format!(
            "ECS rolled {} back, but it did not become stable",
            short(name)
        ),
        details: Vec::new(),
        hints: vec!["look at the service's Deployments tab in the ECS console".into()],
    })
}

/// Nothing under way: the revision the service ran before its current one, deployed again
/// and followed as a deploy would be.
pub(super) async fn redeploy_previous(
    ctx: &Ctx<'_>,
    name: &str,
    service: &Service,
    record: &mut Record,
) -> Result<String, Error> {
    let read = |err| {
        aws_error(
            format!("reading the deployments of {name}"),
            err,
            Changed::Nothing,
        )
    };
    let newest = newest_deployment(ctx, name).await.map_err(read)?;
    let previous = rules::previous_revision(newest.as_ref()).map_err(|why| Error::Operate {
        verdict: format!("cannot roll back {}: nothing is in progress, and the revision it ran before is unknown: {why}", short(name)),
        details: Vec::new(),
        hints: vec!["deploy the revision you want with TASK_DEFINITION: 'family:revision'".into()],
    })?;
    let (previous_td, _) = revision_of(ctx, &previous).await.map_err(read)?;
    ctx.report.step(&format!(
        "Rolling back {} to {} (nothing is in progress; it ran that before {})",
        short(name),
        revision_name(&previous_td),
        revision_name(&service.task_definition)
    ));
    let updated = ctx
        .ecs
        .update_service(
            &ctx.config.target.cluster,
            name,
            Some(&previous_td),
            false,
            None,
        )
        .await
        .map_err(|err| {
            aws_error(
                format!("updating {name} to {}", revision_name(&previous_td)),
                err,
                Changed::Nothing,
            )
        })?;
    if let Some(r) = record.service_mut(name) {
        r.task_definition_arn = Some(previous_td.clone());
        r.previous_task_definition_arn = Some(service.task_definition.clone());
    }
    let mut watches = vec![Watch::new(
        name,
        Tracked {
            deployment_id: crate::steps::apply::our_deployment(&updated, &previous_td),
            task_definition: previous_td.clone(),
            previous_task_definition: service.task_definition.clone(),
        },
        updated.current_service_deployment.clone(),
        &updated.events,
        false,
    )];
    follow::follow(
        ctx.ecs,
        ctx.logs,
        &settings(ctx, false),
        &mut watches,
        ctx.report,
    )
    .await?;
    match watches.first().and_then(|w| w.outcome.as_ref()) {
        Some(Outcome::Succeeded { .. }) => Ok(format!(
            "{} to {}",
            short(name),
            revision_name(&previous_td)
        )),
        _ => Err(crate::steps::verdict::failure(&watches)),
    }
}

/// The newest of the service's deployments (any status), as ECS describes it.
pub(super) async fn newest_deployment(
    ctx: &Ctx<'_>,
    name: &str,
) -> Result<Option<ServiceDeployment>, AwsError> {
    let arns = ctx
        .ecs
        .list_service_deployments(&ctx.config.target.cluster, name, &[])
        .await?;
    let mut newest: Option<ServiceDeployment> = None;
    for arn in arns.iter().take(5) {
        if let Some(sd) = ctx.ecs.describe_service_deployment(arn).await?
            && newest.as_ref().is_none_or(|n| sd.created_at > n.created_at)
        {
            newest = Some(sd);
        }
    }
    Ok(newest)
}

/// A CODE_DEPLOY service: a deployment in progress is stopped with CodeDeploy's automatic
/// rollback; with none in progress, the revision of the group's newest succeeded deployment
/// before the current one is deployed again through CodeDeploy.
pub(super) async fn rollback_code_deploy(
    ctx: &Ctx<'_>,
    name: &str,
    service: &Service,
) -> Result<String, Error> {
    let Some((cd, target, deployments)) = unfinished_code_deploy(ctx, name).await? else {
        return Err(Error::Operate {
            verdict: format!(
                "cannot roll back {}: no CodeDeploy deployment group was found for it",
                short(name)
            ),
            details: Vec::new(),
            hints: vec![
                "set CODEDEPLOY_APPLICATION and CODEDEPLOY_DEPLOYMENT_GROUP to the group that deploys the service".into(),
            ],
        });
    };
    if let Some(info) = deployments
        .iter()
        .find(|info| crate::aws::codedeploy::IN_PROGRESS_STATUSES.contains(&info.status.as_str()))
    {
        return stop_code_deploy(ctx, cd, name, &info.deployment_id).await;
    }
    redeploy_code_deploy(ctx, cd, target, service).await
}

/// StopDeployment with automatic rollback, read until CodeDeploy settles: `web to web:41`.
pub(super) async fn stop_code_deploy(
    ctx: &Ctx<'_>,
    cd: &CodeDeploy,
    name: &str,
    id: &str,
) -> Result<String, Error> {
    let following = Following::new(
        id,
        &ctx.config.target.cluster,
        name,
        &ctx.config.target.region,
    );
    let lines = blue_green::stop_and_roll_back(
        cd,
        &following,
        ctx.config.wait.interval,
        ctx.config.wait.timeout,
        ctx.report,
    )
    .await;
    for line in &lines {
        ctx.report.detail(line);
    }
    let settled = cd
        .deployment(id)
        .await
        .map(|i| i.status)
        .unwrap_or_default();
    if settled != "Stopped" && settled != "Failed" {
        return Err(Error::Rollout {
            verdict: format!(
                "the rollback of {} through CodeDeploy did not finish: deployment {id} is {settled}",
                short(name)
            ),
            details: lines,
            hints: vec!["look at the deployment in the CodeDeploy console".into()],
        });
    }
    let now = match ctx
        .ecs
        .describe_service(&ctx.config.target.cluster, name)
        .await
    {
        Ok(Lookup::Found(s)) => revision_name(s.primary_revision()).to_string(),
        _ => "its original task set".into(),
    };
    Ok(format!("{} to {now}", short(name)))
}

/// Nothing in progress on a CODE_DEPLOY service: the task definition of the group's newest
/// succeeded deployment that is not the one running now, deployed again and followed.
pub(super) async fn redeploy_code_deploy(
    ctx: &Ctx<'_>,
    cd: &CodeDeploy,
    target: &Target,
    service: &Service,
) -> Result<String, Error> {
    let name = target.service.as_str();
    let read = |err| {
        aws_error(
            format!("reading the CodeDeploy deployments of {name}"),
            err,
            Changed::Nothing,
        )
    };
    let current = service.primary_revision().to_string();
    let deployed = succeeded_revisions(cd, &target.group).await.map_err(read)?;
    let Some(previous) = rules::previous_of(&current, &deployed) else {
        return Err(Error::Operate {
            verdict: format!(
                "cannot roll back {}: no CodeDeploy deployment is in progress, and none of the group's succeeded deployments names a revision other than {}",
                short(name),
                revision_name(&current)
            ),
            details: Vec::new(),
            hints: vec![
                "deploy the revision you want with TASK_DEFINITION: 'family:revision'".into(),
            ],
        });
    };
    ctx.report.step(&format!(
        "Rolling back {} to {} through CodeDeploy (nothing is in progress; it ran that before {})",
        short(name),
        revision_name(&previous),
        revision_name(&current)
    ));
    let (_, body) = blue_green::request(
        target,
        &previous,
        &ctx.config.code_deploy,
        crate::steps::apply::build_of(ctx.config),
    )?;
    let id = blue_green::create(cd, &body, ctx.report)
        .await
        .map_err(|err| {
            let changed = if err.is_ambiguous() {
                Changed::Services(vec![name.to_string()])
            } else {
                Changed::Nothing
            };
            aws_error(format!("starting the rollback of {name}"), err, changed)
        })?;
    ctx.report
        .detail(&format!("CodeDeploy deployment {id} started"));
    let watch = code_deploy_watch(ctx, name, service, &id, (&previous, &current));
    let mut watches = vec![watch];
    follow::follow(
        ctx.ecs,
        ctx.logs,
        &settings(ctx, false),
        &mut watches,
        ctx.report,
    )
    .await?;
    match watches.first().and_then(|w| w.outcome.as_ref()) {
        Some(Outcome::Succeeded { .. }) => {
            Ok(format!("{} to {}", short(name), revision_name(&previous)))
        }
        _ => Err(crate::steps::verdict::failure(&watches)),
    }
}

/// A watch on the CodeDeploy deployment `id` of `service` from `current` to `target`.
pub(super) fn code_deploy_watch(
    ctx: &Ctx<'_>,
    name: &str,
    service: &Service,
    id: &str,
    (target, current): (&str, &str),
) -> Watch {
    let mut watch = Watch::new(
        name,
        Tracked {
            deployment_id: id.to_string(),
            task_definition: target.to_string(),
            previous_task_definition: current.to_string(),
        },
        None,
        &service.events,
        false,
    );
    watch.code_deploy = Some(Following::new(
        id,
        &ctx.config.target.cluster,
        name,
        &ctx.config.target.region,
    ));
    watch
}

/// The task definitions of the group's newest succeeded deployments (at most 10), newest first.
pub(super) async fn succeeded_revisions(
    cd: &CodeDeploy,
    group: &crate::aws::codedeploy::Group,
) -> Result<Vec<String>, AwsError> {
    let ids = cd
        .succeeded_deployments(&group.application_name, &group.deployment_group_name)
        .await?;
    let mut deployed = Vec::new();
    for id in ids.iter().take(10) {
        let info = cd.deployment(id).await?;
        deployed.extend(
            info.revision
                .as_ref()
                .and_then(rules::appspec_task_definition),
        );
    }
    Ok(deployed)
}

/// `ROLLBACK_ON_FAILURE` for a service deployment still in flight: StopServiceDeployment with
/// ROLLBACK, followed to its end. `None` when `service` has no service deployment in flight
/// (the caller then updates the service back).
pub async fn stop_with_rollback(
    ecs: &Ecs,
    config: &Config,
    service: &Service,
    report: &Reporter,
) -> Option<String> {
    let arn = service.current_service_deployment.as_deref()?;
    let sd = ecs.describe_service_deployment(arn).await.ok().flatten()?;
    if !rules::in_flight(&sd) {
        return None;
    }
    let name = short(&service.service_name);
    report.step(&format!(
        "Stopping service deployment {arn} of {name} with ROLLBACK (ROLLBACK_ON_FAILURE)"
    ));
    if let Err(err) = ecs.stop_service_deployment(arn, "ROLLBACK").await {
        return Some(format!(
            "ROLLBACK_ON_FAILURE: could not stop service deployment {arn}: {err}"
        ));
    }
    let deadline = Instant::now() + config.wait.timeout.min(Duration::from_secs(900));
    loop {
        if let Ok(Some(sd)) = ecs.describe_service_deployment(arn).await {
            match rules::rollback_state(&sd) {
                RollbackState::Done => {
                    return Some(format!(
                        "rolled back: ECS put {name} back on its previous revision (ROLLBACK_SUCCESSFUL)"
                    ));
                }
                RollbackState::Failed(reason) => {
                    return Some(format!(
                        "the rollback of {name} failed ({reason}); the service is in no known state"
                    ));
                }
                RollbackState::Going => {}
            }
        }
        if Instant::now() >= deadline {
            return Some(format!(
                "ROLLBACK_ON_FAILURE: stopped service deployment {arn} with ROLLBACK; it was still rolling back when the pipe stopped looking"
            ));
        }
        tokio::time::sleep(config.wait.interval).await;
    }
}
