//! The ECR adapter: does the image exist, and what is its digest?

use aws_sdk_ecr::types::ImageIdentifier;

use crate::error::{AwsError, Error};
use crate::model::image::EcrImage;

/// Finds the image's digest, or explains that it does not exist.
pub async fn image_digest(
    client: &aws_sdk_ecr::Client,
    image: &EcrImage,
    full: &str,
) -> Result<String, Error> {
    let id = ImageIdentifier::builder()
        .set_image_tag(if image.digest.is_some() {
            None
        } else {
            image.tag.clone()
        })
        .set_image_digest(image.digest.clone())
        .build();
    let result = client
        .describe_images()
        .registry_id(&image.account)
        .repository_name(&image.repository)
        .image_ids(id)
        .send()
        .await;
    match result {
        Ok(out) => out
            .image_details()
            .first()
            .and_then(|d| d.image_digest())
            .map(str::to_string)
            .ok_or_else(|| Error::ImageNotFound {
                image: full.to_string(),
                detail: "ECR returned no image".into(),
            }),
        Err(e) => {
            let service = e.as_service_error();
            if service.is_some_and(|s| s.is_image_not_found_exception()) {
                let what = match (&image.digest, &image.tag) {
                    (Some(d), _) => format!("no image with digest {d}"),
                    (None, Some(t)) => format!("no image tagged {t:?}"),
                    (None, None) => "no such image".into(),
                };
                return Err(Error::ImageNotFound {
                    image: full.to_string(),
                    detail: format!(
                        "repository {} in account {} has {what}",
                        image.repository, image.account
                    ),
                });
            }
            if service.is_some_and(|s| s.is_repository_not_found_exception()) {
                return Err(Error::ImageNotFound {
                    image: full.to_string(),
                    detail: format!(
                        "there is no repository {} in account {} ({})",
                        image.repository, image.account, image.region
                    ),
                });
            }
            Err(Error::Aws {
                step: format!("checking that {full} exists"),
                err: Box::new(AwsError::from_sdk("ecr:DescribeImages", &e)),
                changed: crate::error::Changed::Nothing,
            })
        }
    }
}

/// True when the repository has a repository policy (`GetRepositoryPolicy`), which IAM's
/// simulation of the execution role does not see. For `PREFLIGHT`.
pub async fn has_repository_policy(
    client: &aws_sdk_ecr::Client,
    image: &EcrImage,
) -> Result<bool, AwsError> {
    let result = client
        .get_repository_policy()
        .registry_id(&image.account)
        .repository_name(&image.repository)
        .send()
        .await;
    match result {
        Ok(out) => Ok(out.policy_text().is_some_and(|p| !p.trim().is_empty())),
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_repository_policy_not_found_exception()
                    || s.is_repository_not_found_exception()
            }) =>
        {
            Ok(false)
        }
        Err(e) => Err(AwsError::from_sdk("ecr:GetRepositoryPolicy", &e)),
    }
}
