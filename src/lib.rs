//! ecs-oidc-deploy: deploy a new image to an Amazon ECS service from a Bitbucket Pipelines
//! step, with the step's OIDC token instead of stored AWS keys.
//!
//! The steps, in order, each in its own module; [`deploy`] is the runbook that calls them:
//! 1. [`config`]: read and validate every pipe variable, each defined once in [`vars`], one
//!    section per concern, reporting all problems at once;
//! 2. [`auth`]: exchange `BITBUCKET_STEP_OIDC_TOKEN` for STS credentials (or use static keys);
//! 3. [`read`]: read the services and the task definitions they run; [`ecr`]: check the images;
//!    [`blue_green`]: find the CodeDeploy deployment group of each `CODE_DEPLOY` service;
//! 4. [`plan`] (pure): the new revisions (each identical to its source but for the images,
//!    see [`task_def`]) and which service moves to which;
//! 5. [`apply`]: register the revisions, run `PRE_DEPLOY_COMMAND` ([`pre_deploy`]), and
//!    update every service in one call each, or start its CodeDeploy deployment with the
//!    AppSpec generated from the service ([`appspec`]);
//! 6. [`follow`] + [`rollout`] / [`codedeploy_verdict`] (pure): follow every deployment to a
//!    verdict;
//! 7. [`diagnose`]: on a failure, why the tasks stopped and what their containers logged
//!    ([`logs`]);
//! 8. [`retarget`]: after a verified deploy, move the EventBridge rules and Scheduler
//!    schedules pinned to the old revision (`UPDATE_SCHEDULED_TASKS`; [`scheduled`] decides).
//!
//! Decisions ([`config`], [`plan`], [`task_def`], [`rollout`], [`appspec`],
//! [`codedeploy_verdict`], [`image`], [`policy`], [`scheduled`]) never call AWS and are tested
//! without a network; only [`auth`], [`ecs`], [`ecr`], [`codedeploy`], [`logs`] and
//! [`eventbridge`] name SDK operations.

pub mod apply;
pub mod appspec;
pub mod auth;
pub mod aws;
pub mod blue_green;
pub mod claims;
pub mod cleanup;
pub mod codedeploy;
pub mod codedeploy_verdict;
pub mod config;
pub mod deploy;
pub mod diagnose;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod eventbridge;
pub mod follow;
pub mod help;
pub mod iam;
pub mod image;
pub mod logs;
pub mod outputs;
pub mod overrides;
pub mod plan;
pub mod policy;
pub mod pre_deploy;
pub mod preflight;
pub mod preflight_policy;
pub mod preflight_rules;
pub mod read;
pub mod report;
pub mod retarget;
pub mod rollback;
pub mod rollout;
pub mod scheduled;
pub mod secret;
pub mod secrets;
pub mod ssm;
pub mod task_def;
pub mod template;
pub mod vars;

pub use config::Config;
pub use error::Error;
pub use report::Reporter;

/// Validates `vars` and runs the deploy (or prints the IAM policies), reporting to `report`
/// and writing policies to `out`. Returns the exit code.
pub async fn run<I>(vars: I, report: &mut Reporter, out: &mut dyn std::io::Write) -> i32
where
    I: IntoIterator<Item = (String, String)>,
{
    let config = match Config::from_vars(vars) {
        Ok(config) => config,
        Err(error) => {
            report.failure(&error);
            return error.exit_code();
        }
    };
    report.set_color(config.color);
    tracing::debug!(?config, "configuration");
    if config.iam_policy.print {
        return print_policies(&config, report, out);
    }
    let started = std::time::Instant::now();
    let mut record = outputs::Record::default();
    let result = deploy::deploy(&config, report, &mut record).await;
    record.duration_seconds = started.elapsed().as_secs();
    let code = match &result {
        Ok(_) => {
            if record.verdict.is_empty() {
                record.verdict = if config.wait.enabled {
                    "succeeded"
                } else {
                    "started"
                }
                .into();
            }
            error::EXIT_OK
        }
        Err(error) => {
            record.verdict = if error.exit_code() == error::EXIT_DEPLOY_FAILED {
                "failed"
            } else {
                "refused"
            }
            .into();
            record.message = error.to_string();
            error.exit_code()
        }
    };
    if let Some(dir) = &config.after.outputs_dir
        && let Err(e) = record.write(dir)
    {
        report.warn(&format!("could not write {} ({e})", dir.display()));
    }
    match result {
        Ok(line) => report.success(&line),
        Err(error) => {
            tracing::debug!(?error, "deploy failed");
            report.failure(&error);
        }
    }
    code
}

fn print_policies(config: &Config, report: &Reporter, out: &mut dyn std::io::Write) -> i32 {
    // A file that is JSON but not a task definition is a mistake to report, not a reason to
    // fall back to placeholders.
    let td = match config
        .change
        .task_definition_file
        .as_ref()
        .map(|f| task_def::TaskDefinition::from_json(f.json.clone(), &f.display))
        .transpose()
    {
        Ok(td) => td,
        Err(error) => {
            report.failure(&error);
            return error.exit_code();
        }
    };
    let claims = match &config.credentials.auth {
        config::Auth::Oidc { token, .. } if !token.expose().is_empty() => {
            claims::decode(token.expose()).ok()
        }
        _ => None,
    };
    let policies = policy::build(config, td.as_ref(), claims.as_ref());
    let doc = serde_json::json!({"permissionPolicy": policies.permissions, "trustPolicy": policies.trust});
    for note in &policies.notes {
        report.warn(note);
    }
    match serde_json::to_string_pretty(&doc) {
        Ok(text) if writeln!(out, "{text}").is_ok() => error::EXIT_OK,
        _ => error::EXIT_NOTHING_CHANGED,
    }
}
