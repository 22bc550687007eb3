//! SDK clients built from the validated configuration only.
//!
//! The clients are built from the service config builders, not `aws_config::load`, so
//! nothing reads profiles, instance metadata or container credentials: a pipe must never
//! pick up credentials from wherever it happens to run. Endpoints come from
//! `AWS_ENDPOINT_URL[_SERVICE]`, read in `config.rs`.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

/// Retries for every call: the SDK's standard mode (jittered exponential backoff on
/// throttling, 5xx and connection errors). RegisterTaskDefinition allows 1 call/s per
/// account, and parallel pipelines share that bucket, so allow a few more than the default 3.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(5)
}

/// Time limits per call, so a dead endpoint fails a step instead of hanging it.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(120))
        .build()
}

/// One HTTPS client for STS, ECS, ECR and CloudWatch Logs, the same as the SDK's default
/// (rustls with aws-lc, proxy settings from the environment). Sharing it loads the system's CA roots once instead
/// of once per service, which is most of the pipe's start-up time.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new().build_with_connector_fn(
                |settings, components| {
                    let mut connector = aws_smithy_http_client::ConnectorBuilder::default()
                        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                        ));
                    connector.set_connector_settings(settings.cloned());
                    if let Some(components) = components {
                        connector.set_sleep_impl(components.sleep_impl());
                    }
                    connector.set_proxy_config(Some(
                        aws_smithy_http_client::proxy::ProxyConfig::from_env(),
                    ));
                    connector.build()
                },
            )
        })
        .clone()
}

/// An ECS client for `region`.
pub fn ecs_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_ecs::Client {
    let mut builder = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new(region.to_string()))
        .http_client(http_client())
        .credentials_provider(credentials)
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_ecs::Client::from_conf(builder.build())
}

/// An ECR client for `region` (the registry's region, which may differ from the service's).
pub fn ecr_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_ecr::Client {
    let mut builder = aws_sdk_ecr::Config::builder()
        .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
        .region(aws_sdk_ecr::config::Region::new(region.to_string()))
        .http_client(http_client())
        .credentials_provider(credentials)
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_ecr::Client::from_conf(builder.build())
}

/// A CloudWatch Logs client for `region` (a log group's region, which may differ from the
/// cluster's). Built only when a failure report reads a container's logs. The logs are an
/// extra to a verdict that is already known, so a slow or unreachable endpoint gets fewer
/// tries and less time than the deploy's own calls.
pub fn logs_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_cloudwatchlogs::Client {
    let mut builder = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(aws_sdk_cloudwatchlogs::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatchlogs::config::Region::new(
            region.to_string(),
        ))
        .http_client(http_client())
        .credentials_provider(credentials)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        );
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_cloudwatchlogs::Client::from_conf(builder.build())
}

/// A CodeDeploy client for `region` (the cluster's), built only when a service uses the
/// CODE_DEPLOY deployment controller.
pub fn codedeploy_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_codedeploy::Client {
    let mut builder = aws_sdk_codedeploy::Config::builder()
        .behavior_version(aws_sdk_codedeploy::config::BehaviorVersion::latest())
        .region(aws_sdk_codedeploy::config::Region::new(region.to_string()))
        .http_client(http_client())
        .credentials_provider(credentials)
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_codedeploy::Client::from_conf(builder.build())
}

/// An STS client with no credentials at all: AssumeRoleWithWebIdentity is an unsigned call,
/// authorised by the token alone.
pub fn sts_client(region: &str, endpoint: Option<&str>) -> aws_sdk_sts::Client {
    let mut builder = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(region.to_string()))
        .http_client(http_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_sts::Client::from_conf(builder.build())
}

/// Captures the raw JSON body of a successful response, so a task definition or service can
/// be read without passing through the SDK's typed structs (which drop unknown fields).
#[derive(Debug, Clone, Default)]
pub struct RawBody(Arc<Mutex<Option<Vec<u8>>>>);

impl RawBody {
    /// The captured body, parsed.
    pub fn json(&self) -> Option<serde_json::Value> {
        let guard = self.0.lock().ok()?;
        serde_json::from_slice(guard.as_deref()?).ok()
    }
}

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "RawBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The orchestrator has already read a non-streaming body into memory here.
        if let (Some(bytes), Ok(mut slot)) = (context.response().body().bytes(), self.0.lock()) {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}
