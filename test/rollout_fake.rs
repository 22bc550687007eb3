//! Rollouts played over time by the scripted fake endpoint: the real binary must reach the
//! right verdict at the poll where ECS decided, and say why.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::ecs_fake::deploy_nginx;
use crate::support::ecs_fake::{
    EcsFake, NEW_TD, OLD_ID, OLD_TD, OUR_ID, SD_ARN, Script, crashed_task, deployment, event,
    failed, service,
};
use crate::support::pipe::{Outcome, Pipe};
use crate::support::snapshot::assert_snapshot;

fn pipe(fake: &EcsFake) -> Pipe {
    deploy_nginx(&fake.endpoint()).env("WAIT_TIMEOUT", "60")
}

fn ours(running: i64, pending: i64, state: &str) -> Value {
    deployment(OUR_ID, "PRIMARY", NEW_TD, running, 3, pending, Some(state))
}

fn old_active(running: i64) -> Value {
    deployment(OLD_ID, "ACTIVE", OLD_TD, running, 3, 0, Some("COMPLETED"))
}

fn last_line(out: &Outcome) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

#[test]
fn success_after_several_polls_prints_changes_once_and_exits_zero() {
    let e1 = event(
        "e1",
        "(service web) has started 3 tasks: (task 0a1b) (task 2c3d) (task 4e5f).",
    );
    let e2 = event(
        "e2",
        "(service web) registered 3 targets in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/6d0ecf831eec9f09)",
    );
    let e3 = event(
        "e3",
        "(service web) has stopped 3 running tasks: (task 9a8b) (task 7c6d) (task 5e4f).",
    );
    let e4 = event("e4", "(service web) has reached a steady state.");
    let frames = vec![
        service(
            vec![ours(0, 3, "IN_PROGRESS"), old_active(3)],
            vec![e1.clone()],
        ),
        service(
            vec![ours(0, 3, "IN_PROGRESS"), old_active(3)],
            vec![e1.clone()],
        ),
        service(
            vec![ours(3, 0, "IN_PROGRESS"), old_active(3)],
            vec![e2.clone(), e1.clone()],
        ),
        service(
            vec![ours(3, 0, "IN_PROGRESS"), old_active(0)],
            vec![e3.clone(), e2.clone(), e1.clone()],
        ),
        service(vec![ours(3, 0, "COMPLETED")], vec![e4, e3, e2, e1]),
    ];
    let fake = EcsFake::start(Script::new(frames));
    let out = pipe(&fake).run();
    out.assert_success();
    assert_eq!(
        fake.polls_after_update(),
        5,
        "the verdict comes at the poll that showed COMPLETED"
    );
    assert_eq!(
        out.stderr.matches("has started 3 tasks").count(),
        1,
        "each event once"
    );
    assert_eq!(
        out.stderr
            .matches("PRIMARY (ours) ecs-svc/7700000000000000042 web:42: 0/3 running, 3 pending")
            .count(),
        1,
        "unchanged lines are not repeated"
    );
    let registered = fake.registered();
    assert_eq!(
        registered[0]["containerDefinitions"][0]["environment"][0],
        json!({"name": "EMPTY", "value": ""})
    );
    assert_eq!(
        registered[0]["tags"],
        json!([
            {"key": "team", "value": "payments"},
            {"key": "bitbucket:repository", "value": "acme/web-app"},
            {"key": "bitbucket:commit", "value": crate::support::pipe::COMMIT},
            {"key": "bitbucket:build-number", "value": "42"},
            {"key": "bitbucket:deployment-environment", "value": "production"},
            {"key": "bitbucket:pipeline-uuid", "value": crate::support::token::PIPELINE_UUID.trim_matches(|c| c == '{' || c == '}')},
        ]),
        "existing tags kept, audit tags added (without the braces ECS refuses)"
    );
    assert_snapshot("rollout_success", &out.stderr);
}

#[test]
fn circuit_breaker_failure_with_rollback_fails_at_once_and_shows_why() {
    let frames = vec![
        service(vec![ours(0, 3, "IN_PROGRESS"), old_active(3)], vec![]),
        service(
            vec![failed(ours(0, 1, "IN_PROGRESS"), 2), old_active(3)],
            vec![event(
                "f1",
                "(service web) (task 0f1e) failed container health checks.",
            )],
        ),
        service(
            vec![
                deployment(
                    "ecs-svc/7700000000000000043",
                    "PRIMARY",
                    OLD_TD,
                    0,
                    3,
                    3,
                    Some("IN_PROGRESS"),
                ),
                failed(
                    deployment(OUR_ID, "ACTIVE", NEW_TD, 0, 3, 0, Some("FAILED")),
                    3,
                ),
                old_active(3),
            ],
            vec![
                event(
                    "f2",
                    "(service web) rolling back to deployment ecs-svc/7700000000000000041.",
                ),
                event(
                    "f1",
                    "(service web) (task 0f1e) failed container health checks.",
                ),
            ],
        ),
    ];
    let mut frames = frames;
    // ECS's rollback deployment completes: only then is the rollback over.
    frames.push(service(
        vec![
            deployment(
                "ecs-svc/7700000000000000043",
                "PRIMARY",
                OLD_TD,
                3,
                3,
                0,
                Some("COMPLETED"),
            ),
            failed(
                deployment(OUR_ID, "ACTIVE", NEW_TD, 0, 3, 0, Some("FAILED")),
                3,
            ),
        ],
        vec![],
    ));
    let mut script = Script::new(frames);
    script.stopped_tasks = vec![
        crashed_task(1, OUR_ID),
        crashed_task(2, OUR_ID),
        crashed_task(3, OUR_ID),
        crashed_task(4, OLD_ID),
    ];
    let fake = EcsFake::start(script);
    let out = pipe(&fake).run();
    out.assert_code(1);
    assert_eq!(
        fake.polls_after_update(),
        4,
        "failure announced at the poll that showed FAILED, the verdict at the one that showed the rollback COMPLETED"
    );
    out.assert_contains("! deployment ecs-svc/7700000000000000042 of web:42 failed: ECS deployment circuit breaker: tasks failed to start; ECS is rolling it back");
    out.assert_contains("3 stopped tasks: EssentialContainerExited: Essential container in task exited; container app exit code 1");
    out.assert_contains("ECS says: ECS deployment circuit breaker: tasks failed to start.");
    assert_eq!(
        last_line(&out),
        "✖ deployment ecs-svc/7700000000000000042 of web:42 failed: ECS deployment circuit breaker: tasks failed to start; rolled back: the service runs web:41"
    );
    assert_snapshot("rollout_circuit_breaker", &out.stderr);
}

#[test]
fn a_completed_rollback_is_still_a_failure_naming_the_revision_running_now() {
    let frames = vec![
        service(vec![ours(0, 3, "IN_PROGRESS"), old_active(3)], vec![]),
        service(
            vec![deployment(
                "ecs-svc/7700000000000000043",
                "PRIMARY",
                OLD_TD,
                3,
                3,
                0,
                Some("COMPLETED"),
            )],
            vec![],
        ),
    ];
    let fake = EcsFake::start(Script::new(frames));
    let out = pipe(&fake).run();
    out.assert_code(1);
    assert_eq!(
        last_line(&out),
        "✖ deployment ecs-svc/7700000000000000042 of web:42 failed; rolled back: the service runs web:41"
    );
}

#[test]
fn stuck_until_the_timeout_reports_the_state_and_what_to_do() {
    let frames = vec![service(
        vec![ours(1, 2, "IN_PROGRESS"), old_active(3)],
        vec![event(
            "s1",
            "(service web) was unable to place a task because no container instance met all of its requirements.",
        )],
    )];
    let fake = EcsFake::start(Script::new(frames));
    let out = pipe(&fake)
        .env("WAIT_TIMEOUT", "1")
        .env("WAIT_INTERVAL", "0.2")
        .run();
    out.assert_code(1);
    out.assert_contains("state: deployment ecs-svc/7700000000000000042 of web:42: 1/3 running, 2 pending, rollout IN_PROGRESS");
    out.assert_contains("recent event: (service web) was unable to place a task");
    out.assert_contains("hint: raise WAIT_TIMEOUT");
    assert!(
        last_line(&out).starts_with(
            "✖ timed out after 1.0s waiting for ecs-svc/7700000000000000042 of web:42"
        ),
        "{}",
        out.describe()
    );
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
}

#[test]
fn a_rerun_of_the_same_revision_is_followed_instead_of_failing() {
    let rerun = "ecs-svc/7700000000000000099";
    let frames = vec![
        service(vec![ours(1, 2, "IN_PROGRESS"), old_active(3)], vec![]),
        service(
            vec![
                deployment(rerun, "PRIMARY", NEW_TD, 0, 3, 3, Some("IN_PROGRESS")),
                deployment(OUR_ID, "ACTIVE", NEW_TD, 1, 3, 0, Some("IN_PROGRESS")),
            ],
            vec![],
        ),
        service(
            vec![deployment(
                rerun,
                "PRIMARY",
                NEW_TD,
                3,
                3,
                0,
                Some("COMPLETED"),
            )],
            vec![],
        ),
    ];
    let fake = EcsFake::start(Script::new(frames));
    let out = pipe(&fake).run();
    out.assert_success();
    out.assert_contains(&format!(
        "deployment {rerun} of the same revision replaced {OUR_ID}"
    ));
    assert!(
        last_line(&out).contains(&format!("{rerun} is complete: https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/web/deployments")),
        "{}",
        out.describe()
    );
}

#[test]
fn replaced_by_another_revision_is_a_failure() {
    let other = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:43";
    let frames = vec![
        service(vec![ours(1, 2, "IN_PROGRESS"), old_active(3)], vec![]),
        service(
            vec![
                deployment(
                    "ecs-svc/7700000000000000100",
                    "PRIMARY",
                    other,
                    0,
                    3,
                    3,
                    Some("IN_PROGRESS"),
                ),
                deployment(OUR_ID, "ACTIVE", NEW_TD, 1, 3, 0, Some("IN_PROGRESS")),
            ],
            vec![],
        ),
    ];
    let fake = EcsFake::start(Script::new(frames));
    let out = pipe(&fake).run();
    out.assert_code(1)
        .assert_contains("hint: another pipeline or person deployed at the same time");
    assert_eq!(
        last_line(&out),
        "✖ deployment of web:42 was replaced by a deployment of web:43; the service runs that now"
    );
}

#[test]
fn scale_to_zero_completes() {
    let zero = |running, state| deployment(OUR_ID, "PRIMARY", NEW_TD, running, 0, 0, Some(state));
    let mut script = Script::new(vec![
        service(
            vec![
                zero(0, "IN_PROGRESS"),
                deployment(OLD_ID, "ACTIVE", OLD_TD, 2, 0, 0, Some("COMPLETED")),
            ],
            vec![],
        ),
        service(vec![zero(0, "COMPLETED")], vec![]),
    ]);
    script.update_reply = service(vec![zero(0, "IN_PROGRESS")], vec![]);
    let fake = EcsFake::start(script);
    let out = pipe(&fake).env("DESIRED_COUNT", "0").run();
    out.assert_success().assert_contains("desired count 3 → 0");
    let update = fake
        .fake
        .requests()
        .into_iter()
        .find(|r| r.operation().as_deref() == Some("UpdateService"))
        .expect("update");
    assert_eq!(update.json()["desiredCount"], json!(0));
}

#[test]
fn throttling_longer_than_the_sdk_retries_does_not_end_the_wait() {
    let mut script = Script::new(vec![service(vec![ours(3, 0, "COMPLETED")], vec![])]);
    script.throttle_polls = 6; // the SDK tries 5 times, so one poll fails and the loop must carry on
    let fake = EcsFake::start(script);
    let out = pipe(&fake).run();
    out.assert_success();
    out.assert_contains("ecs:DescribeServices failed: ThrottlingException: Rate exceeded; still waiting, will ask again");
    assert_eq!(fake.polls_after_update(), 7);
}

#[test]
fn one_server_error_on_update_service_is_retried_once() {
    let mut script = Script::new(vec![service(vec![ours(3, 0, "COMPLETED")], vec![])]);
    script.fail_first_update = true;
    let fake = EcsFake::start(script);
    let out = pipe(&fake).run();
    out.assert_success();
    let updates = fake
        .operations()
        .iter()
        .filter(|o| *o == "UpdateService")
        .count();
    assert_eq!(updates, 2, "one failed attempt, one retry");
}

#[test]
fn credentials_are_renewed_when_the_wait_outlives_the_session() {
    let mut frames = vec![service(vec![ours(1, 2, "IN_PROGRESS"), old_active(3)], vec![]); 60];
    frames.push(service(vec![ours(3, 0, "COMPLETED")], vec![]));
    let mut script = Script::new(frames);
    script.credential_seconds = 12; // the SDK renews 10 s before expiry
    let fake = EcsFake::start(script);
    let out = pipe(&fake).env("WAIT_INTERVAL", "0.1").run();
    out.assert_success();
    assert!(
        fake.sts_calls() >= 2,
        "the session was renewed: {} STS calls",
        fake.sts_calls()
    );
    let renewed = fake.fake.requests().iter().any(|r| {
        r.header("authorization")
            .is_some_and(|a| a.contains("ASIAFAKEKEY000000002"))
    });
    assert!(
        renewed,
        "later ECS calls are signed with the renewed credentials"
    );
}

#[test]
fn an_expired_token_at_renewal_is_explained_and_ends_the_wait() {
    let mut script = Script::new(vec![service(
        vec![ours(1, 2, "IN_PROGRESS"), old_active(3)],
        vec![],
    )]);
    // Call 1 is the first assume, call 2 the renewal at first use (the session is short), and
    // call 3, once the SDK finds that session expiring, meets the expired token.
    script.credential_seconds = 12;
    script.token_expires_at_call = Some(3);
    let fake = EcsFake::start(script);
    let out = pipe(&fake)
        .env("WAIT_INTERVAL", "0.1")
        .env("WAIT_TIMEOUT", "30")
        .run();
    out.assert_code(1);
    out.assert_contains("the step's OIDC token has expired");
    assert!(
        out.elapsed < Duration::from_secs(20),
        "ended before the timeout: {:?}",
        out.elapsed
    );
}

fn blue_green(sd_frames: Vec<Value>) -> Script {
    let bg = |mut svc: Value| {
        svc["deploymentConfiguration"]["strategy"] = json!("BLUE_GREEN");
        svc["currentServiceDeployment"] = json!(SD_ARN);
        svc
    };
    let mut script = Script::new(vec![bg(service(
        vec![ours(3, 0, "IN_PROGRESS"), old_active(3)],
        vec![],
    ))]);
    script.initial = bg(script.initial.clone());
    script.update_reply = bg(script.update_reply.clone());
    script.service_deployments = sd_frames;
    script
}

fn sd(status: &str, stage: &str, hook: Option<&str>) -> Value {
    let mut v = json!({
        "serviceDeploymentArn": SD_ARN,
        "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "status": status,
        "lifecycleStage": stage,
        "targetServiceRevision": {"arn": "arn:aws:ecs:eu-west-1:123456789012:service-revision/prod/web/5587654321", "requestedTaskCount": 3, "runningTaskCount": 3, "pendingTaskCount": 0},
        "sourceServiceRevisions": [{"arn": "arn:aws:ecs:eu-west-1:123456789012:service-revision/prod/web/5512345678", "requestedTaskCount": 3, "runningTaskCount": 3, "pendingTaskCount": 0}],
        "deploymentCircuitBreaker": {"status": "MONITORING", "failureCount": 0, "threshold": 3}
    });
    if let Some(hook_status) = hook {
        v["lifecycleHookDetails"] = json!([{"hookId": "approve-prod", "targetType": "PAUSE", "status": hook_status, "timeoutAction": "ROLLBACK"}]);
    }
    v
}

#[test]
fn blue_green_follows_the_stages_and_points_at_a_paused_hook() {
    let fake = EcsFake::start(blue_green(vec![
        sd("IN_PROGRESS", "SCALE_UP", None),
        sd("IN_PROGRESS", "TEST_TRAFFIC_SHIFT", None),
        sd(
            "IN_PROGRESS",
            "POST_TEST_TRAFFIC_SHIFT",
            Some("AWAITING_ACTION"),
        ),
        sd(
            "IN_PROGRESS",
            "POST_TEST_TRAFFIC_SHIFT",
            Some("AWAITING_ACTION"),
        ),
        sd("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", Some("SUCCEEDED")),
        sd("SUCCESSFUL", "CLEAN_UP", Some("SUCCEEDED")),
    ]));
    let out = pipe(&fake).run();
    out.assert_success();
    for stage in [
        "SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
    ] {
        out.assert_contains(&format!("service deployment IN_PROGRESS {stage}"));
    }
    assert_eq!(
        out.stderr
            .matches("lifecycle hook approve-prod is paused")
            .count(),
        1,
        "{}",
        out.describe()
    );
    out.assert_contains(&format!("aws ecs continue-service-deployment --service-deployment-arn {SD_ARN} --hook-id approve-prod --action CONTINUE"));
    assert!(
        !fake
            .operations()
            .iter()
            .any(|o| o == "ContinueServiceDeployment"),
        "the pipe never continues on its own"
    );
    assert_snapshot("rollout_blue_green", &out.stderr);
}

#[test]
fn blue_green_rollback_is_a_failure() {
    let mut rolled = sd("ROLLBACK_SUCCESSFUL", "CLEAN_UP", None);
    rolled["rollback"] = json!({"reason": "Service deployment rolled back because the circuit breaker threshold was exceeded.", "serviceRevisionArn": "arn:aws:ecs:eu-west-1:123456789012:service-revision/prod/web/5512345678"});
    let mut script = blue_green(vec![sd("IN_PROGRESS", "SCALE_UP", None), rolled]);
    // The second poll: the service is back on the old revision.
    let mut back = service(
        vec![deployment(
            "ecs-svc/7700000000000000043",
            "PRIMARY",
            OLD_TD,
            3,
            3,
            0,
            None,
        )],
        vec![],
    );
    back["deploymentConfiguration"]["strategy"] = json!("BLUE_GREEN");
    back["currentServiceDeployment"] = json!(SD_ARN);
    script.frames.push(back);
    let fake = EcsFake::start(script);
    let out = pipe(&fake).run();
    out.assert_code(1).assert_contains("ROLLBACK_SUCCESSFUL: Service deployment rolled back because the circuit breaker threshold was exceeded.");
    assert_eq!(
        last_line(&out),
        "✖ deployment ecs-svc/7700000000000000042 of web:42 failed: Service deployment rolled back because the circuit breaker threshold was exceeded; rolled back: the service runs web:41"
    );
}

#[test]
fn sigterm_stops_the_wait_at_once_and_says_where_it_stands() {
    let fake = EcsFake::start(Script::new(vec![service(
        vec![ours(1, 2, "IN_PROGRESS"), old_active(3)],
        vec![],
    )]));
    let running = pipe(&fake).env("WAIT_INTERVAL", "0.2").spawn();
    let start = std::time::Instant::now();
    while fake.polls_after_update() < 2 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    running.signal("TERM");
    let signalled = std::time::Instant::now();
    let out = running.wait(Duration::from_secs(60));
    out.assert_code(1);
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "stopped promptly"
    );
    out.assert_contains("stopped by a signal while waiting");
    out.assert_contains("deployment ecs-svc/7700000000000000042 of web:42: 1/3 running, 2 pending");
}

#[test]
fn rollback_on_failure_puts_the_previous_revision_back_and_still_fails() {
    let rb = "ecs-svc/7700000000000000050";
    let mut script = Script::new(vec![
        service(vec![ours(0, 3, "IN_PROGRESS"), old_active(3)], vec![]),
        service(vec![failed(ours(0, 0, "FAILED"), 3), old_active(3)], vec![]),
    ]);
    script.stopped_tasks = vec![crashed_task(1, OUR_ID)];
    script.rollback_frames = vec![
        service(
            vec![
                deployment(rb, "PRIMARY", OLD_TD, 0, 3, 3, Some("IN_PROGRESS")),
                deployment(OUR_ID, "ACTIVE", NEW_TD, 0, 3, 0, Some("FAILED")),
            ],
            vec![],
        ),
        service(
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
        ),
    ];
    let fake = EcsFake::start(script);
    let out = pipe(&fake).env("ROLLBACK_ON_FAILURE", "true").run();
    out.assert_code(1);
    out.assert_contains("▶ Rolling back to web:41 (ROLLBACK_ON_FAILURE)");
    assert!(
        last_line(&out).ends_with("rolled back: the service runs web:41 again"),
        "{}",
        out.describe()
    );
    let updates: Vec<Value> = fake
        .fake
        .requests()
        .iter()
        .filter(|r| r.operation().as_deref() == Some("UpdateService"))
        .map(|r| r.json())
        .collect();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1]["taskDefinition"], json!(OLD_TD));
}

#[test]
fn external_services_are_refused_before_anything_is_registered() {
    // CODE_DEPLOY services are deployed through CodeDeploy (test/codedeploy.rs); EXTERNAL
    // ones deploy through task sets, which the pipe does not manage.
    let mut script = Script::new(vec![]);
    script.initial["deploymentController"] = json!({"type": "EXTERNAL"});
    let fake = EcsFake::start(script);
    let out = pipe(&fake).run();
    out.assert_code(2)
        .assert_contains("uses the EXTERNAL deployment controller");
    assert!(
        !fake
            .operations()
            .iter()
            .any(|o| o == "RegisterTaskDefinition" || o == "UpdateService")
    );
}
