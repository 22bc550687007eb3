//! The per-environment settings, without a network: how CONTAINER_ENVIRONMENT and
//! CONTAINER_SECRETS merge, which container they go to, the Fargate size table, and what each
//! variable refuses.

use ecs_oidc_deploy::error::{Error, Problem};
use ecs_oidc_deploy::rules::overrides::{
    self, FARGATE_SIZES, FargateMemory, Overrides, fargate_allows, parse_named_values, parse_size,
};
use ecs_oidc_deploy::rules::task_def::{ImageChange, TaskDefinition};
use serde_json::{Value, json};

fn td(containers: &[&str]) -> TaskDefinition {
    let defs: Vec<Value> = containers
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "image": "nginx:1",
                "environment": [
                    {"name": "A", "value": "1"},
                    {"name": "LOG_LEVEL", "value": "debug"},
                    {"name": "Z", "value": ""}
                ],
                "secrets": [{"name": "DB", "valueFrom": "/prod/db"}]
            })
        })
        .collect();
    TaskDefinition::from_json(
        json!({
            "family": "web",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": defs
        }),
        "web:1",
    )
    .expect("valid")
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn config_problems(err: Error) -> Vec<String> {
    match err {
        Error::Config(problems) => problems.iter().map(ToString::to_string).collect(),
        other => panic!("expected a configuration error, got {other}"),
    }
}

#[test]
fn an_entry_is_replaced_in_place_a_new_one_appended_and_nothing_else_changes() {
    let mut web = td(&["web"]);
    let before = web.register_request();
    let o = Overrides {
        environment: pairs(&[("LOG_LEVEL", "info"), ("NEW", "a=b")]),
        secrets: pairs(&[
            ("DB", "/staging/db"),
            ("API_KEY", "arn:aws:ssm:eu-west-1:123456789012:parameter/k"),
        ]),
        ..Overrides::default()
    };
    o.apply(&mut web, None, &[]).expect("applies");
    let mut expected = before;
    expected["containerDefinitions"][0]["environment"] = json!([
        {"name": "A", "value": "1"},
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "Z", "value": ""},
        {"name": "NEW", "value": "a=b"}
    ]);
    expected["containerDefinitions"][0]["secrets"] = json!([
        {"name": "DB", "valueFrom": "/staging/db"},
        {"name": "API_KEY", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/k"}
    ]);
    assert_eq!(web.register_request(), expected);
}

#[test]
fn a_container_without_the_lists_gets_them_and_key_order_is_kept() {
    let mut web = TaskDefinition::from_json(
        json!({"family": "web", "containerDefinitions": [{"name": "web", "image": "x", "essential": true}]}),
        "web:1",
    )
    .expect("valid");
    Overrides {
        environment: pairs(&[("A", "1")]),
        ..Overrides::default()
    }
    .apply(&mut web, None, &[])
    .expect("applies");
    let container = &web.body["containerDefinitions"][0];
    assert_eq!(
        container["environment"],
        json!([{"name": "A", "value": "1"}])
    );
    assert!(container.get("secrets").is_none(), "no empty list is added");
    let keys: Vec<&String> = container.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["name", "image", "essential", "environment"]);
}

#[test]
fn the_target_is_container_name_the_one_with_a_new_image_or_the_only_one() {
    let env = Overrides {
        environment: pairs(&[("X", "1")]),
        ..Overrides::default()
    };
    let x_of = |t: &TaskDefinition| -> Vec<bool> {
        t.containers()
            .iter()
            .map(|c| c["environment"].as_array().is_some_and(|e| e.len() == 4))
            .collect()
    };

    let mut two = td(&["app", "worker"]);
    env.apply(&mut two, Some("worker"), &[]).expect("named");
    assert_eq!(x_of(&two), [false, true]);

    let mut two = td(&["app", "worker"]);
    let changed = ImageChange {
        container: "app".into(),
        old: "nginx:1".into(),
        new: "nginx:2".into(),
    };
    env.apply(&mut two, None, std::slice::from_ref(&changed))
        .expect("the one container that got an image");
    assert_eq!(x_of(&two), [true, false]);

    let mut two = td(&["app", "worker"]);
    let problems = config_problems(env.apply(&mut two, None, &[]).expect_err("ambiguous"));
    assert_eq!(
        problems,
        [
            "CONTAINER_ENVIRONMENT goes to one container, and web:1 has 2: set CONTAINER_NAME to one of app, worker"
        ]
    );

    let both = [
        changed.clone(),
        ImageChange {
            container: "worker".into(),
            ..changed
        },
    ];
    let secrets = Overrides {
        secrets: pairs(&[("S", "/s")]),
        ..Overrides::default()
    };
    let problems = config_problems(secrets.apply(&mut two, None, &both).expect_err("ambiguous"));
    assert!(
        problems[0].starts_with("CONTAINER_SECRETS goes to one container, but CONTAINER_IMAGES changes app and worker in web:1"),
        "{problems:?}"
    );

    let err = env
        .apply(&mut td(&["app"]), Some("ghost"), &[])
        .expect_err("unknown");
    assert!(matches!(err, Error::ContainerNotFound { .. }), "{err}");
}

#[test]
fn task_level_values_are_set_as_strings() {
    let mut web = td(&["web"]);
    Overrides {
        cpu: Some("1024".into()),
        memory: Some("3072".into()),
        task_role: Some("web-task".into()),
        execution_role: Some("arn:aws:iam::123456789012:role/exec".into()),
        ..Overrides::default()
    }
    .apply(&mut web, None, &[])
    .expect("a Fargate size");
    let body = web.register_request();
    assert_eq!(body["cpu"], json!("1024"));
    assert_eq!(body["memory"], json!("3072"));
    assert_eq!(body["taskRoleArn"], json!("web-task"));
    assert_eq!(
        body["executionRoleArn"],
        json!("arn:aws:iam::123456789012:role/exec")
    );
}

#[test]
fn the_fargate_table_is_the_one_aws_publishes() {
    let allowed = |cpu: u32| -> Vec<u32> {
        (1..=240)
            .map(|gb| gb * 512)
            .filter(|m| fargate_allows(cpu, *m, false))
            .collect()
    };
    assert_eq!(allowed(256), [512, 1024, 2048]);
    assert_eq!(allowed(512), [1024, 2048, 3072, 4096]);
    assert_eq!(allowed(1024), (2..=8).map(|g| g * 1024).collect::<Vec<_>>());
    assert_eq!(
        allowed(2048),
        (4..=16).map(|g| g * 1024).collect::<Vec<_>>()
    );
    assert_eq!(
        allowed(4096),
        (8..=30).map(|g| g * 1024).collect::<Vec<_>>()
    );
    assert_eq!(
        allowed(8192),
        (4..=15).map(|g| g * 4096).collect::<Vec<_>>()
    );
    assert_eq!(
        allowed(16_384),
        (4..=15).map(|g| g * 8192).collect::<Vec<_>>()
    );
    assert!(allowed(768).is_empty() && allowed(128).is_empty());
    assert!(
        !fargate_allows(256, 512, true),
        "Windows needs 1 vCPU or more"
    );
    assert!(fargate_allows(1024, 2048, true));
    assert!(!fargate_allows(8192, 16_384, true), "8 vCPU is Linux only");
    assert_eq!(FARGATE_SIZES.len(), 7);
    assert_eq!(
        FargateMemory::Listed(&[512, 1024, 2048]).describe(),
        "512, 1024 or 2048"
    );
}

#[test]
fn a_pair_fargate_does_not_offer_is_refused_naming_both_variables() {
    let set = |cpu: Option<&str>, memory: Option<&str>| Overrides {
        cpu: cpu.map(str::to_string),
        memory: memory.map(str::to_string),
        ..Overrides::default()
    };
    let mut web = td(&["web"]);
    let problems = config_problems(
        set(Some("256"), Some("8192"))
            .apply(&mut web, None, &[])
            .expect_err("not a Fargate size"),
    );
    assert_eq!(
        problems,
        [
            "TASK_CPU 256 with TASK_MEMORY 8192 is not a size Fargate offers (web:1 has FARGATE in requiresCompatibilities); with cpu 256 Fargate allows TASK_MEMORY 512, 1024 or 2048"
        ]
    );

    let problems = config_problems(
        set(None, Some("4096"))
            .apply(&mut td(&["web"]), None, &[])
            .expect_err("memory alone does not fit the cpu of web:1"),
    );
    assert_eq!(
        problems,
        [
            "TASK_MEMORY 4096 with the cpu 256 of web:1 (TASK_CPU not set) is not a size Fargate offers (web:1 has FARGATE in requiresCompatibilities); with cpu 256 Fargate allows TASK_MEMORY 512, 1024 or 2048"
        ],
        "{problems:?}"
    );

    let problems = config_problems(
        set(Some("3000"), Some("4096"))
            .apply(&mut td(&["web"]), None, &[])
            .expect_err("not a Fargate CPU"),
    );
    assert!(
        problems[0].ends_with("Fargate offers TASK_CPU 256, 512, 1024, 2048, 4096, 8192, 16384"),
        "{problems:?}"
    );

    // Without FARGATE, any value ECS takes is fine.
    let mut ec2 = td(&["web"]);
    ec2.body
        .insert("requiresCompatibilities".into(), json!(["EC2"]));
    set(Some("3000"), Some("100"))
        .apply(&mut ec2, None, &[])
        .expect("EC2 takes any size");
}

#[test]
fn named_values_are_split_at_the_first_equals_sign() {
    let items: Vec<String> = ["A=1", "B=x=y", "C=", "D= spaced "]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    let mut problems = Vec::new();
    let parsed = parse_named_values("CONTAINER_ENVIRONMENT", &items, false, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        parsed,
        pairs(&[("A", "1"), ("B", "x=y"), ("C", ""), ("D", " spaced ")])
    );
}

#[test]
fn bad_items_are_refused_naming_the_variable_without_echoing_values() {
    let items: Vec<String> = ["NOEQUALS", "=value", "A B=1", "A=1", "A=secret-2"]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    let mut problems = Vec::new();
    let parsed = parse_named_values("CONTAINER_ENVIRONMENT", &items, false, &mut problems);
    assert_eq!(parsed, pairs(&[("A", "1")]));
    let text: Vec<String> = problems.iter().map(Problem::to_string).collect();
    assert_eq!(text.len(), 4, "{text:#?}");
    assert!(text[0].starts_with("CONTAINER_ENVIRONMENT item 0 has no `=`"));
    assert!(text[1].starts_with("CONTAINER_ENVIRONMENT item 1 has no name before the `=`"));
    assert!(text[2].starts_with("CONTAINER_ENVIRONMENT item 2 has a name with spaces"));
    assert_eq!(
        text[3],
        "CONTAINER_ENVIRONMENT names A twice; give each name once"
    );
    assert!(!text.join(" ").contains("secret-2"));
}

#[test]
fn secrets_need_a_reference() {
    let check = |item: &str| {
        let mut problems = Vec::new();
        parse_named_values(
            "CONTAINER_SECRETS",
            &[item.to_string()],
            true,
            &mut problems,
        );
        problems.iter().map(Problem::to_string).collect::<Vec<_>>()
    };
    for ok in [
        "DB=/prod/db",
        "DB=prod.db-password",
        "DB=arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf:password::",
        "DB=arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db",
    ] {
        assert!(check(ok).is_empty(), "{ok}: {:?}", check(ok));
    }
    assert!(check("DB=")[0].contains("gives DB no valueFrom"));
    assert!(
        check("DB=arn:aws:s3:::bucket/key")[0]
            .contains("not of an SSM parameter or a Secrets Manager secret")
    );
    assert!(check("DB=my password")[0].contains("neither an ARN nor an SSM parameter name"));
}

#[test]
fn sizes_are_whole_numbers_in_range() {
    let mut problems = Vec::new();
    assert_eq!(
        parse_size(
            "TASK_CPU",
            "0512",
            128..=196_608,
            overrides::TASK_CPU_WHAT,
            &mut problems
        ),
        Some("512".into())
    );
    for bad in ["1 vCPU", "0.5", "-1", "64", "2GB", ""] {
        assert_eq!(
            parse_size(
                "TASK_CPU",
                bad,
                128..=196_608,
                overrides::TASK_CPU_WHAT,
                &mut problems
            ),
            None,
            "{bad}"
        );
    }
    assert_eq!(problems.len(), 6);
    assert_eq!(
        problems[0].to_string(),
        "TASK_CPU must be whole CPU units from 128 to 196608, such as 512 (1024 is 1 vCPU), got \"1 vCPU\""
    );
}

#[test]
fn roles_are_arns_or_bare_names() {
    assert!(overrides::is_role_name("ecsTaskExecutionRole"));
    assert!(overrides::is_role_name("web+task=a,b.c@d_e-f"));
    for bad in ["", "with space", "role/web", &"x".repeat(65)] {
        assert!(!overrides::is_role_name(bad), "{bad}");
    }
    assert_eq!(
        overrides::role_arn("web-task", "aws", "123456789012"),
        "arn:aws:iam::123456789012:role/web-task"
    );
    assert_eq!(
        overrides::role_arn("arn:aws-cn:iam::123456789012:role/x", "aws", "1"),
        "arn:aws-cn:iam::123456789012:role/x"
    );
}

#[test]
fn debug_output_names_environment_entries_without_their_values() {
    let o = Overrides {
        environment: pairs(&[("DB_PASSWORD_HINT", "hunter2")]),
        ..Overrides::default()
    };
    let text = format!("{o:?}");
    assert!(
        text.contains("DB_PASSWORD_HINT") && !text.contains("hunter2"),
        "{text}"
    );
}
