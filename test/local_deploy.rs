//! The README's first command (`test/local-deploy`): a complete deploy against a local AWS
//! emulator, as Bitbucket would run the pipe, with no AWS account.
//!
//! It starts moto on 127.0.0.1, creates a Fargate service `web` in cluster `prod` running
//! `web:v1` from ECR, pushes `web:v2`, and puts a small proxy in front of moto that plays the
//! rollout moto itself does not simulate. Then it runs the real binary with the environment
//! of a `deployment: production` step with `oidc: true`, and shows what changed.

#[allow(unused_imports)]
#[path = "support/mod.rs"]
mod support;

use std::process::ExitCode;

use support::iam_sim::Simulator;
use support::rollout::RolloutPlayer;
use support::world;

/// Exits as the pipe did. Returning (no `process::exit`) lets `Drop` stop the proxy and moto.
fn main() -> ExitCode {
    eprintln!(
        "Starting moto on 127.0.0.1 and creating cluster prod, service web (web:v1) and ECR image web:v2 ..."
    );
    let moto = world::web_service();
    // moto has no IAM policy simulator; the proxy answers SimulatePrincipalPolicy for PREFLIGHT
    // (every action allowed), and plays the rollout moto does not simulate.
    let player = RolloutPlayer::with_hook(moto.endpoint(), 3, Simulator::new().hook());

    let pipe = world::deploy_web_v2(&player.endpoint())
        .env("WAIT_INTERVAL", "1")
        .remove("NO_COLOR")
        .remove("PREFLIGHT");
    eprintln!(
        "Running ecs-oidc-deploy as a Bitbucket pipe (AWS_ENDPOINT_URL={}):\n",
        player.endpoint()
    );
    let status = pipe
        .command()
        .status()
        .expect("run ecs-oidc-deploy (build it first: cargo build)");

    let before = moto.describe_task_definition("web:1");
    let after = moto.describe_task_definition("web:2");
    eprintln!("\nRevision web:2 in the emulator, compared with web:1:");
    for (path, old, new) in [
        (
            "image",
            &before["taskDefinition"]["containerDefinitions"][0]["image"],
            &after["taskDefinition"]["containerDefinitions"][0]["image"],
        ),
        (
            "environment",
            &before["taskDefinition"]["containerDefinitions"][0]["environment"],
            &after["taskDefinition"]["containerDefinitions"][0]["environment"],
        ),
        (
            "secrets",
            &before["taskDefinition"]["containerDefinitions"][0]["secrets"],
            &after["taskDefinition"]["containerDefinitions"][0]["secrets"],
        ),
    ] {
        let verdict = if old == new { "kept" } else { "changed" };
        eprintln!("  {path:<12} {verdict}: {new}");
    }
    let (audit, own): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) = after["tags"]
        .as_array()
        .map(|tags| {
            tags.iter().partition(|t| {
                t["key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("bitbucket:"))
            })
        })
        .unwrap_or_default();
    let own_kept = before["tags"]
        .as_array()
        .is_some_and(|b| b.iter().collect::<Vec<_>>() == own);
    let own: Vec<String> = own.iter().map(|t| t.to_string()).collect();
    eprintln!(
        "  {:<12} {}: [{}]",
        "tags",
        if own_kept { "kept" } else { "changed" },
        own.join(",")
    );
    let audit: Vec<String> = audit
        .iter()
        .map(|t| {
            format!(
                "{}={}",
                t["key"].as_str().unwrap_or_default(),
                t["value"].as_str().unwrap_or_default()
            )
        })
        .collect();
    eprintln!("  {:<12} added: {}", "audit tags", audit.join(", "));
    eprintln!(
        "  service web now runs {}",
        moto.describe_service("prod", "web")["taskDefinition"]
    );
    ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    )
}
