//! The result for later commands and pipes of the same pipeline:
//! `$BITBUCKET_PIPE_SHARED_STORAGE_DIR/ecs-oidc-deploy/deployment.json` and `deployment.env`.
//! Written on success and on failure; never holds a secret.

use std::path::Path;

use serde_json::{Value, json};

/// What a run did, filled in as the deploy goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// `succeeded`, `started`, `failed` (a service changed), `refused` (nothing changed) or
    /// `dry-run`.
    pub verdict: String,
    /// The verdict line.
    pub message: String,
    /// Cluster name or ARN.
    pub cluster: String,
    /// Every service of the deploy, in the configured order.
    pub services: Vec<ServiceRecord>,
    /// (container, image, digest if known).
    pub images: Vec<(String, String, Option<String>)>,
    /// Seconds from start to verdict.
    pub duration_seconds: u64,
    /// `PRE_DEPLOY_COMMAND`'s task, when one was configured.
    pub pre_deploy: Option<crate::steps::pre_deploy::TaskRecord>,
    /// `UPDATE_SCHEDULED_TASKS`: every rule and schedule moved, to be moved or left alone.
    pub scheduled_tasks: Vec<ScheduledTaskRecord>,
}

/// What the run did to one EventBridge rule or Scheduler schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduledTaskRecord {
    /// `rule` or `schedule`.
    pub kind: String,
    /// The event bus (rules) or schedule group (schedules).
    pub place: String,
    /// The rule's or schedule's name.
    pub name: String,
    /// The revision it pinned when read.
    pub previous_task_definition_arn: String,
    /// The revision it pins now (or would, or should have).
    pub task_definition_arn: Option<String>,
    /// `moved`, `dry-run`, `failed` or `left-alone`.
    pub verdict: String,
    /// Why, when it was not moved.
    pub message: String,
}

impl ScheduledTaskRecord {
    fn to_json(&self) -> Value {
        let rule = self.kind == "rule";
        json!({
            "type": self.kind,
            "eventBus": if rule { Some(&self.place) } else { None },
            "scheduleGroup": if rule { None } else { Some(&self.place) },
            "name": self.name,
            "previousTaskDefinitionArn": self.previous_task_definition_arn,
            "taskDefinitionArn": self.task_definition_arn,
            "verdict": self.verdict,
            "message": self.message,
        })
    }
}

/// What the run did to one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRecord {
    /// Service name or ARN, as configured.
    pub service: String,
    /// The revision this run moved it to.
    pub task_definition_arn: Option<String>,
    /// The revision it ran before.
    pub previous_task_definition_arn: Option<String>,
    /// The deployment started: ECS's `ecs-svc/…`, or CodeDeploy's `d-…`.
    pub deployment_id: Option<String>,
    /// (application, deployment group) when CodeDeploy deployed the service.
    pub code_deploy: Option<(String, String)>,
    /// `succeeded`, `started`, `failed`, `timed-out`, `paused`, `rolled-back`,
    /// `continued`, `not-updated` or `dry-run`.
    pub verdict: String,
    /// Why, when it did not succeed.
    pub message: String,
    /// The service deployment's ARN (ECS-native blue/green, linear, canary), when known.
    pub service_deployment_arn: Option<String>,
    /// The PAUSE hook that waits for a person (`WAIT_UNTIL: paused`).
    pub hook_id: Option<String>,
    /// (container, image digest) that ECS resolved for the running revision.
    pub running_digests: Vec<(String, String)>,
}

impl ServiceRecord {
    /// `{"application", "deploymentGroup", "deploymentId"}` for a CodeDeploy deployment.
    fn code_deploy_json(&self) -> Value {
        match &self.code_deploy {
            Some((application, group)) => json!({
                "application": application,
                "deploymentGroup": group,
                "deploymentId": self.deployment_id,
            }),
            None => Value::Null,
        }
    }

    /// A service nothing has happened to yet.
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_string(),
            ..Self::default()
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "service": self.service,
            "taskDefinitionArn": self.task_definition_arn,
            "previousTaskDefinitionArn": self.previous_task_definition_arn,
            "deploymentId": self.deployment_id,
            "codeDeploy": self.code_deploy_json(),
            "serviceDeploymentArn": self.service_deployment_arn,
            "hookId": self.hook_id,
            "runningImageDigests": self.running_digests.iter().map(|(c, d)| json!({"container": c, "digest": d})).collect::<Vec<_>>(),
            "verdict": self.verdict,
            "message": self.message,
        })
    }
}

impl Record {
    /// The record of `service`, if it is part of the deploy.
    pub fn service_mut(&mut self, service: &str) -> Option<&mut ServiceRecord> {
        self.services.iter_mut().find(|s| s.service == service)
    }

    /// The one service of a single-service deploy.
    fn single(&self) -> Option<&ServiceRecord> {
        match self.services.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// The JSON document. The single-service fields (`service`, `taskDefinitionArn`, …) are
    /// filled for a deploy of one service and null for several; `services` lists them all.
    pub fn to_json(&self) -> Value {
        let single = self.single();
        json!({
            "verdict": self.verdict,
            "message": self.message,
            "cluster": self.cluster,
            "service": single.map(|s| &s.service),
            "taskDefinitionArn": single.and_then(|s| s.task_definition_arn.as_ref()),
            "previousTaskDefinitionArn": single.and_then(|s| s.previous_task_definition_arn.as_ref()),
            "deploymentId": single.and_then(|s| s.deployment_id.as_ref()),
            "codeDeploy": single.map_or(Value::Null, ServiceRecord::code_deploy_json),
            "serviceDeploymentArn": single.and_then(|s| s.service_deployment_arn.as_ref()),
            "hookId": single.and_then(|s| s.hook_id.as_ref()),
            "runningImageDigest": single.and_then(|s| s.running_digests.first()).map(|(_, d)| d),
            "services": self.services.iter().map(ServiceRecord::to_json).collect::<Vec<_>>(),
            "images": self.images.iter().map(|(c, i, d)| json!({"container": c, "image": i, "digest": d})).collect::<Vec<_>>(),
            "durationSeconds": self.duration_seconds,
            "preDeploy": self.pre_deploy.as_ref().map(|t| json!({
                "taskArn": t.task_arn,
                "exitCode": t.exit_code,
                "durationSeconds": t.duration_seconds,
                "verdict": t.verdict,
            })),
            "scheduledTasks": self.scheduled_tasks.iter().map(ScheduledTaskRecord::to_json).collect::<Vec<_>>(),
        })
    }

    /// `KEY=value` lines, safe to `source` in a shell: values are single-quoted.
    pub fn to_env(&self) -> String {
        let quote = |v: &str| format!("'{}'", v.replace('\'', "'\\''"));
        let mut lines = self.summary_env();
        lines.extend(self.image_env());
        lines.extend(self.pre_deploy_env());
        lines.extend(self.per_service_env());
        lines
            .iter()
            .map(|(k, v)| format!("{k}={}\n", quote(v)))
            .collect()
    }

    /// The variables every deploy writes; the single-service ones are empty with several.
    fn summary_env(&self) -> Vec<(String, String)> {
        let single = self.single().cloned().unwrap_or_default();
        vec![
            ("ECS_DEPLOY_VERDICT".to_string(), self.verdict.clone()),
            ("ECS_DEPLOY_MESSAGE".to_string(), self.message.clone()),
            ("ECS_DEPLOY_CLUSTER".to_string(), self.cluster.clone()),
            ("ECS_DEPLOY_SERVICE".to_string(), single.service),
            (
                "ECS_DEPLOY_TASK_DEFINITION_ARN".to_string(),
                single.task_definition_arn.unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_PREVIOUS_TASK_DEFINITION_ARN".to_string(),
                single.previous_task_definition_arn.unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_DEPLOYMENT_ID".to_string(),
                single.deployment_id.clone().unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_CODEDEPLOY_DEPLOYMENT_ID".to_string(),
                if single.code_deploy.is_some() {
                    single.deployment_id.clone().unwrap_or_default()
                } else {
                    String::new()
                },
            ),
            (
                "ECS_DEPLOY_SERVICE_DEPLOYMENT_ARN".to_string(),
                single.service_deployment_arn.clone().unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_HOOK_ID".to_string(),
                single.hook_id.clone().unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_RUNNING_IMAGE_DIGEST".to_string(),
                single
                    .running_digests
                    .first()
                    .map(|(_, d)| d.clone())
                    .unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_DURATION_SECONDS".to_string(),
                self.duration_seconds.to_string(),
            ),
            (
                "ECS_DEPLOY_SERVICES".to_string(),
                names(self.services.iter()),
            ),
            (
                "ECS_DEPLOY_FAILED_SERVICES".to_string(),
                names(
                    self.services
                        .iter()
                        .filter(|s| matches!(s.verdict.as_str(), "failed" | "timed-out")),
                ),
            ),
        ]
    }

    /// The first image set, when the deploy set one.
    fn image_env(&self) -> Vec<(String, String)> {
        let Some((_, image, digest)) = self.images.first() else {
            return Vec::new();
        };
        vec![
            ("ECS_DEPLOY_IMAGE".into(), image.clone()),
            (
                "ECS_DEPLOY_IMAGE_DIGEST".into(),
                digest.clone().unwrap_or_default(),
            ),
        ]
    }

    /// `PRE_DEPLOY_COMMAND`'s task, when there was one.
    fn pre_deploy_env(&self) -> Vec<(String, String)> {
        let Some(task) = &self.pre_deploy else {
            return Vec::new();
        };
        vec![
            ("ECS_DEPLOY_PRE_DEPLOY_VERDICT".into(), task.verdict.clone()),
            (
                "ECS_DEPLOY_PRE_DEPLOY_TASK_ARN".into(),
                task.task_arn.clone().unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_PRE_DEPLOY_EXIT_CODE".into(),
                task.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_PRE_DEPLOY_DURATION_SECONDS".into(),
                task.duration_seconds.to_string(),
            ),
        ]
    }

    /// With several services, three variables per service, named after it.
    fn per_service_env(&self) -> Vec<(String, String)> {
        if self.services.len() < 2 {
            return Vec::new();
        }
        let mut lines = Vec::new();
        for s in &self.services {
            let key = env_key(&s.service);
            lines.push((format!("ECS_DEPLOY_{key}_VERDICT"), s.verdict.clone()));
            lines.push((
                format!("ECS_DEPLOY_{key}_TASK_DEFINITION_ARN"),
                s.task_definition_arn.clone().unwrap_or_default(),
            ));
            lines.push((
                format!("ECS_DEPLOY_{key}_DEPLOYMENT_ID"),
                s.deployment_id.clone().unwrap_or_default(),
            ));
        }
        lines
    }

    /// Writes both files into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(&self.to_json()).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("deployment.json"), json + "\n")?;
        std::fs::write(dir.join("deployment.env"), self.to_env())
    }
}

/// The services' names, separated by spaces.
fn names<'a>(services: impl Iterator<Item = &'a ServiceRecord>) -> String {
    services
        .map(|s| s.service.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `SERVICE_WEB_API` for service `web-api` (or its ARN): a shell variable name part.
pub fn env_key(service: &str) -> String {
    let name = service.rsplit('/').next().unwrap_or(service);
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SERVICE_{upper}")
}
