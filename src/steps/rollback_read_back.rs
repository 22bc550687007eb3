//! The rollback's own `UpdateService` (`ROLLBACK_ON_FAILURE`) without a definite answer: it
//! may have been applied although no answer said so (a timeout, a connection lost after
//! sending, a 5xx after the SDK's retries). The service is read back before anything is said:
//! a PRIMARY deployment running the previous revision is the rollback, and is followed; any
//! other read says in the verdict what it showed, never "rolled back" or "not rolled back" on a
//! guess.

use crate::aws::ecs::Ecs;
use crate::error::AwsError;
use crate::report::Reporter;
use crate::rules::rollout::{Service, revision_name};
use crate::steps::apply::{ReadBack, Updated, Wanted, read_back, reread};
use crate::steps::follow::short;

/// Reads the service back after the rollback's UpdateService failed ambiguously with `err`.
/// `Ok`: the rollback started; the deployment to follow and the service as read. `Err`: the
/// line for the verdict, saying what the read showed.
pub async fn settle(
    ecs: &Ecs,
    cluster: &str,
    u: &Updated,
    err: AwsError,
    report: &Reporter,
) -> Result<(String, Service), String> {
    let name = short(&u.name);
    let previous = revision_name(&u.previous);
    report.warn(&format!(
        "{name}: {err}; the rollback may have started all the same, so reading the service back"
    ));
    let may_or_may_not = |found: String| {
        format!(
            "the rollback of {name} to {previous} may or may not have started: {err}; {found}; look at its Deployments tab"
        )
    };
    let service = reread(ecs, cluster, &u.name)
        .await
        .map_err(may_or_may_not)?;
    // The previous revision is never the one the failed deploy started (such services need
    // no rollback), so the rollback shows as the PRIMARY deployment running it; the time it
    // was sent only matters for a restart.
    let wanted = Wanted {
        target: &u.previous,
        new_revision: true,
        force: false,
        desired_count: None,
        sent_at: 0.0,
    };
    match read_back(&service, &wanted) {
        ReadBack::Updated { deployment_id } => {
            report.detail(&format!(
                "DescribeServices shows the rollback started: following deployment {deployment_id}"
            ));
            Ok((deployment_id, service))
        }
        ReadBack::NotUpdated(why) => Err(format!(
            "the rollback of {name} to {previous} did not start: {err}; DescribeServices shows the service was not rolled back ({why})"
        )),
        ReadBack::Unknown(why) => Err(may_or_may_not(format!(
            "DescribeServices cannot tell whether it started ({why})"
        ))),
    }
}
