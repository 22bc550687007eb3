//! `test/image-test`'s deploy: the world of `test/local-deploy` (moto and the rollout player on
//! 127.0.0.1), but the pipe runs from INSIDE the built image, the way Bitbucket runs it: the
//! image's entrypoint with no arguments, configured only by environment variables, as root, with
//! the clone mounted at the same path as its working directory, and `HOME` set as `docker run`
//! sets it for root (`/root`, which the image does not have).
//!
//! ```text
//! cargo run --example image-deploy -- [--volume SRC:DST]... <buildah container> <entrypoint> [<args>...]
//! ```
//!
//! The container is run with `buildah run --isolation chroot --network host`; buildah's storage
//! options come from the environment (`STORAGE_DRIVER=vfs`). `--volume` mounts more into the
//! container: the linux/arm64 image runs its binary through a mounted `qemu-aarch64-static`,
//! the entrypoint then being `/qemu-aarch64-static /ecs-oidc-deploy`. Exits 0 only if the pipe
//! exited 0 with a `✔` last line, found the CA bundle, printed no secret, wrote its outputs into
//! the mounted clone, and the emulator shows the new revision with the new image on the service.

#[allow(unused_imports)]
#[path = "support/mod.rs"]
mod support;

use std::process::{Command, ExitCode, Stdio};

use serde_json::json;
use support::rollout::RolloutPlayer;
use support::world::{self, REGISTRY};

/// What the SDK logs (shown with `DEBUG: 'true'`) when it finds no CA bundle in the image.
const NO_CA_BUNDLE: [&str; 2] = [
    "no native root CA certificates found",
    "native root CA certificate loading errors",
];

/// Returns its exit code (no `process::exit`), so that `Drop` stops the proxy and moto.
fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut volumes = Vec::new();
    while args.first().is_some_and(|a| a == "--volume") && args.len() >= 2 {
        volumes.push(args.remove(1));
        args.remove(0);
    }
    let [container, entrypoint @ ..] = args.as_slice() else {
        eprintln!(
            "usage: image-deploy [--volume SRC:DST]... <buildah container> <entrypoint> [<args>...]"
        );
        return ExitCode::from(2);
    };
    if entrypoint.is_empty() {
        eprintln!("image-deploy: the image has no entrypoint");
        return ExitCode::from(2);
    }

    let moto = world::web_service();
    let player = RolloutPlayer::with_polls(moto.endpoint(), 2);

    let pipe = world::deploy_web_v2(&player.endpoint())
        .env("WAIT_INTERVAL", "1")
        // Debug lines include the SDK's warnings, among them a missing CA bundle.
        .env("DEBUG", "true")
        .env("HOME", "/root");
    let token = pipe
        .get_env("BITBUCKET_STEP_OIDC_TOKEN")
        .expect("Pipe sets an OIDC token")
        .to_string();

    // Pipe's own command carries exactly the environment Bitbucket would give; hand it to the
    // container one `--env` at a time.
    let direct = pipe.command();
    let clone = pipe.clone_dir();
    let clone = clone.to_str().expect("clone dir is UTF-8");
    let mut cmd = Command::new("buildah");
    cmd.args(["run", "--isolation", "chroot", "--network", "host"])
        .args(["--volume", &format!("{clone}:{clone}")])
        .args(["--workingdir", clone]);
    for volume in &volumes {
        cmd.args(["--volume", volume]);
    }
    for (key, value) in direct.get_envs() {
        let key = key.to_str().expect("variable names are UTF-8");
        let value = value
            .and_then(|v| v.to_str())
            .expect("variable values are UTF-8");
        cmd.arg("--env").arg(format!("{key}={value}"));
    }
    cmd.arg(container)
        .arg("--")
        .args(entrypoint)
        .stdin(Stdio::null());

    eprintln!(
        "Running {} inside container {container} (AWS_ENDPOINT_URL={}):\n",
        entrypoint.join(" "),
        player.endpoint()
    );
    let out = cmd.output().expect("run buildah");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stdout}{stderr}");
    let output = format!("{stdout}{stderr}");

    let mut problems = Vec::new();
    if !out.status.success() {
        problems.push(format!("the pipe exited with {}", out.status));
    }
    let last = output.lines().rev().find(|l| !l.trim().is_empty());
    if !last.is_some_and(|l| l.contains('✔')) {
        problems.push(format!("the last line is not a ✔ success line: {last:?}"));
    }
    for warning in NO_CA_BUNDLE {
        if output.contains(warning) {
            problems.push(format!(
                "the binary found no CA bundle in the image ({warning:?})"
            ));
        }
    }
    if output.contains(&token) {
        problems.push("the OIDC token was printed".to_string());
    }
    let service = moto.describe_service("prod", "web");
    let running = service["taskDefinition"].as_str().unwrap_or_default();
    if !running.ends_with("task-definition/web:2") && running != "web:2" {
        problems.push(format!("the service runs {running:?}, not web:2"));
    }
    // A failed run registered nothing: a problem to list, not a panic.
    match moto.ecs_result("DescribeTaskDefinition", json!({"taskDefinition": "web:2"})) {
        Ok(web2) => {
            let image = &web2["taskDefinition"]["containerDefinitions"][0]["image"];
            if image != &json!(format!("{REGISTRY}/web:v2")) {
                problems.push(format!("web:2 has image {image}, not web:v2"));
            }
        }
        Err((status, body)) => {
            problems.push(format!("web:2 is not registered: HTTP {status}: {body}"))
        }
    }

    // Written by the pipe, as root, into the clone Bitbucket mounts (README "Outputs").
    let shared = pipe
        .get_env("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
        .expect("Pipe sets the shared storage dir");
    let outputs = std::path::Path::new(shared).join("ecs-oidc-deploy/deployment.json");
    match std::fs::read_to_string(&outputs)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
    {
        Some(v) if v["verdict"] == "succeeded" => {}
        other => problems.push(format!(
            "{} should hold verdict \"succeeded\", got {other:?}",
            outputs.display()
        )),
    }

    if problems.is_empty() {
        eprintln!(
            "\nimage-deploy: the deploy from inside the image worked; service web runs web:2"
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "\nimage-deploy: the deploy from inside the image FAILED:\n  {}",
            problems.join("\n  ")
        );
        ExitCode::FAILURE
    }
}
