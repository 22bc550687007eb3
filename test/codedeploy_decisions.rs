//! CodeDeploy decisions without a network: the AppSpec generated from a service, the
//! CreateDeployment request, `CODEDEPLOY_HOOKS`, group matching, and the verdict judged on
//! GetDeployment and GetDeploymentTarget answers shaped like CodeDeploy's own (the scripted
//! fake builds them).

use ecs_oidc_deploy::aws::codedeploy::Group;
use ecs_oidc_deploy::config::code_deploy::{Hook, parse_hooks};
use ecs_oidc_deploy::rules::appspec::{self, Request};
use ecs_oidc_deploy::rules::codedeploy_verdict::{
    DeploymentInfo, EcsTarget, Verdict, assess, failure, progress_line, utc,
};
use ecs_oidc_deploy::rules::rollout::Service;
use serde_json::{Value, json};

use crate::support::codedeploy_fake::{
    SHIFTED_AT, done_through, ecs_target, web_service, web_service_with_launch_type,
};

const NEW: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42";

fn service(json: Value) -> Service {
    serde_json::from_value(json).expect("service json")
}

fn info(status: &str) -> DeploymentInfo {
    serde_json::from_value(json!({
        "deploymentId": "d-7Q2KX9ABC",
        "status": status,
        "blueGreenDeploymentConfiguration": {"terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 60}}
    }))
    .expect("deployment info")
}

fn target(events: &[(&str, &str)], green: f64) -> EcsTarget {
    serde_json::from_value(ecs_target(events, green)).expect("ecs target")
}

#[test]
fn the_appspec_of_a_fargate_service_with_a_capacity_provider_strategy_keeps_the_strategy() {
    let hooks = vec![Hook {
        event: "AfterAllowTestTraffic".into(),
        function: "arn:aws:lambda:eu-west-1:123456789012:function:smoke".into(),
    }];
    let spec = appspec::appspec(&service(web_service()), NEW, &hooks).expect("appspec");
    assert_eq!(
        spec,
        json!({
            "version": 0.0,
            "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
                "TaskDefinition": NEW,
                "LoadBalancerInfo": {"ContainerName": "app", "ContainerPort": 8080},
                "PlatformVersion": "1.4.0",
                "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"], "SecurityGroups": ["sg-0c1d2e3f"], "AssignPublicIp": "DISABLED"}},
                "CapacityProviderStrategy": [
                    {"Base": 1, "CapacityProvider": "FARGATE", "Weight": 1},
                    {"Base": 0, "CapacityProvider": "FARGATE_SPOT", "Weight": 3}
                ]
            }}}],
            "Hooks": [{"AfterAllowTestTraffic": "arn:aws:lambda:eu-west-1:123456789012:function:smoke"}]
        })
    );
}

#[test]
fn the_appspec_of_a_service_with_a_launch_type_has_no_strategy_and_no_hooks_key() {
    let spec =
        appspec::appspec(&service(web_service_with_launch_type()), NEW, &[]).expect("appspec");
    let properties = &spec["Resources"][0]["TargetService"]["Properties"];
    assert!(
        properties.get("CapacityProviderStrategy").is_none(),
        "{spec}"
    );
    assert_eq!(properties["PlatformVersion"], "LATEST");
    assert!(spec.get("Hooks").is_none(), "{spec}");
}

#[test]
fn a_service_without_a_load_balancer_has_no_appspec() {
    let mut web = web_service();
    web["loadBalancers"] = json!([]);
    let err = appspec::appspec(&service(web), NEW, &[]).expect_err("no load balancer");
    assert!(err.contains("no load balancer"), "{err}");
}

#[test]
fn the_create_deployment_request_carries_the_appspec_content_and_its_sha256() {
    let spec = json!({"version": 0.0});
    let body = appspec::create_deployment_request(
        &Request {
            application: "AppECS-prod-web",
            group: "DgpECS-prod-web",
            deployment_config: Some("CodeDeployDefault.ECSLinear10PercentEvery1Minutes"),
            description: "ecs-oidc-deploy: acme/web-app commit 3f7c2a91d04b build 42, web:42",
        },
        &spec,
    );
    assert_eq!(body["revision"]["revisionType"], "AppSpecContent");
    assert_eq!(
        body["revision"]["appSpecContent"]["content"],
        "{\"version\":0.0}"
    );
    // `printf '{"version":0.0}' | sha256sum`
    assert_eq!(
        body["revision"]["appSpecContent"]["sha256"],
        "05be9fbb372a80b138ed189452851e763059b2dd1c6f7c44363211d0d7739171"
    );
    assert_eq!(
        body["deploymentConfigName"],
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    );
    assert_eq!(body["applicationName"], "AppECS-prod-web");
    assert_eq!(body["deploymentGroupName"], "DgpECS-prod-web");
    let without = appspec::create_deployment_request(
        &Request {
            application: "a",
            group: "g",
            deployment_config: None,
            description: "d",
        },
        &spec,
    );
    assert!(without.get("deploymentConfigName").is_none());
}

#[test]
fn the_description_names_repository_commit_build_and_revision() {
    assert_eq!(
        appspec::description(
            Some("acme/web-app"),
            Some("3f7c2a91d04b8e65a1c9f0e2d7b4a8c6e5f1d203"),
            Some("42"),
            "web:42"
        ),
        "ecs-oidc-deploy: acme/web-app commit 3f7c2a91d04b build 42, web:42"
    );
    assert_eq!(
        appspec::description(None, None, None, "web:42"),
        "ecs-oidc-deploy:, web:42"
    );
}

#[test]
fn hooks_accept_the_five_ecs_events_and_refuse_the_rest() {
    let mut problems = Vec::new();
    let hooks = parse_hooks(
        &[
            "beforeallowtraffic=arn:aws:lambda:eu-west-1:123456789012:function:gate".into(),
            "AfterInstall=warm-up".into(),
        ],
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(hooks[0].event, "BeforeAllowTraffic");
    assert_eq!(hooks[1].function, "warm-up");

    let mut problems = Vec::new();
    let hooks = parse_hooks(
        &[
            "AllowTraffic=arn:aws:lambda:eu-west-1:123456789012:function:x".into(),
            "ApplicationStart=x".into(),
            "BeforeInstall".into(),
            "BeforeInstall=".into(),
            "AfterInstall=a".into(),
            "AfterInstall=b".into(),
        ],
        &mut problems,
    );
    assert_eq!(hooks.len(), 1);
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(problems.iter().all(|p| p.variable == "CODEDEPLOY_HOOKS"));
    assert!(problems[0].message.contains("AllowTraffic"));
    assert!(problems[0].message.contains("BeforeInstall, AfterInstall"));
    assert!(problems[4].message.contains("twice"));
}

#[test]
fn a_group_lists_a_service_by_cluster_and_service_name_or_arn() {
    let group: Group = serde_json::from_value(json!({
        "applicationName": "AppECS-prod-web", "deploymentGroupName": "DgpECS-prod-web",
        "ecsServices": [{"serviceName": "web", "clusterName": "prod"}]
    }))
    .expect("group");
    assert!(group.lists("prod", "web"));
    assert!(group.lists(
        "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "arn:aws:ecs:eu-west-1:123456789012:service/prod/web"
    ));
    assert!(!group.lists("staging", "web"));
    assert!(!group.lists("prod", "web-worker"));
}

#[test]
fn created_and_installing_are_in_progress_and_ready_waits() {
    assert_eq!(assess(&info("Created"), None), Verdict::InProgress);
    let installing = target(&[("BeforeInstall", "InProgress")], 0.0);
    assert_eq!(
        assess(&info("InProgress"), Some(&installing)),
        Verdict::InProgress
    );
    let tested = target(&done_through("AfterAllowTestTraffic"), 0.0);
    assert_eq!(assess(&info("Ready"), Some(&tested)), Verdict::Ready);
}

#[test]
fn all_traffic_shifted_and_after_allow_traffic_done_is_success_without_the_termination_wait() {
    let shifted = target(&done_through("AfterAllowTraffic"), 100.0);
    assert_eq!(
        assess(&info("InProgress"), Some(&shifted)),
        Verdict::Succeeded {
            original_kept_until: Some(SHIFTED_AT + 3600.0),
            early: true
        }
    );
    assert_eq!(utc(SHIFTED_AT + 3600.0), "2026-12-03T11:00:00Z");
    // Traffic moved, but the last hook still runs: not yet.
    let mut hook_running = done_through("AllowTraffic");
    hook_running.push(("AfterAllowTraffic", "InProgress"));
    assert_eq!(
        assess(&info("InProgress"), Some(&target(&hook_running, 100.0))),
        Verdict::InProgress
    );
    // Half the traffic (linear, canary): not yet.
    assert_eq!(
        assess(
            &info("InProgress"),
            Some(&target(&done_through("AfterAllowTraffic"), 50.0))
        ),
        Verdict::InProgress
    );
    assert_eq!(
        assess(&info("Succeeded"), None),
        Verdict::Succeeded {
            original_kept_until: None,
            early: false
        }
    );
}

#[test]
fn a_failed_hook_is_a_failure_with_its_diagnostics_and_the_rollback() {
    let mut failed: DeploymentInfo = serde_json::from_value(json!({
        "deploymentId": "d-7Q2KX9ABC",
        "status": "Failed",
        "errorInformation": {"code": "HEALTH_CONSTRAINTS", "message": "The deployment failed because a lifecycle hook failed."},
        "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK1", "rollbackMessage": "Automatic rollback triggered by a failed deployment."}
    }))
    .expect("info");
    let mut t = ecs_target(&done_through("AllowTestTraffic"), 0.0);
    t["lifecycleEvents"][4]["status"] = json!("Failed");
    t["lifecycleEvents"][4]["diagnostics"] = json!({
        "errorCode": "ScriptFailed", "scriptName": "smoke-test",
        "message": "The hook returned Failed", "logTail": "GET /health 503\nsmoke test failed"
    });
    let t: EcsTarget = serde_json::from_value(t).expect("target");
    let Verdict::Failed(f) = assess(&failed, Some(&t)) else {
        panic!("not a failure")
    };
    assert_eq!(f.status, "Failed");
    assert_eq!(f.rollback_deployment.as_deref(), Some("d-ROLLBACK1"));
    assert_eq!(
        f.details,
        vec![
            "CodeDeploy says: HEALTH_CONSTRAINTS: The deployment failed because a lifecycle hook failed.",
            "lifecycle event AfterAllowTestTraffic failed: ScriptFailed: smoke-test: The hook returned Failed",
            "  AfterAllowTestTraffic: GET /health 503",
            "  AfterAllowTestTraffic: smoke test failed",
            "CodeDeploy rolled back with deployment d-ROLLBACK1: Automatic rollback triggered by a failed deployment.",
        ]
    );
    failed.rollback_info = None;
    failed.status = "Stopped".into();
    let f = failure(&failed, None);
    assert_eq!(f.status, "Stopped");
    assert!(
        f.details
            .last()
            .is_some_and(|d| d.starts_with("CodeDeploy did not roll back")),
        "{:?}",
        f.details
    );
}

#[test]
fn the_progress_line_names_the_running_event_and_the_traffic() {
    assert_eq!(progress_line(&info("Created"), None), "Created");
    let installing = target(&[("BeforeInstall", "InProgress")], 0.0);
    assert_eq!(
        progress_line(&info("InProgress"), Some(&installing)),
        "InProgress: BeforeInstall running; traffic: replacement 0% (3/3 running), original 100% (3/3 running)"
    );
    let shifted = target(&done_through("AfterAllowTraffic"), 100.0);
    assert_eq!(
        progress_line(&info("InProgress"), Some(&shifted)),
        "InProgress: AfterAllowTraffic succeeded; traffic: replacement 100% (3/3 running), original 0% (3/3 running)"
    );
}

fn policy_config(extra: &[(&str, &str)]) -> ecs_oidc_deploy::Config {
    let mut vars: Vec<(String, String)> = [
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_OIDC_ROLE_ARN", "arn:aws:iam::210987654321:role/deploy"),
        ("PRINT_IAM_POLICY", "true"),
        ("CLUSTER_NAME", "prod"),
        ("SERVICE_NAME", "web"),
        ("IMAGE", "nginx:1.28"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    ecs_oidc_deploy::Config::from_vars(vars).expect("valid in print mode")
}

fn statement(policies: &ecs_oidc_deploy::rules::policy::Policies, sid: &str) -> Option<Value> {
    policies.permissions["Statement"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["Sid"] == sid).cloned())
}

#[test]
fn the_policy_has_codedeploy_statements_limited_to_the_named_group() {
    let p = ecs_oidc_deploy::rules::policy::build(&policy_config(&[]), None, None);
    assert!(
        !p.permissions.to_string().contains("codedeploy:"),
        "no CodeDeploy variable, no CodeDeploy statement"
    );

    let p = ecs_oidc_deploy::rules::policy::build(
        &policy_config(&[
            ("CODEDEPLOY_APPLICATION", "AppECS-prod-web"),
            ("CODEDEPLOY_DEPLOYMENT_GROUP", "DgpECS-prod-web"),
        ]),
        None,
        None,
    );
    let deploy = statement(&p, "DeployThroughCodeDeploy").expect("deploy statement");
    assert_eq!(
        deploy["Resource"],
        "arn:aws:codedeploy:eu-west-1:210987654321:deploymentgroup:AppECS-prod-web/DgpECS-prod-web"
    );
    assert!(
        deploy["Action"]
            .to_string()
            .contains("codedeploy:CreateDeployment")
    );
    assert!(
        deploy["Action"]
            .to_string()
            .contains("codedeploy:StopDeployment")
    );
    assert_eq!(
        statement(&p, "RegisterTheAppSpecRevision").expect("revision")["Resource"],
        "arn:aws:codedeploy:eu-west-1:210987654321:application:AppECS-prod-web"
    );
    assert_eq!(
        statement(&p, "ReadTheDeploymentConfig").expect("config")["Resource"],
        "arn:aws:codedeploy:eu-west-1:210987654321:deploymentconfig:*"
    );
    assert!(statement(&p, "FindTheDeploymentGroup").is_none());

    let p = ecs_oidc_deploy::rules::policy::build(
        &policy_config(&[("CODEDEPLOY_HOOKS", "AfterInstall=warm-up")]),
        None,
        None,
    );
    assert_eq!(
        statement(&p, "DeployThroughCodeDeploy").expect("deploy")["Resource"],
        "arn:aws:codedeploy:eu-west-1:210987654321:deploymentgroup:*/*"
    );
    assert!(statement(&p, "FindTheDeploymentGroup").is_some());
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("CODEDEPLOY_DEPLOYMENT_GROUP"))
    );
}

#[test]
fn codedeploy_variables_are_checked_with_the_others() {
    let err = ecs_oidc_deploy::Config::from_vars(
        [
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_OIDC_ROLE_ARN", "arn:aws:iam::210987654321:role/deploy"),
            ("PRINT_IAM_POLICY", "true"),
            ("CLUSTER_NAME", "prod"),
            ("SERVICE_NAME", "web"),
            ("IMAGE", "nginx:1.28"),
            ("CODEDEPLOY_DEPLOYMENT_GROUP", "DgpECS-prod-web"),
            ("CODEDEPLOY_HOOKS_COUNT", "1"),
            ("CODEDEPLOY_HOOKS_0", "Install=x"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    )
    .expect_err("two problems");
    let text = err.details().join("\n");
    assert!(
        text.contains("CODEDEPLOY_DEPLOYMENT_GROUP needs CODEDEPLOY_APPLICATION"),
        "{text}"
    );
    assert!(
        text.contains("CODEDEPLOY_HOOKS names lifecycle event \"Install\""),
        "{text}"
    );
    assert_eq!(err.exit_code(), 2);
}
