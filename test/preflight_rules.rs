//! `PREFLIGHT`'s pure decisions: what a revision refers to, trust policies, the judging of
//! IAM's simulation, the service's own references, the summary.

use ecs_oidc_deploy::rules::preflight::{
    self as rules, Ask, Certainty, Counts, Needs, Target, Use, Verdict,
};
use serde_json::json;

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";

fn needs(body: &serde_json::Value) -> Needs {
    let mut needs = Needs::default();
    rules::add_needs(&mut needs, body, "web:41", REGION, ACCOUNT);
    needs
}

#[test]
fn secret_references_in_every_form() {
    let secret = |v: &str| rules::secret(v, REGION, ACCOUNT);
    let full = Target::Secret {
        id: "arn:aws:secretsmanager:us-east-1:210987654321:secret:prod/db-AbCdEf".into(),
        region: "us-east-1".into(),
        account: "210987654321".into(),
    };
    assert_eq!(
        secret("arn:aws:secretsmanager:us-east-1:210987654321:secret:prod/db-AbCdEf"),
        Some(full.clone())
    );
    assert_eq!(
        secret(
            "arn:aws:secretsmanager:us-east-1:210987654321:secret:prod/db-AbCdEf:password:AWSCURRENT:"
        ),
        Some(full)
    );
    assert_eq!(
        secret("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db:password::"),
        Some(Target::Secret {
            id: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db".into(),
            region: REGION.into(),
            account: ACCOUNT.into()
        })
    );
    let parameter = |name: &str, region: &str, account: &str| Target::Parameter {
        name: name.into(),
        region: region.into(),
        account: account.into(),
    };
    assert_eq!(
        secret("/prod/api-key"),
        Some(parameter("/prod/api-key", REGION, ACCOUNT))
    );
    assert_eq!(secret("flags"), Some(parameter("flags", REGION, ACCOUNT)));
    assert_eq!(
        secret("arn:aws:ssm:us-west-2:210987654321:parameter/prod/api-key"),
        Some(parameter("/prod/api-key", "us-west-2", "210987654321"))
    );
    assert_eq!(
        secret("arn:aws:ssm:us-west-2:210987654321:parameter/flags"),
        Some(parameter("flags", "us-west-2", "210987654321"))
    );
    assert_eq!(secret("arn:aws:s3:::bucket/key"), None);
}

#[test]
fn a_revision_s_references_each_once_with_every_place() {
    let body = json!({
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "taskRoleArn": "arn:aws:iam::123456789012:role/task",
        "containerDefinitions": [
            {"name": "web", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1",
             "secrets": [{"name": "A", "valueFrom": "/shared"}],
             "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}}},
            {"name": "worker", "image": "nginx:1",
             "secrets": [{"name": "A", "valueFrom": "/shared"}],
             "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hub-AbCdEf"},
             "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/worker", "awslogs-region": "us-east-1", "awslogs-create-group": "true"}}},
            {"name": "splunk", "image": "x", "logConfiguration": {"logDriver": "splunk", "options": {}}}
        ]
    });
    let needs = needs(&body);
    assert_eq!(
        needs.execution_roles,
        vec![(
            "arn:aws:iam::123456789012:role/exec".to_string(),
            "web:41".to_string()
        )]
    );
    assert_eq!(
        needs.counts(),
        Counts {
            secrets: 1,
            parameters: 1,
            log_groups: 2,
            roles: 2,
            images: 3
        }
    );
    let (_, shared) = needs
        .refs
        .iter()
        .find(|(t, _)| matches!(t, Target::Parameter { name, .. } if name == "/shared"))
        .expect("the parameter");
    assert_eq!(
        shared.iter().map(|u| u.path.as_str()).collect::<Vec<_>>(),
        [
            "containerDefinitions[0].secrets[0].valueFrom",
            "containerDefinitions[1].secrets[0].valueFrom"
        ]
    );
    assert!(needs.refs.iter().any(|(t, _)| *t
        == Target::LogGroup {
            name: "/ecs/worker".into(),
            region: "us-east-1".into(),
            create: true
        }));
    assert!(needs.refs.iter().any(|(t, _)| *t
        == Target::LogGroup {
            name: "/ecs/web".into(),
            region: REGION.into(),
            create: false
        }));
}

#[test]
fn trust_policies_as_iam_sends_them() {
    let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ecs-tasks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
    assert!(rules::trust_allows_ecs_tasks(encoded));
    let list = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]});
    assert!(rules::trust_allows_ecs_tasks(&list.to_string()));
    let single = json!({"Statement": {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}});
    assert!(rules::trust_allows_ecs_tasks(&single.to_string()));
    let ec2 = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    assert!(!rules::trust_allows_ecs_tasks(&ec2.to_string()));
    let web_identity = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRoleWithWebIdentity"}]});
    assert!(!rules::trust_allows_ecs_tasks(&web_identity.to_string()));
    let denied = json!({"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:*"}]});
    assert!(!rules::trust_allows_ecs_tasks(&denied.to_string()));
    assert!(!rules::trust_allows_ecs_tasks("not json"));
}

fn ask(certainty: Certainty) -> Ask {
    Ask {
        action: "ssm:GetParameters".into(),
        resource: "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/key".into(),
        about: "SSM parameter /prod/key".into(),
        uses: vec![Use {
            container: Some("web".into()),
            path: "containerDefinitions[0].secrets[0].valueFrom".into(),
            revision: "web:41".into(),
        }],
        certainty,
    }
}

#[test]
fn judging_the_simulation() {
    let role = "arn:aws:iam::123456789012:role/path/exec";
    assert_eq!(
        rules::judge(&ask(Certainty::Certain), role, "allowed"),
        Verdict::Allowed
    );
    let Verdict::Problem(p) = rules::judge(&ask(Certainty::Certain), role, "implicitDeny") else {
        panic!("an implicit deny of a certain ask is a problem");
    };
    assert_eq!(
        p,
        r#"container web (web:41 containerDefinitions[0].secrets[0].valueFrom): the execution role exec may not call ssm:GetParameters on SSM parameter /prod/key: no policy of the role allows it; add to the execution role: {"Effect":"Allow","Action":"ssm:GetParameters","Resource":"arn:aws:ssm:eu-west-1:123456789012:parameter/prod/key"}"#
    );
    let may = ask(Certainty::MayStillWork(
        "the secret's resource policy".into(),
    ));
    assert!(
        matches!(rules::judge(&may, role, "implicitDeny"), Verdict::Warning(w) if w.contains("but the secret's resource policy, which IAM's simulation does not see, may allow it"))
    );
    assert!(
        matches!(rules::judge(&may, role, "explicitDeny"), Verdict::Problem(p) if p.contains("a Deny statement refuses it"))
    );
    assert!(matches!(
        rules::judge(&may, role, "something"),
        Verdict::Warning(_)
    ));
}

#[test]
fn service_references_must_exist_in_the_new_revision() {
    let body = json!({"containerDefinitions": [
        {"name": "app", "portMappings": [{"containerPort": 8080, "name": "http"}]},
        {"name": "envoy", "portMappings": [{"containerPort": 9901}]}
    ]});
    let lbs = [
        json!({"containerName": "web", "containerPort": 8080}),
        json!({"containerName": "app", "containerPort": 8080}),
    ];
    let registries =
        [json!({"registryArn": "arn:x", "containerName": "envoy", "containerPort": 9000})];
    let names = ["http".to_string(), "grpc".to_string()];
    let problems = rules::service_references("web", (&lbs, &registries, &names), &body, "web:42");
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("service web: loadBalancers[0].containerName is \"web\", but the new revision (web:42) has no such container (it has app, envoy)"));
    assert!(problems[1].starts_with(
        "service web: serviceRegistries[0].containerPort is 9000, but container envoy"
    ));
    assert!(
        problems[2].starts_with(
            "service web: serviceConnectConfiguration.services[1].portName is \"grpc\""
        )
    );
    assert!(
        rules::service_references("web", (&lbs[1..], &[], &names[..1]), &body, "web:42").is_empty()
    );
}

#[test]
fn arns_and_the_summary() {
    assert_eq!(
        rules::role_name("arn:aws:iam::1:role/service-role/exec"),
        "exec"
    );
    assert_eq!(
        rules::parameter_arn("aws", REGION, ACCOUNT, "/a/b"),
        "arn:aws:ssm:eu-west-1:123456789012:parameter/a/b"
    );
    assert_eq!(
        rules::kms_key_arn("alias/aws/secretsmanager", "aws", REGION, ACCOUNT),
        None
    );
    assert_eq!(
        rules::kms_key_arn("1234abcd", "aws", REGION, ACCOUNT).as_deref(),
        Some("arn:aws:kms:eu-west-1:123456789012:key/1234abcd")
    );
    assert_eq!(
        rules::kms_key_arn("alias/app", "aws", REGION, ACCOUNT).as_deref(),
        Some("arn:aws:kms:eu-west-1:123456789012:alias/app")
    );
    assert_eq!(
        rules::summary(
            Counts {
                secrets: 4,
                parameters: 2,
                log_groups: 2,
                roles: 2,
                images: 3
            },
            true
        ),
        "4 secrets, 2 parameters, 2 log groups, 2 roles and 3 images: present, and the execution role may use them"
    );
    assert_eq!(
        rules::summary(
            Counts {
                roles: 1,
                ..Counts::default()
            },
            false
        ),
        "1 role: present"
    );
    assert_eq!(
        rules::partition_and_account("arn:aws-cn:ecs:cn-north-1:123:cluster/x"),
        Some(("aws-cn".into(), "123".into()))
    );
}

#[test]
fn the_printed_policy_names_the_file_s_references_and_leaves_out_ecr_without_verify_image() {
    use ecs_oidc_deploy::rules::preflight_policy::{Known, statements};
    let body = json!({
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "containerDefinitions": [{"name": "web", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1",
            "secrets": [{"name": "A", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db:password::"},
                        {"name": "B", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/token-AbCdEf"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1"}}}]
    });
    let known = |images: bool| Known {
        partition: "aws",
        account: ACCOUNT,
        region: REGION,
        task_definition: Some(body.clone()),
        roles: Vec::new(),
        images,
    };
    let mut notes = Vec::new();
    let all = statements(&known(true), &mut notes);
    let sids: Vec<&str> = all.iter().filter_map(|s| s["Sid"].as_str()).collect();
    assert_eq!(
        sids,
        [
            "OptionalPreflightReadRoles",
            "OptionalPreflightDescribeSecrets",
            "OptionalPreflightDescribeParameters",
            "OptionalPreflightDescribeLogGroups",
            "OptionalPreflightReadRepositories"
        ]
    );
    assert_eq!(
        all[0]["Resource"],
        json!("arn:aws:iam::123456789012:role/exec")
    );
    assert_eq!(
        all[1]["Resource"],
        json!([
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-??????",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/token-AbCdEf"
        ])
    );
    assert_eq!(
        all[3]["Resource"],
        json!("arn:aws:logs:us-east-1:123456789012:log-group:*")
    );
    assert_eq!(
        all[4]["Resource"],
        json!("arn:aws:ecr:eu-west-1:123456789012:repository/web")
    );
    assert!(
        notes.iter().any(|n| n.contains("may be left out")),
        "{notes:?}"
    );
    assert!(!notes.iter().any(|n| n.contains("<SECRET>")), "{notes:?}");
    let without_ecr = statements(&known(false), &mut Vec::new());
    assert!(without_ecr.iter().all(|s| !s.to_string().contains("ecr:")));
}
