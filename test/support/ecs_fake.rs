//! A scripted ECS + STS endpoint for rollouts moto cannot show: it plays a [`Script`] of
//! DescribeServices (and DescribeServiceDeployments) frames after the pipe's UpdateService,
//! one frame per poll, speaking the real protocols so the SDK parses, signs and retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fake::{Fake, Req, Resp};
use super::pipe::Pipe;
use super::{now_epoch, now_epoch_f64, rfc3339};

pub const OLD_TD: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:41";
pub const NEW_TD: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:42";
pub const OUR_ID: &str = "ecs-svc/7700000000000000042";
pub const OLD_ID: &str = "ecs-svc/7700000000000000041";
pub const SD_ARN: &str =
    "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/Xk2Qb9Lm4Np7Rs1Tv3Wy5";

/// What the fake plays.
#[derive(Clone, Debug)]
pub struct Script {
    /// The service before the deploy.
    pub initial: Value,
    /// The service as UpdateService returns it.
    pub update_reply: Value,
    /// Services returned by the DescribeServices polls after UpdateService; the last repeats.
    pub frames: Vec<Value>,
    /// Service deployments returned by DescribeServiceDeployments polls; the last repeats.
    pub service_deployments: Vec<Value>,
    /// Tasks returned by DescribeTasks (all listed by ListTasks).
    pub stopped_tasks: Vec<Value>,
    /// ThrottlingException replies to the first N DescribeServices after the update.
    pub throttle_polls: u32,
    /// A 500 reply to the first UpdateService.
    pub fail_first_update: bool,
    /// ThrottlingException replies to the first N UpdateService calls (nothing applied).
    pub throttle_updates: u32,
    /// Lifetime of the credentials STS hands out.
    pub credential_seconds: u64,
    /// STS answers ExpiredTokenException from this call on (1-based).
    pub token_expires_at_call: Option<u32>,
    /// After a second UpdateService (a rollback by the pipe), play these frames instead.
    pub rollback_frames: Vec<Value>,
    /// STS answers with this error (status, code, message) for the first `sts_failures` calls.
    pub sts_error: Option<(u16, String, String)>,
    /// How many STS calls get `sts_error` (u32::MAX: all).
    pub sts_failures: u32,
    /// ECS answers this operation with AccessDeniedException and this message.
    pub deny: Option<(String, String)>,
    /// DescribeServiceDeployments answers the first N calls with a server error the SDK does
    /// not retry itself (400 ServerException), so each one reaches the pipe's own loop.
    pub failing_sd_polls: u32,
    /// The pre-deploy task (`PRE_DEPLOY_COMMAND`): RunTask and DescribeTasks answers for it.
    pub task: Option<TaskScript>,
    /// Network faults, per operation ([`Script::lose`], [`Script::reset`]).
    pub faults: Vec<Fault>,
    /// A service deployment played on a clock ([`Stage`]); when set, it answers
    /// DescribeServiceDeployments instead of `service_deployments`, and DescribeServices with
    /// its latest service frame (the `frames` until the first).
    pub stages: Vec<Stage>,
    /// Service deployments played after a ContinueServiceDeployment with CONTINUE.
    pub after_continue: Vec<Value>,
    /// Service deployments played after a StopServiceDeployment (or a
    /// ContinueServiceDeployment with ROLLBACK).
    pub after_rollback: Vec<Value>,
    /// DescribeServices answers this service once a rollback was asked for (ECS has put the
    /// previous revision back), instead of the frames.
    pub rolled_back_service: Option<Value>,
    /// DescribeServiceRevisions answers (matched on `serviceRevisionArn`).
    pub service_revisions: Vec<Value>,
    /// Tags of `web:42` in DescribeTaskDefinition (otherwise those it was registered with).
    pub new_td_tags: Option<Value>,
}

/// The service revision the fake's blue/green deployments target (runs `web:42`).
pub const NEW_REVISION: &str =
    "arn:aws:ecs:eu-west-1:123456789012:service-revision/prod/web/5587654321";
/// The service revision they replace (runs `web:41`).
pub const OLD_REVISION: &str =
    "arn:aws:ecs:eu-west-1:123456789012:service-revision/prod/web/5512345678";
/// The digest ECS resolved for `web:42`'s image.
pub const RESOLVED_DIGEST: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// The digest ECR answers for every image (DescribeImages) before the deploy.
pub const CHECKED_DIGEST: &str =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// A DescribeServiceRevisions entry: `arn` runs `td` with `image` resolved to `digest`.
pub fn service_revision(arn: &str, td: &str, image: &str, digest: &str) -> Value {
    json!({
        "serviceRevisionArn": arn,
        "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "taskDefinition": td,
        "containerImages": [{"containerName": "app", "image": image, "imageDigest": digest}],
        "createdAt": now_epoch_f64()
    })
}

/// One stage of a service deployment played on a clock: from `at` after the first
/// UpdateService on, DescribeServiceDeployments answers `sd` and, when it is set,
/// DescribeServices answers `service` (else the latest earlier stage's service).
#[derive(Clone, Debug)]
pub struct Stage {
    pub at: Duration,
    pub sd: Value,
    pub service: Option<Value>,
}

impl Stage {
    pub fn new(at_ms: u64, sd: Value) -> Stage {
        Stage {
            at: Duration::from_millis(at_ms),
            sd,
            service: None,
        }
    }

    /// From this stage on, DescribeServices answers `service`.
    pub fn with_service(mut self, service: Value) -> Stage {
        self.service = Some(service);
        self
    }
}

/// A network fault on `times` calls of `operation` from call `from` on (1-based; for
/// DescribeServices counting only the polls after the first deployment; `u32::MAX`: every call). Each faulty call gets
/// [`Resp::close`]: the connection closes with no reply, which the SDK sees at once.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The operation, e.g. `UpdateService` or `AssumeRoleWithWebIdentity`.
    pub operation: String,
    pub kind: FaultKind,
    pub from: u32,
    pub times: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The request is applied, then the answer is lost.
    Lost,
    /// The connection is reset before the request is applied.
    Reset,
}

/// What the fake plays for a RunTask: `failures` (then no task starts), or a task: `frames[0]`
/// answers RunTask, `frames[1..]` the DescribeTasks polls, one per poll, the last repeating.
/// After a StopTask the task is STOPPED (`UserInitiated`, the reason given).
#[derive(Clone, Debug, Default)]
pub struct TaskScript {
    pub failures: Vec<Value>,
    pub frames: Vec<Value>,
}

/// ARN of the task the fake starts for RunTask.
pub const TASK_ARN: &str =
    "arn:aws:ecs:eu-west-1:123456789012:task/prod/5d2f0c8e9b1a4c3d8e7f6a5b4c3d2e1f";

/// A pre-deploy task in `status`; containers are (name, exit code).
pub fn task(status: &str, containers: &[(&str, Option<i32>)]) -> Value {
    let mut t = json!({
        "taskArn": TASK_ARN,
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "taskDefinitionArn": NEW_TD,
        "lastStatus": status,
        "desiredStatus": if status == "STOPPED" { "STOPPED" } else { "RUNNING" },
        "startedBy": "ecs-oidc-deploy/42",
        "launchType": "FARGATE",
        "createdAt": now_epoch_f64(),
        "containers": containers.iter().map(|(name, code)| {
            let mut c = json!({"name": name, "lastStatus": status});
            if let Some(code) = code {
                c["exitCode"] = json!(code);
            }
            c
        }).collect::<Vec<_>>(),
    });
    if status == "RUNNING" || status == "STOPPED" {
        t["startedAt"] = json!(now_epoch_f64());
    }
    if status == "STOPPED" {
        t["stopCode"] = json!("EssentialContainerExited");
        t["stoppedReason"] = json!("Essential container in task exited");
    }
    t
}

impl Script {
    pub fn new(frames: Vec<Value>) -> Script {
        Script {
            initial: settled_service(),
            update_reply: service(
                vec![
                    deployment(OUR_ID, "PRIMARY", NEW_TD, 0, 3, 0, Some("IN_PROGRESS")),
                    deployment(OLD_ID, "ACTIVE", OLD_TD, 3, 3, 0, Some("COMPLETED")),
                ],
                vec![],
            ),
            frames,
            service_deployments: Vec::new(),
            stopped_tasks: Vec::new(),
            throttle_polls: 0,
            fail_first_update: false,
            throttle_updates: 0,
            credential_seconds: 3600,
            token_expires_at_call: None,
            rollback_frames: Vec::new(),
            sts_error: None,
            sts_failures: 0,
            deny: None,
            failing_sd_polls: 0,
            task: None,
            faults: Vec::new(),
            stages: Vec::new(),
            after_continue: Vec::new(),
            after_rollback: Vec::new(),
            rolled_back_service: None,
            service_revisions: vec![
                service_revision(NEW_REVISION, NEW_TD, "nginx:1.28", RESOLVED_DIGEST),
                service_revision(
                    OLD_REVISION,
                    OLD_TD,
                    "nginx:1.27",
                    "sha256:4444444444444444444444444444444444444444444444444444444444444444",
                ),
            ],
            new_td_tags: None,
        }
    }

    /// The first `times` answers to `operation` are lost: applied, then the connection closes.
    pub fn lose(mut self, operation: &str, times: u32) -> Script {
        self.faults.push(Fault {
            operation: operation.into(),
            kind: FaultKind::Lost,
            from: 1,
            times,
        });
        self
    }

    /// The first `times` calls of `operation` are reset: the connection closes, nothing applied.
    pub fn reset(mut self, operation: &str, times: u32) -> Script {
        self.faults.push(Fault {
            operation: operation.into(),
            kind: FaultKind::Reset,
            from: 1,
            times,
        });
        self
    }
}

#[derive(Default, Debug)]
struct State {
    updates: u32,
    polls_after_update: u32,
    throttled: u32,
    sd_polls: u32,
    sts_calls: u32,
    update_failures: u32,
    updates_throttled: u32,
    registered: Vec<Value>,
    task_polls: u32,
    stop_reason: Option<String>,
    /// UpdateService calls that reached the service, whether or not they started a deployment.
    update_calls: u32,
    /// The task definition of the last deployment started.
    deployed_td: Option<String>,
    /// Calls of each faulty operation so far.
    fault_calls: HashMap<String, u32>,
    /// Tasks RunTask started (a repeated `clientToken` starts none).
    tasks_started: u32,
    /// `clientToken` → the RunTask answer it got.
    run_tokens: HashMap<String, Value>,
    /// `startedBy` of each task started.
    started_by: Vec<String>,
    /// When the first UpdateService arrived: the clock of [`Script::stages`].
    first_update: Option<Instant>,
    /// When each stage was first served (by either Describe call), by index.
    stage_served: HashMap<usize, Instant>,
    /// The action of the last ContinueServiceDeployment or StopServiceDeployment
    /// (`CONTINUE` or `ROLLBACK`), and `sd_polls` at that moment.
    operated: Option<(String, u32)>,
}

/// The running fake.
pub struct EcsFake {
    pub fake: Fake,
    state: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EcsFake {
    pub fn start(script: Script) -> EcsFake {
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        let fake = Fake::from_fn(move |req| handle(&script, &st, req));
        EcsFake { fake, state }
    }

    pub fn endpoint(&self) -> String {
        self.fake.endpoint()
    }

    /// DescribeServices answered after the first UpdateService (throttled ones included).
    pub fn polls_after_update(&self) -> u32 {
        lock(&self.state).polls_after_update
    }

    pub fn sts_calls(&self) -> u32 {
        lock(&self.state).sts_calls
    }

    /// Deployments UpdateService started (ECS starts none for a repeated, unchanged update).
    pub fn updates(&self) -> u32 {
        lock(&self.state).updates
    }

    /// UpdateService calls that reached the service (a reset one did not).
    pub fn update_calls(&self) -> u32 {
        lock(&self.state).update_calls
    }

    /// Tasks RunTask started.
    pub fn tasks_started(&self) -> u32 {
        lock(&self.state).tasks_started
    }

    pub fn registered(&self) -> Vec<Value> {
        lock(&self.state).registered.clone()
    }

    /// The reason of the StopTask call, if one came.
    pub fn stop_reason(&self) -> Option<String> {
        lock(&self.state).stop_reason.clone()
    }

    /// The JSON bodies of every request for `op`, in order.
    pub fn bodies(&self, op: &str) -> Vec<Value> {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.operation().as_deref() == Some(op))
            .map(Req::json)
            .collect()
    }

    /// When the first UpdateService arrived.
    pub fn first_update(&self) -> Option<Instant> {
        lock(&self.state).first_update
    }

    /// When stage `i` of [`Script::stages`] was first served, if it was.
    pub fn stage_served(&self, i: usize) -> Option<Instant> {
        lock(&self.state).stage_served.get(&i).copied()
    }

    /// Operation names in the order received.
    pub fn operations(&self) -> Vec<String> {
        self.fake
            .requests()
            .iter()
            .filter_map(Req::operation)
            .collect()
    }
}

/// The stage playing now (the first one before its time), noting when it was first served.
fn stage_now(script: &Script, s: &mut State) -> Option<usize> {
    let started = s.first_update?;
    if script.stages.is_empty() {
        return None;
    }
    let elapsed = started.elapsed();
    let i = script
        .stages
        .iter()
        .rposition(|st| st.at <= elapsed)
        .unwrap_or(0);
    s.stage_served.entry(i).or_insert_with(Instant::now);
    Some(i)
}

/// The service of the stage playing now: the latest stage up to it that has one.
fn stage_service(script: &Script, s: &mut State) -> Option<Value> {
    let now = stage_now(script, s)?;
    script.stages[..=now]
        .iter()
        .rev()
        .find_map(|st| st.service.clone())
}

fn frame(frames: &[Value], i: u32) -> Value {
    let i = (i as usize).min(frames.len().saturating_sub(1));
    frames.get(i).cloned().unwrap_or(Value::Null)
}

/// Plays the faults, then answers as ECS and STS would.
fn handle(script: &Script, state: &Mutex<State>, req: &Req) -> Resp {
    match fault(script, state, req) {
        Some(FaultKind::Reset) => Resp::close(),
        Some(FaultKind::Lost) => {
            let _applied = respond(script, state, req);
            Resp::close()
        }
        None => respond(script, state, req),
    }
}

/// The fault this call gets, if any (and counts it).
fn fault(script: &Script, state: &Mutex<State>, req: &Req) -> Option<FaultKind> {
    let op = req.operation()?;
    let fault = script.faults.iter().find(|f| f.operation == op)?;
    let mut s = lock(state);
    if op == "DescribeServices" && s.updates == 0 {
        return None;
    }
    let calls = s.fault_calls.entry(op).or_insert(0);
    *calls += 1;
    (*calls >= fault.from && *calls - fault.from < fault.times).then_some(fault.kind)
}

fn respond(script: &Script, state: &Mutex<State>, req: &Req) -> Resp {
    if req.action().as_deref() == Some("AssumeRoleWithWebIdentity") {
        let call = {
            let mut s = lock(state);
            s.sts_calls += 1;
            s.sts_calls
        };
        if let Some((status, code, message)) = &script.sts_error
            && call <= script.sts_failures
        {
            return Resp::sts_error(*status, code, message);
        }
        if script.token_expires_at_call.is_some_and(|n| call >= n) {
            return Resp::sts_error(
                400,
                "ExpiredTokenException",
                "Token expired: current date/time 1764150000 must be before the expiration date/time 1764149000",
            );
        }
        return Resp::assume_role_ok(
            &format!("ASIAFAKEKEY{call:09}"),
            &format!("fakeSecretKey/{call}/abcdefghijklmnopqrstuvwxyz"),
            &format!("FwoGZXIvYXdzFakeSessionToken{call}=="),
            &rfc3339(now_epoch() + script.credential_seconds),
            &req.form_value("RoleArn").unwrap_or_default(),
            &req.form_value("RoleSessionName").unwrap_or_default(),
        );
    }
    let body = req.json();
    if let Some((op, message)) = &script.deny
        && req.target().as_deref() == Some(op.as_str())
    {
        return Resp::aws_json_error(400, "AccessDeniedException", message);
    }
    match req.target().as_deref() {
        Some("TagResource") => Resp::json(200, json!({})),
        // ECR (the image check) on the same endpoint: every image exists with this digest.
        Some("DescribeImages") => Resp::json(
            200,
            json!({"imageDetails": [{"registryId": body["registryId"], "repositoryName": body["repositoryName"], "imageDigest": CHECKED_DIGEST, "imageTags": [body["imageIds"][0]["imageTag"]]}]}),
        ),
        Some("DescribeServices") => {
            let mut s = lock(state);
            if let (Some(svc), Some((action, _))) = (&script.rolled_back_service, &s.operated)
                && action == "ROLLBACK"
            {
                return Resp::json(200, json!({"services": [svc], "failures": []}));
            }
            if s.updates == 0 {
                return Resp::json(200, json!({"services": [script.initial], "failures": []}));
            }
            s.polls_after_update += 1;
            if s.throttled < script.throttle_polls {
                s.throttled += 1;
                return Resp::aws_json_error(400, "ThrottlingException", "Rate exceeded");
            }
            let i = s.polls_after_update - 1 - s.throttled;
            let staged = if s.updates == 1 {
                stage_service(script, &mut s)
            } else {
                None
            };
            let svc = if let Some(staged) = staged {
                staged
            } else if s.updates >= 2 && !script.rollback_frames.is_empty() {
                frame(&script.rollback_frames, i)
            } else {
                frame(&script.frames, i)
            };
            if svc.is_null() {
                // A null frame: the service is gone (deleted while the pipe waits).
                return Resp::json(
                    200,
                    json!({"services": [], "failures": [{"arn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web", "reason": "MISSING"}]}),
                );
            }
            Resp::json(200, json!({"services": [svc], "failures": []}))
        }
        Some("DescribeTaskDefinition")
            if body["taskDefinition"] == NEW_TD || body["taskDefinition"] == "web:42" =>
        {
            let s = lock(state);
            let mut td = s.registered.last().cloned().unwrap_or_else(|| {
                json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.28", "essential": true}]})
            });
            let tags = script
                .new_td_tags
                .clone()
                .unwrap_or_else(|| td.get("tags").cloned().unwrap_or(json!([])));
            if let Some(o) = td.as_object_mut() {
                o.remove("tags");
            }
            td["taskDefinitionArn"] = json!(NEW_TD);
            td["revision"] = json!(42);
            td["status"] = json!("ACTIVE");
            Resp::json(200, json!({"taskDefinition": td, "tags": tags}))
        }
        Some("DescribeTaskDefinition") => Resp::json(
            200,
            json!({
                "taskDefinition": {
                    "taskDefinitionArn": OLD_TD, "family": "web", "revision": 41, "status": "ACTIVE",
                    "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "essential": true, "environment": [{"name": "EMPTY", "value": ""}]}],
                    "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
                    "compatibilities": ["EC2", "FARGATE"], "registeredAt": 1764150000.0
                },
                "tags": [{"key": "team", "value": "payments"}]
            }),
        ),
        Some("RegisterTaskDefinition") => {
            lock(state).registered.push(body.clone());
            let mut td = body;
            td["taskDefinitionArn"] = json!(NEW_TD);
            td["revision"] = json!(42);
            td["status"] = json!("ACTIVE");
            Resp::json(200, json!({"taskDefinition": td, "tags": []}))
        }
        Some("UpdateService") => {
            let mut s = lock(state);
            if s.updates_throttled < script.throttle_updates {
                s.updates_throttled += 1;
                return Resp::aws_json_error(400, "ThrottlingException", "Rate exceeded");
            }
            if script.fail_first_update && s.update_failures == 0 {
                s.update_failures += 1;
                return Resp::aws_json_error(
                    500,
                    "ServerException",
                    "Service Unavailable. Please try again later.",
                );
            }
            s.update_calls += 1;
            let td = body["taskDefinition"].as_str().map(str::to_string);
            let force = body["forceNewDeployment"].as_bool() == Some(true);
            if s.updates > 0 && !force && (td.is_none() || td == s.deployed_td) {
                // As ECS: an update that changes nothing starts no deployment.
                let now = if s.updates >= 2 {
                    frame(&script.rollback_frames, 0)
                } else {
                    script.update_reply.clone()
                };
                return Resp::json(200, json!({"service": now}));
            }
            s.deployed_td = td;
            s.updates += 1;
            s.first_update.get_or_insert_with(Instant::now);
            if s.updates >= 2 {
                // A rollback by the pipe: restart the frame count for the rollback frames.
                s.polls_after_update = 0;
                s.throttled = script.throttle_polls;
                let reply = frame(&script.rollback_frames, 0);
                return Resp::json(200, json!({"service": reply}));
            }
            Resp::json(200, json!({"service": script.update_reply}))
        }
        Some("DescribeServiceDeployments") => {
            let mut s = lock(state);
            s.sd_polls += 1;
            if s.sd_polls <= script.failing_sd_polls {
                return Resp::aws_json_error(
                    400,
                    "ServerException",
                    "Service Unavailable. Please try again later.",
                );
            }
            let sd = match stage_now(script, &mut s) {
                Some(i) => script.stages[i].sd.clone(),
                None => current_sd(script, &s),
            };
            Resp::json(200, json!({"serviceDeployments": [sd], "failures": []}))
        }
        Some("ListServiceDeployments") => {
            let s = lock(state);
            // What the last DescribeServiceDeployments showed (the first frame before any).
            let mut shown = s.clone_for_list();
            shown.sd_polls = s.sd_polls.max(script.failing_sd_polls + 1);
            let sd = current_sd(script, &shown);
            let wanted = body["status"].as_array().cloned().unwrap_or_default();
            let listed = !sd.is_null() && (wanted.is_empty() || wanted.contains(&sd["status"]));
            let entries: Vec<Value> = if listed {
                vec![json!({
                    "serviceDeploymentArn": sd["serviceDeploymentArn"],
                    "serviceArn": sd["serviceArn"],
                    "clusterArn": sd["clusterArn"],
                    "status": sd["status"],
                    "targetServiceRevisionArn": sd["targetServiceRevision"]["arn"],
                    "createdAt": now_epoch_f64()
                })]
            } else {
                Vec::new()
            };
            Resp::json(200, json!({"serviceDeployments": entries}))
        }
        Some("DescribeServiceRevisions") => {
            let found: Vec<&Value> = script
                .service_revisions
                .iter()
                .filter(|r| {
                    body["serviceRevisionArns"]
                        .as_array()
                        .is_some_and(|a| a.contains(&r["serviceRevisionArn"]))
                })
                .collect();
            Resp::json(200, json!({"serviceRevisions": found, "failures": []}))
        }
        Some("ContinueServiceDeployment") | Some("StopServiceDeployment") => {
            let mut s = lock(state);
            let action = body["action"]
                .as_str()
                .or(body["stopType"].as_str())
                .unwrap_or_default()
                .to_string();
            let polls = s.sd_polls;
            s.operated = Some((action, polls));
            Resp::json(
                200,
                json!({"serviceDeploymentArn": body["serviceDeploymentArn"]}),
            )
        }
        Some("ListTasks") if body["startedBy"].is_string() => {
            let s = lock(state);
            let arns: Vec<Value> = s
                .started_by
                .iter()
                .filter(|b| body["startedBy"] == **b)
                .map(|_| json!(TASK_ARN))
                .take(1)
                .collect();
            Resp::json(200, json!({"taskArns": arns}))
        }
        Some("ListTasks") => {
            let arns: Vec<Value> = script
                .stopped_tasks
                .iter()
                .map(|t| t["taskArn"].clone())
                .collect();
            Resp::json(200, json!({"taskArns": arns}))
        }
        Some("RunTask") => run_task(script, state, &body),
        Some("StopTask") => {
            let reason = body["reason"].as_str().unwrap_or_default().to_string();
            lock(state).stop_reason = Some(reason);
            Resp::json(
                200,
                json!({"task": {"taskArn": TASK_ARN, "desiredStatus": "STOPPED"}}),
            )
        }
        Some("DescribeTasks")
            if body["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().any(|a| a == TASK_ARN)) =>
        {
            let mut s = lock(state);
            s.task_polls += 1;
            let frames = script
                .task
                .as_ref()
                .map(|t| t.frames.clone())
                .unwrap_or_default();
            let mut t = frame(&frames, s.task_polls);
            if let Some(reason) = &s.stop_reason {
                t["lastStatus"] = json!("STOPPED");
                t["stopCode"] = json!("UserInitiated");
                t["stoppedReason"] = json!(reason);
            }
            Resp::json(200, json!({"tasks": [t], "failures": []}))
        }
        Some("DescribeTasks") => {
            Resp::json(200, json!({"tasks": script.stopped_tasks, "failures": []}))
        }
        other => Resp::aws_json_error(
            400,
            "InvalidParameterException",
            &format!("the fake does not play {other:?}"),
        ),
    }
}

/// The service deployment to answer now: the script's frames, or after a continue or a
/// rollback the frames played from then on.
fn current_sd(script: &Script, s: &State) -> Value {
    match &s.operated {
        Some((action, at)) => {
            let frames = if action == "CONTINUE" {
                &script.after_continue
            } else {
                &script.after_rollback
            };
            frame(frames, s.sd_polls.saturating_sub(at + 1))
        }
        None => frame(
            &script.service_deployments,
            s.sd_polls.saturating_sub(1 + script.failing_sd_polls),
        ),
    }
}

impl State {
    /// The counters that decide which service deployment is shown.
    fn clone_for_list(&self) -> State {
        State {
            sd_polls: self.sd_polls,
            operated: self.operated.clone(),
            ..State::default()
        }
    }
}

/// RunTask as ECS plays it: a `clientToken` seen before gets the answer it got then, and
/// starts nothing.
fn run_task(script: &Script, state: &Mutex<State>, body: &Value) -> Resp {
    let Some(t) = &script.task else {
        return Resp::aws_json_error(400, "InvalidParameterException", "the fake plays no task");
    };
    if !t.failures.is_empty() {
        return Resp::json(200, json!({"tasks": [], "failures": t.failures}));
    }
    let mut s = lock(state);
    let token = body["clientToken"].as_str().map(str::to_string);
    if let Some(answer) = token.as_ref().and_then(|t| s.run_tokens.get(t)) {
        return Resp::json(200, answer.clone());
    }
    s.tasks_started += 1;
    s.started_by
        .push(body["startedBy"].as_str().unwrap_or_default().to_string());
    let answer = json!({"tasks": [frame(&t.frames, 0)], "failures": []});
    if let Some(token) = token {
        s.run_tokens.insert(token, answer.clone());
    }
    Resp::json(200, answer)
}

/// The pipe's variables for deploying `nginx:1.28` to service `web` of cluster `prod` through
/// the fake at `endpoint`, polling every 0.05 s.
pub fn deploy_nginx(endpoint: &str) -> Pipe {
    Pipe::new()
        .endpoint(endpoint)
        .env("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("IMAGE", "nginx:1.28")
        .env("WAIT_INTERVAL", "0.05")
}

/// The service with our deployment complete: PRIMARY, COMPLETED, all tasks running.
pub fn completed_service() -> Value {
    service(
        vec![deployment(
            OUR_ID,
            "PRIMARY",
            NEW_TD,
            3,
            3,
            0,
            Some("COMPLETED"),
        )],
        vec![],
    )
}

/// A deploy whose rollout is complete at the first poll.
pub fn completed() -> Script {
    Script::new(vec![completed_service()])
}

/// The service before a deploy: one COMPLETED deployment of the old revision.
pub fn settled_service() -> Value {
    service(
        vec![deployment(
            OLD_ID,
            "PRIMARY",
            OLD_TD,
            3,
            3,
            0,
            Some("COMPLETED"),
        )],
        vec![],
    )
}

/// A `services[]` entry shaped like ECS's.
pub fn service(deployments: Vec<Value>, events: Vec<Value>) -> Value {
    let primary = deployments
        .iter()
        .find(|d| d["status"] == "PRIMARY")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
        "serviceName": "web",
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "status": "ACTIVE",
        "desiredCount": primary["desiredCount"],
        "runningCount": primary["runningCount"],
        "pendingCount": primary["pendingCount"],
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"], "securityGroups": ["sg-0c1d2e3f"], "assignPublicIp": "DISABLED"}},
        "taskDefinition": primary["taskDefinition"],
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}, "maximumPercent": 200, "minimumHealthyPercent": 100, "strategy": "ROLLING"},
        "deployments": deployments,
        "events": events,
        "createdAt": 1_764_000_000.0,
        "deploymentController": {"type": "ECS"},
        "enableECSManagedTags": true,
        "propagateTags": "SERVICE"
    })
}

#[allow(clippy::too_many_arguments)]
pub fn deployment(
    id: &str,
    status: &str,
    td: &str,
    running: i64,
    desired: i64,
    pending: i64,
    state: Option<&str>,
) -> Value {
    let mut d = json!({
        "id": id, "status": status, "taskDefinition": td,
        "desiredCount": desired, "pendingCount": pending, "runningCount": running, "failedTasks": 0,
        "createdAt": now_epoch_f64(), "updatedAt": now_epoch_f64(), "launchType": "FARGATE", "platformVersion": "1.4.0", "platformFamily": "Linux",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d"], "securityGroups": ["sg-0c1d2e3f"], "assignPublicIp": "DISABLED"}}
    });
    if let Some(state) = state {
        d["rolloutState"] = json!(state);
        d["rolloutStateReason"] = json!(match state {
            "COMPLETED" => format!("ECS deployment {id} completed."),
            "FAILED" => "ECS deployment circuit breaker: tasks failed to start.".to_string(),
            _ => format!("ECS deployment {id} in progress."),
        });
    }
    d
}

/// Sets `failedTasks` on a deployment.
pub fn failed(mut d: Value, n: i64) -> Value {
    d["failedTasks"] = json!(n);
    d
}

pub fn event(id: &str, message: &str) -> Value {
    json!({"id": id, "createdAt": now_epoch_f64(), "message": message})
}

/// A stopped task of our deployment whose essential container crashed.
pub fn crashed_task(n: u32, started_by: &str) -> Value {
    json!({
        "taskArn": format!("arn:aws:ecs:eu-west-1:123456789012:task/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f{n}"),
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "taskDefinitionArn": NEW_TD,
        "startedBy": started_by,
        "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "containers": [{"name": "app", "lastStatus": "STOPPED", "exitCode": 1, "reason": ""}],
        "launchType": "FARGATE"
    })
}
