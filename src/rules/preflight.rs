//! `PREFLIGHT`'s pure part: what a new revision refers to (secrets, parameters, log groups,
//! roles, images) and where, what the service itself expects of it (load balancer and service
//! registry containers, Service Connect port names), and how to judge what AWS answered:
//! a trust policy, and IAM's simulation of the execution role.
//!
//! No I/O, no SDK types. [`crate::steps::preflight`] asks AWS and hands the answers to these
//! functions; every line they return names the container, the JSON path, the reference and
//! the fix.

use serde_json::Value;

/// Where a revision refers to something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// The container, or `None` for a task-level field such as `executionRoleArn`.
    pub container: Option<String>,
    /// The JSON path in the revision, such as `containerDefinitions[0].secrets[1].valueFrom`.
    pub path: String,
    /// The revision, as the plan names it (`web:41` or the file's path).
    pub revision: String,
}

impl Use {
    fn describe(&self) -> String {
        match &self.container {
            Some(c) => format!("container {c} ({} {})", self.revision, self.path),
            None => format!("{} {}", self.revision, self.path),
        }
    }
}

/// Every place in `uses`, joined for one message.
pub fn places(uses: &[Use]) -> String {
    uses.iter()
        .map(Use::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Something a new task needs that must exist before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A Secrets Manager secret: the id to describe (the ARN without the `:json-key:stage:version`
    /// suffix, full or partial), with its region and account.
    Secret {
        /// The ARN to give DescribeSecret.
        id: String,
        /// Its region.
        region: String,
        /// Its account.
        account: String,
    },
    /// An SSM parameter, by name (a path starts with `/`), with its region and account.
    Parameter {
        /// The parameter's name.
        name: String,
        /// Its region (the ARN's, or the task's for a bare name).
        region: String,
        /// Its account.
        account: String,
    },
    /// A CloudWatch Logs group of the `awslogs` driver.
    LogGroup {
        /// `awslogs-group`.
        name: String,
        /// `awslogs-region`, or the task's region.
        region: String,
        /// `awslogs-create-group` is `"true"`: ECS creates it, so it need not exist.
        create: bool,
    },
    /// An IAM role (`executionRoleArn`, `taskRoleArn`).
    Role {
        /// The role's ARN.
        arn: String,
    },
    /// A container image (only ECR images are checked).
    Image {
        /// The reference as written.
        full: String,
    },
}

/// What one or more revisions need, each reference once with every place it is used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needs {
    /// Each distinct reference, in the order of first use.
    pub refs: Vec<(Target, Vec<Use>)>,
    /// (execution role, revision) of each revision that has one: whose permissions are
    /// simulated, for the references of which revisions.
    pub execution_roles: Vec<(String, String)>,
}

impl Needs {
    fn add(&mut self, target: Target, place: Use) {
        match self.refs.iter_mut().find(|(t, _)| *t == target) {
            Some((_, uses)) => uses.push(place),
            None => self.refs.push((target, vec![place])),
        }
    }

    /// Counts of each kind, for the summary.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for (target, _) in &self.refs {
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
}

/// How many references of each kind were checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Secrets Manager secrets.
    pub secrets: usize,
    /// SSM parameters.
    pub parameters: usize,
    /// Log groups.
    pub log_groups: usize,
    /// Roles.
    pub roles: usize,
    /// Images (ECR or not; only ECR images are looked up).
    pub images: usize,
}

/// Adds what the revision `body` (register-input shape) refers to. `region` and `account` are
/// the task's: a bare parameter name and an `awslogs` group without a region live there.
pub fn add_needs(needs: &mut Needs, body: &Value, revision: &str, region: &str, account: &str) {
    let place = |container: Option<&str>, path: String| Use {
        container: container.map(str::to_string),
        path,
        revision: revision.to_string(),
    };
    for key in ["executionRoleArn", "taskRoleArn"] {
        if let Some(arn) = text(body.get(key)) {
            needs.add(Target::Role { arn: arn.into() }, place(None, key.into()));
            if key == "executionRoleArn" {
                needs.execution_roles.push((arn.into(), revision.into()));
            }
        }
    }
    let containers = body
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, c) in containers.iter().enumerate() {
        let name = c.get("name").and_then(Value::as_str);
        let base = format!("containerDefinitions[{i}]");
        if let Some(image) = text(c.get("image")) {
            let target = Target::Image { full: image.into() };
            needs.add(target, place(name, format!("{base}.image")));
        }
        let secrets = c
            .get("secrets")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (j, s) in secrets.iter().enumerate() {
            if let Some(target) = text(s.get("valueFrom")).and_then(|v| secret(v, region, account))
            {
                needs.add(
                    target,
                    place(name, format!("{base}.secrets[{j}].valueFrom")),
                );
            }
        }
        let credentials = c
            .get("repositoryCredentials")
            .and_then(|r| text(r.get("credentialsParameter")));
        if let Some(target) = credentials.and_then(|v| secret(v, region, account)) {
            let path = format!("{base}.repositoryCredentials.credentialsParameter");
            needs.add(target, place(name, path));
        }
        if let Some(target) = log_group(c, region) {
            needs.add(target, place(name, format!("{base}.logConfiguration")));
        }
    }
}

fn text(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A `secrets[].valueFrom`: a Secrets Manager ARN (its suffix dropped), an SSM parameter ARN,
/// or an SSM parameter name in the task's region. `None` for an ARN of another service.
pub fn secret(value: &str, region: &str, account: &str) -> Option<Target> {
    if !value.starts_with("arn:") {
        return Some(Target::Parameter {
            name: value.into(),
            region: region.into(),
            account: account.into(),
        });
    }
    let parts: Vec<&str> = value.split(':').collect();
    if parts.len() < 6 {
        return None;
    }
    let (region, account) = (parts[3].to_string(), parts[4].to_string());
    match parts[2] {
        "secretsmanager" if parts[5] == "secret" && parts.len() >= 7 => Some(Target::Secret {
            id: parts[..7].join(":"),
            region,
            account,
        }),
        "ssm" => {
            let resource = parts[5..].join(":");
            let rest = resource.strip_prefix("parameter/")?;
            // `parameter/prod/db` is `/prod/db`; `parameter/db` is `db`.
            let name = if rest.contains('/') {
                format!("/{rest}")
            } else {
                rest.to_string()
            };
            Some(Target::Parameter {
                name,
                region,
                account,
            })
        }
        _ => None,
    }
}

fn log_group(container: &Value, region: &str) -> Option<Target> {
    let config = container.get("logConfiguration")?;
    if config.get("logDriver").and_then(Value::as_str) != Some("awslogs") {
        return None;
    }
    let option = |name: &str| text(config.get("options").and_then(|o| o.get(name)));
    Some(Target::LogGroup {
        name: option("awslogs-group")?.into(),
        region: option("awslogs-region").unwrap_or(region).into(),
        create: option("awslogs-create-group").is_some_and(|v| v.eq_ignore_ascii_case("true")),
    })
}

/// The problems with the service's own references to the revision it moves to: each
/// `loadBalancers[]` and `serviceRegistries[]` container and port, and each Service Connect
/// `portName`, must exist in `body`.
pub fn service_references(
    service: &str,
    (load_balancers, registries, port_names): (&[Value], &[Value], &[String]),
    body: &Value,
    revision: &str,
) -> Vec<String> {
    let containers = body
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let mut problems = Vec::new();
    let lists = [
        ("loadBalancers", load_balancers),
        ("serviceRegistries", registries),
    ];
    for (field, entries) in lists {
        for (i, entry) in entries.iter().enumerate() {
            let Some(container) = text(entry.get("containerName")) else {
                continue;
            };
            let port = entry.get("containerPort").and_then(Value::as_i64);
            let found = containers
                .iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container));
            let Some(found) = found else {
                problems.push(format!(
                    "service {service}: {field}[{i}].containerName is {container:?}, but the new revision ({revision}) has no such container (it has {}); rename the container back in the task definition, or change the service's {field}",
                    names.join(", ")
                ));
                continue;
            };
            if let Some(port) = port
                && !container_ports(found).contains(&port)
            {
                problems.push(format!(
                    "service {service}: {field}[{i}].containerPort is {port}, but container {container} of the new revision ({revision}) maps no such port (portMappings[].containerPort); add it to the container's portMappings, or change the service's {field}"
                ));
            }
        }
    }
    let port_mapping_names: Vec<&str> = containers
        .iter()
        .flat_map(|c| {
            c.get("portMappings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|p| p.get("name").and_then(Value::as_str))
        .collect();
    for (i, name) in port_names.iter().enumerate() {
        if !port_mapping_names.contains(&name.as_str()) {
            problems.push(format!(
                "service {service}: serviceConnectConfiguration.services[{i}].portName is {name:?}, but no container of the new revision ({revision}) has a port mapping of that name; add `\"name\": {name:?}` to the port mapping, or change the service's Service Connect configuration"
            ));
        }
    }
    problems
}

fn container_ports(container: &Value) -> Vec<i64> {
    container
        .get("portMappings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("containerPort").and_then(Value::as_i64))
        .collect()
}

/// True when a role's trust policy (`AssumeRolePolicyDocument`, URL-encoded JSON as IAM sends
/// it, or plain JSON) lets `ecs-tasks.amazonaws.com` call `sts:AssumeRole`: an `Allow`
/// statement names that service principal (as a string or in a list) and the action, and
/// no `Deny` statement does. Conditions are not judged.
pub fn trust_allows_ecs_tasks(document: &str) -> bool {
    let parsed: Option<Value> = serde_json::from_str(document)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(document)).ok());
    let Some(policy) = parsed else {
        return false;
    };
    let statements = match policy.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return false,
    };
    let matches = |s: &Value| names_ecs_tasks(s) && names_assume_role(s);
    let effect = |s: &Value, wanted: &str| s.get("Effect").and_then(Value::as_str) == Some(wanted);
    statements.iter().any(|s| effect(s, "Allow") && matches(s))
        && !statements.iter().any(|s| effect(s, "Deny") && matches(s))
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn names_ecs_tasks(statement: &Value) -> bool {
    match statement.get("Principal") {
        Some(Value::String(s)) => s == "*",
        Some(principal) => strings(principal.get("Service")).contains(&"ecs-tasks.amazonaws.com"),
        None => false,
    }
}

fn names_assume_role(statement: &Value) -> bool {
    strings(statement.get("Action")).iter().any(|a| {
        matches!(
            a.to_ascii_lowercase().as_str(),
            "sts:assumerole" | "sts:*" | "*"
        )
    })
}

/// Decodes `%XX` escapes (IAM's encoding of policy documents); anything else is kept.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The role name in a role ARN (`arn:aws:iam::1:role/path/name` → `name`), for GetRole.
pub fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The partition and account of an ARN (`arn:aws:ecs:eu-west-1:123456789012:…`).
pub fn partition_and_account(arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() > 4 && parts[0] == "arn" && !parts[4].is_empty())
        .then(|| (parts[1].to_string(), parts[4].to_string()))
}

/// How sure an `implicitDeny` from IAM's simulation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Certainty {
    /// A resource of this account with no resource-based policy: the role's own policies are
    /// all that could allow the call, so an `implicitDeny` will stop the tasks.
    Certain,
    /// Something the simulation does not see may allow it; says what.
    MayStillWork(String),
}

/// One permission of the execution role to ask IAM's simulation about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The IAM action, such as `secretsmanager:GetSecretValue`.
    pub action: String,
    /// The resource ARN (`*` for `ecr:GetAuthorizationToken`).
    pub resource: String,
    /// What it is for, such as `secret arn:…` (for messages).
    pub about: String,
    /// Where the revision refers to it.
    pub uses: Vec<Use>,
    /// How sure an `implicitDeny` is.
    pub certainty: Certainty,
}

/// What one simulated permission means for the deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The role may.
    Allowed,
    /// The tasks would not start.
    Problem(String),
    /// May be a problem; the deploy goes on.
    Warning(String),
}

/// The statement to add to the execution role so it may call `action` on `resource`.
pub fn statement(action: &str, resource: &str) -> String {
    serde_json::json!({"Effect": "Allow", "Action": action, "Resource": resource}).to_string()
}

/// Judges IAM's `EvalDecision` for one ask of the execution role `role`.
pub fn judge(ask: &Ask, role: &str, decision: &str) -> Verdict {
    let places = if ask.uses.is_empty() {
        String::new()
    } else {
        format!("{}: ", places(&ask.uses))
    };
    let head = format!(
        "{places}the execution role {} may not call {} on {}",
        role_name(role),
        ask.action,
        ask.about
    );
    let add = statement(&ask.action, &ask.resource);
    match (decision, &ask.certainty) {
        ("allowed", _) => Verdict::Allowed,
        ("explicitDeny", _) => Verdict::Problem(format!(
            "{head}: a Deny statement refuses it (in the role's policies, its permissions boundary or an organization SCP); remove that Deny, and make sure the execution role has {add}"
        )),
        ("implicitDeny", Certainty::Certain) => Verdict::Problem(format!(
            "{head}: no policy of the role allows it; add to the execution role: {add}"
        )),
        ("implicitDeny", Certainty::MayStillWork(why)) => Verdict::Warning(format!(
            "{head} by its own policies, but {why}, which IAM's simulation does not see, may allow it; if the tasks fail to start, add to the execution role: {add}"
        )),
        (other, _) => Verdict::Warning(format!(
            "IAM's simulation of {} calling {} on {} answered {other:?}; not judged",
            role_name(role),
            ask.action,
            ask.about
        )),
    }
}

/// The resource ARN of a parameter, for IAM.
pub fn parameter_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{partition}:ssm:{region}:{account}:parameter/{}",
        name.trim_start_matches('/')
    )
}

/// The resource ARN of a log group's streams, for IAM.
pub fn log_group_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:logs:{region}:{account}:log-group:{name}:*")
}

/// The resource ARN of an ECR repository, for IAM.
pub fn repository_arn(partition: &str, region: &str, account: &str, repository: &str) -> String {
    format!("arn:{partition}:ecr:{region}:{account}:repository/{repository}")
}

/// The ARN of a secret's KMS key as DescribeSecret names it (an ARN, a key id or an alias);
/// `None` for the AWS managed key `alias/aws/secretsmanager`, which any role of the account
/// may use through Secrets Manager.
pub fn kms_key_arn(key: &str, partition: &str, region: &str, account: &str) -> Option<String> {
    if key.ends_with("alias/aws/secretsmanager") {
        return None;
    }
    if key.starts_with("arn:") {
        return Some(key.to_string());
    }
    if key.starts_with("alias/") {
        return Some(format!("arn:{partition}:kms:{region}:{account}:{key}"));
    }
    Some(format!("arn:{partition}:kms:{region}:{account}:key/{key}"))
}

/// The success section's line: `4 secrets, 2 parameters, … and 3 images: present, and the
/// execution role may use them`.
pub fn summary(counts: Counts, role_checked: bool) -> String {
    let mut parts = Vec::new();
    for (n, one, many) in [
        (counts.secrets, "secret", "secrets"),
        (counts.parameters, "parameter", "parameters"),
        (counts.log_groups, "log group", "log groups"),
        (counts.roles, "role", "roles"),
        (counts.images, "image", "images"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    let listed = match parts.split_last() {
        None => {
            return "the new revision refers to no secret, parameter, log group, role or image"
                .into();
        }
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    if role_checked {
        format!("{listed}: present, and the execution role may use them")
    } else {
        format!("{listed}: present")
    }
}
