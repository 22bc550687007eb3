//! The after-deploy section: what happens once the deploy is verified (tagging the service,
//! cleaning up old revisions) and where the outputs for later steps go.

use std::path::PathBuf;

use crate::error::Problem;
use crate::vars;

use super::raw::Raw;

/// The after-deploy section of [`super::Config`].
#[derive(Debug, Clone)]
pub struct After {
    /// `KEEP_REVISIONS`: after a verified deploy, deregister older ACTIVE revisions beyond this many.
    pub keep_revisions: Option<u32>,
    /// `TAG_SERVICE`: tag the service with the last deploy.
    pub tag_service: bool,
    /// Where results for later steps go: `$BITBUCKET_PIPE_SHARED_STORAGE_DIR/ecs-oidc-deploy`.
    pub outputs_dir: Option<PathBuf>,
}

/// Reads the section. `wait`: whether the deploy is followed to a verdict, without which
/// nothing is verified and so nothing is cleaned up.
pub fn read(raw: &Raw, wait: bool, problems: &mut Vec<Problem>) -> After {
    let tag_service = raw.boolean(&vars::TAG_SERVICE, problems);
    let var = &vars::KEEP_REVISIONS;
    let keep_revisions = raw.text(var).and_then(|v| match v.parse::<u32>() {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            problems.push(Problem::new(
                var.name,
                format!(
                    "must be a whole number of revisions to keep, 1 or more, such as 10, got {v:?}"
                ),
            ));
            None
        }
    });
    if keep_revisions.is_some() && !wait {
        problems.push(Problem::new(
            var.name,
            "needs WAIT: 'true', because old revisions are only cleaned up after a verified deploy",
        ));
    }
    let outputs_dir = raw
        .bitbucket("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
        .map(|d| PathBuf::from(d).join("ecs-oidc-deploy"));
    After {
        keep_revisions,
        tag_service,
        outputs_dir,
    }
}
