//! What runs is what was checked: after a verified deploy, the digest ECS resolved for each
//! ECR image (DescribeServiceRevisions) against the digest checked before the deploy.

use crate::aws::ecs::Ecs;
use crate::report::Reporter;
use crate::rules::operate::{self as rules};
use crate::steps::follow::Watch;
use crate::steps::outputs::Record;

/// What runs is what was checked: after a verified deploy, the digests ECS resolved for the
/// running service revision (`DescribeServiceRevisions`) are recorded, and each that differs
/// from the one checked in ECR before the deploy is a warning naming both. Only for images
/// that were checked, and only where ECS names the service revision; a failed read is said
/// in one line and changes no verdict.
pub async fn check_digests(ecs: &Ecs, watches: &[Watch], record: &mut Record, report: &Reporter) {
    let checked: Vec<(String, String)> = record
        .images
        .iter()
        .filter_map(|(_, image, digest)| digest.clone().map(|d| (image.clone(), d)))
        .collect();
    if checked.is_empty() {
        return;
    }
    for watch in watches {
        let mut candidates: Vec<String> = watch
            .last_service_deployment
            .iter()
            .filter_map(|sd| sd.target_service_revision.as_ref().map(|t| t.arn.clone()))
            .collect();
        if let Some(service) = watch.last_service() {
            candidates.extend(
                service
                    .current_service_revisions
                    .iter()
                    .map(|r| r.arn.clone()),
            );
        }
        for arn in candidates.iter().filter(|a| !a.is_empty()) {
            let revision = match ecs.describe_service_revision(arn).await {
                Ok(Some(revision)) => revision,
                Ok(None) => continue,
                Err(err) => {
                    report.detail(&format!("could not read the running image digests ({err})"));
                    break;
                }
            };
            if revision.task_definition != watch.tracked.task_definition {
                continue;
            }
            for warning in rules::digest_warnings(&checked, &revision) {
                report.warn(&warning);
            }
            if let Some(r) = record.service_mut(&watch.name) {
                r.running_digests = revision
                    .container_images
                    .iter()
                    .filter_map(|c| {
                        c.image_digest
                            .clone()
                            .map(|d| (c.container_name.clone(), d))
                    })
                    .collect();
            }
            break;
        }
    }
}

/// The success line, naming the digest that runs (one service, when it was read).
pub fn name_digest(line: String, record: &Record) -> String {
    match record.services.as_slice() {
        [only] => match only.running_digests.first() {
            Some((_, digest)) => format!("{line}; runs {digest}"),
            None => line,
        },
        _ => line,
    }
}
