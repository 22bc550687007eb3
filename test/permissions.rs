//! "Permissions" failures explain themselves, the printed policies are complete, and no
//! secret is ever printed on any of these paths.

use serde_json::{Value, json};

use crate::support::ecs_fake::deploy_nginx;
use crate::support::ecs_fake::{EcsFake, NEW_TD, OLD_TD, completed};
use crate::support::fake::{Fake, Resp};
use crate::support::pipe::{Outcome, Pipe, assert_no_secrets};
use crate::support::snapshot::assert_snapshot;
use crate::support::token;

const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";

fn pipe(endpoint: &str) -> Pipe {
    deploy_nginx(endpoint).env("AWS_OIDC_ROLE_ARN", ROLE)
}

fn token_of(p: &Pipe) -> String {
    p.get_env("BITBUCKET_STEP_OIDC_TOKEN")
        .expect("token")
        .to_string()
}

fn sts_failing(code: &str, message: &str, times: u32) -> EcsFake {
    let mut script = completed();
    script.sts_error = Some((400, code.to_string(), message.to_string()));
    script.sts_failures = times;
    EcsFake::start(script)
}

#[test]
fn access_denied_by_the_trust_policy_shows_the_claims_and_matching_conditions() {
    let fake = sts_failing(
        "AccessDenied",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        u32::MAX,
    );
    let p = pipe(&fake.endpoint());
    let out = p.run();
    out.assert_code(2);
    let issuer = "api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc";
    out.assert_contains(&format!(
        "StringLike   {issuer}:sub = {}:*   (every step of the repository)",
        token::REPO_UUID
    ));
    out.assert_contains(&format!(
        "StringLike   {issuer}:sub = {}:{}:*   (only this deployment environment)",
        token::REPO_UUID,
        token::ENV_UUID
    ));
    out.assert_contains(&format!("StringEquals {issuer}:aud = {}", token::AUDIENCE));
    out.assert_contains(&format!(
        "Principal.Federated = arn:aws:iam::123456789012:oidc-provider/{issuer}"
    ));
    out.assert_contains("usual causes: braces missing");
    assert_eq!(fake.sts_calls(), 1, "a denial is not retried");
    assert!(
        fake.operations()
            .iter()
            .all(|o| o == "AssumeRoleWithWebIdentity"),
        "nothing else was called"
    );
    assert_no_secrets(&out, &[&token_of(&p)]);
    assert_snapshot("sts_access_denied", &out.stderr);
}

#[test]
fn each_sts_error_gets_its_own_fix() {
    let cases = [
        (
            "InvalidIdentityToken",
            "Incorrect token audience",
            "the IAM OIDC identity provider for this workspace is missing, or its audience differs",
        ),
        (
            "ExpiredTokenException",
            "Token expired: current date/time 1764150000 must be before the expiration date/time 1764149000",
            "expired before the pipe ran",
        ),
        (
            "IDPRejectedClaim",
            "Claim rejected",
            "the identity provider rejected a claim",
        ),
        (
            "RegionDisabledException",
            "STS is not activated in this region for account:123456789012",
            "activate it in IAM > Account settings",
        ),
    ];
    for (code, message, fix) in cases {
        let fake = sts_failing(code, message, u32::MAX);
        let p = pipe(&fake.endpoint()).env("DEBUG", "true");
        let out = p.run();
        out.assert_code(2)
            .assert_contains(fix)
            .assert_contains(code)
            .assert_contains("nothing was changed in AWS");
        assert_eq!(fake.sts_calls(), 1, "{code} is not retried");
        assert_no_secrets(&out, &[&token_of(&p)]);
    }
}

#[test]
fn idp_communication_errors_are_retried_a_few_times_then_explained() {
    let fake = sts_failing(
        "IDPCommunicationError",
        "Couldn't retrieve verification key from your identity provider",
        2,
    );
    pipe(&fake.endpoint()).run().assert_success();
    assert_eq!(fake.sts_calls(), 3, "two failures, then success");

    let fake = sts_failing(
        "IDPCommunicationError",
        "Couldn't retrieve verification key from your identity provider",
        u32::MAX,
    );
    let out = pipe(&fake.endpoint()).run();
    out.assert_code(2)
        .assert_contains("STS could not reach Bitbucket after 5 attempts");
    assert_eq!(
        fake.sts_calls(),
        5,
        "retried by the SDK's bounded retry, then explained"
    );
}

#[test]
fn an_expired_or_malformed_token_is_refused_before_calling_sts() {
    let fake =
        Fake::from_fn(|_| Resp::aws_json_error(500, "InternalFailure", "must not be called"));
    let out = pipe(&fake.endpoint())
        .oidc_token(json!({"exp": 1_700_000_000}))
        .run();
    out.assert_code(2)
        .assert_contains("the step's OIDC token expired");
    let out = pipe(&fake.endpoint())
        .env("BITBUCKET_STEP_OIDC_TOKEN", "not-a-jwt")
        .run();
    out.assert_code(2)
        .assert_contains("BITBUCKET_STEP_OIDC_TOKEN is not a JWT")
        .assert_contains("if a repository, workspace or deployment variable");
    assert_no_secrets(&out, &["not-a-jwt"]);
    assert!(fake.requests().is_empty());
}

#[test]
fn pass_role_denied_on_register_names_the_missing_statement() {
    let mut script = completed();
    script.deny = Some((
        "RegisterTaskDefinition".into(),
        "User: arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-42 is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/ecsTaskExecutionRole because no identity-based policy allows the iam:PassRole action".into(),
    ));
    let fake = EcsFake::start(script);
    let out = pipe(&fake.endpoint()).run();
    out.assert_code(2);
    out.assert_contains("AWS refused iam:PassRole on arn:aws:iam::123456789012:role/ecsTaskExecutionRole for arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-42");
    out.assert_contains("with the condition iam:PassedToService = ecs-tasks.amazonaws.com");
    out.assert_contains("--print-iam-policy");
    assert!(
        out.stderr
            .lines()
            .last()
            .unwrap_or_default()
            .ends_with("nothing was changed in AWS"),
        "{}",
        out.describe()
    );
    assert_eq!(fake.updates(), 0);
    assert_snapshot("ecs_pass_role_denied", &out.stderr);
}

#[test]
fn update_denied_after_register_says_which_revision_is_unused() {
    let mut script = completed();
    script.deny = Some((
        "UpdateService".into(),
        "User: arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-42 is not authorized to perform: ecs:UpdateService on resource: arn:aws:ecs:eu-west-1:123456789012:service/prod/web because no identity-based policy allows the ecs:UpdateService action".into(),
    ));
    let fake = EcsFake::start(script);
    let p = pipe(&fake.endpoint()).env("DEBUG", "true");
    let out = p.run();
    out.assert_code(2);
    assert_no_secrets(
        &out,
        &[&token_of(&p), "fakeSecretKey/1/", "FakeSessionToken1"],
    );
    out.assert_contains("add a statement allowing ecs:UpdateService on arn:aws:ecs:eu-west-1:123456789012:service/prod/web");
    out.assert_contains(&format!(
        "registered {NEW_TD}, but the service was not updated and still runs its previous revision"
    ));
}

fn policies(out: &Outcome) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", out.describe()))
}

fn statement<'a>(doc: &'a Value, sid: &str) -> Option<&'a Value> {
    doc["permissionPolicy"]["Statement"]
        .as_array()
        .and_then(|s| s.iter().find(|st| st["Sid"] == sid))
}

#[test]
fn print_iam_policy_makes_no_call_and_prints_both_policies() {
    let fake =
        Fake::from_fn(|_| Resp::aws_json_error(500, "InternalFailure", "must not be called"));
    let p = pipe(&fake.endpoint()).env(
        "IMAGE",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:v2",
    );
    let mut cmd = p.command();
    let output = cmd.arg("--print-iam-policy").output().expect("run");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert!(fake.requests().is_empty(), "no AWS call");
    let issuer = "api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc";
    let trust = &doc["trustPolicy"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["Federated"],
        json!(format!("arn:aws:iam::123456789012:oidc-provider/{issuer}"))
    );
    assert_eq!(
        trust["Condition"]["StringLike"][format!("{issuer}:sub")],
        json!(format!("{}:*", token::REPO_UUID))
    );
    assert_eq!(
        trust["Condition"]["StringEquals"][format!("{issuer}:aud")],
        json!(token::AUDIENCE)
    );
    assert_eq!(
        statement(&doc, "ReadAndUpdateTheService").expect("service")["Resource"],
        json!("arn:aws:ecs:eu-west-1:123456789012:service/prod/web")
    );
    assert_eq!(
        statement(&doc, "CheckTheImageExists").expect("ecr")["Resource"],
        json!(["arn:aws:ecr:eu-west-1:123456789012:repository/web"])
    );
    assert!(
        statement(&doc, "TagTheService").is_none()
            && statement(&doc, "CleanUpOldRevisions").is_none(),
        "only enabled features"
    );

    // The same through the pipe variable, with more features and an environment-scoped trust.
    let out = p
        .clone()
        .env("PRINT_IAM_POLICY", "true")
        .env("TAG_SERVICE", "true")
        .env("KEEP_REVISIONS", "5")
        .env("IAM_TRUST_SCOPE", "environment")
        .env("VERIFY_IMAGE", "false")
        .run();
    out.assert_success();
    let doc = policies(&out);
    assert!(
        statement(&doc, "TagTheService").is_some()
            && statement(&doc, "CleanUpOldRevisions").is_some()
    );
    assert!(
        statement(&doc, "CheckTheImageExists").is_none(),
        "VERIFY_IMAGE false needs no ECR read"
    );
    let sub =
        &doc["trustPolicy"]["Statement"][0]["Condition"]["StringLike"][format!("{issuer}:sub")];
    assert_eq!(
        sub,
        &json!(format!("{}:{}:*", token::REPO_UUID, token::ENV_UUID))
    );
    assert!(fake.requests().is_empty());
    assert_no_secrets(&out, &[&token_of(&p)]);
}

#[test]
fn print_iam_policy_reads_the_roles_from_a_task_definition_file_and_needs_no_token() {
    let p = pipe("http://127.0.0.1:9")
        .remove("BITBUCKET_STEP_OIDC_TOKEN")
        .env("PRINT_IAM_POLICY", "true")
        .env("TASK_DEFINITION", "ecs/api.json");
    p.write_file(
        "ecs/api.json",
        r#"{"family": "api", "taskRoleArn": "arn:aws:iam::123456789012:role/api-task", "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole", "containerDefinitions": [{"name": "api", "image": "x", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/api", "awslogs-stream-prefix": "ecs"}}}]}"#,
    );
    let out = p.run();
    out.assert_success();
    let doc = policies(&out);
    let pass = statement(&doc, "PassTheTaskRoles").expect("PassRole");
    assert_eq!(
        pass["Resource"],
        json!([
            "arn:aws:iam::123456789012:role/api-task",
            "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
        ])
    );
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"],
        json!("ecs-tasks.amazonaws.com")
    );
    assert_eq!(
        statement(&doc, "TagNewRevisions").expect("tag")["Resource"],
        json!("arn:aws:ecs:eu-west-1:123456789012:task-definition/api:*")
    );
    let logs = statement(&doc, "OptionalShowLogsOfFailedTasks").expect("logs");
    assert_eq!(logs["Action"], json!("logs:GetLogEvents"));
    assert_eq!(
        logs["Resource"],
        json!(["arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/api:*"])
    );
    out.assert_contains("OptionalShowLogsOfFailedTasks (logs:GetLogEvents) is optional");
}

#[test]
fn user_tags_are_added_collisions_refused_and_the_service_tagged_on_request() {
    let fake = EcsFake::start(completed());
    let out = pipe(&fake.endpoint())
        .env("TAGS_COUNT", "2")
        .env("TAGS_0", "owner=platform")
        .env("TAGS_1", "tier=web")
        .env("TAG_SERVICE", "true")
        .run();
    out.assert_success()
        .assert_contains("tagged the service: bitbucket:commit=");
    let tags = &fake.registered()[0]["tags"];
    assert!(
        tags.as_array()
            .expect("tags")
            .contains(&json!({"key": "owner", "value": "platform"})),
        "{tags}"
    );
    let tagged = fake
        .fake
        .requests()
        .into_iter()
        .find(|r| r.operation().as_deref() == Some("TagResource"))
        .expect("TagResource");
    assert_eq!(
        tagged.json()["resourceArn"],
        json!("arn:aws:ecs:eu-west-1:123456789012:service/prod/web")
    );

    let fake = EcsFake::start(completed());
    let out = pipe(&fake.endpoint()).env("TAGS", "team=platform").run();
    out.assert_code(2).assert_contains(
        "TAGS would change tag \"team\" of web:41 from \"payments\" to \"platform\"",
    );
    assert!(fake.registered().is_empty());
    let _ = OLD_TD;
}
