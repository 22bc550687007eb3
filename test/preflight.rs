//! `PREFLIGHT` against moto (IAM GetRole, Secrets Manager, SSM DescribeParameters, CloudWatch
//! Logs, ECR), through the rollout-playing proxy, whose hook also answers IAM's
//! SimulatePrincipalPolicy (moto has none) with the decisions each test sets. Every refusal
//! exits 2 before the first write, and no check reads a value or writes a log line.

use serde_json::{Value, json};

use crate::support::fake::Req;
use crate::support::iam_sim::Simulator;
use crate::support::moto::Moto;
use crate::support::pipe::{Outcome, Pipe, assert_no_secrets};
use crate::support::rollout::RolloutPlayer;
use crate::support::world::{REGISTRY, ROLE};

const DB_PASSWORD: &str = "s3cr3t-db-password-value";
const API_KEY: &str = "s3cr3t-api-key-value";
const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";
const TASK_ROLE: &str = "arn:aws:iam::123456789012:role/web-task";
const TARGET_GROUP: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef";

/// What the revision refers to: a partial secret ARN with a json-key suffix, a full secret ARN,
/// a parameter by name and one by ARN, a log group, two roles, two ECR images.
struct World {
    moto: Moto,
    /// The full ARN of `prod/token`.
    token_arn: String,
}

fn world() -> World {
    let moto = Moto::builder().service_running(2).start();
    let c = moto.client();
    c.create_cluster("prod");
    for (repo, tags) in [("web", &["v1", "v2"][..]), ("envoy", &["1.0"][..])] {
        c.create_ecr_repo(repo);
        for tag in tags {
            c.put_image(repo, tag);
        }
    }
    c.create_role("ecsTaskExecutionRole", "ecs-tasks.amazonaws.com");
    c.create_role("web-task", "ecs-tasks.amazonaws.com");
    c.create_secret("prod/db", DB_PASSWORD);
    let token_arn = c.create_secret("prod/token", "s3cr3t-token-value");
    c.put_parameter("/prod/api-key", API_KEY);
    c.put_parameter("feature-flags", "on");
    c.logs_in(
        "eu-west-1",
        "CreateLogGroup",
        json!({"logGroupName": "/ecs/web"}),
    );
    let world = World { moto, token_arn };
    let first = c.register_task_definition(task_definition(&world, |_| {}));
    create_service(&world, "web", &first);
    world
}

fn create_service(world: &World, name: &str, task_definition: &str) {
    world.moto.client().ecs(
        "CreateService",
        json!({
            "cluster": "prod", "serviceName": name, "taskDefinition": task_definition,
            "desiredCount": 2, "launchType": "EC2", "schedulingStrategy": "REPLICA",
            "deploymentController": {"type": "ECS"},
            "loadBalancers": [{"targetGroupArn": TARGET_GROUP, "containerName": "web", "containerPort": 8080}],
        }),
    );
}

/// `web:1`, changed by `edit`.
fn task_definition(world: &World, edit: impl FnOnce(&mut Value)) -> Value {
    let mut td = json!({
        "family": "web",
        "taskRoleArn": TASK_ROLE,
        "executionRoleArn": EXECUTION_ROLE,
        "containerDefinitions": [{
            "name": "web",
            "image": format!("{REGISTRY}/web:v1"),
            "memory": 256,
            "essential": true,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "secrets": [
                {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db:password::"},
                {"name": "TOKEN", "valueFrom": world.token_arn},
                {"name": "API_KEY", "valueFrom": "/prod/api-key"},
                {"name": "FLAGS", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/feature-flags"}
            ],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "web"}}
        }, {
            "name": "envoy",
            "image": format!("{REGISTRY}/envoy:1.0"),
            "memory": 128,
            "essential": false
        }]
    });
    edit(&mut td);
    td
}

fn proxy(world: &World, simulator: &Simulator) -> RolloutPlayer {
    RolloutPlayer::with_hook(world.moto.endpoint(), 0, simulator.hook())
}

fn pipe(endpoint: &str) -> Pipe {
    Pipe::new()
        .endpoint(endpoint)
        .env("AWS_OIDC_ROLE_ARN", ROLE)
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("IMAGE", &format!("{REGISTRY}/web:v2"))
        .env("CONTAINER_NAME", "web")
        .env("WAIT_INTERVAL", "0.1")
        .env("PREFLIGHT", "true")
}

fn operations(requests: &[Req]) -> Vec<String> {
    requests.iter().filter_map(Req::operation).collect()
}

fn count(ops: &[String], op: &str) -> usize {
    ops.iter().filter(|o| *o == op).count()
}

/// No check read a value or wrote a log line.
fn assert_read_only(ops: &[String]) {
    for op in [
        "GetSecretValue",
        "BatchGetSecretValue",
        "GetParameter",
        "GetParameters",
        "GetParametersByPath",
        "PutLogEvents",
        "CreateLogStream",
        "CreateLogGroup",
    ] {
        assert_eq!(count(ops, op), 0, "{op} was called: {ops:?}");
    }
}

/// A refusal: exit 2, the counted last line, no write of any kind.
fn assert_refused(outcome: &Outcome, problems: usize, ops: &[String]) {
    outcome.assert_code(2);
    let noun = if problems == 1 { "problem" } else { "problems" };
    let last = outcome.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "✖ {problems} {noun} would stop the new tasks from starting; nothing was changed in AWS"
        ),
        "{}",
        outcome.describe()
    );
    for op in [
        "RegisterTaskDefinition",
        "UpdateService",
        "TagResource",
        "RunTask",
    ] {
        assert_eq!(count(ops, op), 0, "{op} was called on a refusal: {ops:?}");
    }
    assert_read_only(ops);
}

#[test]
fn all_present_and_allowed_deploys_after_reading_only_metadata() {
    let world = world();
    let proxy = proxy(&world, &Simulator::new());
    let outcome = pipe(&proxy.endpoint()).run();
    outcome
        .assert_success()
        .assert_contains("Checking what the new tasks need before anything changes (PREFLIGHT)")
        .assert_contains("2 secrets, 2 parameters, 1 log group, 2 roles and 2 images: present, and the execution role may use them")
        .assert_contains("✔");
    assert_no_secrets(&outcome, &[DB_PASSWORD, API_KEY]);
    let ops = operations(&proxy.requests());
    assert_read_only(&ops);
    for op in [
        "GetRole",
        "DescribeSecret",
        "DescribeParameters",
        "DescribeLogGroups",
        "SimulatePrincipalPolicy",
    ] {
        assert!(count(&ops, op) > 0, "{op} was not called: {ops:?}");
    }
    let register = ops.iter().position(|o| o == "RegisterTaskDefinition");
    let last_check = ops.iter().rposition(|o| o == "SimulatePrincipalPolicy");
    assert!(
        last_check < register,
        "the checks come before the first write: {ops:?}"
    );
    // Each distinct reference once: 2 roles, 2 secrets (the sidecar's image was not deployed,
    // so it is looked up here; web:v2 was already found by VERIFY_IMAGE).
    assert_eq!(count(&ops, "GetRole"), 2, "{ops:?}");
    assert_eq!(count(&ops, "DescribeSecret"), 2, "{ops:?}");
    assert_eq!(count(&ops, "DescribeParameters"), 2, "{ops:?}");
    // The simulation is of the execution role, by ARN.
    let simulated: Vec<String> = proxy
        .requests()
        .iter()
        .filter(|r| r.operation().as_deref() == Some("SimulatePrincipalPolicy"))
        .filter_map(|r| r.form_value("PolicySourceArn"))
        .collect();
    assert!(
        simulated.iter().all(|a| a == EXECUTION_ROLE),
        "{simulated:?}"
    );
}

#[test]
fn a_missing_secret_stops_the_deploy_before_any_write() {
    let world = world();
    let td = task_definition(&world, |td| {
        td["containerDefinitions"][0]["secrets"][1]["valueFrom"] =
            json!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/gone-AbCdEf");
    });
    let proxy = proxy(&world, &Simulator::new());
    let p = pipe(&proxy.endpoint());
    p.write_file("taskdef.json", td.to_string());
    let outcome = p.env("TASK_DEFINITION", "taskdef.json").run();
    assert_refused(&outcome, 1, &operations(&proxy.requests()));
    outcome.assert_contains(
        "container web (new revision from taskdef.json containerDefinitions[0].secrets[1].valueFrom): secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/gone-AbCdEf does not exist in Secrets Manager (eu-west-1); create it, or fix the reference",
    );
}

#[test]
fn a_missing_parameter_and_a_missing_log_group_are_both_named() {
    let world = world();
    let proxy = proxy(&world, &Simulator::new());
    let file = task_definition(&world, |td| {
        td["containerDefinitions"][0]["secrets"][2]["valueFrom"] = json!("/prod/missing-key");
        td["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-group"] =
            json!("/ecs/never-created");
    });
    let p = pipe(&proxy.endpoint());
    p.write_file("taskdef.json", file.to_string());
    let outcome = p.env("TASK_DEFINITION", "taskdef.json").run();
    assert_refused(&outcome, 2, &operations(&proxy.requests()));
    outcome
        .assert_contains("containerDefinitions[0].secrets[2].valueFrom): SSM parameter /prod/missing-key does not exist in eu-west-1")
        .assert_contains("containerDefinitions[0].logConfiguration): log group /ecs/never-created does not exist in eu-west-1")
        .assert_contains("aws logs create-log-group --log-group-name /ecs/never-created --region eu-west-1");
}

#[test]
fn a_missing_role_and_a_trust_policy_without_ecs_tasks_are_problems() {
    let world = world();
    world
        .moto
        .client()
        .create_role("ec2-only", "ec2.amazonaws.com");
    let proxy = proxy(&world, &Simulator::new());
    let outcome = pipe(&proxy.endpoint())
        .env(
            "TASK_ROLE_ARN",
            "arn:aws:iam::123456789012:role/no-such-role",
        )
        .env(
            "EXECUTION_ROLE_ARN",
            "arn:aws:iam::123456789012:role/ec2-only",
        )
        .run();
    assert_refused(&outcome, 2, &operations(&proxy.requests()));
    outcome
        .assert_contains("taskRoleArn: role arn:aws:iam::123456789012:role/no-such-role does not exist")
        .assert_contains("executionRoleArn: the trust policy of role arn:aws:iam::123456789012:role/ec2-only does not let ecs-tasks.amazonaws.com assume it")
        .assert_contains(r#"{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}"#);
}

#[test]
fn an_explicit_and_an_implicit_deny_are_problems_and_a_repository_policy_makes_a_warning() {
    let world = world();
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "pull", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": ["ecr:BatchGetImage"]}]});
    world.moto.client().ecr(
        "SetRepositoryPolicy",
        json!({"repositoryName": "envoy", "policyText": policy.to_string()}),
    );
    let simulator = Simulator::new()
        .decide("secretsmanager:GetSecretValue", "prod/db", "explicitDeny")
        .decide(
            "ssm:GetParameters",
            "parameter/prod/api-key",
            "implicitDeny",
        )
        .decide("ecr:BatchGetImage", "repository/envoy", "implicitDeny");
    let proxy = proxy(&world, &simulator);
    let outcome = pipe(&proxy.endpoint()).run();
    assert_refused(&outcome, 2, &operations(&proxy.requests()));
    outcome
        .assert_contains("the execution role ecsTaskExecutionRole may not call secretsmanager:GetSecretValue on secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-")
        .assert_contains("a Deny statement refuses it")
        .assert_contains(r#"the execution role ecsTaskExecutionRole may not call ssm:GetParameters on SSM parameter /prod/api-key: no policy of the role allows it; add to the execution role: {"Effect":"Allow","Action":"ssm:GetParameters","Resource":"arn:aws:ssm:eu-west-1:123456789012:parameter/prod/api-key"}"#)
        .assert_contains("! container envoy (new revision from web:1 containerDefinitions[1].image): the execution role ecsTaskExecutionRole may not call ecr:BatchGetImage on repository envoy")
        .assert_contains("but the repository's policy, which IAM's simulation does not see, may allow it");
}

#[test]
fn a_sidecar_image_that_was_never_pushed_is_a_problem() {
    let world = world();
    let proxy = proxy(&world, &Simulator::new());
    let file = task_definition(&world, |td| {
        td["containerDefinitions"][1]["image"] = json!(format!("{REGISTRY}/envoy:2.0"));
    });
    let p = pipe(&proxy.endpoint());
    p.write_file("taskdef.json", file.to_string());
    let outcome = p.env("TASK_DEFINITION", "taskdef.json").run();
    assert_refused(&outcome, 1, &operations(&proxy.requests()));
    outcome.assert_contains(&format!(
        "container envoy (new revision from taskdef.json containerDefinitions[1].image): image {REGISTRY}/envoy:2.0 is not in ECR (repository envoy in account 123456789012 has no image tagged \"2.0\"); push it before this step, or fix the tag"
    ));
}

#[test]
fn a_load_balancer_container_renamed_in_the_file_is_a_problem() {
    let world = world();
    let proxy = proxy(&world, &Simulator::new());
    let file = task_definition(&world, |td| {
        td["containerDefinitions"][0]["name"] = json!("app");
    });
    let p = pipe(&proxy.endpoint()).env("CONTAINER_NAME", "app");
    p.write_file("taskdef.json", file.to_string());
    let outcome = p.env("TASK_DEFINITION", "taskdef.json").run();
    assert_refused(&outcome, 1, &operations(&proxy.requests()));
    outcome.assert_contains(
        "service web: loadBalancers[0].containerName is \"web\", but the new revision (new revision from taskdef.json) has no such container (it has app, envoy)",
    );
}

#[test]
fn checks_the_deploying_role_may_not_make_are_warnings_and_the_deploy_goes_on() {
    let world = world();
    let simulator = Simulator::new()
        .decide("ssm:GetParameters", "api-key", "explicitDeny")
        .deny_own_checks(&[
            "GetRole",
            "DescribeSecret",
            "GetResourcePolicy",
            "DescribeParameters",
            "DescribeLogGroups",
            "SimulatePrincipalPolicy",
        ]);
    let proxy = proxy(&world, &simulator);
    let outcome = pipe(&proxy.endpoint()).run();
    outcome
        .assert_success()
        .assert_contains("! PREFLIGHT could not check role arn:aws:iam::123456789012:role/web-task: the deploying role may not call iam:GetRole")
        .assert_contains("the deploying role may not call secretsmanager:DescribeSecret")
        .assert_contains("the deploying role may not call ssm:DescribeParameters")
        .assert_contains("the deploying role may not call logs:DescribeLogGroups")
        .assert_contains("the deploying role may not call iam:SimulatePrincipalPolicy")
        .assert_contains("the deploy goes on")
        .assert_contains("2 images: present (see the warnings above)")
        .assert_not_contains("the execution role may use them");
    let ops = operations(&proxy.requests());
    assert_eq!(count(&ops, "RegisterTaskDefinition"), 1, "{ops:?}");
    assert_read_only(&ops);
}

#[test]
fn preflight_false_makes_none_of_these_calls() {
    let world = world();
    let proxy = proxy(&world, &Simulator::new());
    let outcome = pipe(&proxy.endpoint())
        .env("PREFLIGHT", "false")
        .env(
            "EXECUTION_ROLE_ARN",
            "arn:aws:iam::123456789012:role/no-such-role",
        )
        .run();
    outcome.assert_success().assert_not_contains("PREFLIGHT");
    let ops = operations(&proxy.requests());
    for op in [
        "GetRole",
        "DescribeSecret",
        "GetResourcePolicy",
        "DescribeParameters",
        "DescribeLogGroups",
        "SimulatePrincipalPolicy",
        "GetRepositoryPolicy",
    ] {
        assert_eq!(
            count(&ops, op),
            0,
            "{op} was called with PREFLIGHT false: {ops:?}"
        );
    }
}

#[test]
fn a_dry_run_runs_the_checks_and_shows_their_result() {
    let world = world();
    let proxy = proxy(&world, &Simulator::new());
    let outcome = pipe(&proxy.endpoint()).env("DRY_RUN", "true").run();
    outcome
        .assert_success()
        .assert_contains("2 secrets, 2 parameters, 1 log group, 2 roles and 2 images: present, and the execution role may use them")
        .assert_contains("Dry run of web in prod: nothing was changed in AWS");
    let ops = operations(&proxy.requests());
    assert!(count(&ops, "SimulatePrincipalPolicy") > 0, "{ops:?}");
    assert_eq!(count(&ops, "RegisterTaskDefinition"), 0, "{ops:?}");

    let broken = pipe(&proxy.endpoint())
        .env("DRY_RUN", "true")
        .env(
            "EXECUTION_ROLE_ARN",
            "arn:aws:iam::123456789012:role/no-such-role",
        )
        .run();
    assert_refused(&broken, 1, &operations(&proxy.requests()));
}

#[test]
fn two_services_sharing_one_revision_are_checked_once() {
    let world = world();
    let first = crate::support::moto::task_definition_arn("web", 1);
    create_service(&world, "worker", &first);
    let proxy = proxy(&world, &Simulator::new());
    let outcome = pipe(&proxy.endpoint())
        .remove("SERVICE_NAME")
        .env("SERVICE_NAMES_COUNT", "2")
        .env("SERVICE_NAMES_0", "web")
        .env("SERVICE_NAMES_1", "worker")
        .run();
    outcome.assert_success();
    let ops = operations(&proxy.requests());
    assert_eq!(count(&ops, "RegisterTaskDefinition"), 1, "{ops:?}");
    assert_eq!(count(&ops, "GetRole"), 2, "{ops:?}");
    assert_eq!(count(&ops, "DescribeSecret"), 2, "{ops:?}");
    assert_eq!(count(&ops, "DescribeParameters"), 2, "{ops:?}");
    assert_eq!(count(&ops, "DescribeLogGroups"), 1, "{ops:?}");
    // One simulation per action: GetSecretValue, GetParameters, the two logs actions and the
    // three ECR actions.
    assert_eq!(count(&ops, "SimulatePrincipalPolicy"), 7, "{ops:?}");
}

#[test]
fn a_forced_restart_checks_the_current_revision() {
    let world = world();
    world.moto.client().logs_in(
        "eu-west-1",
        "DeleteLogGroup",
        json!({"logGroupName": "/ecs/web"}),
    );
    let proxy = proxy(&world, &Simulator::new());
    let outcome = pipe(&proxy.endpoint())
        .remove("IMAGE")
        .remove("CONTAINER_NAME")
        .env("FORCE_NEW_DEPLOYMENT", "true")
        .run();
    assert_refused(&outcome, 1, &operations(&proxy.requests()));
    outcome.assert_contains("container web (web:1 containerDefinitions[0].logConfiguration): log group /ecs/web does not exist in eu-west-1");
}

/// The world of test/local-deploy, the image test and the benchmark (its execution role and
/// secret exist) passes PREFLIGHT as it is.
#[test]
fn the_local_deploy_s_world_passes_preflight() {
    let moto = crate::support::world::web_service();
    let proxy = RolloutPlayer::with_hook(moto.endpoint(), 0, Simulator::new().hook());
    let outcome = crate::support::world::deploy_web_v2(&proxy.endpoint())
        .env("PREFLIGHT", "true")
        .env("WAIT_INTERVAL", "0.1")
        .run();
    outcome.assert_success().assert_contains(
        "1 secret, 1 role and 1 image: present, and the execution role may use them",
    );
    assert_no_secrets(&outcome, &[crate::support::world::SECRET_VALUE]);
}

#[test]
fn a_secret_scheduled_for_deletion_is_missing_and_a_kms_key_or_another_account_makes_warnings() {
    let world = world();
    let c = world.moto.client();
    c.secrets(
        "DeleteSecret",
        json!({"SecretId": "prod/db", "RecoveryWindowInDays": 7}),
    );
    let key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let encrypted = c.secrets(
        "CreateSecret",
        json!({"Name": "prod/encrypted", "SecretString": "s3cr3t-encrypted", "KmsKeyId": key}),
    )["ARN"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let simulator = Simulator::new().decide("kms:Decrypt", "key/1234abcd", "implicitDeny");
    let proxy = proxy(&world, &simulator);
    let file = task_definition(&world, |td| {
        td["containerDefinitions"][0]["secrets"][1]["valueFrom"] = json!(encrypted);
        td["containerDefinitions"][0]["secrets"][3]["valueFrom"] =
            json!("arn:aws:ssm:eu-west-1:210987654321:parameter/shared");
    });
    let p = pipe(&proxy.endpoint());
    p.write_file("taskdef.json", file.to_string());
    let outcome = p.env("TASK_DEFINITION", "taskdef.json").run();
    assert_refused(&outcome, 1, &operations(&proxy.requests()));
    outcome
        .assert_contains("containerDefinitions[0].secrets[0].valueFrom): secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-")
        .assert_contains("is scheduled for deletion; restore it")
        .assert_contains(&format!("! container web (new revision from taskdef.json containerDefinitions[0].secrets[1].valueFrom): the execution role ecsTaskExecutionRole may not call kms:Decrypt on KMS key {key}"))
        .assert_contains("but the key policy of the KMS key, which IAM's simulation does not see, may allow it")
        .assert_contains("! PREFLIGHT does not check SSM parameter shared: it belongs to account 210987654321");
}
