//! The operate section: `ACTION` (deploy, continue a paused deployment, roll back) and
//! `WAIT_UNTIL` (follow to the verdict, or stop at a pause for approval).

use crate::error::Problem;
use crate::vars;

use super::raw::Raw;

/// `ACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Register and deploy a new revision (the default).
    #[default]
    Deploy,
    /// Resume this commit's deployment that waits for a person.
    Continue,
    /// Put each service back on the revision it ran before.
    Rollback,
}

impl Action {
    /// The word a step writes.
    pub fn word(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Continue => "continue",
            Self::Rollback => "rollback",
        }
    }
}

/// `WAIT_UNTIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitUntil {
    /// Follow the deployment to its verdict (the default).
    #[default]
    Completed,
    /// End the step (exit 0) when the deployment waits for a person.
    Paused,
}

/// The operate section of [`super::Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Operate {
    /// `ACTION`.
    pub action: Action,
    /// `WAIT_UNTIL`.
    pub wait_until: WaitUntil,
}

/// The variables that describe a change: they mean nothing to `continue` or `rollback`,
/// which act on a deployment that already exists.
pub const CHANGE_VARIABLES: [&vars::Var; 18] = [
    &vars::IMAGE,
    &vars::CONTAINER_NAME,
    &vars::CONTAINER_IMAGES,
    &vars::TASK_DEFINITION,
    &vars::FORCE_NEW_DEPLOYMENT,
    &vars::DESIRED_COUNT,
    &vars::TAGS,
    &vars::CONTAINER_ENVIRONMENT,
    &vars::CONTAINER_SECRETS,
    &vars::TASK_CPU,
    &vars::TASK_MEMORY,
    &vars::TASK_ROLE_ARN,
    &vars::EXECUTION_ROLE_ARN,
    &vars::PRE_DEPLOY_COMMAND,
    &vars::PRE_DEPLOY_CONTAINER,
    &vars::CODEDEPLOY_HOOKS,
    &vars::CODEDEPLOY_DEPLOYMENT_CONFIG,
    &vars::DRY_RUN,
];

/// Reads `ACTION` and `WAIT_UNTIL`. With `continue` or `rollback`, every change variable
/// that is set is a problem naming it (never silently ignored).
pub fn read(raw: &Raw, problems: &mut Vec<Problem>) -> Operate {
    let action = match raw
        .text(&vars::ACTION)
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("deploy") => Action::Deploy,
        Some("continue") => Action::Continue,
        Some("rollback") => Action::Rollback,
        Some(other) => {
            problems.push(Problem::new(
                vars::ACTION.name,
                format!("must be deploy, continue or rollback, got {other:?}"),
            ));
            Action::Deploy
        }
    };
    let wait_until = match raw
        .text(&vars::WAIT_UNTIL)
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("completed") => WaitUntil::Completed,
        Some("paused") => WaitUntil::Paused,
        Some(other) => {
            problems.push(Problem::new(
                vars::WAIT_UNTIL.name,
                format!("must be completed or paused, got {other:?}"),
            ));
            WaitUntil::Completed
        }
    };
    if action != Action::Deploy {
        let set: Vec<&str> = CHANGE_VARIABLES
            .iter()
            .filter(|v| raw.text(v).is_some())
            .map(|v| v.name)
            .collect();
        if !set.is_empty() {
            problems.push(Problem::new(
                vars::ACTION.name,
                format!(
                    "is {}, which acts on a deployment that already exists, but {} {} set; remove {} from this step (they describe a new deploy)",
                    action.word(),
                    set.join(", "),
                    if set.len() == 1 { "is" } else { "are" },
                    if set.len() == 1 { "it" } else { "them" },
                ),
            ));
        }
    }
    if action == Action::Rollback && wait_until == WaitUntil::Paused {
        problems.push(Problem::new(
            vars::WAIT_UNTIL.name,
            "is paused, but ACTION: rollback has no pause to stop at; remove WAIT_UNTIL from the rollback step",
        ));
    }
    if wait_until == WaitUntil::Paused
        && raw
            .text(&vars::WAIT)
            .is_some_and(|w| w.eq_ignore_ascii_case("false"))
    {
        problems.push(Problem::new(
            vars::WAIT_UNTIL.name,
            "is paused, which needs WAIT: 'true' to see the pause",
        ));
    }
    Operate { action, wait_until }
}
