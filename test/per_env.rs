//! Per-environment settings (issue 19), run as Bitbucket runs the pipe, against moto behind a
//! recording proxy: `${NAME}` in the TASK_DEFINITION file, CONTAINER_ENVIRONMENT,
//! CONTAINER_SECRETS, TASK_CPU/TASK_MEMORY and the roles, each asserted on the exact
//! RegisterTaskDefinition body the pipe sent.

use serde_json::{Value, json};

use crate::support::fake::{Fake, Req, Resp};
use crate::support::moto::Moto;
use crate::support::pipe::{Outcome, Pipe};
use crate::support::rollout::RolloutPlayer;
use crate::support::world::{self, REGISTRY};

const EXEC_ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";
const STAGING_EXEC: &str = "arn:aws:iam::123456789012:role/staging-exec";
const DB_SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf";
const STAGING_DB: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:staging/db-XyZ";

/// `web:1`, Fargate 256/512, with two environment entries and a secret.
fn live_task_definition() -> Value {
    let mut td = world::web_task_definition();
    td["containerDefinitions"][0]["environment"] = json!([
        {"name": "FEATURE_FLAGS", "value": ""},
        {"name": "PORT", "value": "8080"}
    ]);
    td
}

fn world_with(td: Value) -> Moto {
    let moto = Moto::builder().service_running(2).start();
    moto.create_cluster("prod");
    moto.create_ecr_repo("web");
    moto.put_image("web", "v2");
    let arn = moto.register_task_definition(td);
    moto.create_service("prod", "web", &arn, 2, true);
    moto
}

fn pipe(endpoint: &str) -> Pipe {
    world::deploy_web_v2(endpoint).env("WAIT_INTERVAL", "0.1")
}

/// Sets a Bitbucket list variable as Bitbucket passes it: `NAME_COUNT`, `NAME_0`, ….
fn list(mut p: Pipe, name: &str, items: &[&str]) -> Pipe {
    p = p.env(&format!("{name}_COUNT"), &items.len().to_string());
    for (i, item) in items.iter().enumerate() {
        p = p.env(&format!("{name}_{i}"), item);
    }
    p
}

fn the_overrides(p: Pipe) -> Pipe {
    let p = list(
        p,
        "CONTAINER_ENVIRONMENT",
        &["FEATURE_FLAGS=beta,dark-mode", "NEW_SETTING=a=b"],
    );
    let staging = format!("DATABASE_URL={STAGING_DB}");
    list(
        p,
        "CONTAINER_SECRETS",
        &[staging.as_str(), "API_KEY=/staging/api-key"],
    )
    .env("TASK_CPU", "512")
    .env("TASK_MEMORY", "2048")
    .env("TASK_ROLE_ARN", "web-task")
    .env("EXECUTION_ROLE_ARN", STAGING_EXEC)
}

fn registered(requests: &[Req]) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.target().as_deref() == Some("RegisterTaskDefinition"))
        .map(Req::json)
        .collect()
}

fn writes(requests: &[Req]) -> Vec<String> {
    requests
        .iter()
        .filter_map(Req::operation)
        .filter(|o| {
            [
                "RegisterTaskDefinition",
                "UpdateService",
                "RunTask",
                "TagResource",
                "DeregisterTaskDefinition",
            ]
            .contains(&o.as_str())
        })
        .collect()
}

/// The body without its tags, and the tag keys.
fn split_tags(mut body: Value) -> (Value, Vec<String>) {
    let tags = body
        .as_object_mut()
        .and_then(|b| b.remove("tags"))
        .unwrap_or(Value::Null);
    let keys = tags
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (body, keys)
}

const AUDIT_KEYS: [&str; 5] = [
    "bitbucket:repository",
    "bitbucket:commit",
    "bitbucket:build-number",
    "bitbucket:deployment-environment",
    "bitbucket:pipeline-uuid",
];

#[test]
fn a_templated_file_is_registered_exactly_as_filled() {
    let moto = world_with(live_task_definition());
    let player = RolloutPlayer::start(moto.endpoint());
    let greeting = r#"say "hi" \ to C:\temp\new"#;
    let p = pipe(&player.endpoint())
        .env("TASK_DEFINITION", "ecs/web.json")
        .env("TASK_DEFINITION_TEMPLATE", "true")
        .env("GREETING", greeting)
        .env("DB_HOST", "db.staging.internal")
        .env("ACCOUNT_ID", "123456789012");
    let file = r#"{
  "family": "web",
  "executionRoleArn": "arn:aws:iam::${ACCOUNT_ID}:role/ecsTaskExecutionRole",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [{
    "name": "web",
    "image": "placeholder",
    "essential": true,
    "environment": [
      {"name": "GREETING", "value": "${GREETING}"},
      {"name": "LITERAL", "value": "$${NOT_FILLED}"},
      {"name": "SHELL", "value": "$HOME/bin:${DB_HOST}:$"},
      {"name": "URL", "value": "postgres://${DB_HOST}:5432/app"}
    ],
    "logConfiguration": {"logDriver": "awslogs", "options": {
      "awslogs-group": "/ecs/${BITBUCKET_DEPLOYMENT_ENVIRONMENT}/web",
      "awslogs-region": "eu-west-1",
      "awslogs-stream-prefix": "web"
    }}
  }]
}"#;
    p.write_file("ecs/web.json", file);
    let out = p.run();
    out.assert_success().assert_contains(
        "Using the task definition in ecs/web.json (placeholders filled from ACCOUNT_ID, GREETING, DB_HOST, BITBUCKET_DEPLOYMENT_ENVIRONMENT)",
    );
    out.assert_not_contains(greeting);

    let requests = player.requests();
    let bodies = registered(&requests);
    assert_eq!(bodies.len(), 1, "{:?}", writes(&requests));
    let (body, tags) = split_tags(bodies[0].clone());
    assert_eq!(
        body,
        json!({
            "family": "web",
            "executionRoleArn": EXEC_ROLE,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{
                "name": "web",
                "image": format!("{REGISTRY}/web:v2"),
                "essential": true,
                "environment": [
                    {"name": "GREETING", "value": greeting},
                    {"name": "LITERAL", "value": "${NOT_FILLED}"},
                    {"name": "SHELL", "value": "$HOME/bin:db.staging.internal:$"},
                    {"name": "URL", "value": "postgres://db.staging.internal:5432/app"}
                ],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/ecs/production/web",
                    "awslogs-region": "eu-west-1",
                    "awslogs-stream-prefix": "web"
                }}
            }]
        })
    );
    assert_eq!(
        tags, AUDIT_KEYS,
        "the file has no tags; the audit tags only"
    );
    // On the wire the quotes and backslashes are JSON escapes inside one string.
    let wire = requests
        .iter()
        .find(|r| r.target().as_deref() == Some("RegisterTaskDefinition"))
        .map(Req::body_text)
        .unwrap_or_default();
    assert!(
        wire.contains(r#""value":"say \"hi\" \\ to C:\\temp\\new""#),
        "{wire}"
    );
    let stored = moto.client().describe_task_definition("web:2");
    assert_eq!(
        stored["taskDefinition"]["containerDefinitions"][0]["environment"][0]["value"],
        json!(greeting)
    );
}

/// A 1.0 file full of shell text: without TASK_DEFINITION_TEMPLATE it is registered exactly
/// as written, every `${...}` and `$${` included, as 1.0 did. One warning names the
/// placeholder whose variable is set (JAVA_OPTS), not `${HOME}` (the pipe container's own).
#[test]
fn without_the_template_switch_a_1_0_file_is_registered_as_written() {
    let moto = world_with(live_task_definition());
    let player = RolloutPlayer::start(moto.endpoint());
    let file = json!({
        "family": "web",
        "executionRoleArn": EXEC_ROLE,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "web",
            "image": "placeholder",
            "essential": true,
            "command": ["sh", "-c", "exec java ${JAVA_OPTS} -jar app.jar --x=$${KEEP}"],
            "environment": [{"name": "CACHE", "value": "${HOME}/cache"}]
        }]
    });
    let p = pipe(&player.endpoint()).env("TASK_DEFINITION", "ecs/web.json");
    p.write_file("ecs/web.json", file.to_string());
    let out = p.run();
    out.assert_success()
        .assert_contains("Using the task definition in ecs/web.json\n")
        .assert_not_contains("TASK_DEFINITION_TEMPLATE");
    let mut expected = file.clone();
    expected["containerDefinitions"][0]["image"] = json!(format!("{REGISTRY}/web:v2"));
    let bodies = registered(&player.requests());
    assert_eq!(bodies.len(), 1);
    assert_eq!(split_tags(bodies[0].clone()).0, expected);

    // JAVA_OPTS set for the pipe: still as written, and one line says the switch would fill it.
    let player = RolloutPlayer::start(moto.endpoint());
    let p = pipe(&player.endpoint())
        .env("TASK_DEFINITION", "ecs/web.json")
        .env("JAVA_OPTS", "-Xmx1g");
    p.write_file("ecs/web.json", file.to_string());
    let out = p.run();
    out.assert_success().assert_contains(
        "! TASK_DEFINITION ecs/web.json is used as written, with ${JAVA_OPTS}; that variable is set, and TASK_DEFINITION_TEMPLATE: 'true' would fill it in",
    );
    assert_eq!(out.output.matches("TASK_DEFINITION_TEMPLATE").count(), 1);
    out.assert_not_contains("-Xmx1g");
    let bodies = registered(&player.requests());
    assert_eq!(bodies.len(), 1);
    assert_eq!(split_tags(bodies[0].clone()).0, expected);
}

#[test]
fn the_template_switch_without_a_file_is_refused_before_any_request() {
    let fake = Fake::from_fn(|_| {
        Resp::aws_json_error(500, "InternalFailure", "the pipe must not call AWS")
    });
    let out = pipe(&fake.endpoint())
        .env("TASK_DEFINITION_TEMPLATE", "true")
        .run();
    out.assert_code(2)
        .assert_contains("TASK_DEFINITION_TEMPLATE is true but TASK_DEFINITION is not set");
    assert!(fake.requests().is_empty(), "no request at all");
}

#[test]
fn unset_placeholders_are_all_named_with_their_paths_before_any_request() {
    let fake = Fake::from_fn(|_| {
        Resp::aws_json_error(500, "InternalFailure", "the pipe must not call AWS")
    });
    let p = pipe(&fake.endpoint())
        .env("TASK_DEFINITION", "ecs/web.json")
        .env("TASK_DEFINITION_TEMPLATE", "true")
        .env("DB_HOST", "");
    p.write_file(
        "ecs/web.json",
        r#"{"family": "web", "containerDefinitions": [{"name": "web", "image": "x",
            "environment": [{"name": "A", "value": "1"}, {"name": "DB", "value": "${DB_HOST}"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "${LOG_GROUP}"}}}]}"#,
    );
    let out = p.run();
    out.assert_code(2);
    out.assert_contains("DB_HOST is unset or empty, but TASK_DEFINITION ecs/web.json uses ${DB_HOST} at containerDefinitions[0].environment[1].value");
    out.assert_contains("LOG_GROUP is unset or empty, but TASK_DEFINITION ecs/web.json uses ${LOG_GROUP} at containerDefinitions[0].logConfiguration.options.awslogs-group");
    out.assert_contains("(such as LOG_GROUP: $LOG_GROUP for a deployment variable)");
    assert!(
        last_line(&out).contains("2 pipe variables need fixing; nothing was changed in AWS"),
        "{}",
        out.describe()
    );
    assert!(fake.requests().is_empty(), "no request at all");
}

fn last_line(out: &Outcome) -> String {
    out.stderr.lines().last().unwrap_or_default().to_string()
}

/// The register input of the live revision, as the pipe reads it.
fn live_register_input(moto: &Moto) -> Value {
    let described = moto.client().describe_task_definition("web:1");
    let mut td = described["taskDefinition"].clone();
    for key in ecs_oidc_deploy::rules::task_def::DESCRIBE_ONLY_KEYS {
        td.as_object_mut().map(|o| o.remove(key));
    }
    td
}

#[test]
fn the_live_revision_gets_exactly_the_named_changes() {
    let moto = world_with(live_task_definition());
    let player = RolloutPlayer::start(moto.endpoint());
    let out = the_overrides(pipe(&player.endpoint())).run();
    out.assert_success();
    out.assert_contains("registered web:2 (was web:1); changed: web: image, web: environment FEATURE_FLAGS, web: environment NEW_SETTING, web: secrets DATABASE_URL, web: secrets API_KEY, executionRoleArn, cpu, memory, taskRoleArn");

    let mut expected = live_register_input(&moto);
    expected["cpu"] = json!("512");
    expected["memory"] = json!("2048");
    expected["executionRoleArn"] = json!(STAGING_EXEC);
    expected["taskRoleArn"] = json!("web-task");
    let web = &mut expected["containerDefinitions"][0];
    web["image"] = json!(format!("{REGISTRY}/web:v2"));
    web["environment"] = json!([
        {"name": "FEATURE_FLAGS", "value": "beta,dark-mode"},
        {"name": "PORT", "value": "8080"},
        {"name": "NEW_SETTING", "value": "a=b"}
    ]);
    web["secrets"] = json!([
        {"name": "DATABASE_URL", "valueFrom": STAGING_DB},
        {"name": "API_KEY", "valueFrom": "/staging/api-key"}
    ]);
    let bodies = registered(&player.requests());
    assert_eq!(bodies.len(), 1);
    let (body, tags) = split_tags(bodies[0].clone());
    assert_eq!(body, expected);
    let mut keys = vec!["team".to_string()];
    keys.extend(AUDIT_KEYS.map(str::to_string));
    assert_eq!(tags, keys);
    assert_eq!(
        moto.client().describe_service("prod", "web")["taskDefinition"],
        json!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2")
    );
}

#[test]
fn a_size_fargate_does_not_offer_is_refused_with_nothing_changed() {
    let moto = world_with(live_task_definition());
    let player = RolloutPlayer::start(moto.endpoint());
    let out = pipe(&player.endpoint())
        .env("TASK_CPU", "256")
        .env("TASK_MEMORY", "8192")
        .run();
    out.assert_code(2);
    out.assert_contains("TASK_CPU 256 with TASK_MEMORY 8192 is not a size Fargate offers (web:1 has FARGATE in requiresCompatibilities); with cpu 256 Fargate allows TASK_MEMORY 512, 1024 or 2048");
    assert!(
        last_line(&out).ends_with("nothing was changed in AWS"),
        "{}",
        out.describe()
    );
    assert_eq!(writes(&player.requests()), Vec::<String>::new());
    assert_eq!(moto.client().list_task_definitions("web").len(), 1);
}

#[test]
fn the_dry_run_shows_each_change_and_changes_nothing() {
    let moto = world_with(live_task_definition());
    let player = RolloutPlayer::start(moto.endpoint());
    let out = the_overrides(pipe(&player.endpoint()))
        .env("DRY_RUN", "true")
        .run();
    out.assert_success();
    for line in [
        r#"cpu: "256" → "512""#,
        r#"memory: "512" → "2048""#,
        r#"web: environment FEATURE_FLAGS: "" → "beta,dark-mode""#,
        r#"web: environment NEW_SETTING: (absent) → "a=b""#,
        &format!(r#"web: secrets DATABASE_URL: "{DB_SECRET}" → "{STAGING_DB}""#),
        r#"web: secrets API_KEY: (absent) → "/staging/api-key""#,
        r#"taskRoleArn: (absent) → "web-task""#,
        &format!(r#"executionRoleArn: "{EXEC_ROLE}" → "{STAGING_EXEC}""#),
    ] {
        out.assert_contains(&format!("  {line}\n"));
    }
    out.assert_not_contains("PORT");
    assert_eq!(writes(&player.requests()), Vec::<String>::new());
    assert_eq!(moto.client().list_task_definitions("web").len(), 1);
}

#[test]
fn bad_settings_are_refused_before_any_request_naming_each_variable() {
    let fake = Fake::from_fn(|_| {
        Resp::aws_json_error(500, "InternalFailure", "the pipe must not call AWS")
    });
    let p = list(
        pipe(&fake.endpoint()),
        "CONTAINER_ENVIRONMENT",
        &["NO_EQUALS_SIGN", "=orphan"],
    );
    let out = list(p, "CONTAINER_SECRETS", &["TOKEN=s3://bucket/key"])
        .env("TASK_CPU", "1 vCPU")
        .env("TASK_MEMORY", "2GB")
        .env("TASK_ROLE_ARN", "arn:aws:iam::123456789012:user/deploy")
        .env("EXECUTION_ROLE_ARN", "role with spaces")
        .run();
    out.assert_code(2);
    for problem in [
        "CONTAINER_ENVIRONMENT item 0 has no `=`",
        "CONTAINER_ENVIRONMENT item 1 has no name before the `=`",
        "CONTAINER_SECRETS gives TOKEN a valueFrom that is neither an ARN nor an SSM parameter name",
        "TASK_CPU must be whole CPU units from 128 to 196608, such as 512 (1024 is 1 vCPU), got \"1 vCPU\"",
        "TASK_MEMORY must be whole MiB, such as 1024 (1 GB), got \"2GB\"",
        "TASK_ROLE_ARN must be an IAM role ARN such as arn:aws:iam::123456789012:role/web-task, or a role name such as web-task",
        "EXECUTION_ROLE_ARN must be an IAM role ARN",
    ] {
        out.assert_contains(problem);
    }
    assert!(
        last_line(&out).contains("7 pipe variables need fixing"),
        "{}",
        out.describe()
    );
    assert!(fake.requests().is_empty());
}

#[test]
fn the_printed_policy_lets_the_role_pass_the_roles_given() {
    let p = pipe("http://127.0.0.1:9")
        .remove("BITBUCKET_STEP_OIDC_TOKEN")
        .env("PRINT_IAM_POLICY", "true")
        .env("TASK_ROLE_ARN", "web-task")
        .env("EXECUTION_ROLE_ARN", STAGING_EXEC);
    let out = p.run();
    out.assert_success();
    out.assert_not_contains("<TASK_ROLE>");
    let doc: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let pass = doc["permissionPolicy"]["Statement"]
        .as_array()
        .and_then(|s| s.iter().find(|st| st["Sid"] == "PassTheTaskRoles"))
        .expect("PassRole");
    assert_eq!(
        pass["Resource"],
        json!(["arn:aws:iam::123456789012:role/web-task", STAGING_EXEC])
    );

    // With a file, a variable replaces the file's role; the other comes from the file.
    let p = p
        .remove("EXECUTION_ROLE_ARN")
        .env("TASK_DEFINITION", "ecs/web.json")
        .env("TASK_DEFINITION_TEMPLATE", "true")
        .env("ENV_NAME", "staging");
    p.write_file(
        "ecs/web.json",
        r#"{"family": "web", "taskRoleArn": "file-task", "executionRoleArn": "${ENV_NAME}-exec",
            "containerDefinitions": [{"name": "web", "image": "x"}]}"#,
    );
    let out = p.run();
    out.assert_success();
    let doc: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let pass = doc["permissionPolicy"]["Statement"]
        .as_array()
        .and_then(|s| s.iter().find(|st| st["Sid"] == "PassTheTaskRoles"))
        .expect("PassRole");
    assert_eq!(
        pass["Resource"],
        json!([
            "arn:aws:iam::123456789012:role/web-task",
            "arn:aws:iam::123456789012:role/staging-exec"
        ])
    );
}
