//! The IAM-policy section: `PRINT_IAM_POLICY` prints the policies this deploy needs instead
//! of deploying, with a trust policy scoped by `IAM_TRUST_SCOPE`.

use crate::error::Problem;
use crate::vars;

use super::raw::Raw;
use crate::context::BitbucketContext;

/// Which steps the printed trust policy lets assume the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustScope {
    /// Every step of the repository: `{REPO_UUID}:*`.
    Repository,
    /// Only steps of this deployment environment: `{REPO_UUID}:{ENV_UUID}:*`.
    Environment,
}

/// The IAM-policy section of [`super::Config`].
#[derive(Debug, Clone)]
pub struct IamPolicy {
    /// `PRINT_IAM_POLICY`: print the IAM policies this deploy needs and exit.
    pub print: bool,
    /// `IAM_TRUST_SCOPE`: scope of the printed trust policy.
    pub trust_scope: TrustScope,
}

/// Reads whether to print; first, because it decides whether the token is needed.
pub fn print(raw: &Raw, problems: &mut Vec<Problem>) -> bool {
    raw.boolean(&vars::PRINT_IAM_POLICY, problems)
}

/// Reads the section; `print` comes from [`print()`].
pub fn read(
    raw: &Raw,
    print: bool,
    context: &BitbucketContext,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> IamPolicy {
    let var = &vars::IAM_TRUST_SCOPE;
    let trust_scope = match raw.text(var).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("repository") => TrustScope::Repository,
        Some("environment") => TrustScope::Environment,
        Some(other) => {
            problems.push(Problem::new(
                var.name,
                format!("must be repository or environment, got {other:?}"),
            ));
            TrustScope::Repository
        }
    };
    if trust_scope == TrustScope::Environment
        && context.deployment_environment_uuid.is_none()
        && print
    {
        warnings.push("IAM_TRUST_SCOPE is environment but this step has no `deployment:`; the trust policy shows a placeholder for the environment UUID".into());
    }
    IamPolicy { print, trust_scope }
}
