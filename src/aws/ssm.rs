//! The SSM adapter (`PREFLIGHT`): does a parameter exist? Only `DescribeParameters`, which
//! returns metadata; never `GetParameter(s)`: no value is read.

use aws_sdk_ssm::types::ParameterStringFilter;

use crate::error::AwsError;

/// True when the parameter `name` exists (`DescribeParameters` with a `Name` `Equals` filter).
pub async fn parameter_exists(client: &aws_sdk_ssm::Client, name: &str) -> Result<bool, AwsError> {
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .map_err(|e| AwsError::plain("ssm:DescribeParameters", e.to_string()))?;
    let out = client
        .describe_parameters()
        .parameter_filters(filter)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ssm:DescribeParameters", &e))?;
    Ok(out.parameters().iter().any(|p| p.name() == Some(name)))
}
