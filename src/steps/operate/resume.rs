//! `ACTION: continue`: find the deployment of this commit that waits for a person (a `PAUSE`
//! hook in `AWAITING_ACTION`, or CodeDeploy `Ready`), refuse one of another commit, resume it
//! and follow it to its verdict as a deploy would.

use std::time::Instant;

use super::{Ctx, aws_error, paused, revision_of, settings, under_way, unfinished_code_deploy};
use crate::config::WaitUntil;
use crate::error::{AwsError, Changed, Error};
use crate::rules::operate::{self as rules, Owner, Pause};
use crate::rules::rollout::{Service, Tracked, revision_name};
use crate::steps::after;
use crate::steps::apply::Updated;
use crate::steps::blue_green::Following;
use crate::steps::follow::{self, Watch, short};
use crate::steps::outputs::Record;

/// One service's paused deployment, found and checked, ready to continue.
pub(super) struct Found {
    name: String,
    /// The watch that follows it once continued.
    watch: Watch,
    /// ECS: (service deployment ARN, hook id); CodeDeploy: `None`.
    hook: Option<(String, String)>,
    pause: Pause,
}

/// `ACTION: continue`: finds each service's paused deployment, refuses all of them unless
/// each is this commit's, then continues them and follows them as a deploy would.
pub(super) async fn continue_all(
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
    follow_continued(ctx, &mut watches, services, record, started).await
}

/// The continued deployments, as the work after a verified deploy takes them.
fn as_updated(ctx: &Ctx<'_>, watches: &[Watch], services: &[Service]) -> Vec<Updated> {
    watches
        .iter()
        .map(|w| {
            let live = ctx
                .config
                .target
                .services
                .iter()
                .zip(services)
                .find(|(name, _)| **name == w.name)
                .map(|(_, s)| s);
            Updated {
                name: w.name.clone(),
                service: w.last_service().or(live).cloned().unwrap_or_default(),
                target: w.tracked.task_definition.clone(),
                previous: w.tracked.previous_task_definition.clone(),
                deployment_id: w.tracked.deployment_id.clone(),
                code_deploy: ctx
                    .targets
                    .iter()
                    .find(|t| t.service == w.name)
                    .map(|t| t.group.clone()),
            }
        })
        .collect()
}

pub(super) fn changed_so_far(watches: &[Watch]) -> Changed {
    if watches.is_empty() {
        Changed::Nothing
    } else {
        Changed::Services(watches.iter().map(|w| w.name.clone()).collect())
    }
}

/// Follows the continued deployments to their verdict (or, with `WAIT_UNTIL: paused`, to the
/// next pause).
pub(super) async fn follow_continued(
    ctx: &Ctx<'_>,
    watches: &mut [Watch],
    services: &[Service],
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
    if !follow::all_succeeded(watches) {
        return Err(crate::steps::verdict::failure(watches));
    }
    // The deploy step stopped at the pause, before the work that follows a verified deploy
    // (TAG_SERVICE, UPDATE_SCHEDULED_TASKS, KEEP_REVISIONS): it is done here, once verified.
    let updated = as_updated(ctx, watches, services);
    let (ecs, config, report) = (ctx.ecs, ctx.config, ctx.report);
    after::after_success(
        ecs,
        config,
        ctx.credentials,
        services,
        &updated,
        report,
        record,
    )
    .await?;
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

/// An ECS-native service's deployment that waits at a PAUSE hook, checked to be this commit's.
pub(super) async fn find_paused(
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
pub(super) fn check_owner(
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

pub(super) fn nothing_to_continue(name: &str, doing: &str) -> Error {
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
pub(super) async fn find_ready(
    ctx: &Ctx<'_>,
    name: &str,
    service: &Service,
    several: bool,
) -> Result<Found, Error> {
    let Some((_, _, deployments)) = unfinished_code_deploy(ctx, name).await? else {
        return Err(nothing_to_continue(
            name,
            "no CodeDeploy deployment group was found",
        ));
    };
    let mut statuses = Vec::new();
    for info in deployments {
        let id = &info.deployment_id;
        if info.status != "Ready" {
            statuses.push(format!("CodeDeploy deployment {id} is {}", info.status));
            continue;
        }
        return ready_found(
            ctx,
            (name, service),
            several,
            id,
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
pub(super) fn ready_found(
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
