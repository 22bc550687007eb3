//! The Secrets Manager adapter (`PREFLIGHT`): a secret's metadata and whether it has a
//! resource policy. Never `GetSecretValue`: no value is read.

use crate::error::AwsError;

/// What DescribeSecret says about a secret, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    /// The secret's full ARN.
    pub arn: String,
    /// Its customer-managed KMS key, if any (`KmsKeyId`: an ARN, key id or alias).
    pub kms_key_id: Option<String>,
    /// True when it is scheduled for deletion (`DeletedDate`): it counts as missing.
    pub deleted: bool,
}

/// Thin wrapper over one region's Secrets Manager client.
#[derive(Debug, Clone)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    /// Wraps a client.
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }

    /// `DescribeSecret` of a full or partial ARN; `None` when there is no such secret.
    pub async fn describe(&self, id: &str) -> Result<Option<SecretInfo>, AwsError> {
        match self.client.describe_secret().secret_id(id).send().await {
            Ok(out) => Ok(Some(SecretInfo {
                arn: out.arn().unwrap_or(id).to_string(),
                kms_key_id: out.kms_key_id().map(str::to_string),
                deleted: out.deleted_date().is_some(),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk("secretsmanager:DescribeSecret", &e)),
        }
    }

    /// `GetResourcePolicy`: true when the secret has a resource-based policy.
    pub async fn has_resource_policy(&self, id: &str) -> Result<bool, AwsError> {
        match self.client.get_resource_policy().secret_id(id).send().await {
            Ok(out) => Ok(out.resource_policy().is_some_and(|p| !p.trim().is_empty())),
            Err(e) => Err(AwsError::from_sdk("secretsmanager:GetResourcePolicy", &e)),
        }
    }
}
