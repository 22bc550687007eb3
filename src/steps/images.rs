//! The images: looked up in ECR while the services are read, then shown with the plan
//! (before → after, per container); a missing image stops the deploy before any change.

use std::collections::HashMap;

use crate::aws;
use crate::aws::ecr;
use crate::config::Config;
use crate::error::Error;
use crate::model::image::ImageRef;
use crate::report::Reporter;
use crate::rules::plan::{self, Plan};
use crate::steps::outputs::Record;

/// Prints each image change and checks each image once; a missing image stops here.
pub fn show_plan(
    config: &Config,
    plan: &Plan,
    mut lookups: HashMap<String, Result<String, Error>>,
    report: &Reporter,
    record: &mut Record,
) -> Result<(), Error> {
    let several = plan.services.len() > 1;
    let mut checked: HashMap<String, Option<String>> = HashMap::new();
    for revision in &plan.revisions {
        for change in &revision.changes {
            let line = format!(
                "container {}: {} → {}",
                change.container, change.old, change.new
            );
            if several {
                report.detail(&format!(
                    "{} ({}): {line}",
                    revision.source_name(),
                    revision.services.join(", ")
                ));
            } else {
                report.detail(&line);
            }
            if checked.contains_key(&change.new) {
                continue;
            }
            let image = plan::images_to_set(config)
                .into_iter()
                .map(|(_, image)| image)
                .find(|image| image.full == change.new);
            let digest = match image {
                Some(image) => report_image(config, image, lookups.remove(&image.full), report)?,
                None => None,
            };
            checked.insert(change.new.clone(), digest.clone());
            record
                .images
                .push((change.container.clone(), change.new.clone(), digest));
        }
    }
    Ok(())
}

/// Looks up every ECR image to deploy (when `VERIFY_IMAGE`), by full reference.
pub async fn look_up(
    config: &Config,
    credentials: aws::Credentials,
) -> HashMap<String, Result<String, Error>> {
    let mut found = HashMap::new();
    if !config.change.verify_image {
        return found;
    }
    for (_, image) in plan::images_to_set(config) {
        if let Some(ecr_image) = image.ecr()
            && !found.contains_key(&image.full)
        {
            let client = aws::ecr_client(
                &ecr_image.region,
                config.credentials.endpoints.ecr.as_deref(),
                credentials.clone(),
            );
            let digest = ecr::image_digest(&client, &ecr_image, &image.full).await;
            found.insert(image.full.clone(), digest);
        }
    }
    found
}

/// Reports the ECR check of one image; a missing image stops the deploy here.
pub fn report_image(
    config: &Config,
    image: &ImageRef,
    lookup: Option<Result<String, Error>>,
    report: &Reporter,
) -> Result<Option<String>, Error> {
    if !config.change.verify_image {
        return Ok(None);
    }
    let Some(lookup) = lookup else {
        report.detail(&format!("{image} is not in ECR; not checked"));
        return Ok(None);
    };
    report.step(&format!("Checking that {image} exists in ECR"));
    let digest = lookup?;
    report.detail(&format!("found, digest {digest}"));
    Ok(Some(digest))
}
