//! Credentials: the step's OIDC token exchanged with STS, or static keys. Nothing else.
//!
//! With OIDC the token goes straight to AssumeRoleWithWebIdentity; no file is written to
//! HOME and no profile is configured. [`WebIdentity`] keeps the session and re-assumes the
//! role before it expires, so a wait longer than the STS session does not fail at the
//! 60-minute mark.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{
    self, ProvideCredentials, SharedCredentialsProvider, error::CredentialsError,
};
use tokio::sync::Mutex;

use crate::config::{Auth, Config};
use crate::error::{AwsError, Error};
use crate::model::claims::{self, Claims};
use crate::report::Reporter;
use crate::secret::Secret;

/// Renew this long before the session ends.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Resolves credentials as the configuration says and logs which method was used.
pub async fn credentials(
    config: &Config,
    report: &Reporter,
) -> Result<SharedCredentialsProvider, Error> {
    match &config.credentials.auth {
        Auth::StaticKeys {
            access_key_id,
            secret_access_key,
            session_token,
        } => {
            report.step("Using static AWS keys from AWS_ACCESS_KEY_ID");
            report.warn("static keys are long-lived secrets; prefer AWS_OIDC_ROLE_ARN with `oidc: true` on the step");
            Ok(SharedCredentialsProvider::new(Credentials::new(
                access_key_id.expose(),
                secret_access_key.expose(),
                session_token.as_ref().map(|t| t.expose().to_string()),
                None,
                "pipe-variables",
            )))
        }
        Auth::Oidc {
            role_arn,
            token,
            session_name,
            duration_seconds,
        } => {
            report.step(&format!("Assuming {role_arn} with the step's OIDC token"));
            let claims = check_token(token)?;
            if let Some(sub) = &claims.sub {
                report.detail(&format!("token subject: {sub}"));
            }
            if let Some(left) = claims.seconds_left(now_epoch()) {
                report.detail(&format!("token expires in {}m{:02}s", left / 60, left % 60));
            }
            report.detail(&format!("session name: {session_name} (CloudTrail shows it as the caller of every call below)"));
            let identity = WebIdentity {
                client: crate::aws::sts_client(
                    &config.target.region,
                    config.credentials.endpoints.sts.as_deref(),
                ),
                role_arn: role_arn.clone(),
                token: token.clone(),
                session_name: session_name.clone(),
                duration_seconds: *duration_seconds,
                current: Arc::new(Mutex::new(None)),
                claims,
            };
            let creds = identity.assume().await?;
            if let Some(expiry) = creds.expiry()
                && let Ok(left) = expiry.duration_since(SystemTime::now())
            {
                report.detail(&format!(
                    "credentials valid for {}m, renewed automatically while waiting",
                    left.as_secs() / 60
                ));
            }
            *identity.current.lock().await = Some(creds);
            Ok(SharedCredentialsProvider::new(identity))
        }
    }
}

/// Assumes a role with a web identity token and keeps the session fresh.
#[derive(Debug, Clone)]
pub struct WebIdentity {
    client: aws_sdk_sts::Client,
    role_arn: String,
    token: Secret,
    session_name: String,
    duration_seconds: i32,
    current: Arc<Mutex<Option<Credentials>>>,
    claims: Claims,
}

impl WebIdentity {
    /// One AssumeRoleWithWebIdentity call.
    pub async fn assume(&self) -> Result<Credentials, Error> {
        // The SDK retries throttling and IDPCommunicationError with backoff (bounded by the
        // retry config); nothing else is retried, since a trust-policy mismatch will not fix itself.
        let result = self
            .client
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .web_identity_token(self.token.expose())
            .duration_seconds(self.duration_seconds)
            .send()
            .await;
        let out = result.map_err(|e| {
            let err = AwsError::from_sdk("sts:AssumeRoleWithWebIdentity", &e);
            let mut details = Vec::new();
            match err.code.as_deref() {
                Some("AccessDenied" | "AccessDeniedException") => {
                    details = self.claims.explain_access_denied(&self.role_arn);
                }
                Some("InvalidIdentityToken") => details.push(format!(
                    "the token's issuer is {} and its audience {}",
                    self.claims.iss.as_deref().unwrap_or("(not set)"),
                    self.claims.audiences().join(", ")
                )),
                Some("IDPCommunicationError") => details.push(format!(
                    "STS could not reach Bitbucket after {} attempts",
                    crate::aws::retry_config().max_attempts()
                )),
                _ => {}
            }
            Error::AssumeRole {
                hints: explain_sts(&err),
                details,
                role_arn: self.role_arn.clone(),
                session_name: self.session_name.clone(),
                err: Box::new(err),
            }
        })?;
        let Some(c) = out.credentials() else {
            return Err(Error::AssumeRole {
                role_arn: self.role_arn.clone(),
                session_name: self.session_name.clone(),
                err: Box::new(AwsError::plain(
                    "sts:AssumeRoleWithWebIdentity",
                    "the response held no credentials",
                )),
                details: Vec::new(),
                hints: Vec::new(),
            });
        };
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "bitbucket-oidc",
        ))
    }

    async fn fresh(&self) -> Result<Credentials, CredentialsError> {
        let mut current = self.current.lock().await;
        if let Some(creds) = current.as_ref() {
            let fresh_enough = creds
                .expiry()
                .is_none_or(|exp| exp > SystemTime::now() + REFRESH_BEFORE_EXPIRY);
            if fresh_enough {
                return Ok(creds.clone());
            }
        }
        match self.assume().await {
            Ok(creds) => {
                *current = Some(creds.clone());
                Ok(creds)
            }
            Err(Error::AssumeRole { err, .. }) => {
                let expired = matches!(
                    err.code.as_deref(),
                    Some("ExpiredTokenException" | "ExpiredToken")
                );
                Err(CredentialsError::provider_error(format!(
                    "renewing the STS session failed: {err}{}",
                    if expired {
                        " (the step's OIDC token has expired; a re-run of the step gets a fresh one)"
                    } else {
                        ""
                    }
                )))
            }
            Err(other) => Err(CredentialsError::provider_error(format!(
                "renewing the STS session failed: {other}"
            ))),
        }
    }
}

impl ProvideCredentials for WebIdentity {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.fresh())
    }
}

fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reads the token's claims and refuses an expired or malformed token before STS sees it.
pub fn check_token(token: &Secret) -> Result<Claims, Error> {
    let claims =
        claims::decode(token.expose()).map_err(|problem| Error::TokenMalformed { problem })?;
    if let Some(left) = claims.seconds_left(now_epoch())
        && left <= 0
    {
        return Err(Error::Token {
            problem: format!(
                "expired {}s ago (exp {})",
                -left,
                claims.exp.unwrap_or_default()
            ),
        });
    }
    Ok(claims)
}

/// What to tell the user about an STS refusal.
pub fn explain_sts(err: &AwsError) -> Vec<String> {
    match err.code.as_deref() {
        Some("AccessDenied" | "AccessDeniedException") => vec![
            "make the role's trust policy match the values above; `ecs-oidc-deploy --print-iam-policy` prints one for this repository (README, Prerequisites)".into(),
        ],
        Some("InvalidIdentityToken" | "InvalidIdentityTokenException") => vec![
            "the IAM OIDC identity provider for this workspace is missing, or its audience differs from the token's; create it with the issuer URL and audience shown under Repository settings > OpenID Connect".into(),
        ],
        Some("ExpiredTokenException" | "ExpiredToken") => vec![
            "the step's OIDC token expired before the pipe ran; run the pipe earlier in the step or re-run the step".into(),
        ],
        Some("IDPRejectedClaim" | "IDPRejectedClaimException") => vec!["the identity provider rejected a claim of the token; check the provider's configuration in IAM".into()],
        Some("RegionDisabledException") => vec!["STS is not activated in this region; activate it in IAM > Account settings, or use another AWS_DEFAULT_REGION".into()],
        Some("IDPCommunicationError" | "IDPCommunicationErrorException") => vec!["STS could not reach Bitbucket's OIDC keys; this is usually transient, re-run the step".into()],
        _ if err.no_response => vec!["STS could not be reached; check AWS_DEFAULT_REGION and, if set, AWS_ENDPOINT_URL".into()],
        _ => Vec::new(),
    }
}
