//! `PRE_DEPLOY_COMMAND`: the one-off task run with the new revision before the update, played
//! by the scripted fake (moto cannot run tasks): its lifecycle, exit codes, failures to start,
//! the timeout and SIGTERM, all against the real binary.

use std::time::Duration;

use serde_json::json;

use crate::support::ecs_fake::deploy_nginx;
use crate::support::ecs_fake::{EcsFake, NEW_TD, TASK_ARN, TaskScript, completed, task};
use crate::support::pipe::{Outcome, Pipe};

/// A task that goes PROVISIONING → PENDING → RUNNING → STOPPED with these exit codes.
fn lifecycle(app: Option<i32>, envoy: Option<i32>) -> TaskScript {
    let running = [("app", None), ("envoy", None)];
    TaskScript {
        failures: Vec::new(),
        frames: vec![
            task("PROVISIONING", &running),
            task("PENDING", &running),
            task("RUNNING", &running),
            task("RUNNING", &running),
            task("STOPPED", &[("app", app), ("envoy", envoy)]),
        ],
    }
}

fn with_task(t: TaskScript) -> EcsFake {
    let mut script = completed();
    script.task = Some(t);
    EcsFake::start(script)
}

fn pipe(fake: &EcsFake) -> Pipe {
    deploy_nginx(&fake.endpoint()).env("PRE_DEPLOY_COMMAND", "bin/migrate --yes 'two words'")
}

fn last_line(out: &Outcome) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

fn position(ops: &[String], op: &str) -> usize {
    ops.iter()
        .position(|o| o == op)
        .unwrap_or_else(|| panic!("{op} never called: {ops:?}"))
}

#[test]
fn the_command_runs_with_the_new_revision_where_the_service_runs_before_the_update() {
    let fake = with_task(lifecycle(Some(0), Some(137)));
    let out = pipe(&fake).run();
    out.assert_success();
    let ops = fake.operations();
    let (register, run, update) = (
        position(&ops, "RegisterTaskDefinition"),
        position(&ops, "RunTask"),
        position(&ops, "UpdateService"),
    );
    let last_describe = ops
        .iter()
        .rposition(|o| o == "DescribeTasks")
        .expect("DescribeTasks");
    assert!(
        register < run && run < last_describe && last_describe < update,
        "register → RunTask → DescribeTasks… STOPPED → UpdateService: {ops:?}"
    );
    let requests = fake.bodies("RunTask");
    assert_eq!(requests.len(), 1, "RunTask once");
    let r = &requests[0];
    assert_eq!(r["taskDefinition"], json!(NEW_TD), "the new revision");
    assert_eq!(r["count"], json!(1));
    assert_eq!(r["cluster"], json!("prod"));
    assert_eq!(
        r["overrides"],
        json!({"containerOverrides": [{"name": "app", "command": ["bin/migrate", "--yes", "two words"]}]}),
        "only the container's command, split as a shell would, without a shell"
    );
    let live = &completed().initial;
    assert_eq!(r["networkConfiguration"], live["networkConfiguration"]);
    assert_eq!(r["launchType"], json!("FARGATE"));
    assert_eq!(r["platformVersion"], json!("LATEST"));
    assert!(r.get("capacityProviderStrategy").is_none());
    assert_eq!(r["startedBy"], json!("ecs-oidc-deploy/42"));
    assert!(
        r["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!({"key": "bitbucket:build-number", "value": "42"}))),
        "{r}"
    );
    for status in ["PENDING", "RUNNING", "STOPPED"] {
        assert_eq!(
            out.stderr.matches(&format!("  task {status}\n")).count(),
            1,
            "each status once\n{}",
            out.describe()
        );
    }
    out.assert_contains("container app exit code 0")
        .assert_contains("container envoy exit code 137 (does not decide the result)")
        .assert_contains("the pre-deploy command succeeded");
    assert!(fake.stop_reason().is_none());
}

#[test]
fn the_outputs_record_the_task_its_exit_code_and_duration() {
    let fake = with_task(lifecycle(Some(0), None));
    let p = pipe(&fake);
    p.run().assert_success();
    let dir = p.outputs_dir();
    let json = p.deployment_json();
    assert_eq!(json["preDeploy"]["taskArn"], json!(TASK_ARN));
    assert_eq!(json["preDeploy"]["exitCode"], json!(0));
    assert_eq!(json["preDeploy"]["verdict"], json!("succeeded"));
    assert!(json["preDeploy"]["durationSeconds"].is_u64());
    let env = std::fs::read_to_string(dir.join("deployment.env")).expect("env");
    assert!(
        env.contains(&format!("ECS_DEPLOY_PRE_DEPLOY_TASK_ARN='{TASK_ARN}'\n")),
        "{env}"
    );
    assert!(
        env.contains("ECS_DEPLOY_PRE_DEPLOY_EXIT_CODE='0'\n"),
        "{env}"
    );
    assert!(
        env.contains("ECS_DEPLOY_PRE_DEPLOY_DURATION_SECONDS='"),
        "{env}"
    );
}

#[test]
fn a_non_zero_exit_blocks_the_update_and_names_the_unused_revision() {
    let fake = with_task(lifecycle(Some(1), Some(0)));
    let out = pipe(&fake).run();
    out.assert_code(3);
    assert!(
        !fake.operations().iter().any(|o| o == "UpdateService"),
        "{:?}",
        fake.operations()
    );
    assert!(
        last_line(&out).starts_with(
            "✖ PRE_DEPLOY_COMMAND failed: container app exited with code 1 (task 5d2f0c8e9b1a4c3d8e7f6a5b4c3d2e1f, after "
        ),
        "{}",
        out.describe()
    );
    assert!(
        last_line(&out).ends_with(
            "no service was updated (web still runs web:41); web:42 was registered and not used"
        ),
        "{}",
        out.describe()
    );
    out.assert_contains(&format!("  task {TASK_ARN}"));
}

#[test]
fn a_sidecar_failing_does_not_fail_a_good_command_but_no_exit_code_does() {
    let fake = with_task(lifecycle(Some(0), Some(1)));
    pipe(&fake).run().assert_success();

    let fake = with_task(lifecycle(None, Some(0)));
    let out = pipe(&fake).run();
    out.assert_code(3)
        .assert_contains("container app has no exit code: Essential container in task exited");
    assert!(!fake.operations().iter().any(|o| o == "UpdateService"));
}

#[test]
fn a_task_that_never_started_blocks_the_update() {
    let fake = with_task(TaskScript {
        failures: vec![
            json!({"arn": "arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/abc", "reason": "RESOURCE:MEMORY"}),
        ],
        frames: Vec::new(),
    });
    let out = pipe(&fake).run();
    out.assert_code(2);
    assert!(
        last_line(&out).starts_with(
            "✖ PRE_DEPLOY_COMMAND did not run: RunTask started no task: RESOURCE:MEMORY; no service was updated"
        ),
        "{}",
        out.describe()
    );
    assert!(
        !fake
            .operations()
            .iter()
            .any(|o| o == "UpdateService" || o == "DescribeTasks")
    );

    let mut failed = task("STOPPED", &[("app", None)]);
    failed["stopCode"] = json!("TaskFailedToStart");
    failed["stoppedReason"] = json!(
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:nope: not found"
    );
    let fake = with_task(TaskScript {
        failures: Vec::new(),
        frames: vec![task("PROVISIONING", &[("app", None)]), failed],
    });
    let out = pipe(&fake).run();
    out.assert_code(2).assert_contains(
        "PRE_DEPLOY_COMMAND failed: the task failed to start: CannotPullContainerError",
    );
    assert!(!fake.operations().iter().any(|o| o == "UpdateService"));
}

#[test]
fn the_timeout_stops_the_task() {
    let running = task("RUNNING", &[("app", None)]);
    let fake = with_task(TaskScript {
        failures: Vec::new(),
        frames: vec![running.clone(), running],
    });
    let out = pipe(&fake).env("PRE_DEPLOY_TIMEOUT", "1").run();
    out.assert_code(3);
    assert_eq!(
        fake.stop_reason().as_deref(),
        Some("ecs-oidc-deploy: PRE_DEPLOY_TIMEOUT (1.0s) passed")
    );
    assert!(
        last_line(&out).starts_with("✖ PRE_DEPLOY_COMMAND did not finish within PRE_DEPLOY_TIMEOUT (1.0s); the pipe stopped task 5d2f0c8e9b1a4c3d8e7f6a5b4c3d2e1f; no service was updated"),
        "{}",
        out.describe()
    );
    assert!(!fake.operations().iter().any(|o| o == "UpdateService"));
}

#[test]
fn sigterm_while_the_command_runs_stops_the_task() {
    let running = task("RUNNING", &[("app", None)]);
    let fake = with_task(TaskScript {
        failures: Vec::new(),
        frames: vec![running.clone(), running],
    });
    let proc = pipe(&fake).spawn();
    let start = std::time::Instant::now();
    while !fake.operations().iter().any(|o| o == "DescribeTasks")
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    proc.signal("TERM");
    let out = proc.wait(Duration::from_secs(30));
    out.assert_code(3);
    assert_eq!(
        fake.stop_reason().as_deref(),
        Some("ecs-oidc-deploy: the Bitbucket step was stopped")
    );
    out.assert_contains("the pipe stopped task");
    assert!(!fake.operations().iter().any(|o| o == "UpdateService"));
}

#[test]
fn dry_run_shows_the_run_task_request_and_runs_nothing() {
    let fake = with_task(lifecycle(Some(0), None));
    let out = pipe(&fake)
        .env("PRE_DEPLOY_COMMAND", r#"["bin/rails", "db:migrate"]"#)
        .env("DRY_RUN", "true")
        .run();
    out.assert_success()
        .assert_contains("ecs:RunTask (PRE_DEPLOY_COMMAND, then wait for it to exit 0): ")
        .assert_contains(r#""command":["bin/rails","db:migrate"]"#)
        .assert_contains(r#""taskDefinition":"<the new revision of web>""#);
    assert!(
        !fake.operations().iter().any(|o| [
            "RunTask",
            "RegisterTaskDefinition",
            "UpdateService",
            "StopTask"
        ]
        .contains(&o.as_str())),
        "{:?}",
        fake.operations()
    );
}

#[test]
fn a_container_that_does_not_exist_is_refused_before_anything_changes() {
    let fake = with_task(lifecycle(Some(0), None));
    let out = pipe(&fake).env("PRE_DEPLOY_CONTAINER", "migrate").run();
    out.assert_code(2).assert_contains(
        "PRE_DEPLOY_CONTAINER names container \"migrate\", which the task definition of web does not have; it has app",
    );
    assert!(
        !fake
            .operations()
            .iter()
            .any(|o| o == "RegisterTaskDefinition" || o == "RunTask"),
        "{:?}",
        fake.operations()
    );
}

#[test]
fn bad_pre_deploy_variables_are_refused_before_any_call() {
    let fake = with_task(lifecycle(Some(0), None));
    let out = pipe(&fake)
        .env("PRE_DEPLOY_COMMAND", "bin/migrate 'unbalanced")
        .env("PRE_DEPLOY_TIMEOUT", "15m")
        .run();
    out.assert_code(2)
        .assert_contains("PRE_DEPLOY_COMMAND has an unbalanced quote or a trailing backslash")
        .assert_contains("PRE_DEPLOY_TIMEOUT must be whole seconds such as 900, got \"15m\"");
    let out = pipe(&fake)
        .env("PRE_DEPLOY_COMMAND", r#"["bin/migrate", 1]"#)
        .run();
    out.assert_code(2)
        .assert_contains("PRE_DEPLOY_COMMAND starts with '[' but is not a JSON array of strings");
    let out = pipe(&fake)
        .remove("PRE_DEPLOY_COMMAND")
        .env("PRE_DEPLOY_CONTAINER", "app")
        .run();
    out.assert_code(2)
        .assert_contains("PRE_DEPLOY_CONTAINER is set but PRE_DEPLOY_COMMAND is not");
    assert!(fake.fake.requests().is_empty(), "{:?}", fake.operations());
}

#[test]
fn the_commands_log_lines_appear_as_they_arrive_in_order_each_once() {
    use crate::support::moto::Moto;

    let moto = Moto::start();
    let group = "/ecs/web";
    let stream = "ecs/app/5d2f0c8e9b1a4c3d8e7f6a5b4c3d2e1f";
    moto.create_log_stream("eu-west-1", group, stream);
    let at = |i: i64| i64::try_from(crate::support::now_epoch()).expect("epoch") * 1000 + i;
    let first: Vec<(i64, String)> = (1..=3)
        .map(|i| (at(i), format!("== migrating step {i}")))
        .collect();
    moto.put_log_events("eu-west-1", group, stream, &first);

    let running = [("app", None)];
    let mut frames = vec![task("PENDING", &running)];
    frames.extend(std::iter::repeat_n(task("RUNNING", &running), 40));
    frames.push(task("STOPPED", &[("app", Some(0))]));
    let fake = with_task(TaskScript {
        failures: Vec::new(),
        frames,
    });
    let p = pipe(&fake)
        .env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", &moto.endpoint())
        .env("TASK_DEFINITION", "ecs/td.json");
    p.write_file(
        "ecs/td.json",
        json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.27",
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": group, "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "ecs"}}}]})
        .to_string(),
    );
    let proc = p.spawn();
    // More lines arrive while the task runs.
    let start = std::time::Instant::now();
    while fake.bodies("DescribeTasks").len() < 5 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let second: Vec<(i64, String)> = (4..=5)
        .map(|i| (at(i), format!("== migrating step {i}")))
        .collect();
    moto.put_log_events("eu-west-1", group, stream, &second);
    let out = proc.wait(Duration::from_secs(60));
    out.assert_success().assert_contains(&format!(
        "its log as it arrives (log group {group}, stream {stream}, eu-west-1):"
    ));
    let shown: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("== migrating step"))
        .collect();
    assert_eq!(
        shown,
        (1..=5)
            .map(|i| format!("    == migrating step {i}"))
            .collect::<Vec<_>>(),
        "{}",
        out.describe()
    );
    let stream_line = out
        .stderr
        .lines()
        .position(|l| l.contains("== migrating step 5"))
        .unwrap_or_default();
    let stopped = out
        .stderr
        .lines()
        .position(|l| l == "  task STOPPED")
        .unwrap_or_default();
    assert!(stream_line < stopped, "{}", out.describe());
}
