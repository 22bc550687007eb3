//! The verdict, judged on DescribeServices responses shaped like ECS's own.

use ecs_oidc_deploy::rules::rollout::{
    EventLog, Failure, FailureKind, Service, ServiceEvent, Tracked, Verdict, assess,
};
use serde_json::Value;

use crate::support::ecs_fake::{self, deployment};

const OLD: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:41";
const NEW: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42";
const OTHER: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:43";

fn tracked() -> Tracked {
    Tracked {
        deployment_id: "ecs-svc/1111".into(),
        task_definition: NEW.into(),
        previous_task_definition: OLD.into(),
    }
}

/// A DescribeServices entry, built by the same code the scripted fake answers with.
fn service(deployments: Vec<Value>) -> Service {
    serde_json::from_value(ecs_fake::service(deployments, vec![])).expect("service json")
}

#[test]
fn in_progress_then_completed() {
    let running = service(vec![
        deployment("ecs-svc/1111", "PRIMARY", NEW, 1, 3, 2, Some("IN_PROGRESS")),
        deployment("ecs-svc/0999", "ACTIVE", OLD, 3, 3, 0, Some("COMPLETED")),
    ]);
    assert_eq!(assess(&running, &tracked()), Verdict::InProgress);
    // All running, but the old deployment still drains: not done yet.
    let draining = service(vec![
        deployment("ecs-svc/1111", "PRIMARY", NEW, 3, 3, 0, Some("IN_PROGRESS")),
        deployment("ecs-svc/0999", "ACTIVE", OLD, 1, 0, 0, Some("COMPLETED")),
    ]);
    assert_eq!(assess(&draining, &tracked()), Verdict::InProgress);
    let done = service(vec![deployment(
        "ecs-svc/1111",
        "PRIMARY",
        NEW,
        3,
        3,
        0,
        Some("COMPLETED"),
    )]);
    assert_eq!(assess(&done, &tracked()), Verdict::Succeeded);
}

#[test]
fn completed_but_short_of_tasks_is_not_success() {
    let short = service(vec![deployment(
        "ecs-svc/1111",
        "PRIMARY",
        NEW,
        2,
        3,
        1,
        Some("COMPLETED"),
    )]);
    assert_eq!(assess(&short, &tracked()), Verdict::InProgress);
}

#[test]
fn circuit_breaker_failure_is_reported_at_once_with_the_revision_running_now() {
    // ECS marks ours FAILED and starts a rollback deployment of the old revision.
    let failed = service(vec![
        deployment("ecs-svc/2222", "PRIMARY", OLD, 0, 3, 3, Some("IN_PROGRESS")),
        deployment("ecs-svc/1111", "ACTIVE", NEW, 0, 3, 0, Some("FAILED")),
        deployment("ecs-svc/0999", "ACTIVE", OLD, 3, 3, 0, Some("COMPLETED")),
    ]);
    // A failure at once, but ECS's rollback has not ended: followed until it completes.
    assert_eq!(
        assess(&failed, &tracked()),
        Verdict::Ending(Failure {
            kind: FailureKind::RolledBack,
            reason: Some("ECS deployment circuit breaker: tasks failed to start.".into()),
            now_running: Some(OLD.into()),
        })
    );
}

#[test]
fn a_finished_rollback_is_still_a_failure() {
    // The service is healthy again on the old revision and ours is gone: generic waiters say "stable".
    let rolled_back = service(vec![deployment(
        "ecs-svc/2222",
        "PRIMARY",
        OLD,
        3,
        3,
        0,
        Some("COMPLETED"),
    )]);
    match assess(&rolled_back, &tracked()) {
        Verdict::Failed(f) => {
            assert_eq!(f.kind, FailureKind::RolledBack);
            assert_eq!(f.now_running.as_deref(), Some(OLD));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn replaced_by_another_revision_is_a_failure_and_by_the_same_one_is_followed() {
    let replaced = service(vec![
        deployment(
            "ecs-svc/3333",
            "PRIMARY",
            OTHER,
            0,
            3,
            3,
            Some("IN_PROGRESS"),
        ),
        deployment("ecs-svc/1111", "ACTIVE", NEW, 2, 3, 0, Some("IN_PROGRESS")),
    ]);
    assert!(matches!(
        assess(&replaced, &tracked()),
        Verdict::Failed(Failure {
            kind: FailureKind::Replaced,
            ..
        })
    ));
    let rerun = service(vec![
        deployment("ecs-svc/4444", "PRIMARY", NEW, 0, 3, 3, Some("IN_PROGRESS")),
        deployment("ecs-svc/1111", "ACTIVE", NEW, 2, 3, 0, Some("IN_PROGRESS")),
    ]);
    assert_eq!(
        assess(&rerun, &tracked()),
        Verdict::Superseded {
            by: "ecs-svc/4444".into()
        }
    );
    let gone = service(vec![deployment(
        "ecs-svc/4444",
        "PRIMARY",
        NEW,
        1,
        3,
        2,
        Some("IN_PROGRESS"),
    )]);
    assert_eq!(
        assess(&gone, &tracked()),
        Verdict::Superseded {
            by: "ecs-svc/4444".into()
        }
    );
}

#[test]
fn without_rollout_state_one_deployment_with_all_tasks_running_is_success() {
    let legacy = service(vec![deployment(
        "ecs-svc/1111",
        "PRIMARY",
        NEW,
        3,
        3,
        0,
        None,
    )]);
    assert_eq!(assess(&legacy, &tracked()), Verdict::Succeeded);
    let two = service(vec![
        deployment("ecs-svc/1111", "PRIMARY", NEW, 3, 3, 0, None),
        deployment("ecs-svc/0999", "ACTIVE", OLD, 1, 0, 0, None),
    ]);
    assert_eq!(assess(&two, &tracked()), Verdict::InProgress);
}

#[test]
fn scale_to_zero_completes_with_zero_tasks() {
    let zero = service(vec![deployment(
        "ecs-svc/1111",
        "PRIMARY",
        NEW,
        0,
        0,
        0,
        Some("COMPLETED"),
    )]);
    assert_eq!(assess(&zero, &tracked()), Verdict::Succeeded);
    let zero_in_progress = service(vec![
        deployment("ecs-svc/1111", "PRIMARY", NEW, 0, 0, 0, Some("IN_PROGRESS")),
        deployment("ecs-svc/0999", "ACTIVE", OLD, 2, 0, 0, Some("COMPLETED")),
    ]);
    assert_eq!(assess(&zero_in_progress, &tracked()), Verdict::InProgress);
}

#[test]
fn a_draining_service_fails() {
    let mut draining = service(vec![deployment(
        "ecs-svc/1111",
        "PRIMARY",
        NEW,
        0,
        3,
        0,
        Some("IN_PROGRESS"),
    )]);
    draining.status = "DRAINING".into();
    assert!(matches!(
        assess(&draining, &tracked()),
        Verdict::Failed(Failure {
            kind: FailureKind::ServiceInactive,
            ..
        })
    ));
}

#[test]
fn events_are_printed_once_oldest_first_and_old_ones_never() {
    let ev = |id: &str, at: f64, m: &str| ServiceEvent {
        id: id.into(),
        created_at: at,
        message: m.into(),
    };
    let mut log = EventLog::default();
    log.prime(&[ev("e0", 1.0, "(service web) has reached a steady state.")]);
    let first = vec![
        ev(
            "e2",
            3.0,
            "(service web) registered 1 targets in (target-group arn:aws:elasticloadbalancing:...)",
        ),
        ev(
            "e1",
            2.0,
            "(service web) has started 1 tasks: (task 7f3c...).",
        ),
        ev("e0", 1.0, "(service web) has reached a steady state."),
    ];
    let fresh: Vec<String> = log.fresh(&first).into_iter().map(|e| e.id).collect();
    assert_eq!(fresh, vec!["e1", "e2"]);
    assert!(log.fresh(&first).is_empty());
}
