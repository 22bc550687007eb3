//! `--print-iam-policy`: the least-privilege permission policy and the trust policy for this
//! deploy, built from the same variables a deploy uses. Pure; no AWS call.

use serde_json::{Value, json};

use crate::claims::Claims;
use crate::config::{Auth, Config, TrustScope};
use crate::task_def::TaskDefinition;

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

/// Builds both policies. `claims` come from the step's token when there is one.
pub fn build(
    config: &Config,
    task_definition: Option<&TaskDefinition>,
    claims: Option<&Claims>,
) -> Policies {
    let mut notes = Vec::new();
    let role_arn = match &config.auth {
        Auth::Oidc { role_arn, .. } => Some(role_arn.as_str()),
        Auth::StaticKeys { .. } => None,
    };
    let arn_part = |arn: &str, i: usize| {
        arn.split(':')
            .nth(i)
            .map(str::to_string)
            .filter(|s| !s.is_empty())
    };
    let from_arns: Vec<&str> = role_arn
        .into_iter()
        .chain(std::iter::once(config.cluster.as_str()))
        .chain(config.services.iter().map(String::as_str))
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
    let region = &config.region;
    let cluster = name_of(&config.cluster);
    let services: Vec<&str> = config.services.iter().map(|s| name_of(s)).collect();
    let ecs_arn = |resource: String| format!("arn:{partition}:ecs:{region}:{account}:{resource}");
    // One resource stays a string, as people write it; several become a list.
    let one_or_many = |arns: Vec<String>| match arns.as_slice() {
        [one] => json!(one),
        _ => json!(arns),
    };
    let families: Vec<String> = match task_definition {
        Some(td) => vec![td.family().to_string()],
        None => {
            notes.push(match services.as_slice() {
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
    };
    let service_arns = one_or_many(
        services
            .iter()
            .map(|s| ecs_arn(format!("service/{cluster}/{s}")))
            .collect(),
    );
    let service_deployment_arns = one_or_many(
        services
            .iter()
            .map(|s| ecs_arn(format!("service-deployment/{cluster}/{s}/*")))
            .collect(),
    );
    let family_arns = one_or_many(
        families
            .iter()
            .map(|f| ecs_arn(format!("task-definition/{f}:*")))
            .collect(),
    );

    let mut statements = vec![
        json!({
            "Sid": "ReadAndUpdateTheService",
            "Effect": "Allow",
            "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
            "Resource": service_arns,
        }),
        json!({
            "Sid": "ReadAndRegisterTaskDefinitions",
            "Effect": "Allow",
            "Action": ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"],
            "Resource": "*",
        }),
        json!({
            "Sid": "TagNewRevisions",
            "Effect": "Allow",
            "Action": "ecs:TagResource",
            "Resource": family_arns,
            "Condition": {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}},
        }),
        json!({
            "Sid": "FollowTheDeployment",
            "Effect": "Allow",
            "Action": "ecs:DescribeServiceDeployments",
            "Resource": service_deployment_arns,
        }),
        json!({
            "Sid": "ExplainStoppedTasks",
            "Effect": "Allow",
            "Action": ["ecs:ListTasks", "ecs:DescribeTasks"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"ecs:cluster": ecs_arn(format!("cluster/{cluster}"))}},
        }),
    ];
    if config.pre_deploy.is_some() {
        statements.push(json!({
            "Sid": "RunThePreDeployCommand",
            "Effect": "Allow",
            "Action": "ecs:RunTask",
            "Resource": family_arns,
            "Condition": {"ArnEquals": {"ecs:cluster": ecs_arn(format!("cluster/{cluster}"))}},
        }));
        statements.push(json!({
            "Sid": "FollowAndStopThePreDeployTask",
            "Effect": "Allow",
            "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"ecs:cluster": ecs_arn(format!("cluster/{cluster}"))}},
        }));
        statements.push(json!({
            "Sid": "TagThePreDeployTask",
            "Effect": "Allow",
            "Action": "ecs:TagResource",
            "Resource": ecs_arn(format!("task/{cluster}/*")),
            "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}},
        }));
    }
    if config.tag_service {
        statements.push(json!({
            "Sid": "TagTheService",
            "Effect": "Allow",
            "Action": "ecs:TagResource",
            "Resource": service_arns,
        }));
    }
    if config.keep_revisions.is_some() {
        statements.push(json!({
            "Sid": "CleanUpOldRevisions",
            "Effect": "Allow",
            "Action": ["ecs:ListTaskDefinitions", "ecs:DeregisterTaskDefinition"],
            "Resource": "*",
        }));
        statements.push(json!({
            "Sid": "FindRevisionsInUse",
            "Effect": "Allow",
            "Action": "ecs:ListServices",
            "Resource": "*",
            "Condition": {"ArnEquals": {"ecs:cluster": ecs_arn(format!("cluster/{cluster}"))}},
        }));
        statements.push(json!({
            "Sid": "ReadServicesOfTheCluster",
            "Effect": "Allow",
            "Action": "ecs:DescribeServices",
            "Resource": ecs_arn(format!("service/{cluster}/*")),
        }));
    }
    if config.verify_image {
        let images = config
            .image
            .iter()
            .chain(config.container_images.iter().map(|(_, i)| i));
        let mut repositories: Vec<String> = images
            .filter_map(crate::image::ImageRef::ecr)
            .map(|e| {
                format!(
                    "arn:{partition}:ecr:{}:{}:repository/{}",
                    e.region, e.account, e.repository
                )
            })
            .collect();
        repositories.dedup();
        if !repositories.is_empty() {
            statements.push(json!({
                "Sid": "CheckTheImageExists",
                "Effect": "Allow",
                "Action": "ecr:DescribeImages",
                "Resource": repositories,
            }));
        }
    }
    let roles = match task_definition {
        Some(td) => td.role_arns(),
        None => {
            notes.push("replace <TASK_ROLE> and <EXECUTION_ROLE> with the task role and execution role of the service's task definition (or set TASK_DEFINITION to fill them in)".into());
            vec![
                format!("arn:{partition}:iam::{account}:role/<TASK_ROLE>"),
                format!("arn:{partition}:iam::{account}:role/<EXECUTION_ROLE>"),
            ]
        }
    };
    if !roles.is_empty() {
        statements.push(json!({
            "Sid": "PassTheTaskRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": roles,
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        }));
    }
    if config.log_lines > 0 {
        let groups: Vec<String> = match task_definition {
            Some(td) => crate::logs::awslogs_groups(td.containers(), region)
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
        if !groups.is_empty() {
            notes.push(format!("{LOGS_SID} (logs:GetLogEvents) is optional: without it a failed deploy says the role may not read the containers' logs instead of showing their last lines (LOG_LINES)"));
            statements.push(json!({
                "Sid": LOGS_SID,
                "Effect": "Allow",
                "Action": "logs:GetLogEvents",
                "Resource": groups,
            }));
        }
    }
    statements.extend(code_deploy_statements(
        config,
        &format!("arn:{partition}:codedeploy:{region}:{account}"),
        &mut notes,
    ));
    let permissions = json!({"Version": "2012-10-17", "Statement": statements});

    let trust = trust_policy(config, claims, &partition, &account, &mut notes);
    Policies {
        permissions,
        trust,
        notes,
    }
}

/// CodeDeploy's part, when a `CODEDEPLOY_*` variable says a service is deployed by CodeDeploy
/// (nothing else can tell without reading the service). `prefix` is
/// `arn:<partition>:codedeploy:<region>:<account>`. CreateDeployment with AppSpec content
/// also needs `RegisterApplicationRevision` on the application and `GetDeploymentConfig` on
/// the configuration: the minimum AWS documents for its own deploy action
/// (aws-actions/amazon-ecs-deploy-task-definition README, "AWS CodeDeploy Support").
fn code_deploy_statements(config: &Config, prefix: &str, notes: &mut Vec<String>) -> Vec<Value> {
    let options = &config.code_deploy;
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
    let sub = match config.trust_scope {
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
