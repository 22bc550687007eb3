//! Everyday features through the binary against moto: several containers, dry run, revision
//! clean-up and outputs for later steps.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::moto::Moto;
use crate::support::pipe::{Pipe, assert_no_secrets};
use crate::support::rollout::RolloutPlayer;

const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

fn task_definition(containers: &[&str]) -> Value {
    json!({
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": containers.iter().map(|name| json!({
            "name": name,
            "image": format!("{REGISTRY}/{name}:v1"),
            "essential": true,
            "secrets": [{"name": "TOKEN", "valueFrom": format!("arn:aws:ssm:eu-west-1:123456789012:parameter/{name}/token")}]
        })).collect::<Vec<_>>(),
    })
}

fn world(containers: &[&str]) -> Moto {
    let moto = Moto::builder().service_running(1).start();
    moto.create_cluster("prod");
    for name in containers {
        moto.create_ecr_repo(name);
        moto.put_image(name, "v1");
        moto.put_image(name, "v2");
    }
    let arn = moto.register_task_definition(task_definition(containers));
    moto.create_service("prod", "web", &arn, 1, true);
    moto
}

fn pipe(endpoint: &str) -> Pipe {
    Pipe::new()
        .endpoint(endpoint)
        .env("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("WAIT_INTERVAL", "0.1")
}

fn images_of(moto: &Moto, revision: &str) -> Vec<String> {
    moto.describe_task_definition(revision)["taskDefinition"]["containerDefinitions"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| c["image"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn mutating(player: &RolloutPlayer) -> Vec<String> {
    player
        .requests()
        .iter()
        .filter_map(|r| r.operation())
        .filter(|o| {
            [
                "RegisterTaskDefinition",
                "UpdateService",
                "TagResource",
                "DeregisterTaskDefinition",
                "PutImage",
            ]
            .contains(&o.as_str())
        })
        .collect()
}

#[test]
fn container_images_sets_several_containers_in_one_revision() {
    let moto = world(&["app", "worker", "sidecar"]);
    let player = RolloutPlayer::start(moto.endpoint());
    let p = pipe(&player.endpoint())
        .env("CONTAINER_IMAGES_COUNT", "2")
        .env("CONTAINER_IMAGES_0", &format!("app={REGISTRY}/app:v2"))
        .env(
            "CONTAINER_IMAGES_1",
            &format!("worker={REGISTRY}/worker:v2"),
        );
    let out = p.run();
    out.assert_success();
    assert_eq!(
        out.stderr.matches("found, digest sha256:").count(),
        2,
        "each image verified"
    );
    assert_eq!(
        images_of(&moto, "web:2"),
        vec![
            format!("{REGISTRY}/app:v2"),
            format!("{REGISTRY}/worker:v2"),
            format!("{REGISTRY}/sidecar:v1")
        ]
    );

    let out = p
        .clone()
        .env("CONTAINER_IMAGES_1", &format!("ghost={REGISTRY}/worker:v2"))
        .run();
    out.assert_code(2)
        .assert_contains("container \"ghost\" is not in the task definition")
        .assert_contains("app, worker, sidecar");
    let out = p
        .clone()
        .env(
            "CONTAINER_IMAGES_1",
            &format!("worker={REGISTRY}/worker:v9"),
        )
        .run();
    out.assert_code(2).assert_contains("no image tagged \"v9\"");
    let out = p.clone().env("IMAGE", &format!("{REGISTRY}/app:v2")).run();
    out.assert_code(2)
        .assert_contains("CONTAINER_IMAGES cannot be combined with IMAGE or CONTAINER_NAME");
    assert_eq!(
        moto.list_task_definitions("web").len(),
        2,
        "the refusals registered nothing"
    );
}

#[test]
fn dry_run_shows_the_diff_and_the_calls_and_changes_nothing() {
    let moto = world(&["app"]);
    let player = RolloutPlayer::start(moto.endpoint());
    let out = pipe(&player.endpoint())
        .env("IMAGE", &format!("{REGISTRY}/app:v2"))
        .env("DRY_RUN", "true")
        .env("DESIRED_COUNT", "3")
        .run();
    out.assert_success();
    out.assert_contains(&format!(
        "app: image: \"{REGISTRY}/app:v1\" → \"{REGISTRY}/app:v2\""
    ));
    out.assert_contains(
        "tag bitbucket:commit: (absent) → \"3f7c2a91d04b8e65a1c9f0e2d7b4a8c6e5f1d203\"",
    );
    out.assert_contains("ecs:RegisterTaskDefinition family web (a new revision)");
    out.assert_contains("ecs:UpdateService cluster prod service web taskDefinition=<the new revision> desiredCount=3");
    out.assert_contains("✔ Dry run of web in prod: nothing was changed in AWS");
    out.assert_not_contains("arn:aws:ssm"); // unchanged secrets are not even listed
    assert!(
        mutating(&player).is_empty(),
        "no mutating call: {:?}",
        mutating(&player)
    );
    assert_eq!(moto.list_task_definitions("web").len(), 1);
}

#[test]
fn keep_revisions_never_touches_a_revision_in_use() {
    let moto = world(&["app"]);
    // web:1 runs service web (created above); a second service keeps using web:1 after the deploy.
    let (subnet, sg) = moto.create_vpc_subnet_sg();
    moto.ecs(
        "CreateService",
        json!({"cluster": "prod", "serviceName": "legacy", "taskDefinition": "web:1", "desiredCount": 1, "launchType": "FARGATE",
               "networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}}}),
    );
    for _ in 0..3 {
        moto.register_task_definition(task_definition(&["app"]));
    }
    moto.ecs(
        "UpdateService",
        json!({"cluster": "prod", "service": "web", "taskDefinition": "web:4"}),
    );
    let player = RolloutPlayer::start(moto.endpoint());
    let out = pipe(&player.endpoint())
        .env("IMAGE", &format!("{REGISTRY}/app:v2"))
        .env("KEEP_REVISIONS", "2")
        .run();
    out.assert_success();
    out.assert_contains("deregistered web:3")
        .assert_contains("deregistered web:2");
    out.assert_not_contains("deregistered web:1");
    let active: BTreeSet<String> = moto
        .list_task_definitions("web")
        .into_iter()
        .map(|a| a.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    let expected: BTreeSet<String> = ["web:1", "web:4", "web:5"]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    assert_eq!(
        active, expected,
        "in use (web:1), previous (web:4) and newest kept"
    );
}

#[test]
fn the_result_is_written_for_later_steps_on_success_and_on_failure() {
    let moto = world(&["app"]);
    let player = RolloutPlayer::start(moto.endpoint());
    let p = pipe(&player.endpoint()).env("IMAGE", &format!("{REGISTRY}/app:v2"));
    let out = p.run();
    out.assert_success();
    let dir = std::path::PathBuf::from(
        p.get_env("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
            .expect("storage dir"),
    )
    .join("ecs-oidc-deploy");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("deployment.json")).expect("json written"),
    )
    .expect("valid JSON");
    assert_eq!(json["verdict"], "succeeded");
    assert_eq!(
        json["taskDefinitionArn"],
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2"
    );
    assert_eq!(
        json["previousTaskDefinitionArn"],
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1"
    );
    assert!(
        json["deploymentId"]
            .as_str()
            .is_some_and(|d| d.starts_with("ecs-svc/"))
    );
    assert_eq!(json["images"][0]["container"], "app");
    assert!(
        json["images"][0]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    let env = std::fs::read_to_string(dir.join("deployment.env")).expect("env written");
    assert!(env.contains("ECS_DEPLOY_VERDICT='succeeded'\n"), "{env}");
    assert!(env.contains("ECS_DEPLOY_TASK_DEFINITION_ARN='arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2'\n"), "{env}");
    // A later script line can source it.
    let sourced = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". '{}' && echo \"$ECS_DEPLOY_TASK_DEFINITION_ARN\"",
            dir.join("deployment.env").display()
        ))
        .output()
        .expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&sourced.stdout).trim(),
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:2"
    );
    let token = p
        .get_env("BITBUCKET_STEP_OIDC_TOKEN")
        .expect("token")
        .to_string();
    for file in ["deployment.json", "deployment.env"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("read");
        assert!(
            !text.contains(&token) && !text.contains("SecretAccessKey"),
            "{file} holds no secret"
        );
    }

    let out = p
        .clone()
        .env("IMAGE", &format!("{REGISTRY}/app:missing"))
        .run();
    out.assert_code(2);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("deployment.json")).expect("json"))
            .expect("valid");
    assert_eq!(json["verdict"], "refused");
    assert!(
        json["message"]
            .as_str()
            .is_some_and(|m| m.contains("was not found in ECR"))
    );
    assert_no_secrets(&out, &[&token]);
}
