//! The pure decisions behind `ACTION` and `WAIT_UNTIL` (`operate_rules`), and how
//! `TASK_DEFINITION` tells a registered revision from a file, without a network.

use ecs_oidc_deploy::config::change::is_registered_revision;
use ecs_oidc_deploy::rules::operate::{
    Owner, RollbackState, appspec_task_definition, describes_commit, digest_warnings, doing,
    in_flight, owner, pause_of, pause_words, previous_of, previous_revision, rollback_state,
};
use ecs_oidc_deploy::rules::rollout::{ServiceDeployment, ServiceRevision};
use serde_json::json;

fn sd(value: serde_json::Value) -> ServiceDeployment {
    serde_json::from_value(value).expect("a service deployment")
}

fn paused() -> ServiceDeployment {
    sd(json!({
        "serviceDeploymentArn": "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/abc",
        "status": "IN_PROGRESS",
        "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
        "lifecycleHookDetails": [
            {"hookId": "smoke", "targetType": "AWS_LAMBDA", "status": "AWAITING_ACTION"},
            {"hookId": "approve", "targetType": "PAUSE", "status": "AWAITING_ACTION", "expiresAt": 1_796_618_400.0, "timeoutAction": "ROLLBACK"}
        ]
    }))
}

#[test]
fn only_a_pause_hook_awaiting_action_of_a_running_deployment_is_a_pause() {
    let pause = pause_of(&paused()).expect("paused");
    assert_eq!(pause.hook_id.as_deref(), Some("approve"));
    assert_eq!(pause.expires_at, Some(1_796_618_400));
    assert_eq!(
        pause_words(&pause),
        "at POST_TEST_TRAFFIC_SHIFT (hook approve) until 2026-12-07T04:40:00Z, then ROLLBACK"
    );
    let mut rolled = paused();
    rolled.status = "ROLLBACK_IN_PROGRESS".into();
    assert_eq!(pause_of(&rolled), None);
    let mut succeeded = paused();
    for hook in &mut succeeded.lifecycle_hook_details {
        hook.status = "SUCCEEDED".into();
    }
    assert_eq!(pause_of(&succeeded), None);
}

#[test]
fn the_commit_tag_decides_whose_build_it_is() {
    let tags = json!([{"key": "team", "value": "payments"}, {"key": "bitbucket:commit", "value": "abc123"}]);
    assert_eq!(owner(&tags, Some("abc123")), Owner::ThisCommit);
    assert_eq!(
        owner(&tags, Some("def456")),
        Owner::OtherCommit("abc123".into())
    );
    assert_eq!(owner(&tags, None), Owner::OtherCommit("abc123".into()));
    assert_eq!(owner(&json!([]), Some("abc123")), Owner::Untagged);
}

#[test]
fn the_previous_revision_is_the_first_source_of_the_newest_deployment() {
    let done = sd(json!({
        "serviceDeploymentArn": "sd-1", "status": "SUCCESSFUL",
        "sourceServiceRevisions": [{"arn": "rev-41"}], "targetServiceRevision": {"arn": "rev-42"}
    }));
    assert_eq!(previous_revision(Some(&done)), Ok("rev-41".into()));
    let first = sd(json!({"serviceDeploymentArn": "sd-0", "status": "SUCCESSFUL"}));
    assert!(
        previous_revision(Some(&first)).is_err_and(|e| e.contains("names no revision it replaced"))
    );
    assert!(previous_revision(None).is_err_and(|e| e.contains("lists no service deployment")));
}

#[test]
fn a_rollback_ends_only_in_rollback_successful() {
    let state =
        |status: &str| rollback_state(&sd(json!({"status": status, "statusReason": "why"})));
    assert_eq!(state("ROLLBACK_IN_PROGRESS"), RollbackState::Going);
    assert_eq!(state("ROLLBACK_REQUESTED"), RollbackState::Going);
    assert_eq!(state("ROLLBACK_SUCCESSFUL"), RollbackState::Done);
    assert_eq!(
        state("ROLLBACK_FAILED"),
        RollbackState::Failed("ROLLBACK_FAILED: why".into())
    );
    assert_eq!(
        state("SUCCESSFUL"),
        RollbackState::Failed("SUCCESSFUL: why".into())
    );
    assert!(in_flight(&sd(json!({"status": "IN_PROGRESS"}))));
    assert!(!in_flight(&sd(json!({"status": "ROLLBACK_IN_PROGRESS"}))));
    assert_eq!(doing(&[]), "no deployment is in progress");
}

#[test]
fn only_a_checked_image_whose_digest_changed_is_warned_about() {
    let revision: ServiceRevision = serde_json::from_value(json!({
        "taskDefinition": "web:42",
        "containerImages": [
            {"containerName": "app", "image": "r/web:v2", "imageDigest": "sha256:new"},
            {"containerName": "sidecar", "image": "r/proxy:1", "imageDigest": "sha256:same"}
        ]
    }))
    .expect("a revision");
    let checked = vec![
        ("r/web:v2".to_string(), "sha256:old".to_string()),
        ("r/proxy:1".to_string(), "sha256:same".to_string()),
    ];
    assert_eq!(
        digest_warnings(&checked, &revision),
        vec!["container app runs r/web:v2 at digest sha256:new, but sha256:old was checked before the deploy: the tag was pushed again in between".to_string()]
    );
    assert!(digest_warnings(&[], &revision).is_empty());
}

#[test]
fn task_definition_names_a_registered_revision_or_a_file() {
    for revision in [
        "web:42",
        "web_worker-2:7",
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42",
        "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/web:1",
    ] {
        assert!(is_registered_revision(revision), "{revision}");
    }
    for file in [
        "ecs/task-definition.json",
        "web",
        "web:latest",
        ":42",
        "c:/td.json",
        "arn:aws:ecs:eu-west-1:123456789012:service/prod/web:1",
    ] {
        assert!(!is_registered_revision(file), "{file}");
    }
}

#[test]
fn a_code_deploy_description_names_the_commit_by_its_first_twelve_characters() {
    let description = "ecs-oidc-deploy: acme/web-app commit 3f7c2a91d04b build 42, web:42";
    assert!(describes_commit(
        description,
        Some("3f7c2a91d04b8e65a1c9f0e2d7b4a8c6e5f1d203")
    ));
    assert!(!describes_commit(
        description,
        Some("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567")
    ));
    assert!(!describes_commit(description, None));
    assert!(!describes_commit("deployed by hand", Some("3f7c2a91d04b")));
}

#[test]
fn a_code_deploy_rollback_goes_to_the_newest_other_revision_its_appspecs_name() {
    let revision = |td: &str| {
        let spec = json!({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": td}}}]});
        json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": spec.to_string()}})
    };
    assert_eq!(
        appspec_task_definition(&revision("web:41")).as_deref(),
        Some("web:41")
    );
    assert_eq!(
        appspec_task_definition(
            &json!({"appSpecContent": {"content": "version: 0.0\nResources: []"}})
        ),
        None
    );
    let deployed = vec![
        "web:42".to_string(),
        "web:42".to_string(),
        "web:40".to_string(),
    ];
    assert_eq!(previous_of("web:42", &deployed).as_deref(), Some("web:40"));
    assert_eq!(previous_of("web:42", &deployed[..2]), None);
}

fn policy_actions(extra: &[(&str, &str)]) -> Vec<String> {
    let mut vars: Vec<(String, String)> = [
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_OIDC_ROLE_ARN", "arn:aws:iam::210987654321:role/deploy"),
        ("PRINT_IAM_POLICY", "true"),
        ("CLUSTER_NAME", "prod"),
        ("SERVICE_NAME", "api"),
        ("BITBUCKET_REPO_UUID", "{9a0e}"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    vars.push(("BITBUCKET_WORKSPACE".into(), "acme".into()));
    let config = ecs_oidc_deploy::Config::from_vars(vars).expect("valid variables");
    let policy = ecs_oidc_deploy::rules::policy::build(&config, None, None);
    let statements = policy.permissions["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let operate = statements
        .iter()
        .find(|s| s["Sid"] == "OperateTheDeployment")
        .cloned()
        .unwrap_or_default();
    match &operate["Action"] {
        serde_json::Value::String(one) => vec![one.clone()],
        serde_json::Value::Array(many) => many
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_printed_policy_adds_what_each_action_needs() {
    assert_eq!(
        policy_actions(&[("IMAGE", "nginx:1.28")]),
        vec!["ecs:DescribeServiceRevisions"]
    );
    assert_eq!(
        policy_actions(&[("IMAGE", "nginx:1.28"), ("ROLLBACK_ON_FAILURE", "true")]),
        vec!["ecs:DescribeServiceRevisions", "ecs:StopServiceDeployment"]
    );
    assert_eq!(
        policy_actions(&[("ACTION", "continue")]),
        vec![
            "ecs:ListServiceDeployments",
            "ecs:DescribeServiceRevisions",
            "ecs:ContinueServiceDeployment"
        ]
    );
    assert_eq!(
        policy_actions(&[("ACTION", "rollback")]),
        vec![
            "ecs:ListServiceDeployments",
            "ecs:DescribeServiceRevisions",
            "ecs:ContinueServiceDeployment",
            "ecs:StopServiceDeployment"
        ]
    );
}

#[test]
fn action_and_wait_until_are_checked_with_the_other_variables() {
    let problems = |extra: &[(&str, &str)]| -> String {
        let vars: Vec<(String, String)> = [
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_OIDC_ROLE_ARN", "arn:aws:iam::210987654321:role/deploy"),
            ("PRINT_IAM_POLICY", "true"),
            ("CLUSTER_NAME", "prod"),
            ("SERVICE_NAME", "api"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        match ecs_oidc_deploy::Config::from_vars(vars) {
            Ok(_) => String::new(),
            Err(e) => e.details().join("\n"),
        }
    };
    assert!(
        problems(&[("ACTION", "approve")])
            .contains("ACTION must be deploy, continue or rollback, got \"approve\"")
    );
    assert!(
        problems(&[("ACTION", "continue"), ("WAIT_UNTIL", "soon")])
            .contains("WAIT_UNTIL must be completed or paused")
    );
    assert!(
        problems(&[("ACTION", "rollback"), ("WAIT_UNTIL", "paused")])
            .contains("ACTION: rollback has no pause to stop at")
    );
    assert!(
        problems(&[
            ("ACTION", "rollback"),
            ("DRY_RUN", "true"),
            ("DESIRED_COUNT", "2")
        ])
        .contains("but DESIRED_COUNT, DRY_RUN are set")
    );
    assert_eq!(problems(&[("ACTION", "continue")]), "", "no IMAGE needed");
    assert!(
        problems(&[]).contains("IMAGE is required"),
        "a deploy still needs a change"
    );
    assert!(
        problems(&[
            ("TASK_DEFINITION", "web:42"),
            ("PRE_DEPLOY_COMMAND", "migrate")
        ])
        .contains(
            "PRE_DEPLOY_COMMAND cannot run with TASK_DEFINITION naming a registered revision"
        )
    );
}
