//! The CodeDeploy section: `CODEDEPLOY_APPLICATION`, `CODEDEPLOY_DEPLOYMENT_GROUP`,
//! `CODEDEPLOY_HOOKS` and `CODEDEPLOY_DEPLOYMENT_CONFIG`, for services whose deployments
//! CodeDeploy runs. Without them the deployment group is found by a search.

use crate::error::Problem;
use crate::vars;

use super::raw::Raw;

/// Reads the section. A group needs its application; the names themselves are CodeDeploy's
/// to check (a wrong one is refused before any change, naming the groups looked at).
pub fn read(raw: &Raw, problems: &mut Vec<Problem>) -> Options {
    let application = raw.text(&vars::CODEDEPLOY_APPLICATION);
    let group = raw.text(&vars::CODEDEPLOY_DEPLOYMENT_GROUP);
    if group.is_some() && application.is_none() {
        problems.push(Problem::new(
            vars::CODEDEPLOY_DEPLOYMENT_GROUP.name,
            "needs CODEDEPLOY_APPLICATION, the application the group belongs to",
        ));
    }
    let hooks = raw.list(&vars::CODEDEPLOY_HOOKS, problems);
    Options {
        application,
        group,
        hooks: parse_hooks(&hooks, problems),
        deployment_config: raw.text(&vars::CODEDEPLOY_DEPLOYMENT_CONFIG),
    }
}

/// The CodeDeploy variables: `CODEDEPLOY_APPLICATION`, `CODEDEPLOY_DEPLOYMENT_GROUP`,
/// `CODEDEPLOY_HOOKS` and `CODEDEPLOY_DEPLOYMENT_CONFIG`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Search only this application, or (with `group`) take the group from it.
    pub application: Option<String>,
    /// The deployment group; skips the search.
    pub group: Option<String>,
    /// Lambda hooks for the AppSpec.
    pub hooks: Vec<Hook>,
    /// Overrides the group's deployment configuration.
    pub deployment_config: Option<String>,
}

/// The lifecycle events that an ECS AppSpec may hook, in the order CodeDeploy runs them.
pub const HOOK_EVENTS: &[&str] = &[
    "BeforeInstall",
    "AfterInstall",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AfterAllowTraffic",
];

/// One `CODEDEPLOY_HOOKS` entry: the Lambda function CodeDeploy invokes at a lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// One of [`HOOK_EVENTS`].
    pub event: String,
    /// The function's name or ARN, as given.
    pub function: String,
}

/// Reads `CODEDEPLOY_HOOKS` items (`Event=LambdaArn`). Every bad item is a problem naming the
/// variable; the good ones are kept in the order given.
pub fn parse_hooks(items: &[String], problems: &mut Vec<Problem>) -> Vec<Hook> {
    let name = "CODEDEPLOY_HOOKS";
    let mut hooks: Vec<Hook> = Vec::new();
    for item in items {
        let Some((event, function)) = item.split_once('=') else {
            problems.push(Problem::new(
                name,
                format!("items must look like BeforeAllowTraffic=arn:aws:lambda:eu-west-1:123456789012:function:smoke-test, got {item:?}"),
            ));
            continue;
        };
        let (event, function) = (event.trim(), function.trim());
        let Some(known) = HOOK_EVENTS.iter().find(|e| e.eq_ignore_ascii_case(event)) else {
            problems.push(Problem::new(
                name,
                format!(
                    "names lifecycle event {event:?}, which an ECS AppSpec cannot hook; use one of {}",
                    HOOK_EVENTS.join(", ")
                ),
            ));
            continue;
        };
        if function.is_empty() || function.contains(char::is_whitespace) {
            problems.push(Problem::new(
                name,
                format!("needs a Lambda function name or ARN after {known}=, got {function:?}"),
            ));
            continue;
        }
        if hooks.iter().any(|h| h.event == *known) {
            problems.push(Problem::new(
                name,
                format!("names {known} twice; give each lifecycle event one function"),
            ));
            continue;
        }
        hooks.push(Hook {
            event: (*known).to_string(),
            function: function.to_string(),
        });
    }
    hooks
}
