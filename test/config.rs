//! Variables → Config: every rule, and every problem reported at once by variable name.

use ecs_oidc_deploy::config::{Auth, Config, session_name};
use ecs_oidc_deploy::error::{EXIT_NOTHING_CHANGED, Error};

const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";
const IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:8f3a2c1";

fn base() -> Vec<(String, String)> {
    [
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_OIDC_ROLE_ARN", ROLE),
        ("BITBUCKET_STEP_OIDC_TOKEN", "header.payload.signature"),
        ("BITBUCKET_REPO_SLUG", "web-app"),
        ("BITBUCKET_BUILD_NUMBER", "42"),
        ("CLUSTER_NAME", "prod"),
        ("SERVICE_NAME", "web"),
        ("IMAGE", IMAGE),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect()
}

fn with(changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars = base();
    for (k, v) in changes {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).to_string(), (*v).to_string()));
    }
    vars
}

fn without(names: &[&str]) -> Vec<(String, String)> {
    base()
        .into_iter()
        .filter(|(k, _)| !names.contains(&k.as_str()))
        .collect()
}

fn problems(vars: Vec<(String, String)>) -> Vec<String> {
    match Config::from_vars(vars) {
        Err(Error::Config(problems)) => problems.iter().map(ToString::to_string).collect(),
        Err(other) => panic!("expected config problems, got {other}"),
        Ok(_) => panic!("expected config problems, got a valid config"),
    }
}

#[test]
fn the_readme_example_is_valid_and_uses_oidc_with_defaults() {
    let config = Config::from_vars(base()).expect("valid");
    assert_eq!(config.target.region, "eu-west-1");
    assert_eq!(config.target.cluster, "prod");
    assert!(
        config.change.verify_image
            && config.wait.enabled
            && !config.change.force_new_deployment
            && !config.debug
    );
    assert_eq!(config.wait.timeout.as_secs(), 1800);
    assert_eq!(config.wait.interval.as_secs(), 5);
    match config.credentials.auth {
        Auth::Oidc {
            role_arn,
            session_name,
            duration_seconds,
            ..
        } => {
            assert_eq!(role_arn, ROLE);
            assert_eq!(session_name, "bitbucket-web-app-42");
            assert_eq!(duration_seconds, 3600);
        }
        Auth::StaticKeys { .. } => panic!("expected OIDC"),
    }
}

#[test]
fn every_problem_is_reported_at_once_naming_its_variable() {
    let found = problems(with(&[
        ("AWS_DEFAULT_REGION", "Ireland"),
        ("CLUSTER_NAME", ""),
        ("WAIT", "yes"),
        ("WAIT_TIMEOUT", "15m"),
        ("DESIRED_COUNT", "-1"),
        ("IMAGE", "Web App:1"),
        ("VERIFY_IMAGE", "nope"),
    ]));
    let expect = [
        "AWS_DEFAULT_REGION must be a region code",
        "CLUSTER_NAME is required",
        "WAIT must be true or false, got \"yes\"",
        "WAIT_TIMEOUT must be whole seconds",
        "DESIRED_COUNT must be a whole number",
        "IMAGE must not contain spaces",
        "VERIFY_IMAGE must be true or false",
    ];
    for e in expect {
        assert!(
            found.iter().any(|p| p.starts_with(e)),
            "missing {e:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn booleans_accept_any_case_and_nothing_else() {
    let config = Config::from_vars(with(&[("WAIT", "FALSE"), ("FORCE_NEW_DEPLOYMENT", "True")]))
        .expect("valid");
    assert!(!config.wait.enabled && config.change.force_new_deployment);
    for bad in ["1", "yes", "on", "tru"] {
        let found = problems(with(&[("DEBUG", bad)]));
        assert_eq!(
            found,
            vec![format!("DEBUG must be true or false, got {bad:?}")]
        );
    }
}

#[test]
fn blank_values_count_as_missing() {
    let config =
        Config::from_vars(with(&[("WAIT_TIMEOUT", "  "), ("CONTAINER_NAME", "")])).expect("valid");
    assert_eq!(config.wait.timeout.as_secs(), 1800);
    assert_eq!(config.change.container, None);
}

#[test]
fn role_without_token_says_to_add_oidc_true_and_never_falls_back_to_keys() {
    let mut vars = without(&["BITBUCKET_STEP_OIDC_TOKEN"]);
    vars.push(("AWS_ACCESS_KEY_ID".into(), "AKIAEXAMPLE".into()));
    vars.push(("AWS_SECRET_ACCESS_KEY".into(), "secret".into()));
    let found = problems(vars);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("BITBUCKET_STEP_OIDC_TOKEN is missing"),
        "{found:?}"
    );
    assert!(found[0].contains("oidc: true"));
}

#[test]
fn no_credentials_at_all_is_a_configuration_error() {
    let found = problems(without(&["AWS_OIDC_ROLE_ARN", "BITBUCKET_STEP_OIDC_TOKEN"]));
    assert_eq!(found.len(), 1);
    assert!(
        found[0].contains("AWS_OIDC_ROLE_ARN") && found[0].contains("AWS_ACCESS_KEY_ID"),
        "{found:?}"
    );
}

#[test]
fn a_token_without_a_role_points_at_the_role_variable() {
    let found = problems(without(&["AWS_OIDC_ROLE_ARN"]));
    assert!(
        found[0].contains("this step has an OIDC token"),
        "{found:?}"
    );
}

#[test]
fn static_keys_are_used_only_without_a_role() {
    let mut vars = without(&["AWS_OIDC_ROLE_ARN", "BITBUCKET_STEP_OIDC_TOKEN"]);
    vars.push(("AWS_ACCESS_KEY_ID".into(), "AKIAEXAMPLE".into()));
    vars.push(("AWS_SECRET_ACCESS_KEY".into(), "wJalrXUtnFEMI".into()));
    let config = Config::from_vars(vars).expect("valid");
    assert!(matches!(config.credentials.auth, Auth::StaticKeys { .. }));

    let half = problems(
        with(&[("AWS_OIDC_ROLE_ARN", "")])
            .into_iter()
            .chain([("AWS_ACCESS_KEY_ID".to_string(), "AKIA".to_string())])
            .collect(),
    );
    assert!(
        half.iter()
            .any(|p| p.starts_with("AWS_SECRET_ACCESS_KEY is required")),
        "{half:?}"
    );

    let both = Config::from_vars(with(&[
        ("AWS_ACCESS_KEY_ID", "AKIA"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ]))
    .expect("valid");
    assert!(matches!(both.credentials.auth, Auth::Oidc { .. }));
    assert!(
        both.warnings.iter().any(|w| w.contains("ignored")),
        "{:?}",
        both.warnings
    );
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let config =
        Config::from_vars(with(&[("BITBUCKET_STEP_OIDC_TOKEN", "eyJTOPSECRET")])).expect("valid");
    let printed = format!("{config:?}");
    assert!(!printed.contains("eyJTOPSECRET"), "{printed}");
    assert!(printed.contains("(redacted)"));
}

#[test]
fn role_arn_session_name_and_duration_are_validated() {
    let found = problems(with(&[
        ("AWS_OIDC_ROLE_ARN", "deploy"),
        ("AWS_ROLE_SESSION_NAME", "has spaces in it"),
        ("AWS_ROLE_DURATION_SECONDS", "60"),
    ]));
    for e in [
        "AWS_OIDC_ROLE_ARN must be an IAM role ARN",
        "AWS_ROLE_SESSION_NAME must be 2 to 64",
        "AWS_ROLE_DURATION_SECONDS must be whole seconds between 900 and 43200",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(e)),
            "missing {e:?} in {found:#?}"
        );
    }
    let config = Config::from_vars(with(&[
        ("AWS_ROLE_SESSION_NAME", "release@team"),
        ("AWS_ROLE_DURATION_SECONDS", "900"),
    ]))
    .expect("valid");
    assert!(
        matches!(config.credentials.auth, Auth::Oidc { ref session_name, duration_seconds: 900, .. } if session_name == "release@team")
    );
    let gov = Config::from_vars(with(&[(
        "AWS_OIDC_ROLE_ARN",
        "arn:aws-us-gov:iam::123456789012:role/path/deploy",
    )]));
    assert!(gov.is_ok());
}

#[test]
fn session_names_are_always_valid_for_sts() {
    assert_eq!(
        session_name(Some("web-app"), Some("42")),
        "bitbucket-web-app-42"
    );
    assert_eq!(session_name(None, None), "bitbucket");
    assert_eq!(
        session_name(Some("weird slug/with:chars"), Some("7")),
        "bitbucket-weird-slug-with-chars-7"
    );
    let long = "a".repeat(100);
    let name = session_name(Some(&long), Some("123456"));
    assert_eq!(name.len(), 64);
    assert!(
        name.ends_with("-123456"),
        "the build number survives truncation: {name}"
    );
    for name in [name, session_name(Some("ünïcode"), Some("1"))] {
        assert!((2..=64).contains(&name.len()));
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)),
            "{name}"
        );
    }
}

#[test]
fn region_from_either_variable_but_not_two_different_ones() {
    let mut vars = without(&["AWS_DEFAULT_REGION"]);
    vars.push(("AWS_REGION".into(), "us-gov-west-1".into()));
    assert_eq!(
        Config::from_vars(vars).expect("valid").target.region,
        "us-gov-west-1"
    );
    let found = problems(with(&[("AWS_REGION", "us-east-1")]));
    assert!(found[0].contains("set only one"), "{found:?}");
    let found = problems(without(&["AWS_DEFAULT_REGION"]));
    assert!(found[0].starts_with("AWS_DEFAULT_REGION is required"));
}

#[test]
fn image_is_required_unless_a_file_or_a_forced_redeploy() {
    let found = problems(without(&["IMAGE"]));
    assert!(found[0].starts_with("IMAGE is required"), "{found:?}");
    let mut vars = without(&["IMAGE"]);
    vars.push(("FORCE_NEW_DEPLOYMENT".into(), "true".into()));
    assert!(
        Config::from_vars(vars)
            .expect("valid")
            .change
            .image
            .is_none()
    );
    let found = problems(with(&[
        ("IMAGE", ""),
        ("CONTAINER_NAME", "app"),
        ("FORCE_NEW_DEPLOYMENT", "true"),
    ]));
    assert!(
        found[0].starts_with("CONTAINER_NAME is set but IMAGE is not"),
        "{found:?}"
    );
}

#[test]
fn cluster_and_service_accept_names_and_arns_only() {
    assert!(
        Config::from_vars(with(&[
            (
                "CLUSTER_NAME",
                "arn:aws:ecs:eu-west-1:123456789012:cluster/prod"
            ),
            (
                "SERVICE_NAME",
                "arn:aws:ecs:eu-west-1:123456789012:service/prod/web"
            ),
        ]))
        .is_ok()
    );
    let found = problems(with(&[
        ("CLUSTER_NAME", "prod cluster"),
        ("SERVICE_NAME", "arn:aws:iam::1:role/x"),
    ]));
    assert_eq!(found.len(), 2, "{found:#?}");
}

#[test]
fn wait_settings_have_bounds() {
    let found = problems(with(&[("WAIT_TIMEOUT", "0"), ("WAIT_INTERVAL", "0")]));
    assert_eq!(found.len(), 2, "{found:#?}");
    let config = Config::from_vars(with(&[("WAIT_INTERVAL", "0.2"), ("WAIT_TIMEOUT", "60")]))
        .expect("valid");
    assert_eq!(config.wait.interval.as_millis(), 200);
    let found = problems(with(&[("ROLLBACK_ON_FAILURE", "true"), ("WAIT", "false")]));
    assert!(
        found[0].starts_with("ROLLBACK_ON_FAILURE needs WAIT"),
        "{found:?}"
    );
}

#[test]
fn endpoints_must_be_urls_and_per_service_ones_win() {
    let config = Config::from_vars(with(&[
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:6000"),
    ]))
    .expect("valid");
    assert_eq!(
        config.credentials.endpoints.sts.as_deref(),
        Some("http://127.0.0.1:6000")
    );
    assert_eq!(
        config.credentials.endpoints.ecs.as_deref(),
        Some("http://127.0.0.1:5000")
    );
    let found = problems(with(&[("AWS_ENDPOINT_URL", "127.0.0.1:5000")]));
    assert!(found[0].starts_with("AWS_ENDPOINT_URL must be a URL"));
}

#[test]
fn task_definition_file_is_read_relative_to_the_clone_and_json_errors_have_a_position() {
    let dir = std::env::temp_dir().join(format!("ecs-oidc-deploy-config-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("ecs")).expect("temp dir");
    std::fs::write(
        dir.join("ecs/good.json"),
        r#"{"family": "web", "containerDefinitions": [{"name": "app"}]}"#,
    )
    .expect("write");
    std::fs::write(
        dir.join("ecs/bad.json"),
        "{\n  \"family\": \"web\",\n  oops\n}",
    )
    .expect("write");
    let clone = dir.to_string_lossy().to_string();

    let config = Config::from_vars(with(&[
        ("BITBUCKET_CLONE_DIR", &clone),
        ("TASK_DEFINITION", "ecs/good.json"),
    ]))
    .expect("valid");
    assert_eq!(
        config.change.task_definition_file.expect("file").json["family"],
        "web"
    );

    let found = problems(with(&[
        ("BITBUCKET_CLONE_DIR", &clone),
        ("TASK_DEFINITION", "ecs/bad.json"),
    ]));
    assert!(found[0].contains("line 3 column 3"), "{found:?}");
    let found = problems(with(&[
        ("BITBUCKET_CLONE_DIR", &clone),
        ("TASK_DEFINITION", "ecs/missing.json"),
    ]));
    assert!(
        found[0].starts_with("TASK_DEFINITION could not read"),
        "{found:?}"
    );
    // A file alone is enough: IMAGE is optional then.
    let mut vars = without(&["IMAGE"]);
    vars.extend([
        ("BITBUCKET_CLONE_DIR".to_string(), clone),
        ("TASK_DEFINITION".to_string(), "ecs/good.json".to_string()),
    ]);
    assert!(Config::from_vars(vars).is_ok());
}

#[test]
fn configuration_errors_exit_with_the_nothing_changed_code() {
    let err = Config::from_vars(without(&["CLUSTER_NAME", "SERVICE_NAME"])).expect_err("invalid");
    assert_eq!(err.exit_code(), EXIT_NOTHING_CHANGED);
    assert_eq!(
        err.to_string(),
        "2 pipe variables need fixing; nothing was changed in AWS"
    );
}

#[test]
fn a_deprecated_name_still_works_with_a_warning_naming_its_replacement() {
    let mut vars = without(&["IMAGE"]);
    vars.push(("IMAGE_NAME".into(), IMAGE.into()));
    let config = Config::from_vars(vars).expect("valid");
    assert_eq!(config.change.image.expect("image").full, IMAGE);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("IMAGE_NAME is deprecated")
                && w.contains("rename it to IMAGE")
                && w.contains("2.0.0")),
        "{:?}",
        config.warnings
    );
    let found = problems(with(&[("IMAGE_NAME", "nginx:1")]));
    assert!(
        found[0].starts_with("IMAGE_NAME is deprecated and differs from IMAGE"),
        "{found:?}"
    );
    let same = Config::from_vars(with(&[("IMAGE_NAME", IMAGE)])).expect("valid");
    assert!(same.warnings.iter().any(|w| w.contains("remove it")));
}

#[test]
fn list_variables_are_read_from_their_bitbucket_form() {
    let config = Config::from_vars(with(&[
        ("IMAGE", ""),
        ("CONTAINER_IMAGES_COUNT", "2"),
        ("CONTAINER_IMAGES_0", "app=nginx:1=odd-but-valid-tag"),
        ("CONTAINER_IMAGES_1", "worker=nginx:1.27"),
        ("TAGS", "team=payments"),
    ]));
    // The first image has '=' in its tag, which the tag rules refuse: split at the first '=' only.
    let Err(Error::Config(found)) = config else {
        panic!("expected a problem with the odd tag")
    };
    assert!(
        found[0].to_string().contains("image of container \"app\""),
        "{found:?}"
    );

    let config = Config::from_vars(with(&[
        ("IMAGE", ""),
        ("CONTAINER_IMAGES_COUNT", "2"),
        ("CONTAINER_IMAGES_0", "app=nginx:1.27"),
        ("CONTAINER_IMAGES_1", "worker=ghcr.io/acme/worker:v2"),
        ("TAGS", "team=payments"),
    ]))
    .expect("valid");
    let pairs: Vec<(&str, &str)> = config
        .change
        .container_images
        .iter()
        .map(|(c, i)| (c.as_str(), i.full.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![("app", "nginx:1.27"), ("worker", "ghcr.io/acme/worker:v2")]
    );
    assert_eq!(
        config.change.tags,
        vec![("team".to_string(), "payments".to_string())]
    );

    let found = problems(with(&[
        ("TAGS_COUNT", "3"),
        ("TAGS_0", "a=b"),
        ("TAGS_2", "novalue"),
    ]));
    assert!(
        found.iter().any(|p| p.starts_with("TAGS_1 is missing")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("items must look like team=payments")),
        "{found:?}"
    );
    let found = problems(with(&[("TAGS_COUNT", "two")]));
    assert!(found[0].starts_with("TAGS_COUNT must be a number"));
    let found = problems(with(&[("TAGS", "bitbucket:commit=x")]));
    assert!(found[0].contains("reserved prefix"), "{found:?}");
    let found = problems(with(&[("CONTAINER_IMAGES", "app=nginx:1")]));
    assert!(
        found[0].starts_with("CONTAINER_IMAGES cannot be combined with IMAGE"),
        "{found:?}"
    );
}

#[test]
fn new_switches_are_validated() {
    let found = problems(with(&[
        ("KEEP_REVISIONS", "0"),
        ("DRY_RUN", "maybe"),
        ("IAM_TRUST_SCOPE", "org"),
        ("TAG_SERVICE", "1"),
    ]));
    assert_eq!(found.len(), 4, "{found:#?}");
    let found = problems(with(&[("KEEP_REVISIONS", "5"), ("WAIT", "false")]));
    assert!(
        found[0].starts_with("KEEP_REVISIONS needs WAIT"),
        "{found:?}"
    );
    let config = Config::from_vars(with(&[
        ("KEEP_REVISIONS", "5"),
        ("DRY_RUN", "true"),
        ("BITBUCKET_PIPE_SHARED_STORAGE_DIR", "/tmp/shared"),
    ]))
    .expect("valid");
    assert_eq!(config.after.keep_revisions, Some(5));
    assert!(config.dry_run);
    assert_eq!(
        config.after.outputs_dir,
        Some(std::path::PathBuf::from("/tmp/shared/ecs-oidc-deploy"))
    );
}

#[test]
fn service_names_is_a_list_and_excludes_service_name() {
    let several = |items: &[&str]| {
        let mut vars = without(&["SERVICE_NAME"]);
        vars.push(("SERVICE_NAMES_COUNT".into(), items.len().to_string()));
        for (i, item) in items.iter().enumerate() {
            vars.push((format!("SERVICE_NAMES_{i}"), (*item).to_string()));
        }
        vars
    };
    let config = Config::from_vars(several(&["web", "worker"])).expect("valid");
    assert_eq!(config.target.services, vec!["web", "worker"]);
    let config = Config::from_vars(base()).expect("valid");
    assert_eq!(config.target.services, vec!["web"]);

    let mut both = several(&["web"]);
    both.push(("SERVICE_NAME".into(), "web".into()));
    assert_eq!(
        problems(both),
        vec![
            "SERVICE_NAMES cannot be combined with SERVICE_NAME; list every service in SERVICE_NAMES, or set SERVICE_NAME for one service"
        ]
    );
    assert_eq!(
        problems(without(&["SERVICE_NAME"])),
        vec![
            "SERVICE_NAME is required: the ECS service name or ARN, such as web (or SERVICE_NAMES: ['web', 'worker'] for several services)"
        ]
    );
    let p = problems(several(&[
        "web",
        "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
        "web, worker",
        "bad!",
    ]));
    assert_eq!(
        p,
        vec![
            "SERVICE_NAMES names service \"web\" twice",
            "SERVICE_NAMES must be a YAML list such as ['web', 'worker'], one service per item, got \"web, worker\"",
            "SERVICE_NAMES must be the service name (letters, digits, '-' and '_') or its ARN, got \"bad!\"",
        ]
    );
    let mut gap = several(&["web", "worker"]);
    gap.retain(|(k, _)| k != "SERVICE_NAMES_1");
    assert_eq!(
        problems(gap),
        vec!["SERVICE_NAMES_1 is missing or empty, but SERVICE_NAMES_COUNT is 2"]
    );
}

#[test]
fn per_environment_settings_are_read_and_may_stand_without_an_image() {
    let config = Config::from_vars(with(&[
        ("CONTAINER_ENVIRONMENT_COUNT", "2"),
        ("CONTAINER_ENVIRONMENT_0", "LOG_LEVEL=info"),
        (
            "CONTAINER_ENVIRONMENT_1",
            "URL=postgres://db?sslmode=require",
        ),
        ("CONTAINER_SECRETS", "DB_PASSWORD=/staging/db"),
        ("TASK_CPU", "512"),
        ("TASK_MEMORY", " 1024 "),
        ("TASK_ROLE_ARN", "web-task"),
        (
            "EXECUTION_ROLE_ARN",
            "arn:aws-us-gov:iam::123456789012:role/ops/exec",
        ),
    ]))
    .expect("valid");
    let o = &config.change.overrides;
    assert_eq!(
        o.environment,
        [
            ("LOG_LEVEL".to_string(), "info".to_string()),
            (
                "URL".to_string(),
                "postgres://db?sslmode=require".to_string()
            )
        ]
    );
    assert_eq!(
        o.secrets,
        [("DB_PASSWORD".to_string(), "/staging/db".to_string())]
    );
    assert_eq!(
        (o.cpu.as_deref(), o.memory.as_deref()),
        (Some("512"), Some("1024"))
    );
    assert_eq!(
        o.roles(),
        ["web-task", "arn:aws-us-gov:iam::123456789012:role/ops/exec"]
    );
    assert!(
        Config::from_vars(base())
            .expect("valid")
            .change
            .overrides
            .is_empty(),
        "nothing set, nothing changes"
    );

    // A setting alone is a deploy: a new revision of the current one.
    let mut vars = without(&["IMAGE"]);
    vars.push(("TASK_MEMORY".into(), "2048".into()));
    Config::from_vars(vars).expect("no IMAGE needed");
    // CONTAINER_NAME chooses the container of CONTAINER_ENVIRONMENT without IMAGE too.
    let mut vars = without(&["IMAGE"]);
    vars.push(("CONTAINER_ENVIRONMENT".into(), "A=1".into()));
    vars.push(("CONTAINER_NAME".into(), "app".into()));
    let config = Config::from_vars(vars).expect("valid");
    assert_eq!(config.change.container.as_deref(), Some("app"));
    // A bad setting is not also reported as a missing IMAGE.
    let mut vars = without(&["IMAGE"]);
    vars.push(("TASK_CPU".into(), "lots".into()));
    assert_eq!(
        problems(vars),
        [
            "TASK_CPU must be whole CPU units from 128 to 196608, such as 512 (1024 is 1 vCPU), got \"lots\""
        ]
    );
}

#[test]
fn a_file_with_unset_placeholders_is_reported_with_every_other_problem() {
    let dir = std::env::temp_dir().join(format!("per-env-config-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("ecs")).expect("dir");
    std::fs::write(
        dir.join("ecs/web.json"),
        r#"{"family": "${FAMILY}", "containerDefinitions": [{"name": "web", "image": "${IMAGE_REPO}:1"}]}"#,
    )
    .expect("write");
    let clone = dir.to_string_lossy().into_owned();
    let found = problems(with(&[
        ("BITBUCKET_CLONE_DIR", &clone),
        ("TASK_DEFINITION", "ecs/web.json"),
        ("TASK_DEFINITION_TEMPLATE", "true"),
        ("IMAGE", ""),
        ("WAIT", "maybe"),
        ("FAMILY", "web"),
    ]));
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found.iter().any(|p| p.starts_with(
        "IMAGE_REPO is unset or empty, but TASK_DEFINITION ecs/web.json uses ${IMAGE_REPO} at containerDefinitions[0].image"
    )));
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("WAIT must be true or false"))
    );
    assert!(
        !found.iter().any(|p| p.starts_with("IMAGE is required")),
        "the file was given: {found:#?}"
    );
    let config = Config::from_vars(with(&[
        ("BITBUCKET_CLONE_DIR", &clone),
        ("TASK_DEFINITION", "ecs/web.json"),
        ("TASK_DEFINITION_TEMPLATE", "true"),
        ("FAMILY", "web"),
        ("IMAGE_REPO", "nginx"),
    ]))
    .expect("filled");
    let file = config.change.task_definition_file.expect("file");
    assert_eq!(file.json["family"], "web");
    assert_eq!(file.json["containerDefinitions"][0]["image"], "nginx:1");
    assert_eq!(file.placeholders, ["FAMILY", "IMAGE_REPO"]);
    // Without TASK_DEFINITION_TEMPLATE the file is kept as written (1.0), unset names and
    // all; one warning names the placeholders whose variable is set.
    let config = Config::from_vars(with(&[
        ("BITBUCKET_CLONE_DIR", &clone),
        ("TASK_DEFINITION", "ecs/web.json"),
        ("FAMILY", "web"),
    ]))
    .expect("1.0 file");
    let file = config.change.task_definition_file.expect("file");
    assert_eq!(file.json["family"], "${FAMILY}");
    assert_eq!(
        file.json["containerDefinitions"][0]["image"],
        "${IMAGE_REPO}:1"
    );
    assert!(file.placeholders.is_empty());
    assert_eq!(
        config.warnings,
        [
            "TASK_DEFINITION ecs/web.json is used as written, with ${FAMILY}; that variable is set, and TASK_DEFINITION_TEMPLATE: 'true' would fill it in"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
