//! The runbook: credentials; read the services, their task definitions and the images; plan
//! (pure, [`crate::rules::plan`]); stop there on a dry run ([`dry_run`]); apply (register, run
//! the pre-deploy task, update: [`change`]); follow every deployment to a verdict
//! ([`follow`]); then, after a verified deploy, tag, move scheduled tasks and clean up
//! ([`after`]), or roll back. Each step says what it does before doing it, and each failure
//! says how far the deploy got ([`verdict`], [`record`]).

use std::time::Instant;

use crate::aws;
use crate::aws::codedeploy::CodeDeploy;
use crate::aws::ecs::Ecs;
use crate::aws::logs::LogReaders;
use crate::aws::sts;
use crate::config::Config;
use crate::error::Error;
use crate::report::Reporter;
use crate::rules::plan::{self, Plan};
use crate::rules::rollout::Tracked;
use crate::steps::apply::Updated;
use crate::steps::blue_green::Following;
use crate::steps::follow::{self, Watch, short};
use crate::steps::operate;
use crate::steps::outputs::Record;
use crate::steps::preflight;
use crate::steps::read;
use crate::steps::rollback;
use crate::steps::{after, change, dry_run, images, record, verdict};

/// Runs the whole deploy, filling `record` as it goes so the outcome can be written out
/// even when a step fails. Returns the success line, which the caller prints last (after
/// writing the outputs, whose warnings must not come after the verdict).
pub async fn deploy(
    config: &Config,
    report: &Reporter,
    record: &mut Record,
) -> Result<String, Error> {
    let started = Instant::now();
    record::begin(config, record);
    report.warn_all(&config.warnings);
    // Credentials.
    let credentials = sts::credentials(config, report).await?;
    let (ecs, logs) = clients(config, &credentials);
    if config.operate.action != crate::config::Action::Deploy {
        return operate::operate(&ecs, &logs, config, credentials, report, record).await;
    }

    // Read. The ECR lookups do not depend on the services, so they run while those are read: one
    // round trip less before the first change.
    let (read, lookups) = tokio::join!(
        read::everything(&ecs, config, report),
        images::look_up(config, credentials.clone())
    );
    let (services, sources) = read?;
    record::previous_revisions(&services, record);
    let code_deploy =
        read::code_deploy_targets(config, &services, credentials.clone(), report).await?;

    // Plan.
    let plan = plan::build(config, &services, &sources)?;
    images::show_plan(config, &plan, lookups, report, record)?;

    // Preflight: what the new tasks need, checked before the first write.
    let read = (&plan, services.as_slice(), &sources);
    preflight::check(&ecs, config, &credentials, read, report).await?;

    if config.dry_run {
        let read = (services.as_slice(), &plan, code_deploy.targets.as_slice());
        return dry_run::run(config, &credentials, read, report, record).await;
    }

    // Apply.
    let (registered, updated) = change::apply_all(
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
        after::tag_services(&ecs, config, &updated, report).await;
        return Ok(verdict::started_line(&updated));
    }

    // Follow.
    let mut watches = watch(config, &updated, &services);
    report.step(&verdict::waiting_line(config, &watches));
    let settings = follow_settings(config, &plan, &registered, code_deploy.client.clone());
    follow::follow(&ecs, &logs, &settings, &mut watches, report).await?;
    record::outcomes(&watches, record);
    if let Some(line) = operate::paused(&watches, record) {
        return Ok(line);
    }

    // After.
    if follow::all_succeeded(&watches) {
        let done = after::Deployed {
            services: &services,
            updated: &updated,
            watches: &watches,
            started,
        };
        return after::finish(&ecs, config, &credentials, &done, report, record).await;
    }
    let error = verdict::failure(&watches);
    Err(rollback::roll_back(&ecs, &logs, config, &settings, &updated, report, error).await)
}

/// The ECS client, and the CloudWatch Logs readers (their clients are built only when a log
/// is read: a failure report, the pre-deploy command's output).
fn clients(config: &Config, credentials: &aws::Credentials) -> (Ecs, LogReaders) {
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

fn watch(
    config: &Config,
    updated: &[Updated],
    services: &[crate::rules::rollout::Service],
) -> Vec<Watch> {
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
        stop_at_pause: config.operate.wait_until == crate::config::WaitUntil::Paused,
    }
}
