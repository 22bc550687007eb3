//! The one error type, its exit codes and the hints that tell a user what to do.
//!
//! SDK errors are reduced to [`AwsError`] at the adapter boundary (`crate::aws`, where
//! `AwsError::from_sdk` lives), so nothing above the adapters matches on SDK types and no user
//! ever sees the `Debug` form of an `SdkError`.

use std::fmt;

/// Exit code: deployed and verified.
pub const EXIT_OK: i32 = 0;
/// Exit code: the service was updated, then the deployment failed, rolled back or timed out.
pub const EXIT_DEPLOY_FAILED: i32 = 1;
/// Exit code: refused before the service was changed (bad input, access denied, not found).
pub const EXIT_NOTHING_CHANGED: i32 = 2;
/// Exit code: `PRE_DEPLOY_COMMAND` ran and did not succeed, so no service was updated. Not 2:
/// the command itself may have changed things outside ECS (half a migration), so "nothing
/// changed, safe to re-run" would be a lie.
pub const EXIT_PRE_DEPLOY_FAILED: i32 = 3;

/// One invalid pipe variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable's name, exactly as the user writes it.
    pub variable: String,
    /// What is wrong and what a valid value looks like.
    pub message: String,
}

impl Problem {
    /// A problem with `variable`.
    pub fn new(variable: &str, message: impl Into<String>) -> Self {
        Self {
            variable: variable.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.variable, self.message)
    }
}

/// How far a deploy got before it stopped; decides the exit code and the last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Nothing in AWS was changed.
    Nothing,
    /// Revisions were registered, but no service was updated to them.
    Registered {
        /// The unused revisions' ARNs.
        revisions: Vec<String>,
        /// True when the deploy had several services, for the wording.
        several_services: bool,
    },
    /// These services were updated (names as configured).
    Services(Vec<String>),
    /// A write's answer was lost and no read could settle what it did.
    Unknown {
        /// What may have changed, in words.
        words: String,
        /// True when a service may have been updated (exit 1); false when every service is
        /// known to be unchanged (exit 2).
        services: bool,
    },
}

/// What went wrong in an AWS call, reduced to what a person needs.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// The IAM action of the call, such as `ecs:UpdateService`.
    pub operation: &'static str,
    /// The service's error code, such as `AccessDeniedException`.
    pub code: Option<String>,
    /// The service's message.
    pub message: Option<String>,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// AWS request id, for support cases.
    pub request_id: Option<String>,
    /// True when the request never got an answer (connection, DNS, timeout).
    pub no_response: bool,
    /// True when the call may have reached AWS and been applied although no answer said so;
    /// see [`AwsError::is_ambiguous`].
    pub ambiguous: bool,
    /// Set when the call never left because credentials could not be had (for example the
    /// STS session could not be renewed); says why.
    pub credentials: Option<String>,
    /// The full cause chain, for DEBUG output only.
    pub detail: String,
}

impl AwsError {
    /// An error that says only what went wrong, without an SDK error behind it.
    pub fn plain(operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            operation,
            code: None,
            message: Some(message.into()),
            status: None,
            request_id: None,
            no_response: false,
            ambiguous: false,
            credentials: None,
            detail: String::new(),
        }
    }

    /// True when asking again later may work: throttling, server errors, lost connections.
    pub fn is_transient(&self) -> bool {
        self.no_response
            || self.status.is_some_and(|s| s >= 500)
            || self.code.as_deref().is_some_and(|c| {
                matches!(
                    c,
                    "ThrottlingException"
                        | "Throttling"
                        | "TooManyRequestsException"
                        | "RequestLimitExceeded"
                        | "ServerException"
                        | "ServiceUnavailable"
                        | "InternalFailure"
                        | "IDPCommunicationError"
                )
            })
    }

    /// True when AWS refused the call for its rate limit: the error codes the SDK classifies
    /// as throttling (HTTP 429 too), but for `LimitExceededException`, which ECS uses for a
    /// quota that waiting does not lift. A throttled call was not applied.
    pub fn is_throttled(&self) -> bool {
        self.status == Some(429)
            || self.code.as_deref().is_some_and(|c| {
                matches!(
                    c,
                    "Throttling"
                        | "ThrottlingException"
                        | "ThrottledException"
                        | "RequestThrottledException"
                        | "TooManyRequestsException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "BandwidthLimitExceeded"
                        | "RequestThrottled"
                        | "SlowDown"
                )
            })
    }

    /// True when the failure of a write leaves its outcome unknown: the request may have
    /// reached AWS and been applied, but no answer said so. That is a timeout, a connection
    /// closed or reset after the request was sent, a 5xx, or an unreadable answer, on the
    /// last attempt or (with [`AwsError::from_write`]) on any earlier one. A 4xx answer
    /// (validation, not found, denied, throttled) is definite, and so is a call that never
    /// left (no credentials, connection refused).
    ///
    /// After an ambiguous failure, read the real state back before saying or doing anything
    /// else: for ECS `UpdateService` DescribeServices, for `RunTask` ListTasks by `startedBy`,
    /// for CodeDeploy `CreateDeployment` ListDeployments of the group, for EventBridge
    /// `PutTargets` ListTargetsByRule, for Scheduler `UpdateSchedule` GetSchedule. Only a read
    /// may say "nothing was changed".
    pub fn is_ambiguous(&self) -> bool {
        self.ambiguous
    }

    /// True when AWS refused the call for lack of permission.
    pub fn is_access_denied(&self) -> bool {
        self.code.as_deref().is_some_and(|c| {
            matches!(
                c,
                "AccessDeniedException"
                    | "AccessDenied"
                    | "UnauthorizedOperation"
                    | "UnrecognizedClientException"
            )
        }) || self
            .message
            .as_deref()
            .is_some_and(|m| m.contains("not authorized to perform"))
    }

    /// The error code, or a description of a failure without one.
    pub fn code_or_kind(&self) -> String {
        if let Some(why) = &self.credentials {
            return format!("no credentials ({why})");
        }
        match (&self.code, self.no_response, self.status) {
            (Some(code), _, _) => code.clone(),
            (None, true, _) => "no response (connection failed or timed out)".into(),
            (None, false, Some(status)) => format!("HTTP {status}"),
            (None, false, None) => "request could not be built".into(),
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.operation, self.code_or_kind())?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// The parts of an AWS "not authorized" message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Denied {
    /// Who asked: the assumed-role session or user ARN.
    pub identity: Option<String>,
    /// The IAM action refused, such as `ecs:RegisterTaskDefinition`.
    pub action: Option<String>,
    /// The resource, when AWS named one.
    pub resource: Option<String>,
    /// AWS's reason, such as "no identity-based policy allows the … action".
    pub reason: Option<String>,
}

/// Reads `User: <arn> is not authorized to perform: <action> on resource: <arn> because …`.
pub fn parse_denied(message: &str) -> Option<Denied> {
    let (before, after) = message.split_once("is not authorized to perform")?;
    let identity = before
        .trim()
        .strip_prefix("User:")
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    let after = after.trim_start_matches(':').trim();
    let (action_part, reason) = match after.split_once(" because ") {
        Some((a, r)) => (a, Some(r.trim().trim_end_matches('.').to_string())),
        None => (after, None),
    };
    let (action, resource) = match action_part.split_once(" on resource:") {
        Some((a, r)) => (a.trim(), Some(r.trim().trim_end_matches('.').to_string())),
        None => (action_part.trim().trim_end_matches('.'), None),
    };
    let action = action.split_whitespace().next().map(str::to_string);
    Some(Denied {
        identity,
        action,
        resource,
        reason,
    })
}

/// The hints for an access-denied error: which statement is missing.
pub fn access_denied_hints(err: &AwsError) -> Vec<String> {
    let denied = err
        .message
        .as_deref()
        .and_then(parse_denied)
        .unwrap_or_default();
    let action = denied
        .action
        .clone()
        .unwrap_or_else(|| err.operation.to_string());
    let resource = denied
        .resource
        .clone()
        .unwrap_or_else(|| "the resource".into());
    let who = denied.identity.clone().unwrap_or_else(|| "the role".into());
    let mut hints = vec![format!("AWS refused {action} on {resource} for {who}")];
    if let Some(reason) = &denied.reason {
        hints.push(format!("AWS says: {reason}"));
    }
    if action == "iam:PassRole" {
        hints.push(format!(
            "registering a task definition passes its task and execution roles: allow iam:PassRole on {resource} with the condition iam:PassedToService = ecs-tasks.amazonaws.com"
        ));
    } else {
        hints.push(format!(
            "add a statement allowing {action} on {resource} to the role's permission policy"
        ));
    }
    hints.push("`ecs-oidc-deploy --print-iam-policy` (or PRINT_IAM_POLICY: 'true') prints the complete policy this deploy needs".into());
    if action.starts_with("codedeploy:") {
        hints.push("the printed policy has the CodeDeploy statements when CODEDEPLOY_APPLICATION (and CODEDEPLOY_DEPLOYMENT_GROUP) are set for it".into());
    }
    hints
}

/// Everything that can stop a deploy. `Display` is the one-line verdict; [`Error::details`]
/// and [`Error::hints`] are printed above it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more pipe variables are invalid.
    #[error("{} need{} fixing; nothing was changed in AWS", count(.0.len(), "pipe variable"), if .0.len() == 1 { "s" } else { "" })]
    Config(Vec<Problem>),

    /// `ACTION: continue` or `rollback` found nothing to act on, or refused to act.
    #[error("{verdict}; nothing was changed in AWS")]
    Operate {
        /// What was found, and why nothing was done.
        verdict: String,
        /// What each service is doing.
        details: Vec<String>,
        /// What to do about it.
        hints: Vec<String>,
    },

    /// STS would not exchange the OIDC token for credentials.
    #[error("could not assume role {role_arn} with the step's OIDC token ({}); nothing was changed in AWS", .err.code_or_kind())]
    AssumeRole {
        /// The role.
        role_arn: String,
        /// The session name used.
        session_name: String,
        /// What STS said.
        err: Box<AwsError>,
        /// What the token and STS said, shown above the verdict.
        details: Vec<String>,
        /// What to do about it.
        hints: Vec<String>,
    },

    /// The cluster does not exist in this account and region.
    #[error("cluster {cluster:?} was not found in {region}; nothing was changed in AWS")]
    ClusterNotFound {
        /// `CLUSTER_NAME`.
        cluster: String,
        /// The region searched.
        region: String,
    },

    /// The service does not exist in the cluster.
    #[error(
        "service {service:?} was not found in cluster {cluster:?} ({region}); nothing was changed in AWS"
    )]
    ServiceNotFound {
        /// `CLUSTER_NAME`.
        cluster: String,
        /// `SERVICE_NAME`.
        service: String,
        /// The region searched.
        region: String,
    },

    /// The service is being deleted.
    #[error("service {service:?} is {status}, not ACTIVE; nothing was changed in AWS")]
    ServiceNotActive {
        /// The service.
        service: String,
        /// Its status.
        status: String,
    },

    /// The service's deployments are run by an external controller.
    #[error(
        "service {service:?} uses the {controller} deployment controller, which this pipe does not drive; nothing was changed in AWS"
    )]
    UnsupportedController {
        /// The service.
        service: String,
        /// `EXTERNAL`.
        controller: String,
    },

    /// A CODE_DEPLOY service has no usable deployment group, or no AppSpec can be made for it.
    #[error(
        "service {service:?} cannot be deployed through CodeDeploy: {problem}; nothing was changed in AWS"
    )]
    CodeDeploy {
        /// The service (or services), as configured.
        service: String,
        /// What is wrong.
        problem: String,
        /// What was looked at (the deployment groups searched).
        details: Vec<String>,
        /// What to do about it.
        hints: Vec<String>,
    },

    /// The task definition (file or live revision) cannot be used.
    #[error(
        "the task definition from {source_name} cannot be used: {message}; nothing was changed in AWS"
    )]
    TaskDefinition {
        /// Where it came from: the file path, or the revision ARN.
        source_name: String,
        /// What is wrong.
        message: String,
    },

    /// `CONTAINER_NAME` names no container of the task definition.
    #[error(
        "container {wanted:?} is not in the task definition {source_name}; nothing was changed in AWS"
    )]
    ContainerNotFound {
        /// `CONTAINER_NAME`.
        wanted: String,
        /// The containers that exist.
        available: Vec<String>,
        /// The task definition.
        source_name: String,
    },

    /// Several containers and no `CONTAINER_NAME`.
    #[error("the task definition {source_name} has {} containers, so CONTAINER_NAME must say which one gets IMAGE; nothing was changed in AWS", .available.len())]
    ContainerAmbiguous {
        /// The containers that exist.
        available: Vec<String>,
        /// The task definition.
        source_name: String,
    },

    /// A `TAGS` entry would change a tag the task definition already has.
    #[error(
        "TAGS would change tag {key:?} of {source_name} from {existing:?} to {wanted:?}; nothing was changed in AWS"
    )]
    TagCollision {
        /// The tag key.
        key: String,
        /// Its current value.
        existing: String,
        /// The value in `TAGS`.
        wanted: String,
        /// The task definition.
        source_name: String,
    },

    /// The OIDC token cannot be used (expired, not a JWT).
    #[error("the step's OIDC token {problem}; nothing was changed in AWS")]
    Token {
        /// What is wrong with it.
        problem: String,
    },

    /// `BITBUCKET_STEP_OIDC_TOKEN` is not a token at all (not a JWT, or its claims can't be
    /// read): most likely someone set the variable by hand.
    #[error("BITBUCKET_STEP_OIDC_TOKEN {problem}; nothing was changed in AWS")]
    TokenMalformed {
        /// What is wrong with it (never the value).
        problem: String,
    },

    /// The ECR image does not exist.
    #[error("image {image} was not found in ECR ({detail}); nothing was changed in AWS")]
    ImageNotFound {
        /// `IMAGE`.
        image: String,
        /// What ECR said.
        detail: String,
    },

    /// An AWS call failed.
    #[error("{step}: {err}; {}", changed_words(.changed))]
    Aws {
        /// What the pipe was doing, in words.
        step: String,
        /// The reduced error.
        err: Box<AwsError>,
        /// How far the deploy had got.
        changed: Changed,
    },

    /// A write failed without a definite answer ([`AwsError::is_ambiguous`]), and reading AWS
    /// back settled what it did.
    #[error("{step}: {err}; {found}; {}", changed_words(.changed))]
    ReadBack {
        /// What the pipe was doing, in words.
        step: String,
        /// The failure of the write.
        err: Box<AwsError>,
        /// What the read showed, in words (names the read).
        found: String,
        /// How far the deploy had got, as the read showed it.
        changed: Changed,
    },

    /// The deployment started and did not succeed: failed, rolled back, replaced or timed out.
    #[error("{verdict}")]
    Rollout {
        /// The one-line verdict, including what the service runs now.
        verdict: String,
        /// Lines describing why (task stop reasons, events, counts).
        details: Vec<String>,
        /// What the user can do.
        hints: Vec<String>,
    },

    /// Several services were deployed and at least one did not succeed.
    #[error("{verdict}")]
    Rollouts {
        /// The last line: which services failed.
        verdict: String,
        /// Why, per failed service (each line names its service).
        details: Vec<String>,
        /// What the user can do.
        hints: Vec<String>,
        /// One line per service (succeeded, failed and why, still running), right above the verdict.
        summary: Vec<String>,
    },

    /// `PRE_DEPLOY_COMMAND` did not succeed (or its task never started); no service was updated.
    #[error("{verdict}")]
    PreDeploy {
        /// The last line: what happened and that no service was updated.
        verdict: String,
        /// The task's containers, stop reason, timing.
        details: Vec<String>,
        /// What the user can do.
        hints: Vec<String>,
        /// True when the command ran (exit code 3); false when the task never started (2).
        ran: bool,
    },

    /// Every service was deployed, then moving its scheduled tasks (`UPDATE_SCHEDULED_TASKS`)
    /// failed: some rules or schedules still run the old revision.
    #[error("{deployed}, but {still_old}: {cause}")]
    ScheduledTasks {
        /// What was deployed, such as "service web is deployed (web:42)".
        deployed: String,
        /// Which rules and schedules still run which revision.
        still_old: String,
        /// Why, in a few words (the permission missing, for a denial).
        cause: String,
        /// The full AWS errors, shown above the verdict.
        details: Vec<String>,
        /// What to do about it.
        hints: Vec<String>,
    },

    /// `PREFLIGHT` found what would stop the new tasks from starting; nothing was written.
    #[error("{} would stop the new tasks from starting; nothing was changed in AWS", count(.problems.len(), "problem"))]
    Preflight {
        /// One line per problem: where, what, and the fix.
        problems: Vec<String>,
    },

    /// Bitbucket stopped the step (SIGTERM/SIGINT) while the pipe was waiting.
    #[error(
        "stopped by a signal while waiting; the deployment goes on in ECS without this pipe watching it: {state}"
    )]
    Interrupted {
        /// Where the deployment stood.
        state: String,
    },
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn changed_words(changed: &Changed) -> String {
    match changed {
        Changed::Nothing => "nothing was changed in AWS".into(),
        Changed::Registered {
            revisions,
            several_services: false,
        } => format!(
            "registered {}, but the service was not updated and still runs its previous revision",
            revisions.join(", ")
        ),
        Changed::Registered { revisions, .. } => format!(
            "registered {}, but no service was updated and each still runs its previous revision",
            revisions.join(", ")
        ),
        Changed::Services(services) if services.len() <= 1 => {
            "the service was already updated".into()
        }
        Changed::Services(services) => {
            format!("services {} were already updated", services.join(", "))
        }
        Changed::Unknown { words, .. } => words.clone(),
    }
}

impl Error {
    /// The process exit code: 1 when the service was changed, 2 when it was not.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Rollout { .. }
            | Self::Rollouts { .. }
            | Self::Interrupted { .. }
            | Self::ScheduledTasks { .. } => EXIT_DEPLOY_FAILED,
            Self::PreDeploy { ran: true, .. } => EXIT_PRE_DEPLOY_FAILED,
            Self::Aws {
                changed: Changed::Services(_) | Changed::Unknown { services: true, .. },
                ..
            }
            | Self::ReadBack {
                changed: Changed::Services(_) | Changed::Unknown { services: true, .. },
                ..
            } => EXIT_DEPLOY_FAILED,
            _ => EXIT_NOTHING_CHANGED,
        }
    }

    /// Lines printed above the verdict that say what exactly is wrong.
    pub fn details(&self) -> Vec<String> {
        match self {
            Self::Config(problems) => problems.iter().map(ToString::to_string).collect(),
            Self::Preflight { problems } => problems.clone(),
            Self::Rollout { details, .. }
            | Self::Rollouts { details, .. }
            | Self::PreDeploy { details, .. }
            | Self::ScheduledTasks { details, .. }
            | Self::Operate { details, .. }
            | Self::CodeDeploy { details, .. } => details.clone(),
            Self::AssumeRole { err, details, .. } => details
                .iter()
                .cloned()
                .chain(err.request_id.iter().map(|id| format!("request id: {id}")))
                .collect(),
            Self::Aws { err, .. } | Self::ReadBack { err, .. } => err
                .request_id
                .iter()
                .map(|id| format!("request id: {id}"))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// One line per service of a multi-service deploy, printed last before the verdict.
    pub fn summary(&self) -> &[String] {
        match self {
            Self::Rollouts { summary, .. } => summary,
            _ => &[],
        }
    }

    /// What the user can do about it, one line each.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Self::Config(_) => vec!["fix the variables listed above under `variables:` of the pipe in bitbucket-pipelines.yml".into()],
            Self::AssumeRole { hints, .. } => hints.clone(),
            Self::ClusterNotFound { .. } => vec![
                "check CLUSTER_NAME and AWS_DEFAULT_REGION; the role's account must own the cluster".into(),
            ],
            Self::ServiceNotFound { .. } => vec![
                "check SERVICE_NAME, CLUSTER_NAME and AWS_DEFAULT_REGION; this pipe updates an existing service and does not create one".into(),
            ],
            Self::ServiceNotActive { .. } => vec!["a DRAINING or INACTIVE service is being deleted; recreate it first".into()],
            Self::UnsupportedController { .. } => vec![
                "EXTERNAL services deploy through task sets (CreateTaskSet, UpdateServicePrimaryTaskSet), which this pipe does not manage".into(),
            ],
            Self::TaskDefinition { .. } => vec![
                "give the output of `aws ecs describe-task-definition` or a register-task-definition input with family and containerDefinitions".into(),
            ],
            Self::ContainerNotFound { available, .. } | Self::ContainerAmbiguous { available, .. } => vec![format!(
                "set CONTAINER_NAME to one of: {}",
                available.join(", ")
            )],
            Self::TagCollision { key, .. } => vec![format!(
                "remove {key} from TAGS, or change the tag on the task definition first if the new value is intended"
            )],
            Self::TokenMalformed { .. } => vec![
                "Bitbucket sets BITBUCKET_STEP_OIDC_TOKEN on steps with `oidc: true`; if a repository, workspace or deployment variable or the pipe's `variables:` sets it, remove that so the real token comes through".into(),
            ],
            Self::Token { .. } => vec![
                "run the pipe early in the step and re-run the step for a fresh token; check that `oidc: true` is set on the step".into(),
            ],
            Self::ImageNotFound { .. } => vec![
                "push the image before this step (check the tag or digest in IMAGE), or set VERIFY_IMAGE: 'false' if the role may not read ECR".into(),
            ],
            Self::Aws { changed: Changed::Unknown { .. }, .. }
            | Self::ReadBack { changed: Changed::Unknown { .. }, .. } => vec![
                "the answer was lost on the way (a timeout, a dropped connection or an AWS server error) and AWS could not tell what it did; look at the ECS console (the service's Deployments tab, the cluster's tasks) before re-running the step".into(),
            ],
            Self::ReadBack { .. } => vec![
                "the answer was lost on the way (a timeout, a dropped connection or an AWS server error); the read above shows what happened, so the step can be re-run".into(),
            ],
            Self::Aws { err, .. } if err.is_access_denied() => access_denied_hints(err),
            Self::Aws { err, .. } if err.credentials.is_some() => vec![
                "the pipe could not get AWS credentials for this call; re-run the step for a fresh OIDC token, and raise AWS_ROLE_DURATION_SECONDS (and the role's maximum session duration) for long waits".into(),
            ],
            Self::Aws { err, .. } if err.no_response => vec![
                "AWS could not be reached; check AWS_DEFAULT_REGION and, if set, AWS_ENDPOINT_URL".into(),
            ],
            Self::Aws { .. } => Vec::new(),
            Self::Rollout { hints, .. }
            | Self::Rollouts { hints, .. }
            | Self::PreDeploy { hints, .. }
            | Self::ScheduledTasks { hints, .. }
            | Self::Operate { hints, .. }
            | Self::CodeDeploy { hints, .. } => hints.clone(),
            Self::Preflight { .. } => vec!["fix each reference above and re-run the step; PREFLIGHT: 'false' skips these checks".into()],
            Self::Interrupted { .. } => vec!["look at the service's Deployments tab in the ECS console for the outcome".into()],
        }
    }
}
