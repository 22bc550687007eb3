//! A service as DescribeServices returns it, and its service deployments as
//! DescribeServiceDeployments returns them: the parts a verdict, a plan or an AppSpec needs.
//! Read from the raw JSON answers (see `crate::aws::ecs`), so no field is lost to the SDK's
//! typed structs.

use serde::Deserialize;

/// The parts of a DescribeServices `services[]` entry that a verdict needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Service {
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub service_arn: String,
    #[serde(default)]
    pub cluster_arn: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub task_definition: String,
    #[serde(default)]
    pub desired_count: i64,
    #[serde(default)]
    pub running_count: i64,
    #[serde(default)]
    pub pending_count: i64,
    #[serde(default)]
    pub deployments: Vec<Deployment>,
    #[serde(default)]
    pub events: Vec<ServiceEvent>,
    #[serde(default)]
    pub deployment_controller: Option<DeploymentController>,
    #[serde(default)]
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// ARN of the service deployment ECS is running or last ran.
    #[serde(default)]
    pub current_service_deployment: Option<String>,
    /// The service revisions that run now (`arn` and task counts).
    #[serde(default)]
    pub current_service_revisions: Vec<RevisionSummary>,
    /// Where the service's tasks run; a pre-deploy task runs in the same place. Kept as
    /// JSON so that RunTask gets exactly what the service has.
    #[serde(default)]
    pub launch_type: Option<String>,
    #[serde(default)]
    pub capacity_provider_strategy: Option<serde_json::Value>,
    #[serde(default)]
    pub platform_version: Option<String>,
    #[serde(default)]
    pub network_configuration: Option<serde_json::Value>,
    /// `loadBalancers[]`: a CODE_DEPLOY service's AppSpec names the first one's container.
    #[serde(default)]
    pub load_balancers: Vec<serde_json::Value>,
    /// `serviceRegistries[]`: `PREFLIGHT` checks their container and port in the new revision.
    #[serde(default)]
    pub service_registries: Vec<serde_json::Value>,
    /// `taskSets[]` (CODE_DEPLOY and EXTERNAL services only).
    #[serde(default)]
    pub task_sets: Vec<TaskSet>,
}

/// A `taskSets[]` entry: CodeDeploy runs the original and the replacement as task sets.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TaskSet {
    #[serde(default)]
    pub id: String,
    /// `PRIMARY` (serves production traffic) or `ACTIVE`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub task_definition: String,
    #[serde(default)]
    pub running_count: i64,
    #[serde(default)]
    pub computed_desired_count: i64,
}

impl Service {
    /// True when CodeDeploy runs the service's deployments (`deploymentController` `CODE_DEPLOY`).
    pub fn uses_code_deploy(&self) -> bool {
        self.deployment_controller
            .as_ref()
            .is_some_and(|c| c.kind == "CODE_DEPLOY")
    }

    /// The revision of the PRIMARY task set (the one serving production traffic), for a
    /// CODE_DEPLOY service; its `taskDefinition` otherwise.
    pub fn primary_revision(&self) -> &str {
        self.task_sets
            .iter()
            .find(|t| t.status == "PRIMARY")
            .map_or(self.task_definition.as_str(), |t| {
                t.task_definition.as_str()
            })
    }

    /// True for ECS native blue/green, linear and canary deployments, which are followed
    /// through the service-deployments API instead of `deployments[]`.
    pub fn uses_service_deployments(&self) -> bool {
        self.deployment_configuration
            .as_ref()
            .and_then(|c| c.strategy.as_deref())
            .is_some_and(|s| matches!(s, "BLUE_GREEN" | "LINEAR" | "CANARY"))
    }
}

/// `deploymentConfiguration`, the part that matters here.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct DeploymentConfiguration {
    #[serde(default)]
    pub strategy: Option<String>,
}

/// A DescribeServiceDeployments `serviceDeployments[]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ServiceDeployment {
    #[serde(default)]
    pub service_deployment_arn: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub lifecycle_stage: Option<String>,
    #[serde(default)]
    pub target_service_revision: Option<RevisionSummary>,
    /// The revisions the service ran when the deployment started.
    #[serde(default)]
    pub source_service_revisions: Vec<RevisionSummary>,
    /// Epoch seconds; 0 when ECS did not say.
    #[serde(default)]
    pub created_at: f64,
    #[serde(default)]
    pub rollback: Option<Rollback>,
    #[serde(default)]
    pub lifecycle_hook_details: Vec<HookDetail>,
    /// `deploymentCircuitBreaker`: whether the breaker tripped, and how close it came.
    #[serde(default)]
    pub deployment_circuit_breaker: Option<ServiceDeploymentCircuitBreaker>,
    /// `alarms`: the CloudWatch alarms that watch the deployment, and which went off.
    #[serde(default)]
    pub alarms: Option<ServiceDeploymentAlarms>,
}

/// `deploymentCircuitBreaker` of a service deployment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ServiceDeploymentCircuitBreaker {
    /// `TRIGGERED`, `MONITORING`, `MONITORING_COMPLETE` or `DISABLED`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub failure_count: i64,
    #[serde(default)]
    pub threshold: i64,
}

/// `alarms` of a service deployment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ServiceDeploymentAlarms {
    /// `TRIGGERED`, `MONITORING`, `MONITORING_COMPLETE` or `DISABLED`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub alarm_names: Vec<String>,
    #[serde(default)]
    pub triggered_alarm_names: Vec<String>,
}

/// `targetServiceRevision` / `sourceServiceRevisions[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RevisionSummary {
    #[serde(default)]
    pub arn: String,
    #[serde(default)]
    pub requested_task_count: i64,
    #[serde(default)]
    pub running_task_count: i64,
    #[serde(default)]
    pub pending_task_count: i64,
}

/// A DescribeServiceRevisions `serviceRevisions[]` entry: the task definition a service
/// revision runs and the image digests ECS resolved for it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ServiceRevision {
    #[serde(default)]
    pub service_revision_arn: String,
    #[serde(default)]
    pub task_definition: String,
    #[serde(default)]
    pub container_images: Vec<ContainerImage>,
}

/// `containerImages[]` of a service revision.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ContainerImage {
    #[serde(default)]
    pub container_name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub image_digest: Option<String>,
}

/// `rollback` of a service deployment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Rollback {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub service_revision_arn: Option<String>,
    /// Epoch seconds.
    #[serde(default)]
    pub started_at: Option<f64>,
}

/// `lifecycleHookDetails[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct HookDetail {
    #[serde(default)]
    pub hook_id: String,
    #[serde(default)]
    pub target_type: Option<String>,
    /// The Lambda function's ARN of an `AWS_LAMBDA` hook; not set for a `PAUSE` hook.
    #[serde(default)]
    pub target_arn: Option<String>,
    #[serde(default)]
    pub status: String,
    /// When ECS stops waiting for the hook and takes `timeoutAction` (epoch seconds).
    #[serde(default)]
    pub expires_at: Option<f64>,
    #[serde(default)]
    pub timeout_action: Option<String>,
}

/// `deployments[]` of a service (the ECS rolling controller).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Deployment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub task_definition: String,
    #[serde(default)]
    pub desired_count: i64,
    #[serde(default)]
    pub pending_count: i64,
    #[serde(default)]
    pub running_count: i64,
    #[serde(default)]
    pub failed_tasks: i64,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`; absent behind a Classic Load Balancer.
    #[serde(default)]
    pub rollout_state: Option<String>,
    #[serde(default)]
    pub rollout_state_reason: Option<String>,
    /// Epoch seconds; 0 when ECS did not say.
    #[serde(default)]
    pub created_at: f64,
    /// Service Connect (`services[].portName` must exist in the new revision; `PREFLIGHT`).
    #[serde(default)]
    pub service_connect_configuration: Option<serde_json::Value>,
}

/// One entry of `events[]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ServiceEvent {
    #[serde(default)]
    pub id: String,
    /// Epoch seconds, as the JSON protocol sends timestamps.
    #[serde(default)]
    pub created_at: f64,
    #[serde(default)]
    pub message: String,
}

/// `deploymentController`.
#[derive(Debug, Clone, Default, Deserialize)]
#[allow(missing_docs)]
pub struct DeploymentController {
    #[serde(rename = "type", default)]
    pub kind: String,
}
