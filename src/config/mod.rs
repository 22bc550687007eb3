//! Pipe variables → a validated [`Config`], with every problem reported at once.
//!
//! Two stages, as in ripgrep's low/high arguments: [`Raw`] holds the variables as they
//! arrived (deprecated names already read as their replacements), and each section of the
//! configuration is read from it by a small function of its own module: [`credentials`],
//! [`target`], [`change`], [`wait`], [`pre_deploy`], [`code_deploy`], [`after`] (clean-up and outputs) and
//! [`iam_policy`]. Each reader records a [`Problem`] per bad variable and carries on, so that
//! [`Config::from_vars`] reports all of them together. Every variable is read through its one
//! definition in [`crate::vars`]. Nothing here talks to AWS; the only I/O is reading the
//! `TASK_DEFINITION` file, so that a broken file is reported together with everything else.

pub mod after;
pub mod change;
pub mod code_deploy;
pub mod credentials;
pub mod iam_policy;
pub mod operate;
pub mod pre_deploy;
pub mod raw;
pub mod settings;
pub mod target;
pub mod template;
pub mod wait;

use crate::context::BitbucketContext;
use crate::error::{Error, Problem};
use crate::vars;

pub use after::After;
pub use change::{AUDIT_TAG_PREFIX, Change, TaskDefinitionFile};
pub use credentials::{
    Auth, Credentials, DEFAULT_ROLE_DURATION_SECONDS, Endpoints, is_valid_role_arn, session_name,
};
pub use iam_policy::{IamPolicy, TrustScope};
pub use operate::{Action, Operate, WaitUntil};
pub use pre_deploy::{PreDeploy, parse_command};
pub use raw::Raw;
pub use target::{Target, is_valid_region};
pub use wait::{HEARTBEAT, MAX_LOG_LINES, Wait};

/// Everything a deploy needs, validated: the composition of the sections.
#[derive(Debug, Clone)]
pub struct Config {
    /// How to get credentials, and where calls go.
    pub credentials: Credentials,
    /// The region, cluster and services.
    pub target: Target,
    /// What the new revision changes, and how the services are updated.
    pub change: Change,
    /// Following the rollout.
    pub wait: Wait,
    /// `ACTION` and `WAIT_UNTIL`: deploy, continue a paused deployment or roll back.
    pub operate: Operate,
    /// `PRE_DEPLOY_COMMAND` (with its container and timeout): a one-off task run with the new
    /// revision before any service is updated.
    pub pre_deploy: Option<PreDeploy>,
    /// The `CODEDEPLOY_*` variables, for services whose deployments CodeDeploy runs.
    pub code_deploy: code_deploy::Options,
    /// Tagging, clean-up and outputs after the deploy.
    pub after: After,
    /// Printing the IAM policies instead of deploying.
    pub iam_policy: IamPolicy,
    /// `DRY_RUN`: stop before the first change and show what would change.
    pub dry_run: bool,
    /// `DEBUG`.
    pub debug: bool,
    /// Colour the output (off with `NO_COLOR`).
    pub color: bool,
    /// The Bitbucket build this deploy runs in.
    pub context: BitbucketContext,
    /// Things worth saying that are not errors, printed before the deploy starts.
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads and validates variables given as (name, value) pairs: `std::env::vars()` in the
    /// binary, a plain vector in tests.
    pub fn from_vars<I>(vars: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        let raw = Raw::new(vars, &mut problems, &mut warnings);
        let print = iam_policy::print(&raw, &mut problems);
        let context = BitbucketContext::from_vars(raw.pairs());
        let region = target::region(&raw, &mut problems);
        let credentials = credentials::read(&raw, &context, print, &mut problems, &mut warnings);
        let target = target::read(&raw, region, &mut problems);
        let operate = operate::read(&raw, &mut problems);
        let change = change::read(
            &raw,
            operate.action == Action::Deploy,
            &mut problems,
            &mut warnings,
        );
        let wait = wait::read(&raw, &mut problems);
        let after = after::read(&raw, wait.enabled, &mut problems);
        let iam_policy = iam_policy::read(&raw, print, &context, &mut problems, &mut warnings);
        let pre_deploy = pre_deploy::read(&raw, &mut problems);
        let code_deploy = code_deploy::read(&raw, &mut problems);
        let debug = raw.boolean(&vars::DEBUG, &mut problems);
        let dry_run = raw.boolean(&vars::DRY_RUN, &mut problems);
        let color = raw.untrimmed(&vars::NO_COLOR).is_none_or(str::is_empty);
        if change.promote.is_some()
            && pre_deploy.is_some()
            && change.image.is_none()
            && change.container_images.is_empty()
            && change.overrides.is_empty()
        {
            problems.push(Problem::new(
                vars::PRE_DEPLOY_COMMAND.name,
                "cannot run with TASK_DEFINITION naming a registered revision that is deployed as it is; run the command in an earlier step, or set IMAGE to make a new revision from it",
            ));
        }
        if !problems.is_empty() {
            return Err(Error::Config(problems));
        }
        let Some(credentials) = credentials else {
            return Err(Error::Config(vec![Problem::new(
                vars::AWS_OIDC_ROLE_ARN.name,
                "could not be validated",
            )]));
        };
        Ok(Self {
            credentials,
            target,
            change,
            wait,
            operate,
            pre_deploy,
            code_deploy,
            after,
            iam_policy,
            dry_run,
            debug,
            color,
            context,
            warnings,
        })
    }
}
