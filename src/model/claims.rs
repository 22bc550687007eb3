//! What the step's OIDC token says about itself, read without verifying it (AWS verifies).
//!
//! Pure. Used to refuse an expired token before calling STS, and to explain a trust-policy
//! mismatch with the exact condition keys and values that would match this step. The token
//! itself is never printed; only these claims are.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use serde_json::Value;

/// The claims of a Bitbucket Pipelines OIDC token that a trust policy sees or that explain it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Claims {
    #[serde(default)]
    pub iss: Option<String>,
    /// A string, or a list when the step sets several audiences.
    #[serde(default)]
    pub aud: Option<Value>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub repository_uuid: Option<String>,
    #[serde(default)]
    pub workspace_uuid: Option<String>,
    #[serde(default)]
    pub deployment_environment_uuid: Option<String>,
    #[serde(default)]
    pub branch_name: Option<String>,
    #[serde(default)]
    pub pipeline_uuid: Option<String>,
    #[serde(default)]
    pub step_uuid: Option<String>,
}

/// Decodes the payload of a JWT. The error says what is wrong without quoting the token.
pub fn decode(token: &str) -> Result<Claims, String> {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("is not a JWT (three dot-separated parts)".into());
    };
    let bytes = base64url(payload).ok_or("has a payload that is not base64url")?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("has a payload that is not JSON claims ({e})"))
}

/// JWTs encode their parts as base64url without padding (RFC 7515). A padded payload, or one in
/// the standard alphabet (`+` and `/`), is read too, as it always was.
fn base64url(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
    URL_SAFE
        .decode(text)
        .or_else(|_| STANDARD.decode(text))
        .ok()
}

impl Claims {
    /// Seconds left before `exp` at `now` (negative when expired).
    pub fn seconds_left(&self, now: i64) -> Option<i64> {
        self.exp.map(|exp| exp - now)
    }

    /// The audiences as a list.
    pub fn audiences(&self) -> Vec<String> {
        match &self.aud {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The issuer without `https://`: the prefix of IAM's condition keys.
    pub fn condition_prefix(&self) -> Option<String> {
        self.iss.as_deref().map(|iss| {
            iss.trim_start_matches("https://")
                .trim_end_matches('/')
                .to_string()
        })
    }

    /// Lines that explain an AccessDenied from AssumeRoleWithWebIdentity: what the trust policy
    /// saw, and conditions that would match this step.
    pub fn explain_access_denied(&self, role_arn: &str) -> Vec<String> {
        let mut lines = vec![format!(
            "the trust policy of {role_arn} does not accept this step's token. The token says:"
        )];
        let show = |name: &str, value: &Option<String>| {
            format!("  {name:<26} {}", value.as_deref().unwrap_or("(not set)"))
        };
        lines.push(show("iss", &self.iss));
        lines.push(format!("  {:<26} {}", "aud", self.audiences().join(", ")));
        lines.push(show("sub", &self.sub));
        lines.push(show("repositoryUuid", &self.repository_uuid));
        lines.push(show(
            "deploymentEnvironmentUuid",
            &self.deployment_environment_uuid,
        ));
        lines.push(show("branchName", &self.branch_name));
        lines.push(format!(
            "  {:<26} {}",
            "exp",
            self.exp.map_or("(not set)".into(), |e| e.to_string())
        ));
        if let Some(prefix) = self.condition_prefix() {
            lines.push("conditions that match this step:".into());
            lines.push(format!(
                "  StringEquals {prefix}:aud = {}",
                self.audiences()
                    .first()
                    .map_or("(no audience)", String::as_str)
            ));
            if let Some(repo) = &self.repository_uuid {
                lines.push(format!(
                    "  StringLike   {prefix}:sub = {repo}:*   (every step of the repository)"
                ));
                if let Some(env) = &self.deployment_environment_uuid {
                    lines.push(format!("  StringLike   {prefix}:sub = {repo}:{env}:*   (only this deployment environment)"));
                }
            }
            lines.push(format!(
                "  Principal.Federated = arn:aws:iam::{}:oidc-provider/{prefix}",
                role_arn.split(':').nth(4).unwrap_or("<ACCOUNT>")
            ));
        }
        lines.push("usual causes: braces missing around the UUIDs in sub; the repository slug used instead of its UUID; another workspace's slug in the condition keys; an environment-scoped sub pattern on a step without `deployment:`".into());
        if self.deployment_environment_uuid.is_none() {
            lines.push("this step has no `deployment:`, so an environment-scoped pattern {REPO}:{ENV}:* cannot match it".into());
        }
        lines
    }
}
