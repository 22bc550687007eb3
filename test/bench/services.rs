//! Several services in one deploy (`SERVICE_NAMES`): 1, 10 and 50 services on one shared
//! revision, against a scripted ECS endpoint on a clock. Each service's deployment completes
//! [`DECIDE_AFTER`] after its own UpdateService. Reported: registrations, DescribeServices
//! calls per poll, how long the updates took, and the wall time beyond the rollout itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::ecs_fake::{NEW_TD, OLD_TD, deployment};
use crate::support::fake::{Fake, Req, Resp};
use crate::support::pipe::Pipe;
use crate::support::{now_epoch, rfc3339};

use super::{DECIDE_AFTER, ROLE_ARN, fmt_dur, fmt_secs, lock, stats};

/// How many services per run.
pub const SIZES: [usize; 3] = [1, 10, 50];
/// Polling interval of these runs: short, so the rollout dominates less of the wall time.
const INTERVAL: &str = "0.5";

/// What one run measured.
#[derive(Debug, Clone)]
pub struct ServicesSample {
    pub code: i32,
    pub wall: Duration,
    pub registrations: usize,
    /// DescribeServices calls in the busiest poll after the updates.
    pub describes_per_poll: usize,
    pub polls: usize,
    /// From the first UpdateService received to the last.
    pub updates_took: Duration,
}

#[derive(Default)]
struct State {
    updated_at: HashMap<String, Instant>,
    /// (when, op) of every ECS request.
    log: Vec<(Instant, String)>,
}

fn service_json(name: &str, state: &State) -> Value {
    let (deployments, td) = match state.updated_at.get(name) {
        None => (
            vec![deployment(
                "ecs-svc/1000000000000000001",
                "PRIMARY",
                OLD_TD,
                2,
                2,
                0,
                Some("COMPLETED"),
            )],
            OLD_TD,
        ),
        Some(at) if at.elapsed() < DECIDE_AFTER => (
            vec![
                deployment(
                    "ecs-svc/2000000000000000002",
                    "PRIMARY",
                    NEW_TD,
                    0,
                    2,
                    2,
                    Some("IN_PROGRESS"),
                ),
                deployment(
                    "ecs-svc/1000000000000000001",
                    "ACTIVE",
                    OLD_TD,
                    2,
                    2,
                    0,
                    Some("COMPLETED"),
                ),
            ],
            NEW_TD,
        ),
        Some(_) => (
            vec![deployment(
                "ecs-svc/2000000000000000002",
                "PRIMARY",
                NEW_TD,
                2,
                2,
                0,
                Some("COMPLETED"),
            )],
            NEW_TD,
        ),
    };
    json!({
        "serviceArn": format!("arn:aws:ecs:eu-west-1:123456789012:service/prod/{name}"),
        "serviceName": name,
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
        "launchType": "FARGATE",
        "taskDefinition": td,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}, "strategy": "ROLLING"},
        "deploymentController": {"type": "ECS"},
        "deployments": deployments,
        "events": [],
    })
}

fn handler(state: &Mutex<State>, req: &Req) -> Resp {
    if req.action().as_deref() == Some("AssumeRoleWithWebIdentity") {
        return Resp::assume_role_ok(
            "ASIAFAKEKEY000000001",
            "fakeSecretKey/abcdefghijklmnopqrstuvwxyz0123456789",
            "FwoGZXIvYXdzFakeSessionToken==",
            &rfc3339(now_epoch() + 3600),
            &req.form_value("RoleArn").unwrap_or_default(),
            &req.form_value("RoleSessionName").unwrap_or_default(),
        );
    }
    let body = req.json();
    let op = req.target().unwrap_or_default();
    let mut s = lock(state);
    s.log.push((Instant::now(), op.clone()));
    match op.as_str() {
        "DescribeServices" => {
            let services: Vec<Value> = body["services"]
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|n| service_json(n, &s))
                        .collect()
                })
                .unwrap_or_default();
            Resp::json(200, json!({"services": services, "failures": []}))
        }
        "DescribeTaskDefinition" => Resp::json(
            200,
            json!({
                "taskDefinition": {
                    "taskDefinitionArn": OLD_TD, "family": "web", "revision": 41, "status": "ACTIVE",
                    "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "essential": true}],
                    "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512"
                },
                "tags": []
            }),
        ),
        "RegisterTaskDefinition" => {
            let mut td = body;
            td["taskDefinitionArn"] = json!(NEW_TD);
            td["revision"] = json!(42);
            let tags = td.as_object_mut().and_then(|o| o.remove("tags"));
            Resp::json(
                200,
                json!({"taskDefinition": td, "tags": tags.unwrap_or(json!([]))}),
            )
        }
        "UpdateService" => {
            let name = body["service"].as_str().unwrap_or_default().to_string();
            s.updated_at.insert(name.clone(), Instant::now());
            Resp::json(200, json!({"service": service_json(&name, &s)}))
        }
        other => Resp::aws_json_error(
            400,
            "InvalidParameterException",
            &format!("the bench fake does not play {other}"),
        ),
    }
}

/// One deploy of `n` services.
fn run_once(n: usize) -> ServicesSample {
    let state = Arc::new(Mutex::new(State::default()));
    let st = Arc::clone(&state);
    let fake = Fake::from_fn(move |req| handler(&st, req));
    let mut pipe = Pipe::new()
        .endpoint(&fake.endpoint())
        .env("AWS_OIDC_ROLE_ARN", ROLE_ARN)
        .env("CLUSTER_NAME", "prod")
        .env("IMAGE", "nginx:1.28")
        .env("WAIT_INTERVAL", INTERVAL)
        .env("SERVICE_NAMES_COUNT", &n.to_string());
    for i in 0..n {
        pipe = pipe.env(&format!("SERVICE_NAMES_{i}"), &format!("svc-{i:02}"));
    }
    let started = Instant::now();
    let out = pipe.run_with_timeout(Duration::from_secs(120));
    let wall = started.elapsed();
    let s = lock(&state);
    let count = |op: &str| s.log.iter().filter(|(_, o)| o == op).count();
    let updates: Vec<Instant> = s
        .log
        .iter()
        .filter(|(_, o)| o == "UpdateService")
        .map(|(t, _)| *t)
        .collect();
    let (first_update, last_update) = match (updates.first(), updates.last()) {
        (Some(a), Some(b)) => (*a, *b),
        _ => (started, started),
    };
    // The DescribeServices after the last update, grouped into polls: the calls of one poll
    // leave together, polls are an interval apart.
    let mut polls: Vec<usize> = Vec::new();
    let mut last_at: Option<Instant> = None;
    for (at, _) in s
        .log
        .iter()
        .filter(|(t, o)| o == "DescribeServices" && *t > last_update)
    {
        match last_at {
            Some(prev) if at.duration_since(prev) < Duration::from_millis(200) => {
                if let Some(p) = polls.last_mut() {
                    *p += 1;
                }
            }
            _ => polls.push(1),
        }
        last_at = Some(*at);
    }
    ServicesSample {
        code: out.code,
        wall,
        registrations: count("RegisterTaskDefinition"),
        describes_per_poll: polls.iter().copied().max().unwrap_or(0),
        polls: polls.len(),
        updates_took: last_update.duration_since(first_update),
    }
}

/// Every size, `runs` times each.
pub fn scenario(runs: usize) -> Vec<(usize, Vec<ServicesSample>)> {
    SIZES
        .iter()
        .map(|&n| {
            eprintln!("bench: {n} service(s) on one shared revision ({runs} run(s))");
            (n, (0..runs).map(|_| run_once(n)).collect())
        })
        .collect()
}

/// The Markdown table and the goals, for the Performance section of test/README.md.
pub fn report(results: &[(usize, Vec<ServicesSample>)]) {
    println!(
        "\n**Several services on one shared revision** (`SERVICE_NAMES`; a scripted ECS endpoint whose every deployment completes {} after its own UpdateService; `WAIT_INTERVAL` {INTERVAL} s; median (min–max)):\n",
        fmt_dur(DECIDE_AFTER)
    );
    println!(
        "| Services | Exit | Registrations | DescribeServices per poll | Polls | Updates took | Wall time | Beyond the rollout |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let median = |samples: &[ServicesSample], f: fn(&ServicesSample) -> f64| {
        let v: Vec<f64> = samples.iter().map(f).collect();
        stats(&v)
    };
    let cell = |s: Option<(f64, f64, f64)>| match s {
        Some((med, min, max)) => format!("{} ({}–{})", fmt_secs(med), fmt_secs(min), fmt_secs(max)),
        None => "–".into(),
    };
    let mut walls: HashMap<usize, f64> = HashMap::new();
    let mut worst_describes = 0;
    let mut fifty_registrations = None;
    for (n, samples) in results {
        let codes: Vec<String> = samples.iter().map(|s| s.code.to_string()).collect();
        let wall = median(samples, |s| s.wall.as_secs_f64());
        let beyond = median(samples, |s| {
            s.wall.as_secs_f64() - DECIDE_AFTER.as_secs_f64()
        });
        if let Some((w, _, _)) = wall {
            walls.insert(*n, w);
        }
        let regs = samples.iter().map(|s| s.registrations).max().unwrap_or(0);
        let describes = samples
            .iter()
            .map(|s| s.describes_per_poll)
            .max()
            .unwrap_or(0);
        worst_describes = worst_describes.max(describes);
        if *n == 50 {
            fifty_registrations = Some(regs);
        }
        println!(
            "| {n} | {} | {regs} | {describes} | {} | {} | {} | {} |",
            codes.join(", "),
            samples.iter().map(|s| s.polls).max().unwrap_or(0),
            cell(median(samples, |s| s.updates_took.as_secs_f64())),
            cell(wall),
            cell(beyond),
        );
    }
    let ratio = match (walls.get(&50), walls.get(&1)) {
        (Some(fifty), Some(one)) if *one > 0.0 => Some(fifty / one),
        _ => None,
    };
    println!("\n**Goals** for several services, as measured above:\n");
    println!(
        "- 50 services with 1 registration: **{}**",
        match fifty_registrations {
            Some(1) => "1, met".to_string(),
            Some(r) => format!("{r}, not met"),
            None => "not measured".into(),
        }
    );
    println!(
        "- at most 5 DescribeServices calls per poll: **{worst_describes}, {}**",
        if worst_describes <= 5 {
            "met"
        } else {
            "not met"
        }
    );
    println!(
        "- 50 services within 2× the wall time of one: **{}**",
        match ratio {
            Some(r) => format!("{r:.2}×, {}", if r <= 2.0 { "met" } else { "not met" }),
            None => "not measured".into(),
        }
    );
}
