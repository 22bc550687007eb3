//! ecs-oidc-deploy: deploy a new image to an Amazon ECS service from a Bitbucket Pipelines
//! step, with the step's OIDC token instead of stored AWS keys.
//!
//! The steps, in order, each in its own module:
//! 1. [`config`]: read and validate every pipe variable, reporting all problems at once;
//! 2. [`auth`]: exchange `BITBUCKET_STEP_OIDC_TOKEN` for STS credentials (or use static keys);
//! 3. [`ecs`] / [`ecr`]: read the service and its task definition, check the image exists;
//! 4. [`task_def`] (pure): the new revision, identical but for the image;
//! 5. [`deploy`]: register it and update the service in one call;
//! 6. [`wait`] + [`rollout`] (pure): follow our deployment to a verdict.
//!
//! Decisions ([`config`], [`task_def`], [`rollout`], [`image`]) never call AWS and are
//! tested without a network; only [`auth`], [`ecs`] and [`ecr`] name SDK operations.

pub mod auth;
pub mod aws;
pub mod config;
pub mod deploy;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod help;
pub mod image;
pub mod report;
pub mod rollout;
pub mod secret;
pub mod task_def;
pub mod wait;

pub use config::Config;
pub use error::Error;
pub use report::Reporter;

/// Validates `vars` and runs the deploy, reporting to `report`. Returns the exit code.
pub async fn run<I>(vars: I, report: &mut Reporter) -> i32
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
    match deploy::deploy(&config, report).await {
        Ok(_) => error::EXIT_OK,
        Err(error) => {
            tracing::debug!(?error, "deploy failed");
            report.failure(&error);
            error.exit_code()
        }
    }
}
