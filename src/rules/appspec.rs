//! The AppSpec and the CreateDeployment request for a service that CodeDeploy deploys
//! (`deploymentController` `CODE_DEPLOY`). Pure.
//!
//! The AppSpec is generated from the live service, never from a file: the user has nothing to
//! write, and nothing the service has can be forgotten. In particular a capacity provider
//! strategy goes into the AppSpec whenever the service has one, because CodeDeploy drops a
//! strategy that the AppSpec leaves out (ecspresso #481, containers-roadmap #1752).
//! `blue_green.rs` sends what is built here; `DRY_RUN` prints it.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::code_deploy::Hook;
use crate::rules::rollout::Service;

/// The AppSpec (as JSON) that deploys `task_definition` to `service`, or why the service
/// cannot be deployed through CodeDeploy.
pub fn appspec(service: &Service, task_definition: &str, hooks: &[Hook]) -> Result<Value, String> {
    let mut properties = Map::new();
    properties.insert("TaskDefinition".into(), json!(task_definition));
    properties.insert("LoadBalancerInfo".into(), load_balancer_info(service)?);
    if let Some(version) = service
        .platform_version
        .as_deref()
        .filter(|v| !v.is_empty())
    {
        properties.insert("PlatformVersion".into(), json!(version));
    }
    if let Some(network) = network_configuration(service) {
        properties.insert("NetworkConfiguration".into(), network);
    }
    if let Some(strategy) = capacity_provider_strategy(service) {
        properties.insert("CapacityProviderStrategy".into(), strategy);
    }
    let mut spec = json!({
        "version": 0.0,
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": properties}}],
    });
    if !hooks.is_empty() {
        spec["Hooks"] = hooks
            .iter()
            .map(|h| json!({ h.event.as_str(): h.function }))
            .collect();
    }
    Ok(spec)
}

/// `ContainerName` and `ContainerPort` of the service's (first) load balancer entry: the
/// container that receives the production and test traffic.
fn load_balancer_info(service: &Service) -> Result<Value, String> {
    let entry = service.load_balancers.first().ok_or_else(|| {
        "it has no load balancer, and a CodeDeploy blue/green deployment shifts traffic between two target groups of one".to_string()
    })?;
    let name = entry.get("containerName").and_then(Value::as_str);
    let port = entry.get("containerPort").and_then(Value::as_i64);
    match (name, port) {
        (Some(name), Some(port)) => Ok(json!({"ContainerName": name, "ContainerPort": port})),
        _ => Err("its load balancer entry names no container and port".to_string()),
    }
}

/// The service's awsvpc configuration in the AppSpec's spelling.
fn network_configuration(service: &Service) -> Option<Value> {
    let awsvpc = service
        .network_configuration
        .as_ref()?
        .get("awsvpcConfiguration")?;
    let mut out = Map::new();
    for (from, to) in [
        ("subnets", "Subnets"),
        ("securityGroups", "SecurityGroups"),
        ("assignPublicIp", "AssignPublicIp"),
    ] {
        if let Some(value) = awsvpc.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), value.clone());
        }
    }
    Some(json!({ "AwsvpcConfiguration": out }))
}

/// The service's capacity provider strategy in the AppSpec's spelling, when it has one.
fn capacity_provider_strategy(service: &Service) -> Option<Value> {
    let items = service.capacity_provider_strategy.as_ref()?.as_array()?;
    if items.is_empty() {
        return None;
    }
    let strategy = items
        .iter()
        .map(|item| {
            let mut out = Map::new();
            for (from, to) in [
                ("base", "Base"),
                ("capacityProvider", "CapacityProvider"),
                ("weight", "Weight"),
            ] {
                if let Some(value) = item.get(from).filter(|v| !v.is_null()) {
                    out.insert(to.into(), value.clone());
                }
            }
            Value::Object(out)
        })
        .collect();
    Some(Value::Array(strategy))
}

/// What a CreateDeployment is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The CodeDeploy application.
    pub application: &'a str,
    /// The deployment group.
    pub group: &'a str,
    /// `CODEDEPLOY_DEPLOYMENT_CONFIG`, which overrides the group's configuration.
    pub deployment_config: Option<&'a str>,
    /// The deployment's description (see [`description`]).
    pub description: &'a str,
}

/// The CreateDeployment request body: the AppSpec as content with its SHA-256, so CodeDeploy
/// needs no S3 bucket and can check what it received.
pub fn create_deployment_request(request: &Request<'_>, appspec: &Value) -> Value {
    let content = appspec.to_string();
    let sha256: String = Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut body = json!({
        "applicationName": request.application,
        "deploymentGroupName": request.group,
        "revision": {
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": content, "sha256": sha256},
        },
        "description": request.description,
    });
    if let Some(config) = request.deployment_config {
        body["deploymentConfigName"] = json!(config);
    }
    body
}

/// `ecs-oidc-deploy: acme/web-app commit 3f7c2a91d04b build 42, web:42`: what a person sees
/// in the CodeDeploy console, and what a re-run recognises as its own deployment.
pub fn description(
    repository: Option<&str>,
    commit: Option<&str>,
    build: Option<&str>,
    revision: &str,
) -> String {
    let mut text = String::from("ecs-oidc-deploy:");
    if let Some(repository) = repository {
        text.push_str(&format!(" {repository}"));
    }
    if let Some(commit) = commit {
        let short: String = commit.chars().take(12).collect();
        text.push_str(&format!(" commit {short}"));
    }
    if let Some(build) = build {
        text.push_str(&format!(" build {build}"));
    }
    text.push_str(&format!(", {revision}"));
    text
}
