//! The CodeDeploy section: `CODEDEPLOY_APPLICATION`, `CODEDEPLOY_DEPLOYMENT_GROUP`,
//! `CODEDEPLOY_HOOKS` and `CODEDEPLOY_DEPLOYMENT_CONFIG`, for services whose deployments
//! CodeDeploy runs. Without them the deployment group is found by a search.

use crate::appspec::parse_hooks;
use crate::blue_green::Options;
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
