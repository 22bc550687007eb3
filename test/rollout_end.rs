//! How a failed deployment ends, judged without a network: the verdict of each
//! service-deployment status, the cause named from what ECS returned, the rolling rollback
//! followed to COMPLETED, the pause a timeout sat at, and the last lines.

use std::collections::HashMap;

use ecs_oidc_deploy::rules::rollout::{
    Failure, FailureKind, Service, ServiceDeployment, Tracked, Verdict, assess,
    assess_service_deployment,
};
use ecs_oidc_deploy::rules::rollout_end::{
    End, Pause, Seen, announcement, cause, ecs_says, end_line, function_name, service_shows,
};
use serde_json::{Value, json};

use crate::support::ecs_fake::{self, deployment};

const OLD: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:41";
const NEW: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42";
const OTHER: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:43";
const OURS_SD: &str = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/AAA";
const NEWER_SD: &str = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/BBB";

fn tracked() -> Tracked {
    Tracked {
        deployment_id: "ecs-svc/1111".into(),
        task_definition: NEW.into(),
        previous_task_definition: OLD.into(),
    }
}

fn sd(v: Value) -> ServiceDeployment {
    let mut base = json!({"serviceDeploymentArn": OURS_SD, "status": "IN_PROGRESS"});
    if let (Some(base), Some(extra)) = (base.as_object_mut(), v.as_object()) {
        base.extend(extra.clone());
    }
    serde_json::from_value(base).expect("service deployment json")
}

fn service(deployments: Vec<Value>) -> Service {
    serde_json::from_value(ecs_fake::service(deployments, vec![])).expect("service json")
}

fn judge(status: &str, current: Option<&str>, now: Option<&str>) -> Verdict {
    assess_service_deployment(
        &sd(json!({"status": status, "statusReason": "ECS's words."})),
        &tracked(),
        current,
        now,
        &HashMap::new(),
    )
}

fn failure(kind: FailureKind, now: Option<&str>) -> Failure {
    Failure {
        kind,
        reason: Some("ECS's words".into()),
        now_running: now.map(str::to_string),
    }
}

#[test]
fn each_service_deployment_status_has_its_verdict() {
    use FailureKind::*;
    let table: Vec<(&str, Option<&str>, Option<&str>, Verdict)> = vec![
        ("PENDING", Some(OURS_SD), Some(OLD), Verdict::InProgress),
        ("IN_PROGRESS", Some(OURS_SD), Some(NEW), Verdict::InProgress),
        ("SUCCESSFUL", Some(OURS_SD), Some(NEW), Verdict::Succeeded),
        // A rollback is a failure at once, but it has not ended yet.
        (
            "ROLLBACK_REQUESTED",
            Some(OURS_SD),
            Some(NEW),
            Verdict::Ending(failure(RolledBack, Some(NEW))),
        ),
        (
            "ROLLBACK_IN_PROGRESS",
            Some(OURS_SD),
            Some(NEW),
            Verdict::Ending(failure(RolledBack, Some(NEW))),
        ),
        (
            "ROLLBACK_SUCCESSFUL",
            Some(OURS_SD),
            Some(OLD),
            Verdict::Failed(failure(RolledBack, Some(OLD))),
        ),
        // ECS says it is over, but DescribeServices still showed our revision: look again.
        (
            "ROLLBACK_SUCCESSFUL",
            Some(OURS_SD),
            Some(NEW),
            Verdict::Ending(failure(RolledBack, Some(NEW))),
        ),
        (
            "ROLLBACK_FAILED",
            Some(OURS_SD),
            Some(NEW),
            Verdict::Failed(failure(RollbackFailed, Some(NEW))),
        ),
        // Stopped with no newer deployment seen: stopped, never "replaced".
        (
            "STOP_REQUESTED",
            Some(OURS_SD),
            Some(NEW),
            Verdict::Ending(failure(Stopped, Some(NEW))),
        ),
        (
            "STOPPED",
            Some(OURS_SD),
            Some(OLD),
            Verdict::Failed(failure(Stopped, Some(OLD))),
        ),
        (
            "STOPPED",
            None,
            Some(OLD),
            Verdict::Failed(failure(Stopped, Some(OLD))),
        ),
        // A newer deployment was seen: of our revision (followed) or another (replaced).
        (
            "STOPPED",
            Some(NEWER_SD),
            Some(NEW),
            Verdict::Superseded {
                by: NEWER_SD.into(),
            },
        ),
        (
            "STOPPED",
            Some(NEWER_SD),
            Some(OTHER),
            Verdict::Failed(Failure {
                kind: Replaced,
                reason: Some(format!("service deployment {NEWER_SD} replaced it")),
                now_running: Some(OTHER.into()),
            }),
        ),
    ];
    for (status, current, now, expected) in table {
        assert_eq!(
            judge(status, current, now),
            expected,
            "{status} {current:?} {now:?}"
        );
    }
}

#[test]
fn the_cause_names_alarms_hooks_and_the_circuit_breaker() {
    let stages: HashMap<String, String> =
        [("smoke".to_string(), "POST_SCALE_UP".to_string())].into();
    let cases: Vec<(Value, Option<&str>)> = vec![
        (json!({}), None),
        (json!({"statusReason": "Rolled back."}), Some("Rolled back")),
        (
            json!({"statusReason": "Same.", "rollback": {"reason": "Same."}}),
            Some("Same"),
        ),
        (
            json!({"statusReason": "A.", "rollback": {"reason": "B"}}),
            Some("A; B"),
        ),
        (
            json!({"alarms": {"status": "TRIGGERED", "alarmNames": ["a", "b", "c"], "triggeredAlarmNames": ["a", "c"]}, "statusReason": "alarm"}),
            Some("alarms a, c went off"),
        ),
        (
            json!({"alarms": {"status": "MONITORING", "alarmNames": ["a"], "triggeredAlarmNames": []}}),
            None,
        ),
        (
            // The stage the hook ran at, remembered, beats the stage ECS shows now.
            json!({"lifecycleStage": "CLEAN_UP", "lifecycleHookDetails": [{"hookId": "smoke", "targetType": "AWS_LAMBDA", "targetArn": "arn:aws:lambda:eu-west-1:123456789012:function:smoke-fn", "status": "FAILED"}]}),
            Some("lifecycle hook smoke (Lambda function smoke-fn) failed at POST_SCALE_UP"),
        ),
        (
            json!({"lifecycleStage": "PRE_SCALE_UP", "lifecycleHookDetails": [{"hookId": "other", "targetType": "AWS_LAMBDA", "targetArn": "arn:aws:lambda:eu-west-1:123456789012:function:f:3", "status": "TIMED_OUT"}, {"hookId": "ok", "status": "SUCCEEDED"}]}),
            Some("lifecycle hook other (Lambda function f) timed out at PRE_SCALE_UP"),
        ),
        (
            json!({"deploymentCircuitBreaker": {"status": "TRIGGERED", "failureCount": 4, "threshold": 3}, "statusReason": "breaker"}),
            Some("the circuit breaker tripped (4 failed tasks, threshold 3)"),
        ),
        (
            json!({"deploymentCircuitBreaker": {"status": "MONITORING", "failureCount": 1, "threshold": 3}}),
            None,
        ),
    ];
    for (v, expected) in cases {
        assert_eq!(cause(&sd(v.clone()), &stages).as_deref(), expected, "{v}");
    }
}

#[test]
fn ecs_says_keeps_both_reasons() {
    let s = sd(
        json!({"status": "ROLLBACK_FAILED", "statusReason": "X failed.", "rollback": {"reason": "Y."}}),
    );
    assert_eq!(ecs_says(&s), "ECS says: ROLLBACK_FAILED: X failed; Y.");
    assert_eq!(
        ecs_says(&sd(json!({"status": "STOPPED"}))),
        "ECS says: STOPPED"
    );
}

#[test]
fn function_names_from_lambda_arns() {
    for (arn, name) in [
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:web-smoke",
            "web-smoke",
        ),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:web-smoke:live",
            "web-smoke",
        ),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:web-smoke:7",
            "web-smoke",
        ),
        ("not-an-arn", "not-an-arn"),
    ] {
        assert_eq!(function_name(arn), name);
    }
}

#[test]
fn a_rolling_rollback_is_followed_until_its_deployment_completes() {
    let ours_failed = deployment("ecs-svc/1111", "ACTIVE", NEW, 0, 3, 0, Some("FAILED"));
    let rolling = service(vec![
        deployment("ecs-svc/2222", "PRIMARY", OLD, 1, 3, 2, Some("IN_PROGRESS")),
        ours_failed.clone(),
    ]);
    let cb = |kind| Failure {
        kind,
        reason: Some("ECS deployment circuit breaker: tasks failed to start.".into()),
        now_running: Some(OLD.into()),
    };
    assert_eq!(
        assess(&rolling, &tracked()),
        Verdict::Ending(cb(FailureKind::RolledBack))
    );
    let done = service(vec![
        deployment("ecs-svc/2222", "PRIMARY", OLD, 3, 3, 0, Some("COMPLETED")),
        ours_failed.clone(),
    ]);
    assert_eq!(
        assess(&done, &tracked()),
        Verdict::Failed(cb(FailureKind::RolledBack))
    );
    // No rollback deployment (the breaker without rollback): failed at once, as before.
    let no_rollback = service(vec![
        deployment("ecs-svc/1111", "PRIMARY", NEW, 0, 3, 0, Some("FAILED")),
        deployment("ecs-svc/0999", "ACTIVE", OLD, 3, 3, 0, Some("COMPLETED")),
    ]);
    assert!(matches!(
        assess(&no_rollback, &tracked()),
        Verdict::Failed(Failure {
            kind: FailureKind::CircuitBreaker,
            ..
        })
    ));
    // Ours no longer listed while the old revision comes back: still rolling back.
    let gone = service(vec![deployment(
        "ecs-svc/2222",
        "PRIMARY",
        OLD,
        1,
        3,
        2,
        Some("IN_PROGRESS"),
    )]);
    assert!(matches!(assess(&gone, &tracked()), Verdict::Ending(_)));
}

#[test]
fn the_pause_is_the_first_hook_waiting_in_a_running_deployment() {
    let waiting = sd(json!({
        "status": "IN_PROGRESS",
        "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
        "lifecycleHookDetails": [{"hookId": "approve", "targetType": "PAUSE", "status": "AWAITING_ACTION", "expiresAt": 1_796_702_400.0, "timeoutAction": "CONTINUE"}]
    }));
    let mut seen = Seen::default();
    assert_eq!(seen.pause(), None);
    seen.note(&waiting, 1_796_600_000.0);
    seen.note(&waiting, 1_796_600_060.0);
    let pause = seen.pause().expect("paused");
    assert_eq!(
        pause,
        Pause {
            hook_id: "approve".into(),
            stage: Some("POST_TEST_TRAFFIC_SHIFT".into()),
            since: Some(1_796_600_000.0),
            expires_at: Some(1_796_702_400.0),
            timeout_action: Some("CONTINUE".into()),
        }
    );
    assert_eq!(
        pause.describe(),
        "it sat paused at lifecycle hook approve (POST_TEST_TRAFFIC_SHIFT), waiting for a person since 2026-12-06T23:33:20Z or earlier; the hook expires at 2026-12-08T04:00:00Z, then ECS continues the deployment (timeoutAction CONTINUE)"
    );
    // Continued: no pause any more.
    seen.note(
        &sd(json!({"status": "IN_PROGRESS", "lifecycleStage": "PRODUCTION_TRAFFIC_SHIFT", "lifecycleHookDetails": [{"hookId": "approve", "status": "SUCCEEDED"}]})),
        1_796_600_120.0,
    );
    assert_eq!(seen.pause(), None);
    // A hook still shown waiting in a deployment that is rolling back is no pause.
    let mut rolling = waiting.clone();
    rolling.status = "ROLLBACK_IN_PROGRESS".into();
    seen.note(&rolling, 1_796_600_180.0);
    assert_eq!(seen.pause(), None);
}

#[test]
fn the_last_lines_say_only_what_was_seen() {
    let cases = vec![
        (
            End::RolledBack {
                now_running: "web:41".into(),
            },
            "deployment ecs-svc/1 of web:42 failed: alarm a went off; rolled back: the service runs web:41",
        ),
        (
            End::RollbackFailed {
                ecs_says: "ECS says: ROLLBACK_FAILED: X.".into(),
                service_shows: "PRIMARY web:42 1/3 running".into(),
            },
            "deployment ecs-svc/1 of web:42 failed: alarm a went off; the rollback failed: ECS says: ROLLBACK_FAILED: X; DescribeServices shows PRIMARY web:42 1/3 running; the service is in no known state",
        ),
        (
            End::RollbackStillRunning {
                timeout: "10.0s".into(),
                last_seen: "ROLLBACK_IN_PROGRESS BAKE_TIME".into(),
            },
            "deployment ecs-svc/1 of web:42 failed: alarm a went off; the rollback was still running when WAIT_TIMEOUT (10.0s) passed (last seen: ROLLBACK_IN_PROGRESS BAKE_TIME); the service may still change",
        ),
        (
            End::Stopped {
                now_running: "web:41".into(),
            },
            "deployment ecs-svc/1 of web:42 was stopped: alarm a went off; no newer deployment was seen; the service runs web:41",
        ),
    ];
    for (end, line) in cases {
        assert_eq!(
            end_line("ecs-svc/1", "web:42", Some("alarm a went off."), &end),
            line
        );
    }
    let paused = End::TimedOutPaused {
        timeout: "10.0s".into(),
        pause: Pause {
            hook_id: "approve".into(),
            stage: None,
            since: None,
            expires_at: None,
            timeout_action: None,
        },
    };
    assert_eq!(
        end_line("ecs-svc/1", "web:42", None, &paused),
        "timed out after 10.0s waiting for ecs-svc/1 of web:42: it sat paused at lifecycle hook approve, waiting for a person; ECS did not say when the hook expires"
    );
    assert_eq!(
        announcement("ecs-svc/1", "web:42", Some("alarm a went off"), false),
        "deployment ecs-svc/1 of web:42 failed: alarm a went off; ECS is rolling it back, following the rollback until it ends"
    );
    assert_eq!(
        announcement("ecs-svc/1", "web:42", None, true),
        "deployment ecs-svc/1 of web:42 is being stopped; following it until it ends"
    );
}

#[test]
fn service_shows_every_deployment() {
    let torn = service(vec![
        deployment("ecs-svc/1111", "PRIMARY", NEW, 1, 3, 0, Some("IN_PROGRESS")),
        deployment("ecs-svc/0999", "ACTIVE", OLD, 2, 3, 0, None),
    ]);
    assert_eq!(
        service_shows(&torn),
        "PRIMARY web:42 1/3 running (IN_PROGRESS), ACTIVE web:41 2/3 running"
    );
}

#[test]
fn a_rollback_successful_that_describe_services_does_not_show_yet_gets_one_more_poll() {
    let ending = Verdict::Ending(failure(FailureKind::RolledBack, Some(NEW)));
    let done = sd(json!({"status": "ROLLBACK_SUCCESSFUL"}));
    let mut seen = Seen::default();
    seen.note(&sd(json!({"status": "ROLLBACK_IN_PROGRESS"})), 1.0);
    assert_eq!(seen.settle(ending.clone()), ending, "still rolling back");
    seen.note(&done, 2.0);
    assert_eq!(
        seen.settle(ending.clone()),
        ending,
        "first poll: look again"
    );
    seen.note(&done, 3.0);
    assert_eq!(
        seen.settle(ending),
        Verdict::Failed(failure(FailureKind::RolledBack, Some(NEW))),
        "second poll: say what was seen"
    );
}
