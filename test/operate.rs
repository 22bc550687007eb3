//! Operating a deployment from Bitbucket steps (`WAIT_UNTIL: paused`, `ACTION: continue`,
//! `ACTION: rollback`, `ROLLBACK_ON_FAILURE` through StopServiceDeployment), played by the
//! scripted ECS and CodeDeploy fakes against the real binary.

use serde_json::{Value, json};

use crate::support::codedeploy_fake::{
    self, CodeDeployFake, DEPLOYMENT_ID, deploy_web, done_through, frame, frame_with,
};
use crate::support::ecs_fake::{
    CHECKED_DIGEST, EcsFake, NEW_REVISION, NEW_TD, OLD_ID, OLD_REVISION, OLD_TD, OUR_ID,
    RESOLVED_DIGEST, SD_ARN, Script, deploy_nginx, deployment, service, service_revision,
};
use crate::support::pipe::{COMMIT, Outcome, Pipe};

/// Epoch seconds of the hook's expiry in the fake: 2026-12-07T04:40:00Z.
const EXPIRES: f64 = 1_796_618_400.0;

fn last_line(out: &Outcome) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

fn count(fake: &EcsFake, op: &str) -> usize {
    fake.operations().iter().filter(|o| *o == op).count()
}

fn bg(mut svc: Value) -> Value {
    svc["deploymentConfiguration"]["strategy"] = json!("BLUE_GREEN");
    svc["currentServiceDeployment"] = json!(SD_ARN);
    svc
}

fn ours(running: i64, state: &str) -> Value {
    deployment(OUR_ID, "PRIMARY", NEW_TD, running, 3, 0, Some(state))
}

fn old_active() -> Value {
    deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED"))
}

/// A blue/green deploy of web:42 whose service deployments are `sd_frames`.
fn blue_green(sd_frames: Vec<Value>) -> Script {
    let mut script = Script::new(vec![bg(service(
        vec![ours(3, "IN_PROGRESS"), old_active()],
        vec![],
    ))]);
    script.initial = bg(script.initial.clone());
    script.update_reply = bg(script.update_reply.clone());
    script.service_deployments = sd_frames;
    script
}

/// A service deployment of web:42 (from web:41) in `status` at `stage`; `hook`: the PAUSE
/// hook's status.
fn sd(status: &str, stage: &str, hook: Option<&str>) -> Value {
    let mut v = json!({
        "serviceDeploymentArn": SD_ARN,
        "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "status": status,
        "lifecycleStage": stage,
        "createdAt": 1_796_600_000.0,
        "targetServiceRevision": {"arn": crate::support::ecs_fake::NEW_REVISION, "requestedTaskCount": 3, "runningTaskCount": 3, "pendingTaskCount": 0},
        "sourceServiceRevisions": [{"arn": OLD_REVISION, "requestedTaskCount": 3, "runningTaskCount": 3, "pendingTaskCount": 0}]
    });
    if let Some(hook_status) = hook {
        v["lifecycleHookDetails"] = json!([{"hookId": "approve-prod", "targetType": "PAUSE", "status": hook_status, "timeoutAction": "ROLLBACK", "expiresAt": EXPIRES}]);
    }
    v
}

fn paused() -> Value {
    sd(
        "IN_PROGRESS",
        "POST_TEST_TRAFFIC_SHIFT",
        Some("AWAITING_ACTION"),
    )
}

/// The service back on web:41 after ECS rolled it back.
fn back_on_old() -> Value {
    bg(service(
        vec![deployment(
            OLD_ID,
            "PRIMARY",
            OLD_TD,
            3,
            3,
            0,
            Some("COMPLETED"),
        )],
        vec![],
    ))
}

/// A step that runs `ACTION` on service web of cluster prod (no change variables).
fn action(fake_endpoint: &str, action: &str) -> Pipe {
    Pipe::new()
        .endpoint(fake_endpoint)
        .env("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("ACTION", action)
        .env("WAIT_INTERVAL", "0.05")
        .env("WAIT_TIMEOUT", "30")
}

const PAUSED_WORDS: &str =
    "at POST_TEST_TRAFFIC_SHIFT (hook approve-prod) until 2026-12-07T04:40:00Z, then ROLLBACK";

#[test]
fn wait_until_paused_ends_at_the_pause_then_continue_reaches_success() {
    let mut script = blue_green(vec![sd("IN_PROGRESS", "SCALE_UP", None), paused()]);
    script.after_continue = vec![
        sd("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", Some("SUCCEEDED")),
        sd("SUCCESSFUL", "CLEAN_UP", Some("SUCCEEDED")),
    ];
    let fake = EcsFake::start(script);
    let deploy = deploy_nginx(&fake.endpoint())
        .env("WAIT_TIMEOUT", "30")
        .env("WAIT_UNTIL", "paused");
    let out = deploy.run();
    out.assert_success();
    assert_eq!(
        last_line(&out),
        format!(
            "✔ Paused: web:42 on service web waits for approval {PAUSED_WORDS}; go on with a step that runs the pipe with ACTION: 'continue' (or ACTION: 'rollback')"
        ),
        "{}",
        out.describe()
    );
    assert_eq!(count(&fake, "ContinueServiceDeployment"), 0);
    let json = deploy.deployment_json();
    assert_eq!(json["verdict"], "paused");
    assert_eq!(json["hookId"], "approve-prod");
    assert_eq!(json["serviceDeploymentArn"], SD_ARN);

    let step = action(&fake.endpoint(), "continue");
    let out = step.run();
    out.assert_success();
    assert!(
        last_line(&out)
            .starts_with("✔ Continued and deployed web:42 to service web in cluster prod ("),
        "{}",
        out.describe()
    );
    out.assert_contains(&format!("▶ Continuing web:42 of web {PAUSED_WORDS}"))
        .assert_contains("service deployment SUCCESSFUL CLEAN_UP");
    assert_eq!(
        fake.bodies("ContinueServiceDeployment"),
        vec![
            json!({"serviceDeploymentArn": SD_ARN, "hookId": "approve-prod", "action": "CONTINUE"})
        ]
    );
    assert_eq!(
        count(&fake, "RegisterTaskDefinition"),
        1,
        "only the deploy registered"
    );
    assert_eq!(count(&fake, "UpdateService"), 1, "only the deploy updated");
    assert_eq!(step.deployment_json()["verdict"], "succeeded");
}

#[test]
fn continue_refuses_another_commits_deployment() {
    let mut script = blue_green(vec![paused()]);
    script.new_td_tags = Some(
        json!([{"key": "bitbucket:commit", "value": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"}]),
    );
    let fake = EcsFake::start(script);
    let out = action(&fake.endpoint(), "continue").run();
    out.assert_code(2);
    assert_eq!(
        last_line(&out),
        format!(
            "✖ not continuing web: its paused deployment of web:42 {PAUSED_WORDS} carries commit 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567, not this step's commit {COMMIT}; nothing was changed in AWS"
        ),
        "{}",
        out.describe()
    );
    assert_eq!(count(&fake, "ContinueServiceDeployment"), 0);
}

#[test]
fn continue_with_nothing_paused_says_what_the_service_is_doing() {
    let fake = EcsFake::start(blue_green(vec![sd("IN_PROGRESS", "BAKE_TIME", None)]));
    let out = action(&fake.endpoint(), "continue").run();
    out.assert_code(2);
    assert_eq!(
        last_line(&out),
        format!(
            "✖ nothing to continue for web: deployment {SD_ARN} is IN_PROGRESS at BAKE_TIME, not paused; nothing was changed in AWS"
        ),
        "{}",
        out.describe()
    );
    let fake = EcsFake::start(blue_green(vec![sd("SUCCESSFUL", "CLEAN_UP", None)]));
    let out = action(&fake.endpoint(), "continue").run();
    out.assert_code(2);
    assert_eq!(
        last_line(&out),
        "✖ nothing to continue for web: no deployment is in progress; nothing was changed in AWS"
    );
    assert_eq!(count(&fake, "ContinueServiceDeployment"), 0);
}

#[test]
fn continue_with_change_variables_is_an_error_naming_them() {
    let fake = EcsFake::start(blue_green(vec![paused()]));
    let out = action(&fake.endpoint(), "continue")
        .env("IMAGE", "nginx:1.28")
        .env("TASK_DEFINITION", "web:42")
        .run();
    out.assert_code(2).assert_contains(
        "ACTION is continue, which acts on a deployment that already exists, but IMAGE, TASK_DEFINITION are set; remove them from this step",
    );
    assert_eq!(fake.operations(), Vec::<String>::new(), "no call to AWS");
}

#[test]
fn rollback_while_in_progress_stops_the_deployment_with_rollback() {
    let mut script = blue_green(vec![sd("IN_PROGRESS", "SCALE_UP", None)]);
    script.initial = bg(service(vec![ours(1, "IN_PROGRESS"), old_active()], vec![]));
    script.after_rollback = vec![
        sd("ROLLBACK_IN_PROGRESS", "SCALE_UP", None),
        sd("ROLLBACK_SUCCESSFUL", "CLEAN_UP", None),
    ];
    script.rolled_back_service = Some(back_on_old());
    let fake = EcsFake::start(script);
    let out = action(&fake.endpoint(), "rollback").run();
    out.assert_success();
    assert_eq!(
        last_line(&out),
        "✔ rolled back web to web:41",
        "{}",
        out.describe()
    );
    assert_eq!(
        fake.bodies("StopServiceDeployment"),
        vec![json!({"serviceDeploymentArn": SD_ARN, "stopType": "ROLLBACK"})]
    );
    assert_eq!(count(&fake, "UpdateService"), 0);
}

#[test]
fn rollback_while_paused_continues_the_hook_with_rollback() {
    let mut script = blue_green(vec![paused()]);
    script.after_rollback = vec![sd("ROLLBACK_SUCCESSFUL", "CLEAN_UP", None)];
    script.rolled_back_service = Some(back_on_old());
    let fake = EcsFake::start(script);
    let out = action(&fake.endpoint(), "rollback").run();
    out.assert_success();
    assert_eq!(
        last_line(&out),
        "✔ rolled back web to web:41",
        "{}",
        out.describe()
    );
    assert_eq!(
        fake.bodies("ContinueServiceDeployment"),
        vec![
            json!({"serviceDeploymentArn": SD_ARN, "hookId": "approve-prod", "action": "ROLLBACK"})
        ]
    );
    assert_eq!(count(&fake, "StopServiceDeployment"), 0);
}

#[test]
fn rollback_failed_is_reported_as_no_known_state() {
    let mut script = blue_green(vec![sd("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", None)]);
    let mut failed = sd("ROLLBACK_FAILED", "PRODUCTION_TRAFFIC_SHIFT", None);
    failed["statusReason"] =
        json!("Rollback failed: the production listener rule could not be modified.");
    script.after_rollback = vec![
        sd("ROLLBACK_IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", None),
        failed,
    ];
    let fake = EcsFake::start(script);
    let out = action(&fake.endpoint(), "rollback").run();
    out.assert_code(1);
    assert_eq!(
        last_line(&out),
        "✖ the rollback of web failed (ROLLBACK_FAILED: Rollback failed: the production listener rule could not be modified.); the service is in no known state",
        "{}",
        out.describe()
    );
}

#[test]
fn rollback_with_nothing_in_progress_redeploys_the_previous_revision() {
    // A rolling service that runs web:42 after a finished deployment from web:41.
    let rb = "ecs-svc/7700000000000000050";
    let mut script = Script::new(vec![service(
        vec![deployment(
            rb,
            "PRIMARY",
            OLD_TD,
            3,
            3,
            0,
            Some("COMPLETED"),
        )],
        vec![],
    )]);
    script.initial = service(vec![ours(3, "COMPLETED")], vec![]);
    script.update_reply = service(
        vec![
            deployment(rb, "PRIMARY", OLD_TD, 0, 3, 0, Some("IN_PROGRESS")),
            deployment(OUR_ID, "ACTIVE", NEW_TD, 3, 3, 0, Some("COMPLETED")),
        ],
        vec![],
    );
    script.service_deployments = vec![sd("SUCCESSFUL", "CLEAN_UP", None)];
    let fake = EcsFake::start(script);
    let out = action(&fake.endpoint(), "rollback").run();
    out.assert_success();
    assert_eq!(
        last_line(&out),
        "✔ rolled back web to web:41",
        "{}",
        out.describe()
    );
    out.assert_contains(
        "▶ Rolling back web to web:41 (nothing is in progress; it ran that before web:42)",
    );
    let updates = fake.bodies("UpdateService");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["taskDefinition"], json!(OLD_TD));
    assert_eq!(count(&fake, "StopServiceDeployment"), 0);
    assert_eq!(count(&fake, "RegisterTaskDefinition"), 0);
}

#[test]
fn rollback_with_no_history_says_why_and_changes_nothing() {
    let fake = EcsFake::start(Script::new(vec![]));
    let out = action(&fake.endpoint(), "rollback").run();
    out.assert_code(2);
    assert!(
        last_line(&out).starts_with("✖ cannot roll back web: nothing is in progress, and the revision it ran before is unknown: ECS lists no service deployment for it"),
        "{}",
        out.describe()
    );
    assert_eq!(count(&fake, "UpdateService"), 0);
}

#[test]
fn rollback_on_failure_stops_the_service_deployment_instead_of_a_second_update() {
    let mut script = blue_green(vec![sd("IN_PROGRESS", "BAKE_TIME", None)]);
    script.after_rollback = vec![
        sd("ROLLBACK_IN_PROGRESS", "BAKE_TIME", None),
        sd("ROLLBACK_SUCCESSFUL", "CLEAN_UP", None),
    ];
    let fake = EcsFake::start(script);
    let out = deploy_nginx(&fake.endpoint())
        .env("WAIT_TIMEOUT", "1")
        .env("ROLLBACK_ON_FAILURE", "true")
        .run();
    out.assert_code(1);
    assert!(
        last_line(&out).ends_with(
            "rolled back: ECS put web back on its previous revision (ROLLBACK_SUCCESSFUL)"
        ),
        "{}",
        out.describe()
    );
    assert_eq!(
        fake.bodies("StopServiceDeployment"),
        vec![json!({"serviceDeploymentArn": SD_ARN, "stopType": "ROLLBACK"})]
    );
    assert_eq!(count(&fake, "UpdateService"), 1, "no second UpdateService");
}

#[test]
fn a_pause_under_wait_until_completed_is_reported_once_and_never_continued() {
    let fake = EcsFake::start(blue_green(vec![
        sd("IN_PROGRESS", "SCALE_UP", None),
        paused(),
    ]));
    let out = deploy_nginx(&fake.endpoint())
        .env("WAIT_TIMEOUT", "1")
        .run();
    out.assert_code(1);
    assert_eq!(
        out.stderr
            .matches("lifecycle hook approve-prod is paused")
            .count(),
        1,
        "{}",
        out.describe()
    );
    out.assert_contains(&format!(
        "lifecycle hook approve-prod is paused, waiting for a person {PAUSED_WORDS}: go on with a step that runs the pipe with ACTION: 'continue'"
    ));
    assert_eq!(count(&fake, "ContinueServiceDeployment"), 0);
    assert_eq!(count(&fake, "StopServiceDeployment"), 0);
}

fn ready_frames() -> Vec<codedeploy_fake::Frame> {
    let ready = frame_with("Ready", &done_through("AfterAllowTestTraffic"), 0.0);
    vec![frame("Created"), ready]
}

#[test]
fn code_deploy_ready_pauses_then_continue_sends_ready_wait() {
    let mut script = codedeploy_fake::Script::new(ready_frames());
    script.after_continue = vec![
        frame_with("InProgress", &done_through("AfterAllowTraffic"), 100.0),
        frame_with("Succeeded", &done_through("AfterAllowTraffic"), 100.0),
    ];
    let fake = CodeDeployFake::start(script);
    let out = deploy_web(&fake).env("WAIT_UNTIL", "paused").run();
    out.assert_success();
    assert_eq!(
        last_line(&out),
        format!(
            "✔ Paused: web:42 on service web waits for approval at Ready (CodeDeploy deployment {DEPLOYMENT_ID}) until the deployment group's ready wait time ends; go on with a step that runs the pipe with ACTION: 'continue' (or ACTION: 'rollback')"
        ),
        "{}",
        out.describe()
    );
    assert_eq!(fake.continued(), None);
    let out = action(&fake.endpoint(), "continue").run();
    out.assert_success();
    assert!(
        last_line(&out)
            .starts_with("✔ Continued and deployed web:42 to service web in cluster prod"),
        "{}",
        out.describe()
    );
    assert_eq!(fake.continued().as_deref(), Some("READY_WAIT"));
}

#[test]
fn rollback_of_a_code_deploy_service_stops_its_deployment_with_auto_rollback() {
    let mut frames = ready_frames();
    frames.push(frame_with(
        "InProgress",
        &done_through("AfterAllowTestTraffic"),
        0.0,
    ));
    let fake = CodeDeployFake::start(codedeploy_fake::Script::new(frames));
    deploy_web(&fake)
        .env("WAIT", "false")
        .run()
        .assert_success();
    let out = action(&fake.endpoint(), "rollback").run();
    out.assert_success();
    assert_eq!(
        last_line(&out),
        "✔ rolled back web to web:41",
        "{}",
        out.describe()
    );
    assert_eq!(fake.stopped(), Some(true));
}

const ECR_IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:v2";

/// A blue/green deploy of the ECR image whose revision ECS resolved to `resolved`.
fn ecr_deploy(resolved: &str) -> (EcsFake, Pipe) {
    let mut script = blue_green(vec![sd("SUCCESSFUL", "CLEAN_UP", None)]);
    script.service_revisions = vec![service_revision(NEW_REVISION, NEW_TD, ECR_IMAGE, resolved)];
    let fake = EcsFake::start(script);
    let pipe = deploy_nginx(&fake.endpoint())
        .env("IMAGE", ECR_IMAGE)
        .env("WAIT_TIMEOUT", "30");
    (fake, pipe)
}

#[test]
fn a_digest_that_differs_from_the_checked_one_is_a_warning_naming_both() {
    let (fake, pipe) = ecr_deploy(RESOLVED_DIGEST);
    let out = pipe.run();
    out.assert_success();
    out.assert_contains(&format!(
        "! container app runs {ECR_IMAGE} at digest {RESOLVED_DIGEST}, but {CHECKED_DIGEST} was checked before the deploy: the tag was pushed again in between"
    ));
    assert!(
        last_line(&out).ends_with(&format!("; runs {RESOLVED_DIGEST}")),
        "{}",
        out.describe()
    );
    assert_eq!(
        pipe.deployment_json()["runningImageDigest"],
        RESOLVED_DIGEST
    );
    assert_eq!(
        fake.bodies("DescribeServiceRevisions"),
        vec![json!({"serviceRevisionArns": [NEW_REVISION]})]
    );

    let (_fake, pipe) = ecr_deploy(CHECKED_DIGEST);
    let out = pipe.run();
    out.assert_success()
        .assert_not_contains("was checked before the deploy");
    assert!(last_line(&out).ends_with(&format!("; runs {CHECKED_DIGEST}")));
}

#[test]
fn promoting_a_registered_revision_registers_nothing() {
    let fake = EcsFake::start(Script::new(vec![service(
        vec![ours(3, "COMPLETED")],
        vec![],
    )]));
    let out = Pipe::new()
        .endpoint(&fake.endpoint())
        .env("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("TASK_DEFINITION", "web:42")
        .env("WAIT_INTERVAL", "0.05")
        .env("WAIT_TIMEOUT", "30")
        .run();
    out.assert_success();
    assert!(
        last_line(&out).starts_with("✔ Deployed web:42 to service web in cluster prod ("),
        "{}",
        out.describe()
    );
    out.assert_contains("deployed as it is, with no new registration");
    assert_eq!(count(&fake, "RegisterTaskDefinition"), 0);
    let updates = fake.bodies("UpdateService");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["taskDefinition"], json!(NEW_TD));
    assert_eq!(
        fake.bodies("DescribeTaskDefinition"),
        vec![json!({"taskDefinition": "web:42", "include": ["TAGS"]})]
    );
}

#[test]
fn promoting_with_an_image_makes_a_new_revision_from_the_promoted_one() {
    let fake = EcsFake::start(Script::new(vec![service(
        vec![ours(3, "COMPLETED")],
        vec![],
    )]));
    let out = deploy_nginx(&fake.endpoint())
        .env("IMAGE", "nginx:1.29")
        .env(
            "TASK_DEFINITION",
            "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42",
        )
        .env("WAIT_TIMEOUT", "30")
        .run();
    out.assert_success();
    let registered = fake.registered();
    assert_eq!(registered.len(), 1, "{}", out.describe());
    assert_eq!(
        registered[0]["containerDefinitions"][0]["image"],
        "nginx:1.29"
    );
    assert_eq!(
        fake.bodies("DescribeTaskDefinition")[0]["taskDefinition"],
        json!(NEW_TD)
    );
}

fn with_strategy(mut script: Script, strategy: &str) -> Script {
    for svc in std::iter::once(&mut script.initial)
        .chain(std::iter::once(&mut script.update_reply))
        .chain(script.frames.iter_mut())
    {
        svc["deploymentConfiguration"]["strategy"] = json!(strategy);
    }
    script
}

fn wait_until_paused(fake: &EcsFake) -> Outcome {
    deploy_nginx(&fake.endpoint())
        .env("WAIT_TIMEOUT", "30")
        .env("WAIT_UNTIL", "paused")
        .run()
}

#[test]
fn wait_until_paused_on_linear_and_canary_deployments() {
    // LINEAR with a PAUSE hook: exit 0 at the pause.
    let fake = EcsFake::start(with_strategy(
        blue_green(vec![sd("IN_PROGRESS", "SCALE_UP", None), paused()]),
        "LINEAR",
    ));
    let out = wait_until_paused(&fake);
    out.assert_success();
    assert!(
        last_line(&out).starts_with(
            "✔ Paused: web:42 on service web waits for approval at POST_TEST_TRAFFIC_SHIFT"
        ),
        "{}",
        out.describe()
    );
    // CANARY without a pause: ✔ as usual.
    let fake = EcsFake::start(with_strategy(
        blue_green(vec![
            sd("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", None),
            sd("IN_PROGRESS", "BAKE_TIME", None),
            sd("SUCCESSFUL", "CLEAN_UP", None),
        ]),
        "CANARY",
    ));
    let out = wait_until_paused(&fake);
    out.assert_success();
    assert!(
        last_line(&out).starts_with("✔ Deployed web:42 to service web"),
        "{}",
        out.describe()
    );
    out.assert_contains("service deployment IN_PROGRESS BAKE_TIME");
}

#[test]
fn wait_until_paused_a_failure_before_the_pause_is_a_failure() {
    // A Lambda hook fails at PRE_SCALE_UP and ECS rolls back.
    let mut lambda = sd("IN_PROGRESS", "PRE_SCALE_UP", None);
    lambda["lifecycleHookDetails"] =
        json!([{"hookId": "migrations", "targetType": "AWS_LAMBDA", "status": "IN_PROGRESS"}]);
    let mut failed = sd("ROLLBACK_IN_PROGRESS", "PRE_SCALE_UP", None);
    failed["lifecycleHookDetails"] =
        json!([{"hookId": "migrations", "targetType": "AWS_LAMBDA", "status": "FAILED"}]);
    failed["rollback"] = json!({"reason": "Service deployment rolled back because the lifecycle hook migrations failed."});
    let fake = EcsFake::start(blue_green(vec![lambda, failed]));
    let out = wait_until_paused(&fake);
    out.assert_code(1).assert_not_contains("Paused:");
    assert!(last_line(&out).starts_with("✖ "), "{}", out.describe());
    out.assert_contains("the lifecycle hook migrations failed");
    // An alarm rolls the deployment back during bake time.
    let mut alarm = sd("ROLLBACK_IN_PROGRESS", "BAKE_TIME", None);
    alarm["rollback"] =
        json!({"reason": "Service deployment rolled back because alarm web-5xx went into ALARM."});
    let fake = EcsFake::start(blue_green(vec![
        sd("IN_PROGRESS", "BAKE_TIME", None),
        alarm,
    ]));
    let out = wait_until_paused(&fake);
    out.assert_code(1)
        .assert_contains("alarm web-5xx went into ALARM");
    assert!(last_line(&out).starts_with("✖ "), "{}", out.describe());
}

#[test]
fn continue_with_wait_until_paused_stops_at_the_next_pause_not_the_one_it_continued() {
    let mut script = blue_green(vec![paused()]);
    let mut second = sd("IN_PROGRESS", "POST_PRODUCTION_TRAFFIC_SHIFT", None);
    second["lifecycleHookDetails"] = json!([
        {"hookId": "approve-prod", "targetType": "PAUSE", "status": "SUCCEEDED"},
        {"hookId": "final-check", "targetType": "PAUSE", "status": "AWAITING_ACTION", "timeoutAction": "CONTINUE", "expiresAt": EXPIRES}
    ]);
    // The first answer after the continue still shows the hook waiting (ECS is eventually
    // consistent); that is not a new pause.
    script.after_continue = vec![paused(), second];
    script.new_td_tags = Some(json!([{"key": "bitbucket:commit", "value": COMMIT}]));
    let fake = EcsFake::start(script);
    let out = action(&fake.endpoint(), "continue")
        .env("WAIT_UNTIL", "paused")
        .run();
    out.assert_success();
    assert_eq!(
        last_line(&out),
        "✔ Paused: web:42 on service web waits for approval at POST_PRODUCTION_TRAFFIC_SHIFT (hook final-check) until 2026-12-07T04:40:00Z, then CONTINUE; go on with a step that runs the pipe with ACTION: 'continue' (or ACTION: 'rollback')",
        "{}",
        out.describe()
    );
    assert_eq!(count(&fake, "ContinueServiceDeployment"), 1);
}

#[test]
fn rollback_of_a_code_deploy_service_with_nothing_in_progress_deploys_the_previous_revision() {
    let mut script = codedeploy_fake::Script::new(codedeploy_fake::full_lifecycle());
    script.previous_deployment = true;
    let fake = CodeDeployFake::start(script);
    deploy_web(&fake).run().assert_success();
    let out = action(&fake.endpoint(), "rollback").run();
    out.assert_success();
    assert_eq!(
        last_line(&out),
        "✔ rolled back web to web:41",
        "{}",
        out.describe()
    );
    out.assert_contains("▶ Rolling back web to web:41 through CodeDeploy (nothing is in progress; it ran that before web:42)");
    assert_eq!(fake.stopped(), None, "nothing was in progress to stop");
    let created = fake.created();
    assert_eq!(created.len(), 2, "the deploy, then the rollback");
    let content: Value = serde_json::from_str(
        created[1]["revision"]["appSpecContent"]["content"]
            .as_str()
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(
        content["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"],
        json!(OLD_TD)
    );
}

#[test]
fn a_rollback_still_running_at_the_timeout_says_so() {
    let mut script = blue_green(vec![sd("IN_PROGRESS", "SCALE_UP", None)]);
    script.after_rollback = vec![sd("ROLLBACK_IN_PROGRESS", "SCALE_UP", None)];
    let fake = EcsFake::start(script);
    let out = action(&fake.endpoint(), "rollback")
        .env("WAIT_TIMEOUT", "1")
        .run();
    out.assert_code(1);
    assert_eq!(
        last_line(&out),
        "✖ the rollback of web was still running at WAIT_TIMEOUT (ROLLBACK_IN_PROGRESS SCALE_UP: 3/3 running, 0 pending); ECS goes on rolling back",
        "{}",
        out.describe()
    );
}

/// The deploy step ends at the pause, before the work that follows a verified deploy; the
/// continue step does it once the deployment is verified (here `TAG_SERVICE`), and not before.
#[test]
fn continue_does_the_work_after_a_verified_deploy_that_the_paused_step_skipped() {
    let mut script = blue_green(vec![sd("IN_PROGRESS", "SCALE_UP", None), paused()]);
    script.after_continue = vec![
        sd("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", Some("SUCCEEDED")),
        sd("SUCCESSFUL", "CLEAN_UP", Some("SUCCEEDED")),
    ];
    let fake = EcsFake::start(script);
    let out = deploy_nginx(&fake.endpoint())
        .env("WAIT_UNTIL", "paused")
        .env("TAG_SERVICE", "true")
        .run();
    out.assert_success();
    assert_eq!(count(&fake, "TagResource"), 0, "{}", out.describe());

    let out = action(&fake.endpoint(), "continue")
        .env("TAG_SERVICE", "true")
        .run();
    out.assert_success();
    assert_eq!(count(&fake, "TagResource"), 1, "{}", out.describe());
}

/// A continued deployment that fails does none of that work.
#[test]
fn a_continued_deployment_that_rolls_back_tags_nothing() {
    let mut script = blue_green(vec![sd("IN_PROGRESS", "SCALE_UP", None), paused()]);
    script.after_continue = vec![sd("ROLLBACK_FAILED", "PRODUCTION_TRAFFIC_SHIFT", None)];
    let fake = EcsFake::start(script);
    deploy_nginx(&fake.endpoint())
        .env("WAIT_UNTIL", "paused")
        .run()
        .assert_success();
    let out = action(&fake.endpoint(), "continue")
        .env("TAG_SERVICE", "true")
        .run();
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(count(&fake, "TagResource"), 0, "{}", out.describe());
}
