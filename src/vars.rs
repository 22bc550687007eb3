//! The pipe's variables, one definition each: the public contract of 1.x.
//!
//! Modelled on ripgrep's `flags/defs.rs`: each variable is one [`Var`] that holds its name,
//! its kind, its default, its one-line meaning and its deprecated alias. `--help` is rendered
//! from [`ALL`] ([`crate::help`]), the config sections read values only through these
//! definitions ([`crate::config`]), and `test/release.rs` checks README's YAML definition and
//! Variables table and pipe.yml's context defaults against them, so none can drift.
//!
//! Adding a variable means adding one `Var` here, listing it in [`ALL`], and parsing it in the
//! config section of its concern.

/// What a variable holds; decides the placeholder in README's YAML definition and how its
/// value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text: a name, an ARN, a path, a URL.
    Text,
    /// A value that must never be printed (keys, tokens).
    Secret,
    /// `true` or `false`, in any case.
    Bool,
    /// Whole seconds.
    Seconds,
    /// Seconds with decimals allowed.
    Number,
    /// A whole number (a count of tasks, revisions, lines).
    Count,
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// A Bitbucket list variable (`NAME_COUNT`, `NAME_0`, ...), or one plain item.
    List,
}

impl Kind {
    /// The placeholder Atlassian's README convention uses for a value of this kind.
    pub fn placeholder(self) -> &'static str {
        match self {
            Self::Text | Self::Secret | Self::Choice(_) => "'<string>'",
            Self::Bool => "'<boolean>'",
            Self::Seconds | Self::Count => "'<integer>'",
            Self::Number => "'<number>'",
            Self::List => "['<string>']",
        }
    }
}

/// Whether a step must set a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Optional; the default keeps the pipe's behaviour without it.
    Optional,
    /// Required (README's `(*)`; a required choice of several is also marked so).
    Required,
    /// Required, but may come from a repository, workspace or deployment variable through a
    /// context default in pipe.yml (README's `(**)`).
    FromContext,
}

/// Where a variable is documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// In README's YAML definition and Variables table, and in `--help`'s table.
    Listed,
    /// Only in the "Advanced" paragraph of README and `--help` (endpoints, alternatives).
    Advanced,
}

/// An old name that still works until a major version removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alias {
    /// The old name.
    pub old: &'static str,
    /// The release that stops reading it.
    pub removed_in: &'static str,
}

/// One pipe variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    /// The name, exactly as a step writes it.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Whether a step must set it.
    pub need: Need,
    /// The default as `--help` shows it; for booleans, seconds and counts it is also the
    /// value the config section falls back to.
    pub default: &'static str,
    /// One line: what it does.
    pub about: &'static str,
    /// Where it is documented.
    pub shown: Shown,
    /// A deprecated old name read as this one.
    pub alias: Option<Alias>,
}

impl Var {
    const fn new(
        name: &'static str,
        kind: Kind,
        default: &'static str,
        about: &'static str,
    ) -> Self {
        Self {
            name,
            kind,
            need: Need::Optional,
            default,
            about,
            shown: Shown::Listed,
            alias: None,
        }
    }

    const fn need(mut self, need: Need) -> Self {
        self.need = need;
        self
    }

    const fn advanced(mut self) -> Self {
        self.shown = Shown::Advanced;
        self
    }

    const fn alias(mut self, old: &'static str, removed_in: &'static str) -> Self {
        self.alias = Some(Alias { old, removed_in });
        self
    }
}

use Kind::{Bool, Choice, Count, List, Number, Seconds, Text};

// Credentials.
pub const AWS_DEFAULT_REGION: Var = Var::new(
    "AWS_DEFAULT_REGION",
    Text,
    "required",
    "region of the cluster (AWS_REGION also works)",
)
.need(Need::FromContext);
pub const AWS_REGION: Var = Var::new(
    "AWS_REGION",
    Text,
    "-",
    "the region, as the AWS SDKs name it; the same as AWS_DEFAULT_REGION",
)
.advanced();
pub const AWS_OIDC_ROLE_ARN: Var = Var::new(
    "AWS_OIDC_ROLE_ARN",
    Text,
    "-",
    "role assumed with the step's OIDC token; needs `oidc: true` on the step",
)
.need(Need::FromContext);
pub const AWS_ACCESS_KEY_ID: Var = Var::new(
    "AWS_ACCESS_KEY_ID",
    Kind::Secret,
    "-",
    "static key id, used only when AWS_OIDC_ROLE_ARN is not set",
)
.need(Need::FromContext);
pub const AWS_SECRET_ACCESS_KEY: Var = Var::new(
    "AWS_SECRET_ACCESS_KEY",
    Kind::Secret,
    "-",
    "static secret key, used only when AWS_OIDC_ROLE_ARN is not set",
)
.need(Need::FromContext);
pub const AWS_SESSION_TOKEN: Var = Var::new(
    "AWS_SESSION_TOKEN",
    Kind::Secret,
    "-",
    "session token for temporary static keys",
);
pub const AWS_ROLE_SESSION_NAME: Var = Var::new(
    "AWS_ROLE_SESSION_NAME",
    Text,
    "bitbucket-<repo slug>-<build number>",
    "STS session name shown in CloudTrail",
);
pub const AWS_ROLE_DURATION_SECONDS: Var = Var::new(
    "AWS_ROLE_DURATION_SECONDS",
    Seconds,
    "3600",
    "STS session length, 900-43200 (renewed while waiting)",
);
pub const AWS_ENDPOINT_URL: Var = Var::new(
    "AWS_ENDPOINT_URL",
    Text,
    "-",
    "send every AWS call to this endpoint (a VPC endpoint, an emulator)",
)
.advanced();
pub const AWS_ENDPOINT_URL_STS: Var = Var::new(
    "AWS_ENDPOINT_URL_STS",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for STS",
)
.advanced();
pub const AWS_ENDPOINT_URL_ECS: Var = Var::new(
    "AWS_ENDPOINT_URL_ECS",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for ECS",
)
.advanced();
pub const AWS_ENDPOINT_URL_ECR: Var = Var::new(
    "AWS_ENDPOINT_URL_ECR",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for ECR",
)
.advanced();
pub const AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: Var = Var::new(
    "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for CloudWatch Logs",
)
.advanced();
// The SDKs' names for the service ids `EventBridge` and `Scheduler`.
pub const AWS_ENDPOINT_URL_EVENTBRIDGE: Var = Var::new(
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for EventBridge (UPDATE_SCHEDULED_TASKS)",
)
.advanced();
pub const AWS_ENDPOINT_URL_SCHEDULER: Var = Var::new(
    "AWS_ENDPOINT_URL_SCHEDULER",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for EventBridge Scheduler (UPDATE_SCHEDULED_TASKS)",
)
.advanced();
pub const AWS_ENDPOINT_URL_CODEDEPLOY: Var = Var::new(
    "AWS_ENDPOINT_URL_CODEDEPLOY",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for CodeDeploy",
)
.advanced();

pub const AWS_ENDPOINT_URL_IAM: Var = Var::new(
    "AWS_ENDPOINT_URL_IAM",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for IAM (PREFLIGHT)",
)
.advanced();
// The SDKs' name for the service id `Secrets Manager`.
pub const AWS_ENDPOINT_URL_SECRETS_MANAGER: Var = Var::new(
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for Secrets Manager (PREFLIGHT)",
)
.advanced();
pub const AWS_ENDPOINT_URL_SSM: Var = Var::new(
    "AWS_ENDPOINT_URL_SSM",
    Text,
    "AWS_ENDPOINT_URL",
    "endpoint for SSM (PREFLIGHT)",
)
.advanced();

// Target.
pub const CLUSTER_NAME: Var =
    Var::new("CLUSTER_NAME", Text, "required", "ECS cluster name or ARN").need(Need::Required);
pub const SERVICE_NAME: Var = Var::new(
    "SERVICE_NAME",
    Text,
    "required unless SERVICE_NAMES",
    "ECS service name or ARN",
)
.need(Need::Required);
pub const SERVICE_NAMES: Var = Var::new(
    "SERVICE_NAMES",
    List,
    "-",
    "list of services of CLUSTER_NAME deployed together, instead of SERVICE_NAME: one new revision per distinct current revision, one verdict",
);

// The change.
pub const IMAGE: Var = Var::new(
    "IMAGE",
    Text,
    "required unless TASK_DEFINITION, FORCE_NEW_DEPLOYMENT or a per-environment setting",
    "full image reference for the container",
)
.need(Need::Required)
// atlassian/aws-ecs-deploy documented IMAGE_NAME; users switching keep their step working.
.alias("IMAGE_NAME", "2.0.0");
pub const CONTAINER_NAME: Var = Var::new(
    "CONTAINER_NAME",
    Text,
    "the only container",
    "container that gets IMAGE and CONTAINER_ENVIRONMENT/CONTAINER_SECRETS; required when there are several",
);
pub const TASK_DEFINITION: Var = Var::new(
    "TASK_DEFINITION",
    Text,
    "-",
    "task definition JSON file (relative to the clone) used instead of the service's current revision, or a registered revision (family:revision or its ARN) to promote",
);
pub const TASK_DEFINITION_TEMPLATE: Var = Var::new(
    "TASK_DEFINITION_TEMPLATE",
    Bool,
    "false",
    "fill ${NAME} placeholders in the TASK_DEFINITION file from the pipe's variables ($${ for a literal ${)",
);
pub const VERIFY_IMAGE: Var = Var::new(
    "VERIFY_IMAGE",
    Bool,
    "true",
    "check that an ECR image exists before changing anything",
);
pub const PREFLIGHT: Var = Var::new(
    "PREFLIGHT",
    Bool,
    "true",
    "before the first change, check that every secret, parameter, log group, role and ECR image the new revision needs exists and that the execution role may use them; reads no value, writes nothing",
);
pub const FORCE_NEW_DEPLOYMENT: Var = Var::new(
    "FORCE_NEW_DEPLOYMENT",
    Bool,
    "false",
    "start new tasks even when nothing changed",
);
pub const DESIRED_COUNT: Var = Var::new(
    "DESIRED_COUNT",
    Count,
    "unchanged",
    "set the service's desired count",
);
pub const CONTAINER_IMAGES: Var = Var::new(
    "CONTAINER_IMAGES",
    List,
    "-",
    "list of container=image pairs to deploy several containers at once (instead of IMAGE/CONTAINER_NAME)",
);
pub const TAGS: Var = Var::new(
    "TAGS",
    List,
    "-",
    "list of key=value tags added to the new revision (existing tags are kept)",
);

// Per-environment settings, put into every new revision (see crate::rules::overrides).
pub const CONTAINER_ENVIRONMENT: Var = Var::new(
    "CONTAINER_ENVIRONMENT",
    List,
    "-",
    "list of NAME=value environment variables set in the container that gets IMAGE (others kept)",
);
pub const CONTAINER_SECRETS: Var = Var::new(
    "CONTAINER_SECRETS",
    List,
    "-",
    "list of NAME=valueFrom secrets (SSM parameter or Secrets Manager ARN) set in that container",
);
pub const TASK_CPU: Var = Var::new(
    "TASK_CPU",
    Count,
    "unchanged",
    "task-level CPU units (1024 = 1 vCPU); on Fargate, a size Fargate offers with the memory",
);
pub const TASK_MEMORY: Var = Var::new(
    "TASK_MEMORY",
    Count,
    "unchanged",
    "task-level memory in MiB; on Fargate, a size Fargate offers with the CPU",
);
pub const TASK_ROLE_ARN: Var = Var::new(
    "TASK_ROLE_ARN",
    Text,
    "unchanged",
    "task role of the new revision: a role ARN or a role name",
);
pub const EXECUTION_ROLE_ARN: Var = Var::new(
    "EXECUTION_ROLE_ARN",
    Text,
    "unchanged",
    "execution role of the new revision: a role ARN or a role name",
);

// What the step does.
pub const ACTION: Var = Var::new(
    "ACTION",
    Choice(&["deploy", "continue", "rollback"]),
    "deploy",
    "deploy; continue: resume this commit's deployment paused for approval (a PAUSE hook or CodeDeploy Ready); rollback: put each service back on its previous revision",
);
pub const WAIT_UNTIL: Var = Var::new(
    "WAIT_UNTIL",
    Choice(&["completed", "paused"]),
    "completed",
    "completed: follow the deployment to its verdict; paused: also end the step (exit 0) when it waits for a person at a PAUSE hook or CodeDeploy Ready",
);

// Waiting and rolling back.
pub const WAIT: Var = Var::new("WAIT", Bool, "true", "follow the rollout to a verdict");
pub const WAIT_TIMEOUT: Var = Var::new(
    "WAIT_TIMEOUT",
    Seconds,
    "1800",
    "seconds before giving up waiting",
);
pub const WAIT_INTERVAL: Var = Var::new("WAIT_INTERVAL", Number, "5", "seconds between polls");
pub const ROLLBACK_ON_FAILURE: Var = Var::new(
    "ROLLBACK_ON_FAILURE",
    Bool,
    "false",
    "on failure or timeout, put the service back on its previous revision (still exits 1)",
);
pub const LOG_LINES: Var = Var::new(
    "LOG_LINES",
    Count,
    "20",
    "when a deploy fails, show this many of the last lines each failed container wrote to CloudWatch Logs (0-500; 0 turns it off)",
);

// Before the update.
pub const PRE_DEPLOY_COMMAND: Var = Var::new(
    "PRE_DEPLOY_COMMAND",
    Text,
    "-",
    "command run once with the new revision (RunTask, where the service runs) before any service is updated; the deploy goes on only if it exits 0",
);
pub const PRE_DEPLOY_CONTAINER: Var = Var::new(
    "PRE_DEPLOY_CONTAINER",
    Text,
    "CONTAINER_NAME, else the only container",
    "container whose command PRE_DEPLOY_COMMAND replaces",
);
pub const PRE_DEPLOY_TIMEOUT: Var = Var::new(
    "PRE_DEPLOY_TIMEOUT",
    Seconds,
    "900",
    "seconds the pre-deploy task may take; then it is stopped and the deploy fails",
);

// After the deploy: clean-up and outputs.
pub const TAG_SERVICE: Var = Var::new(
    "TAG_SERVICE",
    Bool,
    "false",
    "also tag the service with the deployed commit, build and environment",
);
pub const KEEP_REVISIONS: Var = Var::new(
    "KEEP_REVISIONS",
    Count,
    "keep all",
    "after a verified deploy, deregister older ACTIVE revisions beyond this many (never one in use)",
);
pub const UPDATE_SCHEDULED_TASKS: Var = Var::new(
    "UPDATE_SCHEDULED_TASKS",
    Bool,
    "false",
    "after a verified deploy, move the cluster's EventBridge rules and Scheduler schedules pinned to a service's old revision to its new one",
);

// The run as a whole.
pub const DRY_RUN: Var = Var::new(
    "DRY_RUN",
    Bool,
    "false",
    "show the new revision as a diff and the calls a deploy would make; change nothing",
);
pub const DEBUG: Var = Var::new("DEBUG", Bool, "false", "extra diagnostics (never secrets)");
pub const NO_COLOR: Var = Var::new("NO_COLOR", Text, "-", "turns colour off").advanced();

// CodeDeploy (services whose deploymentController is CODE_DEPLOY).
pub const CODEDEPLOY_APPLICATION: Var = Var::new(
    "CODEDEPLOY_APPLICATION",
    Text,
    "found by search",
    "CodeDeploy application of a CODE_DEPLOY service's deployment group; alone, limits the search to it",
);
pub const CODEDEPLOY_DEPLOYMENT_GROUP: Var = Var::new(
    "CODEDEPLOY_DEPLOYMENT_GROUP",
    Text,
    "found by search",
    "the deployment group (with CODEDEPLOY_APPLICATION); skips the search",
);
pub const CODEDEPLOY_HOOKS: Var = Var::new(
    "CODEDEPLOY_HOOKS",
    List,
    "-",
    "list of Event=LambdaFunction for the AppSpec (BeforeInstall, AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic)",
);
pub const CODEDEPLOY_DEPLOYMENT_CONFIG: Var = Var::new(
    "CODEDEPLOY_DEPLOYMENT_CONFIG",
    Text,
    "the group's",
    "CodeDeploy deployment configuration for this deployment",
);

// Printing the IAM policies.
pub const PRINT_IAM_POLICY: Var = Var::new(
    "PRINT_IAM_POLICY",
    Bool,
    "false",
    "print the IAM permission and trust policies this deploy needs, as JSON, and exit without calling AWS",
);
pub const IAM_TRUST_SCOPE: Var = Var::new(
    "IAM_TRUST_SCOPE",
    Choice(&["repository", "environment"]),
    "repository",
    "scope of the printed trust policy: repository or environment",
);

/// Every variable, in the order `--help` and README list them.
pub const ALL: &[Var] = &[
    AWS_DEFAULT_REGION,
    AWS_OIDC_ROLE_ARN,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN,
    AWS_ROLE_SESSION_NAME,
    AWS_ROLE_DURATION_SECONDS,
    CLUSTER_NAME,
    SERVICE_NAME,
    SERVICE_NAMES,
    IMAGE,
    CONTAINER_NAME,
    TASK_DEFINITION,
    TASK_DEFINITION_TEMPLATE,
    VERIFY_IMAGE,
    PREFLIGHT,
    FORCE_NEW_DEPLOYMENT,
    DESIRED_COUNT,
    ACTION,
    WAIT,
    WAIT_TIMEOUT,
    WAIT_INTERVAL,
    WAIT_UNTIL,
    ROLLBACK_ON_FAILURE,
    LOG_LINES,
    CONTAINER_IMAGES,
    TAGS,
    CONTAINER_ENVIRONMENT,
    CONTAINER_SECRETS,
    TASK_CPU,
    TASK_MEMORY,
    TASK_ROLE_ARN,
    EXECUTION_ROLE_ARN,
    TAG_SERVICE,
    DRY_RUN,
    KEEP_REVISIONS,
    UPDATE_SCHEDULED_TASKS,
    PRE_DEPLOY_COMMAND,
    PRE_DEPLOY_CONTAINER,
    PRE_DEPLOY_TIMEOUT,
    CODEDEPLOY_APPLICATION,
    CODEDEPLOY_DEPLOYMENT_GROUP,
    CODEDEPLOY_HOOKS,
    CODEDEPLOY_DEPLOYMENT_CONFIG,
    PRINT_IAM_POLICY,
    IAM_TRUST_SCOPE,
    DEBUG,
    AWS_REGION,
    AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_STS,
    AWS_ENDPOINT_URL_ECS,
    AWS_ENDPOINT_URL_ECR,
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS,
    AWS_ENDPOINT_URL_EVENTBRIDGE,
    AWS_ENDPOINT_URL_SCHEDULER,
    AWS_ENDPOINT_URL_CODEDEPLOY,
    AWS_ENDPOINT_URL_IAM,
    AWS_ENDPOINT_URL_SECRETS_MANAGER,
    AWS_ENDPOINT_URL_SSM,
    NO_COLOR,
];

/// The variables README's YAML definition and Variables table list.
pub fn listed() -> impl Iterator<Item = &'static Var> {
    ALL.iter().filter(|v| v.shown == Shown::Listed)
}
