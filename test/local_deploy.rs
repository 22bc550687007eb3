//! The README's first command (`test/local-deploy`): a complete deploy against a local AWS
//! emulator, as Bitbucket would run the pipe, with no AWS account.
//!
//! It starts moto on 127.0.0.1, creates a Fargate service `web` in cluster `prod` running
//! `web:v1` from ECR, pushes `web:v2`, and puts a small proxy in front of moto that plays the
//! rollout moto itself does not simulate. Then it runs the real binary with the environment
//! of a `deployment: production` step with `oidc: true`, and shows what changed.

#[allow(unused_imports)]
#[path = "support/mod.rs"]
mod support;

use serde_json::json;
use support::moto::Moto;
use support::pipe::Pipe;
use support::rollout::RolloutPlayer;

fn main() {
    let registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    eprintln!(
        "Starting moto on 127.0.0.1 and creating cluster prod, service web (web:v1) and ECR image web:v2 ..."
    );
    let moto = Moto::builder().service_running(2).start();
    moto.create_cluster("prod");
    moto.create_ecr_repo("web");
    moto.put_image("web", "v1");
    moto.put_image("web", "v2");
    let first = moto.register_task_definition(json!({
        "family": "web",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "web",
            "image": format!("{registry}/web:v1"),
            "essential": true,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "FEATURE_FLAGS", "value": ""}],
            "secrets": [{"name": "DATABASE_URL", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"}]
        }],
        "tags": [{"key": "team", "value": "payments"}]
    }));
    moto.create_service("prod", "web", &first, 2, true);
    let player = RolloutPlayer::with_polls(moto.endpoint(), 3);

    let pipe = Pipe::new()
        .endpoint(&player.endpoint())
        .env("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("IMAGE", &format!("{registry}/web:v2"))
        .env("WAIT_INTERVAL", "1")
        .remove("NO_COLOR");
    eprintln!(
        "Running ecs-oidc-deploy as a Bitbucket pipe (AWS_ENDPOINT_URL={}):\n",
        player.endpoint()
    );
    let status = pipe
        .command()
        .status()
        .expect("run ecs-oidc-deploy (build it first: cargo build)");

    let before = moto.describe_task_definition("web:1");
    let after = moto.describe_task_definition("web:2");
    eprintln!("\nRevision web:2 in the emulator, compared with web:1:");
    for (path, old, new) in [
        (
            "image",
            &before["taskDefinition"]["containerDefinitions"][0]["image"],
            &after["taskDefinition"]["containerDefinitions"][0]["image"],
        ),
        (
            "environment",
            &before["taskDefinition"]["containerDefinitions"][0]["environment"],
            &after["taskDefinition"]["containerDefinitions"][0]["environment"],
        ),
        (
            "secrets",
            &before["taskDefinition"]["containerDefinitions"][0]["secrets"],
            &after["taskDefinition"]["containerDefinitions"][0]["secrets"],
        ),
        ("tags", &before["tags"], &after["tags"]),
    ] {
        let verdict = if old == new { "kept" } else { "changed" };
        eprintln!("  {path:<12} {verdict}: {new}");
    }
    eprintln!(
        "  service web now runs {}",
        moto.describe_service("prod", "web")["taskDefinition"]
    );
    std::process::exit(status.code().unwrap_or(1));
}
