//! The real binary, run as Bitbucket runs a pipe, against moto (through a proxy that plays the
//! rollout moto cannot show): the deploy itself and every refusal.

use serde_json::{Value, json};

use crate::support::fake::{Fake, ProxyHook, Resp};
use crate::support::moto::Moto;
use crate::support::pipe::{Outcome, Pipe, assert_no_secrets};
use crate::support::rfc3339;
use crate::support::rollout::RolloutPlayer;
use crate::support::token;
use crate::support::world::{self, REGISTRY, ROLE};

/// A task definition as a team would have it: Fargate, secrets, empty values, tags.
fn web_task_definition(containers: &[&str]) -> Value {
    let defs: Vec<Value> = containers
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "image": format!("{REGISTRY}/web:v1"),
                "essential": *name == containers[0],
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                "environment": [{"name": "FEATURE_FLAGS", "value": ""}, {"name": "PORT", "value": "8080"}],
                "secrets": [{"name": "DATABASE_URL", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": name}},
                "dockerLabels": {"team": "payments", "empty": ""}
            })
        })
        .collect();
    json!({
        "family": "web",
        "taskRoleArn": "arn:aws:iam::123456789012:role/web-task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": defs,
        "tags": [{"key": "team", "value": "payments"}, {"key": "cost-center", "value": "cc-42"}]
    })
}

/// moto with cluster `prod`, service `web` on `web:1`, and ECR images `web:v1`, `web:v2`.
fn world(containers: &[&str]) -> Moto {
    let moto = Moto::builder().service_running(2).start();
    let c = moto.client();
    c.create_cluster("prod");
    c.create_ecr_repo("web");
    c.put_image("web", "v1");
    c.put_image("web", "v2");
    let arn = c.register_task_definition(web_task_definition(containers));
    c.create_service("prod", "web", &arn, 2, true);
    moto
}

fn pipe(endpoint: &str) -> Pipe {
    world::deploy_web_v2(endpoint).env("WAIT_INTERVAL", "0.1")
}

/// The register-input view of a described revision: what must be equal between revisions.
fn comparable(described: &Value) -> Value {
    let mut td = described["taskDefinition"].clone();
    for key in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ] {
        td.as_object_mut().map(|o| o.remove(key));
    }
    json!({"taskDefinition": td, "tags": described["tags"]})
}

fn operations(requests: &[crate::support::fake::Req]) -> Vec<String> {
    requests.iter().filter_map(|r| r.operation()).collect()
}

fn last_line(outcome: &Outcome) -> String {
    outcome
        .stderr
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn deploys_a_revision_that_differs_from_the_old_one_only_in_the_image() {
    let moto = world(&["web"]);
    let player = RolloutPlayer::start(moto.endpoint());
    let out = pipe(&player.endpoint()).run();
    out.assert_success();
    assert!(
        last_line(&out).starts_with("✔ Deployed web:2 to service web in cluster prod"),
        "{}",
        out.describe()
    );
    out.assert_contains("session name: bitbucket-web-app-42");
    out.assert_contains(&format!(
        "container web: {REGISTRY}/web:v1 → {REGISTRY}/web:v2"
    ));
    out.assert_contains("found, digest sha256:");
    out.assert_contains("registered web:2 (was web:1); changed: web: image");

    let c = moto.client();
    let old = comparable(&c.describe_task_definition("web:1"));
    let mut new = comparable(&c.describe_task_definition("web:2"));
    assert_eq!(
        new["taskDefinition"]["containerDefinitions"][0]["image"],
        json!(format!("{REGISTRY}/web:v2"))
    );
    new["taskDefinition"]["containerDefinitions"][0]["image"] = json!(format!("{REGISTRY}/web:v1"));
    let audit: Vec<Value> = new["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter(|t| {
            t["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("bitbucket:"))
        })
        .cloned()
        .collect();
    assert!(
        audit.contains(&json!({"key": "bitbucket:commit", "value": crate::support::pipe::COMMIT})),
        "audit tags say where the revision came from: {audit:?}"
    );
    new["tags"] = json!(
        new["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter(|t| !t["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("bitbucket:")))
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        old, new,
        "everything but the image and the audit tags, other tags included, must be identical"
    );
    assert_eq!(
        c.describe_service("prod", "web")["taskDefinition"],
        json!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2")
    );

    let rollout = player
        .rollout("web")
        .expect("the pipe started a deployment");
    assert!(rollout.completed);
    out.assert_contains(&format!("deployment {} started", rollout.deployment_id));
    let ops = operations(&player.requests());
    assert_eq!(
        ops.iter().filter(|o| *o == "UpdateService").count(),
        1,
        "one UpdateService: {ops:?}"
    );
    assert_eq!(
        ops[0], "AssumeRoleWithWebIdentity",
        "credentials come first: {ops:?}"
    );
}

#[test]
fn several_containers_need_a_name_and_then_only_that_one_changes() {
    let moto = world(&["app", "worker"]);
    let player = RolloutPlayer::start(moto.endpoint());
    let out = pipe(&player.endpoint()).run();
    out.assert_code(2);
    out.assert_contains("set CONTAINER_NAME to one of: app, worker");
    assert!(
        last_line(&out).ends_with("nothing was changed in AWS"),
        "{}",
        out.describe()
    );
    assert_eq!(
        moto.client().list_task_definitions("web").len(),
        1,
        "nothing registered"
    );

    let out = pipe(&player.endpoint())
        .env("CONTAINER_NAME", "ghost")
        .run();
    out.assert_code(2)
        .assert_contains("container \"ghost\" is not in the task definition web:1");

    let out = pipe(&player.endpoint())
        .env("CONTAINER_NAME", "worker")
        .run();
    out.assert_success();
    let new = moto.client().describe_task_definition("web:2");
    let images: Vec<&str> = new["taskDefinition"]["containerDefinitions"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| c["image"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        images,
        vec![format!("{REGISTRY}/web:v1"), format!("{REGISTRY}/web:v2")]
    );
}

#[test]
fn a_task_definition_file_from_the_repository_is_registered_with_the_image() {
    let moto = world(&["web"]);
    let player = RolloutPlayer::start(moto.endpoint());
    let p = pipe(&player.endpoint()).env("TASK_DEFINITION", "ecs/web.json");
    let mut file = web_task_definition(&["web"]);
    file["memory"] = json!("1024");
    file["containerDefinitions"][0]["environment"][1]["value"] = json!("9090");
    // The describe-output shape, wrapper and all, as `aws ecs describe-task-definition` prints it.
    p.write_file(
        "ecs/web.json",
        serde_json::to_string_pretty(&json!({"taskDefinition": file, "tags": []})).expect("json"),
    );
    let out = p.run();
    out.assert_success()
        .assert_contains("Using the task definition in ecs/web.json");
    let new = moto.client().describe_task_definition("web:2");
    assert_eq!(new["taskDefinition"]["memory"], json!("1024"));
    assert_eq!(
        new["taskDefinition"]["containerDefinitions"][0]["environment"][1]["value"],
        json!("9090")
    );
    assert_eq!(
        new["taskDefinition"]["containerDefinitions"][0]["image"],
        json!(format!("{REGISTRY}/web:v2"))
    );
}

#[test]
fn bad_input_is_reported_all_at_once_before_any_request() {
    let fake = Fake::from_fn(|_| {
        Resp::aws_json_error(500, "InternalFailure", "the pipe must not call AWS")
    });
    let p = pipe(&fake.endpoint())
        .env("WAIT", "yes")
        .env("WAIT_TIMEOUT", "ten minutes")
        .env("IMAGE", "Web App:latest")
        .env("AWS_OIDC_ROLE_ARN", "deploy-role")
        .remove("CLUSTER_NAME");
    let out = p.run();
    out.assert_code(2);
    for variable in [
        "WAIT must be",
        "WAIT_TIMEOUT must be",
        "IMAGE must not contain spaces",
        "AWS_OIDC_ROLE_ARN must be an IAM role ARN",
        "CLUSTER_NAME is required",
    ] {
        out.assert_contains(variable);
    }
    assert!(
        last_line(&out).contains("5 pipe variables need fixing; nothing was changed in AWS"),
        "{}",
        out.describe()
    );
    assert!(
        fake.requests().is_empty(),
        "no request may be sent: {:?}",
        operations(&fake.requests())
    );
}

#[test]
fn a_role_without_the_oidc_token_asks_for_oidc_true_and_calls_nothing() {
    let fake = Fake::from_fn(|_| Resp::aws_json_error(500, "InternalFailure", "unexpected"));
    let out = pipe(&fake.endpoint())
        .remove("BITBUCKET_STEP_OIDC_TOKEN")
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .run();
    out.assert_code(2)
        .assert_contains("add `oidc: true` to this step");
    assert!(fake.requests().is_empty());
    assert_no_secrets(&out, &["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]);
}

#[test]
fn a_missing_ecr_tag_stops_before_anything_is_registered() {
    let moto = world(&["web"]);
    let player = RolloutPlayer::start(moto.endpoint());
    let out = pipe(&player.endpoint())
        .env("IMAGE", &format!("{REGISTRY}/web:does-not-exist"))
        .run();
    out.assert_code(2);
    out.assert_contains(
        "repository web in account 123456789012 has no image tagged \"does-not-exist\"",
    );
    out.assert_contains("push the image before this step");
    let ops = operations(&player.requests());
    assert!(
        !ops.iter()
            .any(|o| o == "RegisterTaskDefinition" || o == "UpdateService"),
        "{ops:?}"
    );
    assert_eq!(moto.client().list_task_definitions("web").len(), 1);

    let out = pipe(&player.endpoint())
        .env("IMAGE", &format!("{REGISTRY}/api:v1"))
        .run();
    out.assert_code(2)
        .assert_contains("there is no repository api in account 123456789012");
}

#[test]
fn an_unknown_service_or_cluster_is_named() {
    let moto = world(&["web"]);
    let out = pipe(&moto.endpoint()).env("SERVICE_NAME", "nope").run();
    out.assert_code(2)
        .assert_contains("service \"nope\" was not found in cluster \"prod\" (eu-west-1)");
    let out = pipe(&moto.endpoint()).env("CLUSTER_NAME", "staging").run();
    out.assert_code(2)
        .assert_contains("cluster \"staging\" was not found in eu-west-1");
    assert_eq!(moto.client().list_task_definitions("web").len(), 1);
}

/// A revision in DELETE_IN_PROGRESS still runs the services that use it, and
/// DescribeTaskDefinition returns it with `deleteRequestedAt`: the deploy starts from it and
/// the key is not sent back to RegisterTaskDefinition.
#[test]
fn a_revision_being_deleted_deploys_without_its_delete_requested_at() {
    let moto = world(&["web"]);
    let hook: ProxyHook = std::sync::Arc::new(|ctx, req| {
        if req.target().as_deref() != Some("DescribeTaskDefinition") {
            return None;
        }
        let mut body = ctx.forward_resp(req).body_json();
        body["taskDefinition"]["status"] = json!("DELETE_IN_PROGRESS");
        body["taskDefinition"]["deregisteredAt"] = json!(1_764_500_000.0);
        body["taskDefinition"]["deleteRequestedAt"] = json!(1_764_600_000.0);
        Some(Resp::json(200, body))
    });
    let player = RolloutPlayer::with_hook(moto.endpoint(), 1, hook);
    pipe(&player.endpoint()).run().assert_success();
    let registered: Vec<Value> = player
        .requests()
        .iter()
        .filter(|r| r.target().as_deref() == Some("RegisterTaskDefinition"))
        .map(|r| r.json())
        .collect();
    assert_eq!(registered.len(), 1);
    for key in ["deleteRequestedAt", "deregisteredAt", "status"] {
        assert!(
            registered[0].get(key).is_none(),
            "{key} sent: {}",
            registered[0]
        );
    }
    assert_eq!(
        registered[0]["containerDefinitions"][0]["image"],
        format!("{REGISTRY}/web:v2")
    );
}

/// Forty pipelines in one account drain RegisterTaskDefinition's bucket (a burst of 20, then
/// one a second): this one is throttled for 25 s in a row, well past the SDK's five attempts
/// (about 15 s), and still registers and deploys, saying once that it waits on AWS's rate limit.
#[test]
fn a_registration_throttled_for_25_seconds_still_succeeds() {
    let moto = world(&["web"]);
    let first: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let hook: ProxyHook = std::sync::Arc::new(move |_ctx, req| {
        if req.target().as_deref() != Some("RegisterTaskDefinition") {
            return None;
        }
        let mut first = first.lock().expect("lock");
        let since = first.get_or_insert_with(std::time::Instant::now).elapsed();
        (since < std::time::Duration::from_secs(25))
            .then(|| Resp::aws_json_error(400, "ThrottlingException", "Rate exceeded"))
    });
    let player = RolloutPlayer::with_hook(moto.endpoint(), 1, hook);
    let out = pipe(&player.endpoint())
        .timeout(std::time::Duration::from_secs(150))
        .run();
    out.assert_success();
    assert!(
        out.elapsed >= std::time::Duration::from_secs(25),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.output
            .matches("AWS is throttling ecs:RegisterTaskDefinition (its rate limit is shared by every pipeline in this account); waiting for its turn, for up to 120s")
            .count(),
        1,
        "{}",
        out.describe()
    );
    let registrations = player
        .requests()
        .iter()
        .filter(|r| r.target().as_deref() == Some("RegisterTaskDefinition"))
        .count();
    assert!(
        registrations > 5,
        "more than the SDK's attempts: {registrations}"
    );
    assert_eq!(moto.client().list_task_definitions("web").len(), 2);
}

#[test]
fn no_secret_is_ever_printed_even_with_debug() {
    let moto = world(&["web"]);
    let (ak, sk, st) = (
        "ASIAQ7TESTKEYID12345",
        "s3cr3t/Secret+Access+Key+0123456789abcd",
        "FwoGZXIvYXdzEJr//////////wEaDOpaqueSessionToken==",
    );
    let expiry = rfc3339(crate::support::now_epoch() + 3600);
    let hook: ProxyHook = std::sync::Arc::new(move |_ctx, req| {
        (req.action().as_deref() == Some("AssumeRoleWithWebIdentity")).then(|| {
            Resp::assume_role_ok(
                ak,
                sk,
                st,
                &expiry,
                ROLE,
                &req.form_value("RoleSessionName").unwrap_or_default(),
            )
        })
    });
    let player = RolloutPlayer::with_hook(moto.endpoint(), 1, hook);
    let token = token::bitbucket_token(serde_json::Value::Null);
    let out = pipe(&player.endpoint())
        .env("DEBUG", "true")
        .env("BITBUCKET_STEP_OIDC_TOKEN", &token)
        .run();
    out.assert_success();
    out.assert_contains("DEBUG configuration config=Config"); // the DEBUG dump happened
    let signature = token.rsplit('.').next().unwrap_or_default();
    assert_no_secrets(&out, &[&token, signature, sk, st, ak]);

    // The same with static keys, and on a failure path.
    let out = pipe(&player.endpoint())
        .env("DEBUG", "true")
        .remove("AWS_OIDC_ROLE_ARN")
        .env("AWS_ACCESS_KEY_ID", ak)
        .env("AWS_SECRET_ACCESS_KEY", sk)
        .env("AWS_SESSION_TOKEN", st)
        .env("SERVICE_NAME", "nope")
        .run();
    out.assert_code(2);
    assert_no_secrets(&out, &[&token, sk, st, ak]);
}

#[test]
fn help_lists_every_variable_and_version_prints_the_crate_version() {
    let out = std::process::Command::new(crate::support::pipe::bin())
        .arg("--help")
        .env_clear()
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    for var in ecs_oidc_deploy::vars::listed() {
        assert!(
            text.contains(&format!("{}  ", var.name))
                && text.contains(&format!("[default: {}]", var.default)),
            "{} [{}] missing from --help",
            var.name,
            var.default
        );
    }
    let out = std::process::Command::new(crate::support::pipe::bin())
        .arg("--version")
        .env_clear()
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("ecs-oidc-deploy {}", env!("CARGO_PKG_VERSION"))
    );
    let out = std::process::Command::new(crate::support::pipe::bin())
        .arg("deploy")
        .env_clear()
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
