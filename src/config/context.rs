//! Where the deploy comes from: the `BITBUCKET_*` variables Bitbucket sets, for session
//! names, log lines, tags and the trust policy. They are Bitbucket's, not the pipe's, so they
//! have no definition in [`crate::vars`].

use super::raw::Raw;

/// Where the deploy comes from.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)]
pub struct BitbucketContext {
    pub workspace: Option<String>,
    pub workspace_uuid: Option<String>,
    pub repo_slug: Option<String>,
    pub repo_full_name: Option<String>,
    pub repo_uuid: Option<String>,
    pub build_number: Option<String>,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub pipeline_uuid: Option<String>,
    pub step_uuid: Option<String>,
    pub deployment_environment: Option<String>,
    pub deployment_environment_uuid: Option<String>,
}

/// Reads the context; every variable is optional (a local run has none of them).
pub fn read(raw: &Raw) -> BitbucketContext {
    let get = |name: &str| raw.bitbucket(name);
    BitbucketContext {
        workspace: get("BITBUCKET_WORKSPACE"),
        workspace_uuid: get("BITBUCKET_WORKSPACE_UUID"),
        repo_slug: get("BITBUCKET_REPO_SLUG"),
        repo_full_name: get("BITBUCKET_REPO_FULL_NAME"),
        repo_uuid: get("BITBUCKET_REPO_UUID"),
        build_number: get("BITBUCKET_BUILD_NUMBER"),
        commit: get("BITBUCKET_COMMIT"),
        branch: get("BITBUCKET_BRANCH"),
        tag: get("BITBUCKET_TAG"),
        pipeline_uuid: get("BITBUCKET_PIPELINE_UUID"),
        step_uuid: get("BITBUCKET_STEP_UUID"),
        deployment_environment: get("BITBUCKET_DEPLOYMENT_ENVIRONMENT"),
        deployment_environment_uuid: get("BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID"),
    }
}
