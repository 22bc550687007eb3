//! The CodeDeploy adapter: the only code that names CodeDeploy operations.
//!
//! Answers that feed a decision (deployment groups, GetDeployment, GetDeploymentTarget) are
//! read as raw JSON, as `ecs.rs` reads services, so the pure code in `codedeploy_verdict.rs`
//! and its tests work on what CodeDeploy actually sends. CreateDeployment is sent as the raw
//! request `appspec.rs` built, byte for byte, which is exactly what `DRY_RUN` prints.

use aws_sdk_codedeploy::types::DeploymentStatus;
use aws_smithy_types::body::SdkBody;
use serde::Deserialize;
use serde_json::Value;

use crate::aws::RawBody;
use crate::error::AwsError;
use crate::model::codedeploy::{DeploymentInfo, EcsTarget};

/// The most names one BatchGetApplications or BatchGetDeploymentGroups call may carry.
pub const BATCH_MAX: usize = 100;

/// The statuses of a deployment that has not finished: a re-run (or a lost answer) finds its
/// deployment among these.
pub const IN_PROGRESS_STATUSES: &[&str] = &["Created", "Queued", "InProgress", "Baking", "Ready"];

/// A deployment group, the parts the pipe uses.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Group {
    #[serde(default)]
    pub application_name: String,
    #[serde(default)]
    pub deployment_group_name: String,
    #[serde(default)]
    pub deployment_config_name: Option<String>,
    #[serde(default)]
    pub ecs_services: Vec<EcsService>,
}

/// An `ecsServices[]` entry of a deployment group.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct EcsService {
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub cluster_name: String,
}

fn last_segment(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

impl Group {
    /// True when the group deploys `service` of `cluster` (names or ARNs).
    pub fn lists(&self, cluster: &str, service: &str) -> bool {
        self.ecs_services.iter().any(|s| {
            last_segment(&s.cluster_name) == last_segment(cluster)
                && last_segment(&s.service_name) == last_segment(service)
        })
    }

    /// `application/group`, as messages name it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.application_name, self.deployment_group_name)
    }
}

/// Thin wrapper over the CodeDeploy client.
#[derive(Debug, Clone)]
pub struct CodeDeploy {
    client: aws_sdk_codedeploy::Client,
}

impl CodeDeploy {
    /// Wraps a client.
    pub fn new(client: aws_sdk_codedeploy::Client) -> Self {
        Self { client }
    }

    /// Every application whose compute platform is ECS (ListApplications, then
    /// BatchGetApplications [`BATCH_MAX`] at a time).
    pub async fn ecs_applications(&self) -> Result<Vec<String>, AwsError> {
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_applications()
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("codedeploy:ListApplications", &e))?;
            names.extend(out.applications().iter().cloned());
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => break,
            }
        }
        let mut ecs = Vec::new();
        for chunk in names.chunks(BATCH_MAX) {
            let raw = RawBody::default();
            self.client
                .batch_get_applications()
                .set_application_names(Some(chunk.to_vec()))
                .customize()
                .interceptor(raw.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("codedeploy:BatchGetApplications", &e))?;
            let body = raw.json().unwrap_or(Value::Null);
            for app in body
                .get("applicationsInfo")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if app.get("computePlatform").and_then(Value::as_str) == Some("ECS")
                    && let Some(name) = app.get("applicationName").and_then(Value::as_str)
                {
                    ecs.push(name.to_string());
                }
            }
        }
        Ok(ecs)
    }

    /// Every deployment group of `application`, described (ListDeploymentGroups, then
    /// BatchGetDeploymentGroups [`BATCH_MAX`] at a time).
    pub async fn groups(&self, application: &str) -> Result<Vec<Group>, AwsError> {
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_deployment_groups()
                .application_name(application)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("codedeploy:ListDeploymentGroups", &e))?;
            names.extend(out.deployment_groups().iter().cloned());
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => break,
            }
        }
        let mut groups = Vec::new();
        for chunk in names.chunks(BATCH_MAX) {
            let raw = RawBody::default();
            self.client
                .batch_get_deployment_groups()
                .application_name(application)
                .set_deployment_group_names(Some(chunk.to_vec()))
                .customize()
                .interceptor(raw.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("codedeploy:BatchGetDeploymentGroups", &e))?;
            let body = raw.json().unwrap_or(Value::Null);
            let listed = body
                .get("deploymentGroupsInfo")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            let parsed: Vec<Group> = serde_json::from_value(listed)
                .map_err(|e| malformed("codedeploy:BatchGetDeploymentGroups", &e))?;
            groups.extend(parsed);
        }
        Ok(groups)
    }

    /// GetDeploymentGroup; `None` when the application or the group does not exist.
    pub async fn group(&self, application: &str, group: &str) -> Result<Option<Group>, AwsError> {
        let raw = RawBody::default();
        let result = self
            .client
            .get_deployment_group()
            .application_name(application)
            .deployment_group_name(group)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_application_does_not_exist_exception()
                        || s.is_deployment_group_does_not_exist_exception()
                }) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(AwsError::from_sdk("codedeploy:GetDeploymentGroup", &e)),
        }
        let info = raw
            .json()
            .and_then(|b| b.get("deploymentGroupInfo").cloned())
            .unwrap_or(Value::Null);
        serde_json::from_value(info)
            .map(Some)
            .map_err(|e| malformed("codedeploy:GetDeploymentGroup", &e))
    }

    /// CreateDeployment with `request` sent byte for byte; returns the deployment id.
    pub async fn create_deployment(&self, request: &Value) -> Result<String, AwsError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| malformed("codedeploy:CreateDeployment", &e))?;
        let application = request
            .get("applicationName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // The typed input only satisfies the builder; its body is replaced before signing.
        let out = self
            .client
            .create_deployment()
            .application_name(application)
            .customize()
            .mutate_request(move |req| {
                let len = body.len();
                *req.body_mut() = SdkBody::from(body.clone());
                req.headers_mut().insert("content-length", len.to_string());
            })
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("codedeploy:CreateDeployment", &e))?;
        out.deployment_id()
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| malformed("codedeploy:CreateDeployment", &"no deploymentId"))
    }

    /// GetDeployment.
    pub async fn deployment(&self, id: &str) -> Result<DeploymentInfo, AwsError> {
        let raw = RawBody::default();
        self.client
            .get_deployment()
            .deployment_id(id)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("codedeploy:GetDeployment", &e))?;
        let info = raw
            .json()
            .and_then(|b| b.get("deploymentInfo").cloned())
            .unwrap_or(Value::Null);
        serde_json::from_value(info).map_err(|e| malformed("codedeploy:GetDeployment", &e))
    }

    /// GetDeploymentTarget of the ECS target `cluster:service`; `None` until CodeDeploy has
    /// one (a deployment that is only Created or Queued).
    pub async fn ecs_target(&self, id: &str, target: &str) -> Result<Option<EcsTarget>, AwsError> {
        let raw = RawBody::default();
        let result = self
            .client
            .get_deployment_target()
            .deployment_id(id)
            .target_id(target)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await;
        if let Err(e) = result {
            let err = AwsError::from_sdk("codedeploy:GetDeploymentTarget", &e);
            return match err.code.as_deref() {
                Some("DeploymentTargetDoesNotExistException" | "DeploymentNotStartedException") => {
                    Ok(None)
                }
                _ => Err(err),
            };
        }
        let ecs = raw
            .json()
            .and_then(|b| b.pointer("/deploymentTarget/ecsTarget").cloned());
        match ecs {
            Some(ecs) => serde_json::from_value(ecs)
                .map(Some)
                .map_err(|e| malformed("codedeploy:GetDeploymentTarget", &e)),
            None => Ok(None),
        }
    }

    /// StopDeployment; with `auto_rollback`, CodeDeploy puts the original task set back.
    pub async fn stop_deployment(&self, id: &str, auto_rollback: bool) -> Result<(), AwsError> {
        self.client
            .stop_deployment()
            .deployment_id(id)
            .auto_rollback_enabled(auto_rollback)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("codedeploy:StopDeployment", &e))
    }

    /// ContinueDeployment with `READY_WAIT`: reroutes production traffic of a deployment
    /// that is `Ready`.
    pub async fn continue_ready(&self, id: &str) -> Result<(), AwsError> {
        self.client
            .continue_deployment()
            .deployment_id(id)
            .deployment_wait_type(aws_sdk_codedeploy::types::DeploymentWaitType::ReadyWait)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("codedeploy:ContinueDeployment", &e))
    }

    /// The group's deployments that have not finished ([`IN_PROGRESS_STATUSES`]), newest
    /// first as CodeDeploy lists them.
    pub async fn unfinished_deployments(
        &self,
        application: &str,
        group: &str,
    ) -> Result<Vec<String>, AwsError> {
        self.deployments_in(application, group, IN_PROGRESS_STATUSES)
            .await
    }

    /// The group's deployments that succeeded, newest first as CodeDeploy lists them.
    pub async fn succeeded_deployments(
        &self,
        application: &str,
        group: &str,
    ) -> Result<Vec<String>, AwsError> {
        self.deployments_in(application, group, &["Succeeded"])
            .await
    }

    /// ListDeployments of the group, only those in one of `statuses`.
    async fn deployments_in(
        &self,
        application: &str,
        group: &str,
        statuses: &[&str],
    ) -> Result<Vec<String>, AwsError> {
        let statuses: Vec<DeploymentStatus> = statuses
            .iter()
            .map(|s| DeploymentStatus::from(*s))
            .collect();
        let mut ids = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_deployments()
                .application_name(application)
                .deployment_group_name(group)
                .set_include_only_statuses(Some(statuses.clone()))
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("codedeploy:ListDeployments", &e))?;
            ids.extend(out.deployments().iter().cloned());
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => return Ok(ids),
            }
        }
    }
}

fn malformed(operation: &'static str, e: &dyn std::fmt::Display) -> AwsError {
    AwsError::plain(operation, format!("unexpected response: {e}"))
}
