//! Lost answers (issue 22): a write whose answer never arrives may have been applied, so the
//! pipe reads AWS back before it says or does anything else. The scripted fake plays the
//! network faults (a lost answer: applied, then the connection closes; a reset: closed, not
//! applied) against the real binary; the decisions are checked without a network.

use serde_json::{Value, json};

use aws_sdk_ecs::operation::update_service::UpdateServiceError;
use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;

use ecs_oidc_deploy::error::AwsError;
use ecs_oidc_deploy::rules::rollout::Service;
use ecs_oidc_deploy::steps::apply::{ReadBack, Wanted, read_back};
use ecs_oidc_deploy::steps::pre_deploy::{lost_task, stop_words};

use crate::support::ecs_fake::{
    EcsFake, Fault, FaultKind, NEW_TD, OLD_ID, OLD_TD, OUR_ID, Script, TASK_ARN, TaskScript,
    completed, completed_service, crashed_task, deploy_nginx, deployment, failed, service,
    settled_service, task,
};
use crate::support::fake::{ProxyHook, Resp};
use crate::support::pipe::{Outcome, Pipe};
use crate::support::rollout::RolloutPlayer;
use crate::support::world;

/// The SDK's attempts per call (src/aws.rs `retry_config`): a fault on more calls than this
/// outlasts its retries.
const SDK_ATTEMPTS: u32 = 5;

fn pipe(fake: &EcsFake) -> Pipe {
    deploy_nginx(&fake.endpoint()).env("WAIT_TIMEOUT", "60")
}

fn last_line(out: &Outcome) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

fn count(fake: &EcsFake, op: &str) -> usize {
    fake.operations().iter().filter(|o| *o == op).count()
}

// --- against the real binary -------------------------------------------------------------

#[test]
fn update_service_answer_lost_on_every_attempt_follows_the_deployment_it_started() {
    let fake = EcsFake::start(completed().lose("UpdateService", u32::MAX));
    let out = pipe(&fake).run();
    out.assert_success()
        .assert_contains("the update may have happened all the same, so reading the service back")
        .assert_contains(&format!(
            "DescribeServices shows the update happened: following deployment {OUR_ID}"
        ))
        .assert_not_contains("not updated");
    assert!(
        last_line(&out).starts_with("✔ Deployed web:42"),
        "{}",
        out.describe()
    );
    assert_eq!(count(&fake, "UpdateService"), SDK_ATTEMPTS as usize);
    assert_eq!(
        fake.updates(),
        1,
        "the first attempt started the one deployment"
    );
}

#[test]
fn update_service_answer_lost_once_starts_exactly_one_deployment() {
    let fake = EcsFake::start(completed().lose("UpdateService", 1));
    let out = pipe(&fake).run();
    out.assert_success();
    assert_eq!(fake.update_calls(), 2, "the SDK sent it again");
    assert_eq!(fake.updates(), 1, "exactly one deployment");
    out.assert_not_contains("reading the service back");
}

#[test]
fn forced_update_with_its_answer_lost_starts_one_deployment_and_follows_it() {
    let fake = EcsFake::start(completed().lose("UpdateService", 1));
    let out = pipe(&fake).env("FORCE_NEW_DEPLOYMENT", "true").run();
    out.assert_success()
        .assert_contains("the update may have happened all the same, so reading the service back")
        .assert_contains(&format!(
            "DescribeServices shows the update happened: following deployment {OUR_ID}"
        ))
        .assert_not_contains("sending the forced update again");
    assert!(
        last_line(&out).starts_with("✔ Deployed web:42"),
        "{}",
        out.describe()
    );
    assert_eq!(
        count(&fake, "UpdateService"),
        1,
        "sent once, not by the SDK again"
    );
    assert_eq!(fake.updates(), 1, "exactly one new deployment");
}

#[test]
fn forced_update_reset_before_it_arrived_is_sent_again_once_the_read_shows_none() {
    let fake = EcsFake::start(completed().reset("UpdateService", 1));
    let out = pipe(&fake).env("FORCE_NEW_DEPLOYMENT", "true").run();
    out.assert_success().assert_contains(&format!(
        "DescribeServices shows the service was not updated (its PRIMARY deployment {OLD_ID} runs web:41, not web:42): no deployment was started, so sending the forced update again"
    ));
    assert_eq!(count(&fake, "UpdateService"), 2);
    assert_eq!(fake.updates(), 1, "exactly one new deployment");
    let ops = fake.operations();
    let first = ops.iter().position(|o| o == "UpdateService").expect("sent");
    assert_eq!(
        ops.get(first + 1).map(String::as_str),
        Some("DescribeServices"),
        "read back before sending again: {ops:?}"
    );
}

#[test]
fn forced_update_throttled_is_still_retried() {
    let mut script = completed();
    script.throttle_updates = 2;
    let fake = EcsFake::start(script);
    let out = pipe(&fake).env("FORCE_NEW_DEPLOYMENT", "true").run();
    out.assert_success()
        .assert_not_contains("reading the service back");
    assert_eq!(
        count(&fake, "UpdateService"),
        3,
        "two throttled, then applied"
    );
    assert_eq!(fake.updates(), 1);
    assert_eq!(
        out.output
            .matches("AWS is throttling ecs:UpdateService")
            .count(),
        1,
        "{}",
        out.describe()
    );
}

/// A deploy whose rollout the circuit breaker fails, then ROLLBACK_ON_FAILURE's UpdateService
/// back to web:41 meets `kind` on every attempt (the deploy's own UpdateService is call 1).
fn failed_deploy_whose_rollback_update(kind: FaultKind) -> Script {
    let rb = "ecs-svc/7700000000000000050";
    let mut script = Script::new(vec![
        service(
            vec![
                deployment(OUR_ID, "PRIMARY", NEW_TD, 0, 3, 3, Some("IN_PROGRESS")),
                deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED")),
            ],
            vec![],
        ),
        service(
            vec![
                failed(
                    deployment(OUR_ID, "PRIMARY", NEW_TD, 0, 3, 0, Some("FAILED")),
                    3,
                ),
                deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED")),
            ],
            vec![],
        ),
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
    script.faults.push(Fault {
        operation: "UpdateService".into(),
        kind,
        from: 2,
        times: u32::MAX,
    });
    script
}

#[test]
fn rollback_update_answer_lost_is_read_back_and_the_rollback_followed() {
    let fake = EcsFake::start(failed_deploy_whose_rollback_update(FaultKind::Lost));
    let out = pipe(&fake).env("ROLLBACK_ON_FAILURE", "true").run();
    out.assert_code(1)
        .assert_contains("the rollback may have started all the same, so reading the service back")
        .assert_contains(
            "DescribeServices shows the rollback started: following deployment ecs-svc/7700000000000000050",
        )
        .assert_not_contains("the rollback of web to web:41 could not start");
    assert!(
        last_line(&out).ends_with("rolled back: the service runs web:41 again"),
        "{}",
        out.describe()
    );
    assert_eq!(fake.updates(), 2, "the deploy and one rollback");
}

#[test]
fn rollback_update_reset_says_the_read_showed_no_rollback() {
    let fake = EcsFake::start(failed_deploy_whose_rollback_update(FaultKind::Reset));
    let out = pipe(&fake).env("ROLLBACK_ON_FAILURE", "true").run();
    out.assert_code(1)
        .assert_not_contains("rolled back: the service runs");
    let last = last_line(&out);
    assert!(
        last.contains("the rollback of web to web:41 did not start")
            && last.contains(&format!(
                "DescribeServices shows the service was not rolled back (its PRIMARY deployment {OUR_ID} runs web:42, not web:41)"
            )),
        "{}",
        out.describe()
    );
    assert_eq!(fake.updates(), 1, "only the deploy");
}

#[test]
fn update_service_that_really_failed_says_not_updated_as_the_read_confirmed_and_exits_2() {
    let fake = EcsFake::start(completed().reset("UpdateService", u32::MAX));
    let out = pipe(&fake).run();
    out.assert_code(2);
    assert_eq!(fake.updates(), 0);
    let last = last_line(&out);
    assert!(
        last.contains(&format!(
            "DescribeServices shows the service was not updated (its PRIMARY deployment {OLD_ID} runs web:41, not web:42)"
        )) && last.contains("the service was not updated and still runs its previous revision"),
        "{}",
        out.describe()
    );
    let ops = fake.operations();
    let after_update = ops
        .iter()
        .rposition(|o| o == "UpdateService")
        .expect("UpdateService was sent");
    assert_eq!(
        ops[after_update + 1..].first().map(String::as_str),
        Some("DescribeServices"),
        "read back before the verdict: {ops:?}"
    );
}

#[test]
fn update_service_lost_and_unreadable_is_not_called_nothing_changed() {
    let fake = EcsFake::start(
        completed()
            .lose("UpdateService", u32::MAX)
            .reset("DescribeServices", u32::MAX),
    );
    let out = pipe(&fake).run();
    out.assert_code(1)
        .assert_contains("reading the service back failed too")
        .assert_contains("service web may or may not have been updated")
        .assert_not_contains("nothing was changed")
        .assert_not_contains("still runs its previous revision");
}

#[test]
fn register_task_definition_answer_lost_once_deploys_the_revision_that_was_returned() {
    let moto = world::web_service();
    let lost = std::sync::atomic::AtomicBool::new(false);
    let hook: ProxyHook = std::sync::Arc::new(move |ctx, req| {
        (req.target().as_deref() == Some("RegisterTaskDefinition")
            && !lost.swap(true, std::sync::atomic::Ordering::SeqCst))
        .then(|| {
            let _applied = ctx.forward(req);
            Resp::close()
        })
    });
    let player = RolloutPlayer::with_hook(moto.endpoint(), 1, hook);
    let out = world::deploy_web_v2(&player.endpoint())
        .env("WAIT_INTERVAL", "0.1")
        .run();
    out.assert_success();
    let revisions = moto.client().list_task_definitions("web");
    assert_eq!(
        revisions.len(),
        3,
        "web:1, the lost web:2 and web:3: {revisions:?}"
    );
    let service = moto.client().describe_service("prod", "web");
    let running = service["taskDefinition"].as_str().unwrap_or_default();
    assert!(
        running.ends_with("web:3"),
        "runs the revision returned: {service}"
    );
    let described = moto.client().describe_task_definition(running);
    assert_eq!(
        described["taskDefinition"]["containerDefinitions"][0]["image"],
        json!(format!("{}/web:v2", world::REGISTRY))
    );
    assert!(
        last_line(&out).starts_with("✔ Deployed web:3"),
        "{}",
        out.describe()
    );
}

#[test]
fn run_task_answer_lost_once_runs_exactly_one_migration() {
    let mut script = completed().lose("RunTask", 1);
    script.task = Some(migration());
    let fake = EcsFake::start(script);
    let out = pipe(&fake).env("PRE_DEPLOY_COMMAND", "bin/migrate").run();
    out.assert_success();
    assert_eq!(fake.tasks_started(), 1, "exactly one migration task ran");
    let tokens: Vec<Value> = fake
        .bodies("RunTask")
        .iter()
        .map(|b| b["clientToken"].clone())
        .collect();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens[0].as_str().is_some_and(|t| !t.is_empty()) && tokens[0] == tokens[1],
        "one clientToken, kept on the retry: {tokens:?}"
    );
}

#[test]
fn run_task_answer_lost_on_every_attempt_finds_the_task_by_started_by_and_follows_it() {
    let mut script = completed().lose("RunTask", u32::MAX);
    script.task = Some(migration());
    let fake = EcsFake::start(script);
    let out = pipe(&fake).env("PRE_DEPLOY_COMMAND", "bin/migrate").run();
    out.assert_success()
        .assert_contains("looking for it by startedBy ecs-oidc-deploy/42")
        .assert_contains(
            "found task 5d2f0c8e9b1a4c3d8e7f6a5b4c3d2e1f by startedBy ecs-oidc-deploy/42",
        )
        .assert_contains("the pre-deploy command succeeded");
    assert_eq!(fake.tasks_started(), 1);
    assert_eq!(fake.updates(), 1);
}

#[test]
fn run_task_reset_on_every_attempt_says_the_command_did_not_run_because_a_read_showed_it() {
    let mut script = completed().reset("RunTask", u32::MAX);
    script.task = Some(migration());
    let fake = EcsFake::start(script);
    let out = pipe(&fake).env("PRE_DEPLOY_COMMAND", "bin/migrate").run();
    out.assert_code(2);
    assert!(
        last_line(&out).contains("PRE_DEPLOY_COMMAND did not run: RunTask's answer was lost")
            && last_line(&out)
                .contains("ListTasks shows no task of web:42 started by ecs-oidc-deploy/42"),
        "{}",
        out.describe()
    );
    assert_eq!(fake.tasks_started(), 0);
    assert_eq!(fake.updates(), 0);
}

#[test]
fn describe_services_reset_longer_than_the_sdk_retries_does_not_end_the_wait() {
    let frames = vec![
        service(
            vec![
                deployment(OUR_ID, "PRIMARY", NEW_TD, 0, 3, 3, Some("IN_PROGRESS")),
                deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED")),
            ],
            vec![],
        ),
        completed_service(),
    ];
    let fake = EcsFake::start(Script::new(frames).reset("DescribeServices", SDK_ATTEMPTS + 1));
    let out = pipe(&fake).run();
    out.assert_success()
        .assert_contains("ecs:DescribeServices failed: no response (connection failed or timed out); still waiting, will ask again (1 failed poll in a row");
    assert!(
        last_line(&out).starts_with("✔ Deployed web:42"),
        "{}",
        out.describe()
    );
}

#[test]
fn ecs_unreadable_until_the_timeout_says_so_with_what_was_last_seen_and_exits_1() {
    let frames = vec![service(
        vec![
            deployment(OUR_ID, "PRIMARY", NEW_TD, 1, 3, 2, Some("IN_PROGRESS")),
            deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED")),
        ],
        vec![],
    )];
    // The first poll gets through; every one after it is reset.
    let mut script = Script::new(frames);
    script.faults.push(Fault {
        operation: "DescribeServices".into(),
        kind: FaultKind::Reset,
        from: 2,
        times: u32::MAX,
    });
    let fake = EcsFake::start(script);
    let out = pipe(&fake).env("WAIT_TIMEOUT", "1").run();
    out.assert_code(1);
    let last = last_line(&out);
    let unread_for: f64 = last
        .split("ECS could not be read for ")
        .nth(1)
        .and_then(|rest| rest.split("s ").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {last:?}"));
    assert!(
        unread_for >= 0.8,
        "counted from the start of the first failed poll (0.1 s in), up to WAIT_TIMEOUT (1 s) or later: {last}"
    );
    assert!(
        last.contains("ECS could not be read for")
            && last.contains("until WAIT_TIMEOUT; last seen:"),
        "{}",
        out.describe()
    );
}

#[test]
fn sts_answer_lost_once_still_deploys() {
    let fake = EcsFake::start(completed().lose("AssumeRoleWithWebIdentity", 1));
    let out = pipe(&fake).run();
    out.assert_success();
    assert_eq!(fake.sts_calls(), 2);
}

/// A pre-deploy task still RUNNING when PRE_DEPLOY_TIMEOUT (1 s) passes, so the pipe stops it.
fn stuck_migration(script: Script) -> EcsFake {
    let running = task("RUNNING", &[("app", None)]);
    let mut script = script;
    script.task = Some(TaskScript {
        failures: Vec::new(),
        frames: vec![running.clone(), running],
    });
    EcsFake::start(script)
}

#[test]
fn stop_task_answer_lost_is_read_back_and_says_the_task_stopped() {
    let fake = stuck_migration(completed().lose("StopTask", u32::MAX));
    let out = pipe(&fake)
        .env("PRE_DEPLOY_COMMAND", "bin/migrate")
        .env("PRE_DEPLOY_TIMEOUT", "1")
        .run();
    out.assert_code(3);
    assert!(
        last_line(&out).contains(
            "StopTask for task 5d2f0c8e9b1a4c3d8e7f6a5b4c3d2e1f answered with an error (ecs:StopTask failed: no response (connection failed or timed out)), but DescribeTasks shows it STOPPED"
        ),
        "{}",
        out.describe()
    );
    assert_eq!(fake.updates(), 0);
}

#[test]
fn stop_task_reset_is_read_back_and_says_the_task_still_runs() {
    let fake = stuck_migration(completed().reset("StopTask", u32::MAX));
    let out = pipe(&fake)
        .env("PRE_DEPLOY_COMMAND", "bin/migrate")
        .env("PRE_DEPLOY_TIMEOUT", "1")
        .run();
    out.assert_code(3);
    assert!(
        last_line(&out).contains("DescribeTasks shows it still RUNNING; stop it by hand: aws ecs stop-task --cluster prod --task 5d2f0c8e9b1a4c3d8e7f6a5b4c3d2e1f"),
        "{}",
        out.describe()
    );
    assert_eq!(
        fake.stop_reason(),
        None,
        "the reset StopTask was never applied"
    );
}

/// A migration that runs and exits 0.
fn migration() -> TaskScript {
    TaskScript {
        failures: Vec::new(),
        frames: vec![
            task("PENDING", &[("app", None)]),
            task("RUNNING", &[("app", None)]),
            task("STOPPED", &[("app", Some(0))]),
        ],
    }
}

// --- decisions, without a network ----------------------------------------------------------

fn parsed(v: Value) -> Service {
    serde_json::from_value(v).expect("a service")
}

fn wanted(target: &str, new_revision: bool) -> Wanted<'_> {
    Wanted {
        target,
        new_revision,
        force: false,
        desired_count: None,
        sent_at: 1_000.0,
    }
}

#[test]
fn a_read_back_showing_the_new_revision_primary_is_our_update() {
    let after = parsed(completed_service());
    assert_eq!(
        read_back(&after, &wanted(NEW_TD, true)),
        ReadBack::Updated {
            deployment_id: OUR_ID.into()
        }
    );
}

#[test]
fn a_read_back_showing_the_old_revision_primary_means_not_updated() {
    let after = parsed(settled_service());
    assert!(matches!(
        read_back(&after, &wanted(NEW_TD, true)),
        ReadBack::NotUpdated(why) if why.contains("runs web:41, not web:42")
    ));
}

#[test]
fn a_restart_is_recognised_by_a_primary_deployment_created_after_the_call() {
    let mut service = settled_service();
    service["deployments"][0]["createdAt"] = json!(1_010.0);
    let restart = Wanted {
        force: true,
        ..wanted(OLD_TD, false)
    };
    assert!(matches!(
        read_back(&parsed(service.clone()), &restart),
        ReadBack::Updated { .. }
    ));
    service["deployments"][0]["createdAt"] = json!(500.0);
    assert!(matches!(
        read_back(&parsed(service.clone()), &restart),
        ReadBack::NotUpdated(_)
    ));
    service["deployments"][0]
        .as_object_mut()
        .map(|d| d.remove("createdAt"));
    assert!(matches!(
        read_back(&parsed(service), &restart),
        ReadBack::Unknown(_)
    ));
}

#[test]
fn a_read_back_without_a_primary_deployment_cannot_tell() {
    let mut after = settled_service();
    after["deployments"][0]["status"] = json!("ACTIVE");
    let after = parsed(after);
    assert!(matches!(
        read_back(&after, &wanted(NEW_TD, true)),
        ReadBack::Unknown(_)
    ));
}

#[test]
fn the_lost_task_is_the_newest_of_our_revision_started_since_the_call() {
    let mut older_run = task("STOPPED", &[("app", Some(0))]);
    older_run["taskArn"] = json!("arn:aws:ecs:eu-west-1:123456789012:task/prod/older");
    older_run["createdAt"] = json!(100.0);
    let mut ours = task("RUNNING", &[("app", None)]);
    ours["createdAt"] = json!(1_001.0);
    let mut other_revision = task("RUNNING", &[("app", None)]);
    other_revision["taskArn"] = json!("arn:aws:ecs:eu-west-1:123456789012:task/prod/other");
    other_revision["taskDefinitionArn"] = json!(OLD_TD);
    other_revision["createdAt"] = json!(1_002.0);
    let tasks = vec![older_run.clone(), ours, other_revision];
    assert_eq!(
        lost_task(&tasks, NEW_TD, 1_000.0).as_deref(),
        Some(TASK_ARN)
    );
    assert_eq!(lost_task(&[older_run], NEW_TD, 1_000.0), None);
}

#[test]
fn a_failed_stop_task_says_what_the_task_read_back_shows() {
    let err = AwsError::plain("ecs:StopTask", "lost");
    let by_hand = "stop it by hand";
    let stopped = task("STOPPED", &[("app", Some(1))]);
    assert!(stop_words(&stopped, "t", &err, by_hand).contains("DescribeTasks shows it STOPPED"));
    let mut stopping = task("RUNNING", &[("app", None)]);
    stopping["desiredStatus"] = json!("STOPPED");
    assert!(stop_words(&stopping, "t", &err, by_hand).contains("shows it stopping"));
    let running = task("RUNNING", &[("app", None)]);
    let words = stop_words(&running, "t", &err, by_hand);
    assert!(
        words.contains("still RUNNING") && words.ends_with(by_hand),
        "{words}"
    );
}

type Sdk = SdkError<UpdateServiceError, Response>;

fn service_error(status: u16, code: &str) -> Sdk {
    let status = StatusCode::try_from(status).expect("a status");
    SdkError::service_error(
        UpdateServiceError::generic(ErrorMetadata::builder().code(code).build()),
        Response::new(status, SdkBody::empty()),
    )
}

#[test]
fn ambiguous_failures_are_those_that_may_have_reached_aws() {
    let ambiguous = |e: &Sdk| AwsError::from_sdk("ecs:UpdateService", e).is_ambiguous();
    assert!(ambiguous(&SdkError::timeout_error("attempt timeout")));
    assert!(ambiguous(&SdkError::dispatch_failure(ConnectorError::io(
        Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    ))));
    assert!(ambiguous(&SdkError::dispatch_failure(
        ConnectorError::other("connection closed before message completed".into(), None)
    )));
    assert!(ambiguous(&service_error(500, "ServerException")));
    assert!(ambiguous(&service_error(503, "ServiceUnavailable")));

    assert!(!ambiguous(&SdkError::dispatch_failure(ConnectorError::io(
        Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
    ))));
    for code in [
        "InvalidParameterException",
        "ServiceNotFoundException",
        "AccessDeniedException",
        "ThrottlingException",
    ] {
        assert!(!ambiguous(&service_error(400, code)), "{code}");
    }
    assert!(!AwsError::plain("ecs:UpdateService", "x").is_ambiguous());
}
