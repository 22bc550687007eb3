//! The benchmark behind the "Performance" section of test/README.md: ecs-oidc-deploy side by
//! side with what users would otherwise pick, on one machine, against one emulator. Run it with
//! `test/bench/run` (which installs the peers and builds this); it prints Markdown tables.
//!
//! Tools, each run as its own process with the environment of a Bitbucket step with OIDC:
//! - ours: the binary, `WAIT_INTERVAL` default (5 s) and 1 s;
//! - `aws-cli`: `test/bench/aws-cli-deploy`, the AWS CLI sequence a user would script, ending
//!   with `aws ecs wait services-stable`;
//! - `ecs-deploy`: fabfuel's `ecs deploy CLUSTER SERVICE --image CONTAINER IMAGE`.
//!
//! Scenarios:
//! 1. Instant rollout: moto behind the [`RolloutPlayer`] proxy, completing at the first
//!    DescribeServices after the UpdateService. Wall time, peak RSS (GNU time), time from spawn
//!    to the first request at the proxy, and the requests per deploy.
//! 2. ECS decides on a clock: a scripted fake (no moto) answers IN_PROGRESS until 2.5 s after
//!    the UpdateService arrived, then COMPLETED, or FAILED by the circuit breaker with a rollback
//!    that completes 3 s later. Time from that decision to the tool's exit, its exit code, and
//!    its reaction time (the moment the fake first served the frame the tool acted on, to exit).
//!
//! Nothing here is asserted: the numbers are printed, with ratios against ours.

mod preflight;
mod services;
#[allow(unused_imports)]
#[path = "../support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use support::ecs_fake::{
    NEW_TD, OLD_ID, OLD_TD, OUR_ID, crashed_task, deployment, event, failed, service,
    settled_service,
};
use support::fake::{ECS_TARGET, Fake, ProxyCtx, ProxyHook, Req, Resp};
use support::moto::Moto;
use support::pipe::Pipe;
use support::rollout::RolloutPlayer;
use support::{ACCOUNT, REGION, rfc3339};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/deploy";
const SESSION_NAME: &str = "bitbucket-web-app-42";
use support::world::REGISTRY;
/// Tasks of the moto service.
const DESIRED: usize = 2;
/// When the scripted ECS decides, after the UpdateService arrived.
const DECIDE_AFTER: Duration = Duration::from_millis(2500);
/// How long the circuit breaker's rollback takes after the decision.
const ROLLBACK_TAKES: Duration = Duration::from_secs(3);
/// Any run still going after this is killed (and reported).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A request the recording proxy or the fake received.
#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    op: String,
    /// How long the emulator behind took to answer it.
    took: Duration,
}

/// Every request, in order of arrival.
type Log = Arc<Mutex<Vec<Hit>>>;

fn operation(req: &Req) -> String {
    req.operation()
        .unwrap_or_else(|| format!("{} {}", req.method, req.path))
}

fn record(log: &Log, req: &Req) {
    lock(log).push(Hit {
        at: Instant::now(),
        op: operation(req),
        took: Duration::ZERO,
    });
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Ours,
    OursFast,
    AwsCli,
    EcsDeploy,
}

const TOOLS: [Tool; 4] = [Tool::Ours, Tool::OursFast, Tool::AwsCli, Tool::EcsDeploy];

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::Ours => "ecs-oidc-deploy",
            Tool::OursFast => "ecs-oidc-deploy, WAIT_INTERVAL=1",
            Tool::AwsCli => "AWS CLI script + `wait services-stable`",
            Tool::EcsDeploy => "fabfuel `ecs deploy`",
        }
    }

    fn interval(self) -> Duration {
        match self {
            Tool::Ours => Duration::from_secs(5),
            Tool::OursFast | Tool::EcsDeploy => Duration::from_secs(1),
            Tool::AwsCli => Duration::from_secs(15),
        }
    }
}

/// Where and what to deploy.
struct Target<'a> {
    endpoint: &'a str,
    cluster: &'a str,
    service: &'a str,
    container: &'a str,
    image: &'a str,
}

/// One measured process.
#[derive(Debug, Clone)]
struct Sample {
    code: i32,
    wall: Duration,
    rss_kib: Option<u64>,
    first_request: Option<Duration>,
    /// Summed time the emulator took to answer this run's requests.
    emulator: Duration,
    /// Run under GNU time (only its RSS counts).
    wrapped: bool,
    ops: Vec<String>,
    /// When the process had exited.
    exit_at: Instant,
    /// Its stdout and stderr.
    log_path: PathBuf,
    /// Set by the clocked scenario.
    decision_to_exit: Option<f64>,
    reaction: Option<Duration>,
}

struct Bench {
    root: PathBuf,
    ours_bin: PathBuf,
    venv: PathBuf,
    time_bin: Option<PathBuf>,
    work: PathBuf,
    smoke: bool,
    profile: String,
    runs: usize,
    rss_runs: usize,
    clocked_runs: usize,
    counter: std::cell::Cell<usize>,
}

impl Bench {
    fn next(&self) -> usize {
        let n = self.counter.get();
        self.counter.set(n + 1);
        n
    }

    /// The command for `tool`, exactly as the tool would be run in a step.
    fn command(&self, tool: Tool, target: &Target) -> Command {
        match tool {
            Tool::Ours | Tool::OursFast => {
                let mut pipe = Pipe::new()
                    .endpoint(target.endpoint)
                    .env("AWS_OIDC_ROLE_ARN", ROLE_ARN)
                    .env("CLUSTER_NAME", target.cluster)
                    .env("SERVICE_NAME", target.service)
                    .env("IMAGE", target.image);
                if tool == Tool::OursFast {
                    pipe = pipe.env("WAIT_INTERVAL", "1");
                }
                let mut cmd = pipe.command();
                // Pipe::command runs whatever ECS_OIDC_DEPLOY_BIN names; make it explicit.
                let mut ours = Command::new(&self.ours_bin);
                ours.env_clear();
                for (k, v) in cmd.get_envs() {
                    if let Some(v) = v {
                        ours.env(k, v);
                    }
                }
                if let Some(dir) = cmd.get_current_dir() {
                    ours.current_dir(dir);
                }
                cmd = ours;
                cmd
            }
            Tool::AwsCli | Tool::EcsDeploy => {
                let home = self.work.join(format!("home-{}", self.next()));
                std::fs::create_dir_all(&home).expect("create a HOME for a peer");
                let token_file = home.join("web-identity-token");
                std::fs::write(
                    &token_file,
                    support::token::bitbucket_token(Value::Null).as_bytes(),
                )
                .expect("write the web identity token file");
                let mut cmd = if tool == Tool::AwsCli {
                    let mut c = Command::new("bash");
                    c.arg(self.root.join("test/bench/aws-cli-deploy"));
                    c.args([
                        target.cluster,
                        target.service,
                        target.container,
                        target.image,
                    ]);
                    c
                } else {
                    let mut c = Command::new(self.venv.join("bin/ecs"));
                    c.args(["deploy", target.cluster, target.service, "--image"]);
                    c.args([target.container, target.image]);
                    c
                };
                let path = format!(
                    "{}:/usr/local/bin:/usr/bin:/bin",
                    self.venv.join("bin").display()
                );
                cmd.env_clear()
                    .current_dir(&home)
                    .env("PATH", path)
                    .env("HOME", &home)
                    .env("CI", "true")
                    .env("AWS_DEFAULT_REGION", REGION)
                    .env("AWS_ENDPOINT_URL", target.endpoint)
                    .env("AWS_ROLE_ARN", ROLE_ARN)
                    .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
                    .env("AWS_ROLE_SESSION_NAME", SESSION_NAME)
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .env("AWS_PAGER", "")
                    // Anything not sent to the emulator goes to a closed local port and fails.
                    .env("HTTP_PROXY", "http://127.0.0.1:9")
                    .env("HTTPS_PROXY", "http://127.0.0.1:9")
                    .env("NO_PROXY", "127.0.0.1,localhost");
                cmd
            }
        }
    }

    /// Runs `cmd` (under GNU time when there is one), with its output in a log file.
    /// `wrap`: under GNU time, for the peak RSS (the wrapper's own start-up then counts in the
    /// times, so the timed runs go without it).
    fn measure(&self, name: &str, cmd: &Command, log: &Log, wrap: bool) -> Sample {
        let n = self.next();
        let rss_file = self.work.join(format!("rss-{n}"));
        let out_path = self.work.join(format!("{n:03}-{name}.log"));
        let mut run = match self.time_bin.as_ref().filter(|_| wrap) {
            Some(time) => {
                let mut c = Command::new(time);
                c.arg("-f").arg("%M").arg("-o").arg(&rss_file);
                c.arg(cmd.get_program()).args(cmd.get_args());
                c
            }
            None => {
                let mut c = Command::new(cmd.get_program());
                c.args(cmd.get_args());
                c
            }
        };
        run.env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                run.env(k, v);
            }
        }
        if let Some(dir) = cmd.get_current_dir() {
            run.current_dir(dir);
        }
        let out = File::create(&out_path).expect("create a run log");
        let err = out.try_clone().expect("clone the run log handle");
        run.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);

        let mark = lock(log).len();
        let started = Instant::now();
        let mut child = run
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", run.get_program()));
        let done = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let done = Arc::clone(&done);
            let pgid = child.id();
            std::thread::spawn(move || {
                let deadline = Instant::now() + RUN_TIMEOUT;
                while !done.load(Ordering::SeqCst) {
                    if Instant::now() > deadline {
                        // The whole process group of this run, by its id.
                        let _ = Command::new("kill")
                            .args(["-KILL", "--", &format!("-{pgid}")])
                            .status();
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        let status = child.wait().expect("wait for a run");
        let exit_at = Instant::now();
        let wall = exit_at.duration_since(started);
        done.store(true, Ordering::SeqCst);
        let _ = watchdog.join();

        let requests: Vec<Hit> = lock(log)[mark..].to_vec();
        // For whoever profiles: when each request arrived and how long the emulator took.
        let timeline: String = requests
            .iter()
            .map(|h| {
                format!(
                    "{:>9.1} ms  {:>7.1} ms  {}\n",
                    h.at.saturating_duration_since(started).as_secs_f64() * 1000.0,
                    h.took.as_secs_f64() * 1000.0,
                    h.op
                )
            })
            .collect();
        let _ = std::fs::write(
            out_path.with_extension("requests"),
            format!(
                "  arrived    answered in  operation\n{timeline}{:>9.1} ms  exit {}\n",
                wall.as_secs_f64() * 1000.0,
                status
            ),
        );
        let rss_kib = std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|s| s.lines().rev().find_map(|l| l.trim().parse::<u64>().ok()));
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Sample {
            code,
            wall,
            rss_kib,
            first_request: requests
                .first()
                .map(|h| h.at.saturating_duration_since(started)),
            emulator: requests.iter().map(|h| h.took).sum(),
            wrapped: wrap,
            ops: requests.into_iter().map(|h| h.op).collect(),
            exit_at,
            log_path: out_path,
            decision_to_exit: None,
            reaction: None,
        }
    }
}

impl Sample {
    /// The run's output, for a failure message.
    fn log(&self) -> String {
        format!(
            "{}:\n{}",
            self.log_path.display(),
            std::fs::read_to_string(&self.log_path).unwrap_or_default()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: moto behind the RolloutPlayer, rollout complete at the first poll.

/// moto with cluster `prod`, service `web` (2 tasks of `web:v1` from ECR, images v1 and v2
/// pushed); the player in front of it, which also answers ListTasks/DescribeTasks with the
/// running tasks of the completed rollout (moto starts no tasks; fabfuel counts them); and in
/// front of that a recording proxy that notes when each request arrives and how long the
/// emulator behind took to answer it.
struct MotoWorld {
    moto: Moto,
    player: Arc<RolloutPlayer>,
    recorder: Fake,
    log: Log,
}

fn moto_world() -> MotoWorld {
    let moto = Moto::builder().service_running(DESIRED as u32).start();
    // The same world as test/local-deploy: service web (2 tasks) on web:1, web:v2 in ECR.
    support::world::seed(&moto);
    let simulator = support::iam_sim::Simulator::new();

    let slot: Arc<OnceLock<Weak<RolloutPlayer>>> = Arc::default();
    let tasks: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    let hook: ProxyHook = {
        let slot = Arc::clone(&slot);
        Arc::new(move |_ctx: &ProxyCtx, req: &Req| {
            if let Some(answer) = simulator.answer(req) {
                return Some(answer);
            }
            if req.target_prefix().as_deref() != Some(ECS_TARGET) {
                return None;
            }
            let player = slot.get().and_then(Weak::upgrade)?;
            match req.target().as_deref() {
                Some("ListTasks") => Some(list_running_tasks(&player, &tasks, &req.json())),
                Some("DescribeTasks") => Some(describe_tasks(&tasks, &req.json())),
                _ => None,
            }
        })
    };
    let player = Arc::new(RolloutPlayer::with_hook(moto.endpoint(), 0, hook));
    let _ = slot.set(Arc::downgrade(&player));

    let log: Log = Arc::default();
    let recorder = {
        let log = Arc::clone(&log);
        Fake::proxy(
            player.endpoint(),
            Arc::new(move |ctx: &ProxyCtx, req: &Req| {
                let at = Instant::now();
                let resp = ctx.forward_resp(req);
                lock(&log).push(Hit {
                    at,
                    op: operation(req),
                    took: at.elapsed(),
                });
                Some(resp)
            }),
        )
    };
    MotoWorld {
        moto,
        player,
        recorder,
        log,
    }
}

fn short(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn list_running_tasks(
    player: &RolloutPlayer,
    tasks: &Mutex<HashMap<String, Value>>,
    body: &Value,
) -> Resp {
    let service = short(body["serviceName"].as_str().unwrap_or_default());
    let cluster = short(body["cluster"].as_str().unwrap_or("default")).to_string();
    let stopped = body["desiredStatus"].as_str() == Some("STOPPED");
    let mut arns = Vec::new();
    if let Some(rollout) = player.rollout(service).filter(|r| r.completed && !stopped) {
        let mut known = lock(tasks);
        for _ in 0..DESIRED {
            let arn = format!(
                "arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{}",
                support::random_hex(32)
            );
            known.insert(
                arn.clone(),
                json!({
                    "taskArn": arn,
                    "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"),
                    "taskDefinitionArn": rollout.task_definition,
                    "group": format!("service:{service}"),
                    "startedBy": rollout.deployment_id,
                    "lastStatus": "RUNNING",
                    "desiredStatus": "RUNNING",
                    "launchType": "FARGATE",
                    "containers": [{"name": "web", "lastStatus": "RUNNING"}],
                }),
            );
            arns.push(arn);
        }
    }
    Resp::json(200, json!({"taskArns": arns}))
}

fn describe_tasks(tasks: &Mutex<HashMap<String, Value>>, body: &Value) -> Resp {
    let known = lock(tasks);
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    for arn in body["tasks"].as_array().into_iter().flatten() {
        let arn = arn.as_str().unwrap_or_default();
        match known.get(arn) {
            Some(t) => found.push(t.clone()),
            None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
        }
    }
    Resp::json(200, json!({"tasks": found, "failures": failures}))
}

/// Median time of back-to-back DescribeServices calls straight to moto and through both proxies.
fn emulator_round_trip(world: &MotoWorld) -> (f64, f64) {
    let time = |endpoint: &str| -> f64 {
        let client = support::moto::Client::new(endpoint);
        let v: Vec<f64> = (0..20)
            .map(|_| {
                let t = Instant::now();
                client.ecs(
                    "DescribeServices",
                    json!({"cluster": "prod", "services": ["web"]}),
                );
                t.elapsed().as_secs_f64()
            })
            .collect();
        stats(&v).map_or(f64::NAN, |(m, _, _)| m)
    };
    let direct = time(&world.moto.endpoint());
    let mark = lock(&world.log).len();
    let proxied = time(&world.recorder.endpoint());
    lock(&world.log).truncate(mark);
    (direct, proxied)
}

/// Each tool's samples, by its index in [`TOOLS`].
type Samples = BTreeMap<usize, Vec<Sample>>;

/// The instant scenario's samples and round trips; `Err` says which tool failed, and how.
fn instant_scenario(bench: &Bench) -> Result<(Samples, (f64, f64)), String> {
    let world = moto_world();
    let endpoint = world.recorder.endpoint();
    let mut samples: BTreeMap<usize, Vec<Sample>> = BTreeMap::new();
    let warmups = usize::from(!bench.smoke);
    let mut deploys = 0usize;
    let mut previous = String::new();
    for round in 0..warmups + bench.runs + bench.rss_runs {
        // The last rounds run under GNU time, for the peak RSS only.
        let wrapped = round >= warmups + bench.runs;
        for k in 0..TOOLS.len() {
            // Rotate the order each round so that no tool always follows the same one.
            let i = (k + round) % TOOLS.len();
            let tool = TOOLS[i];
            deploys += 1;
            let image = format!("{REGISTRY}/web:v{}", 1 + deploys % 2);
            let target = Target {
                endpoint: &endpoint,
                cluster: "prod",
                service: "web",
                container: "web",
                image: &image,
            };
            let cmd = bench.command(tool, &target);
            let sample = bench.measure("instant", &cmd, &world.log, wrapped);
            let now = world
                .player
                .rollout("web")
                .filter(|r| r.completed)
                .map(|r| r.task_definition)
                .unwrap_or_default();
            let deployed = !now.is_empty() && now != previous;
            previous = now;
            if sample.code != 0 || !deployed {
                return Err(format!(
                    "{} failed the instant deploy (exit {}):\n{}",
                    tool.label(),
                    sample.code,
                    sample.log()
                ));
            }
            eprintln!(
                "  {:<42} {:>8}  {}",
                tool.label(),
                fmt_dur(sample.wall),
                if round < warmups {
                    "(warm-up)"
                } else if wrapped {
                    "(under /usr/bin/time, for the peak RSS)"
                } else {
                    ""
                }
            );
            if round >= warmups {
                samples.entry(i).or_default().push(sample);
            }
        }
    }
    Ok((samples, emulator_round_trip(&world)))
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: a scripted ECS whose decision comes on a clock.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    Completed,
    Failed,
}

#[derive(Default, Debug)]
struct Clock {
    update_at: Option<Instant>,
    /// First time each frame was served: 0 in progress, 1 the decision, 2 the rollback done.
    first_served: [Option<Instant>; 3],
}

fn ours_deployment(running: i64, pending: i64, state: &str) -> Value {
    deployment(OUR_ID, "PRIMARY", NEW_TD, running, 3, pending, Some(state))
}

fn old_active(running: i64) -> Value {
    deployment(OLD_ID, "ACTIVE", OLD_TD, running, 3, 0, Some("COMPLETED"))
}

const ROLLBACK_ID: &str = "ecs-svc/7700000000000000043";

fn frame(outcome: Outcome, phase: usize) -> Value {
    let started = event(
        "e1",
        "(service web) has started 3 tasks: (task 0a1b) (task 2c3d) (task 4e5f).",
    );
    match (outcome, phase) {
        (_, 0) => service(
            vec![ours_deployment(0, 3, "IN_PROGRESS"), old_active(3)],
            vec![started],
        ),
        (Outcome::Completed, _) => service(
            vec![ours_deployment(3, 0, "COMPLETED")],
            vec![
                event("e3", "(service web) has reached a steady state."),
                event(
                    "e2",
                    "(service web) (deployment ecs-svc/7700000000000000042) deployment completed.",
                ),
                started,
            ],
        ),
        (Outcome::Failed, 1) => service(
            vec![
                deployment(ROLLBACK_ID, "PRIMARY", OLD_TD, 0, 3, 3, Some("IN_PROGRESS")),
                failed(
                    deployment(OUR_ID, "ACTIVE", NEW_TD, 0, 3, 0, Some("FAILED")),
                    3,
                ),
                old_active(3),
            ],
            vec![
                event(
                    "f2",
                    "(service web) rolling back to deployment ecs-svc/7700000000000000041.",
                ),
                event(
                    "f1",
                    "(service web) (deployment ecs-svc/7700000000000000042) deployment failed: tasks failed to start.",
                ),
                started,
            ],
        ),
        (Outcome::Failed, _) => service(
            vec![deployment(
                ROLLBACK_ID,
                "PRIMARY",
                OLD_TD,
                3,
                3,
                0,
                Some("COMPLETED"),
            )],
            vec![
                event("f3", "(service web) has reached a steady state."),
                event(
                    "f2",
                    "(service web) rolling back to deployment ecs-svc/7700000000000000041.",
                ),
            ],
        ),
    }
}

fn task_definition(arn: &str, image: &str) -> Value {
    let revision = arn.rsplit(':').next().unwrap_or("1");
    json!({
        "taskDefinitionArn": arn,
        "family": "web",
        "revision": revision.parse::<i64>().unwrap_or(1),
        "status": "ACTIVE",
        "containerDefinitions": [{
            "name": "app", "image": image, "essential": true, "cpu": 0,
            "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
            "environment": [{"name": "EMPTY", "value": ""}],
            "mountPoints": [], "volumesFrom": []
        }],
        "volumes": [],
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
        "registeredAt": 1_764_150_000.0,
        "registeredBy": "arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-41"
    })
}

fn running_task(n: usize, td: &str, started_by: &str) -> Value {
    json!({
        "taskArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/0a0b0c0d0e0f00000000000000000{n:03}"),
        "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"),
        "taskDefinitionArn": td,
        "group": "service:web",
        "startedBy": started_by,
        "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING",
        "launchType": "FARGATE",
        "containers": [{"name": "app", "lastStatus": "RUNNING"}]
    })
}

fn clocked_handler(outcome: Outcome, clock: &Mutex<Clock>, req: &Req) -> Resp {
    if req.action().as_deref() == Some("AssumeRoleWithWebIdentity") {
        return Resp::assume_role_ok(
            "ASIAFAKEKEY000000001",
            "fakeSecretKey/abcdefghijklmnopqrstuvwxyz0123456789",
            "FwoGZXIvYXdzFakeSessionToken==",
            &rfc3339(support::now_epoch() + 3600),
            &req.form_value("RoleArn").unwrap_or_default(),
            &req.form_value("RoleSessionName").unwrap_or_default(),
        );
    }
    let body = req.json();
    let phase_now = |c: &Clock| -> Option<usize> {
        let since = c.update_at?.elapsed();
        Some(if since < DECIDE_AFTER {
            0
        } else if outcome == Outcome::Completed || since < DECIDE_AFTER + ROLLBACK_TAKES {
            1
        } else {
            2
        })
    };
    match req.target().as_deref() {
        Some("DescribeServices") => {
            let mut c = lock(clock);
            let svc = match phase_now(&c) {
                None => settled_service(),
                Some(phase) => {
                    c.first_served[phase].get_or_insert_with(Instant::now);
                    frame(outcome, phase)
                }
            };
            Resp::json(200, json!({"services": [svc], "failures": []}))
        }
        Some("DescribeTaskDefinition") => Resp::json(
            200,
            json!({
                "taskDefinition": task_definition(OLD_TD, "nginx:1.27"),
                "tags": [{"key": "team", "value": "payments"}]
            }),
        ),
        Some("RegisterTaskDefinition") => {
            let mut td = body;
            td["taskDefinitionArn"] = json!(NEW_TD);
            td["revision"] = json!(42);
            td["status"] = json!("ACTIVE");
            let tags = td.as_object_mut().and_then(|o| o.remove("tags"));
            Resp::json(
                200,
                json!({"taskDefinition": td, "tags": tags.unwrap_or(json!([]))}),
            )
        }
        Some("UpdateService") => {
            lock(clock).update_at.get_or_insert_with(Instant::now);
            let svc = service(
                vec![ours_deployment(0, 0, "IN_PROGRESS"), old_active(3)],
                vec![],
            );
            Resp::json(200, json!({"service": svc}))
        }
        Some("ListTasks") => {
            let phase = phase_now(&lock(clock)).unwrap_or(0);
            let tasks = list_clocked_tasks(outcome, phase, &body);
            let arns: Vec<Value> = tasks.iter().map(|t| t["taskArn"].clone()).collect();
            Resp::json(200, json!({"taskArns": arns}))
        }
        Some("DescribeTasks") => {
            let phase = phase_now(&lock(clock)).unwrap_or(0);
            let wanted: Vec<&str> = body["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let all: Vec<Value> = list_clocked_tasks(outcome, phase, &json!({}))
                .into_iter()
                .chain(list_clocked_tasks(
                    outcome,
                    phase,
                    &json!({"desiredStatus": "STOPPED"}),
                ))
                .filter(|t| wanted.contains(&t["taskArn"].as_str().unwrap_or_default()))
                .collect();
            Resp::json(200, json!({"tasks": all, "failures": []}))
        }
        Some("TagResource") => Resp::json(200, json!({})),
        Some("ListTaskDefinitions") => {
            Resp::json(200, json!({"taskDefinitionArns": [OLD_TD, NEW_TD]}))
        }
        Some("ListServices") => Resp::json(
            200,
            json!({"serviceArns": ["arn:aws:ecs:eu-west-1:123456789012:service/prod/web"]}),
        ),
        Some("DeregisterTaskDefinition") => {
            let arn = body["taskDefinition"]
                .as_str()
                .unwrap_or(OLD_TD)
                .to_string();
            let mut td = task_definition(&arn, "nginx:1.27");
            td["status"] = json!("INACTIVE");
            Resp::json(200, json!({"taskDefinition": td}))
        }
        other => Resp::aws_json_error(
            400,
            "InvalidParameterException",
            &format!("the bench fake does not play {other:?}"),
        ),
    }
}

/// The tasks ListTasks shows in `phase` (RUNNING by default, or STOPPED).
fn list_clocked_tasks(outcome: Outcome, phase: usize, body: &Value) -> Vec<Value> {
    let stopped = body["desiredStatus"].as_str() == Some("STOPPED");
    match (outcome, phase, stopped) {
        (Outcome::Failed, 1 | 2, true) => (1..=3).map(|n| crashed_task(n, OUR_ID)).collect(),
        (Outcome::Completed, 1, false) => {
            (1..=3).map(|n| running_task(n, NEW_TD, OUR_ID)).collect()
        }
        (Outcome::Failed, 2, false) => (1..=3)
            .map(|n| running_task(n + 10, OLD_TD, ROLLBACK_ID))
            .collect(),
        (_, _, false) => (1..=3)
            .map(|n| running_task(n + 20, OLD_TD, OLD_ID))
            .collect(),
        _ => Vec::new(),
    }
}

/// The clocked scenario's samples; `Err` names the tool that never updated the service.
fn clocked_scenario(bench: &Bench, outcome: Outcome, tools: &[Tool]) -> Result<Samples, String> {
    let mut samples: BTreeMap<usize, Vec<Sample>> = BTreeMap::new();
    for round in 0..bench.clocked_runs {
        for k in 0..tools.len() {
            let tool = tools[(k + round) % tools.len()];
            let Some(index) = TOOLS.iter().position(|t| *t == tool) else {
                continue;
            };
            let log: Log = Arc::default();
            let clock: Arc<Mutex<Clock>> = Arc::default();
            let fake = {
                let log = Arc::clone(&log);
                let clock = Arc::clone(&clock);
                Fake::from_fn(move |req| {
                    record(&log, req);
                    clocked_handler(outcome, &clock, req)
                })
            };
            let endpoint = fake.endpoint();
            let target = Target {
                endpoint: &endpoint,
                cluster: "prod",
                service: "web",
                container: "app",
                image: "nginx:1.28",
            };
            let cmd = bench.command(tool, &target);
            let mut sample = bench.measure("clocked", &cmd, &log, false);
            let c = lock(&clock);
            let Some(update_at) = c.update_at else {
                return Err(format!(
                    "{} never updated the service (exit {}):\n{}",
                    tool.label(),
                    sample.code,
                    sample.log()
                ));
            };
            let decision = update_at + DECIDE_AFTER;
            sample.decision_to_exit = Some(signed_secs(sample.exit_at, decision));
            let acted_on = c.first_served.iter().rev().flatten().next().copied();
            sample.reaction = acted_on.map(|t| sample.exit_at.saturating_duration_since(t));
            drop(c);
            eprintln!(
                "  {:<42} {:?}: exit {} {:>8} after ECS decided",
                tool.label(),
                outcome,
                sample.code,
                sample.decision_to_exit.map(fmt_secs).unwrap_or_default()
            );
            samples.entry(index).or_default().push(sample);
        }
    }
    Ok(samples)
}

/// `a - b` in seconds, negative when `a` is earlier.
fn signed_secs(a: Instant, b: Instant) -> f64 {
    if a >= b {
        a.duration_since(b).as_secs_f64()
    } else {
        -b.duration_since(a).as_secs_f64()
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and output.

/// Median, min, max.
fn stats(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((median, v[0], v[n - 1]))
}

fn fmt_secs(s: f64) -> String {
    if s.abs() < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s.abs() < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

fn fmt_dur(d: Duration) -> String {
    fmt_secs(d.as_secs_f64())
}

fn fmt_ms(s: f64) -> String {
    if s < 0.1 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        fmt_secs(s)
    }
}

/// `median (min–max)`, or just the value for one run.
fn cell(values: &[f64], fmt: fn(f64) -> String) -> String {
    match stats(values) {
        None => "n/a".into(),
        Some((m, lo, hi)) if values.len() == 1 || (hi - lo).abs() < f64::EPSILON => fmt(m),
        Some((m, lo, hi)) => format!("{} ({}–{})", fmt(m), fmt(lo), fmt(hi)),
    }
}

fn fmt_mb(kib: f64) -> String {
    format!("{:.1} MB", kib * 1024.0 / 1e6)
}

fn median_of(samples: &[Sample], f: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = samples.iter().filter_map(f).collect();
    stats(&v).map(|(m, _, _)| m)
}

fn values(samples: &[Sample], f: impl Fn(&Sample) -> Option<f64>) -> Vec<f64> {
    samples.iter().filter_map(f).collect()
}

/// `3× AssumeRoleWithWebIdentity, 2× DescribeServices, ...` in order of first appearance.
fn op_summary(ops: &[String]) -> String {
    let mut order: Vec<(String, usize)> = Vec::new();
    for op in ops {
        match order.iter_mut().find(|(o, _)| o == op) {
            Some((_, n)) => *n += 1,
            None => order.push((op.clone(), 1)),
        }
    }
    order
        .into_iter()
        .map(|(op, n)| if n == 1 { op } else { format!("{n}× {op}") })
        .collect::<Vec<_>>()
        .join(", ")
}

fn cmd_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| cmd_output("uname", &["-m"]));
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!(
        "{cpus} CPUs (`nproc`), {model}, {mem_gib:.0} GiB RAM, Linux {}",
        cmd_output("uname", &["-r"])
    )
}

fn peer_versions(venv: &Path) -> String {
    let out = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import importlib.metadata as m, sys; print(', '.join(f'{p} {m.version(p)}' for p in ('awscli', 'botocore', 'ecs-deploy', 'boto3')) + f', Python {sys.version.split()[0]}')",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    out.unwrap_or_else(|| "unknown versions".into())
}

fn size_mb(path: &Path) -> Option<f64> {
    std::fs::metadata(path).ok().map(|m| m.len() as f64 / 1e6)
}

fn dir_size_mb(path: &Path) -> Option<f64> {
    let out = cmd_output("du", &["-sk", &path.to_string_lossy()]);
    out.split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .map(|k| k * 1024.0 / 1e6)
}

fn goal(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let arg_value = |name: &str| -> Option<usize> {
        let i = args.iter().position(|a| a == name)?;
        args.get(i + 1)?.parse().ok()
    };
    let root = support::manifest_dir();
    let ours_bin = std::env::var_os("ECS_OIDC_DEPLOY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/ecs-oidc-deploy"));
    assert!(
        ours_bin.is_file(),
        "{} not found: run test/bench/run",
        ours_bin.display()
    );
    let venv = std::env::var_os("BENCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("test/.venv-bench"));
    assert!(
        venv.join("bin/aws").is_file() && venv.join("bin/ecs").is_file(),
        "aws and ecs not found in {}: run test/bench/run",
        venv.display()
    );
    let time_bin = ["/usr/bin/time"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let bench = Bench {
        work: support::fresh_dir("bench"),
        root: root.clone(),
        ours_bin: ours_bin.clone(),
        venv: venv.clone(),
        time_bin,
        smoke,
        profile: std::env::var("BENCH_PROFILE").unwrap_or_else(|_| "release".into()),
        runs: arg_value("--runs").unwrap_or(if smoke { 1 } else { 7 }),
        rss_runs: arg_value("--rss-runs").unwrap_or(if smoke { 1 } else { 3 }),
        clocked_runs: arg_value("--clocked-runs").unwrap_or(if smoke { 1 } else { 3 }),
        counter: std::cell::Cell::new(0),
    };
    // Every moto and proxy is stopped by Drop when main returns, on failure too; a panic in the
    // release build (panic = "abort") skips Drop, and this stops moto then.
    support::moto::stop_all_on_abort();
    let began = Instant::now();
    match measure(&bench) {
        Ok(results) => {
            report(&bench, &results);
            services::report(&results.several);
            eprintln!("bench: done in {}", fmt_dur(began.elapsed()));
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("bench: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// Every scenario, in order; `Err` when a tool did not deploy.
fn measure(bench: &Bench) -> Result<Results, String> {
    let smoke = bench.smoke;
    let load_before = load_average();
    if load_before.parse::<f64>().is_ok_and(|l| l >= 1.0) {
        eprintln!(
            "bench: the machine is busy (1-minute load average {load_before}); the numbers will be noisy"
        );
    }

    eprintln!(
        "bench: instant rollout against moto behind the RolloutPlayer ({} run(s) per tool{})",
        bench.runs,
        if smoke {
            ", no warm-up"
        } else {
            " after 1 warm-up"
        }
    );
    let (instant, round_trip) = instant_scenario(bench)?;

    let clocked_tools: Vec<Tool> = if smoke {
        vec![Tool::Ours, Tool::OursFast, Tool::EcsDeploy]
    } else {
        TOOLS.to_vec()
    };
    if smoke {
        eprintln!(
            "bench: smoke mode skips the AWS CLI in the clocked scenarios: its waiter polls every 15 s"
        );
    }
    eprintln!(
        "bench: ECS decides {} after UpdateService: COMPLETED ({} run(s) per tool)",
        fmt_dur(DECIDE_AFTER),
        bench.clocked_runs
    );
    let completed = clocked_scenario(bench, Outcome::Completed, &clocked_tools)?;
    eprintln!(
        "bench: ECS decides {} after UpdateService: FAILED by the circuit breaker, rollback done {} later",
        fmt_dur(DECIDE_AFTER),
        fmt_dur(ROLLBACK_TAKES)
    );
    let failed = clocked_scenario(bench, Outcome::Failed, &clocked_tools)?;
    let several = services::scenario(bench.clocked_runs);
    eprintln!("bench: the instant deploy with PREFLIGHT off and on");
    let preflight = preflight::scenario(bench)?;

    Ok(Results {
        instant,
        completed,
        failed,
        clocked_tools,
        round_trip,
        load_before,
        load_after: load_average(),
        several,
        preflight,
    })
}

/// The 1-minute load average, to show how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Everything measured, for [`report`].
struct Results {
    instant: BTreeMap<usize, Vec<Sample>>,
    completed: BTreeMap<usize, Vec<Sample>>,
    failed: BTreeMap<usize, Vec<Sample>>,
    clocked_tools: Vec<Tool>,
    /// Back-to-back DescribeServices: straight to moto, and through both proxies.
    round_trip: (f64, f64),
    load_before: String,
    load_after: String,
    /// Several services on one shared revision (`services.rs`).
    several: Vec<(usize, Vec<services::ServicesSample>)>,
    /// The instant deploy without and with `PREFLIGHT`.
    preflight: preflight::Measured,
}

impl Results {
    /// `tool`'s samples in `m`; `wrapped` selects the runs under GNU time or the timed ones.
    fn get(m: &BTreeMap<usize, Vec<Sample>>, tool: Tool, wrapped: bool) -> Vec<Sample> {
        TOOLS
            .iter()
            .position(|x| *x == tool)
            .and_then(|i| m.get(&i))
            .map(|v| v.iter().filter(|s| s.wrapped == wrapped).cloned().collect())
            .unwrap_or_default()
    }
}

fn wall(s: &Sample) -> Option<f64> {
    Some(s.wall.as_secs_f64())
}

fn first_request(s: &Sample) -> Option<f64> {
    s.first_request.map(|d| d.as_secs_f64())
}

#[allow(clippy::too_many_lines)]
fn report(bench: &Bench, r: &Results) {
    let timed = |t: Tool| Results::get(&r.instant, t, false);
    let under_time = |t: Tool| Results::get(&r.instant, t, true);
    let ours_wall = median_of(&timed(Tool::Ours), wall).unwrap_or(f64::NAN);
    let mut out = String::new();
    if bench.smoke {
        out.push_str(
            "SMOKE RUN: one run per tool, the debug build, no AWS CLI waiter in the clocked \
             scenarios. It proves that the benchmark works; its numbers are not the published \
             ones (run test/bench/run without --smoke for those).\n\n",
        );
    }
    let date = cmd_output("date", &["-u", "+%Y-%m-%d"]);
    out.push_str(&format!(
        "Measured {date} on {} (1-minute load average {} before, {} after); ours: `{}` ({} \
         build); peers: {}; emulator: moto {}.\n\n",
        machine(),
        r.load_before,
        r.load_after,
        bench
            .ours_bin
            .strip_prefix(&bench.root)
            .unwrap_or(&bench.ours_bin)
            .display(),
        bench.profile,
        peer_versions(&bench.venv),
        support::moto::MOTO_VERSION
    ));

    out.push_str(&format!(
        "**A deploy whose rollout completes at once** (moto behind the rollout-playing proxy; \
         {} timed run(s) per tool{}, order rotated each round, median (min–max); peak RSS from {} \
         more run(s) under `/usr/bin/time`):\n\n",
        bench.runs,
        if bench.smoke { "" } else { " after a warm-up" },
        bench.rss_runs
    ));
    out.push_str(
        "| Tool | Wall time | × ours | Of which the emulator | Peak RSS | Start → first AWS request | AWS requests |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    for tool in TOOLS {
        let s = timed(tool);
        let ratio = median_of(&s, wall).map_or("n/a".into(), |m| format!("{:.1}×", m / ours_wall));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            tool.label(),
            cell(&values(&s, wall), fmt_secs),
            ratio,
            cell(&values(&s, |x| Some(x.emulator.as_secs_f64())), fmt_ms),
            cell(
                &values(&under_time(tool), |x| x.rss_kib.map(|k| k as f64)),
                fmt_mb
            ),
            cell(&values(&s, first_request), fmt_ms),
            cell(&values(&s, |x| Some(x.ops.len() as f64)), |c| format!(
                "{c:.0}"
            )),
        ));
    }
    out.push_str(&format!(
        "\nThe emulator answers one request at a time: a DescribeServices takes {} straight from \
         moto and {} through the two proxies (median of 20 back-to-back calls).\n\n",
        fmt_ms(r.round_trip.0),
        fmt_ms(r.round_trip.1)
    ));
    out.push_str("Requests per deploy, in order of first use:\n\n");
    for tool in TOOLS {
        if let Some(s) = timed(tool).first() {
            out.push_str(&format!("- {}: {}\n", tool.label(), op_summary(&s.ops)));
        }
    }
    out.push('\n');
    out.push_str(&preflight::report(&r.preflight));

    out.push_str(&format!(
        "**From ECS's decision to the verdict** (a scripted ECS endpoint that turns COMPLETED, or \
         FAILED by the circuit breaker, {} after the UpdateService, the rollback being done {} \
         later; {} run(s) per tool; decision → exit, median (min–max), and in brackets the \
         reaction: from the moment the fake first served the frame the tool acted on to its \
         exit):\n\n",
        fmt_dur(DECIDE_AFTER),
        fmt_dur(ROLLBACK_TAKES),
        bench.clocked_runs
    ));
    out.push_str("| Tool | Polls every | COMPLETED → exit | Exit | FAILED → exit | Exit |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for tool in TOOLS {
        if !r.clocked_tools.contains(&tool) {
            out.push_str(&format!(
                "| {} | {} | not run in smoke mode | | not run in smoke mode | |\n",
                tool.label(),
                fmt_dur(tool.interval())
            ));
            continue;
        }
        let col = |m: &BTreeMap<usize, Vec<Sample>>| -> (String, String) {
            let s = Results::get(m, tool, false);
            let latency = cell(&values(&s, |x| x.decision_to_exit), fmt_secs);
            let reaction = cell(&values(&s, |x| x.reaction.map(|d| d.as_secs_f64())), fmt_ms);
            let mut codes: Vec<i32> = s.iter().map(|x| x.code).collect();
            codes.sort_unstable();
            codes.dedup();
            let codes = codes
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join("/");
            (format!("{latency} [{reaction}]"), codes)
        };
        let (c, c_code) = col(&r.completed);
        let (f, f_code) = col(&r.failed);
        let f_code = if f_code == "0" {
            "0: the rollback passes as a success".to_string()
        } else {
            f_code
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            tool.label(),
            fmt_dur(tool.interval()),
            c,
            c_code,
            f,
            f_code
        ));
    }
    out.push('\n');

    // Sizes.
    let release = bench.root.join("target/release/ecs-oidc-deploy");
    let musl = bench
        .root
        .join("target/x86_64-unknown-linux-musl/release/ecs-oidc-deploy");
    let mut sizes = Vec::new();
    match size_mb(&release) {
        Some(mb) => sizes.push(format!("release binary {mb:.1} MB")),
        None => sizes.push("release binary not built (smoke mode uses the debug build)".into()),
    }
    if let Some(mb) = size_mb(&musl) {
        sizes.push(format!("static musl binary {mb:.1} MB"));
    }
    sizes.push("atlassian/aws-ecs-deploy image ~68.5 MB compressed (published size)".into());
    if let Some(mb) = dir_size_mb(&bench.venv) {
        sizes.push(format!(
            "the peers' Python venv (awscli + ecs-deploy) {mb:.0} MB installed"
        ));
    }
    out.push_str(&format!("Size: {}.\n\n", sizes.join("; ")));

    // Goals.
    let ours_timed: Vec<Sample> = [Tool::Ours, Tool::OursFast]
        .iter()
        .flat_map(|t| timed(*t))
        .collect();
    let ours_rss: Vec<Sample> = [Tool::Ours, Tool::OursFast]
        .iter()
        .flat_map(|t| under_time(*t))
        .collect();
    let faster_peer = [Tool::AwsCli, Tool::EcsDeploy]
        .iter()
        .filter_map(|t| median_of(&timed(*t), wall).map(|m| (*t, m)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    out.push_str("Goals (ours):\n\n");
    if let Some((peer, m)) = faster_peer {
        let ratio = m / ours_wall;
        let own = |t: Tool| {
            median_of(&timed(t), |x| {
                Some((x.wall.saturating_sub(x.emulator)).as_secs_f64())
            })
        };
        let own_ratio = match (own(peer), own(Tool::Ours)) {
            (Some(p), Some(o)) if o > 0.0 => format!(
                "; without the time spent waiting on the emulator {} vs {}, {:.0}×",
                fmt_secs(p),
                fmt_secs(o),
                p / o
            ),
            _ => String::new(),
        };
        out.push_str(&format!(
            "- wall time at least 10× below the faster peer's on an instant rollout: {ratio:.1}× \
             ({} {} vs {}{own_ratio}): {}\n",
            peer.label(),
            fmt_secs(m),
            fmt_secs(ours_wall),
            goal(ratio >= 10.0)
        ));
    }
    match ours_rss.iter().filter_map(|s| s.rss_kib).max() {
        Some(kib) => out.push_str(&format!(
            "- peak RSS at most 20 MB: {} at most: {}\n",
            fmt_mb(kib as f64),
            goal(kib as f64 * 1024.0 <= 20e6)
        )),
        None => out.push_str("- peak RSS at most 20 MB: not measured (no /usr/bin/time)\n"),
    }
    if let Some((m, _, hi)) = stats(&values(&ours_timed, first_request)) {
        out.push_str(&format!(
            "- first AWS request within 20 ms of start: median {}, at most {}: {}\n",
            fmt_ms(m),
            fmt_ms(hi),
            goal(m <= 0.020)
        ));
    }
    let mut verdict_lines = Vec::new();
    let mut verdict_ok = true;
    for tool in [Tool::Ours, Tool::OursFast] {
        // COMPLETED: from ECS's decision. FAILED: the pipe announces the failure at the poll
        // that shows it, then follows ECS's rollback to its end, so its exit is measured from
        // the end of that rollback (ROLLBACK_TAKES after the decision).
        for (name, m) in [("COMPLETED", &r.completed), ("FAILED", &r.failed)] {
            let after = if name == "COMPLETED" {
                0.0
            } else {
                ROLLBACK_TAKES.as_secs_f64()
            };
            let v = values(&Results::get(m, tool, false), |x| {
                x.decision_to_exit.map(|d| d - after)
            });
            if let Some((_, _, hi)) = stats(&v) {
                verdict_ok &= hi <= tool.interval().as_secs_f64();
                verdict_lines.push(format!(
                    "{name} at most {} with a {} interval",
                    fmt_secs(hi),
                    fmt_dur(tool.interval())
                ));
            }
        }
    }
    out.push_str(&format!(
        "- verdict within one poll interval of what it acts on (COMPLETED: ECS's decision; FAILED: the end of ECS's rollback): {}: {}\n",
        verdict_lines.join(", "),
        goal(verdict_ok)
    ));
    println!("{out}");
}
