//! Several services in one step (`SERVICE_NAMES`): one new revision per distinct source
//! revision, everything read and checked before the first update, all deployments followed
//! in one loop, one honest verdict. The real binary against moto behind the rollout player.

use serde_json::{Value, json};

use crate::support::fake::Req;
use crate::support::moto::Moto;
use crate::support::pipe::{Outcome, Pipe};
use crate::support::rollout::RolloutPlayer;
use crate::support::world::{REGISTRY, ROLE};

fn task_definition(family: &str, containers: &[&str]) -> Value {
    json!({
        "family": family,
        "networkMode": "bridge",
        "containerDefinitions": containers.iter().map(|name| json!({
            "name": name,
            "image": format!("{REGISTRY}/{name}:v1"),
            "essential": true,
            "memory": 256,
            "environment": [{"name": "EMPTY", "value": ""}],
        })).collect::<Vec<_>>(),
        "tags": [{"key": "team", "value": "payments"}],
    })
}

/// moto with cluster `prod`: `web` and `worker` on `web:1` (container `app`), `scheduler` on
/// `sched:1` (container `sched`), and every image `:v1`/`:v2` in ECR.
fn world() -> Moto {
    let moto = Moto::builder().service_running(1).start();
    moto.create_cluster("prod");
    for repo in ["app", "sched", "sidecar"] {
        moto.create_ecr_repo(repo);
        moto.put_image(repo, "v1");
        moto.put_image(repo, "v2");
    }
    let web = moto.register_task_definition(task_definition("web", &["app"]));
    let sched = moto.register_task_definition(task_definition("sched", &["sched"]));
    moto.create_service("prod", "web", &web, 1, false);
    moto.create_service("prod", "worker", &web, 1, false);
    moto.create_service("prod", "scheduler", &sched, 1, false);
    moto
}

fn pipe(endpoint: &str, services: &[&str]) -> Pipe {
    let mut p = Pipe::new()
        .endpoint(endpoint)
        .env("AWS_OIDC_ROLE_ARN", ROLE)
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAMES_COUNT", &services.len().to_string())
        .env("WAIT_INTERVAL", "0.05");
    for (i, s) in services.iter().enumerate() {
        p = p.env(&format!("SERVICE_NAMES_{i}"), s);
    }
    p
}

fn three(endpoint: &str) -> Pipe {
    pipe(endpoint, &["web", "worker", "scheduler"])
}

fn ops(requests: &[Req], op: &str) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.operation().as_deref() == Some(op))
        .map(Req::json)
        .collect()
}

fn last_line(out: &Outcome) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

fn runs(moto: &Moto, service: &str) -> String {
    moto.describe_service("prod", service)["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

const MUTATING: [&str; 4] = [
    "RegisterTaskDefinition",
    "UpdateService",
    "TagResource",
    "DeregisterTaskDefinition",
];

fn mutating(player: &RolloutPlayer) -> Vec<String> {
    player
        .requests()
        .iter()
        .filter_map(Req::operation)
        .filter(|o| MUTATING.contains(&o.as_str()))
        .collect()
}

#[test]
fn services_on_one_revision_share_one_new_revision_and_each_family_gets_one() {
    let moto = world();
    let player = RolloutPlayer::start(moto.endpoint());
    let out = three(&player.endpoint())
        .env("CONTAINER_IMAGES_COUNT", "2")
        .env("CONTAINER_IMAGES_0", &format!("app={REGISTRY}/app:v2"))
        .env("CONTAINER_IMAGES_1", &format!("sched={REGISTRY}/sched:v2"))
        .run();
    out.assert_success();
    let requests = player.requests();
    let registered = ops(&requests, "RegisterTaskDefinition");
    assert_eq!(
        registered.len(),
        2,
        "3 services on 2 distinct revisions make exactly 2 registrations\n{}",
        out.describe()
    );
    assert_eq!(
        registered[0]["containerDefinitions"][0]["environment"][0],
        json!({"name": "EMPTY", "value": ""}),
        "every other field kept"
    );
    let updates = ops(&requests, "UpdateService");
    let target = |service: &str| {
        updates
            .iter()
            .find(|u| u["service"] == service)
            .map(|u| u["taskDefinition"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert!(
        target("web").ends_with("task-definition/web:2"),
        "{updates:?}"
    );
    assert!(
        target("worker").ends_with("task-definition/web:2"),
        "{updates:?}"
    );
    assert!(
        target("scheduler").ends_with("task-definition/sched:2"),
        "{updates:?}"
    );
    assert_eq!(runs(&moto, "worker"), "web:2");
    assert_eq!(runs(&moto, "scheduler"), "sched:2");
    assert_eq!(
        moto.describe_task_definition("sched:2")["taskDefinition"]["containerDefinitions"][0]["image"],
        json!(format!("{REGISTRY}/sched:v2"))
    );

    // Everything was read and registered before the first update, and each poll described
    // all three services in one call.
    let order: Vec<String> = requests.iter().filter_map(Req::operation).collect();
    let first_update = order.iter().position(|o| o == "UpdateService");
    let last_register = order.iter().rposition(|o| o == "RegisterTaskDefinition");
    assert!(last_register < first_update, "{order:?}");
    let polls: Vec<Value> = requests
        .iter()
        .skip(first_update.unwrap_or_default())
        .filter(|r| r.operation().as_deref() == Some("DescribeServices"))
        .map(Req::json)
        .collect();
    assert!(!polls.is_empty());
    assert!(
        polls
            .iter()
            .all(|p| p["services"].as_array().map(Vec::len) == Some(3)),
        "one DescribeServices per poll, naming all three: {polls:?}"
    );

    for service in ["web", "worker", "scheduler"] {
        assert!(
            out.stderr.contains(&format!("[{service}] ")),
            "progress lines name their service\n{}",
            out.describe()
        );
    }
    assert_eq!(
        last_line(&out).split(" (").next(),
        Some("✔ Deployed 3 services in cluster prod"),
        "{}",
        out.describe()
    );
    assert!(
        last_line(&out).ends_with("web, worker on web:2; scheduler on sched:2"),
        "{}",
        out.describe()
    );
}

#[test]
fn one_failing_service_among_three_fails_the_deploy_and_is_named() {
    let moto = world();
    let player = RolloutPlayer::failing(moto.endpoint(), 2, &["worker"]);
    let out = three(&player.endpoint())
        .env("IMAGE", &format!("{REGISTRY}/app:v2"))
        .env("CONTAINER_NAME", "app")
        .run();
    // scheduler has no container app: refused before anything changes.
    out.assert_code(2)
        .assert_contains("container \"app\" is not in the task definition sched:1");
    assert!(mutating(&player).is_empty(), "{:?}", mutating(&player));

    let out = pipe(&player.endpoint(), &["web", "worker"])
        .env("IMAGE", &format!("{REGISTRY}/app:v2"))
        .run();
    out.assert_code(1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let n = lines.len();
    assert!(n > 3, "{}", out.describe());
    assert_eq!(
        lines[n - 1],
        "✖ 1 of 2 services did not deploy: worker; web succeeded",
        "{}",
        out.describe()
    );
    assert!(
        lines[n - 3].starts_with("  web: succeeded (ecs-svc/")
            && lines[n - 3].ends_with(" on web:2)"),
        "a summary line per service right before the last line\n{}",
        out.describe()
    );
    assert!(
        lines[n - 2].starts_with("  worker: failed: deployment ecs-svc/"),
        "{}",
        out.describe()
    );
    assert!(
        lines[n - 2].contains("rolled back: the service runs web:1"),
        "{}",
        out.describe()
    );
    out.assert_contains(
        "[worker] ECS says: ECS deployment circuit breaker: tasks failed to start.",
    );
    assert_eq!(runs(&moto, "web"), "web:2");
    assert_eq!(
        ops(&player.requests(), "RegisterTaskDefinition").len(),
        1,
        "web and worker share one new revision"
    );
}

#[test]
fn rollback_on_failure_puts_back_every_service_this_run_updated() {
    let moto = world();
    let player = RolloutPlayer::failing(moto.endpoint(), 1, &["worker"]);
    let out = three(&player.endpoint())
        .env("CONTAINER_IMAGES_COUNT", "2")
        .env("CONTAINER_IMAGES_0", &format!("app={REGISTRY}/app:v2"))
        .env("CONTAINER_IMAGES_1", &format!("sched={REGISTRY}/sched:v2"))
        .env("ROLLBACK_ON_FAILURE", "true")
        .run();
    out.assert_code(1);
    out.assert_contains(
        "▶ Rolling back web to web:1, scheduler to sched:1 (ROLLBACK_ON_FAILURE: the services ship together)",
    );
    out.assert_contains("ROLLBACK_ON_FAILURE: worker is already back on web:1");
    let updates = ops(&player.requests(), "UpdateService");
    let to: Vec<(String, String)> = updates
        .iter()
        .map(|u| {
            (
                u["service"].as_str().unwrap_or_default().to_string(),
                u["taskDefinition"]
                    .as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        to[3..].to_vec(),
        vec![
            ("web".to_string(), "web:1".to_string()),
            ("scheduler".to_string(), "sched:1".to_string())
        ],
        "{}",
        out.describe()
    );
    assert_eq!(runs(&moto, "web"), "web:1");
    assert_eq!(runs(&moto, "scheduler"), "sched:1");
    assert!(
        last_line(&out).ends_with("rolled back what this run updated (ROLLBACK_ON_FAILURE)"),
        "{}",
        out.describe()
    );
}

#[test]
fn fifty_services_on_one_revision_make_one_registration_and_five_describe_calls_a_poll() {
    let moto = Moto::builder().service_running(1).start();
    moto.create_cluster("prod");
    moto.create_ecr_repo("app");
    moto.put_image("app", "v2");
    let web = moto.register_task_definition(task_definition("web", &["app"]));
    let names: Vec<String> = (1..=50).map(|i| format!("web-{i:02}")).collect();
    for name in &names {
        moto.create_service("prod", name, &web, 1, false);
    }
    let player = RolloutPlayer::start(moto.endpoint());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let out = pipe(&player.endpoint(), &refs)
        .env("IMAGE", &format!("{REGISTRY}/app:v2"))
        .run();
    out.assert_success();
    let requests = player.requests();
    assert_eq!(ops(&requests, "RegisterTaskDefinition").len(), 1);
    assert_eq!(ops(&requests, "UpdateService").len(), 50);
    let order: Vec<String> = requests.iter().filter_map(Req::operation).collect();
    let last_update = order
        .iter()
        .rposition(|o| o == "UpdateService")
        .unwrap_or_default();
    let polls: Vec<Value> = requests[last_update..]
        .iter()
        .filter(|r| r.operation().as_deref() == Some("DescribeServices"))
        .map(Req::json)
        .collect();
    assert!(
        polls
            .iter()
            .all(|p| p["services"].as_array().is_some_and(|s| s.len() <= 10)),
        "at most 10 services per DescribeServices (ECS's limit)"
    );
    // The player completes each rollout at its third poll: 3 polls of 50 services.
    assert_eq!(
        polls.len(),
        3 * 5,
        "ceil(50/10) = 5 describe calls per poll\n{}",
        out.describe()
    );
    for name in ["web-01", "web-50"] {
        assert_eq!(runs(&moto, name), "web:2");
    }
}

#[test]
fn a_problem_with_any_service_stops_the_deploy_before_anything_changes() {
    let moto = world();
    let player = RolloutPlayer::start(moto.endpoint());
    let image = format!("{REGISTRY}/app:v2");

    let out = pipe(&player.endpoint(), &["web", "ghost", "worker"])
        .env("IMAGE", &image)
        .run();
    out.assert_code(2)
        .assert_contains("service \"ghost\" was not found in cluster \"prod\"");

    let out = pipe(&player.endpoint(), &["web", "worker"])
        .env("IMAGE", &format!("{REGISTRY}/app:v9"))
        .run();
    out.assert_code(2).assert_contains("no image tagged \"v9\"");

    // A CONTAINER_IMAGES pair that fits no listed service, and a service that would get no
    // change, are both refused by name.
    let out = three(&player.endpoint())
        .env("CONTAINER_IMAGES_COUNT", "1")
        .env("CONTAINER_IMAGES_0", &format!("ghost={REGISTRY}/app:v2"))
        .run();
    out.assert_code(2)
        .assert_contains("container \"ghost\" is not in the task definition of any listed service (web:1, sched:1)")
        .assert_contains("app, sched");
    let out = three(&player.endpoint())
        .env("CONTAINER_IMAGES_COUNT", "1")
        .env("CONTAINER_IMAGES_0", &format!("app={REGISTRY}/app:v2"))
        .run();
    out.assert_code(2).assert_contains(
        "CONTAINER_IMAGES changes no container of service scheduler: its task definition sched:1 has sched",
    );

    let out = three(&player.endpoint())
        .env("SERVICE_NAME", "web")
        .env("IMAGE", &image)
        .run();
    out.assert_code(2)
        .assert_contains("SERVICE_NAMES cannot be combined with SERVICE_NAME");

    assert!(mutating(&player).is_empty(), "{:?}", mutating(&player));
    assert_eq!(moto.list_task_definitions("web").len(), 1);
}

#[test]
fn outputs_list_every_service_with_its_own_verdict() {
    let moto = world();
    let player = RolloutPlayer::failing(moto.endpoint(), 1, &["worker"]);
    let p =
        pipe(&player.endpoint(), &["web", "worker"]).env("IMAGE", &format!("{REGISTRY}/app:v2"));
    let out = p.run();
    out.assert_code(1);
    let dir = p.outputs_dir();
    let json = p.deployment_json();
    assert_eq!(json["verdict"], "failed");
    assert_eq!(
        json["service"],
        Value::Null,
        "single-service fields are null for several"
    );
    let services = json["services"].as_array().expect("services array");
    assert_eq!(services.len(), 2);
    assert_eq!(services[0]["service"], "web");
    assert_eq!(services[0]["verdict"], "succeeded");
    assert!(
        services[0]["taskDefinitionArn"]
            .as_str()
            .is_some_and(|a| a.ends_with("task-definition/web:2"))
    );
    assert!(
        services[0]["previousTaskDefinitionArn"]
            .as_str()
            .is_some_and(|a| a.ends_with("task-definition/web:1"))
    );
    assert!(
        services[0]["deploymentId"]
            .as_str()
            .is_some_and(|d| d.starts_with("ecs-svc/"))
    );
    assert_eq!(services[1]["verdict"], "failed");
    assert!(
        services[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("circuit breaker"))
    );
    let env = std::fs::read_to_string(dir.join("deployment.env")).expect("env written");
    let sourced = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". '{}' && echo \"$ECS_DEPLOY_SERVICES|$ECS_DEPLOY_FAILED_SERVICES|$ECS_DEPLOY_SERVICE_WEB_VERDICT|$ECS_DEPLOY_SERVICE_WORKER_VERDICT\"",
            dir.join("deployment.env").display()
        ))
        .output()
        .expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&sourced.stdout).trim(),
        "web worker|worker|succeeded|failed",
        "{env}"
    );
}

#[test]
fn dry_run_and_no_wait_work_for_several_services() {
    let moto = world();
    let player = RolloutPlayer::start(moto.endpoint());
    let out = pipe(&player.endpoint(), &["web", "worker"])
        .env("IMAGE", &format!("{REGISTRY}/app:v2"))
        .env("DRY_RUN", "true")
        .run();
    out.assert_success()
        .assert_contains(
            "ecs:UpdateService cluster prod service web taskDefinition=<the new revision>",
        )
        .assert_contains(
            "ecs:UpdateService cluster prod service worker taskDefinition=<the new revision>",
        )
        .assert_contains("✔ Dry run of web, worker in prod: nothing was changed in AWS");
    assert_eq!(
        out.stderr.matches("ecs:RegisterTaskDefinition").count(),
        1,
        "one shared revision"
    );
    assert!(mutating(&player).is_empty());

    let out = pipe(&player.endpoint(), &["web", "worker"])
        .env("IMAGE", &format!("{REGISTRY}/app:v2"))
        .env("WAIT", "false")
        .run();
    out.assert_success();
    assert!(
        last_line(&out).starts_with("✔ Started deployments of web:2 to web, web:2 to worker"),
        "{}",
        out.describe()
    );
}
