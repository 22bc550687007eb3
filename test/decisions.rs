//! Small pure decisions: revision clean-up, outputs, claims, access-denied parsing, policies.

use std::collections::HashSet;

use ecs_oidc_deploy::config::Config;
use ecs_oidc_deploy::error::parse_denied;
use ecs_oidc_deploy::model::claims;
use ecs_oidc_deploy::rules::cleanup::to_deregister;
use ecs_oidc_deploy::rules::policy;
use ecs_oidc_deploy::steps::outputs::Record;
use serde_json::json;

fn arn(n: u32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:{n}")
}

#[test]
fn clean_up_keeps_the_newest_the_previous_the_current_and_everything_in_use() {
    let active: Vec<String> = (1..=8).map(arn).collect();
    let in_use: HashSet<String> = [arn(2), arn(5)].into_iter().collect();
    let doomed = to_deregister(&active, 3, &in_use, &arn(7), &arn(8));
    assert_eq!(doomed, vec![arn(4), arn(3), arn(1)]);
    // A previous revision older than the kept window survives too.
    assert_eq!(
        to_deregister(&active, 3, &HashSet::new(), &arn(1), &arn(8)),
        vec![arn(5), arn(4), arn(3), arn(2)]
    );
    assert!(to_deregister(&active, 10, &HashSet::new(), &arn(7), &arn(8)).is_empty());
}

#[test]
fn the_env_file_quotes_values_for_the_shell() {
    let record = Record {
        verdict: "failed".into(),
        message: "it's broken".into(),
        ..Record::default()
    };
    let env = record.to_env();
    assert!(
        env.contains("ECS_DEPLOY_MESSAGE='it'\\''s broken'\n"),
        "{env}"
    );
    assert_eq!(record.to_json()["verdict"], json!("failed"));
}

#[test]
fn claims_are_read_without_verifying_and_never_need_the_signature() {
    let payload = "eyJpc3MiOiJodHRwczovL2FwaS5iaXRidWNrZXQub3JnLzIuMC93b3Jrc3BhY2VzL2FjbWUvcGlwZWxpbmVzLWNvbmZpZy9pZGVudGl0eS9vaWRjIiwiYXVkIjpbImEiLCJiIl0sImV4cCI6MTAwfQ";
    let c = claims::decode(&format!("h.{payload}.s")).expect("claims");
    assert_eq!(c.audiences(), vec!["a", "b"]);
    assert_eq!(c.seconds_left(40), Some(60));
    assert_eq!(
        c.condition_prefix().as_deref(),
        Some("api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc")
    );
    assert!(claims::decode("only.two").is_err());
    assert!(claims::decode("a.!!!.c").is_err());
    let explained = c
        .explain_access_denied("arn:aws:iam::123456789012:role/deploy")
        .join("\n");
    assert!(
        explained.contains("this step has no `deployment:`"),
        "{explained}"
    );
}

#[test]
fn claims_payload_may_be_padded_or_in_the_standard_alphabet() {
    // {"sub":"??>>"} encodes to both extra symbols of either alphabet.
    for payload in [
        "eyJzdWIiOiI_Pz4-In0",
        "eyJzdWIiOiI_Pz4-In0=",
        "eyJzdWIiOiI/Pz4+In0",
        "eyJzdWIiOiI/Pz4+In0=",
    ] {
        let c = claims::decode(&format!("h.{payload}.s")).expect(payload);
        assert_eq!(c.sub.as_deref(), Some("??>>"), "{payload}");
    }
    assert_eq!(
        claims::decode("h.!!!.s").expect_err("not base64"),
        "has a payload that is not base64url"
    );
    // `{} ` and one symbol more: a single symbol left over is not base64.
    assert_eq!(
        claims::decode("h.e30gA.s").expect_err("truncated"),
        "has a payload that is not base64url"
    );
    let not_json = claims::decode("h.bm90IGpzb24.s").expect_err("not JSON");
    assert!(
        not_json.starts_with("has a payload that is not JSON claims ("),
        "{not_json}"
    );
}

#[test]
fn access_denied_messages_are_split_into_who_what_and_where() {
    let d = parse_denied("User: arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-42 is not authorized to perform: ecs:UpdateService on resource: arn:aws:ecs:eu-west-1:123456789012:service/prod/web because no identity-based policy allows the ecs:UpdateService action").expect("parsed");
    assert_eq!(
        d.identity.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-42")
    );
    assert_eq!(d.action.as_deref(), Some("ecs:UpdateService"));
    assert_eq!(
        d.resource.as_deref(),
        Some("arn:aws:ecs:eu-west-1:123456789012:service/prod/web")
    );
    assert_eq!(
        d.reason.as_deref(),
        Some("no identity-based policy allows the ecs:UpdateService action")
    );
    let short = parse_denied("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:DescribeServices").expect("parsed");
    assert_eq!(
        (short.action.as_deref(), short.resource),
        (Some("ecs:DescribeServices"), None)
    );
    assert!(parse_denied("Rate exceeded").is_none());
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = [
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_OIDC_ROLE_ARN", "arn:aws:iam::210987654321:role/deploy"),
        ("PRINT_IAM_POLICY", "true"),
        ("CLUSTER_NAME", "prod"),
        ("SERVICE_NAME", "api"),
        (
            "IMAGE",
            "210987654321.dkr.ecr.eu-central-1.amazonaws.com/api:v1",
        ),
        ("BITBUCKET_WORKSPACE", "acme"),
        ("BITBUCKET_WORKSPACE_UUID", "{6d1f}"),
        ("BITBUCKET_REPO_UUID", "{9a0e}"),
        ("BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID", "{c3d8}"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    Config::from_vars(vars).expect("valid without a token in print mode")
}

#[test]
fn policies_follow_the_inputs() {
    let p = policy::build(&config(&[]), None, None);
    let text = p.permissions.to_string();
    assert!(
        text.contains("arn:aws:ecs:eu-west-1:210987654321:service/prod/api"),
        "{text}"
    );
    assert!(
        text.contains("arn:aws:ecr:eu-central-1:210987654321:repository/api"),
        "the image's own region and account"
    );
    assert!(!text.contains("ecs:DeregisterTaskDefinition") && !text.contains("TagTheService"));
    assert!(
        p.notes.iter().any(|n| n.contains("<TASK_ROLE>")),
        "{:?}",
        p.notes
    );
    let trust = p.trust.to_string();
    assert!(trust.contains(
        "oidc-provider/api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc"
    ));
    assert!(
        trust.contains("\"ari:cloud:bitbucket::workspace/6d1f\""),
        "audience without braces: {trust}"
    );
    assert!(trust.contains("\"{9a0e}:*\""), "{trust}");

    let p = policy::build(
        &config(&[
            ("KEEP_REVISIONS", "3"),
            ("TAG_SERVICE", "true"),
            ("IAM_TRUST_SCOPE", "environment"),
            ("VERIFY_IMAGE", "false"),
        ]),
        None,
        None,
    );
    let text = p.permissions.to_string();
    assert!(
        text.contains("ecs:DeregisterTaskDefinition")
            && text.contains("TagTheService")
            && !text.contains("ecr:DescribeImages")
    );
    assert!(p.trust.to_string().contains("\"{9a0e}:{c3d8}:*\""));
}

#[test]
fn policies_cover_every_service_and_the_pre_deploy_task() {
    let p = policy::build(
        &config(&[
            ("SERVICE_NAME", ""),
            ("SERVICE_NAMES_COUNT", "2"),
            ("SERVICE_NAMES_0", "api"),
            ("SERVICE_NAMES_1", "worker"),
            ("PRE_DEPLOY_COMMAND", "bin/migrate"),
        ]),
        None,
        None,
    );
    let statement = |sid: &str| {
        p.permissions["Statement"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["Sid"] == sid))
            .cloned()
            .unwrap_or_else(|| panic!("no statement {sid}: {}", p.permissions))
    };
    assert_eq!(
        statement("ReadAndUpdateTheService")["Resource"],
        json!([
            "arn:aws:ecs:eu-west-1:210987654321:service/prod/api",
            "arn:aws:ecs:eu-west-1:210987654321:service/prod/worker"
        ])
    );
    let run = statement("RunThePreDeployCommand");
    assert_eq!(run["Action"], json!("ecs:RunTask"));
    assert_eq!(
        run["Resource"],
        json!([
            "arn:aws:ecs:eu-west-1:210987654321:task-definition/api:*",
            "arn:aws:ecs:eu-west-1:210987654321:task-definition/worker:*"
        ])
    );
    assert_eq!(
        run["Condition"]["ArnEquals"]["ecs:cluster"],
        json!("arn:aws:ecs:eu-west-1:210987654321:cluster/prod")
    );
    assert_eq!(
        statement("FollowAndStopThePreDeployTask")["Action"],
        json!(["ecs:DescribeTasks", "ecs:StopTask"])
    );
}

#[test]
fn throttled_calls_back_off_capped_and_jittered_within_the_deploys_time() {
    use ecs_oidc_deploy::steps::throttle::{MAX_PAUSE, MAX_WAIT, budget, pause};
    use std::time::Duration;
    assert_eq!(budget(Duration::from_secs(1800)), MAX_WAIT);
    assert_eq!(budget(Duration::from_secs(30)), Duration::from_secs(30));
    // Half the step, plus the jitter's share of the other half.
    assert_eq!(pause(0, 0.0), Duration::from_millis(250));
    assert_eq!(pause(0, 1.0), Duration::from_millis(500));
    assert_eq!(pause(2, 0.5), Duration::from_millis(1500));
    assert_eq!(pause(40, 1.0), MAX_PAUSE, "capped");
    assert_eq!(pause(40, 0.0), MAX_PAUSE / 2);
}

#[test]
fn throttling_is_the_sdks_throttling_codes_but_not_an_ecs_quota() {
    use ecs_oidc_deploy::error::AwsError;
    let with_code = |code: &str| {
        let mut err = AwsError::plain("ecs:RegisterTaskDefinition", "x");
        err.code = Some(code.into());
        err
    };
    for code in [
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    ] {
        assert!(with_code(code).is_throttled(), "{code}");
    }
    for code in [
        "LimitExceededException",
        "ServerException",
        "AccessDeniedException",
    ] {
        assert!(!with_code(code).is_throttled(), "{code}");
    }
    let mut err = AwsError::plain("ecs:UpdateService", "x");
    err.status = Some(429);
    assert!(err.is_throttled());
}
