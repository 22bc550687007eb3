//! The result for later commands and pipes of the same pipeline:
//! `$BITBUCKET_PIPE_SHARED_STORAGE_DIR/ecs-oidc-deploy/deployment.json` and `deployment.env`.
//! Written on success and on failure; never holds a secret.

use std::path::Path;

use serde_json::{Value, json};

/// What a run did, filled in as the deploy goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// `succeeded`, `failed` (service changed), `refused` (nothing changed) or `dry-run`.
    pub verdict: String,
    /// The verdict line.
    pub message: String,
    /// Cluster and service.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// The revision registered by this run.
    pub task_definition_arn: Option<String>,
    /// The revision the service ran before.
    pub previous_task_definition_arn: Option<String>,
    /// The deployment started.
    pub deployment_id: Option<String>,
    /// (container, image, digest if known).
    pub images: Vec<(String, String, Option<String>)>,
    /// Seconds from start to verdict.
    pub duration_seconds: u64,
}

impl Record {
    /// The JSON document.
    pub fn to_json(&self) -> Value {
        json!({
            "verdict": self.verdict,
            "message": self.message,
            "cluster": self.cluster,
            "service": self.service,
            "taskDefinitionArn": self.task_definition_arn,
            "previousTaskDefinitionArn": self.previous_task_definition_arn,
            "deploymentId": self.deployment_id,
            "images": self.images.iter().map(|(c, i, d)| json!({"container": c, "image": i, "digest": d})).collect::<Vec<_>>(),
            "durationSeconds": self.duration_seconds,
        })
    }

    /// `KEY=value` lines, safe to `source` in a shell: values are single-quoted.
    pub fn to_env(&self) -> String {
        let quote = |v: &str| format!("'{}'", v.replace('\'', "'\\''"));
        let mut lines = vec![
            ("ECS_DEPLOY_VERDICT".to_string(), self.verdict.clone()),
            ("ECS_DEPLOY_MESSAGE".to_string(), self.message.clone()),
            ("ECS_DEPLOY_CLUSTER".to_string(), self.cluster.clone()),
            ("ECS_DEPLOY_SERVICE".to_string(), self.service.clone()),
            (
                "ECS_DEPLOY_TASK_DEFINITION_ARN".to_string(),
                self.task_definition_arn.clone().unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_PREVIOUS_TASK_DEFINITION_ARN".to_string(),
                self.previous_task_definition_arn
                    .clone()
                    .unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_DEPLOYMENT_ID".to_string(),
                self.deployment_id.clone().unwrap_or_default(),
            ),
            (
                "ECS_DEPLOY_DURATION_SECONDS".to_string(),
                self.duration_seconds.to_string(),
            ),
        ];
        if let Some((_, image, digest)) = self.images.first() {
            lines.push(("ECS_DEPLOY_IMAGE".into(), image.clone()));
            lines.push((
                "ECS_DEPLOY_IMAGE_DIGEST".into(),
                digest.clone().unwrap_or_default(),
            ));
        }
        lines
            .iter()
            .map(|(k, v)| format!("{k}={}\n", quote(v)))
            .collect()
    }

    /// Writes both files into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(&self.to_json()).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("deployment.json"), json + "\n")?;
        std::fs::write(dir.join("deployment.env"), self.to_env())
    }
}
