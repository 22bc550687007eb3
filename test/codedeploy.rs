//! Services that CodeDeploy deploys (`deploymentController` `CODE_DEPLOY`), against the real
//! binary and the scripted CodeDeploy fake (moto's CodeDeploy never leaves `Created` and lacks
//! BatchGetDeploymentGroups, GetDeploymentTarget and StopDeployment).

use serde_json::{Value, json};

use crate::support::codedeploy_fake::{
    BLUE_TASK_SET, CodeDeployFake, DEPLOYMENT_ID, GREEN_TASK_SET, ROLLBACK_ID, Script, deploy_web,
    done_through, frame, frame_with, full_lifecycle, web_service_with_launch_type,
    with_failed_hook,
};
use crate::support::ecs_fake::{NEW_TD, OLD_TD, crashed_task};
use crate::support::http;
use crate::support::pipe::Outcome;

fn last_line(out: &Outcome) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

fn count(fake: &CodeDeployFake, op: &str) -> usize {
    fake.operations().iter().filter(|o| *o == op).count()
}

fn properties(fake: &CodeDeployFake) -> Value {
    fake.appspec()["Resources"][0]["TargetService"]["Properties"].clone()
}

#[test]
fn a_code_deploy_service_is_deployed_through_codedeploy_with_the_appspec_of_the_live_service() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    let out = deploy_web(&fake)
        .env(
            "CODEDEPLOY_HOOKS",
            "AfterAllowTestTraffic=arn:aws:lambda:eu-west-1:123456789012:function:smoke",
        )
        .run();
    out.assert_success();
    assert_eq!(
        fake.appspec(),
        json!({
            "version": 0.0,
            "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
                "TaskDefinition": NEW_TD,
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
    let created = &fake.created()[0];
    assert_eq!(created["applicationName"], "AppECS-prod-web");
    assert_eq!(created["deploymentGroupName"], "DgpECS-prod-web");
    assert_eq!(created["revision"]["revisionType"], "AppSpecContent");
    assert_eq!(
        created["description"],
        "ecs-oidc-deploy: acme/web-app commit 3f7c2a91d04b build 42, web:42"
    );
    assert!(created.get("deploymentConfigName").is_none(), "{created}");
    // ECS would refuse a task definition on this service; the pipe never sends one.
    assert_eq!(fake.updates(), Vec::<Value>::new());
    out.assert_contains("Deploying web:42 to service web through CodeDeploy (AppECS-prod-web/DgpECS-prod-web)")
        .assert_contains("CodeDeploy deployment d-7Q2KX9ABC InProgress: BeforeInstall running; traffic: replacement 0% (3/3 running), original 100% (3/3 running)")
        .assert_contains(&format!("https://eu-west-1.console.aws.amazon.com/codesuite/codedeploy/deployments/{DEPLOYMENT_ID}?region=eu-west-1"));
    assert!(
        last_line(&out)
            .contains("CodeDeploy deployment d-7Q2KX9ABC has moved all production traffic"),
        "{}",
        out.describe()
    );
}

#[test]
fn the_verdict_does_not_wait_out_the_termination_window() {
    // After the shift the deployment stays InProgress (the original task set is kept for 60
    // minutes); the verdict comes at that poll.
    let mut frames = full_lifecycle();
    frames.pop();
    let fake = CodeDeployFake::start(Script::new(frames));
    let pipe = deploy_web(&fake);
    let out = pipe.run();
    out.assert_success().assert_contains(
        "CodeDeploy keeps the original task set until 2026-12-03T11:00:00Z for a rollback, then finishes d-7Q2KX9ABC on its own",
    );
    assert_eq!(count(&fake, "GetDeployment"), 4, "{:?}", fake.operations());
    assert!(out.elapsed.as_secs() < 20, "{}", out.describe());
    let record = pipe.deployment_json();
    assert_eq!(record["deploymentId"], DEPLOYMENT_ID);
    assert_eq!(
        record["codeDeploy"],
        json!({"application": "AppECS-prod-web", "deploymentGroup": "DgpECS-prod-web", "deploymentId": DEPLOYMENT_ID})
    );
    assert_eq!(
        record["services"][0]["codeDeploy"]["deploymentId"],
        DEPLOYMENT_ID
    );
    assert_eq!(record["verdict"], "succeeded");
}

#[test]
fn the_appspec_of_a_service_with_a_launch_type_has_no_capacity_provider_strategy() {
    let mut script = Script::new(full_lifecycle());
    script.web = web_service_with_launch_type();
    let fake = CodeDeployFake::start(script);
    deploy_web(&fake).run().assert_success();
    assert_eq!(
        properties(&fake),
        json!({
            "TaskDefinition": NEW_TD,
            "LoadBalancerInfo": {"ContainerName": "app", "ContainerPort": 8080},
            "PlatformVersion": "LATEST",
            "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"], "SecurityGroups": ["sg-0c1d2e3f"], "AssignPublicIp": "DISABLED"}}
        })
    );
    assert!(fake.appspec().get("Hooks").is_none());
}

#[test]
fn the_group_is_found_among_several_applications_and_only_ecs_ones_are_searched() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    let out = deploy_web(&fake).run();
    out.assert_success().assert_contains(
        "web is deployed by CodeDeploy deployment group AppECS-prod-web/DgpECS-prod-web",
    );
    let groups_asked: Vec<String> = fake
        .fake
        .requests()
        .iter()
        .filter(|r| r.operation().as_deref() == Some("ListDeploymentGroups"))
        .map(|r| {
            r.json()["applicationName"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(groups_asked, vec!["billing", "AppECS-prod-web"]);
    assert_eq!(count(&fake, "ListApplications"), 1);
    assert_eq!(count(&fake, "BatchGetDeploymentGroups"), 2);
    assert_eq!(count(&fake, "GetDeploymentGroup"), 0);
}

#[test]
fn the_variables_name_the_group_and_skip_the_search() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    deploy_web(&fake)
        .env("CODEDEPLOY_APPLICATION", "AppECS-prod-web")
        .env("CODEDEPLOY_DEPLOYMENT_GROUP", "DgpECS-prod-web")
        .env(
            "CODEDEPLOY_DEPLOYMENT_CONFIG",
            "CodeDeployDefault.ECSCanary10Percent5Minutes",
        )
        .run()
        .assert_success();
    assert_eq!(count(&fake, "GetDeploymentGroup"), 1);
    for op in [
        "ListApplications",
        "BatchGetApplications",
        "ListDeploymentGroups",
        "BatchGetDeploymentGroups",
    ] {
        assert_eq!(count(&fake, op), 0, "{op}: {:?}", fake.operations());
    }
    assert_eq!(
        fake.created()[0]["deploymentConfigName"],
        "CodeDeployDefault.ECSCanary10Percent5Minutes"
    );
}

#[test]
fn a_wrong_group_is_refused_before_any_change_naming_the_variables() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    let out = deploy_web(&fake)
        .env("CODEDEPLOY_APPLICATION", "billing")
        .env("CODEDEPLOY_DEPLOYMENT_GROUP", "billing-prod")
        .run();
    out.assert_code(2)
        .assert_contains("CODEDEPLOY_APPLICATION and CODEDEPLOY_DEPLOYMENT_GROUP name billing/billing-prod, which does not deploy prod/web")
        .assert_contains("looked at: billing/billing-prod (deploys prod/billing)")
        .assert_contains("nothing was changed in AWS");
    assert_eq!(fake.writes(), Vec::<String>::new());

    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    let out = deploy_web(&fake)
        .env("CODEDEPLOY_APPLICATION", "AppECS-prod-web")
        .env("CODEDEPLOY_DEPLOYMENT_GROUP", "no-such-group")
        .run();
    out.assert_code(2)
        .assert_contains("name AppECS-prod-web/no-such-group, which does not exist");
    assert_eq!(fake.writes(), Vec::<String>::new());
}

#[test]
fn no_group_for_the_service_is_refused_listing_the_groups_looked_at() {
    let mut script = Script::new(full_lifecycle());
    script
        .groups
        .retain(|g| g["applicationName"] != "AppECS-prod-web");
    let fake = CodeDeployFake::start(script);
    let out = deploy_web(&fake).run();
    out.assert_code(2)
        .assert_contains(
            "no deployment group of any ECS application in CodeDeploy deploys prod/web",
        )
        .assert_contains("looked at: billing/billing-prod (deploys prod/billing)")
        .assert_contains("looked at: billing/billing-staging (deploys staging/billing)")
        .assert_contains("set CODEDEPLOY_APPLICATION and CODEDEPLOY_DEPLOYMENT_GROUP");
    assert_eq!(fake.writes(), Vec::<String>::new());
}

#[test]
fn a_failed_hook_fails_the_deploy_with_its_diagnostics_the_rollback_and_the_stopped_tasks() {
    let tested = frame_with("InProgress", &done_through("AllowTestTraffic"), 0.0);
    let mut failed = with_failed_hook(
        tested.clone(),
        "AfterAllowTestTraffic",
        json!({"errorCode": "ScriptFailed", "scriptName": "smoke", "message": "The hook returned Failed", "logTail": "GET /health 503\nsmoke test failed"}),
    );
    failed.status = "Failed".into();
    failed.error_information = Some(
        json!({"code": "HEALTH_CONSTRAINTS", "message": "The deployment failed because a lifecycle event hook failed."}),
    );
    failed.rollback_info = Some(
        json!({"rollbackDeploymentId": ROLLBACK_ID, "rollbackMessage": "Automatic rollback triggered."}),
    );
    let mut script = Script::new(vec![frame("Created"), tested, failed]);
    script.stopped_tasks = vec![
        crashed_task(1, GREEN_TASK_SET),
        crashed_task(2, BLUE_TASK_SET),
    ];
    let fake = CodeDeployFake::start(script);
    let out = deploy_web(&fake).env("LOG_LINES", "0").run();
    out.assert_code(1)
        .assert_contains("CodeDeploy says: HEALTH_CONSTRAINTS: The deployment failed because a lifecycle event hook failed.")
        .assert_contains("lifecycle event AfterAllowTestTraffic failed: ScriptFailed: smoke: The hook returned Failed")
        .assert_contains("AfterAllowTestTraffic: GET /health 503")
        .assert_contains("CodeDeploy rolled back with deployment d-ROLLBACK1: Automatic rollback triggered.")
        .assert_contains("Failed: AfterAllowTestTraffic failed; traffic: replacement 0%");
    // Only the replacement task set's stopped task is explained, not the original's.
    assert_eq!(
        out.stderr
            .matches("stopped task: EssentialContainerExited")
            .count(),
        1,
        "{}",
        out.describe()
    );
    assert_eq!(
        last_line(&out),
        "✖ CodeDeploy deployment d-7Q2KX9ABC of web:42 failed; the service runs web:41",
        "{}",
        out.describe()
    );
    assert_eq!(count(&fake, "GetDeployment"), 3);
}

#[test]
fn a_stopped_deployment_fails_the_deploy() {
    let mut stopped = frame("Stopped");
    stopped.error_information = Some(
        json!({"code": "DEPLOYMENT_STOPPED", "message": "The deployment was stopped by a user."}),
    );
    let fake = CodeDeployFake::start(Script::new(vec![
        frame_with("InProgress", &[("BeforeInstall", "InProgress")], 0.0),
        stopped,
    ]));
    let out = deploy_web(&fake).run();
    out.assert_code(1)
        .assert_contains(
            "CodeDeploy says: DEPLOYMENT_STOPPED: The deployment was stopped by a user.",
        )
        .assert_contains("CodeDeploy did not roll back");
    assert!(
        last_line(&out).contains("CodeDeploy deployment d-7Q2KX9ABC of web:42 was stopped"),
        "{}",
        out.describe()
    );
}

#[test]
fn ready_is_waited_on_with_one_line_then_the_shift_succeeds() {
    let ready = frame_with("Ready", &done_through("AfterAllowTestTraffic"), 0.0);
    let mut frames = vec![frame("Created")];
    frames.extend(std::iter::repeat_n(ready, 5));
    frames.push(frame_with(
        "InProgress",
        &done_through("AfterAllowTraffic"),
        100.0,
    ));
    let fake = CodeDeployFake::start(Script::new(frames));
    let out = deploy_web(&fake).run();
    out.assert_success();
    assert_eq!(
        out.stderr
            .matches("is Ready: the replacement task set runs")
            .count(),
        1,
        "{}",
        out.describe()
    );
    assert_eq!(count(&fake, "GetDeployment"), 7);
}

#[test]
fn dry_run_prints_the_appspec_and_the_request_and_changes_nothing() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    let out = deploy_web(&fake).env("DRY_RUN", "true").run();
    out.assert_success()
        .assert_contains("codedeploy:CreateDeployment AppECS-prod-web/DgpECS-prod-web for service web")
        .assert_contains("\"TaskDefinition\": \"<the new revision of web>\"")
        .assert_contains("\"CapacityProviderStrategy\": [")
        .assert_contains("\"revisionType\": \"AppSpecContent\"")
        .assert_contains("\"description\": \"ecs-oidc-deploy: acme/web-app commit 3f7c2a91d04b build 42, <the new revision of web>\"")
        .assert_not_contains("ecs:UpdateService");
    assert_eq!(fake.writes(), Vec::<String>::new());
    assert_eq!(count(&fake, "GetDeployment"), 0);
}

#[test]
fn an_ecs_service_and_a_codedeploy_service_deploy_together() {
    let mut script = Script::new(full_lifecycle());
    script.with_api = true;
    let fake = CodeDeployFake::start(script);
    let out = deploy_web(&fake)
        .remove("SERVICE_NAME")
        .env("SERVICE_NAMES_COUNT", "2")
        .env("SERVICE_NAMES_0", "web")
        .env("SERVICE_NAMES_1", "api")
        .run();
    out.assert_success()
        .assert_contains("[web] CodeDeploy deployment d-7Q2KX9ABC InProgress");
    let updates = fake.updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["service"], "api");
    assert_eq!(updates[0]["taskDefinition"], NEW_TD);
    assert_eq!(fake.created().len(), 1);
    assert!(
        last_line(&out).contains("Deployed 2 services in cluster prod"),
        "{}",
        out.describe()
    );
}

#[test]
fn desired_count_goes_through_update_service_without_a_task_definition() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    deploy_web(&fake)
        .env("DESIRED_COUNT", "4")
        .run()
        .assert_success();
    let updates = fake.updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["desiredCount"], 4);
    assert!(
        updates[0].get("taskDefinition").is_none_or(Value::is_null),
        "{updates:?}"
    );
    let ops = fake.operations();
    let update = ops.iter().position(|o| o == "UpdateService");
    let create = ops.iter().position(|o| o == "CreateDeployment");
    assert!(update < create, "{ops:?}");
}

#[test]
fn force_new_deployment_without_an_image_redeploys_the_current_revision() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    deploy_web(&fake)
        .remove("IMAGE")
        .env("FORCE_NEW_DEPLOYMENT", "true")
        .run()
        .assert_success();
    assert_eq!(properties(&fake)["TaskDefinition"], OLD_TD);
    assert_eq!(count(&fake, "RegisterTaskDefinition"), 0);
    assert_eq!(fake.updates(), Vec::<Value>::new());
}

#[test]
fn a_timeout_with_rollback_on_failure_stops_the_deployment_with_codedeploys_rollback() {
    let fake = CodeDeployFake::start(Script::new(vec![frame_with(
        "InProgress",
        &[("BeforeInstall", "InProgress")],
        0.0,
    )]));
    let out = deploy_web(&fake)
        .env("WAIT_TIMEOUT", "1")
        .env("ROLLBACK_ON_FAILURE", "true")
        .run();
    out.assert_code(1)
        .assert_contains("timed out after 1.0s waiting for CodeDeploy deployment d-7Q2KX9ABC of web:42")
        .assert_contains("Stopping CodeDeploy deployment d-7Q2KX9ABC with automatic rollback (ROLLBACK_ON_FAILURE)")
        .assert_contains("ROLLBACK_ON_FAILURE: CodeDeploy deployment d-7Q2KX9ABC is Stopped, rollback deployment d-ROLLBACK1")
        .assert_contains("web serves production traffic from web:41");
    assert_eq!(fake.stopped(), Some(true));
    // Never an UpdateService with a task definition, not even to roll back.
    assert_eq!(fake.updates(), Vec::<Value>::new());
}

#[test]
fn a_lost_create_deployment_answer_is_read_back_and_followed() {
    let mut script = Script::new(full_lifecycle());
    script.lose_create_answer = true;
    let fake = CodeDeployFake::start(script);
    let out = deploy_web(&fake).run();
    out.assert_success().assert_contains(
        "found deployment d-7Q2KX9ABC, which this run's CreateDeployment started; following it",
    );
    assert_eq!(fake.created().len(), 1);
    assert!(count(&fake, "ListDeployments") >= 1);
}

#[test]
fn the_fake_refuses_a_task_definition_update_of_a_code_deploy_service_as_ecs_does() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    let body = json!({"cluster": "prod", "service": "web", "taskDefinition": NEW_TD}).to_string();
    let reply = http::send(
        &fake.endpoint(),
        "POST",
        "/",
        &[
            (
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.UpdateService",
            ),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        body.as_bytes(),
    )
    .expect("the fake answers");
    assert_eq!(reply.status, 400);
    assert!(String::from_utf8_lossy(&reply.body).contains(
        "Unable to update task definition on services with a CODE_DEPLOY deployment controller"
    ),);
}

#[test]
fn pre_deploy_command_runs_before_create_deployment() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    deploy_web(&fake)
        .env("PRE_DEPLOY_COMMAND", "bin/migrate --yes")
        .env("LOG_LINES", "0")
        .run()
        .assert_success();
    let ops = fake.operations();
    let run = ops.iter().position(|o| o == "RunTask");
    let create = ops.iter().position(|o| o == "CreateDeployment");
    assert!(run.is_some() && run < create, "{ops:?}");
}

#[test]
fn keep_revisions_counts_the_revisions_of_the_task_sets_as_in_use() {
    let mut script = Script::new(full_lifecycle());
    script.extra_task_set = Some(json!({
        "id": "ecs-svc/9900000000000000037", "status": "ACTIVE",
        "taskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:37",
        "runningCount": 0, "computedDesiredCount": 0
    }));
    let fake = CodeDeployFake::start(script);
    deploy_web(&fake)
        .env("KEEP_REVISIONS", "2")
        .run()
        .assert_success();
    let td = |n: u32| format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:{n}");
    // web:42 (new) and web:41 (previous) are kept by the count; web:37 because a task set runs it.
    assert_eq!(fake.deregistered(), vec![td(40), td(39), td(38), td(36)]);
}

#[test]
fn codedeploy_calls_go_to_aws_endpoint_url_codedeploy() {
    let ecs = CodeDeployFake::start(Script::new(full_lifecycle()));
    let codedeploy = CodeDeployFake::start(Script::new(full_lifecycle()));
    deploy_web(&ecs)
        .env("AWS_ENDPOINT_URL_CODEDEPLOY", &codedeploy.endpoint())
        .env("DRY_RUN", "true")
        .run()
        .assert_success();
    assert!(
        ecs.fake
            .requests()
            .iter()
            .all(|r| r.target_prefix().as_deref() != Some("CodeDeploy_20141006")),
        "{:?}",
        ecs.operations()
    );
    assert_eq!(count(&codedeploy, "ListApplications"), 1);
    assert_eq!(count(&codedeploy, "DescribeServices"), 0);
}

#[test]
fn codedeploy_variables_on_an_ecs_service_are_ignored_with_a_warning() {
    let fake = crate::support::ecs_fake::EcsFake::start(crate::support::ecs_fake::completed());
    let out = crate::support::ecs_fake::deploy_nginx(&fake.endpoint())
        .env("CODEDEPLOY_APPLICATION", "AppECS-prod-web")
        .run();
    out.assert_success().assert_contains(
        "the CODEDEPLOY_* variables are set, but no service uses the CODE_DEPLOY deployment controller; they are ignored",
    );
    assert!(
        fake.fake
            .requests()
            .iter()
            .all(|r| r.target_prefix().as_deref() != Some("CodeDeploy_20141006"))
    );
}

#[test]
fn when_the_ecs_service_fails_rollback_on_failure_stops_the_shifted_codedeploy_deployment() {
    // web's traffic has moved (✔ for web, its termination wait still running) when api's
    // circuit breaker fails it: ROLLBACK_ON_FAILURE stops web's deployment with CodeDeploy's
    // rollback, which moves traffic back to the original task set still kept.
    let mut frames = full_lifecycle();
    frames.pop();
    let mut script = Script::new(frames);
    script.with_api = true;
    script.api_fails = true;
    let fake = CodeDeployFake::start(script);
    let out = deploy_web(&fake)
        .remove("SERVICE_NAME")
        .env("SERVICE_NAMES_COUNT", "2")
        .env("SERVICE_NAMES_0", "web")
        .env("SERVICE_NAMES_1", "api")
        .env("ROLLBACK_ON_FAILURE", "true")
        .env("LOG_LINES", "0")
        .run();
    out.assert_code(1)
        .assert_contains("web: succeeded (d-7Q2KX9ABC on web:42)")
        .assert_contains("Stopping CodeDeploy deployment d-7Q2KX9ABC with automatic rollback (ROLLBACK_ON_FAILURE)")
        .assert_contains("web serves production traffic from web:41");
    assert_eq!(fake.stopped(), Some(true));
    let updates = fake.updates();
    assert!(
        updates.iter().all(|u| u["service"] == "api"),
        "web is never updated with a task definition: {updates:?}"
    );
}

#[test]
fn when_the_ecs_service_fails_a_succeeded_codedeploy_deployment_is_redeployed_back() {
    // web's deployment is Succeeded (no termination wait left): only a new CodeDeploy
    // deployment of web:41 moves it back, and the pipe follows it with api's rollback.
    let mut script = Script::new(full_lifecycle());
    script.with_api = true;
    script.api_fails = true;
    let fake = CodeDeployFake::start(script);
    let out = deploy_web(&fake)
        .remove("SERVICE_NAME")
        .env("SERVICE_NAMES_COUNT", "2")
        .env("SERVICE_NAMES_0", "web")
        .env("SERVICE_NAMES_1", "api")
        .env("ROLLBACK_ON_FAILURE", "true")
        .env("LOG_LINES", "0")
        .run();
    out.assert_code(1)
        .assert_contains("Rolling back web to web:41 through CodeDeploy (ROLLBACK_ON_FAILURE: its deployment d-7Q2KX9ABC had succeeded)")
        .assert_contains("rolled back: web runs web:41 again")
        .assert_contains("rolled back: api runs web:41 again");
    let created = fake.created();
    assert_eq!(created.len(), 2, "{created:?}");
    let content = created[1]["revision"]["appSpecContent"]["content"]
        .as_str()
        .unwrap_or_default();
    let spec: Value = serde_json::from_str(content).expect("AppSpec JSON");
    assert_eq!(
        spec["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"],
        OLD_TD
    );
    assert_eq!(fake.stopped(), None);
    assert!(fake.updates().iter().all(|u| u["service"] == "api"));
}

#[test]
fn a_refused_create_deployment_says_what_changed_and_which_statement_is_missing() {
    let mut script = Script::new(full_lifecycle());
    script.deny_create = true;
    let fake = CodeDeployFake::start(script);
    let out = deploy_web(&fake).run();
    out.assert_code(2)
        .assert_contains("starting the CodeDeploy deployment of web: codedeploy:CreateDeployment failed: AccessDeniedException")
        .assert_contains("but the service was not updated and still runs its previous revision")
        .assert_contains("the printed policy has the CodeDeploy statements when CODEDEPLOY_APPLICATION");

    let mut script = Script::new(full_lifecycle());
    script.deny_create = true;
    let fake = CodeDeployFake::start(script);
    let out = deploy_web(&fake).env("DESIRED_COUNT", "4").run();
    // The desired count did change: exit 1, not "nothing changed".
    out.assert_code(1)
        .assert_contains("AccessDeniedException")
        .assert_contains("the service was already updated");
}

#[test]
fn codedeploy_application_alone_limits_the_search_to_it() {
    let fake = CodeDeployFake::start(Script::new(full_lifecycle()));
    deploy_web(&fake)
        .env("CODEDEPLOY_APPLICATION", "AppECS-prod-web")
        .run()
        .assert_success()
        .assert_contains("Finding the CodeDeploy deployment group in application AppECS-prod-web (CODEDEPLOY_APPLICATION)");
    assert_eq!(count(&fake, "ListApplications"), 0);
    assert_eq!(count(&fake, "ListDeploymentGroups"), 1);
    assert_eq!(count(&fake, "BatchGetDeploymentGroups"), 1);
}
