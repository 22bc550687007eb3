//! A CodeDeploy deployment as GetDeployment and GetDeploymentTarget return it: the parts a
//! verdict needs (see `crate::rules::codedeploy_verdict`).

use serde::Deserialize;

/// GetDeployment's `deploymentInfo`, the parts a verdict needs.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct DeploymentInfo {
    #[serde(default)]
    pub deployment_id: String,
    /// Created, Queued, InProgress, Baking, Ready, Succeeded, Failed or Stopped.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub error_information: Option<ErrorInformation>,
    #[serde(default)]
    pub rollback_info: Option<RollbackInfo>,
    #[serde(default)]
    pub blue_green_deployment_configuration: Option<BlueGreenConfiguration>,
    #[serde(default)]
    pub description: Option<String>,
    /// `revision` as CodeDeploy returned it (the AppSpec content for ECS).
    #[serde(default)]
    pub revision: Option<serde_json::Value>,
}

/// `errorInformation`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[allow(missing_docs)]
pub struct ErrorInformation {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// `rollbackInfo`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RollbackInfo {
    #[serde(default)]
    pub rollback_deployment_id: Option<String>,
    #[serde(default)]
    pub rollback_triggering_deployment_id: Option<String>,
    #[serde(default)]
    pub rollback_message: Option<String>,
}

/// `blueGreenDeploymentConfiguration`, the termination window.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct BlueGreenConfiguration {
    #[serde(default)]
    pub terminate_blue_instances_on_deployment_success: Option<TerminateBlue>,
}

/// `terminateBlueInstancesOnDeploymentSuccess`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TerminateBlue {
    #[serde(default)]
    pub termination_wait_time_in_minutes: Option<i64>,
}

/// GetDeploymentTarget's `deploymentTarget.ecsTarget`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct EcsTarget {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub lifecycle_events: Vec<LifecycleEvent>,
    #[serde(default)]
    pub task_sets_info: Vec<TaskSetInfo>,
}

/// One `lifecycleEvents[]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct LifecycleEvent {
    #[serde(default)]
    pub lifecycle_event_name: String,
    /// Pending, InProgress, Succeeded, Failed, Skipped or Unknown.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub diagnostics: Option<Diagnostics>,
    /// Epoch seconds.
    #[serde(default)]
    pub end_time: Option<f64>,
}

/// `diagnostics` of a lifecycle event.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Diagnostics {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub script_name: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub log_tail: Option<String>,
}

/// One `taskSetsInfo[]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TaskSetInfo {
    /// The task set id (`ecs-svc/…`); the API spells the field `identifer`.
    #[serde(default, rename = "identifer")]
    pub id: String,
    #[serde(default)]
    pub desired_count: i64,
    #[serde(default)]
    pub pending_count: i64,
    #[serde(default)]
    pub running_count: i64,
    #[serde(default)]
    pub status: String,
    /// Percent of production traffic, 0 to 100.
    #[serde(default)]
    pub traffic_weight: f64,
    /// `BLUE` (original) or `GREEN` (replacement).
    #[serde(default)]
    pub task_set_label: String,
}
