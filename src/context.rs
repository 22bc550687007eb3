//! Where the deploy comes from: the `BITBUCKET_*` variables Bitbucket sets, for session
//! names, log lines, tags and the trust policy. They are Bitbucket's, not the pipe's, so they
//! have no definition in [`crate::vars`]: this is context, not configuration, and it is read
//! with `envy` into one struct whose field names are the variables' names without the prefix.

use serde::Deserialize;

/// Where the deploy comes from. Every field is optional: a local run has none of them.
#[derive(Debug, Clone, Default, Deserialize)]
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

impl BitbucketContext {
    /// Reads the context from (name, value) pairs: the same ones the configuration gets, so
    /// tests pass a vector and never touch the process environment. Values are trimmed, and a
    /// blank one counts as absent, as for the pipe's own variables.
    pub fn from_vars<I>(vars: I) -> Self
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let ours = vars
            .into_iter()
            .filter(|(name, _)| name.starts_with(PREFIX))
            .map(|(name, value)| (name, value.trim().to_string()))
            .filter(|(_, value)| !value.is_empty());
        // Every field is an optional string, so envy has nothing to refuse; should it ever,
        // no context is better than no deploy.
        envy::prefixed(PREFIX)
            .from_iter::<_, Self>(ours)
            .unwrap_or_default()
    }
}

const PREFIX: &str = "BITBUCKET_";
