//! The pre-deploy section: `PRE_DEPLOY_COMMAND`, run once with the new revision before any
//! service is updated, and its container and timeout.

use std::time::Duration;

use crate::error::Problem;
use crate::vars;

use super::raw::Raw;

/// `PRE_DEPLOY_COMMAND`, `PRE_DEPLOY_CONTAINER`, `PRE_DEPLOY_TIMEOUT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreDeploy {
    /// The argument list that replaces the container's command.
    pub command: Vec<String>,
    /// `PRE_DEPLOY_CONTAINER`; `None`: `CONTAINER_NAME`, else the only container.
    pub container: Option<String>,
    /// How long the task may take, start to stop.
    pub timeout: Duration,
}

/// Reads the section; the container and timeout only mean something with a command.
pub fn read(raw: &Raw, problems: &mut Vec<Problem>) -> Option<PreDeploy> {
    let container = raw.text(&vars::PRE_DEPLOY_CONTAINER);
    let timeout_set = raw.text(&vars::PRE_DEPLOY_TIMEOUT).is_some();
    let timeout =
        Duration::from_secs(raw.seconds(&vars::PRE_DEPLOY_TIMEOUT, 1, 6 * 3600, problems));
    let Some(command) = raw.text(&vars::PRE_DEPLOY_COMMAND) else {
        for (var, set) in [
            (&vars::PRE_DEPLOY_CONTAINER, container.is_some()),
            (&vars::PRE_DEPLOY_TIMEOUT, timeout_set),
        ] {
            if set {
                problems.push(Problem::new(
                    var.name,
                    "is set but PRE_DEPLOY_COMMAND is not; it only applies to the pre-deploy command",
                ));
            }
        }
        return None;
    };
    let command = parse_command(&command, problems)?;
    Some(PreDeploy {
        command,
        container,
        timeout,
    })
}

/// Reads `PRE_DEPLOY_COMMAND`: a JSON array of strings is the argument list as it is; any
/// other value is split as a POSIX shell would split it (quotes and backslashes), without
/// running a shell. `None` means the value is bad; the problem is recorded.
pub fn parse_command(value: &str, problems: &mut Vec<Problem>) -> Option<Vec<String>> {
    let name = vars::PRE_DEPLOY_COMMAND.name;
    let args = if value.starts_with('[') {
        match serde_json::from_str::<Vec<String>>(value) {
            Ok(args) => args,
            Err(e) => {
                problems.push(Problem::new(
                    name,
                    format!("starts with '[' but is not a JSON array of strings ({e}); write it as [\"bin/migrate\", \"--yes\"] or as a plain command line"),
                ));
                return None;
            }
        }
    } else {
        match shlex::split(value) {
            Some(args) => args,
            None => {
                problems.push(Problem::new(
                    name,
                    format!("has an unbalanced quote or a trailing backslash: {value:?}; quote each argument that has spaces, such as bin/migrate --name 'two words'"),
                ));
                return None;
            }
        }
    };
    if args.first().is_none_or(String::is_empty) {
        problems.push(Problem::new(
            name,
            format!("names no program to run: {value:?}"),
        ));
        return None;
    }
    Some(args)
}
