//! Bitbucket-shaped OIDC tokens (`BITBUCKET_STEP_OIDC_TOKEN`). They are JWT-shaped with the claims
//! Bitbucket really sends, but the signature is random bytes: nothing here can verify it, and
//! neither moto nor the fake checks it.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use serde_json::{Map, Value, json};

/// Workspace slug.
pub const WORKSPACE: &str = "acme";
/// UUIDs come with braces, as Bitbucket sends them in variables and claims.
pub const WORKSPACE_UUID: &str = "{6d1f0c2e-8b4a-4f3e-9c2d-1a7b5e9f0c3d}";
pub const REPO_UUID: &str = "{9a0e7c41-3f5b-4d2a-8e6c-0b1d2f3a4c5e}";
pub const PIPELINE_UUID: &str = "{5e2b8d17-9c4f-4a6e-b1d3-7f8a9c0e2b4d}";
pub const STEP_UUID: &str = "{41b7f2c9-6d8e-4b1a-a3c5-9e0f1d2b3a4c}";
pub const ENV_UUID: &str = "{c3d8a5e1-2b7f-4c9d-8a1e-5f6b7c8d9e0a}";
/// Key id in the token header.
pub const KID: &str = "7c1f3e9a2b5d4e8f";
/// `iss` of workspace `acme`.
pub const ISSUER: &str =
    "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc";
/// Default `aud`: the workspace UUID without braces.
pub const AUDIENCE: &str = "ari:cloud:bitbucket::workspace/6d1f0c2e-8b4a-4f3e-9c2d-1a7b5e9f0c3d";
/// `sub` of a `deployment:` step: `{repo}:{environment}:{step}`.
pub const SUBJECT: &str = "{9a0e7c41-3f5b-4d2a-8e6c-0b1d2f3a4c5e}:{c3d8a5e1-2b7f-4c9d-8a1e-5f6b7c8d9e0a}:{41b7f2c9-6d8e-4b1a-a3c5-9e0f1d2b3a4c}";

/// The claims of a deployment step's token, valid for the next hour.
pub fn default_claims() -> Value {
    let now = super::now_epoch();
    json!({
        "sub": SUBJECT,
        "stepUuid": STEP_UUID,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "branchName": "main",
        "compliant": false,
        "deploymentEnvironmentUuid": ENV_UUID,
        "repositoryUuid": REPO_UUID,
        "exp": now + 3600,
        "iat": now,
        "pipelineUuid": PIPELINE_UUID,
        "workspaceUuid": WORKSPACE_UUID,
    })
}

/// A token with [`default_claims`], changed by `overrides`: each key of the object replaces that
/// claim, and a `null` value removes it (e.g. `json!({"exp": null})`). Pass `Value::Null` (or
/// `json!({})`) for the defaults.
pub fn bitbucket_token(overrides: Value) -> String {
    let mut claims = match default_claims() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    match overrides {
        Value::Null => {}
        Value::Object(o) => {
            for (k, v) in o {
                if v.is_null() {
                    claims.remove(&k);
                } else {
                    claims.insert(k, v);
                }
            }
        }
        other => panic!("bitbucket_token: overrides must be a JSON object or null, got {other}"),
    }
    token_from_claims(&Value::Object(claims))
}

/// A token with exactly `claims` as payload.
pub fn token_from_claims(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
    format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes()),
        base64url(&super::random_bytes(256))
    )
}

/// The payload of a JWT-shaped token. Panics if it is not one.
pub fn decode_claims(token: &str) -> Value {
    let payload = token
        .split('.')
        .nth(1)
        .expect("token has a payload segment");
    let bytes = base64url_decode(payload).expect("payload is base64url");
    serde_json::from_slice(&bytes).expect("payload is JSON")
}

/// Base64url without padding (RFC 4648 §5), as JWTs use.
pub fn base64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes base64url (padding optional). `None` when it is not base64url.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD_INDIFFERENT.decode(text).ok()
}
