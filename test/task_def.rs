//! The new revision differs from the old one only in the image: every other field, nested
//! value, empty string, unknown field and tag survives.

use ecs_oidc_deploy::error::Error;
use ecs_oidc_deploy::rules::task_def::{DESCRIBE_ONLY_KEYS, TaskDefinition, changed_paths};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/test/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

const NEW: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:9b1e0d4";

#[test]
fn only_the_chosen_image_changes_and_describe_only_keys_go() {
    let described = fixture("describe-task-definition-multi.json");
    let mut td = TaskDefinition::from_json(described.clone(), "web:41").expect("valid");
    let change = td.set_image(Some("app"), NEW).expect("app exists");
    assert_eq!(change.container, "app");
    assert_eq!(
        change.old,
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:8f3a2c1"
    );
    let request = td.register_request();

    // Expected: the describe output minus describe-only keys, tags moved in, image swapped.
    let mut expected = described["taskDefinition"].clone();
    let obj = expected.as_object_mut().expect("object");
    for key in DESCRIBE_ONLY_KEYS {
        obj.remove(key);
    }
    obj.insert("tags".into(), described["tags"].clone());
    expected["containerDefinitions"][0]["image"] = json!(NEW);
    assert_eq!(request, expected);
    assert_eq!(
        changed_paths(
            &TaskDefinition::from_json(described, "web:41")
                .expect("valid")
                .register_request(),
            &request
        ),
        vec!["app: image"]
    );
}

#[test]
fn empty_strings_unknown_fields_and_tags_survive() {
    let mut td =
        TaskDefinition::from_json(fixture("describe-task-definition-multi.json"), "web:41")
            .expect("valid");
    td.set_image(Some("app"), NEW).expect("ok");
    let r = td.register_request();
    assert_eq!(
        r["containerDefinitions"][0]["environment"][0],
        json!({"name": "FEATURE_FLAGS", "value": ""})
    );
    assert_eq!(
        r["containerDefinitions"][0]["logConfiguration"]["options"]["tag"],
        json!("")
    );
    assert_eq!(
        r["containerDefinitions"][0]["dockerLabels"]["com.datadoghq.tags.env"],
        json!("")
    );
    assert_eq!(
        r["someFieldFromTheFuture"],
        json!({"enabled": true, "mode": ""})
    );
    assert_eq!(r["ephemeralStorage"], json!({"sizeInGiB": 30}));
    assert_eq!(
        r["containerDefinitions"][0]["secrets"][0]["valueFrom"],
        json!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/web/db-AbCdEf")
    );
    assert_eq!(
        r["tags"],
        json!([{"key": "team", "value": "payments"}, {"key": "cost-center", "value": ""}])
    );
    assert_eq!(
        r["containerDefinitions"][1]["image"],
        json!("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable")
    );
    for key in DESCRIBE_ONLY_KEYS {
        assert!(r.get(key).is_none(), "{key} must be stripped");
    }
}

#[test]
fn field_order_is_kept() {
    let td = TaskDefinition::from_json(fixture("describe-task-definition-multi.json"), "web:41")
        .expect("valid");
    let keys: Vec<&String> = td.body.keys().collect();
    assert_eq!(keys[0], "containerDefinitions");
    assert_eq!(keys[1], "family");
}

#[test]
fn several_containers_and_no_name_lists_the_names() {
    let mut td =
        TaskDefinition::from_json(fixture("describe-task-definition-multi.json"), "web:41")
            .expect("valid");
    match td.set_image(None, NEW) {
        Err(err @ Error::ContainerAmbiguous { .. }) => {
            assert!(
                err.hints()[0].contains("app, log-router"),
                "{:?}",
                err.hints()
            );
        }
        other => panic!("expected ContainerAmbiguous, got {other:?}"),
    }
    match td.set_image(Some("api"), NEW) {
        Err(err @ Error::ContainerNotFound { .. }) => {
            assert!(err.to_string().contains("\"api\""));
            assert!(err.hints()[0].contains("app, log-router"));
        }
        other => panic!("expected ContainerNotFound, got {other:?}"),
    }
}

#[test]
fn register_input_shape_with_tags_inside_is_accepted() {
    let mut td = TaskDefinition::from_json(fixture("register-input.json"), "ecs/worker.json")
        .expect("valid");
    assert_eq!(td.family(), "worker");
    assert_eq!(td.tags, vec![json!({"key": "owner", "value": "platform"})]);
    let change = td.set_image(None, NEW).expect("single container");
    assert_eq!(change.container, "worker");
    let r = td.register_request();
    assert_eq!(
        r["containerDefinitions"][0]["environment"][1],
        json!({"name": "EMPTY", "value": ""})
    );
    assert_eq!(r["tags"][0]["key"], "owner");
}

#[test]
fn bare_describe_object_without_wrapper_is_accepted() {
    let described = fixture("describe-task-definition-multi.json");
    let td =
        TaskDefinition::from_json(described["taskDefinition"].clone(), "web.json").expect("valid");
    assert_eq!(td.family(), "web");
    assert!(td.body.get("revision").is_none());
    assert_eq!(
        td.role_arns(),
        vec![
            "arn:aws:iam::123456789012:role/web-task",
            "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
        ]
    );
}

#[test]
fn no_tags_means_no_tags_field() {
    let td = TaskDefinition::from_json(
        json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "x"}]}),
        "f",
    )
    .expect("valid");
    assert!(td.register_request().get("tags").is_none());
}

#[test]
fn unusable_definitions_are_refused_with_the_reason() {
    let cases = [
        (json!([1, 2]), "not a JSON object"),
        (
            json!({"containerDefinitions": [{"name": "a"}]}),
            "no \"family\"",
        ),
        (json!({"family": "f"}), "no \"containerDefinitions\""),
        (
            json!({"family": "f", "containerDefinitions": []}),
            "is empty",
        ),
        (
            json!({"family": "f", "containerDefinitions": [{"image": "x"}]}),
            "containerDefinitions[0] has no \"name\"",
        ),
        (json!({"taskDefinition": "web:1"}), "not an object"),
    ];
    for (value, why) in cases {
        let err = TaskDefinition::from_json(value.clone(), "file.json").expect_err("invalid");
        assert!(err.to_string().contains(why), "{value}: {err}");
        assert_eq!(err.exit_code(), 2);
    }
}

#[test]
fn audit_tags_are_added_user_tags_kept_and_collisions_refused() {
    use ecs_oidc_deploy::context::BitbucketContext;
    use ecs_oidc_deploy::rules::task_def::audit_tags;
    let context = BitbucketContext {
        repo_full_name: Some("acme/web-app".into()),
        commit: Some("3f7c2a91".into()),
        build_number: Some("42".into()),
        pipeline_uuid: Some("{5e2b8d17-9c4f}".into()),
        ..BitbucketContext::default()
    };
    let audit = audit_tags(&context);
    assert_eq!(
        audit,
        vec![
            (
                "bitbucket:repository".to_string(),
                "acme/web-app".to_string()
            ),
            ("bitbucket:commit".to_string(), "3f7c2a91".to_string()),
            ("bitbucket:build-number".to_string(), "42".to_string()),
            (
                "bitbucket:pipeline-uuid".to_string(),
                "5e2b8d17-9c4f".to_string()
            ),
        ],
        "no empty values, no braces"
    );
    let mut td =
        TaskDefinition::from_json(fixture("describe-task-definition-multi.json"), "web:41")
            .expect("valid");
    td.tags
        .push(json!({"key": "bitbucket:commit", "value": "old"}));
    td.apply_tags(
        &audit,
        &[
            ("owner".to_string(), "platform".to_string()),
            ("team".to_string(), "payments".to_string()),
        ],
    )
    .expect("no collision");
    let keys: Vec<&str> = td.tags.iter().filter_map(|t| t["key"].as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "team",
            "cost-center",
            "bitbucket:commit",
            "bitbucket:repository",
            "bitbucket:build-number",
            "bitbucket:pipeline-uuid",
            "owner"
        ]
    );
    assert!(
        td.tags
            .contains(&json!({"key": "bitbucket:commit", "value": "3f7c2a91"})),
        "the pipe's own tags are updated"
    );
    let err = td
        .apply_tags(&[], &[("team".to_string(), "platform".to_string())])
        .expect_err("collision");
    assert!(
        err.to_string()
            .contains("from \"payments\" to \"platform\""),
        "{err}"
    );
}

#[test]
fn diff_lines_show_old_and_new_values() {
    let old = json!({"a": {"b": [1, {"c": "x"}]}, "gone": true});
    let new = json!({"a": {"b": [1, {"c": "y"}]}, "added": "z"});
    assert_eq!(
        ecs_oidc_deploy::rules::task_def::diff_lines(&old, &new),
        vec![
            "a.b[1].c: \"x\" → \"y\"",
            "gone: true → (absent)",
            "added: (absent) → \"z\""
        ]
    );
}

#[test]
fn diff_lines_show_an_appended_entry_on_its_own() {
    let old = json!({"environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
    let new = json!({"environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "a=b"}]});
    assert_eq!(
        ecs_oidc_deploy::rules::task_def::diff_lines(&old, &new),
        vec![
            "environment[1].value: \"2\" → \"3\"",
            "environment[2]: (absent) → {\"name\":\"C\",\"value\":\"a=b\"}"
        ]
    );
    assert_eq!(
        ecs_oidc_deploy::rules::task_def::diff_lines(&new, &old),
        vec![
            "environment[1].value: \"3\" → \"2\"",
            "environment[2]: {\"name\":\"C\",\"value\":\"a=b\"} → (absent)"
        ]
    );
}

#[test]
fn diff_lines_name_containers_and_named_entries() {
    let old = json!({"containerDefinitions": [
        {"name": "app", "image": "a:1",
         "environment": [{"name": "PORT", "value": "80"}, {"name": "LOG_LEVEL", "value": "info"}],
         "secrets": [{"name": "DB", "valueFrom": "/test/db"}],
         "portMappings": [{"name": "http", "containerPort": 80}]},
        {"name": "sidecar", "image": "s:1", "portMappings": [{"containerPort": 9000}]}
    ]});
    // The containers swap places and LOG_LEVEL moves: by name, neither is a change.
    let new = json!({"containerDefinitions": [
        {"name": "sidecar", "image": "s:1", "portMappings": [{"containerPort": 9001}]},
        {"name": "app", "image": "a:2",
         "environment": [{"name": "LOG_LEVEL", "value": "debug"}, {"name": "PORT", "value": "80"},
                         {"name": "NEW", "value": "x", "extra": 1}],
         "secrets": [{"name": "API", "valueFrom": "/staging/api"}],
         "portMappings": [{"name": "http", "containerPort": 8080}]},
        {"name": "worker", "image": "w:1"}
    ]});
    assert_eq!(
        ecs_oidc_deploy::rules::task_def::diff_lines(&old, &new),
        vec![
            r#"app: image: "a:1" → "a:2""#,
            r#"app: environment LOG_LEVEL: "info" → "debug""#,
            r#"app: environment NEW: (absent) → {"name":"NEW","value":"x","extra":1}"#,
            r#"app: secrets DB: "/test/db" → (absent)"#,
            r#"app: secrets API: (absent) → "/staging/api""#,
            r#"app: portMappings http.containerPort: 80 → 8080"#,
            // Unnamed port mappings keep their JSON path below the container's name.
            r#"sidecar: portMappings[0].containerPort: 9000 → 9001"#,
            r#"containerDefinitions worker: (absent) → {"name":"worker","image":"w:1"}"#,
        ]
    );
    assert_eq!(
        changed_paths(&old, &new)[..2],
        ["app: image", "app: environment LOG_LEVEL"]
    );
    // Containers without names, or sharing one, are compared by position.
    let old = json!({"containerDefinitions": [{"image": "a:1"}]});
    let new = json!({"containerDefinitions": [{"image": "a:2"}]});
    assert_eq!(
        changed_paths(&old, &new),
        vec!["containerDefinitions[0].image"]
    );
}
