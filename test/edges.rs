//! Failure paths that had no test of their own: a service that cannot be deployed, a service
//! deleted while waiting, AWS out of reach, warnings that leave the verdict alone, the
//! heartbeat, blue/green re-runs and errors, and a task-definition file that is not one.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use ecs_oidc_deploy::config::Config;
use ecs_oidc_deploy::report::Reporter;
use ecs_oidc_deploy::steps::outputs::Record;

use crate::support::ecs_fake::{
    EcsFake, NEW_TD, OLD_ID, OLD_TD, OUR_ID, SD_ARN, Script, completed_service, deployment, service,
};
use crate::support::ecs_fake::{deploy_nginx, settled_service};
use crate::support::fake::{Fake, Resp};
use crate::support::pipe::{Outcome, Pipe};

fn pipe(endpoint: &str) -> Pipe {
    deploy_nginx(endpoint).env("WAIT_TIMEOUT", "60")
}

fn in_progress() -> Value {
    service(
        vec![
            deployment(OUR_ID, "PRIMARY", NEW_TD, 1, 3, 2, Some("IN_PROGRESS")),
            deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED")),
        ],
        vec![],
    )
}

fn last_line(out: &Outcome) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

fn changed_anything(fake: &EcsFake) -> bool {
    fake.operations()
        .iter()
        .any(|o| o == "RegisterTaskDefinition" || o == "UpdateService")
}

#[test]
fn a_draining_service_or_an_external_controller_is_refused_before_anything_changes() {
    let mut script = Script::new(vec![]);
    script.initial["status"] = json!("DRAINING");
    let fake = EcsFake::start(script);
    let out = pipe(&fake.endpoint()).run();
    out.assert_code(2)
        .assert_contains("service \"web\" is DRAINING, not ACTIVE; nothing was changed in AWS")
        .assert_contains("hint: a DRAINING or INACTIVE service is being deleted");
    assert!(!changed_anything(&fake), "{:?}", fake.operations());

    let mut script = Script::new(vec![]);
    script.initial["deploymentController"] = json!({"type": "EXTERNAL"});
    let fake = EcsFake::start(script);
    let out = pipe(&fake.endpoint()).run();
    out.assert_code(2)
        .assert_contains("uses the EXTERNAL deployment controller")
        .assert_contains("hint: EXTERNAL services deploy through task sets");
    assert!(!changed_anything(&fake), "{:?}", fake.operations());
}

#[test]
fn a_service_deleted_while_waiting_ends_the_wait_with_a_failure() {
    let fake = EcsFake::start(Script::new(vec![in_progress(), Value::Null]));
    let out = pipe(&fake.endpoint()).run();
    out.assert_code(1)
        .assert_contains("hint: someone deleted the service or its cluster during the deploy");
    assert_eq!(
        last_line(&out),
        "✖ service web disappeared while its deployment was in progress"
    );
}

#[test]
fn an_unreachable_ecs_endpoint_says_aws_could_not_be_reached() {
    let fake = EcsFake::start(Script::new(vec![completed_service()]));
    // A port that was just free: connections are refused at once.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let out = pipe(&fake.endpoint())
        .remove("AWS_ENDPOINT_URL")
        .env("AWS_ENDPOINT_URL_STS", &fake.endpoint())
        .env(
            "AWS_ENDPOINT_URL_ECS",
            &format!("http://127.0.0.1:{closed}"),
        )
        .run();
    out.assert_code(2)
        .assert_contains("no response (connection failed or timed out)")
        .assert_contains(
            "hint: AWS could not be reached; check AWS_DEFAULT_REGION and, if set, AWS_ENDPOINT_URL",
        );
}

#[test]
fn a_failing_clean_up_or_outputs_write_warns_and_leaves_the_verdict_alone() {
    let mut script = Script::new(vec![completed_service()]);
    script.deny = Some((
        "ListTaskDefinitions".into(),
        "User: arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-42 is not authorized to perform: ecs:ListTaskDefinitions on resource: * because no identity-based policy allows the ecs:ListTaskDefinitions action".into(),
    ));
    let fake = EcsFake::start(script);
    let p = pipe(&fake.endpoint()).env("KEEP_REVISIONS", "5");
    // The shared storage dir is a file, so the outputs cannot be written.
    let blocked = p.write_file("not-a-dir", "x");
    let p = p.env(
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR",
        &blocked.to_string_lossy(),
    );
    let out = p.run();
    out.assert_code(0)
        .assert_contains(
            "! could not list revisions (ecs:ListTaskDefinitions failed: AccessDeniedException",
        )
        .assert_contains("nothing deregistered")
        .assert_contains("! could not write");
    assert!(
        last_line(&out).starts_with("✔ Deployed web:42 to service web"),
        "the verdict stays the last line\n{}",
        out.describe()
    );
    assert!(
        !fake
            .operations()
            .iter()
            .any(|o| o == "DeregisterTaskDefinition")
    );
}

/// A `Write` the test can read back after the reporter is done with it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_quiet_wait_prints_a_heartbeat_with_the_state() {
    // The library in-process, with the heartbeat shortened from 30 s to 0.3 s: a second of
    // identical polls must print it at least twice, with the counts.
    let mut frames = vec![in_progress(); 30];
    frames.push(completed_service());
    let fake = EcsFake::start(Script::new(frames));
    let vars = pipe(&fake.endpoint()).vars();
    let mut config = Config::from_vars(vars).expect("valid variables");
    config.wait.heartbeat = Duration::from_millis(300);
    let captured = Captured::default();
    let report = Reporter::new(Box::new(captured.clone()), false);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut record = Record::default();
    let result = runtime.block_on(ecs_oidc_deploy::steps::deploy::deploy(
        &config,
        &report,
        &mut record,
    ));
    let text = String::from_utf8_lossy(&captured.0.lock().expect("log").clone()).into_owned();
    assert!(result.is_ok(), "{text}");
    let beats: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("… still waiting ("))
        .collect();
    assert!(beats.len() >= 2, "{text}");
    assert!(
        beats[0].ends_with(&format!(
            "): deployment {OUR_ID} of web:42: 1/3 running, 2 pending, rollout IN_PROGRESS (ECS deployment {OUR_ID} in progress.)"
        )),
        "{text}"
    );
}

fn blue_green(frames: Vec<Value>, sd_frames: Vec<Value>) -> Script {
    let bg = |mut svc: Value| {
        svc["deploymentConfiguration"]["strategy"] = json!("BLUE_GREEN");
        if svc["currentServiceDeployment"].is_null() {
            svc["currentServiceDeployment"] = json!(SD_ARN);
        }
        svc
    };
    let mut script = Script::new(frames.into_iter().map(bg).collect());
    script.initial = bg(script.initial.clone());
    script.update_reply = bg(script.update_reply.clone());
    script.service_deployments = sd_frames;
    script
}

fn sd(arn: &str, status: &str) -> Value {
    json!({
        "serviceDeploymentArn": arn,
        "status": status,
        "lifecycleStage": "SCALE_UP",
        "targetServiceRevision": {"arn": "arn:aws:ecs:eu-west-1:123456789012:service-revision/prod/web/5587654321", "requestedTaskCount": 3, "runningTaskCount": 1, "pendingTaskCount": 2},
    })
}

#[test]
fn a_rerun_superseding_a_blue_green_deployment_keeps_the_counts_in_the_timeout_summary() {
    let rerun_sd = format!("{SD_ARN}rerun");
    let rerun = "ecs-svc/7700000000000000099";
    let mut superseded = service(
        vec![
            deployment(rerun, "PRIMARY", NEW_TD, 1, 3, 2, Some("IN_PROGRESS")),
            deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED")),
        ],
        vec![],
    );
    superseded["currentServiceDeployment"] = json!(rerun_sd);
    let script = blue_green(
        vec![superseded],
        vec![sd(SD_ARN, "STOPPED"), sd(&rerun_sd, "IN_PROGRESS")],
    );
    let fake = EcsFake::start(script);
    let out = pipe(&fake.endpoint()).env("WAIT_TIMEOUT", "1").run();
    out.assert_code(1).assert_contains(&format!(
        "deployment {rerun_sd} of the same revision replaced {OUR_ID}"
    ));
    out.assert_contains(&format!(
        "state: deployment {rerun} of web:42: 1/3 running, 2 pending, rollout IN_PROGRESS"
    ));
    out.assert_not_contains("no longer listed");
}

#[test]
fn a_transient_blue_green_error_backs_off_like_a_describe_services_error() {
    let mut script = blue_green(
        vec![service(
            vec![
                deployment(OUR_ID, "PRIMARY", NEW_TD, 3, 3, 0, Some("IN_PROGRESS")),
                deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED")),
            ],
            vec![],
        )],
        vec![sd(SD_ARN, "SUCCESSFUL")],
    );
    script.failing_sd_polls = 2;
    let fake = EcsFake::start(script);
    let out = pipe(&fake.endpoint()).run();
    out.assert_success()
        .assert_contains("ecs:DescribeServiceDeployments failed: ServerException: Service Unavailable. Please try again later.; still waiting, will ask again (1 failed poll in a row, backing off)")
        .assert_contains("(2 failed polls in a row, backing off)");
}

#[test]
fn print_iam_policy_reports_a_file_that_is_json_but_not_a_task_definition() {
    let fake =
        Fake::from_fn(|_| Resp::aws_json_error(500, "InternalFailure", "must not be called"));
    let p = pipe(&fake.endpoint()).env("PRINT_IAM_POLICY", "true");
    p.write_file("ecs/td.json", json!({"services": ["web"]}).to_string());
    let out = p.env("TASK_DEFINITION", "ecs/td.json").run();
    out.assert_code(2).assert_contains(
        "the task definition from ecs/td.json cannot be used: it has no \"family\"; nothing was changed in AWS",
    );
    assert!(
        !out.stdout.contains("permissionPolicy"),
        "no policy built from placeholders: {}",
        out.describe()
    );
    assert!(fake.requests().is_empty());
}

#[test]
fn debug_never_prints_the_values_of_a_task_definition_file() {
    let fake = EcsFake::start(Script::new(vec![completed_service()]));
    let p = pipe(&fake.endpoint())
        .env("DEBUG", "true")
        .env("TASK_DEFINITION", "ecs/td.json");
    let secret = "postgres://app:Xk29-s3cr3t-pw@db.internal/app";
    p.write_file(
        "ecs/td.json",
        json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.27",
            "environment": [{"name": "DATABASE_URL", "value": secret}]}]})
        .to_string(),
    );
    let out = p.run();
    out.assert_success()
        .assert_contains("DEBUG configuration config=Config")
        .assert_contains(
            "TaskDefinitionFile { display: \"ecs/td.json\", json: \"(not printed)\" }",
        );
    crate::support::pipe::assert_no_secrets(&out, &[secret, "Xk29-s3cr3t-pw"]);
}

#[test]
fn the_verdict_comes_at_the_poll_that_decides_it_not_an_interval_later() {
    // With a minute between polls, a rollout complete at the first poll must end the run at
    // once; sleeping another interval first would hit the 30 s limit of this run.
    let fake = EcsFake::start(Script::new(vec![completed_service()]));
    let out = pipe(&fake.endpoint())
        .env("WAIT_INTERVAL", "60")
        .run_with_timeout(Duration::from_secs(30));
    out.assert_success();
    assert_eq!(fake.polls_after_update(), 1);

    // The same for a failure.
    // Back on the old revision at the first poll: rolled back.
    let fake = EcsFake::start(Script::new(vec![settled_service()]));
    let out = pipe(&fake.endpoint())
        .env("WAIT_INTERVAL", "60")
        .run_with_timeout(Duration::from_secs(30));
    out.assert_code(1);
}
