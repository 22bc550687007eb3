//! `--print-iam-policy`'s statements for `PREFLIGHT`: the read-only calls its checks make,
//! scoped to the secrets, parameters, log groups, roles and repositories a `TASK_DEFINITION`
//! file names, or to this account and region (with a note) otherwise. Pure.

use serde_json::{Value, json};

use crate::model::image::ImageRef;
use crate::rules::preflight::{self as rules, Needs, Target};

/// The prefix of the statements' Sids: all optional (without them, PREFLIGHT warns and goes on).
pub const PREFLIGHT_SID: &str = "OptionalPreflight";

/// What the policy builder knows: partition, account, region, the file's body if any, and the
/// roles `TASK_ROLE_ARN`/`EXECUTION_ROLE_ARN` name (as ARNs).
pub struct Known<'a> {
    /// `aws`, `aws-cn`, …
    pub partition: &'a str,
    /// The account id, or a placeholder.
    pub account: &'a str,
    /// The task's region.
    pub region: &'a str,
    /// The `TASK_DEFINITION` file's register-input body.
    pub task_definition: Option<Value>,
    /// The roles set by variables, as ARNs.
    pub roles: Vec<String>,
    /// `VERIFY_IMAGE`: with `false`, PREFLIGHT does not read ECR either.
    pub images: bool,
}

/// The statements, and the note that says they are optional and what to narrow.
pub fn statements(known: &Known<'_>, notes: &mut Vec<String>) -> Vec<Value> {
    let Known {
        partition: p,
        account: a,
        region: r,
        ..
    } = *known;
    let mut needs = Needs::default();
    if let Some(body) = &known.task_definition {
        rules::add_needs(&mut needs, body, "file", r, a);
    }
    let mut roles: Vec<String> = known.roles.clone();
    let (mut secrets, mut groups, mut repositories) = (Vec::new(), Vec::new(), Vec::new());
    for (target, _) in &needs.refs {
        match target {
            Target::Role { arn } => roles.push(arn.clone()),
            Target::Secret { id, .. } => secrets.push(full_secret_arn(id)),
            Target::LogGroup { region, .. } => {
                groups.push(format!("arn:{p}:logs:{region}:{a}:log-group:*"));
            }
            Target::Image { full } => {
                if let Some(e) = ImageRef::parse(full).ok().and_then(|i| i.ecr()) {
                    repositories.push(rules::repository_arn(
                        p,
                        &e.region,
                        &e.account,
                        &e.repository,
                    ));
                }
            }
            Target::Parameter { .. } => {}
        }
    }
    if known.task_definition.is_none() {
        notes.push(format!("replace <SECRET> (and <REPOSITORY>) in the {PREFLIGHT_SID}* statements with the secrets and ECR repositories of the task definition (or set TASK_DEFINITION to fill them in)"));
        if roles.is_empty() {
            roles.push(format!("arn:{p}:iam::{a}:role/<TASK_ROLE>"));
            roles.push(format!("arn:{p}:iam::{a}:role/<EXECUTION_ROLE>"));
        }
        secrets.push(format!(
            "arn:{p}:secretsmanager:{r}:{a}:secret:<SECRET>-??????"
        ));
        groups.push(format!("arn:{p}:logs:{r}:{a}:log-group:*"));
        repositories.push(format!("arn:{p}:ecr:{r}:{a}:repository/<REPOSITORY>"));
    }
    notes.push(format!("the {PREFLIGHT_SID}* statements may be left out: without one, PREFLIGHT warns that it could not make that check and the deploy goes on (PREFLIGHT: 'false' makes none of these calls)"));
    let mut out = Vec::new();
    let mut add = |sid: &str, actions: Value, resources: Vec<String>| {
        if !resources.is_empty() {
            let sid = format!("{PREFLIGHT_SID}{sid}");
            out.push(json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": one_or_many(resources)}));
        }
    };
    let roles_actions = json!(["iam:GetRole", "iam:SimulatePrincipalPolicy"]);
    add("ReadRoles", roles_actions, dedup(roles));
    let secrets_actions = json!([
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetResourcePolicy"
    ]);
    add("DescribeSecrets", secrets_actions, dedup(secrets));
    // DescribeParameters has no resource-level permission.
    add(
        "DescribeParameters",
        json!("ssm:DescribeParameters"),
        vec!["*".into()],
    );
    add(
        "DescribeLogGroups",
        json!("logs:DescribeLogGroups"),
        dedup(groups),
    );
    if known.images {
        let ecr_actions = json!(["ecr:DescribeImages", "ecr:GetRepositoryPolicy"]);
        add("ReadRepositories", ecr_actions, dedup(repositories));
    }
    out
}

/// A secret ARN as an IAM resource: a partial ARN (no `-` and six characters) gets `-??????`.
fn full_secret_arn(id: &str) -> String {
    let name = id.rsplit(':').next().unwrap_or(id);
    let suffixed = name
        .rsplit_once('-')
        .is_some_and(|(_, s)| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    if suffixed {
        id.to_string()
    } else {
        format!("{id}-??????")
    }
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in list {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn one_or_many(list: Vec<String>) -> Value {
    match list.as_slice() {
        [one] => json!(one),
        _ => json!(list),
    }
}
