//! `PREFLIGHT`: before the first write, check everything each new revision needs (secrets,
//! parameters, log groups, roles and their trust, ECR images, the execution role's
//! permissions as IAM's simulator judges them, the service's own references to it).
//!
//! Reads only: no secret value, no parameter value, no log line. Every lookup of one round
//! runs at once; the simulation of the execution role needs the first round's answers (a
//! secret's KMS key, a resource policy), so it is a second round. Problems are all reported
//! together and stop the deploy (exit 2); a check the deploying role may not make is a
//! warning and the deploy goes on. The decisions are in [`crate::rules::preflight`].

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::future::join_all;
use serde_json::Value;

use crate::aws;
use crate::aws::ecr;
use crate::aws::ecs::Ecs;
use crate::aws::iam::Iam;
use crate::aws::logs::LogReader;
use crate::aws::secrets::Secrets;
use crate::aws::ssm;
use crate::config::Config;
use crate::error::{AwsError, Error};
use crate::model::image::{EcrImage, ImageRef};
use crate::report::Reporter;
use crate::rules::plan::{self, Plan};
use crate::rules::preflight::{
    self as rules, Ask, Certainty, Counts, Needs, Target, Use, Verdict, places,
};
use crate::rules::rollout::{Service, revision_name};

/// What the lookups share: the configuration, credentials, and this account.
struct Ctx<'a> {
    config: &'a Config,
    credentials: &'a crate::aws::Credentials,
    partition: String,
    account: String,
    /// Images `VERIFY_IMAGE` has already found.
    verified: HashSet<String>,
}

/// What one lookup found.
#[derive(Debug, Default)]
struct Looked {
    /// Missing (or, for a role, not trusted by ECS): a problem.
    problem: Option<String>,
    /// The lookup could not be made.
    warning: Option<String>,
    /// Checked and counted in the summary (ECR images only, of the images).
    counted: bool,
    /// The resource's ARN as found (a secret's full ARN).
    arn: Option<String>,
    /// A secret's customer-managed KMS key.
    kms_key: Option<String>,
    /// Whether the resource has a resource-based policy; `None` when unknown.
    resource_policy: Option<bool>,
}

/// Runs the checks for the plan's new revisions (or, with `FORCE_NEW_DEPLOYMENT` and no
/// change, the revisions the services run), each distinct one once. `Err(Error::Preflight)`
/// when something would stop the new tasks from starting.
pub async fn check(
    ecs: &Ecs,
    config: &Config,
    credentials: &crate::aws::Credentials,
    (plan, services, sources): (&Plan, &[Service], &HashMap<String, Value>),
    report: &Reporter,
) -> Result<(), Error> {
    if !config.change.preflight {
        return Ok(());
    }
    report.step("Checking what the new tasks need before anything changes (PREFLIGHT)");
    let (partition, account) = services
        .iter()
        .find_map(|s| rules::partition_and_account(&s.cluster_arn))
        .unwrap_or_else(|| ("aws".into(), String::new()));
    let mut warnings = Vec::new();
    let revisions = revisions(ecs, plan, sources, &mut warnings).await;
    let mut needs = Needs::default();
    for (name, body) in &revisions {
        rules::add_needs(&mut needs, body, name, &config.target.region, &account);
    }
    let mut problems = service_problems(plan, services, &revisions);
    let ctx = Ctx {
        config,
        credentials,
        partition,
        account,
        verified: verified_images(config),
    };
    let looked = join_all(needs.refs.iter().map(|(t, u)| look(&ctx, t, u))).await;
    for found in &looked {
        problems.extend(found.problem.clone());
        warnings.extend(found.warning.clone());
    }
    let simulated = simulate_all(&ctx, &needs, &looked, &mut problems, &mut warnings).await;
    let mut seen = HashSet::new();
    for warning in warnings.iter().filter(|w| seen.insert(w.as_str())) {
        report.warn(warning);
    }
    if !problems.is_empty() {
        return Err(Error::Preflight { problems });
    }
    let counted = counts(&needs, &looked);
    let line = match (warnings.is_empty(), counted == Counts::default()) {
        (true, _) => rules::summary(counted, simulated),
        (false, true) => "nothing could be checked (see the warnings above)".into(),
        (false, false) => format!(
            "{} (see the warnings above)",
            rules::summary(counted, false)
        ),
    };
    report.detail(&line);
    Ok(())
}

/// (name, register-input body) of each distinct revision new tasks will start from.
async fn revisions(
    ecs: &Ecs,
    plan: &Plan,
    sources: &HashMap<String, Value>,
    warnings: &mut Vec<String>,
) -> Vec<(String, Value)> {
    let mut found: Vec<(String, Value)> = plan
        .revisions
        .iter()
        .map(|r| {
            let name = format!("new revision from {}", r.source_name());
            (name, r.task_definition.register_request())
        })
        .collect();
    let mut current: Vec<&str> = Vec::new();
    for service in plan.services.iter().filter(|s| s.revision.is_none()) {
        if !current.contains(&service.current.as_str()) {
            current.push(&service.current);
        }
    }
    let read = join_all(current.iter().map(|arn| async move {
        match sources.get(*arn) {
            Some(body) => Ok(body.clone()),
            None => ecs.describe_task_definition(arn).await,
        }
    }))
    .await;
    for (arn, body) in current.iter().zip(read) {
        match body {
            Ok(body) => found.push((
                revision_name(arn).to_string(),
                body.get("taskDefinition").cloned().unwrap_or(body),
            )),
            Err(e) => warnings.push(could_not(&format!("read {arn}"), &e)),
        }
    }
    found
}

/// The services' own references to the revision each moves to.
fn service_problems(
    plan: &Plan,
    services: &[Service],
    revisions: &[(String, Value)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (planned, live) in plan.services.iter().zip(services) {
        let index = match planned.revision {
            Some(i) => Some(i),
            None => {
                let name = revision_name(&planned.current);
                revisions.iter().position(|(n, _)| n == name)
            }
        };
        let Some((name, body)) = index.and_then(|i| revisions.get(i)) else {
            continue;
        };
        let port_names: Vec<String> = live
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY")
            .and_then(|d| d.service_connect_configuration.as_ref())
            .filter(|c| c.get("enabled").and_then(Value::as_bool) != Some(false))
            .and_then(|c| c.get("services").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .filter_map(|s| {
                s.get("portName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let references = (
            live.load_balancers.as_slice(),
            live.service_registries.as_slice(),
            port_names.as_slice(),
        );
        problems.extend(rules::service_references(
            crate::steps::follow::short(&planned.name),
            references,
            body,
            name,
        ));
    }
    problems
}

/// The images `VERIFY_IMAGE` has already looked up (and found, or the deploy stopped).
fn verified_images(config: &Config) -> HashSet<String> {
    if !config.change.verify_image {
        return HashSet::new();
    }
    plan::images_to_set(config)
        .into_iter()
        .map(|(_, image)| image.full.clone())
        .collect()
}

/// One lookup.
async fn look(ctx: &Ctx<'_>, target: &Target, uses: &[Use]) -> Looked {
    let at = places(uses);
    match target {
        Target::Role { arn } => match rules::partition_and_account(arn) {
            Some((_, account)) if account != ctx.account && !ctx.account.is_empty() => {
                elsewhere(&format!("role {arn}"), &account)
            }
            _ => look_role(ctx, arn, &at).await,
        },
        Target::Secret {
            id,
            region,
            account,
        } => look_secret(ctx, id, region, *account == ctx.account, &at).await,
        Target::Parameter {
            name,
            region,
            account,
        } => {
            if *account != ctx.account && !ctx.account.is_empty() {
                elsewhere(&format!("SSM parameter {name}"), account)
            } else {
                look_parameter(ctx, name, region, &at).await
            }
        }
        Target::LogGroup {
            name,
            region,
            create,
        } => look_log_group(ctx, name, region, *create, &at).await,
        Target::Image { full } => look_image(ctx, full, &at).await,
    }
}

fn could_not(what: &str, err: &AwsError) -> String {
    if err.is_access_denied() {
        format!(
            "PREFLIGHT could not {what}: the deploying role may not call {} ({}); add that permission to the deploying role to have this checked; the deploy goes on",
            err.operation,
            err.code_or_kind()
        )
    } else {
        format!(
            "PREFLIGHT could not {what} ({}: {}); the deploy goes on",
            err.operation,
            err.code_or_kind()
        )
    }
}

fn unknown(what: &str, err: &AwsError) -> Looked {
    Looked {
        warning: Some(could_not(what, err)),
        ..Looked::default()
    }
}

/// A reference to another account, which this account's reads cannot see: not checked.
fn elsewhere(what: &str, account: &str) -> Looked {
    Looked {
        warning: Some(format!(
            "PREFLIGHT does not check {what}: it belongs to account {account}, which the deploying role's reads do not see; the deploy goes on"
        )),
        ..Looked::default()
    }
}

fn problem(text: String) -> Looked {
    Looked {
        problem: Some(text),
        ..Looked::default()
    }
}

async fn look_role(ctx: &Ctx<'_>, arn: &str, at: &str) -> Looked {
    let iam = Iam::new(aws::iam_client(
        &ctx.config.target.region,
        ctx.config.credentials.endpoints.iam.as_deref(),
        ctx.credentials.clone(),
    ));
    match iam.trust_policy(rules::role_name(arn)).await {
        Err(e) => unknown(&format!("check role {arn}"), &e),
        Ok(None) => problem(format!(
            "{at}: role {arn} does not exist; create it, or fix the ARN"
        )),
        Ok(Some(trust)) if !rules::trust_allows_ecs_tasks(&trust) => problem(format!(
            "{at}: the trust policy of role {arn} does not let ecs-tasks.amazonaws.com assume it, so ECS cannot start tasks with it; add to its trust policy: {}",
            r#"{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}"#
        )),
        Ok(Some(_)) => Looked {
            counted: true,
            ..Looked::default()
        },
    }
}

async fn look_secret(ctx: &Ctx<'_>, id: &str, region: &str, ours: bool, at: &str) -> Looked {
    let secrets = Secrets::new(aws::secrets_client(
        region,
        ctx.config.credentials.endpoints.secrets.as_deref(),
        ctx.credentials.clone(),
    ));
    let policy = async {
        if ours {
            Some(secrets.has_resource_policy(id).await)
        } else {
            None
        }
    };
    let (described, policy) = tokio::join!(secrets.describe(id), policy);
    match described {
        Err(e) => unknown(&format!("check secret {id}"), &e),
        Ok(None) => problem(format!(
            "{at}: secret {id} does not exist in Secrets Manager ({region}); create it, or fix the reference"
        )),
        Ok(Some(info)) if info.deleted => problem(format!(
            "{at}: secret {} is scheduled for deletion; restore it (aws secretsmanager restore-secret --secret-id {}), or point to another secret",
            info.arn, info.arn
        )),
        Ok(Some(info)) => Looked {
            counted: true,
            arn: Some(info.arn),
            kms_key: info.kms_key_id,
            resource_policy: policy.and_then(Result::ok),
            ..Looked::default()
        },
    }
}

async fn look_parameter(ctx: &Ctx<'_>, name: &str, region: &str, at: &str) -> Looked {
    let client = aws::ssm_client(
        region,
        ctx.config.credentials.endpoints.ssm.as_deref(),
        ctx.credentials.clone(),
    );
    match ssm::parameter_exists(&client, name).await {
        Err(e) => unknown(&format!("check SSM parameter {name}"), &e),
        Ok(false) => problem(format!(
            "{at}: SSM parameter {name} does not exist in {region}; create it (aws ssm put-parameter --name {name} --region {region} …), or fix the reference"
        )),
        Ok(true) => Looked {
            counted: true,
            ..Looked::default()
        },
    }
}

async fn look_log_group(ctx: &Ctx<'_>, name: &str, region: &str, create: bool, at: &str) -> Looked {
    if create {
        return Looked {
            counted: true,
            ..Looked::default()
        };
    }
    let reader = LogReader::new(aws::logs_client(
        region,
        ctx.config.credentials.endpoints.logs.as_deref(),
        ctx.credentials.clone(),
    ));
    match reader.group_exists(name).await {
        Err(e) => unknown(&format!("check log group {name}"), &e),
        Ok(false) => problem(format!(
            "{at}: log group {name} does not exist in {region}, so the tasks would stop with `ResourceInitializationError: failed to validate logger args`; create it (aws logs create-log-group --log-group-name {name} --region {region}), or set \"awslogs-create-group\": \"true\" in the container's logConfiguration options"
        )),
        Ok(true) => Looked {
            counted: true,
            ..Looked::default()
        },
    }
}

async fn look_image(ctx: &Ctx<'_>, full: &str, at: &str) -> Looked {
    let Some(image) = ImageRef::parse(full).ok().and_then(|i| i.ecr()) else {
        return Looked::default();
    };
    if !ctx.config.change.verify_image {
        // VERIFY_IMAGE: 'false' says the deploying role may not read ECR.
        return Looked::default();
    }
    let client = aws::ecr_client(
        &image.region,
        ctx.config.credentials.endpoints.ecr.as_deref(),
        ctx.credentials.clone(),
    );
    let ours = image.account == ctx.account;
    let exists = async {
        if ctx.verified.contains(full) {
            Ok(String::new())
        } else {
            ecr::image_digest(&client, &image, full).await
        }
    };
    let policy = async {
        if ours {
            Some(ecr::has_repository_policy(&client, &image).await)
        } else {
            None
        }
    };
    let (exists, policy) = tokio::join!(exists, policy);
    match exists {
        Err(Error::ImageNotFound { detail, .. }) => problem(format!(
            "{at}: image {full} is not in ECR ({detail}); push it before this step, or fix the tag"
        )),
        Err(Error::Aws { err, .. }) => unknown(&format!("check image {full}"), &err),
        Err(other) => Looked {
            warning: Some(format!(
                "PREFLIGHT could not check image {full} ({other}); the deploy goes on"
            )),
            ..Looked::default()
        },
        Ok(_) => Looked {
            counted: true,
            resource_policy: policy.and_then(Result::ok),
            ..Looked::default()
        },
    }
}

/// The summary's counts: what was looked up and found (images outside ECR are not counted).
fn counts(needs: &Needs, looked: &[Looked]) -> Counts {
    let mut counts = Counts::default();
    for ((target, _), found) in needs.refs.iter().zip(looked) {
        if !found.counted {
            continue;
        }
        match target {
            Target::Secret { .. } => counts.secrets += 1,
            Target::Parameter { .. } => counts.parameters += 1,
            Target::LogGroup { .. } => counts.log_groups += 1,
            Target::Role { .. } => counts.roles += 1,
            Target::Image { .. } => counts.images += 1,
        }
    }
    counts
}

/// Simulates every execution role for what its revisions need; true when at least one
/// simulation was made and judged.
async fn simulate_all(
    ctx: &Ctx<'_>,
    needs: &Needs,
    looked: &[Looked],
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> bool {
    let mut by_role: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (role, revision) in &needs.execution_roles {
        by_role.entry(role).or_default().push(revision);
    }
    let missing_role = |role: &str| {
        needs.refs.iter().zip(looked).any(|((t, _), l)| {
            matches!(t, Target::Role { arn } if arn == role) && l.problem.is_some()
        })
    };
    let mut judged = false;
    for (role, revisions) in by_role {
        if missing_role(role) {
            continue;
        }
        let asks = asks(ctx, needs, looked, &revisions);
        if asks.is_empty() {
            continue;
        }
        match simulate(ctx, role, &asks).await {
            Ok(decisions) => {
                judged = true;
                for ask in &asks {
                    let decision = decisions
                        .get(&(ask.action.clone(), ask.resource.clone()))
                        .map_or("no answer", String::as_str);
                    match rules::judge(ask, role, decision) {
                        Verdict::Allowed => {}
                        Verdict::Problem(p) => problems.push(p),
                        Verdict::Warning(w) => warnings.push(w),
                    }
                }
            }
            Err(e) => warnings.push(could_not(
                &format!("ask IAM what the execution role {role} may do"),
                &e,
            )),
        }
    }
    judged
}

/// One `SimulatePrincipalPolicy` per action, all at once; the decisions by (action, resource).
async fn simulate(
    ctx: &Ctx<'_>,
    role: &str,
    asks: &[Ask],
) -> Result<HashMap<(String, String), String>, AwsError> {
    let iam = Iam::new(aws::iam_client(
        &ctx.config.target.region,
        ctx.config.credentials.endpoints.iam.as_deref(),
        ctx.credentials.clone(),
    ));
    let mut by_action: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ask in asks {
        let resources = by_action.entry(&ask.action).or_default();
        if !resources.contains(&ask.resource) {
            resources.push(ask.resource.clone());
        }
    }
    let answers = join_all(
        by_action
            .iter()
            .map(|(action, resources)| iam.simulate(role, action, resources)),
    )
    .await;
    let mut decisions = HashMap::new();
    for answer in answers {
        for d in answer? {
            decisions.insert((d.action, d.resource), d.decision);
        }
    }
    Ok(decisions)
}

/// What the execution role of `revisions` must be allowed to do, for the references found.
fn asks(ctx: &Ctx<'_>, needs: &Needs, looked: &[Looked], revisions: &[&str]) -> Vec<Ask> {
    let mut asks = Vec::new();
    for ((target, uses), found) in needs.refs.iter().zip(looked) {
        let uses: Vec<Use> = uses
            .iter()
            .filter(|u| revisions.contains(&u.revision.as_str()))
            .cloned()
            .collect();
        if uses.is_empty() || found.problem.is_some() {
            continue;
        }
        for new in asks_for(ctx, target, &uses, found) {
            // ecr:GetAuthorizationToken on `*` is one ask however many images need it.
            match asks
                .iter_mut()
                .find(|a: &&mut Ask| a.action == new.action && a.resource == new.resource)
            {
                Some(same) => same.uses.extend(new.uses),
                None => asks.push(new),
            }
        }
    }
    asks
}

fn ask(action: &str, resource: String, about: String, uses: &[Use], certainty: Certainty) -> Ask {
    Ask {
        action: action.into(),
        resource,
        about,
        uses: uses.to_vec(),
        certainty,
    }
}

/// `secretsmanager:GetSecretValue` on a secret, and `kms:Decrypt` on its customer-managed key.
fn secret_asks(
    ctx: &Ctx<'_>,
    (id, region, account): (&str, &str, &str),
    uses: &[Use],
    found: &Looked,
) -> Vec<Ask> {
    let p = &ctx.partition;
    let arn = found.arn.clone().unwrap_or_else(|| id.to_string());
    let certainty = match (account == ctx.account, found.resource_policy) {
        (false, _) => Certainty::MayStillWork(format!(
            "the secret belongs to account {account}, whose policies may allow it"
        )),
        (true, Some(false)) => Certainty::Certain,
        (true, Some(true)) => Certainty::MayStillWork("the secret's resource policy".into()),
        (true, None) => {
            Certainty::MayStillWork("a resource policy of the secret (it could not be read)".into())
        }
    };
    let about = format!("secret {arn}");
    let mut list = vec![ask(
        "secretsmanager:GetSecretValue",
        arn.clone(),
        about,
        uses,
        certainty,
    )];
    let key = found
        .kms_key
        .as_deref()
        .and_then(|k| rules::kms_key_arn(k, p, region, account));
    if let Some(key) = key {
        list.push(ask(
            "kms:Decrypt",
            key.clone(),
            format!("KMS key {key} of secret {arn}"),
            uses,
            Certainty::MayStillWork("the key policy of the KMS key".into()),
        ));
    }
    list
}

fn asks_for(ctx: &Ctx<'_>, target: &Target, uses: &[Use], found: &Looked) -> Vec<Ask> {
    let p = &ctx.partition;
    let theirs = |account: &str, what: &str| {
        Certainty::MayStillWork(format!(
            "the {what} belongs to account {account}, whose policies may allow it"
        ))
    };
    match target {
        Target::Secret {
            id,
            region,
            account,
        } => secret_asks(ctx, (id, region, account), uses, found),
        Target::Parameter {
            name,
            region,
            account,
        } => {
            let certainty = if account == &ctx.account {
                Certainty::Certain
            } else {
                theirs(account, "parameter")
            };
            let arn = rules::parameter_arn(p, region, account, name);
            vec![ask(
                "ssm:GetParameters",
                arn,
                format!("SSM parameter {name}"),
                uses,
                certainty,
            )]
        }
        Target::LogGroup {
            name,
            region,
            create,
        } => {
            let arn = rules::log_group_arn(p, region, &ctx.account, name);
            let mut actions = vec!["logs:CreateLogStream", "logs:PutLogEvents"];
            if *create {
                actions.push("logs:CreateLogGroup");
            }
            actions
                .into_iter()
                .map(|a| {
                    let about = format!("log group {name} ({region})");
                    ask(a, arn.clone(), about, uses, Certainty::Certain)
                })
                .collect()
        }
        Target::Image { full } => image_asks(ctx, full, uses, found),
        Target::Role { .. } => Vec::new(),
    }
}

fn image_asks(ctx: &Ctx<'_>, full: &str, uses: &[Use], found: &Looked) -> Vec<Ask> {
    let Some(image): Option<EcrImage> = ImageRef::parse(full).ok().and_then(|i| i.ecr()) else {
        return Vec::new();
    };
    let certainty = match (image.account == ctx.account, found.resource_policy) {
        (false, _) => Certainty::MayStillWork(format!(
            "the repository belongs to account {}, whose repository policy may allow it",
            image.account
        )),
        (true, Some(false)) => Certainty::Certain,
        (true, Some(true)) => Certainty::MayStillWork("the repository's policy".into()),
        (true, None) => {
            Certainty::MayStillWork("a repository policy (not read: VERIFY_IMAGE is false, or the deploying role may not read it)".into())
        }
    };
    let arn = rules::repository_arn(
        &ctx.partition,
        &image.region,
        &image.account,
        &image.repository,
    );
    let about = format!("repository {} of image {full}", image.repository);
    vec![
        ask(
            "ecr:GetAuthorizationToken",
            "*".into(),
            "* (needed to pull from any private ECR repository)".into(),
            uses,
            Certainty::Certain,
        ),
        ask(
            "ecr:BatchGetImage",
            arn.clone(),
            about.clone(),
            uses,
            certainty.clone(),
        ),
        ask("ecr:GetDownloadUrlForLayer", arn, about, uses, certainty),
    ]
}
