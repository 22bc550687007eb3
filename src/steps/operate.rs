//! Operating a deployment from a Bitbucket step: `WAIT_UNTIL: paused` ends a deploy at a
//! pause for approval, `ACTION: continue` resumes this commit's paused deployment and follows
//! it as a deploy would, `ACTION: rollback` puts each service back on its previous revision.
//!
//! The decisions (which deployment waits, whose it is, what to go back to, how a rollback
//! ended) are in `operate_rules.rs`; this module reads, acts and reports.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::aws;
use crate::aws::codedeploy::CodeDeploy;
use crate::aws::ecs::{Ecs, Lookup};
use crate::aws::logs::LogReaders;
use crate::config::{Action, Config, WaitUntil};
use crate::error::{AwsError, Changed, Error};
use crate::report::Reporter;
use crate::rules::operate::{self as rules, Owner, Pause, RollbackState};
use crate::rules::rollout::{Service, ServiceDeployment, Tracked, revision_name};
use crate::steps::blue_green::{self, Following, Target};
use crate::steps::follow::{self, Outcome, Watch, short};
use crate::steps::outputs::Record;
use crate::steps::read;

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
            credentials,
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
        report,
    };
    match config.operate.action {
        Action::Continue => continue_all(&ctx, &services, record).await,
        Action::Rollback | Action::Deploy => rollback_all(&ctx, &services, record).await,
    }
}

/// What every operation needs.
struct Ctx<'a> {
    ecs: &'a Ecs,
    logs: &'a LogReaders,
    config: &'a Config,
    cd: Option<&'a CodeDeploy>,
    targets: &'a [Target],
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

/// One service's paused deployment, found and checked, ready to continue.
struct Found {
    name: String,
    /// The watch that follows it once continued.
    watch: Watch,
    /// ECS: (service deployment ARN, hook id); CodeDeploy: `None`.
    hook: Option<(String, String)>,
    pause: Pause,
}

/// `ACTION: continue`: finds each service's paused deployment, refuses all of them unless
/// each is this commit's, then continues them and follows them as a deploy would.
async fn continue_all(
    ctx: &Ctx<'_>,
    services: &[Service],
    record: &mut Record,
) -> Result<String, Error> {
    let started = Instant::now();
    let several = services.len() > 1;
    let mut found = Vec::new();
    for (name, service) in ctx.config.target.services.iter().zip(services) {
        let paused = if service.uses_code_deploy() {
            find_ready(ctx, name, service, several).await?
        } else {
            find_paused(ctx, name, service, several).await?
        };
        found.push(paused);
    }
    let mut watches = Vec::new();
    for f in found {
        ctx.report.step(&format!(
            "Continuing {} of {} {}",
            revision_name(&f.watch.tracked.task_definition),
            short(&f.name),
            rules::pause_words(&f.pause)
        ));
        let sent = match (&f.hook, ctx.cd, &f.pause.code_deploy_id) {
            (Some((arn, hook)), _, _) => {
                ctx.ecs
                    .continue_service_deployment(arn, hook, "CONTINUE")
                    .await
            }
            (None, Some(cd), Some(id)) => cd.continue_ready(id).await,
            _ => Err(AwsError::plain(
                "codedeploy:ContinueDeployment",
                "no CodeDeploy client",
            )),
        };
        if let Err(err) = sent {
            let mut changed = changed_so_far(&watches);
            if err.is_ambiguous() {
                let mut names: Vec<String> = watches.iter().map(|w| w.name.clone()).collect();
                names.push(f.name.clone());
                changed = Changed::Services(names);
            }
            return Err(aws_error(
                format!("continuing the deployment of {}", f.name),
                err,
                changed,
            ));
        }
        let mut watch = f.watch;
        watch.continued = f
            .hook
            .as_ref()
            .map(|(_, hook)| hook.clone())
            .or_else(|| f.pause.code_deploy_id.clone());
        if let Some(service) = record.service_mut(&f.name) {
            service.task_definition_arn = Some(watch.tracked.task_definition.clone());
            service.previous_task_definition_arn =
                Some(watch.tracked.previous_task_definition.clone());
            service.deployment_id = Some(watch.tracked.deployment_id.clone());
            service.service_deployment_arn = f.hook.as_ref().map(|(arn, _)| arn.clone());
            service.verdict = "continued".into();
        }
        watches.push(watch);
    }
    follow_continued(ctx, &mut watches, record, started).await
}

fn changed_so_far(watches: &[Watch]) -> Changed {
    if watches.is_empty() {
        Changed::Nothing
    } else {
        Changed::Services(watches.iter().map(|w| w.name.clone()).collect())
    }
}

/// Follows the continued deployments to their verdict (or, with `WAIT_UNTIL: paused`, to the
/// next pause).
async fn follow_continued(
    ctx: &Ctx<'_>,
    watches: &mut [Watch],
    record: &mut Record,
    started: Instant,
) -> Result<String, Error> {
    if !ctx.config.wait.enabled {
        return Ok(format!(
            "Continued {}; not waiting (WAIT is false)",
            watches
                .iter()
                .map(|w| short(&w.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let settings = settings(ctx, ctx.config.operate.wait_until == WaitUntil::Paused);
    ctx.report.step(&format!(
        "Waiting for the deployment{} (timeout {}, polling every {})",
        if watches.len() > 1 { "s" } else { "" },
        follow::human(ctx.config.wait.timeout),
        follow::human(ctx.config.wait.interval)
    ));
    follow::follow(ctx.ecs, ctx.logs, &settings, watches, ctx.report).await?;
    crate::steps::record::outcomes(watches, record);
    if let Some(line) = paused(watches, record) {
        return Ok(line);
    }
    if !watches
        .iter()
        .all(|w| matches!(w.outcome, Some(Outcome::Succeeded { .. })))
    {
        return Err(crate::steps::verdict::failure(watches));
    }
    let cluster = short(&ctx.config.target.cluster);
    Ok(format!(
        "Continued and deployed {} in cluster {cluster} ({} in all)",
        watches
            .iter()
            .map(|w| format!(
                "{} to service {}",
                revision_name(&w.tracked.task_definition),
                short(&w.name)
            ))
            .collect::<Vec<_>>()
            .join(", "),
        follow::human(started.elapsed())
    ))
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

/// An ECS-native service's deployment that waits at a PAUSE hook, checked to be this commit's.
async fn find_paused(
    ctx: &Ctx<'_>,
    name: &str,
    service: &Service,
    several: bool,
) -> Result<Found, Error> {
    let deployments = under_way(ctx, name).await?;
    let Some((sd, pause)) = deployments
        .iter()
        .find_map(|sd| rules::pause_of(sd).map(|p| (sd.clone(), p)))
    else {
        return Err(nothing_to_continue(name, &rules::doing(&deployments)));
    };
    let target = sd
        .target_service_revision
        .as_ref()
        .map(|t| t.arn.clone())
        .unwrap_or_default();
    let read = |err| {
        aws_error(
            format!("reading the paused deployment of {name}"),
            err,
            Changed::Nothing,
        )
    };
    let (task_definition, tags) = revision_of(ctx, &target).await.map_err(read)?;
    check_owner(ctx, name, &task_definition, &pause, &tags)?;
    let previous = match sd.source_service_revisions.first() {
        Some(source) => revision_of(ctx, &source.arn).await.map_err(read)?.0,
        None => service.task_definition.clone(),
    };
    let deployment_id = service
        .deployments
        .iter()
        .find(|d| d.task_definition == task_definition)
        .map_or_else(|| sd.service_deployment_arn.clone(), |d| d.id.clone());
    let mut watch = Watch::new(
        name,
        Tracked {
            deployment_id,
            task_definition,
            previous_task_definition: previous,
        },
        Some(sd.service_deployment_arn.clone()),
        &service.events,
        several,
    );
    // The pause was seen here; the follow loop need not point at it again.
    watch.last_service_deployment = Some(sd.clone());
    let hook = pause
        .hook_id
        .clone()
        .map(|h| (sd.service_deployment_arn.clone(), h));
    Ok(Found {
        name: name.to_string(),
        watch,
        hook,
        pause,
    })
}

/// Refuses a paused deployment that is not this commit's: a manual step must never approve
/// another build.
fn check_owner(
    ctx: &Ctx<'_>,
    name: &str,
    task_definition: &str,
    pause: &Pause,
    tags: &serde_json::Value,
) -> Result<(), Error> {
    let commit = ctx.config.context.commit.as_deref();
    let carries = match rules::owner(tags, commit) {
        Owner::ThisCommit => return Ok(()),
        Owner::OtherCommit(other) => format!("commit {other}"),
        Owner::Untagged => "no bitbucket:commit tag".into(),
    };
    Err(Error::Operate {
        verdict: format!(
            "not continuing {}: its paused deployment of {} {} carries {carries}, not this step's commit {}",
            short(name),
            revision_name(task_definition),
            rules::pause_words(pause),
            commit.unwrap_or("(BITBUCKET_COMMIT is not set)")
        ),
        details: Vec::new(),
        hints: vec![
            "continue it from the pipeline that deployed that commit (its manual step), or roll it back with ACTION: 'rollback'".into(),
        ],
    })
}

fn nothing_to_continue(name: &str, doing: &str) -> Error {
    Error::Operate {
        verdict: format!("nothing to continue for {}: {doing}", short(name)),
        details: Vec::new(),
        hints: vec![
            "ACTION: 'continue' resumes a deployment that waits at a PAUSE lifecycle hook (or in CodeDeploy's Ready); deploy with WAIT_UNTIL: 'paused' first".into(),
        ],
    }
}

/// A CODE_DEPLOY service's deployment in `Ready`, checked to be this commit's (by the
/// description the pipe gave it).
async fn find_ready(
    ctx: &Ctx<'_>,
    name: &str,
    service: &Service,
    several: bool,
) -> Result<Found, Error> {
    let (Some(cd), Some(target)) = (ctx.cd, ctx.targets.iter().find(|t| t.service == name)) else {
        return Err(nothing_to_continue(
            name,
            "no CodeDeploy deployment group was found",
        ));
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
    let mut statuses = Vec::new();
    for id in ids {
        let info = cd.deployment(&id).await.map_err(read)?;
        if info.status != "Ready" {
            statuses.push(format!("CodeDeploy deployment {id} is {}", info.status));
            continue;
        }
        return ready_found(
            ctx,
            (name, service),
            several,
            &id,
            info.description.as_deref(),
        );
    }
    let doing = if statuses.is_empty() {
        "no CodeDeploy deployment is in progress".into()
    } else {
        statuses.join("; ")
    };
    Err(nothing_to_continue(name, &doing))
}

/// The CodeDeploy deployment `id` in `Ready`, checked to be this commit's by its description.
fn ready_found(
    ctx: &Ctx<'_>,
    (name, service): (&str, &Service),
    several: bool,
    id: &str,
    description: Option<&str>,
) -> Result<Found, Error> {
    let pause = Pause {
        stage: "Ready".into(),
        code_deploy_id: Some(id.to_string()),
        ..Pause::default()
    };
    let replacement = service
        .task_sets
        .iter()
        .find(|t| t.status != "PRIMARY")
        .map_or_else(
            || service.primary_revision().to_string(),
            |t| t.task_definition.clone(),
        );
    let commit = ctx.config.context.commit.as_deref();
    if !rules::describes_commit(description.unwrap_or_default(), commit) {
        check_owner(ctx, name, &replacement, &pause, &serde_json::Value::Null)?;
    }
    let mut watch = Watch::new(
        name,
        Tracked {
            deployment_id: id.to_string(),
            task_definition: replacement,
            previous_task_definition: service.primary_revision().to_string(),
        },
        None,
        &service.events,
        several,
    );
    watch.code_deploy = Some(Following::new(
        id,
        &ctx.config.target.cluster,
        name,
        &ctx.config.target.region,
    ));
    Ok(Found {
        name: name.to_string(),
        watch,
        hook: None,
        pause,
    })
}

/// `ACTION: rollback`: each service goes back to the revision it ran before; the line says
/// where each one is now.
async fn rollback_all(
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
async fn rollback_service(
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
async fn follow_rollback(ctx: &Ctx<'_>, name: &str, arn: &str) -> Result<String, Error> {
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
async fn now_runs(ctx: &Ctx<'_>, name: &str) -> Result<String, Error> {
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
async fn redeploy_previous(
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
async fn newest_deployment(
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
async fn rollback_code_deploy(
    ctx: &Ctx<'_>,
    name: &str,
    service: &Service,
) -> Result<String, Error> {
    let (Some(cd), Some(target)) = (ctx.cd, ctx.targets.iter().find(|t| t.service == name)) else {
        return Err(nothing_to_continue(
            name,
            "no CodeDeploy deployment group was found",
        ));
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
    // The list can lag behind a status change: read each one.
    for id in ids {
        let info = cd.deployment(&id).await.map_err(read)?;
        if crate::aws::codedeploy::IN_PROGRESS_STATUSES.contains(&info.status.as_str()) {
            return stop_code_deploy(ctx, cd, name, &id).await;
        }
    }
    redeploy_code_deploy(ctx, cd, target, service).await
}

/// StopDeployment with automatic rollback, read until CodeDeploy settles: `web to web:41`.
async fn stop_code_deploy(
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
async fn redeploy_code_deploy(
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
fn code_deploy_watch(
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
async fn succeeded_revisions(
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

/// What runs is what was checked: after a verified deploy, the digests ECS resolved for the
/// running service revision (`DescribeServiceRevisions`) are recorded, and each that differs
/// from the one checked in ECR before the deploy is a warning naming both. Only for images
/// that were checked, and only where ECS names the service revision; a failed read is said
/// in one line and changes no verdict.
pub async fn check_digests(ecs: &Ecs, watches: &[Watch], record: &mut Record, report: &Reporter) {
    let checked: Vec<(String, String)> = record
        .images
        .iter()
        .filter_map(|(_, image, digest)| digest.clone().map(|d| (image.clone(), d)))
        .collect();
    if checked.is_empty() {
        return;
    }
    for watch in watches {
        let mut candidates: Vec<String> = watch
            .last_service_deployment
            .iter()
            .filter_map(|sd| sd.target_service_revision.as_ref().map(|t| t.arn.clone()))
            .collect();
        if let Some(service) = watch.last_service() {
            candidates.extend(
                service
                    .current_service_revisions
                    .iter()
                    .map(|r| r.arn.clone()),
            );
        }
        for arn in candidates.iter().filter(|a| !a.is_empty()) {
            let revision = match ecs.describe_service_revision(arn).await {
                Ok(Some(revision)) => revision,
                Ok(None) => continue,
                Err(err) => {
                    report.detail(&format!("could not read the running image digests ({err})"));
                    break;
                }
            };
            if revision.task_definition != watch.tracked.task_definition {
                continue;
            }
            for warning in rules::digest_warnings(&checked, &revision) {
                report.warn(&warning);
            }
            if let Some(r) = record.service_mut(&watch.name) {
                r.running_digests = revision
                    .container_images
                    .iter()
                    .filter_map(|c| {
                        c.image_digest
                            .clone()
                            .map(|d| (c.container_name.clone(), d))
                    })
                    .collect();
            }
            break;
        }
    }
}

/// The success line, naming the digest that runs (one service, when it was read).
pub fn name_digest(line: String, record: &Record) -> String {
    match record.services.as_slice() {
        [only] => match only.running_digests.first() {
            Some((_, digest)) => format!("{line}; runs {digest}"),
            None => line,
        },
        _ => line,
    }
}
