//! ECS-native deployments (blue/green, linear, canary) and a rolling deployment's
//! circuit-breaker rollback, played on a clock by the scripted fake (`Script::stages`): the
//! real binary must announce a failure at the first poll that shows it, follow ECS's rollback
//! to its end, and say in the last line only what it saw.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::ecs_fake::{
    EcsFake, NEW_TD, OLD_ID, OLD_TD, OUR_ID, SD_ARN, Script, Stage, deploy_nginx, deployment,
    event, failed, service,
};
use crate::support::pipe::{Outcome, Pipe};

const ROLLBACK_ID: &str = "ecs-svc/7700000000000000043";
const SMOKE_LAMBDA: &str = "arn:aws:lambda:eu-west-1:123456789012:function:web-smoke-test:live";
/// 2026-12-08T04:00:00Z
const EXPIRES: f64 = 1_796_702_400.0;

fn pipe(fake: &EcsFake) -> Pipe {
    deploy_nginx(&fake.endpoint()).env("WAIT_TIMEOUT", "60")
}

fn last_line(out: &Outcome) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

/// Where `needle` first appears in stderr; fails the test when it does not.
fn at(out: &Outcome, needle: &str) -> usize {
    out.stderr
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not printed\n{}", out.describe()))
}

/// Where the line after the first line that starts with `prefix` begins.
fn right_after(out: &Outcome, prefix: &str) -> usize {
    let mut offset = 0;
    let mut found = false;
    for line in out.stderr.split_inclusive('\n') {
        if found {
            return offset;
        }
        found = line.starts_with(prefix);
        offset += line.len();
    }
    panic!(
        "no line after one starting with {prefix:?}\n{}",
        out.describe()
    )
}

/// A service on an ECS-native `strategy`, running `deployments`.
fn native(strategy: &str, deployments: Vec<Value>) -> Value {
    let mut svc = service(deployments, vec![]);
    svc["deploymentConfiguration"]["strategy"] = json!(strategy);
    svc["currentServiceDeployment"] = json!(SD_ARN);
    svc
}

/// Both revisions up, as during a blue/green deployment.
fn both(strategy: &str) -> Value {
    native(
        strategy,
        vec![
            deployment(OUR_ID, "PRIMARY", NEW_TD, 3, 3, 0, None),
            deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, None),
        ],
    )
}

/// The service on one revision only.
fn only(strategy: &str, id: &str, td: &str) -> Value {
    native(strategy, vec![deployment(id, "PRIMARY", td, 3, 3, 0, None)])
}

/// A script for a service on `strategy` whose service deployment plays `stages`.
fn script(strategy: &str, stages: Vec<Stage>) -> Script {
    let mut script = Script::new(vec![both(strategy)]);
    script.initial = only(strategy, OLD_ID, OLD_TD);
    script.update_reply = both(strategy);
    script.stages = stages;
    script
}

/// A DescribeServiceDeployments entry.
fn sd(status: &str, stage: &str) -> Value {
    json!({
        "serviceDeploymentArn": SD_ARN,
        "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "status": status,
        "lifecycleStage": stage,
        "targetServiceRevision": {"arn": "arn:aws:ecs:eu-west-1:123456789012:service-revision/prod/web/5587654321", "requestedTaskCount": 3, "runningTaskCount": 3, "pendingTaskCount": 0},
        "sourceServiceRevisions": [{"arn": "arn:aws:ecs:eu-west-1:123456789012:service-revision/prod/web/5512345678", "requestedTaskCount": 3, "runningTaskCount": 3, "pendingTaskCount": 0}],
        "deploymentCircuitBreaker": {"status": "MONITORING", "failureCount": 0, "threshold": 3},
        "alarms": {"status": "MONITORING", "alarmNames": ["web-5xx", "web-latency"], "triggeredAlarmNames": []}
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn lambda_hook(status: &str) -> Value {
    json!([{"hookId": "smoke-test", "targetType": "AWS_LAMBDA", "targetArn": SMOKE_LAMBDA, "status": status, "timeoutAction": "ROLLBACK"}])
}

/// The stage `i` was served, and the run went on until at least its time.
fn served(fake: &EcsFake, i: usize) -> Duration {
    let served = fake
        .stage_served(i)
        .unwrap_or_else(|| panic!("stage {i} was never served"));
    let update = fake.first_update().expect("an UpdateService");
    served.duration_since(update)
}

#[test]
fn blue_green_succeeds_at_successful_not_at_bake_time() {
    let fake = EcsFake::start(script(
        "BLUE_GREEN",
        vec![
            Stage::new(0, sd("IN_PROGRESS", "SCALE_UP")),
            Stage::new(300, sd("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT")),
            Stage::new(600, sd("IN_PROGRESS", "BAKE_TIME")),
            Stage::new(1500, sd("SUCCESSFUL", "CLEAN_UP")).with_service(only(
                "BLUE_GREEN",
                OUR_ID,
                NEW_TD,
            )),
        ],
    ));
    let out = pipe(&fake).run();
    out.assert_success();
    assert!(served(&fake, 3) >= Duration::from_millis(1500));
    assert!(
        at(&out, "service deployment IN_PROGRESS BAKE_TIME")
            < at(&out, "service deployment SUCCESSFUL CLEAN_UP"),
        "{}",
        out.describe()
    );
    assert_eq!(out.stderr.matches('✔').count(), 1, "{}", out.describe());
    assert!(
        last_line(&out).starts_with("✔ Deployed web:42 to service web in cluster prod"),
        "{}",
        out.describe()
    );
}

#[test]
fn canary_succeeds_after_its_traffic_steps_and_bake() {
    let fake = EcsFake::start(script(
        "CANARY",
        vec![
            Stage::new(0, sd("IN_PROGRESS", "SCALE_UP")),
            Stage::new(200, sd("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT")),
            Stage::new(500, sd("IN_PROGRESS", "POST_PRODUCTION_TRAFFIC_SHIFT")),
            Stage::new(700, sd("IN_PROGRESS", "BAKE_TIME")),
            Stage::new(1600, sd("SUCCESSFUL", "CLEAN_UP"))
                .with_service(only("CANARY", OUR_ID, NEW_TD)),
        ],
    ));
    let out = pipe(&fake).run();
    out.assert_success();
    assert!(served(&fake, 4) >= Duration::from_millis(1600));
    out.assert_contains("service deployment IN_PROGRESS BAKE_TIME");
    assert!(last_line(&out).starts_with("✔ Deployed web:42"));
}

#[test]
fn an_alarm_during_bake_is_named_and_rolled_back_only_once_ecs_says_so() {
    let alarm = |status: &str| {
        with(
            with(
                sd(status, "BAKE_TIME"),
                "alarms",
                json!({"status": "TRIGGERED", "alarmNames": ["web-5xx", "web-latency"], "triggeredAlarmNames": ["web-5xx"]}),
            ),
            "statusReason",
            json!("Service deployment rolled back because an alarm was triggered."),
        )
    };
    let fake = EcsFake::start(script(
        "BLUE_GREEN",
        vec![
            Stage::new(0, sd("IN_PROGRESS", "BAKE_TIME")),
            Stage::new(300, alarm("ROLLBACK_REQUESTED")),
            Stage::new(600, alarm("ROLLBACK_IN_PROGRESS")),
            Stage::new(1500, alarm("ROLLBACK_SUCCESSFUL")).with_service(only(
                "BLUE_GREEN",
                ROLLBACK_ID,
                OLD_TD,
            )),
        ],
    ));
    let out = pipe(&fake).run();
    out.assert_code(1);
    assert!(served(&fake, 3) >= Duration::from_millis(1500));
    let announced = at(
        &out,
        "  ! deployment ecs-svc/7700000000000000042 of web:42 failed: alarm web-5xx went off; ECS is rolling it back",
    );
    assert_eq!(
        announced,
        right_after(&out, "  service deployment ROLLBACK_"),
        "announced at the first poll that showed the rollback\n{}",
        out.describe()
    );
    assert!(announced < at(&out, "service deployment ROLLBACK_SUCCESSFUL"));
    out.assert_contains("ECS says: ROLLBACK_SUCCESSFUL: Service deployment rolled back because an alarm was triggered.");
    assert_eq!(
        last_line(&out),
        "✖ deployment ecs-svc/7700000000000000042 of web:42 failed: alarm web-5xx went off; rolled back: the service runs web:41"
    );
    assert_eq!(
        out.stderr.matches("rolled back:").count(),
        1,
        "\"rolled back\" only in the last line\n{}",
        out.describe()
    );
}

#[test]
fn a_failed_lambda_hook_names_the_function_and_the_stage() {
    let hook = |status: &str, hook: &str| {
        with(
            sd(status, "POST_TEST_TRAFFIC_SHIFT"),
            "lifecycleHookDetails",
            lambda_hook(hook),
        )
    };
    let fake = EcsFake::start(script(
        "BLUE_GREEN",
        vec![
            Stage::new(0, hook("IN_PROGRESS", "IN_PROGRESS")),
            Stage::new(300, hook("ROLLBACK_IN_PROGRESS", "FAILED")),
            Stage::new(700, hook("ROLLBACK_SUCCESSFUL", "FAILED")).with_service(only(
                "BLUE_GREEN",
                ROLLBACK_ID,
                OLD_TD,
            )),
        ],
    ));
    let out = pipe(&fake).run();
    out.assert_code(1);
    served(&fake, 2);
    assert_eq!(
        last_line(&out),
        "✖ deployment ecs-svc/7700000000000000042 of web:42 failed: lifecycle hook smoke-test (Lambda function web-smoke-test) failed at POST_TEST_TRAFFIC_SHIFT; rolled back: the service runs web:41"
    );
}

#[test]
fn a_timeout_at_a_pause_names_the_pause_without_rolling_hints() {
    let paused = with(
        sd("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT"),
        "lifecycleHookDetails",
        json!([{"hookId": "approve-prod", "targetType": "PAUSE", "status": "AWAITING_ACTION", "expiresAt": EXPIRES, "timeoutAction": "ROLLBACK"}]),
    );
    let fake = EcsFake::start(script(
        "BLUE_GREEN",
        vec![
            Stage::new(0, sd("IN_PROGRESS", "TEST_TRAFFIC_SHIFT")),
            Stage::new(100, paused),
        ],
    ));
    let out = pipe(&fake).env("WAIT_TIMEOUT", "1").run();
    out.assert_code(1);
    let last = last_line(&out);
    assert!(
        last.starts_with("✖ timed out after 1.0s waiting for ecs-svc/7700000000000000042 of web:42: it sat paused at lifecycle hook approve-prod (POST_TEST_TRAFFIC_SHIFT), waiting for a person since 20"),
        "{}",
        out.describe()
    );
    assert!(
        last.ends_with("or earlier; the hook expires at 2026-12-08T04:00:00Z, then ECS rolls the deployment back (timeoutAction ROLLBACK)"),
        "{}",
        out.describe()
    );
    out.assert_contains(&format!("hint: the deployment goes on once a person continues it: `aws ecs continue-service-deployment --service-deployment-arn {SD_ARN} --hook-id approve-prod --action CONTINUE`"));
    out.assert_not_contains("health check grace period");
    out.assert_not_contains("enable the deployment circuit breaker");
}

#[test]
fn linear_rollback_failed_says_so_and_never_claims_the_previous_revision() {
    let breaker = |status: &str| {
        with(
            with(
                sd(status, "PRODUCTION_TRAFFIC_SHIFT"),
                "deploymentCircuitBreaker",
                json!({"status": "TRIGGERED", "failureCount": 3, "threshold": 3}),
            ),
            "statusReason",
            json!(
                "Service deployment rolled back because the circuit breaker threshold was exceeded."
            ),
        )
    };
    let mut rollback_failed = breaker("ROLLBACK_FAILED");
    rollback_failed["statusReason"] =
        json!("Service deployment rollback failed: tasks of the source revision failed to start.");
    let torn = native(
        "LINEAR",
        vec![
            deployment(OUR_ID, "PRIMARY", NEW_TD, 1, 3, 0, None),
            deployment(OLD_ID, "ACTIVE", OLD_TD, 2, 3, 0, None),
        ],
    );
    let fake = EcsFake::start(script(
        "LINEAR",
        vec![
            Stage::new(0, sd("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT")),
            Stage::new(200, breaker("ROLLBACK_REQUESTED")),
            Stage::new(500, breaker("ROLLBACK_IN_PROGRESS")),
            Stage::new(1200, rollback_failed).with_service(torn),
        ],
    ));
    let out = pipe(&fake).run();
    out.assert_code(1);
    assert!(served(&fake, 3) >= Duration::from_millis(1200));
    at(
        &out,
        "! deployment ecs-svc/7700000000000000042 of web:42 failed: the circuit breaker tripped (3 failed tasks, threshold 3); ECS is rolling it back",
    );
    assert_eq!(
        last_line(&out),
        "✖ deployment ecs-svc/7700000000000000042 of web:42 failed: the circuit breaker tripped (3 failed tasks, threshold 3); the rollback failed: ECS says: ROLLBACK_FAILED: Service deployment rollback failed: tasks of the source revision failed to start; DescribeServices shows PRIMARY web:42 1/3 running, ACTIVE web:41 2/3 running; the service is in no known state"
    );
    out.assert_not_contains("rolled back:");
    out.assert_not_contains("the service runs web:41");
}

#[test]
fn stopped_from_outside_is_stopped_with_no_blame_on_a_concurrent_deploy() {
    let stop = |status: &str| {
        with(
            sd(status, "TEST_TRAFFIC_SHIFT"),
            "statusReason",
            json!("Service deployment stopped by a user request."),
        )
    };
    let fake = EcsFake::start(script(
        "BLUE_GREEN",
        vec![
            Stage::new(0, sd("IN_PROGRESS", "SCALE_UP")),
            // ECS takes the service back while it stops, so DescribeServices (read before the
            // service deployment in each poll) shows the old revision by the time of STOPPED.
            Stage::new(200, stop("STOP_REQUESTED")).with_service(only(
                "BLUE_GREEN",
                OLD_ID,
                OLD_TD,
            )),
            Stage::new(1000, stop("STOPPED")),
        ],
    ));
    let out = pipe(&fake).run();
    out.assert_code(1);
    assert!(served(&fake, 2) >= Duration::from_millis(1000));
    at(
        &out,
        "! deployment ecs-svc/7700000000000000042 of web:42 is being stopped: Service deployment stopped by a user request; following it until it ends",
    );
    assert_eq!(
        last_line(&out),
        "✖ deployment ecs-svc/7700000000000000042 of web:42 was stopped: Service deployment stopped by a user request; no newer deployment was seen; the service runs web:41"
    );
    out.assert_not_contains("replaced");
    out.assert_not_contains("deployed at the same time");
}

#[test]
fn a_rolling_circuit_breaker_failure_is_announced_at_once_and_followed_to_completed() {
    let ours_failed = failed(
        deployment(OUR_ID, "ACTIVE", NEW_TD, 0, 3, 0, Some("FAILED")),
        3,
    );
    let rollback = |running, state| {
        deployment(
            ROLLBACK_ID,
            "PRIMARY",
            OLD_TD,
            running,
            3,
            3 - running,
            Some(state),
        )
    };
    let started = event(
        "r1",
        "(service web) has started 3 tasks: (task 1a2b) (task 3c4d) (task 5e6f).",
    );
    let frames = vec![
        service(
            vec![
                deployment(OUR_ID, "PRIMARY", NEW_TD, 0, 3, 3, Some("IN_PROGRESS")),
                deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED")),
            ],
            vec![],
        ),
        // Poll 2: ECS decided; its rollback deployment starts.
        service(
            vec![rollback(0, "IN_PROGRESS"), ours_failed.clone()],
            vec![],
        ),
        service(
            vec![rollback(0, "IN_PROGRESS"), ours_failed.clone()],
            vec![started.clone()],
        ),
        service(
            vec![rollback(2, "IN_PROGRESS"), ours_failed.clone()],
            vec![started.clone()],
        ),
        service(
            vec![rollback(3, "COMPLETED"), ours_failed.clone()],
            vec![started.clone()],
        ),
        service(vec![rollback(3, "COMPLETED")], vec![started]),
    ];
    let fake = EcsFake::start(Script::new(frames));
    let out = pipe(&fake).run();
    out.assert_code(1);
    // Announced at poll 2, before anything of poll 3 was printed.
    let announced = at(
        &out,
        "! deployment ecs-svc/7700000000000000042 of web:42 failed: ECS deployment circuit breaker: tasks failed to start; ECS is rolling it back",
    );
    assert!(announced < at(&out, "(service web) has started 3 tasks"));
    assert_eq!(
        fake.polls_after_update(),
        5,
        "the exit comes at the poll that showed the rollback COMPLETED"
    );
    assert_eq!(
        last_line(&out),
        "✖ deployment ecs-svc/7700000000000000042 of web:42 failed: ECS deployment circuit breaker: tasks failed to start; rolled back: the service runs web:41"
    );
}

#[test]
fn a_rollback_still_running_at_the_timeout_says_so() {
    let fake = EcsFake::start(script(
        "BLUE_GREEN",
        vec![
            Stage::new(0, sd("IN_PROGRESS", "BAKE_TIME")),
            Stage::new(
                200,
                with(
                    sd("ROLLBACK_IN_PROGRESS", "BAKE_TIME"),
                    "alarms",
                    json!({"status": "TRIGGERED", "alarmNames": ["web-5xx"], "triggeredAlarmNames": ["web-5xx"]}),
                ),
            ),
        ],
    ));
    let out = pipe(&fake).env("WAIT_TIMEOUT", "2").run();
    out.assert_code(1);
    assert_eq!(
        last_line(&out),
        "✖ deployment ecs-svc/7700000000000000042 of web:42 failed: alarm web-5xx went off; the rollback was still running when WAIT_TIMEOUT (2.0s) passed (last seen: ROLLBACK_IN_PROGRESS BAKE_TIME: 3/3 running, 0 pending); the service may still change"
    );
    out.assert_not_contains("rolled back:");
}
