//! `--help` text. Every pipe variable is listed with its default; a test checks that README
//! and pipe.yml name the same variables.

/// The variables of the public contract: (name, default, meaning).
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "AWS_DEFAULT_REGION",
        "required",
        "region of the cluster (AWS_REGION also works)",
    ),
    (
        "AWS_OIDC_ROLE_ARN",
        "-",
        "role assumed with the step's OIDC token; needs `oidc: true` on the step",
    ),
    (
        "AWS_ACCESS_KEY_ID",
        "-",
        "static key id, used only when AWS_OIDC_ROLE_ARN is not set",
    ),
    (
        "AWS_SECRET_ACCESS_KEY",
        "-",
        "static secret key, used only when AWS_OIDC_ROLE_ARN is not set",
    ),
    (
        "AWS_SESSION_TOKEN",
        "-",
        "session token for temporary static keys",
    ),
    (
        "AWS_ROLE_SESSION_NAME",
        "bitbucket-<repo slug>-<build number>",
        "STS session name shown in CloudTrail",
    ),
    (
        "AWS_ROLE_DURATION_SECONDS",
        "3600",
        "STS session length, 900-43200 (renewed while waiting)",
    ),
    ("CLUSTER_NAME", "required", "ECS cluster name or ARN"),
    (
        "SERVICE_NAME",
        "required unless SERVICE_NAMES",
        "ECS service name or ARN",
    ),
    (
        "SERVICE_NAMES",
        "-",
        "list of services of CLUSTER_NAME deployed together, instead of SERVICE_NAME: one new revision per distinct current revision, one verdict",
    ),
    (
        "IMAGE",
        "required unless TASK_DEFINITION or FORCE_NEW_DEPLOYMENT",
        "full image reference for the container",
    ),
    (
        "CONTAINER_NAME",
        "the only container",
        "container that gets IMAGE; required when there are several",
    ),
    (
        "TASK_DEFINITION",
        "-",
        "task definition JSON file (relative to the clone) used instead of the service's current revision",
    ),
    (
        "VERIFY_IMAGE",
        "true",
        "check that an ECR image exists before changing anything",
    ),
    (
        "FORCE_NEW_DEPLOYMENT",
        "false",
        "start new tasks even when nothing changed",
    ),
    (
        "DESIRED_COUNT",
        "unchanged",
        "set the service's desired count",
    ),
    ("WAIT", "true", "follow the rollout to a verdict"),
    ("WAIT_TIMEOUT", "1800", "seconds before giving up waiting"),
    ("WAIT_INTERVAL", "5", "seconds between polls"),
    (
        "ROLLBACK_ON_FAILURE",
        "false",
        "on failure or timeout, put the service back on its previous revision (still exits 1)",
    ),
    (
        "LOG_LINES",
        "20",
        "when a deploy fails, show this many of the last lines each failed container wrote to CloudWatch Logs (0-500; 0 turns it off)",
    ),
    (
        "CONTAINER_IMAGES",
        "-",
        "list of container=image pairs to deploy several containers at once (instead of IMAGE/CONTAINER_NAME)",
    ),
    (
        "TAGS",
        "-",
        "list of key=value tags added to the new revision (existing tags are kept)",
    ),
    (
        "TAG_SERVICE",
        "false",
        "also tag the service with the deployed commit, build and environment",
    ),
    (
        "DRY_RUN",
        "false",
        "show the new revision as a diff and the calls a deploy would make; change nothing",
    ),
    (
        "KEEP_REVISIONS",
        "keep all",
        "after a verified deploy, deregister older ACTIVE revisions beyond this many (never one in use)",
    ),
    (
        "PRE_DEPLOY_COMMAND",
        "-",
        "command run once with the new revision (RunTask, where the service runs) before any service is updated; the deploy goes on only if it exits 0",
    ),
    (
        "PRE_DEPLOY_CONTAINER",
        "CONTAINER_NAME, else the only container",
        "container whose command PRE_DEPLOY_COMMAND replaces",
    ),
    (
        "PRE_DEPLOY_TIMEOUT",
        "900",
        "seconds the pre-deploy task may take; then it is stopped and the deploy fails",
    ),
    (
        "CODEDEPLOY_APPLICATION",
        "found",
        "CodeDeploy application of a CODE_DEPLOY service's deployment group; alone, limits the search to it",
    ),
    (
        "CODEDEPLOY_DEPLOYMENT_GROUP",
        "found",
        "the deployment group (with CODEDEPLOY_APPLICATION); skips the search",
    ),
    (
        "CODEDEPLOY_HOOKS",
        "none",
        "list of Event=LambdaFunction for the AppSpec (BeforeInstall, AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic)",
    ),
    (
        "CODEDEPLOY_DEPLOYMENT_CONFIG",
        "the group's",
        "CodeDeploy deployment configuration for this deployment",
    ),
    (
        "PRINT_IAM_POLICY",
        "false",
        "print the IAM permission and trust policies this deploy needs, as JSON, and exit without calling AWS",
    ),
    (
        "IAM_TRUST_SCOPE",
        "repository",
        "scope of the printed trust policy: repository or environment",
    ),
    ("DEBUG", "false", "extra diagnostics (never secrets)"),
];

/// The text printed by `--help`.
pub fn text() -> String {
    let mut out = format!(
        "ecs-oidc-deploy {}\nDeploy a new image to an Amazon ECS service from Bitbucket Pipelines with OIDC.\n\n\
         Configured only through environment variables (the pipe's `variables:`):\n\n",
        env!("CARGO_PKG_VERSION")
    );
    let width = VARIABLES.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
    for (name, default, meaning) in VARIABLES {
        out.push_str(&format!(
            "  {name:<width$}  {meaning} [default: {default}]\n"
        ));
    }
    for (old, new, removed_in) in crate::config::DEPRECATED {
        out.push_str(&format!(
            "\nDeprecated: {old} still works as {new} until {removed_in}."
        ));
    }
    out.push_str(
        "\nAdvanced: AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_STS/_ECS/_ECR/_CLOUDWATCH_LOGS/_CODEDEPLOY) send calls to another endpoint; NO_COLOR turns colour off.\n\
         \nExit codes:\n  0  deployed and verified (or started, with WAIT=false)\n  \
         1  the service was updated and the deployment then failed, rolled back or timed out\n  \
         2  refused before the service was changed (bad variables, credentials, not found, access denied)\n  \
         3  PRE_DEPLOY_COMMAND ran and did not succeed; no service was updated\n\
         \nOptions: --help, --version, --print-iam-policy (same as PRINT_IAM_POLICY=true). The pipe takes no other arguments.\n",
    );
    out
}
