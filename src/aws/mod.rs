//! SDK clients built from the validated configuration only.
//!
//! The clients are built from the service config builders, not `aws_config::load`, so
//! nothing reads profiles, instance metadata or container credentials: a pipe must never
//! pick up credentials from wherever it happens to run. Endpoints come from
//! `AWS_ENDPOINT_URL[_SERVICE]`, read in `config.rs`.

pub mod codedeploy;
pub mod ecr;
pub mod ecs;
pub mod errors;
pub mod eventbridge;
pub mod iam;
pub mod logs;
pub mod scheduler;
pub mod secrets;
pub mod ssm;
pub mod sts;

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

/// The credentials every client is built with (the STS session, renewed as it runs out, or
/// static keys): what the steps hand from [`sts::credentials`] to the client builders, without
/// naming the SDK's type.
pub type Credentials = SharedCredentialsProvider;

/// How a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// AWS answered that it was done.
    Answered,
    /// The answer was lost (timeout, 5xx, reset), and reading back showed the change made.
    ReadBack,
}

/// Retries for every call: the SDK's standard mode (jittered exponential backoff on
/// throttling, 5xx and connection errors). RegisterTaskDefinition allows 1 call/s per
/// account, and parallel pipelines share that bucket, so allow a few more than the default 3;
/// a registration or update still throttled after these is sent again by
/// [`crate::steps::throttle::retry`] for as long as the deploy's time allows.
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

/// Builds a client of one SDK crate with the pipe's HTTP client, retries and timeouts. Every
/// crate's config builder has the same methods over its own types, hence a macro rather than a
/// copy of these lines per service.
macro_rules! client {
    ($sdk:ident, $region:expr, $endpoint:expr, $credentials:expr) => {{
        let mut builder = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new($region.to_string()))
            .http_client(http_client())
            .credentials_provider($credentials)
            .retry_config(retry_config())
            .timeout_config(timeout_config());
        if let Some(endpoint) = $endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        $sdk::Client::from_conf(builder.build())
    }};
}

/// An ECS client for `region`.
pub fn ecs_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_ecs::Client {
    client!(aws_sdk_ecs, region, endpoint, credentials)
}

/// An ECR client for `region` (the registry's region, which may differ from the service's).
pub fn ecr_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_ecr::Client {
    client!(aws_sdk_ecr, region, endpoint, credentials)
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

/// An EventBridge client for `region`. Built only when `UPDATE_SCHEDULED_TASKS` is on.
pub fn events_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_eventbridge::Client {
    client!(aws_sdk_eventbridge, region, endpoint, credentials)
}

/// An EventBridge Scheduler client for `region`. Built only when `UPDATE_SCHEDULED_TASKS` is on.
pub fn scheduler_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_scheduler::Client {
    client!(aws_sdk_scheduler, region, endpoint, credentials)
}

/// A CodeDeploy client for `region` (the cluster's), built only when a service uses the
/// CODE_DEPLOY deployment controller.
pub fn codedeploy_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_codedeploy::Client {
    client!(aws_sdk_codedeploy, region, endpoint, credentials)
}

/// An IAM client (`PREFLIGHT`). IAM is global: it signs for `us-east-1`, or `cn-north-1` and
/// `us-gov-west-1` in those partitions, whatever the deploy's region.
pub fn iam_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_iam::Client {
    let signing = if region.starts_with("cn-") {
        "cn-north-1"
    } else if region.starts_with("us-gov-") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    };
    client!(aws_sdk_iam, signing, endpoint, credentials)
}

/// A Secrets Manager client for `region` (a secret's, from its ARN). `PREFLIGHT` only; it
/// never reads a value.
pub fn secrets_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_secretsmanager::Client {
    client!(aws_sdk_secretsmanager, region, endpoint, credentials)
}

/// An SSM client for `region` (a parameter's). `PREFLIGHT` only; it never reads a value.
pub fn ssm_client(
    region: &str,
    endpoint: Option<&str>,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_ssm::Client {
    client!(aws_sdk_ssm, region, endpoint, credentials)
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

/// Watches every attempt of one write call, so that a failure can tell whether any attempt
/// may have been applied ([`crate::error::AwsError::from_write`]). The SDK retries a timeout,
/// a lost connection or a 5xx, and reports only the last attempt's error: when attempt 1 was
/// applied and its answer lost, and attempt 2 was then throttled, the error alone looks
/// definite. Attach a fresh one per call with `.customize().interceptor(attempts.clone())`.
#[derive(Debug, Clone, Default)]
pub struct WriteAttempts(Arc<AtomicBool>);

impl WriteAttempts {
    /// True when some attempt may have reached AWS without a definite answer: no answer
    /// after the request went out, a 5xx, or a success answer that could not be read.
    pub fn may_have_applied(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Intercept for WriteAttempts {
    fn name(&self) -> &'static str {
        "WriteAttempts"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Err(error)) = context.output_or_error() else {
            return Ok(());
        };
        let reached = match context.response() {
            // A 4xx is a definite refusal; a 5xx or an unreadable success may have been applied.
            Some(response) => !(400..500).contains(&response.status().as_u16()),
            // A connection failure or a timeout may come after the request went out; a
            // failure before that (signing, credentials) is neither.
            None => {
                error.is_timeout_error()
                    || error
                        .as_connector_error()
                        .is_some_and(|c| !c.is_user() && !refused(c))
            }
        };
        if reached {
            self.0.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// True when the connection was refused: the request never left this machine.
pub fn refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// A fresh idempotency token (32 hex characters) for a call that AWS deduplicates by token,
/// such as RunTask's `clientToken`: make one per logical request and send the same one on
/// every retry of it. Unpredictability is not needed, only uniqueness between runs, so the
/// standard library's randomly keyed hasher over the clock, the process and a counter will do.
pub fn idempotency_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut parts = [0u64; 2];
    for (i, part) in parts.iter_mut().enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
        hasher.write_u32(std::process::id());
        hasher.write_usize(i);
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        *part = hasher.finish();
    }
    format!("{:016x}{:016x}", parts[0], parts[1])
}
