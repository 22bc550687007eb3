//! Pure decisions for operating a deployment from a Bitbucket step (`ACTION`, `WAIT_UNTIL`):
//! which deployment waits for a person, whether it is this commit's, what a rollback goes
//! back to and how it ended, and whether the image that runs is the one that was checked.
//! No I/O: `crate::steps::operate` fetches and acts, this module decides.

use serde_json::Value;

use crate::config::AUDIT_TAG_PREFIX;
use crate::rules::rollout::{ServiceDeployment, ServiceRevision, revision_name};

/// A deployment that waits for a person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pause {
    /// The lifecycle stage it waits at (`POST_TEST_TRAFFIC_SHIFT`), or `Ready` for CodeDeploy.
    pub stage: String,
    /// The PAUSE hook's id (ECS-native deployments).
    pub hook_id: Option<String>,
    /// The service deployment's ARN (ECS-native deployments).
    pub service_deployment_arn: Option<String>,
    /// The CodeDeploy deployment's id (`d-…`).
    pub code_deploy_id: Option<String>,
    /// Epoch seconds when the wait times out, when known.
    pub expires_at: Option<u64>,
    /// What happens then (`ROLLBACK`, `CONTINUE`; CodeDeploy: the deployment is stopped).
    pub timeout_action: Option<String>,
}

/// The PAUSE hook of `sd` that waits for a person (`AWAITING_ACTION`), if any.
pub fn pause_of(sd: &ServiceDeployment) -> Option<Pause> {
    if !matches!(sd.status.as_str(), "IN_PROGRESS" | "PENDING") {
        return None;
    }
    let hook = sd.lifecycle_hook_details.iter().find(|h| {
        h.status == "AWAITING_ACTION" && h.target_type.as_deref().is_none_or(|t| t == "PAUSE")
    })?;
    Some(Pause {
        stage: sd.lifecycle_stage.clone().unwrap_or_else(|| "-".into()),
        hook_id: Some(hook.hook_id.clone()),
        service_deployment_arn: Some(sd.service_deployment_arn.clone()),
        code_deploy_id: None,
        expires_at: hook.expires_at.filter(|t| *t > 0.0).map(|t| t as u64),
        timeout_action: hook.timeout_action.clone(),
    })
}

/// `at POST_TEST_TRAFFIC_SHIFT (hook approve-prod) until 2026-12-08 04:40 UTC, then ROLLBACK`.
pub fn pause_words(pause: &Pause) -> String {
    let what = match (&pause.hook_id, &pause.code_deploy_id) {
        (Some(hook), _) => format!("hook {hook}"),
        (None, Some(id)) => format!("CodeDeploy deployment {id}"),
        (None, None) => "no hook id".into(),
    };
    let mut words = format!("at {} ({what})", pause.stage);
    if let Some(at) = pause.expires_at {
        words.push_str(&format!(
            " until {}",
            crate::rules::codedeploy_verdict::utc(at as f64)
        ));
    }
    match pause.timeout_action.as_deref() {
        Some(action) if pause.expires_at.is_some() => {
            words.push_str(&format!(", then {action}"));
        }
        Some(action) => words.push_str(&format!(", {action} at its timeout")),
        None if pause.code_deploy_id.is_some() => {
            words.push_str(" until the deployment group's ready wait time ends");
        }
        None => {}
    }
    words
}

/// How a step goes on from a pause.
pub const GO_ON: &str =
    "go on with a step that runs the pipe with ACTION: 'continue' (or ACTION: 'rollback')";

/// The last line of a deploy that stopped at pauses (`WAIT_UNTIL: paused`): `paused` holds
/// (service, revision, pause) for each paused service; `done` the services that completed.
pub fn paused_line(paused: &[(String, String, Pause)], done: &[String]) -> String {
    let mut line = match paused {
        [(service, revision, pause)] => format!(
            "Paused: {} on service {service} waits for approval {}",
            revision_name(revision),
            pause_words(pause)
        ),
        many => format!(
            "Paused: {} wait for approval: {}",
            many.len(),
            many.iter()
                .map(|(service, revision, pause)| format!(
                    "{service} ({}) {}",
                    revision_name(revision),
                    pause_words(pause)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    if !done.is_empty() {
        line.push_str(&format!("; {} completed", done.join(", ")));
    }
    line.push_str(&format!("; {GO_ON}"));
    line
}

/// Whose build a revision is, from its tags (DescribeTaskDefinition's `tags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// It carries this commit's audit tag.
    ThisCommit,
    /// It carries another commit's.
    OtherCommit(String),
    /// It carries none (registered outside the pipe).
    Untagged,
}

/// Compares the `bitbucket:commit` tag in `tags` (`[{"key", "value"}]`) with `commit`.
pub fn owner(tags: &Value, commit: Option<&str>) -> Owner {
    let key = format!("{AUDIT_TAG_PREFIX}commit");
    let tagged = tags.as_array().and_then(|tags| {
        tags.iter()
            .find(|t| t.get("key").and_then(Value::as_str) == Some(key.as_str()))
            .and_then(|t| t.get("value").and_then(Value::as_str))
    });
    match (tagged, commit) {
        (None, _) => Owner::Untagged,
        (Some(t), Some(c)) if t == c => Owner::ThisCommit,
        (Some(t), _) => Owner::OtherCommit(t.to_string()),
    }
}

/// True when a CodeDeploy deployment's description (which the pipe writes as
/// `ecs-oidc-deploy: repo commit <12 characters> build N, web:42`) names `commit`.
pub fn describes_commit(description: &str, commit: Option<&str>) -> bool {
    let Some(commit) = commit.filter(|c| !c.is_empty()) else {
        return false;
    };
    let short: String = commit.chars().take(12).collect();
    description
        .split([' ', ','])
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0] == "commit" && w[1] == short)
}

/// What a service is doing when nothing waits for a person, for "nothing to continue".
pub fn doing(in_progress: &[ServiceDeployment]) -> String {
    match in_progress {
        [] => "no deployment is in progress".into(),
        [only] => format!(
            "deployment {} is {} at {}, not paused",
            only.service_deployment_arn,
            only.status,
            only.lifecycle_stage.as_deref().unwrap_or("-")
        ),
        many => format!("{} deployments are in progress, none paused", many.len()),
    }
}

/// True while a service deployment runs forward and can be stopped with a rollback (one
/// already stopping or rolling back is followed instead).
pub fn in_flight(sd: &ServiceDeployment) -> bool {
    matches!(sd.status.as_str(), "PENDING" | "IN_PROGRESS")
}

/// The service revision a rollback with nothing in progress goes back to: the first source
/// revision of the newest finished service deployment; otherwise why it cannot be known.
pub fn previous_revision(newest: Option<&ServiceDeployment>) -> Result<String, String> {
    let Some(sd) = newest else {
        return Err("ECS lists no service deployment for it (the history starts 2024-10-25 and is kept 90 days)".into());
    };
    match sd.source_service_revisions.first() {
        Some(source) if !source.arn.is_empty() => Ok(source.arn.clone()),
        _ => Err(format!(
            "its last service deployment {} names no revision it replaced (the service's first deployment)",
            sd.service_deployment_arn
        )),
    }
}

/// Where a rollback stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackState {
    /// Still rolling back.
    Going,
    /// `ROLLBACK_SUCCESSFUL` (or `SUCCESSFUL` for a redeploy of the previous revision).
    Done,
    /// `ROLLBACK_FAILED`, or the deployment ended some other way; ECS's reason if any.
    Failed(String),
}

/// Judges a service deployment that is being rolled back.
pub fn rollback_state(sd: &ServiceDeployment) -> RollbackState {
    let reason = sd
        .rollback
        .as_ref()
        .and_then(|r| r.reason.clone())
        .or_else(|| sd.status_reason.clone());
    match sd.status.as_str() {
        "ROLLBACK_SUCCESSFUL" => RollbackState::Done,
        "ROLLBACK_FAILED" | "STOPPED" | "SUCCESSFUL" => RollbackState::Failed(match reason {
            Some(r) => format!("{}: {r}", sd.status),
            None => sd.status.clone(),
        }),
        _ => RollbackState::Going,
    }
}

/// A warning when the digest ECS resolved for the running revision differs from the one
/// checked before the deploy: the tag was pushed again in between. `checked` holds (image,
/// digest) pairs from the ECR check.
pub fn digest_warnings(checked: &[(String, String)], running: &ServiceRevision) -> Vec<String> {
    let mut warnings = Vec::new();
    for image in &running.container_images {
        let Some(resolved) = image.image_digest.as_deref() else {
            continue;
        };
        if let Some((_, before)) = checked.iter().find(|(i, _)| *i == image.image)
            && before != resolved
        {
            warnings.push(format!(
                "container {} runs {} at digest {resolved}, but {before} was checked before the deploy: the tag was pushed again in between",
                image.container_name, image.image
            ));
        }
    }
    warnings
}

/// The task definition a CodeDeploy deployment's AppSpec (JSON `appSpecContent`, as the pipe
/// writes it) deploys; `None` for an AppSpec that is not JSON or names none.
pub fn appspec_task_definition(revision: &Value) -> Option<String> {
    let content = revision.pointer("/appSpecContent/content")?.as_str()?;
    let spec: Value = serde_json::from_str(content).ok()?;
    spec.get("Resources")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|r| r.values())
        .find_map(|r| r.pointer("/Properties/TaskDefinition")?.as_str())
        .map(str::to_string)
}

/// The revision a CODE_DEPLOY service ran before `current`: the newest succeeded deployment's
/// task definition that is not `current` (`deployed` newest first).
pub fn previous_of(current: &str, deployed: &[String]) -> Option<String> {
    deployed.iter().find(|td| *td != current).cloned()
}
