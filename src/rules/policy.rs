//! `--print-iam-policy`: the least-privilege permission policy and the trust policy for this
//! deploy, built from the same variables a deploy uses. Pure; no AWS call.

use serde_json::{Value, json};

use crate::config::{Action, Auth, Config, TrustScope};
use crate::model::claims::Claims;
use crate::rules::overrides;
use crate::rules::task_def::TaskDefinition;

/// Both policies, and notes about anything that had to be guessed or left as a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    /// The role's permission policy.
    pub permissions: Value,
    /// The role's trust policy.
    pub trust: Value,
    /// What the user should check or fill in.
    pub notes: Vec<String>,
}

/// The statement that lets a failure report show the containers' last log lines.
pub const LOGS_SID: &str = "OptionalShowLogsOfFailedTasks";

fn name_of(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

fn braces(uuid: &str) -> String {
    let bare = uuid.trim_matches(|c| c == '{' || c == '}');
    format!("{{{bare}}}")
}

/// What a capability adds: its statements, from the names and ARNs of this deploy.
type Capability = fn(&Scope, &mut Vec<String>) -> Vec<Value>;

/// Builds both policies. `claims` come from the step's token when there is one.
pub fn build(
    config: &Config,
    task_definition: Option<&TaskDefinition>,
    claims: Option<&Claims>,
) -> Policies {
    let mut notes = Vec::new();
    let scope = Scope::new(config, task_definition, &mut notes);
    // In the order the statements are printed; the notes follow the same order.
    let capabilities: &[Capability] = &[
        read_and_update_the_service,
        register_task_definitions,
        tag_new_revisions,
        follow_the_deployment,
        operate_the_deployment,
        explain_stopped_tasks,
        run_the_pre_deploy_command,
        tag_the_service,
        clean_up_old_revisions,
        move_scheduled_tasks,
        check_the_image_exists,
        pass_the_task_roles,
        show_logs_of_failed_tasks,
        deploy_through_code_deploy,
        check_before_anything_changes,
    ];
    let mut statements = Vec::new();
    for capability in capabilities {
        statements.extend(capability(&scope, &mut notes));
    }
    let permissions = json!({"Version": "2012-10-17", "Statement": statements});

    let trust = trust_policy(config, claims, &scope.partition, &scope.account, &mut notes);
    Policies {
        permissions,
        trust,
        notes,
    }
}

/// The deploy's resources, resolved once for every capability: where a value cannot be known
/// without AWS, a placeholder and a note saying what to fill in.
struct Scope<'a> {
    config: &'a Config,
    task_definition: Option<&'a TaskDefinition>,
    partition: String,
    account: String,
    region: &'a str,
    cluster: &'a str,
    services: Vec<&'a str>,
    families: Vec<String>,
}

impl<'a> Scope<'a> {
    fn new(
        config: &'a Config,
        task_definition: Option<&'a TaskDefinition>,
        notes: &mut Vec<String>,
    ) -> Self {
        let role_arn = match &config.credentials.auth {
            Auth::Oidc { role_arn, .. } => Some(role_arn.as_str()),
            Auth::StaticKeys { .. } => None,
        };
        let from_arns: Vec<&str> = role_arn
            .into_iter()
            .chain(std::iter::once(config.target.cluster.as_str()))
            .chain(config.target.services.iter().map(String::as_str))
            .collect();
        let account = from_arns
            .iter()
            .filter(|a| a.starts_with("arn:"))
            .find_map(|a| arn_part(a, 4))
            .unwrap_or_else(|| {
                notes.push(
                    "replace <ACCOUNT> with your AWS account id (set AWS_OIDC_ROLE_ARN to fill it in)"
                        .into(),
                );
                "<ACCOUNT>".into()
            });
        let partition = role_arn
            .and_then(|a| arn_part(a, 1))
            .unwrap_or_else(|| "aws".into());
        let services: Vec<&str> = config.target.services.iter().map(|s| name_of(s)).collect();
        let families = families(task_definition, &services, notes);
        Scope {
            config,
            task_definition,
            partition,
            account,
            region: &config.target.region,
            cluster: name_of(&config.target.cluster),
            services,
            families,
        }
    }

    fn ecs_arn(&self, resource: &str) -> String {
        let Scope {
            partition,
            region,
            account,
            ..
        } = self;
        format!("arn:{partition}:ecs:{region}:{account}:{resource}")
    }

    /// The condition that keeps a cluster-scoped action on this deploy's cluster.
    fn on_the_cluster(&self) -> Value {
        json!({"ArnEquals": {"ecs:cluster": self.ecs_arn(&format!("cluster/{}", self.cluster))}})
    }

    fn service_arns(&self) -> Value {
        one_or_many(
            self.services
                .iter()
                .map(|s| self.ecs_arn(&format!("service/{}/{s}", self.cluster)))
                .collect(),
        )
    }

    fn family_arns(&self) -> Value {
        one_or_many(
            self.families
                .iter()
                .map(|f| self.ecs_arn(&format!("task-definition/{f}:*")))
                .collect(),
        )
    }
}

fn arn_part(arn: &str, i: usize) -> Option<String> {
    arn.split(':')
        .nth(i)
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

/// One resource stays a string, as people write it; several become a list.
fn one_or_many(arns: Vec<String>) -> Value {
    match arns.as_slice() {
        [one] => json!(one),
        _ => json!(arns),
    }
}

/// The task-definition families the deploy registers revisions in: the given task
/// definition's, or else each service's name, with a note that this is a guess.
fn families(
    task_definition: Option<&TaskDefinition>,
    services: &[&str],
    notes: &mut Vec<String>,
) -> Vec<String> {
    if let Some(td) = task_definition {
        return vec![td.family().to_string()];
    }
    notes.push(match services {
        [service] => format!(
            "the task-definition family is assumed to be {service:?} (the service name); change task-definition/{service}:* if the service's family differs"
        ),
        many => format!(
            "the task-definition family of each service is assumed to be its name ({}); change task-definition/<family>:* where a service's family differs",
            many.join(", ")
        ),
    });
    services.iter().map(|s| (*s).to_string()).collect()
}

/// Every deploy reads the services and points them at the new revision.
fn read_and_update_the_service(scope: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    vec![json!({
        "Sid": "ReadAndUpdateTheService",
        "Effect": "Allow",
        "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
        "Resource": scope.service_arns(),
    })]
}

/// Reading and registering take no resource-level permission, hence `*`.
fn register_task_definitions(_: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    vec![json!({
        "Sid": "ReadAndRegisterTaskDefinitions",
        "Effect": "Allow",
        "Action": ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"],
        "Resource": "*",
    })]
}

/// The audit tags go on each new revision as it is registered, and only then.
fn tag_new_revisions(scope: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    vec![json!({
        "Sid": "TagNewRevisions",
        "Effect": "Allow",
        "Action": "ecs:TagResource",
        "Resource": scope.family_arns(),
        "Condition": {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}},
    })]
}

/// `WAIT`'s follow loop reads each service's deployments.
fn follow_the_deployment(scope: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    let deployments = scope
        .services
        .iter()
        .map(|s| scope.ecs_arn(&format!("service-deployment/{}/{s}/*", scope.cluster)))
        .collect();
    vec![json!({
        "Sid": "FollowTheDeployment",
        "Effect": "Allow",
        "Action": "ecs:DescribeServiceDeployments",
        "Resource": one_or_many(deployments),
    })]
}

/// `ACTION: continue` and `rollback` find, continue and stop service deployments and read
/// service revisions; a deploy stops one with `ROLLBACK_ON_FAILURE` and reads the running
/// revision's digests.
fn operate_the_deployment(scope: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    let config = scope.config;
    let mut actions: Vec<&str> = match config.operate.action {
        Action::Deploy => vec!["ecs:DescribeServiceRevisions"],
        Action::Continue => vec![
            "ecs:ListServiceDeployments",
            "ecs:DescribeServiceRevisions",
            "ecs:ContinueServiceDeployment",
        ],
        Action::Rollback => vec![
            "ecs:ListServiceDeployments",
            "ecs:DescribeServiceRevisions",
            "ecs:ContinueServiceDeployment",
            "ecs:StopServiceDeployment",
        ],
    };
    if config.operate.action == Action::Deploy && config.wait.rollback_on_failure {
        actions.push("ecs:StopServiceDeployment");
    }
    let mut resources = Vec::new();
    for s in &scope.services {
        resources.push(scope.ecs_arn(&format!("service/{}/{s}", scope.cluster)));
        resources.push(scope.ecs_arn(&format!("service-deployment/{}/{s}/*", scope.cluster)));
        resources.push(scope.ecs_arn(&format!("service-revision/{}/{s}/*", scope.cluster)));
    }
    vec![json!({
        "Sid": "OperateTheDeployment",
        "Effect": "Allow",
        "Action": one_or_many(actions.into_iter().map(str::to_string).collect()),
        "Resource": one_or_many(resources),
    })]
}

/// A failure report reads the stopped tasks of the cluster.
fn explain_stopped_tasks(scope: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    vec![json!({
        "Sid": "ExplainStoppedTasks",
        "Effect": "Allow",
        "Action": ["ecs:ListTasks", "ecs:DescribeTasks"],
        "Resource": "*",
        "Condition": scope.on_the_cluster(),
    })]
}

/// `PRE_DEPLOY_COMMAND`: run a task of the new revision, follow it, stop it at the timeout.
fn run_the_pre_deploy_command(scope: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    if scope.config.pre_deploy.is_none() {
        return Vec::new();
    }
    vec![
        json!({
            "Sid": "RunThePreDeployCommand",
            "Effect": "Allow",
            "Action": "ecs:RunTask",
            "Resource": scope.family_arns(),
            "Condition": scope.on_the_cluster(),
        }),
        json!({
            "Sid": "FollowAndStopThePreDeployTask",
            "Effect": "Allow",
            "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
            "Resource": "*",
            "Condition": scope.on_the_cluster(),
        }),
        json!({
            "Sid": "TagThePreDeployTask",
            "Effect": "Allow",
            "Action": "ecs:TagResource",
            "Resource": scope.ecs_arn(&format!("task/{}/*", scope.cluster)),
            "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}},
        }),
    ]
}

/// `TAG_SERVICE`: the service remembers its last deploy.
fn tag_the_service(scope: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    if !scope.config.after.tag_service {
        return Vec::new();
    }
    vec![json!({
        "Sid": "TagTheService",
        "Effect": "Allow",
        "Action": "ecs:TagResource",
        "Resource": scope.service_arns(),
    })]
}

/// `KEEP_REVISIONS`: list and deregister old revisions, after finding those any service of
/// the cluster still uses.
fn clean_up_old_revisions(scope: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    if scope.config.after.keep_revisions.is_none() {
        return Vec::new();
    }
    vec![
        json!({
            "Sid": "CleanUpOldRevisions",
            "Effect": "Allow",
            "Action": ["ecs:ListTaskDefinitions", "ecs:DeregisterTaskDefinition"],
            "Resource": "*",
        }),
        json!({
            "Sid": "FindRevisionsInUse",
            "Effect": "Allow",
            "Action": "ecs:ListServices",
            "Resource": "*",
            "Condition": scope.on_the_cluster(),
        }),
        json!({
            "Sid": "ReadServicesOfTheCluster",
            "Effect": "Allow",
            "Action": "ecs:DescribeServices",
            "Resource": scope.ecs_arn(&format!("service/{}/*", scope.cluster)),
        }),
    ]
}

/// `UPDATE_SCHEDULED_TASKS`: find the cluster's rules (every bus) and schedules (every group),
/// send their targets back, and pass the targets' roles, which EventBridge and Scheduler
/// require of whoever writes a target. The roles cannot be known without AWS: a placeholder.
fn move_scheduled_tasks(scope: &Scope, notes: &mut Vec<String>) -> Vec<Value> {
    if !scope.config.after.update_scheduled_tasks {
        return Vec::new();
    }
    let Scope {
        partition,
        region,
        account,
        ..
    } = scope;
    notes.push("replace <SCHEDULED_TASK_ROLE> with the roles of the EventBridge rule and Scheduler schedule targets that run this service's task definition (UPDATE_SCHEDULED_TASKS)".into());
    vec![
        json!({
            "Sid": "FindScheduledTasks",
            "Effect": "Allow",
            "Action": ["events:ListEventBuses", "events:ListRuleNamesByTarget", "scheduler:ListSchedules"],
            "Resource": "*",
        }),
        json!({
            "Sid": "MoveRuleTargets",
            "Effect": "Allow",
            "Action": ["events:ListTargetsByRule", "events:PutTargets"],
            "Resource": format!("arn:{partition}:events:{region}:{account}:rule/*"),
        }),
        json!({
            "Sid": "MoveSchedules",
            "Effect": "Allow",
            "Action": ["scheduler:GetSchedule", "scheduler:UpdateSchedule"],
            "Resource": format!("arn:{partition}:scheduler:{region}:{account}:schedule/*/*"),
        }),
        json!({
            "Sid": "PassScheduledTaskRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": format!("arn:{partition}:iam::{account}:role/<SCHEDULED_TASK_ROLE>"),
            "Condition": {"StringEquals": {"iam:PassedToService": ["events.amazonaws.com", "scheduler.amazonaws.com"]}},
        }),
    ]
}

/// `VERIFY_IMAGE`: one statement for the ECR repositories of the images set, if any.
fn check_the_image_exists(scope: &Scope, _: &mut Vec<String>) -> Vec<Value> {
    let config = scope.config;
    if !config.change.verify_image {
        return Vec::new();
    }
    let images = config
        .change
        .image
        .iter()
        .chain(config.change.container_images.iter().map(|(_, i)| i));
    let mut repositories: Vec<String> = images
        .filter_map(crate::model::image::ImageRef::ecr)
        .map(|e| {
            format!(
                "arn:{}:ecr:{}:{}:repository/{}",
                scope.partition, e.region, e.account, e.repository
            )
        })
        .collect();
    repositories.dedup();
    if repositories.is_empty() {
        return Vec::new();
    }
    vec![json!({
        "Sid": "CheckTheImageExists",
        "Effect": "Allow",
        "Action": "ecr:DescribeImages",
        "Resource": repositories,
    })]
}

/// A new revision passes its task and execution roles to ECS: `TASK_ROLE_ARN` and
/// `EXECUTION_ROLE_ARN` when given, else the file's, else placeholders with a note. A bare role
/// name becomes its ARN in the account, as ECS reads it.
fn pass_the_task_roles(scope: &Scope, notes: &mut Vec<String>) -> Vec<Value> {
    let given = &scope.config.change.overrides;
    let mut roles: Vec<String> = Vec::new();
    // (placeholder, which role, its variable) for each role nothing names.
    let mut missing: Vec<[&str; 3]> = Vec::new();
    for (key, role, placeholder) in [
        (
            "taskRoleArn",
            &given.task_role,
            ["<TASK_ROLE>", "task role", "TASK_ROLE_ARN"],
        ),
        (
            "executionRoleArn",
            &given.execution_role,
            ["<EXECUTION_ROLE>", "execution role", "EXECUTION_ROLE_ARN"],
        ),
    ] {
        let role = match (role, scope.task_definition) {
            (Some(role), _) => Some(role.as_str()),
            (None, Some(td)) => td
                .body
                .get(key)
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty()),
            (None, None) => {
                missing.push(placeholder);
                Some(placeholder[0])
            }
        };
        if let Some(arn) = role.map(|r| overrides::role_arn(r, &scope.partition, &scope.account))
            && !roles.contains(&arn)
        {
            roles.push(arn);
        }
    }
    if !missing.is_empty() {
        let list = |i: usize| {
            missing
                .iter()
                .map(|m| m[i])
                .collect::<Vec<_>>()
                .join(" and ")
        };
        notes.push(format!(
            "replace {} with the {} of the service's task definition (or set TASK_DEFINITION or {} to fill this in)",
            list(0),
            list(1),
            list(2)
        ));
    }
    if roles.is_empty() {
        return Vec::new();
    }
    vec![json!({
        "Sid": "PassTheTaskRoles",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": roles,
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    })]
}

/// `LOG_LINES`: a failure report shows the containers' last log lines.
fn show_logs_of_failed_tasks(scope: &Scope, notes: &mut Vec<String>) -> Vec<Value> {
    if scope.config.wait.log_lines == 0 {
        return Vec::new();
    }
    let Scope {
        partition,
        account,
        region,
        ..
    } = scope;
    let groups: Vec<String> = match scope.task_definition {
        Some(td) => crate::rules::task_def::awslogs_groups(td.containers(), region)
            .into_iter()
            .map(|(r, g)| format!("arn:{partition}:logs:{r}:{account}:log-group:{g}:*"))
            .collect(),
        None => {
            notes.push("replace <LOG_GROUP> with the awslogs-group of the service's containers (or set TASK_DEFINITION to fill it in)".into());
            vec![format!(
                "arn:{partition}:logs:{region}:{account}:log-group:<LOG_GROUP>:*"
            )]
        }
    };
    if groups.is_empty() {
        return Vec::new();
    }
    notes.push(format!("{LOGS_SID} (logs:GetLogEvents) is optional: without it a failed deploy says the role may not read the containers' logs instead of showing their last lines (LOG_LINES)"));
    vec![json!({
        "Sid": LOGS_SID,
        "Effect": "Allow",
        "Action": "logs:GetLogEvents",
        "Resource": groups,
    })]
}

/// `PREFLIGHT`: the read-only calls of its checks ([`crate::rules::preflight_policy`]).
fn check_before_anything_changes(scope: &Scope, notes: &mut Vec<String>) -> Vec<Value> {
    if !scope.config.change.preflight {
        return Vec::new();
    }
    let given = &scope.config.change.overrides;
    let roles = [&given.task_role, &given.execution_role]
        .into_iter()
        .flatten()
        .map(|r| overrides::role_arn(r, &scope.partition, &scope.account))
        .collect();
    let known = crate::rules::preflight_policy::Known {
        partition: &scope.partition,
        account: &scope.account,
        region: scope.region,
        task_definition: scope.task_definition.map(TaskDefinition::register_request),
        roles,
        images: scope.config.change.verify_image,
    };
    crate::rules::preflight_policy::statements(&known, notes)
}

/// CodeDeploy's part, when a `CODEDEPLOY_*` variable says a service is deployed by CodeDeploy
/// (nothing else can tell without reading the service). `prefix` is
/// `arn:<partition>:codedeploy:<region>:<account>`. CreateDeployment with AppSpec content
/// also needs `RegisterApplicationRevision` on the application and `GetDeploymentConfig` on
/// the configuration: the minimum AWS documents for its own deploy action
/// (aws-actions/amazon-ecs-deploy-task-definition README, "AWS CodeDeploy Support").
fn deploy_through_code_deploy(scope: &Scope, notes: &mut Vec<String>) -> Vec<Value> {
    let options = &scope.config.code_deploy;
    let prefix = format!(
        "arn:{}:codedeploy:{}:{}",
        scope.partition, scope.region, scope.account
    );
    if options.application.is_none()
        && options.group.is_none()
        && options.hooks.is_empty()
        && options.deployment_config.is_none()
    {
        return Vec::new();
    }
    let application = options.application.as_deref().unwrap_or("*");
    let group = options.group.as_deref().unwrap_or("*");
    if options.group.is_none() {
        notes.push("set CODEDEPLOY_APPLICATION and CODEDEPLOY_DEPLOYMENT_GROUP to limit the CodeDeploy statements to that group and drop the search for it".into());
    }
    let config_arn = format!(
        "{prefix}:deploymentconfig:{}",
        options.deployment_config.as_deref().unwrap_or("*")
    );
    let mut statements = vec![
        json!({
            "Sid": "DeployThroughCodeDeploy",
            "Effect": "Allow",
            "Action": [
                "codedeploy:CreateDeployment",
                "codedeploy:GetDeployment",
                "codedeploy:GetDeploymentTarget",
                "codedeploy:StopDeployment",
                "codedeploy:ListDeployments",
                "codedeploy:GetDeploymentGroup",
                "codedeploy:ContinueDeployment",
            ],
            "Resource": format!("{prefix}:deploymentgroup:{application}/{group}"),
        }),
        json!({
            "Sid": "RegisterTheAppSpecRevision",
            "Effect": "Allow",
            "Action": "codedeploy:RegisterApplicationRevision",
            "Resource": format!("{prefix}:application:{application}"),
        }),
        json!({
            "Sid": "ReadTheDeploymentConfig",
            "Effect": "Allow",
            "Action": "codedeploy:GetDeploymentConfig",
            "Resource": config_arn,
        }),
    ];
    if options.group.is_none() {
        statements.push(json!({
            "Sid": "FindTheDeploymentGroup",
            "Effect": "Allow",
            "Action": [
                "codedeploy:ListApplications",
                "codedeploy:BatchGetApplications",
                "codedeploy:ListDeploymentGroups",
                "codedeploy:BatchGetDeploymentGroups",
            ],
            "Resource": "*",
        }));
    }
    statements
}

fn trust_policy(
    config: &Config,
    claims: Option<&Claims>,
    partition: &str,
    account: &str,
    notes: &mut Vec<String>,
) -> Value {
    let ctx = &config.context;
    let issuer = claims
        .and_then(Claims::condition_prefix)
        .unwrap_or_else(|| {
            let workspace = ctx.workspace.clone().unwrap_or_else(|| {
                notes.push("replace <WORKSPACE> with your Bitbucket workspace slug".into());
                "<WORKSPACE>".into()
            });
            format!("api.bitbucket.org/2.0/workspaces/{workspace}/pipelines-config/identity/oidc")
        });
    let audience = claims.and_then(|c| c.audiences().into_iter().next()).unwrap_or_else(|| match &ctx.workspace_uuid {
        Some(uuid) => format!("ari:cloud:bitbucket::workspace/{}", uuid.trim_matches(|c| c == '{' || c == '}')),
        None => {
            notes.push("replace <WORKSPACE_UUID> with the audience shown under Repository settings > OpenID Connect".into());
            "ari:cloud:bitbucket::workspace/<WORKSPACE_UUID>".into()
        }
    });
    let repo = claims
        .and_then(|c| c.repository_uuid.clone())
        .or_else(|| ctx.repo_uuid.clone())
        .map(|u| braces(&u))
        .unwrap_or_else(|| {
            notes.push("replace {<REPO_UUID>} with the repository UUID, in braces".into());
            "{<REPO_UUID>}".into()
        });
    let sub = match config.iam_policy.trust_scope {
        TrustScope::Repository => format!("{repo}:*"),
        TrustScope::Environment => {
            let env = claims
                .and_then(|c| c.deployment_environment_uuid.clone())
                .or_else(|| ctx.deployment_environment_uuid.clone())
                .map(|u| braces(&u))
                .unwrap_or_else(|| {
                    notes.push("replace {<ENVIRONMENT_UUID>} with the deployment environment's UUID, in braces".into());
                    "{<ENVIRONMENT_UUID>}".into()
                });
            format!("{repo}:{env}:*")
        }
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BitbucketPipelinesOidc",
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:{partition}:iam::{account}:oidc-provider/{issuer}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {format!("{issuer}:aud"): audience},
                "StringLike": {format!("{issuer}:sub"): sub},
            },
        }],
    })
}
