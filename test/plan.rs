//! The plan, without a network: which revisions are registered from which source, and which
//! service moves to which revision.

use std::collections::HashMap;

use serde_json::{Value, json};

use ecs_oidc_deploy::config::Config;
use ecs_oidc_deploy::error::Error;
use ecs_oidc_deploy::rules::plan::{self, Source};
use ecs_oidc_deploy::rules::rollout::Service;

const WEB_1: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1";
const SCHED_3: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/sched:3";
const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

fn config(services: &[&str], extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = [
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("CLUSTER_NAME", "prod"),
        ("BITBUCKET_COMMIT", "abc123"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    vars.push(("SERVICE_NAMES_COUNT".into(), services.len().to_string()));
    for (i, s) in services.iter().enumerate() {
        vars.push((format!("SERVICE_NAMES_{i}"), (*s).to_string()));
    }
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    Config::from_vars(vars).expect("valid variables")
}

fn service(name: &str, task_definition: &str) -> Service {
    Service {
        service_name: name.into(),
        task_definition: task_definition.into(),
        status: "ACTIVE".into(),
        desired_count: 2,
        ..Service::default()
    }
}

fn described(arn: &str, containers: &[&str]) -> Value {
    let family = arn
        .rsplit('/')
        .next()
        .and_then(|n| n.split(':').next())
        .unwrap_or_default();
    json!({
        "taskDefinition": {
            "taskDefinitionArn": arn, "family": family, "revision": 1, "status": "ACTIVE",
            "containerDefinitions": containers.iter().map(|c| json!({"name": c, "image": format!("{REGISTRY}/{c}:v1")})).collect::<Vec<_>>(),
        },
        "tags": [],
    })
}

fn sources() -> HashMap<String, Value> {
    HashMap::from([
        (WEB_1.to_string(), described(WEB_1, &["app", "sidecar"])),
        (SCHED_3.to_string(), described(SCHED_3, &["sched"])),
    ])
}

fn three() -> Vec<Service> {
    vec![
        service("web", WEB_1),
        service("worker", WEB_1),
        service("scheduler", SCHED_3),
    ]
}

fn image_of(plan: &plan::Plan, revision: usize, container: &str) -> String {
    plan.revisions[revision].task_definition.body["containerDefinitions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .and_then(|c| c["image"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn services_on_the_same_revision_share_one_new_revision() {
    let c = config(
        &["web", "worker", "scheduler"],
        &[
            ("CONTAINER_IMAGES_COUNT", "2"),
            ("CONTAINER_IMAGES_0", &format!("app={REGISTRY}/app:v2")),
            ("CONTAINER_IMAGES_1", &format!("sched={REGISTRY}/sched:v2")),
        ],
    );
    let plan = plan::build(&c, &three(), &sources()).expect("a plan");
    assert_eq!(
        plan.revisions.len(),
        2,
        "3 services on 2 revisions: 2 registrations"
    );
    assert_eq!(plan.revisions[0].source, Source::Revision(WEB_1.into()));
    assert_eq!(plan.revisions[0].services, vec!["web", "worker"]);
    assert_eq!(plan.revisions[1].services, vec!["scheduler"]);
    let targets: Vec<Option<usize>> = plan.services.iter().map(|s| s.revision).collect();
    assert_eq!(targets, vec![Some(0), Some(0), Some(1)]);
    assert_eq!(image_of(&plan, 0, "app"), format!("{REGISTRY}/app:v2"));
    assert_eq!(
        image_of(&plan, 0, "sidecar"),
        format!("{REGISTRY}/sidecar:v1")
    );
    assert_eq!(image_of(&plan, 1, "sched"), format!("{REGISTRY}/sched:v2"));
    assert_eq!(plan.services[2].current, SCHED_3);
    assert!(
        plan.revisions[0]
            .task_definition
            .tags
            .contains(&json!({"key": "bitbucket:commit", "value": "abc123"})),
        "audit tags on every new revision"
    );
}

#[test]
fn image_goes_into_every_revision_and_needs_a_container_each_can_resolve() {
    let c = config(
        &["web", "scheduler"],
        &[("IMAGE", &format!("{REGISTRY}/app:v2"))],
    );
    let services = vec![service("web", WEB_1), service("scheduler", SCHED_3)];
    match plan::build(&c, &services, &sources()) {
        Err(Error::ContainerAmbiguous { available, .. }) => {
            assert_eq!(available, vec!["app", "sidecar"]);
        }
        other => panic!("web:1 has two containers, so CONTAINER_NAME is needed: {other:?}"),
    }
    let c = config(
        &["web", "scheduler"],
        &[
            ("IMAGE", &format!("{REGISTRY}/app:v2")),
            ("CONTAINER_NAME", "app"),
        ],
    );
    match plan::build(&c, &services, &sources()) {
        Err(Error::ContainerNotFound {
            wanted,
            available,
            source_name,
        }) => {
            assert_eq!((wanted.as_str(), source_name.as_str()), ("app", "sched:3"));
            assert_eq!(available, vec!["sched"]);
        }
        other => panic!("sched:3 has no container app: {other:?}"),
    }
    let c = config(
        &["web", "worker"],
        &[
            ("IMAGE", &format!("{REGISTRY}/app:v2")),
            ("CONTAINER_NAME", "app"),
        ],
    );
    let plan = plan::build(&c, &three()[..2], &sources()).expect("a plan");
    assert_eq!(plan.revisions.len(), 1);
    assert_eq!(plan.revisions[0].changes.len(), 1);
}

#[test]
fn a_pair_that_fits_nothing_or_a_service_left_unchanged_is_refused() {
    let c = config(
        &["web", "scheduler"],
        &[
            ("CONTAINER_IMAGES_COUNT", "1"),
            ("CONTAINER_IMAGES_0", &format!("ghost={REGISTRY}/app:v2")),
        ],
    );
    let services = vec![service("web", WEB_1), service("scheduler", SCHED_3)];
    match plan::build(&c, &services, &sources()) {
        Err(Error::ContainerNotFound {
            wanted, available, ..
        }) => {
            assert_eq!(wanted, "ghost");
            assert_eq!(available, vec!["app", "sidecar", "sched"]);
        }
        other => panic!("expected the unmatched pair to be refused: {other:?}"),
    }
    let c = config(
        &["web", "scheduler"],
        &[
            ("CONTAINER_IMAGES_COUNT", "1"),
            ("CONTAINER_IMAGES_0", &format!("app={REGISTRY}/app:v2")),
        ],
    );
    match plan::build(&c, &services, &sources()) {
        Err(Error::Config(problems)) => assert_eq!(
            problems[0].to_string(),
            "CONTAINER_IMAGES changes no container of service scheduler: its task definition sched:3 has sched; add a pair for one of them, or remove it from SERVICE_NAMES"
        ),
        other => panic!("expected the unchanged service to be refused: {other:?}"),
    }
}

#[test]
fn a_file_makes_one_revision_for_all_and_a_restart_makes_none() {
    let dir = crate::support::fresh_dir("plan");
    let file = dir.join("td.json");
    std::fs::write(
        &file,
        json!({"family": "shared", "containerDefinitions": [{"name": "app", "image": "nginx:1"}]})
            .to_string(),
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let c = config(
        &["web", "scheduler"],
        &[("TASK_DEFINITION", path.as_str()), ("IMAGE", "nginx:2")],
    );
    let services = vec![service("web", WEB_1), service("scheduler", SCHED_3)];
    let plan = plan::build(&c, &services, &HashMap::new()).expect("a plan");
    assert_eq!(plan.revisions.len(), 1);
    assert_eq!(plan.revisions[0].source, Source::File(path.clone()));
    assert_eq!(plan.revisions[0].services, vec!["web", "scheduler"]);
    assert_eq!(image_of(&plan, 0, "app"), "nginx:2");

    let c = config(&["web", "scheduler"], &[("FORCE_NEW_DEPLOYMENT", "true")]);
    let plan = plan::build(&c, &services, &HashMap::new()).expect("a plan");
    assert!(plan.revisions.is_empty());
    assert!(plan.services.iter().all(|s| s.revision.is_none()));
}

fn container<'a>(plan: &'a plan::Plan, revision: usize, name: &str) -> &'a Value {
    plan.revisions[revision].task_definition.body["containerDefinitions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .expect("container")
}

#[test]
fn per_environment_settings_go_into_every_new_revision_and_the_pre_deploy_task_runs_one() {
    let c = config(
        &["web", "worker", "scheduler"],
        &[
            ("CONTAINER_IMAGES_COUNT", "2"),
            ("CONTAINER_IMAGES_0", &format!("app={REGISTRY}/app:v2")),
            ("CONTAINER_IMAGES_1", &format!("sched={REGISTRY}/sched:v2")),
            ("CONTAINER_ENVIRONMENT", "DB_HOST=db.staging"),
            ("TASK_MEMORY", "2048"),
            ("EXECUTION_ROLE_ARN", "staging-exec"),
            ("PRE_DEPLOY_COMMAND", "bin/migrate"),
            ("PRE_DEPLOY_CONTAINER", "app"),
        ],
    );
    let plan = plan::build(&c, &three(), &sources()).expect("a plan");
    assert_eq!(plan.revisions.len(), 2);
    for (revision, got_env, without) in [(0, "app", "sidecar"), (1, "sched", "")] {
        let td = &plan.revisions[revision].task_definition;
        assert_eq!(td.body["memory"], json!("2048"));
        assert_eq!(td.body["executionRoleArn"], json!("staging-exec"));
        assert_eq!(
            container(&plan, revision, got_env)["environment"],
            json!([{"name": "DB_HOST", "value": "db.staging"}]),
            "the container that got the image gets the environment"
        );
        if !without.is_empty() {
            assert!(
                container(&plan, revision, without)
                    .get("environment")
                    .is_none()
            );
        }
    }
    let pre = plan.pre_deploy.as_ref().expect("pre-deploy");
    let runs = plan
        .revision_of(&plan.services[pre.service])
        .expect("the new revision");
    assert_eq!(runs.task_definition.body["memory"], json!("2048"));
}

#[test]
fn per_environment_settings_alone_make_a_new_revision_of_the_live_one() {
    let c = config(&["scheduler"], &[("TASK_CPU", "512")]);
    let plan = plan::build(&c, &[service("scheduler", SCHED_3)], &sources()).expect("a plan");
    assert_eq!(plan.revisions.len(), 1);
    assert_eq!(plan.revisions[0].task_definition.body["cpu"], json!("512"));
    assert!(plan.revisions[0].changes.is_empty(), "no image changes");
    assert_eq!(plan.services[0].revision, Some(0));

    let c = config(&["web"], &[("CONTAINER_SECRETS", "TOKEN=/staging/token")]);
    match plan::build(&c, &[service("web", WEB_1)], &sources()) {
        Err(Error::Config(problems)) => assert_eq!(
            problems[0].to_string(),
            "CONTAINER_SECRETS goes to one container, and web:1 has 2: set CONTAINER_NAME to one of app, sidecar"
        ),
        other => panic!("two containers and no CONTAINER_NAME: {other:?}"),
    }
    let c = config(
        &["web"],
        &[
            ("CONTAINER_SECRETS", "TOKEN=/staging/token"),
            ("CONTAINER_NAME", "sidecar"),
        ],
    );
    let plan = plan::build(&c, &[service("web", WEB_1)], &sources()).expect("named");
    assert_eq!(
        container(&plan, 0, "sidecar")["secrets"],
        json!([{"name": "TOKEN", "valueFrom": "/staging/token"}])
    );
}
