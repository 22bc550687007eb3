//! Issue 10: a failed deploy shows the last lines its failed containers logged. The rollout is
//! played by the scripted ECS fake; the log lines are real events in moto's CloudWatch Logs, at
//! the stream the pipe must derive (`<prefix>/<container>/<task id>`), reached through a
//! recording proxy so each test can count the pipe's CloudWatch Logs calls.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::ecs_fake::{
    EcsFake, NEW_TD, OLD_ID, OLD_TD, OUR_ID, Script, crashed_task, deployment, failed, service,
};
use crate::support::fake::{Fake, ProxyCtx, Req, Resp};
use crate::support::moto::Moto;
use crate::support::pipe::{Outcome, Pipe, assert_no_secrets};
use crate::support::snapshot::assert_snapshot;
use crate::support::{REGION, now_epoch};

const GROUP: &str = "/ecs/web";
const TD_FILE: &str = "ecs/task-definition.json";

fn stream(task: u32) -> String {
    format!("ecs/app/0f1e2d3c4b5a69788796a5b4c3d2e1f{task}")
}

/// What the app wrote before it crashed: 30 lines, the last three the crash.
fn app_lines() -> Vec<String> {
    let mut lines: Vec<String> = (1..=27)
        .map(|i| format!("[{i:02}] INFO worker ready, queue depth {i}"))
        .collect();
    lines.push("[28] Error: connect ECONNREFUSED 10.0.3.17:5432".into());
    lines.push("[29]     at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)".into());
    lines.push("[30] FATAL could not reach the database; exiting".into());
    lines
}

/// Writes [`app_lines`] to the stream of `task` in `region`, one second apart, ending a minute
/// ago; returns the time of the last line as the pipe prints it.
fn seed_logs(moto: &Moto, region: &str, task: u32) -> String {
    let start = i64::try_from(now_epoch()).expect("epoch fits") * 1000 - 90_000;
    let events: Vec<(i64, String)> = app_lines()
        .into_iter()
        .zip(0..)
        .map(|(line, i)| (start + i * 1000, line))
        .collect();
    moto.create_log_stream(region, GROUP, &stream(task));
    moto.put_log_events(region, GROUP, &stream(task), &events);
    let last = events.last().expect("events").0;
    ecs_oidc_deploy::aws::logs::timestamp(last)
}

fn awslogs(region: &str) -> Value {
    json!({"logDriver": "awslogs", "options": {"awslogs-group": GROUP, "awslogs-region": region, "awslogs-stream-prefix": "ecs"}})
}

/// The task definition of the service, with `log_configuration` on its only container.
fn task_definition(log_configuration: &Value) -> Value {
    json!({
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "app",
            "image": "nginx:1.27",
            "essential": true,
            "logConfiguration": log_configuration
        }]
    })
}

/// A task of our deployment killed for memory: a second kind of stop, whose stream was never
/// written.
fn oom_task(n: u32) -> Value {
    let mut task = crashed_task(n, OUR_ID);
    task["containers"][0]["exitCode"] = json!(137);
    task["containers"][0]["reason"] =
        json!("OutOfMemoryError: Container killed due to memory usage");
    task
}

fn ours(running: i64, pending: i64, state: &str) -> Value {
    deployment(OUR_ID, "PRIMARY", NEW_TD, running, 3, pending, Some(state))
}

fn old_active(running: i64) -> Value {
    deployment(OLD_ID, "ACTIVE", OLD_TD, running, 3, 0, Some("COMPLETED"))
}

/// The circuit breaker stops our deployment after three identical crashes and one OOM kill.
fn circuit_breaker() -> Script {
    let mut script = Script::new(vec![
        service(vec![ours(0, 3, "IN_PROGRESS"), old_active(3)], vec![]),
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
                    4,
                ),
                old_active(3),
            ],
            vec![],
        ),
        // ECS's rollback deployment completes: the verdict comes then.
        service(
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
                    4,
                ),
            ],
            vec![],
        ),
    ]);
    script.stopped_tasks = vec![
        crashed_task(1, OUR_ID),
        crashed_task(2, OUR_ID),
        crashed_task(3, OUR_ID),
        oom_task(4),
    ];
    script
}

const VERDICT: &str = "✖ deployment ecs-svc/7700000000000000042 of web:42 failed: ECS deployment circuit breaker: tasks failed to start; rolled back: the service runs web:41";

/// A CloudWatch Logs endpoint that records every call and forwards it to moto.
fn logs_proxy(moto: &Moto) -> Fake {
    Fake::proxy(moto.endpoint(), Arc::new(|_: &ProxyCtx, _: &Req| None))
}

/// A CloudWatch Logs endpoint that must not be called: it records and answers 500.
fn no_logs_expected() -> Fake {
    Fake::from_fn(|_| Resp::aws_json_error(500, "InternalFailure", "must not be called"))
}

fn pipe(ecs: &EcsFake, logs: &Fake, log_configuration: &Value) -> Pipe {
    let p = Pipe::new()
        .endpoint(&ecs.endpoint())
        .env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", &logs.endpoint())
        .env("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("IMAGE", "nginx:1.28")
        .env("TASK_DEFINITION", TD_FILE)
        .env("WAIT_INTERVAL", "0.05")
        .env("WAIT_TIMEOUT", "60");
    p.write_file(TD_FILE, task_definition(log_configuration).to_string());
    p
}

fn last_line(out: &Outcome) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

/// The lines of stderr from the one starting with `first` on, `n` of them.
fn block(out: &Outcome, first: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = out.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(first))
        .unwrap_or_else(|| panic!("no line starting with {first:?}\n{}", out.describe()));
    lines[at..(at + n).min(lines.len())]
        .iter()
        .map(|l| (*l).to_string())
        .collect()
}

fn get_log_events(logs: &Fake) -> Vec<Value> {
    logs.requests()
        .iter()
        .filter(|r| r.target().as_deref() == Some("GetLogEvents"))
        .map(Req::json)
        .collect()
}

#[test]
fn a_failed_rollout_shows_the_last_lines_of_each_failed_container() {
    let moto = Moto::start();
    let last_time = seed_logs(&moto, REGION, 1);
    let logs = logs_proxy(&moto);
    let ecs = EcsFake::start(circuit_breaker());
    let p = pipe(&ecs, &logs, &awslogs(REGION));
    let out = p.run();
    out.assert_code(1);
    assert_eq!(last_line(&out), VERDICT, "the verdict is unchanged");

    let mut expected = vec![
        "  3 stopped tasks: EssentialContainerExited: Essential container in task exited; container app exit code 1".to_string(),
        format!(
            "    last 20 lines of container app, up to {last_time} (log group /ecs/web, stream {}, eu-west-1):",
            stream(1)
        ),
    ];
    expected.extend(app_lines()[10..].iter().map(|l| format!("      {l}")));
    expected.push("  stopped task: EssentialContainerExited: Essential container in task exited; container app exit code 137 (OutOfMemoryError: Container killed due to memory usage)".into());
    expected.push(format!(
        "    no logs of container app: log stream {} does not exist in log group /ecs/web (eu-west-1): the container stopped before it wrote anything",
        stream(4)
    ));
    assert_eq!(block(&out, "  3 stopped tasks:", expected.len()), expected);
    assert!(
        expected[2].ends_with("[11] INFO worker ready, queue depth 11")
            && expected[21].ends_with("[30] FATAL could not reach the database; exiting"),
        "the window is lines 11 to 30"
    );
    out.assert_not_contains("[10] INFO");
    out.assert_contains("      [29]     at TCPConnectWrap"); // the app's own indentation is kept
    out.assert_not_contains("check its logs for the crash");

    // One read per group, newest first, signed for the log group's region; the task definition
    // came from the register request, so it was not described again.
    let reads = get_log_events(&logs);
    assert_eq!(reads.len(), 2, "one GetLogEvents per group: {reads:?}");
    assert_eq!(
        reads[0],
        json!({"logGroupName": GROUP, "logStreamName": stream(1), "startFromHead": false, "limit": 20})
    );
    assert_eq!(reads[1]["logStreamName"], json!(stream(4)));
    assert!(
        logs.requests()
            .iter()
            .all(|r| r.region().as_deref() == Some(REGION))
    );
    assert!(
        !ecs.operations()
            .iter()
            .any(|o| o == "DescribeTaskDefinition")
    );

    // deployment.json keeps only the verdict.
    let storage = p
        .get_env("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
        .expect("shared storage");
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(storage).join("ecs-oidc-deploy/deployment.json"),
        )
        .expect("deployment.json"),
    )
    .expect("JSON");
    assert_eq!(record["verdict"], json!("failed"));
    assert_eq!(record["message"], json!(VERDICT.trim_start_matches("✖ ")));

    assert_snapshot(
        "failure_report_with_logs",
        &out.stderr.replace(&last_time, "<time of the last line>"),
    );

    // The same with DEBUG: the logs are still shown, and no secret is.
    let ecs = EcsFake::start(circuit_breaker());
    let p = pipe(&ecs, &logs, &awslogs(REGION)).env("DEBUG", "true");
    let token = p
        .get_env("BITBUCKET_STEP_OIDC_TOKEN")
        .expect("token")
        .to_string();
    let out = p.run();
    out.assert_code(1)
        .assert_contains("      [30] FATAL could not reach the database; exiting");
    assert_no_secrets(
        &out,
        &[
            &token,
            "fakeSecretKey/1/abcdefghijklmnopqrstuvwxyz",
            "FwoGZXIvYXdzFakeSessionToken1==",
        ],
    );
}

#[test]
fn log_lines_sets_the_window_and_zero_reads_no_logs_at_all() {
    let moto = Moto::start();
    seed_logs(&moto, REGION, 1);
    let logs = logs_proxy(&moto);

    let ecs = EcsFake::start(circuit_breaker());
    let out = pipe(&ecs, &logs, &awslogs(REGION))
        .env("LOG_LINES", "5")
        .run();
    out.assert_code(1);
    let shown = block(&out, "    last 5 lines of container app", 6);
    assert_eq!(
        shown[1..],
        app_lines()[25..]
            .iter()
            .map(|l| format!("      {l}"))
            .collect::<Vec<_>>()
    );
    out.assert_not_contains("[25] INFO");
    assert_eq!(get_log_events(&logs)[0]["limit"], json!(5));
    assert_eq!(last_line(&out), VERDICT);

    let before = logs.requests().len();
    let ecs = EcsFake::start(circuit_breaker());
    let out = pipe(&ecs, &logs, &awslogs(REGION))
        .env("LOG_LINES", "0")
        .run();
    out.assert_code(1)
        .assert_contains("  3 stopped tasks: EssentialContainerExited")
        .assert_contains("hint: the container exited; check its logs for the crash (LOG_LINES is 0, so none are shown here)")
        .assert_not_contains("last 20 lines")
        .assert_not_contains("no logs of container");
    assert_eq!(
        logs.requests().len(),
        before,
        "LOG_LINES 0 makes no logs call"
    );
    assert_eq!(last_line(&out), VERDICT);
}

#[test]
fn a_denied_read_is_one_line_naming_the_action_and_the_log_group() {
    let denied = Fake::from_fn(|req: &Req| {
        let stream = req.json()["logStreamName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Resp::aws_json_error(
            400,
            "AccessDeniedException",
            &format!(
                "User: arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-42 is not authorized to perform: logs:GetLogEvents on resource: arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/web:log-stream:{stream} because no identity-based policy allows the logs:GetLogEvents action"
            ),
        )
    });
    let ecs = EcsFake::start(circuit_breaker());
    let out = pipe(&ecs, &denied, &awslogs(REGION)).run();
    out.assert_code(1);
    assert_eq!(last_line(&out), VERDICT, "the verdict is unchanged");
    assert_eq!(
        block(&out, "  3 stopped tasks:", 2)[1],
        "    no logs of container app: the role may not read them (AccessDeniedException); allow logs:GetLogEvents on arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/web:* to show them here (optional; --print-iam-policy prints the statement)"
    );
    assert_eq!(
        get_log_events(&denied).len(),
        2,
        "one try per group, no retries"
    );
}

#[test]
fn an_unreachable_logs_endpoint_is_one_line_and_the_verdict_stands() {
    let ecs = EcsFake::start(circuit_breaker());
    let out = pipe(&ecs, &no_logs_expected(), &awslogs(REGION))
        // Instead: nothing listens on port 9 (discard) on loopback, so connections are refused.
        .env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://127.0.0.1:9")
        .run();
    out.assert_code(1).assert_contains(
        "    no logs of container app: could not read them (logs:GetLogEvents failed: no response (connection failed or timed out))",
    );
    assert_eq!(last_line(&out), VERDICT);
}

#[test]
fn other_drivers_and_awslogs_without_a_prefix_say_where_the_logs_are_and_read_nothing() {
    let logs = no_logs_expected();
    let cases = [
        (
            json!({"logDriver": "splunk", "options": {"splunk-url": "https://splunk.example.com:8088", "splunk-token": "SPLUNK-TOKEN-0f9e8d"}}),
            "no logs of container app: it logs with the splunk driver, so its output is in Splunk (see splunk-url in its logConfiguration)",
        ),
        (
            json!({"logDriver": "awsfirelens", "options": {"Name": "datadog", "apikey": "DD-KEY-1a2b3c"}}),
            "no logs of container app: it logs with the awsfirelens driver, so its output is wherever the task's FireLens log router sends it (see the options of its logConfiguration)",
        ),
        (
            json!({"logDriver": "awslogs", "options": {"awslogs-group": GROUP, "awslogs-region": "eu-west-1"}}),
            "no logs of container app: it logs with awslogs but without awslogs-stream-prefix, so its stream is named after the Docker container id, which ECS does not report; look in log group /ecs/web (eu-west-1), or add awslogs-stream-prefix to the task definition",
        ),
        (
            Value::Null,
            "no logs of container app: its container definition has no logConfiguration, so ECS kept none of its output",
        ),
    ];
    for (config, note) in cases {
        let ecs = EcsFake::start(circuit_breaker());
        let out = pipe(&ecs, &logs, &config).run();
        out.assert_code(1).assert_contains(note);
        assert_eq!(last_line(&out), VERDICT);
        assert_no_secrets(&out, &["SPLUNK-TOKEN-0f9e8d", "DD-KEY-1a2b3c"]);
    }
    assert!(
        logs.requests().is_empty(),
        "no CloudWatch Logs call: {:?}",
        logs.operations()
    );
}

#[test]
fn a_successful_deploy_makes_no_logs_call() {
    let logs = no_logs_expected();
    let mut script = Script::new(vec![service(vec![ours(3, 0, "COMPLETED")], vec![])]);
    // Even with stopped tasks around (an earlier deployment's), success reads no logs.
    script.stopped_tasks = vec![crashed_task(1, OLD_ID)];
    let ecs = EcsFake::start(script);
    let out = pipe(&ecs, &logs, &awslogs(REGION)).run();
    out.assert_success();
    assert!(logs.requests().is_empty(), "{:?}", logs.operations());
    assert!(
        !ecs.operations()
            .iter()
            .any(|o| o == "ListTasks" || o == "DescribeTasks")
    );
}

#[test]
fn a_timeout_while_tasks_keep_crashing_shows_their_logs() {
    let moto = Moto::start();
    seed_logs(&moto, REGION, 1);
    let logs = logs_proxy(&moto);
    let mut script = Script::new(vec![service(
        vec![failed(ours(0, 3, "IN_PROGRESS"), 2), old_active(3)],
        vec![],
    )]);
    script.stopped_tasks = vec![crashed_task(1, OUR_ID), crashed_task(2, OUR_ID)];
    let ecs = EcsFake::start(script);
    let out = pipe(&ecs, &logs, &awslogs(REGION))
        .env("WAIT_TIMEOUT", "1")
        .env("WAIT_INTERVAL", "0.2")
        .run();
    out.assert_code(1);
    let shown = block(&out, "  2 stopped tasks:", 22);
    assert!(
        shown[1].starts_with("    last 20 lines of container app, up to "),
        "{shown:?}"
    );
    assert_eq!(
        shown[21],
        "      [30] FATAL could not reach the database; exiting"
    );
    assert!(
        last_line(&out).starts_with(
            "✖ timed out after 1.0s waiting for ecs-svc/7700000000000000042 of web:42"
        ),
        "{}",
        out.describe()
    );
    assert_eq!(get_log_events(&logs).len(), 1);
}

/// A FORCE_NEW_DEPLOYMENT of the running revision whose tasks crash: nothing is registered, so
/// the pipe holds no task definition and must describe the one the failed tasks ran. The ECS
/// fake sits behind a proxy that answers DescribeTaskDefinition with `describe`. Returns the
/// fake (kept alive) and the proxy, the pipe's ECS/STS endpoint.
fn force_redeploy_that_fails(describe: Resp) -> (EcsFake, Fake) {
    let on_old = |id: &str, status: &str, running: i64, pending: i64, state: &str| {
        deployment(id, status, OLD_TD, running, 3, pending, Some(state))
    };
    let mut script = Script::new(vec![service(
        vec![
            failed(on_old(OUR_ID, "PRIMARY", 0, 0, "FAILED"), 3),
            on_old(OLD_ID, "ACTIVE", 3, 0, "COMPLETED"),
        ],
        vec![],
    )]);
    script.update_reply = service(
        vec![
            on_old(OUR_ID, "PRIMARY", 0, 3, "IN_PROGRESS"),
            on_old(OLD_ID, "ACTIVE", 3, 0, "COMPLETED"),
        ],
        vec![],
    );
    let mut task = crashed_task(1, OUR_ID);
    task["taskDefinitionArn"] = json!(OLD_TD);
    script.stopped_tasks = vec![task];
    let ecs = EcsFake::start(script);
    let front = Fake::proxy(
        ecs.endpoint(),
        Arc::new(move |_: &ProxyCtx, req: &Req| {
            (req.target().as_deref() == Some("DescribeTaskDefinition")).then(|| describe.clone())
        }),
    );
    (ecs, front)
}

fn force_redeploy(front: &Fake, logs: &Fake) -> Pipe {
    Pipe::new()
        .endpoint(&front.endpoint())
        .env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", &logs.endpoint())
        .env("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("FORCE_NEW_DEPLOYMENT", "true")
        .env("WAIT_INTERVAL", "0.05")
}

fn described_calls(front: &Fake) -> usize {
    front
        .operations()
        .iter()
        .filter(|o| *o == "DescribeTaskDefinition")
        .count()
}

#[test]
fn without_a_new_revision_the_task_definition_is_described_and_its_log_region_used() {
    let moto = Moto::start();
    let last_time = seed_logs(&moto, "us-east-1", 1);
    let logs = logs_proxy(&moto);
    // The log group is in another region than the cluster.
    let described = json!({"taskDefinition": task_definition(&awslogs("us-east-1")), "tags": []});
    let (_ecs, front) = force_redeploy_that_fails(Resp::json(200, described));
    let out = force_redeploy(&front, &logs).run();
    out.assert_code(1).assert_contains(&format!(
        "    last 20 lines of container app, up to {last_time} (log group /ecs/web, stream {}, us-east-1):",
        stream(1)
    ));
    assert_eq!(described_calls(&front), 1, "{:?}", front.operations());
    let regions: Vec<Option<String>> = logs.requests().iter().map(Req::region).collect();
    assert_eq!(regions, vec![Some("us-east-1".to_string())]);
}

#[test]
fn a_task_definition_that_cannot_be_described_is_one_line() {
    let logs = no_logs_expected();
    let (_ecs, front) = force_redeploy_that_fails(Resp::aws_json_error(
        400,
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-42 is not authorized to perform: ecs:DescribeTaskDefinition on resource: * because no identity-based policy allows the ecs:DescribeTaskDefinition action",
    ));
    let out = force_redeploy(&front, &logs).run();
    out.assert_code(1).assert_contains(
        "    no logs of container app: could not read task definition web:41 to find them (ecs:DescribeTaskDefinition failed: AccessDeniedException: User:",
    );
    assert!(
        last_line(&out).starts_with("✖ deployment ecs-svc/7700000000000000042 of web:41 failed"),
        "{}",
        out.describe()
    );
    assert_eq!(described_calls(&front), 1);
    assert!(logs.requests().is_empty());
}

#[test]
fn a_bad_log_lines_is_refused_before_any_call() {
    let fake = no_logs_expected();
    for bad in ["twenty", "-1", "501", "2.5"] {
        let out = Pipe::new()
            .endpoint(&fake.endpoint())
            .env("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
            .env("CLUSTER_NAME", "prod")
            .env("SERVICE_NAME", "web")
            .env("IMAGE", "nginx:1.28")
            .env("LOG_LINES", bad)
            .run();
        out.assert_code(2).assert_contains(&format!(
            "LOG_LINES must be a whole number of lines from 0 (off) to 500, such as 20, got {bad:?}"
        ));
    }
    assert!(fake.requests().is_empty());
}

/// For showing a one-off task's log as it arrives (PRE_DEPLOY_COMMAND): each read returns only
/// what was written since the last, and a stream that does not exist yet reads as empty.
#[test]
fn the_reader_follows_a_stream_as_it_grows() {
    use ecs_oidc_deploy::aws::logs::{Cursor, LogReader};

    let moto = Moto::start();
    let client = ecs_oidc_deploy::aws::logs_client(
        REGION,
        Some(&moto.endpoint()),
        aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test"),
        ),
    );
    let reader = LogReader::new(client);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut cursor = Cursor::new(GROUP, "migrate/app/1a2b");
    let read = |cursor: &mut Cursor| -> Vec<String> {
        runtime
            .block_on(reader.read_new(cursor))
            .expect("read")
            .into_iter()
            .map(|e| e.message)
            .collect()
    };
    assert!(read(&mut cursor).is_empty(), "no stream yet");

    moto.create_log_stream(REGION, GROUP, "migrate/app/1a2b");
    let at = i64::try_from(now_epoch()).expect("epoch") * 1000;
    let put = |from: i64, lines: &[&str]| {
        let events: Vec<(i64, String)> = lines
            .iter()
            .zip(from..)
            .map(|(l, i)| (at + i, (*l).to_string()))
            .collect();
        moto.put_log_events(REGION, GROUP, "migrate/app/1a2b", &events);
    };
    put(0, &["migrating 1/3", "migrating 2/3"]);
    assert_eq!(read(&mut cursor), ["migrating 1/3", "migrating 2/3"]);
    assert!(read(&mut cursor).is_empty(), "nothing new");
    put(2, &["migrating 3/3", "done"]);
    assert_eq!(read(&mut cursor), ["migrating 3/3", "done"]);
    assert!(read(&mut cursor).is_empty());
}

// The pure decisions, on small inputs.

mod decisions {
    use ecs_oidc_deploy::aws::ecs::StoppedTask;
    use ecs_oidc_deploy::aws::logs::{
        Located, LogEvent, MAX_LINE_CHARS, StreamLocation, cut, locate, show_tail, task_id,
        timestamp,
    };
    use ecs_oidc_deploy::config::Config;
    use ecs_oidc_deploy::rules::policy;
    use ecs_oidc_deploy::rules::task_def::{TaskDefinition, awslogs_groups};
    use ecs_oidc_deploy::steps::diagnose::{failed_container, group_stopped, log_configuration};
    use serde_json::json;

    const TASK: &str = "arn:aws:ecs:eu-west-1:123456789012:task/prod/0f1e2d3c4b5a4978";

    fn at() -> StreamLocation {
        StreamLocation {
            group: "/ecs/web".into(),
            region: "eu-west-1".into(),
            stream: "ecs/app/0f1e".into(),
        }
    }

    #[test]
    fn the_stream_is_prefix_container_and_task_id_in_the_drivers_region() {
        let config = json!({"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web"}});
        assert_eq!(
            locate(Some(&config), "app", TASK, "eu-west-1"),
            Located::CloudWatch(StreamLocation {
                group: "/ecs/web".into(),
                region: "eu-west-1".into(),
                stream: "web/app/0f1e2d3c4b5a4978".into(),
            }),
            "no awslogs-region: the cluster's"
        );
        let elsewhere = json!({"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}});
        let Located::CloudWatch(found) = locate(Some(&elsewhere), "app", TASK, "eu-west-1") else {
            panic!("awslogs with a prefix is readable");
        };
        assert_eq!(found.region, "us-east-1");
        assert_eq!(
            found.group_arn("aws", "123456789012"),
            "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web:*"
        );
        assert_eq!(
            task_id("arn:aws:ecs:eu-west-1:123456789012:task/0f1e2d"),
            "0f1e2d",
            "the old ARN format without the cluster"
        );
        for (config, says) in [
            (
                json!({"logDriver": "fluentd", "options": {"fluentd-address": "10.0.0.5:24224"}}),
                "in Fluentd (see fluentd-address",
            ),
            (
                json!({"logDriver": "json-file"}),
                "on the container instance that ran the task",
            ),
            (json!({"logDriver": "none"}), "its log driver is none"),
            (
                json!({"logDriver": "awslogs", "options": {"awslogs-stream-prefix": "web"}}),
                "names no awslogs-group",
            ),
            (
                json!({"logDriver": "syslog-ng-custom"}),
                "wherever that driver sends it",
            ),
        ] {
            match locate(Some(&config), "app", TASK, "eu-west-1") {
                Located::Elsewhere(why) => assert!(why.contains(says), "{why}"),
                other => panic!("{config} is not readable here: {other:?}"),
            }
        }
        match locate(
            Some(
                &json!({"logDriver": "gelf", "options": {"gelf-address": "udp://user:pw@logs:12201"}}),
            ),
            "app",
            TASK,
            "eu-west-1",
        ) {
            Located::Elsewhere(why) => assert!(
                !why.contains("user:pw"),
                "option values are never shown: {why}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_tail_is_the_last_lines_with_a_header_naming_stream_and_time() {
        let events = vec![
            LogEvent { timestamp: 1_764_150_000_000, message: "starting".into() },
            LogEvent { timestamp: 1_764_150_001_000, message: "Traceback (most recent call last):\n  File \"app.py\", line 3\nKeyError: 'DATABASE_URL'".into() },
            LogEvent { timestamp: 1_764_150_001_123, message: "\tbye\r".into() },
        ];
        assert_eq!(
            show_tail("app", &at(), &events, 3),
            [
                "  last 3 lines of container app, up to 2025-11-26T09:40:01.123Z (log group /ecs/web, stream ecs/app/0f1e, eu-west-1):",
                "      File \"app.py\", line 3",
                "    KeyError: 'DATABASE_URL'",
                "    \tbye",
            ],
            "lines of a multi-line event count one by one; the app's indentation is kept"
        );
        assert_eq!(show_tail("app", &at(), &events, 50).len(), 1 + 5);
        assert_eq!(
            show_tail("app", &at(), &[], 20),
            [
                "  no logs of container app: log stream ecs/app/0f1e in log group /ecs/web (eu-west-1) has no lines"
            ]
        );
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn very_long_lines_are_cut_and_say_how_much_is_missing() {
        let exact = "x".repeat(MAX_LINE_CHARS);
        assert_eq!(cut(&exact), exact);
        let long = format!("{}é{}", "x".repeat(MAX_LINE_CHARS - 1), "y".repeat(120));
        let shown = cut(&long);
        assert!(
            shown.starts_with(&format!("{}é …", "x".repeat(MAX_LINE_CHARS - 1))),
            "{shown}"
        );
        assert!(shown.ends_with("[120 more characters]"), "{shown}");
        assert!(cut(&"z".repeat(MAX_LINE_CHARS + 1)).ends_with("[1 more character]"));
    }

    fn task(stop_code: &str, containers: &[(&str, Option<i32>, &str)]) -> StoppedTask {
        StoppedTask {
            task_arn: TASK.into(),
            task_definition_arn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42".into(),
            started_by: "ecs-svc/1".into(),
            stop_code: stop_code.into(),
            stopped_reason: "Essential container in task exited".into(),
            containers: containers
                .iter()
                .map(|(n, c, r)| ((*n).to_string(), *c, (*r).to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_container_to_read_is_the_one_that_failed() {
        let crashed = task(
            "EssentialContainerExited",
            &[("envoy", Some(0), ""), ("app", Some(1), "")],
        );
        assert_eq!(
            failed_container(&crashed),
            Ok("app"),
            "not the sidecar that exited cleanly"
        );
        let killed = task(
            "TaskFailedToStart",
            &[
                ("app", None, ""),
                (
                    "log-router",
                    None,
                    "CannotPullContainerError: pull access denied",
                ),
            ],
        );
        assert!(
            failed_container(&killed)
                .is_err_and(|why| why.contains("no container of this task started"))
        );
        let unhealthy = task(
            "ServiceSchedulerInitiated",
            &[("app", None, ""), ("envoy", None, "")],
        );
        assert_eq!(
            failed_container(&unhealthy),
            Ok("app"),
            "health-check kills: the first container"
        );
        let oom = task(
            "EssentialContainerExited",
            &[("app", None, ""), ("worker", None, "OutOfMemoryError")],
        );
        assert_eq!(failed_container(&oom), Ok("worker"));
        assert!(failed_container(&task("", &[])).is_err());
    }

    #[test]
    fn identical_stops_are_one_group_whose_first_task_stands_for_it() {
        let mut first = task("EssentialContainerExited", &[("app", Some(1), "")]);
        first.task_arn.push('1');
        let tasks = vec![
            first,
            task("EssentialContainerExited", &[("app", Some(1), "")]),
            task(
                "EssentialContainerExited",
                &[("app", Some(137), "OutOfMemoryError")],
            ),
        ];
        let groups = group_stopped(&tasks);
        let lines: Vec<String> = groups.iter().map(|g| g.line()).collect();
        assert_eq!(
            lines,
            [
                "2 stopped tasks: EssentialContainerExited: Essential container in task exited; container app exit code 1",
                "stopped task: EssentialContainerExited: Essential container in task exited; container app exit code 137 (OutOfMemoryError)",
            ]
        );
        assert!(groups[0].task.task_arn.ends_with("49781"));
    }

    #[test]
    fn a_containers_log_configuration_is_found_in_any_task_definition_shape() {
        let config = json!({"logDriver": "awslogs"});
        let request = json!({"family": "web", "containerDefinitions": [{"name": "app", "logConfiguration": config}, {"name": "envoy"}]});
        assert_eq!(log_configuration(&request, "app"), Some(Some(&config)));
        assert_eq!(log_configuration(&request, "envoy"), Some(None));
        assert_eq!(log_configuration(&request, "worker"), None);
        let described = json!({"taskDefinition": request, "tags": []});
        assert_eq!(log_configuration(&described, "app"), Some(Some(&config)));
    }

    #[test]
    fn log_lines_defaults_to_20_and_accepts_0_to_500() {
        let vars = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
            [
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy"),
                ("BITBUCKET_STEP_OIDC_TOKEN", "header.payload.signature"),
                ("CLUSTER_NAME", "prod"),
                ("SERVICE_NAME", "web"),
                ("IMAGE", "nginx:1.28"),
            ]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
        };
        let lines = |extra: &[(&str, &str)]| {
            Config::from_vars(vars(extra))
                .map(|c| c.wait.log_lines)
                .ok()
        };
        assert_eq!(lines(&[]), Some(20));
        assert_eq!(lines(&[("LOG_LINES", " ")]), Some(20), "blank is unset");
        assert_eq!(lines(&[("LOG_LINES", "0")]), Some(0));
        assert_eq!(lines(&[("LOG_LINES", "500")]), Some(500));
        assert_eq!(lines(&[("LOG_LINES", "501")]), None);
        let config = Config::from_vars(vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://127.0.0.1:6000"),
        ]))
        .expect("valid");
        assert_eq!(
            config.credentials.endpoints.logs.as_deref(),
            Some("http://127.0.0.1:6000")
        );
        assert_eq!(
            config.credentials.endpoints.ecs.as_deref(),
            Some("http://127.0.0.1:5000")
        );
    }

    #[test]
    fn the_policy_allows_reading_the_task_definitions_log_groups_and_says_it_is_optional() {
        let config = |extra: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = [
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy"),
                ("PRINT_IAM_POLICY", "true"),
                ("CLUSTER_NAME", "prod"),
                ("SERVICE_NAME", "web"),
                ("IMAGE", "nginx:1.28"),
            ]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
            Config::from_vars(vars).expect("valid")
        };
        let statement = |p: &policy::Policies| {
            p.permissions["Statement"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["Sid"] == policy::LOGS_SID))
                .cloned()
        };
        let td = TaskDefinition::from_json(
            json!({"family": "web", "containerDefinitions": [
                {"name": "app", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs"}}},
                {"name": "worker", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs"}}},
                {"name": "audit", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "audit", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "a"}}},
                {"name": "envoy", "logConfiguration": {"logDriver": "splunk"}}
            ]}),
            "ecs/web.json",
        )
        .expect("task definition");
        let p = policy::build(&config(&[]), Some(&td), None);
        let logs = statement(&p).expect("the logs statement");
        assert_eq!(logs["Action"], json!("logs:GetLogEvents"));
        assert_eq!(
            logs["Resource"],
            json!([
                "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/web:*",
                "arn:aws:logs:us-east-1:123456789012:log-group:audit:*"
            ])
        );
        assert!(
            p.notes.iter().any(|n| n.contains("is optional")),
            "{:?}",
            p.notes
        );

        let p = policy::build(&config(&[]), None, None);
        assert_eq!(
            statement(&p).expect("a placeholder")["Resource"],
            json!(["arn:aws:logs:eu-west-1:123456789012:log-group:<LOG_GROUP>:*"])
        );
        assert!(
            p.notes.iter().any(|n| n.contains("<LOG_GROUP>")),
            "{:?}",
            p.notes
        );

        let p = policy::build(&config(&[("LOG_LINES", "0")]), Some(&td), None);
        assert!(statement(&p).is_none() && !p.notes.iter().any(|n| n.contains("optional")));

        assert_eq!(
            awslogs_groups(&[json!({"name": "envoy"})], "eu-west-1"),
            Vec::<(String, String)>::new()
        );
    }
}
