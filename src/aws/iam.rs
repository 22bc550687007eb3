//! The IAM adapter (`PREFLIGHT`): read a role's trust policy, and ask IAM's own policy
//! simulator what the execution role may do. IAM is global: its client signs for
//! `us-east-1` (see [`crate::aws::iam_client`]).

use crate::error::AwsError;

/// One decision of `SimulatePrincipalPolicy`: the action, the resource and `allowed`,
/// `explicitDeny` or `implicitDeny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The action simulated.
    pub action: String,
    /// The resource it was simulated on.
    pub resource: String,
    /// IAM's `EvalDecision` for that resource.
    pub decision: String,
}

/// Thin wrapper over the IAM client.
#[derive(Debug, Clone)]
pub struct Iam {
    client: aws_sdk_iam::Client,
}

impl Iam {
    /// Wraps a client.
    pub fn new(client: aws_sdk_iam::Client) -> Self {
        Self { client }
    }

    /// `GetRole`: the role's trust policy document as IAM sends it (URL-encoded JSON), or
    /// `None` when there is no such role.
    pub async fn trust_policy(&self, role_name: &str) -> Result<Option<String>, AwsError> {
        match self.client.get_role().role_name(role_name).send().await {
            Ok(out) => Ok(Some(
                out.role()
                    .and_then(|r| r.assume_role_policy_document())
                    .unwrap_or_default()
                    .to_string(),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk("iam:GetRole", &e)),
        }
    }

    /// `SimulatePrincipalPolicy` of `role_arn` for `action` on each of `resources`: one decision
    /// per resource (following `Marker` while `IsTruncated`).
    pub async fn simulate(
        &self,
        role_arn: &str,
        action: &str,
        resources: &[String],
    ) -> Result<Vec<Decision>, AwsError> {
        let mut decisions = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..20 {
            let out = self
                .client
                .simulate_principal_policy()
                .policy_source_arn(role_arn)
                .action_names(action)
                .set_resource_arns(Some(resources.to_vec()))
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("iam:SimulatePrincipalPolicy", &e))?;
            for result in out.evaluation_results() {
                let specific = result.resource_specific_results();
                if specific.is_empty() {
                    decisions.push(Decision {
                        action: result.eval_action_name().to_string(),
                        resource: result.eval_resource_name().unwrap_or("*").to_string(),
                        decision: result.eval_decision().as_str().to_string(),
                    });
                }
                for r in specific {
                    decisions.push(Decision {
                        action: result.eval_action_name().to_string(),
                        resource: r.eval_resource_name().to_string(),
                        decision: r.eval_resource_decision().as_str().to_string(),
                    });
                }
            }
            marker = out.marker().map(str::to_string);
            if !out.is_truncated() || marker.is_none() {
                break;
            }
        }
        Ok(decisions)
    }
}
