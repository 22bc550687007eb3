//! ecs-oidc-deploy: deploy a new image to an Amazon ECS service from a Bitbucket Pipelines
//! step, with the step's OIDC token instead of stored AWS keys.
//!
//! The folders are the layers, and a file's folder says what it may do (`test/layers.rs`
//! keeps it so):
//! - [`steps`]: the runbook ([`steps::deploy`]) and its steps, in order: credentials
//!   ([`aws::sts`]), read ([`steps::read`], [`steps::images`]), plan, apply
//!   ([`steps::change`], [`steps::apply`], [`steps::pre_deploy`], [`steps::blue_green`]),
//!   follow ([`steps::follow`], [`steps::diagnose`]), after ([`steps::after`],
//!   [`steps::retarget`]) or roll back ([`steps::rollback`]). The only code that calls the
//!   adapters; it may use everything below.
//! - [`rules`]: every decision, as pure functions without I/O, SDK types or `async`: the new
//!   task definition ([`rules::task_def`], [`rules::overrides`]), the plan ([`rules::plan`]),
//!   how a rollout stands ([`rules::rollout`], [`rules::codedeploy_verdict`]), what moves
//!   ([`rules::scheduled`]), which revisions go ([`rules::cleanup`]), the AppSpec
//!   ([`rules::appspec`]) and the IAM policy ([`rules::policy`]). Tested without a network.
//! - [`aws`]: the adapters, one file per AWS service, the only code that names SDK types;
//!   client building, retries and the reduction of SDK errors to [`error::AwsError`].
//! - Below all three: [`config`] (every pipe variable, each defined once in [`vars`]),
//!   [`context`] (the `BITBUCKET_*` variables), [`model`] (what is read, as plain data),
//!   [`error`], [`report`], [`secret`] and [`help`].
//!
//! Allowed directions: steps → rules and adapters; rules → the layer below; adapters → the
//! layer below. Nothing else.

pub mod aws;
pub mod config;
pub mod context;
pub mod error;
pub mod help;
pub mod model;
pub mod report;
pub mod rules;
pub mod secret;
pub mod steps;
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
    let mut record = steps::outputs::Record::default();
    let result = steps::deploy::deploy(&config, report, &mut record).await;
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
        .map(|f| rules::task_def::TaskDefinition::from_json(f.json.clone(), &f.display))
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
            model::claims::decode(token.expose()).ok()
        }
        _ => None,
    };
    let policies = rules::policy::build(config, td.as_ref(), claims.as_ref());
    let doc = serde_json::json!({"permissionPolicy": policies.permissions, "trustPolicy": policies.trust});
    report.warn_all(&policies.notes);
    match serde_json::to_string_pretty(&doc) {
        Ok(text) if writeln!(out, "{text}").is_ok() => error::EXIT_OK,
        _ => error::EXIT_NOTHING_CHANGED,
    }
}
