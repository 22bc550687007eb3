//! Pipe variables → a validated [`Config`], with every problem reported at once.
//!
//! Two stages, as in ripgrep's low/high arguments: `envy` reads [`RawVars`], where every
//! field is an optional string so that nothing stops at the first bad value, and
//! [`Config::from_vars`] turns them into typed values, collecting a [`Problem`] per bad
//! variable. Nothing here talks to AWS; the only I/O is reading the `TASK_DEFINITION`
//! file, so that a broken file is reported together with everything else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Problem};
use crate::image::ImageRef;
use crate::secret::Secret;

/// Default STS session length, as in aws-actions/configure-aws-credentials.
pub const DEFAULT_ROLE_DURATION_SECONDS: i32 = 3600;
/// Default `WAIT_TIMEOUT`: long enough for a slow health check grace period and drain.
pub const DEFAULT_WAIT_TIMEOUT_SECONDS: u64 = 1800;
/// Default `PRE_DEPLOY_TIMEOUT`: a long migration still fits; a hung one does not hold the
/// step for the whole `WAIT_TIMEOUT`.
pub const DEFAULT_PRE_DEPLOY_TIMEOUT_SECONDS: u64 = 900;
/// Default `WAIT_INTERVAL`.
pub const DEFAULT_WAIT_INTERVAL_SECONDS: u64 = 5;
/// Default `LOG_LINES`: enough for a stack trace's top and the lines before it.
pub const DEFAULT_LOG_LINES: u32 = 20;
/// The most `LOG_LINES` may ask for: more would bury the verdict in the pipeline log.
pub const MAX_LOG_LINES: u32 = 500;

/// The variables exactly as they arrived: blank counts as missing, nothing is parsed yet.
#[derive(Debug, Default, Deserialize)]
#[allow(missing_docs)]
pub struct RawVars {
    pub aws_default_region: Option<String>,
    pub aws_region: Option<String>,
    pub aws_oidc_role_arn: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret>,
    pub aws_session_token: Option<Secret>,
    pub aws_role_session_name: Option<String>,
    pub aws_role_duration_seconds: Option<String>,
    pub aws_endpoint_url: Option<String>,
    pub aws_endpoint_url_sts: Option<String>,
    pub aws_endpoint_url_ecs: Option<String>,
    pub aws_endpoint_url_ecr: Option<String>,
    pub aws_endpoint_url_cloudwatch_logs: Option<String>,
    pub aws_endpoint_url_codedeploy: Option<String>,
    pub codedeploy_application: Option<String>,
    pub codedeploy_deployment_group: Option<String>,
    pub codedeploy_deployment_config: Option<String>,
    pub cluster_name: Option<String>,
    pub service_name: Option<String>,
    pub image: Option<String>,
    pub container_name: Option<String>,
    pub task_definition: Option<String>,
    pub verify_image: Option<String>,
    pub force_new_deployment: Option<String>,
    pub desired_count: Option<String>,
    pub wait: Option<String>,
    pub wait_timeout: Option<String>,
    pub wait_interval: Option<String>,
    pub rollback_on_failure: Option<String>,
    pub pre_deploy_command: Option<String>,
    pub pre_deploy_container: Option<String>,
    pub pre_deploy_timeout: Option<String>,
    pub log_lines: Option<String>,
    pub dry_run: Option<String>,
    pub keep_revisions: Option<String>,
    pub tag_service: Option<String>,
    pub print_iam_policy: Option<String>,
    pub iam_trust_scope: Option<String>,
    pub debug: Option<String>,
    pub no_color: Option<String>,
    pub bitbucket_step_oidc_token: Option<Secret>,
    pub bitbucket_build_number: Option<String>,
    pub bitbucket_clone_dir: Option<String>,
    pub bitbucket_commit: Option<String>,
    pub bitbucket_branch: Option<String>,
    pub bitbucket_tag: Option<String>,
    pub bitbucket_workspace: Option<String>,
    pub bitbucket_workspace_uuid: Option<String>,
    pub bitbucket_pipe_shared_storage_dir: Option<String>,
    pub bitbucket_repo_slug: Option<String>,
    pub bitbucket_repo_full_name: Option<String>,
    pub bitbucket_repo_uuid: Option<String>,
    pub bitbucket_pipeline_uuid: Option<String>,
    pub bitbucket_step_uuid: Option<String>,
    pub bitbucket_deployment_environment: Option<String>,
    pub bitbucket_deployment_environment_uuid: Option<String>,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// Old variable names still accepted: (old, replacement, the major version that drops it).
/// Within a major version a variable is never renamed; it is aliased here, with a warning.
pub const DEPRECATED: &[(&str, &str, &str)] = &[
    // atlassian/aws-ecs-deploy documented IMAGE_NAME; users switching keep their step working.
    ("IMAGE_NAME", "IMAGE", "2.0.0"),
];

/// Applies [`DEPRECATED`]: an old name fills in its replacement, with a warning; both set to
/// different values is a problem.
pub fn apply_deprecations(
    vars: &mut Vec<(String, String)>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) {
    for (old, new, removed_in) in DEPRECATED {
        let value = |name: &str, vars: &[(String, String)]| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let Some(old_value) = value(old, vars) else {
            continue;
        };
        match value(new, vars) {
            None => {
                warnings.push(format!(
                    "{old} is deprecated and will stop working in {removed_in}; rename it to {new} in bitbucket-pipelines.yml"
                ));
                vars.retain(|(k, _)| k != new);
                vars.push(((*new).to_string(), old_value));
            }
            Some(new_value) if new_value != old_value => problems.push(Problem::new(
                old,
                format!("is deprecated and differs from {new}; remove {old} and keep {new}"),
            )),
            Some(_) => warnings.push(format!(
                "{old} is deprecated and will stop working in {removed_in}; remove it, {new} is set"
            )),
        }
    }
}

/// Reads a Bitbucket list variable: `NAME_COUNT` and `NAME_0` … `NAME_{n-1}`, or a plain `NAME`
/// holding one item.
pub fn read_list(
    vars: &[(String, String)],
    name: &str,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let get = |key: &str| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let count_name = format!("{name}_COUNT");
    let Some(count) = get(&count_name) else {
        return get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .into_iter()
            .collect();
    };
    let Ok(count) = count.trim().parse::<usize>() else {
        problems.push(Problem::new(
            &count_name,
            format!("must be a number, got {count:?}; write {name} as a YAML list"),
        ));
        return Vec::new();
    };
    let mut items = Vec::new();
    for i in 0..count {
        match get(&format!("{name}_{i}")) {
            Some(v) if !v.trim().is_empty() => items.push(v.trim().to_string()),
            _ => problems.push(Problem::new(
                &format!("{name}_{i}"),
                format!("is missing or empty, but {count_name} is {count}"),
            )),
        }
    }
    items
}

/// `key=value` pairs split at the first `=`.
fn parse_pairs(
    name: &str,
    items: &[String],
    what: &str,
    example: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                let key = k.trim().to_string();
                if pairs.iter().any(|(existing, _)| *existing == key) {
                    problems.push(Problem::new(name, format!("names {what} {key:?} twice")));
                } else {
                    pairs.push((key, v.trim().to_string()));
                }
            }
            _ => problems.push(Problem::new(
                name,
                format!("items must look like {example}, got {item:?}"),
            )),
        }
    }
    pairs
}

/// True for a valid ECS tag key or value (letters, digits, spaces and `+ - = . _ : / @`).
fn is_valid_tag_text(text: &str, max: usize) -> bool {
    text.chars().count() <= max
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c))
}

/// Prefix of the tags the pipe writes itself; it owns and updates them.
pub const AUDIT_TAG_PREFIX: &str = "bitbucket:";

/// Which steps the printed trust policy lets assume the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustScope {
    /// Every step of the repository: `{REPO_UUID}:*`.
    Repository,
    /// Only steps of this deployment environment: `{REPO_UUID}:{ENV_UUID}:*`.
    Environment,
}

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

/// Reads `PRE_DEPLOY_COMMAND`: a JSON array of strings is the argument list as it is; any
/// other value is split as a POSIX shell would split it (quotes and backslashes), without
/// running a shell. `None` means the value is bad; the problem is recorded.
pub fn parse_command(value: &str, problems: &mut Vec<Problem>) -> Option<Vec<String>> {
    let name = "PRE_DEPLOY_COMMAND";
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
    if args.is_empty() || args[0].is_empty() {
        problems.push(Problem::new(
            name,
            format!("names no program to run: {value:?}"),
        ));
        return None;
    }
    Some(args)
}

/// The CodeDeploy variables. A group needs its application; the names are CodeDeploy's
/// (1 to 100 characters), checked by CodeDeploy itself.
fn code_deploy_options(
    application: Option<String>,
    group: Option<String>,
    deployment_config: Option<String>,
    hooks: &[String],
    problems: &mut Vec<Problem>,
) -> crate::blue_green::Options {
    if group.is_some() && application.is_none() {
        problems.push(Problem::new(
            "CODEDEPLOY_DEPLOYMENT_GROUP",
            "needs CODEDEPLOY_APPLICATION, the application the group belongs to",
        ));
    }
    crate::blue_green::Options {
        application,
        group,
        hooks: crate::appspec::parse_hooks(hooks, problems),
        deployment_config,
    }
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
    /// CodeDeploy endpoint, if overridden.
    pub codedeploy: Option<String>,
}

/// Where the deploy comes from, for session names, logs and tags.
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

/// A task definition file from the repository, already parsed.
#[derive(Clone)]
pub struct TaskDefinitionFile {
    /// The path as the user wrote it, for messages.
    pub display: String,
    /// The parsed JSON.
    pub json: serde_json::Value,
}

/// Only the path: the file holds environment values, which may be secrets, and `DEBUG`
/// prints the whole configuration.
impl std::fmt::Debug for TaskDefinitionFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskDefinitionFile")
            .field("display", &self.display)
            .field("json", &"(not printed)")
            .finish()
    }
}

/// List variables, read before `envy` sees the rest.
#[derive(Debug, Default)]
struct Lists {
    tags: Vec<String>,
    container_images: Vec<String>,
    service_names: Vec<String>,
    codedeploy_hooks: Vec<String>,
}

/// Everything a deploy needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The region of the cluster.
    pub region: String,
    /// How to get credentials.
    pub auth: Auth,
    /// Endpoint overrides.
    pub endpoints: Endpoints,
    /// `CLUSTER_NAME`: name or ARN.
    pub cluster: String,
    /// `SERVICE_NAME`, or every service of `SERVICE_NAMES`: names or ARNs, in the order given.
    pub services: Vec<String>,
    /// `IMAGE`.
    pub image: Option<ImageRef>,
    /// `CONTAINER_NAME`.
    pub container: Option<String>,
    /// `TASK_DEFINITION`.
    pub task_definition_file: Option<TaskDefinitionFile>,
    /// `VERIFY_IMAGE`.
    pub verify_image: bool,
    /// `FORCE_NEW_DEPLOYMENT`.
    pub force_new_deployment: bool,
    /// `DESIRED_COUNT`.
    pub desired_count: Option<i32>,
    /// `WAIT`.
    pub wait: bool,
    /// `WAIT_TIMEOUT`.
    pub wait_timeout: Duration,
    /// `WAIT_INTERVAL`.
    pub wait_interval: Duration,
    /// `ROLLBACK_ON_FAILURE`.
    pub rollback_on_failure: bool,
    /// `PRE_DEPLOY_COMMAND` (with its container and timeout): a one-off task run with the new
    /// revision before any service is updated.
    pub pre_deploy: Option<PreDeploy>,
    /// `LOG_LINES`: lines of each failed container's log shown on a failure; 0 shows none.
    pub log_lines: u32,
    /// `CONTAINER_IMAGES`: (container, image) pairs, for several containers in one deploy.
    pub container_images: Vec<(String, ImageRef)>,
    /// `DRY_RUN`: stop before the first change and show what would change.
    pub dry_run: bool,
    /// `KEEP_REVISIONS`: after a verified deploy, deregister older ACTIVE revisions beyond this many.
    pub keep_revisions: Option<u32>,
    /// `TAGS`: user tags for the new revision.
    pub tags: Vec<(String, String)>,
    /// `TAG_SERVICE`: tag the service with the last deploy.
    pub tag_service: bool,
    /// `PRINT_IAM_POLICY`: print the IAM policies this deploy needs and exit.
    pub print_iam_policy: bool,
    /// `IAM_TRUST_SCOPE`: scope of the printed trust policy.
    pub trust_scope: TrustScope,
    /// Where results for later steps go: `$BITBUCKET_PIPE_SHARED_STORAGE_DIR/ecs-oidc-deploy`.
    pub outputs_dir: Option<PathBuf>,
    /// `DEBUG`.
    pub debug: bool,
    /// Colour the output (off with `NO_COLOR`).
    pub color: bool,
    /// The Bitbucket build this deploy runs in.
    pub context: BitbucketContext,
    /// Things worth saying that are not errors, printed before the deploy starts.
    pub warnings: Vec<String>,
    /// `CODEDEPLOY_APPLICATION`, `CODEDEPLOY_DEPLOYMENT_GROUP`, `CODEDEPLOY_HOOKS` and
    /// `CODEDEPLOY_DEPLOYMENT_CONFIG`, for services whose deployments CodeDeploy runs.
    pub code_deploy: crate::blue_green::Options,
    /// How long the log may stay quiet while waiting before a heartbeat line. Not a pipe
    /// variable: [`HEARTBEAT`] in every run, shorter only in tests.
    pub heartbeat: Duration,
}

/// A quiet log looks like a hung step; say something at least this often.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

fn clean(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn clean_secret(value: Option<Secret>) -> Option<Secret> {
    value
        .map(|v| Secret::new(v.expose().trim()))
        .filter(|v| !v.expose().is_empty())
}

/// Parses a boolean variable: `true` or `false` in any case.
pub fn parse_bool(
    name: &str,
    value: Option<&str>,
    default: bool,
    problems: &mut Vec<Problem>,
) -> bool {
    match value {
        None => default,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            problems.push(Problem::new(
                name,
                format!("must be true or false, got {v:?}"),
            ));
            default
        }
    }
}

fn parse_seconds(
    name: &str,
    value: Option<&str>,
    default: u64,
    min: u64,
    max: u64,
    problems: &mut Vec<Problem>,
) -> u64 {
    let Some(v) = value else { return default };
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => n,
        Ok(n) => {
            problems.push(Problem::new(
                name,
                format!("must be between {min} and {max} seconds, got {n}"),
            ));
            default
        }
        Err(_) => {
            problems.push(Problem::new(
                name,
                format!("must be whole seconds such as {default}, got {v:?}"),
            ));
            default
        }
    }
}

/// `WAIT_INTERVAL` accepts decimals (`0.5`) so that tests and impatient users can poll fast.
fn parse_interval(value: Option<&str>, problems: &mut Vec<Problem>) -> Duration {
    let default = Duration::from_secs(DEFAULT_WAIT_INTERVAL_SECONDS);
    let Some(v) = value else { return default };
    match v.parse::<f64>() {
        Ok(n) if n.is_finite() && (0.01..=300.0).contains(&n) => Duration::from_secs_f64(n),
        _ => {
            problems.push(Problem::new(
                "WAIT_INTERVAL",
                format!("must be a number of seconds between 0.01 and 300, such as 5, got {v:?}"),
            ));
            default
        }
    }
}

/// `LOG_LINES`: 0 (off) up to [`MAX_LOG_LINES`].
fn parse_log_lines(value: Option<&str>, problems: &mut Vec<Problem>) -> u32 {
    let Some(v) = value else {
        return DEFAULT_LOG_LINES;
    };
    match v.parse::<u32>() {
        Ok(n) if n <= MAX_LOG_LINES => n,
        _ => {
            problems.push(Problem::new(
                "LOG_LINES",
                format!("must be a whole number of lines from 0 (off) to {MAX_LOG_LINES}, such as {DEFAULT_LOG_LINES}, got {v:?}"),
            ));
            DEFAULT_LOG_LINES
        }
    }
}

/// True for `eu-west-1`, `us-gov-west-1`, `cn-northwest-1` and the like.
pub fn is_valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
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

fn check_ecs_name(name: &str, value: &str, kind: &str, problems: &mut Vec<Problem>) {
    if value.starts_with("arn:") {
        if !value.contains(":ecs:") || !value.contains(&format!(":{kind}/")) {
            problems.push(Problem::new(
                name,
                format!("looks like an ARN but not an ECS {kind} ARN (arn:aws:ecs:<region>:<account>:{kind}/...), got {value:?}"),
            ));
        }
    } else if value.len() > 255
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        problems.push(Problem::new(
            name,
            format!(
                "must be the {kind} name (letters, digits, '-' and '_') or its ARN, got {value:?}"
            ),
        ));
    }
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

fn check_endpoint(
    name: &str,
    value: Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let value = clean(value)?;
    if value.starts_with("http://") || value.starts_with("https://") {
        Some(value)
    } else {
        problems.push(Problem::new(
            name,
            format!("must be a URL starting with https:// or http://, got {value:?}"),
        ));
        None
    }
}

/// The `PRE_DEPLOY_*` variables; the container and timeout only mean something with a command.
fn pre_deploy(
    command: Option<String>,
    container: Option<String>,
    timeout: Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<PreDeploy> {
    let timeout_set = timeout.is_some();
    let timeout = Duration::from_secs(parse_seconds(
        "PRE_DEPLOY_TIMEOUT",
        timeout.as_deref(),
        DEFAULT_PRE_DEPLOY_TIMEOUT_SECONDS,
        1,
        6 * 3600,
        problems,
    ));
    let Some(command) = command else {
        for (name, set) in [
            ("PRE_DEPLOY_CONTAINER", container.is_some()),
            ("PRE_DEPLOY_TIMEOUT", timeout_set),
        ] {
            if set {
                problems.push(Problem::new(
                    name,
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

/// `SERVICE_NAME` for one service or `SERVICE_NAMES` for several; never both, never a name twice.
fn services(single: Option<String>, list: Vec<String>, problems: &mut Vec<Problem>) -> Vec<String> {
    match (single, list.is_empty()) {
        (Some(_), false) => {
            problems.push(Problem::new(
                "SERVICE_NAMES",
                "cannot be combined with SERVICE_NAME; list every service in SERVICE_NAMES, or set SERVICE_NAME for one service",
            ));
            Vec::new()
        }
        (Some(service), true) => {
            check_ecs_name("SERVICE_NAME", &service, "service", problems);
            vec![service]
        }
        (None, false) => {
            let mut seen: Vec<&str> = Vec::new();
            for service in &list {
                let short = service.rsplit('/').next().unwrap_or(service);
                if seen.contains(&short) {
                    problems.push(Problem::new(
                        "SERVICE_NAMES",
                        format!("names service {short:?} twice"),
                    ));
                }
                seen.push(short);
                if service.contains([',', ' ']) {
                    problems.push(Problem::new(
                        "SERVICE_NAMES",
                        format!("must be a YAML list such as ['web', 'worker'], one service per item, got {service:?}"),
                    ));
                } else {
                    check_ecs_name("SERVICE_NAMES", service, "service", problems);
                }
            }
            list
        }
        (None, true) => {
            problems.push(Problem::new(
                "SERVICE_NAME",
                "is required: the ECS service name or ARN, such as web (or SERVICE_NAMES: ['web', 'worker'] for several services)",
            ));
            Vec::new()
        }
    }
}

impl Config {
    /// Reads and validates variables given as (name, value) pairs: `std::env::vars()` in the
    /// binary, a plain vector in tests.
    pub fn from_vars<I>(vars: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        apply_deprecations(&mut vars, &mut problems, &mut warnings);
        let lists = Lists {
            tags: read_list(&vars, "TAGS", &mut problems),
            container_images: read_list(&vars, "CONTAINER_IMAGES", &mut problems),
            service_names: read_list(&vars, "SERVICE_NAMES", &mut problems),
            codedeploy_hooks: read_list(&vars, "CODEDEPLOY_HOOKS", &mut problems),
        };
        let raw: RawVars = envy::from_iter(vars).map_err(|e| {
            Error::Config(vec![Problem::new(
                "environment",
                format!("could not be read: {e}"),
            )])
        })?;
        Self::validate(raw, lists, problems, warnings)
    }

    /// Validates raw variables; see [`Config::from_vars`].
    fn validate(
        raw: RawVars,
        lists: Lists,
        mut problems: Vec<Problem>,
        mut warnings: Vec<String>,
    ) -> Result<Self, Error> {
        let print_iam_policy = parse_bool(
            "PRINT_IAM_POLICY",
            clean(raw.print_iam_policy).as_deref(),
            false,
            &mut problems,
        );

        let context = BitbucketContext {
            workspace: clean(raw.bitbucket_workspace),
            workspace_uuid: clean(raw.bitbucket_workspace_uuid),
            repo_slug: clean(raw.bitbucket_repo_slug),
            repo_full_name: clean(raw.bitbucket_repo_full_name),
            repo_uuid: clean(raw.bitbucket_repo_uuid),
            build_number: clean(raw.bitbucket_build_number),
            commit: clean(raw.bitbucket_commit),
            branch: clean(raw.bitbucket_branch),
            tag: clean(raw.bitbucket_tag),
            pipeline_uuid: clean(raw.bitbucket_pipeline_uuid),
            step_uuid: clean(raw.bitbucket_step_uuid),
            deployment_environment: clean(raw.bitbucket_deployment_environment),
            deployment_environment_uuid: clean(raw.bitbucket_deployment_environment_uuid),
        };

        let region = match (clean(raw.aws_default_region), clean(raw.aws_region)) {
            (Some(a), Some(b)) if a != b => {
                problems.push(Problem::new(
                    "AWS_DEFAULT_REGION",
                    format!("is {a:?} but AWS_REGION is {b:?}; set only one of them"),
                ));
                a
            }
            (Some(r), _) | (None, Some(r)) => r,
            (None, None) => {
                problems.push(Problem::new(
                    "AWS_DEFAULT_REGION",
                    "is required: the region of the cluster, such as eu-west-1 (AWS_REGION also works)",
                ));
                String::new()
            }
        };
        if !region.is_empty() && !is_valid_region(&region) {
            problems.push(Problem::new(
                "AWS_DEFAULT_REGION",
                format!("must be a region code such as eu-west-1, got {region:?}"),
            ));
        }

        let auth = Self::auth(
            raw.aws_oidc_role_arn,
            raw.aws_access_key_id,
            raw.aws_secret_access_key,
            raw.aws_session_token,
            raw.bitbucket_step_oidc_token,
            raw.aws_role_session_name,
            raw.aws_role_duration_seconds,
            &context,
            print_iam_policy,
            &mut problems,
            &mut warnings,
        );

        let default_endpoint =
            check_endpoint("AWS_ENDPOINT_URL", raw.aws_endpoint_url, &mut problems);
        let endpoints = Endpoints {
            sts: check_endpoint(
                "AWS_ENDPOINT_URL_STS",
                raw.aws_endpoint_url_sts,
                &mut problems,
            )
            .or_else(|| default_endpoint.clone()),
            ecs: check_endpoint(
                "AWS_ENDPOINT_URL_ECS",
                raw.aws_endpoint_url_ecs,
                &mut problems,
            )
            .or_else(|| default_endpoint.clone()),
            ecr: check_endpoint(
                "AWS_ENDPOINT_URL_ECR",
                raw.aws_endpoint_url_ecr,
                &mut problems,
            )
            .or_else(|| default_endpoint.clone()),
            logs: check_endpoint(
                "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
                raw.aws_endpoint_url_cloudwatch_logs,
                &mut problems,
            )
            .or_else(|| default_endpoint.clone()),
            codedeploy: check_endpoint(
                "AWS_ENDPOINT_URL_CODEDEPLOY",
                raw.aws_endpoint_url_codedeploy,
                &mut problems,
            )
            .or_else(|| default_endpoint.clone()),
        };

        let cluster = clean(raw.cluster_name).unwrap_or_default();
        if cluster.is_empty() {
            problems.push(Problem::new(
                "CLUSTER_NAME",
                "is required: the ECS cluster name or ARN, such as prod",
            ));
        } else {
            check_ecs_name("CLUSTER_NAME", &cluster, "cluster", &mut problems);
        }
        let services = services(clean(raw.service_name), lists.service_names, &mut problems);

        let force_new_deployment = parse_bool(
            "FORCE_NEW_DEPLOYMENT",
            clean(raw.force_new_deployment).as_deref(),
            false,
            &mut problems,
        );
        let image = match clean(raw.image) {
            Some(v) => match ImageRef::parse(&v) {
                Ok(image) => Some(image),
                Err(why) => {
                    problems.push(Problem::new(
                        "IMAGE",
                        format!("{why}; expected a reference such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2, got {v:?}"),
                    ));
                    None
                }
            },
            None => None,
        };
        let image_given = image.is_some() || problems.iter().any(|p| p.variable == "IMAGE");

        let container_images: Vec<(String, ImageRef)> = parse_pairs(
            "CONTAINER_IMAGES",
            &lists.container_images,
            "container",
            "app=123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v2",
            &mut problems,
        )
        .into_iter()
        .filter_map(|(container, value)| match ImageRef::parse(&value) {
            Ok(image) => Some((container, image)),
            Err(why) => {
                problems.push(Problem::new(
                    "CONTAINER_IMAGES",
                    format!("image of container {container:?} {why}, got {value:?}"),
                ));
                None
            }
        })
        .collect();
        let container_images_given = !lists.container_images.is_empty();
        if container_images_given
            && (image_given
                || raw
                    .container_name
                    .as_deref()
                    .is_some_and(|v| !v.trim().is_empty()))
        {
            problems.push(Problem::new(
                "CONTAINER_IMAGES",
                "cannot be combined with IMAGE or CONTAINER_NAME; list every container=image pair in CONTAINER_IMAGES, or use IMAGE (and CONTAINER_NAME) for one container",
            ));
        }

        let container = clean(raw.container_name);
        if container.is_some() && !image_given {
            problems.push(Problem::new(
                "CONTAINER_NAME",
                "is set but IMAGE is not; CONTAINER_NAME chooses which container gets IMAGE",
            ));
        }

        let clone_dir = clean(raw.bitbucket_clone_dir).map(PathBuf::from);
        let task_definition_file = clean(raw.task_definition)
            .and_then(|path| read_task_definition_file(&path, clone_dir.as_deref(), &mut problems));
        let file_given = task_definition_file.is_some()
            || problems.iter().any(|p| p.variable == "TASK_DEFINITION");

        if !image_given && !file_given && !force_new_deployment && !container_images_given {
            problems.push(Problem::new(
                "IMAGE",
                "is required: the image to deploy, such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:$BITBUCKET_COMMIT (or CONTAINER_IMAGES for several containers, or TASK_DEFINITION, or FORCE_NEW_DEPLOYMENT: 'true' to restart the current revision)",
            ));
        }

        let verify_image = parse_bool(
            "VERIFY_IMAGE",
            clean(raw.verify_image).as_deref(),
            true,
            &mut problems,
        );
        let wait = parse_bool("WAIT", clean(raw.wait).as_deref(), true, &mut problems);
        let rollback_on_failure = parse_bool(
            "ROLLBACK_ON_FAILURE",
            clean(raw.rollback_on_failure).as_deref(),
            false,
            &mut problems,
        );
        let debug = parse_bool("DEBUG", clean(raw.debug).as_deref(), false, &mut problems);
        let dry_run = parse_bool(
            "DRY_RUN",
            clean(raw.dry_run).as_deref(),
            false,
            &mut problems,
        );
        let tag_service = parse_bool(
            "TAG_SERVICE",
            clean(raw.tag_service).as_deref(),
            false,
            &mut problems,
        );
        let keep_revisions = clean(raw.keep_revisions).and_then(|v| match v.parse::<u32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                problems.push(Problem::new(
                    "KEEP_REVISIONS",
                    format!("must be a whole number of revisions to keep, 1 or more, such as 10, got {v:?}"),
                ));
                None
            }
        });
        let trust_scope = match clean(raw.iam_trust_scope)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("repository") => TrustScope::Repository,
            Some("environment") => TrustScope::Environment,
            Some(other) => {
                problems.push(Problem::new(
                    "IAM_TRUST_SCOPE",
                    format!("must be repository or environment, got {other:?}"),
                ));
                TrustScope::Repository
            }
        };
        let tags = parse_pairs("TAGS", &lists.tags, "tag", "team=payments", &mut problems);
        for (key, value) in &tags {
            if key.to_ascii_lowercase().starts_with("aws:") || key.starts_with(AUDIT_TAG_PREFIX) {
                problems.push(Problem::new(
                    "TAGS",
                    format!("tag {key:?} uses a reserved prefix (aws:, {AUDIT_TAG_PREFIX}); the pipe writes {AUDIT_TAG_PREFIX} tags itself"),
                ));
            } else if !is_valid_tag_text(key, 128) || !is_valid_tag_text(value, 256) {
                problems.push(Problem::new(
                    "TAGS",
                    format!("tag {key}={value} has characters ECS does not allow; use letters, digits, spaces and + - = . _ : / @ (keys up to 128, values up to 256)"),
                ));
            }
        }
        if trust_scope == TrustScope::Environment
            && context.deployment_environment_uuid.is_none()
            && print_iam_policy
        {
            warnings.push("IAM_TRUST_SCOPE is environment but this step has no `deployment:`; the trust policy shows a placeholder for the environment UUID".into());
        }
        let outputs_dir = clean(raw.bitbucket_pipe_shared_storage_dir)
            .map(|d| PathBuf::from(d).join("ecs-oidc-deploy"));

        let desired_count = clean(raw.desired_count).and_then(|v| match v.parse::<i32>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                problems.push(Problem::new(
                    "DESIRED_COUNT",
                    format!("must be a whole number of tasks, 0 or more, got {v:?}"),
                ));
                None
            }
        });
        let wait_timeout = Duration::from_secs(parse_seconds(
            "WAIT_TIMEOUT",
            clean(raw.wait_timeout).as_deref(),
            DEFAULT_WAIT_TIMEOUT_SECONDS,
            1,
            6 * 3600,
            &mut problems,
        ));
        let wait_interval = parse_interval(clean(raw.wait_interval).as_deref(), &mut problems);
        let log_lines = parse_log_lines(clean(raw.log_lines).as_deref(), &mut problems);
        if keep_revisions.is_some() && !wait {
            problems.push(Problem::new(
                "KEEP_REVISIONS",
                "needs WAIT: 'true', because old revisions are only cleaned up after a verified deploy",
            ));
        }
        if rollback_on_failure && !wait {
            problems.push(Problem::new(
                "ROLLBACK_ON_FAILURE",
                "needs WAIT: 'true', because a failure is only known by waiting for the rollout",
            ));
        }

        let pre_deploy = pre_deploy(
            clean(raw.pre_deploy_command),
            clean(raw.pre_deploy_container),
            clean(raw.pre_deploy_timeout),
            &mut problems,
        );

        let color = raw.no_color.is_none_or(|v| v.is_empty());
        let code_deploy = code_deploy_options(
            clean(raw.codedeploy_application),
            clean(raw.codedeploy_deployment_group),
            clean(raw.codedeploy_deployment_config),
            &lists.codedeploy_hooks,
            &mut problems,
        );

        if !problems.is_empty() {
            return Err(Error::Config(problems));
        }
        let Some(auth) = auth else {
            return Err(Error::Config(vec![Problem::new(
                "AWS_OIDC_ROLE_ARN",
                "could not be validated",
            )]));
        };
        Ok(Self {
            region,
            auth,
            endpoints,
            cluster,
            services,
            image,
            container,
            task_definition_file,
            verify_image,
            force_new_deployment,
            desired_count,
            wait,
            wait_timeout,
            wait_interval,
            rollback_on_failure,
            pre_deploy,
            log_lines,
            container_images,
            dry_run,
            keep_revisions,
            tags,
            tag_service,
            print_iam_policy,
            trust_scope,
            outputs_dir,
            debug,
            color,
            context,
            warnings,
            code_deploy,
            heartbeat: HEARTBEAT,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn auth(
        role_arn: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<Secret>,
        session_token: Option<Secret>,
        token: Option<Secret>,
        session_name_var: Option<String>,
        duration: Option<String>,
        context: &BitbucketContext,
        print_only: bool,
        problems: &mut Vec<Problem>,
        warnings: &mut Vec<String>,
    ) -> Option<Auth> {
        let role_arn = clean(role_arn);
        let access_key_id = clean(access_key_id);
        let secret_access_key = clean_secret(secret_access_key);
        let session_token = clean_secret(session_token);
        let token = clean_secret(token);
        let session_name_var = clean(session_name_var);
        let duration = clean(duration);

        let Some(role_arn) = role_arn else {
            if session_name_var.is_some() || duration.is_some() {
                warnings.push(
                    "AWS_ROLE_SESSION_NAME and AWS_ROLE_DURATION_SECONDS only apply with AWS_OIDC_ROLE_ARN; ignoring them".into(),
                );
            }
            return match (access_key_id, secret_access_key) {
                (Some(id), Some(secret)) => Some(Auth::StaticKeys {
                    access_key_id: Secret::new(id),
                    secret_access_key: secret,
                    session_token,
                }),
                (Some(_), None) => {
                    problems.push(Problem::new(
                        "AWS_SECRET_ACCESS_KEY",
                        "is required when AWS_ACCESS_KEY_ID is set",
                    ));
                    None
                }
                (None, Some(_)) => {
                    problems.push(Problem::new(
                        "AWS_ACCESS_KEY_ID",
                        "is required when AWS_SECRET_ACCESS_KEY is set",
                    ));
                    None
                }
                (None, None) => {
                    let hint = if token.is_some() {
                        "is required: this step has an OIDC token, so set AWS_OIDC_ROLE_ARN to the role to assume, such as arn:aws:iam::123456789012:role/deploy"
                    } else {
                        "is required: no credentials were given. Set AWS_OIDC_ROLE_ARN and add `oidc: true` to the step (recommended), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    };
                    problems.push(Problem::new("AWS_OIDC_ROLE_ARN", hint));
                    None
                }
            };
        };

        let mut ok = true;
        if !is_valid_role_arn(&role_arn) {
            problems.push(Problem::new(
                "AWS_OIDC_ROLE_ARN",
                format!("must be an IAM role ARN such as arn:aws:iam::123456789012:role/deploy, got {role_arn:?}"),
            ));
            ok = false;
        }
        if token.is_none() && !print_only {
            problems.push(Problem::new(
                "BITBUCKET_STEP_OIDC_TOKEN",
                "is missing: AWS_OIDC_ROLE_ARN is set, so add `oidc: true` to this step in bitbucket-pipelines.yml (the pipe never falls back to access keys)",
            ));
            ok = false;
        }
        if access_key_id.is_some() || secret_access_key.is_some() {
            warnings.push(
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are ignored because AWS_OIDC_ROLE_ARN is set; remove them from the step".into(),
            );
        }
        let session_name = match session_name_var {
            Some(name) if is_valid_session_name(&name) => name,
            Some(name) => {
                problems.push(Problem::new(
                    "AWS_ROLE_SESSION_NAME",
                    format!(
                        "must be 2 to 64 characters of letters, digits and _+=,.@- , got {name:?}"
                    ),
                ));
                ok = false;
                String::new()
            }
            None => session_name(
                context.repo_slug.as_deref(),
                context.build_number.as_deref(),
            ),
        };
        let duration_seconds = match duration {
            None => DEFAULT_ROLE_DURATION_SECONDS,
            Some(v) => match v.parse::<i32>() {
                Ok(n) if (900..=43_200).contains(&n) => n,
                _ => {
                    problems.push(Problem::new(
                        "AWS_ROLE_DURATION_SECONDS",
                        format!("must be whole seconds between 900 and 43200 (and at most the role's maximum session duration), got {v:?}"),
                    ));
                    ok = false;
                    DEFAULT_ROLE_DURATION_SECONDS
                }
            },
        };
        match token {
            Some(token) if ok => Some(Auth::Oidc {
                role_arn,
                token,
                session_name,
                duration_seconds,
            }),
            // Printing policies makes no AWS call, so it needs no token (say, on a laptop).
            None if ok && print_only => Some(Auth::Oidc {
                role_arn,
                token: Secret::new(""),
                session_name,
                duration_seconds,
            }),
            _ => None,
        }
    }
}

fn read_task_definition_file(
    path: &str,
    clone_dir: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<TaskDefinitionFile> {
    let full = match clone_dir {
        Some(dir) if Path::new(path).is_relative() => dir.join(path),
        _ => PathBuf::from(path),
    };
    let text = match std::fs::read_to_string(&full) {
        Ok(text) => text,
        Err(e) => {
            problems.push(Problem::new(
                "TASK_DEFINITION",
                format!("could not read {} ({e}); give a path relative to the repository root, such as ecs/task-definition.json", full.display()),
            ));
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(json) => Some(TaskDefinitionFile {
            display: path.to_string(),
            json,
        }),
        Err(e) => {
            problems.push(Problem::new(
                "TASK_DEFINITION",
                format!("{path} is not valid JSON: {e}"),
            ));
            None
        }
    }
}
