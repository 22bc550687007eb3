//! The credentials section: how the pipe gets AWS credentials, and where it sends its calls.

use crate::error::Problem;
use crate::secret::Secret;
use crate::vars;

use super::raw::Raw;
use crate::context::BitbucketContext;

/// Default STS session length, as in aws-actions/configure-aws-credentials.
pub const DEFAULT_ROLE_DURATION_SECONDS: i32 = 3600;

/// How the pipe gets AWS credentials. There is deliberately no "default chain" variant:
/// the pipe never looks at instance metadata, profiles or files.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Bitbucket OIDC: the step's token is exchanged with STS AssumeRoleWithWebIdentity.
    Oidc {
        /// `AWS_OIDC_ROLE_ARN`.
        role_arn: String,
        /// `BITBUCKET_STEP_OIDC_TOKEN`.
        token: Secret,
        /// The STS session name, which CloudTrail shows next to every call the deploy makes.
        session_name: String,
        /// Requested session length in seconds.
        duration_seconds: i32,
    },
    /// Static keys from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`).
    StaticKeys {
        /// The access key id (not secret on its own, but not printed either).
        access_key_id: Secret,
        /// The secret key.
        secret_access_key: Secret,
        /// The session token of temporary keys.
        session_token: Option<Secret>,
    },
}

/// Endpoint overrides, per the SDKs' shared `AWS_ENDPOINT_URL[_SERVICE]` convention.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// STS endpoint, if overridden.
    pub sts: Option<String>,
    /// ECS endpoint, if overridden.
    pub ecs: Option<String>,
    /// ECR endpoint, if overridden.
    pub ecr: Option<String>,
    /// CloudWatch Logs endpoint, if overridden (`AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, the
    /// SDKs' name for the service id `CloudWatch Logs`).
    pub logs: Option<String>,
    /// EventBridge endpoint, if overridden (`AWS_ENDPOINT_URL_EVENTBRIDGE`).
    pub events: Option<String>,
    /// EventBridge Scheduler endpoint, if overridden (`AWS_ENDPOINT_URL_SCHEDULER`).
    pub scheduler: Option<String>,
    /// CodeDeploy endpoint, if overridden.
    pub codedeploy: Option<String>,
    /// IAM endpoint, if overridden (`PREFLIGHT`).
    pub iam: Option<String>,
    /// Secrets Manager endpoint, if overridden (`AWS_ENDPOINT_URL_SECRETS_MANAGER`; `PREFLIGHT`).
    pub secrets: Option<String>,
    /// SSM endpoint, if overridden (`PREFLIGHT`).
    pub ssm: Option<String>,
}

/// The credentials section of [`super::Config`].
#[derive(Debug, Clone)]
pub struct Credentials {
    /// How to get credentials.
    pub auth: Auth,
    /// Endpoint overrides.
    pub endpoints: Endpoints,
}

/// Reads the credentials section. `print_only`: only the IAM policies are printed, which needs
/// no token. `None` when a problem was recorded.
pub fn read(
    raw: &Raw,
    context: &BitbucketContext,
    print_only: bool,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> Option<Credentials> {
    let auth = match raw.text(&vars::AWS_OIDC_ROLE_ARN) {
        Some(role_arn) => oidc(raw, role_arn, context, print_only, problems, warnings),
        None => static_keys(raw, problems, warnings),
    };
    let endpoints = endpoints(raw, problems);
    Some(Credentials {
        auth: auth?,
        endpoints,
    })
}

/// No role: static keys, or a problem that says how to give credentials.
fn static_keys(raw: &Raw, problems: &mut Vec<Problem>, warnings: &mut Vec<String>) -> Option<Auth> {
    if raw.text(&vars::AWS_ROLE_SESSION_NAME).is_some()
        || raw.text(&vars::AWS_ROLE_DURATION_SECONDS).is_some()
    {
        warnings.push(
            "AWS_ROLE_SESSION_NAME and AWS_ROLE_DURATION_SECONDS only apply with AWS_OIDC_ROLE_ARN; ignoring them".into(),
        );
    }
    let session_token = raw.secret(&vars::AWS_SESSION_TOKEN);
    match (
        raw.secret(&vars::AWS_ACCESS_KEY_ID),
        raw.secret(&vars::AWS_SECRET_ACCESS_KEY),
    ) {
        (Some(access_key_id), Some(secret_access_key)) => Some(Auth::StaticKeys {
            access_key_id,
            secret_access_key,
            session_token,
        }),
        (Some(_), None) => {
            problems.push(Problem::new(
                vars::AWS_SECRET_ACCESS_KEY.name,
                "is required when AWS_ACCESS_KEY_ID is set",
            ));
            None
        }
        (None, Some(_)) => {
            problems.push(Problem::new(
                vars::AWS_ACCESS_KEY_ID.name,
                "is required when AWS_SECRET_ACCESS_KEY is set",
            ));
            None
        }
        (None, None) => {
            let hint = if raw.bitbucket("BITBUCKET_STEP_OIDC_TOKEN").is_some() {
                "is required: this step has an OIDC token, so set AWS_OIDC_ROLE_ARN to the role to assume, such as arn:aws:iam::123456789012:role/deploy"
            } else {
                "is required: no credentials were given. Set AWS_OIDC_ROLE_ARN and add `oidc: true` to the step (recommended), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            };
            problems.push(Problem::new(vars::AWS_OIDC_ROLE_ARN.name, hint));
            None
        }
    }
}

/// A role: the step's token is exchanged for it; keys are never a fallback.
fn oidc(
    raw: &Raw,
    role_arn: String,
    context: &BitbucketContext,
    print_only: bool,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> Option<Auth> {
    let before = problems.len();
    if !is_valid_role_arn(&role_arn) {
        problems.push(Problem::new(
            vars::AWS_OIDC_ROLE_ARN.name,
            format!("must be an IAM role ARN such as arn:aws:iam::123456789012:role/deploy, got {role_arn:?}"),
        ));
    }
    let token = raw.bitbucket("BITBUCKET_STEP_OIDC_TOKEN").map(Secret::new);
    if token.is_none() && !print_only {
        problems.push(Problem::new(
            "BITBUCKET_STEP_OIDC_TOKEN",
            "is missing: AWS_OIDC_ROLE_ARN is set, so add `oidc: true` to this step in bitbucket-pipelines.yml (the pipe never falls back to access keys)",
        ));
    }
    if raw.text(&vars::AWS_ACCESS_KEY_ID).is_some()
        || raw.text(&vars::AWS_SECRET_ACCESS_KEY).is_some()
    {
        warnings.push(
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are ignored because AWS_OIDC_ROLE_ARN is set; remove them from the step".into(),
        );
    }
    let session_name = role_session_name(raw, context, problems);
    let duration_seconds = role_duration(raw, problems);
    if problems.len() > before {
        return None;
    }
    // Printing policies makes no AWS call, so it needs no token (say, on a laptop).
    let token = token.unwrap_or_else(|| Secret::new(""));
    Some(Auth::Oidc {
        role_arn,
        token,
        session_name,
        duration_seconds,
    })
}

fn role_session_name(raw: &Raw, context: &BitbucketContext, problems: &mut Vec<Problem>) -> String {
    match raw.text(&vars::AWS_ROLE_SESSION_NAME) {
        Some(name) if is_valid_session_name(&name) => name,
        Some(name) => {
            problems.push(Problem::new(
                vars::AWS_ROLE_SESSION_NAME.name,
                format!("must be 2 to 64 characters of letters, digits and _+=,.@- , got {name:?}"),
            ));
            String::new()
        }
        None => session_name(
            context.repo_slug.as_deref(),
            context.build_number.as_deref(),
        ),
    }
}

fn role_duration(raw: &Raw, problems: &mut Vec<Problem>) -> i32 {
    let Some(v) = raw.text(&vars::AWS_ROLE_DURATION_SECONDS) else {
        return DEFAULT_ROLE_DURATION_SECONDS;
    };
    match v.parse::<i32>() {
        Ok(n) if (900..=43_200).contains(&n) => n,
        _ => {
            problems.push(Problem::new(
                vars::AWS_ROLE_DURATION_SECONDS.name,
                format!("must be whole seconds between 900 and 43200 (and at most the role's maximum session duration), got {v:?}"),
            ));
            DEFAULT_ROLE_DURATION_SECONDS
        }
    }
}

fn endpoints(raw: &Raw, problems: &mut Vec<Problem>) -> Endpoints {
    let default = endpoint(raw, &vars::AWS_ENDPOINT_URL, problems);
    let mut each = |var: &vars::Var| endpoint(raw, var, problems).or_else(|| default.clone());
    Endpoints {
        sts: each(&vars::AWS_ENDPOINT_URL_STS),
        ecs: each(&vars::AWS_ENDPOINT_URL_ECS),
        ecr: each(&vars::AWS_ENDPOINT_URL_ECR),
        logs: each(&vars::AWS_ENDPOINT_URL_CLOUDWATCH_LOGS),
        events: each(&vars::AWS_ENDPOINT_URL_EVENTBRIDGE),
        scheduler: each(&vars::AWS_ENDPOINT_URL_SCHEDULER),
        codedeploy: each(&vars::AWS_ENDPOINT_URL_CODEDEPLOY),
        iam: each(&vars::AWS_ENDPOINT_URL_IAM),
        secrets: each(&vars::AWS_ENDPOINT_URL_SECRETS_MANAGER),
        ssm: each(&vars::AWS_ENDPOINT_URL_SSM),
    }
}

fn endpoint(raw: &Raw, var: &vars::Var, problems: &mut Vec<Problem>) -> Option<String> {
    let value = raw.text(var)?;
    if value.starts_with("http://") || value.starts_with("https://") {
        Some(value)
    } else {
        problems.push(Problem::new(
            var.name,
            format!("must be a URL starting with https:// or http://, got {value:?}"),
        ));
        None
    }
}

/// True for an IAM role ARN in any partition.
pub fn is_valid_role_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    partition.starts_with("aws")
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource
            .strip_prefix("role/")
            .is_some_and(|name| !name.is_empty())
}

/// The STS session name: `bitbucket-<repo>-<build>` made valid for STS
/// (2-64 characters of `[\w+=,.@-]`), so CloudTrail says which pipeline deployed.
pub fn session_name(repo_slug: Option<&str>, build_number: Option<&str>) -> String {
    let mut name = String::from("bitbucket");
    for part in [repo_slug, build_number].into_iter().flatten() {
        name.push('-');
        name.push_str(part);
    }
    let mut name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.len() > 64 {
        // Keep the build number, which is what tells two runs of one repository apart.
        let tail = build_number
            .map(|b| format!("-{b}"))
            .filter(|t| t.len() < 32 && t.is_ascii());
        match tail {
            Some(tail) if name.ends_with(&tail) => {
                let head = &name[..64 - tail.len()];
                name = format!("{head}{tail}");
            }
            _ => name.truncate(64),
        }
    }
    name
}

fn is_valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}
