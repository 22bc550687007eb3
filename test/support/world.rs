//! The demo world shared by `test/local-deploy`, the image test and the benchmark: moto with
//! cluster `prod`, a Fargate service `web` running `web:1` from ECR, and `web:v2` pushed.

use serde_json::{Value, json};

use super::moto::Moto;
use super::pipe::Pipe;

pub const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";

/// The value of the world's secret `prod/db`: no output may ever show it.
pub const SECRET_VALUE: &str = "local-demo-secret-value";

/// `web:1`: what a team would have, with an empty value and a secret reference to keep (its
/// ARN's random suffix is the one moto gives the secret when [`seed`] creates it).
pub fn web_task_definition() -> Value {
    json!({
        "family": "web",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "web",
            "image": format!("{REGISTRY}/web:v1"),
            "essential": true,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "FEATURE_FLAGS", "value": ""}],
            "secrets": [{"name": "DATABASE_URL", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"}]
        }],
        "tags": [{"key": "team", "value": "payments"}]
    })
}

/// Starts moto and seeds the world.
pub fn web_service() -> Moto {
    let moto = Moto::builder().service_running(2).start();
    seed(&moto);
    moto
}

/// Seeds an already running moto (after a reset, say).
pub fn seed(moto: &Moto) {
    moto.create_cluster("prod");
    moto.create_ecr_repo("web");
    moto.put_image("web", "v1");
    moto.put_image("web", "v2");
    // What PREFLIGHT looks up: the execution role (trusting ecs-tasks) and the secret.
    moto.create_role("ecsTaskExecutionRole", "ecs-tasks.amazonaws.com");
    let secret = moto.create_secret("prod/db", SECRET_VALUE);
    let mut td = web_task_definition();
    td["containerDefinitions"][0]["secrets"][0]["valueFrom"] = Value::String(secret);
    let first = moto.register_task_definition(td);
    moto.create_service("prod", "web", &first, 2, true);
}

/// The pipe's variables for deploying `web:v2` to that service through `endpoint`.
pub fn deploy_web_v2(endpoint: &str) -> Pipe {
    Pipe::new()
        .endpoint(endpoint)
        .env("AWS_OIDC_ROLE_ARN", ROLE)
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("IMAGE", &format!("{REGISTRY}/web:v2"))
}
