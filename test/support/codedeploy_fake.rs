//! A scripted STS + ECS + CodeDeploy endpoint for services whose deployments CodeDeploy runs,
//! which moto cannot show: moto's CodeDeploy leaves a deployment `Created` forever, lacks
//! BatchGetDeploymentGroups, StopDeployment and GetDeploymentTarget, and moto's ECS drops a
//! service's capacity provider strategy and accepts a task-definition UpdateService on a
//! CODE_DEPLOY service. This fake refuses that UpdateService as ECS does ("Unable to update
//! task definition on services with a CODE_DEPLOY deployment controller") and plays a
//! CodeDeploy lifecycle, one [`Frame`] per GetDeployment after CreateDeployment (the last
//! repeats): Created → InProgress → (Ready) → traffic shifted → Succeeded / Failed (with
//! errorInformation and rollbackInfo) / Stopped. After StopDeployment it plays `stopped`.
//!
//! Services: `web` (CODE_DEPLOY, running `web:41`) and, when asked, `api` (the ECS rolling
//! controller, on `web:41` too, whose rollout completes at the first poll).

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use super::ecs_fake::{NEW_TD, OLD_TD, TASK_ARN, task};
use super::fake::{Fake, Req, Resp};
use super::pipe::Pipe;
use super::{now_epoch, rfc3339};

/// X-Amz-Target prefix of CodeDeploy's JSON 1.1 protocol.
pub const CODEDEPLOY_TARGET: &str = "CodeDeploy_20141006";
/// The deployment id the fake gives the first CreateDeployment.
pub const DEPLOYMENT_ID: &str = "d-7Q2KX9ABC";
/// The id of a second CreateDeployment (a rollback by the pipe), accepted once the first has
/// finished; it succeeds at once.
pub const REDEPLOY_ID: &str = "d-REDEPLOY1";
/// The rollback deployment CodeDeploy starts after a failure.
pub const ROLLBACK_ID: &str = "d-ROLLBACK1";
/// The replacement (green) task set.
pub const GREEN_TASK_SET: &str = "ecs-svc/9900000000000000042";
/// The original (blue) task set.
pub const BLUE_TASK_SET: &str = "ecs-svc/9900000000000000041";
/// End of AfterAllowTraffic in the shifted frames (epoch seconds): 2026-12-03T10:00:00Z.
pub const SHIFTED_AT: f64 = 1_796_292_000.0;
/// The ECS lifecycle events of a CodeDeploy blue/green deployment, in order.
pub const EVENTS: &[&str] = &[
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

/// One GetDeployment (and GetDeploymentTarget) answer.
#[derive(Clone, Debug)]
pub struct Frame {
    pub status: String,
    /// `ecsTarget`; `None` answers DeploymentTargetDoesNotExistException.
    pub target: Option<Value>,
    pub error_information: Option<Value>,
    pub rollback_info: Option<Value>,
}

/// A frame with no target yet.
pub fn frame(status: &str) -> Frame {
    Frame {
        status: status.into(),
        target: None,
        error_information: None,
        rollback_info: None,
    }
}

/// A frame whose ECS target has `events` (name, status; the rest Pending) and the replacement
/// task set on `green` percent of production traffic.
pub fn frame_with(status: &str, events: &[(&str, &str)], green: f64) -> Frame {
    Frame {
        target: Some(ecs_target(events, green)),
        ..frame(status)
    }
}

/// Every event up to and including `last` Succeeded, the rest Pending.
pub fn done_through(last: &str) -> Vec<(&'static str, &'static str)> {
    let end = EVENTS.iter().position(|e| *e == last).unwrap_or(0);
    EVENTS[..=end].iter().map(|e| (*e, "Succeeded")).collect()
}

/// `ecsTarget` as GetDeploymentTarget answers it.
pub fn ecs_target(events: &[(&str, &str)], green: f64) -> Value {
    let lifecycle: Vec<Value> = EVENTS
        .iter()
        .map(|name| {
            let status = events
                .iter()
                .find(|(n, _)| n == name)
                .map_or("Pending", |(_, s)| s);
            let mut e = json!({"lifecycleEventName": name, "status": status});
            if status == "Succeeded" || status == "Failed" {
                e["startTime"] = json!(SHIFTED_AT - 60.0);
                e["endTime"] = json!(SHIFTED_AT);
            }
            e
        })
        .collect();
    json!({
        "deploymentId": DEPLOYMENT_ID,
        "targetId": "prod:web",
        "targetArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
        "status": "InProgress",
        "lifecycleEvents": lifecycle,
        "taskSetsInfo": [
            {"identifer": GREEN_TASK_SET, "desiredCount": 3, "pendingCount": 0, "runningCount": 3, "status": "ACTIVE", "trafficWeight": green, "taskSetLabel": "GREEN", "targetGroup": {"name": "web-green"}},
            {"identifer": BLUE_TASK_SET, "desiredCount": 3, "pendingCount": 0, "runningCount": 3, "status": "PRIMARY", "trafficWeight": 100.0 - green, "taskSetLabel": "BLUE", "targetGroup": {"name": "web-blue"}}
        ]
    })
}

/// Sets a lifecycle event's status and diagnostics in a frame's target.
pub fn with_failed_hook(mut f: Frame, event: &str, diagnostics: Value) -> Frame {
    if let Some(events) = f
        .target
        .as_mut()
        .and_then(|t| t["lifecycleEvents"].as_array_mut())
    {
        for e in events.iter_mut() {
            if e["lifecycleEventName"] == event {
                e["status"] = json!("Failed");
                e["diagnostics"] = diagnostics.clone();
                e["endTime"] = json!(SHIFTED_AT);
            }
        }
    }
    f
}

/// What the fake plays.
#[derive(Clone, Debug)]
pub struct Script {
    /// `web` before the deploy (CODE_DEPLOY controller).
    pub web: Value,
    /// Also serve `api`, an ECS-controller service.
    pub with_api: bool,
    /// `api`'s rollout fails (the circuit breaker), so the deploy of both fails.
    pub api_fails: bool,
    /// CodeDeploy applications: (name, computePlatform).
    pub applications: Vec<(String, String)>,
    /// `deploymentGroupInfo` of every group.
    pub groups: Vec<Value>,
    /// Frames after CreateDeployment.
    pub frames: Vec<Frame>,
    /// Played after StopDeployment.
    pub stopped: Frame,
    /// The group's termination wait (minutes).
    pub termination_wait_minutes: i64,
    /// The first CreateDeployment creates the deployment but its answer is a 500 (the SDK
    /// retries; the retry finds the group busy).
    pub lose_create_answer: bool,
    /// Tasks returned by DescribeTasks (all listed by ListTasks).
    pub stopped_tasks: Vec<Value>,
    /// A task set `web` keeps besides the original and the replacement (a leftover).
    pub extra_task_set: Option<Value>,
    /// CreateDeployment answers AccessDeniedException.
    pub deny_create: bool,
    /// Frames played after ContinueDeployment (READY_WAIT), one per GetDeployment.
    pub after_continue: Vec<Frame>,
    /// The group also has an older succeeded deployment, [`PREVIOUS_ID`] of `web:41`, which
    /// ListDeployments of Succeeded lists after the pipe's own (once that has succeeded).
    pub previous_deployment: bool,
}

/// The older succeeded deployment of [`Script::previous_deployment`].
pub const PREVIOUS_ID: &str = "d-PREVIOUS1";

/// `web`: a Fargate service with a capacity provider strategy behind a load balancer,
/// deployed by CodeDeploy.
pub fn web_service() -> Value {
    json!({
        "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web",
        "serviceName": "web",
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "status": "ACTIVE",
        "desiredCount": 3, "runningCount": 3, "pendingCount": 0,
        "capacityProviderStrategy": [
            {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0}
        ],
        "platformVersion": "1.4.0",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"], "securityGroups": ["sg-0c1d2e3f"], "assignPublicIp": "DISABLED"}},
        "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-blue/6d0ecf831eec9f09", "containerName": "app", "containerPort": 8080}],
        "taskDefinition": OLD_TD,
        "deploymentController": {"type": "CODE_DEPLOY"},
        "deployments": [],
        "taskSets": [{"id": BLUE_TASK_SET, "status": "PRIMARY", "taskDefinition": OLD_TD, "runningCount": 3, "computedDesiredCount": 3}],
        "events": [],
        "createdAt": 1_764_000_000.0
    })
}

/// `web` on launch type `FARGATE` instead of a capacity provider strategy.
pub fn web_service_with_launch_type() -> Value {
    let mut web = web_service();
    if let Some(o) = web.as_object_mut() {
        o.remove("capacityProviderStrategy");
    }
    web["launchType"] = json!("FARGATE");
    web["platformVersion"] = json!("LATEST");
    web
}

/// A deployment group of `application` that deploys `cluster`/`service`.
pub fn group(application: &str, name: &str, cluster: &str, service: &str) -> Value {
    json!({
        "applicationName": application,
        "deploymentGroupId": format!("{name}-id"),
        "deploymentGroupName": name,
        "deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce",
        "serviceRoleArn": "arn:aws:iam::123456789012:role/codedeploy-ecs",
        "computePlatform": "ECS",
        "ecsServices": [{"serviceName": service, "clusterName": cluster}],
        "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 60}
        }
    })
}

impl Script {
    /// Three ECS applications (one Server) with groups, `web`'s in the second; `frames` after
    /// CreateDeployment.
    pub fn new(frames: Vec<Frame>) -> Script {
        Script {
            web: web_service(),
            with_api: false,
            api_fails: false,
            applications: vec![
                ("billing".into(), "ECS".into()),
                ("legacy".into(), "Server".into()),
                ("AppECS-prod-web".into(), "ECS".into()),
            ],
            groups: vec![
                group("billing", "billing-prod", "prod", "billing"),
                group("billing", "billing-staging", "staging", "billing"),
                group("AppECS-prod-web", "DgpECS-prod-web", "prod", "web"),
            ],
            frames,
            stopped: Frame {
                rollback_info: Some(
                    json!({"rollbackDeploymentId": ROLLBACK_ID, "rollbackMessage": "Deployment was stopped and rolled back by the user."}),
                ),
                error_information: Some(
                    json!({"code": "DEPLOYMENT_STOPPED", "message": "The deployment was stopped by the user (ecs-oidc-deploy)."}),
                ),
                ..frame("Stopped")
            },
            termination_wait_minutes: 60,
            lose_create_answer: false,
            stopped_tasks: Vec::new(),
            extra_task_set: None,
            deny_create: false,
            after_continue: Vec::new(),
            previous_deployment: false,
        }
    }
}

/// The usual lifecycle: Created, InProgress without a target, installing, test traffic,
/// traffic shifted with AfterAllowTraffic done (the termination window starts), Succeeded.
pub fn full_lifecycle() -> Vec<Frame> {
    vec![
        frame("Created"),
        frame_with("InProgress", &[("BeforeInstall", "InProgress")], 0.0),
        frame_with("InProgress", &done_through("AfterAllowTestTraffic"), 0.0),
        frame_with("InProgress", &done_through("AfterAllowTraffic"), 100.0),
        frame_with("Succeeded", &done_through("AfterAllowTraffic"), 100.0),
    ]
}

#[derive(Default, Debug)]
struct State {
    /// CreateDeployment requests received (bodies).
    created: Vec<Value>,
    /// GetDeployment calls since CreateDeployment.
    polls: u32,
    stopped: Option<bool>,
    update_bodies: Vec<Value>,
    api_updates: u32,
    deregistered: Vec<String>,
    /// `polls` when ContinueDeployment came, and its wait type.
    continued: Option<(u32, String)>,
}

/// The running fake.
pub struct CodeDeployFake {
    pub fake: Fake,
    state: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CodeDeployFake {
    pub fn start(script: Script) -> CodeDeployFake {
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        let fake = Fake::from_fn(move |req| handle(&script, &st, req));
        CodeDeployFake { fake, state }
    }

    pub fn endpoint(&self) -> String {
        self.fake.endpoint()
    }

    /// The CreateDeployment bodies received.
    pub fn created(&self) -> Vec<Value> {
        lock(&self.state).created.clone()
    }

    /// The AppSpec of the first CreateDeployment, parsed from its content.
    pub fn appspec(&self) -> Value {
        let created = self.created();
        let content = created
            .first()
            .and_then(|c| c.pointer("/revision/appSpecContent/content"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no CreateDeployment with AppSpec content: {created:?}"));
        serde_json::from_str(content).expect("the AppSpec content is JSON")
    }

    /// The ContinueDeployment's deploymentWaitType, if one came.
    pub fn continued(&self) -> Option<String> {
        lock(&self.state).continued.as_ref().map(|(_, t)| t.clone())
    }

    /// The StopDeployment's autoRollbackEnabled, if one came.
    pub fn stopped(&self) -> Option<bool> {
        lock(&self.state).stopped
    }

    /// The revisions deregistered (`KEEP_REVISIONS`), in order.
    pub fn deregistered(&self) -> Vec<String> {
        lock(&self.state).deregistered.clone()
    }

    /// The UpdateService bodies received (refused ones included).
    pub fn updates(&self) -> Vec<Value> {
        lock(&self.state).update_bodies.clone()
    }

    /// Operation names in the order received.
    pub fn operations(&self) -> Vec<String> {
        self.fake
            .requests()
            .iter()
            .filter_map(Req::operation)
            .collect()
    }

    /// Operations that change something in AWS.
    pub fn writes(&self) -> Vec<String> {
        self.operations()
            .into_iter()
            .filter(|o| {
                matches!(
                    o.as_str(),
                    "RegisterTaskDefinition"
                        | "UpdateService"
                        | "CreateDeployment"
                        | "StopDeployment"
                        | "RunTask"
                        | "TagResource"
                        | "DeregisterTaskDefinition"
                )
            })
            .collect()
    }
}

fn current(script: &Script, s: &State) -> Frame {
    if s.stopped.is_some() {
        return script.stopped.clone();
    }
    if let Some((at, _)) = &s.continued
        && !script.after_continue.is_empty()
    {
        let i = (s.polls.saturating_sub(at + 1) as usize).min(script.after_continue.len() - 1);
        return script.after_continue[i].clone();
    }
    let i = (s.polls.max(1) as usize - 1).min(script.frames.len().saturating_sub(1));
    script
        .frames
        .get(i)
        .cloned()
        .unwrap_or_else(|| frame("Created"))
}

fn handle(script: &Script, state: &Mutex<State>, req: &Req) -> Resp {
    if req.action().as_deref() == Some("AssumeRoleWithWebIdentity") {
        return Resp::assume_role_ok(
            "ASIAFAKEKEYCODEDEPLOY",
            "fakeSecretKey/codedeploy/abcdefghijklmnop",
            "FwoGZXIvYXdzFakeSessionTokenCodeDeploy==",
            &rfc3339(now_epoch() + 3600),
            &req.form_value("RoleArn").unwrap_or_default(),
            &req.form_value("RoleSessionName").unwrap_or_default(),
        );
    }
    if req.target_prefix().as_deref() == Some(CODEDEPLOY_TARGET) {
        return codedeploy(script, state, req);
    }
    ecs(script, state, req)
}

/// The CODE_DEPLOY service as DescribeServices shows it now: the PRIMARY task set is the
/// replacement once it has all production traffic (and stays the original after a stop).
fn web_now(script: &Script, s: &State) -> Value {
    let mut web = script.web.clone();
    if let (Some(extra), Some(sets)) = (&script.extra_task_set, web["taskSets"].as_array_mut()) {
        sets.push(extra.clone());
    }
    if s.created.is_empty() {
        return web;
    }
    let f = current(script, s);
    let green = f
        .target
        .as_ref()
        .and_then(|t| t.pointer("/taskSetsInfo/0/trafficWeight"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let shifted = green >= 100.0 && f.status != "Stopped" && f.status != "Failed";
    let (primary, active) = if shifted {
        ((GREEN_TASK_SET, NEW_TD), (BLUE_TASK_SET, OLD_TD))
    } else {
        ((BLUE_TASK_SET, OLD_TD), (GREEN_TASK_SET, NEW_TD))
    };
    web["taskDefinition"] = json!(primary.1);
    web["taskSets"] = json!([
        {"id": primary.0, "status": "PRIMARY", "taskDefinition": primary.1, "runningCount": 3, "computedDesiredCount": 3},
        {"id": active.0, "status": "ACTIVE", "taskDefinition": active.1, "runningCount": 3, "computedDesiredCount": 3}
    ]);
    if let (Some(extra), Some(sets)) = (&script.extra_task_set, web["taskSets"].as_array_mut()) {
        sets.push(extra.clone());
    }
    web
}

/// `api` (ECS controller): settled on `web:41`; after the first UpdateService its deployment
/// of `web:42` completes at once, or fails (`api_fails`) as the circuit breaker fails it;
/// after a second one (a rollback by the pipe) it runs `web:41` again.
fn api_now(script: &Script, s: &State) -> Value {
    use super::ecs_fake::deployment;
    let mut api = super::ecs_fake::settled_service();
    api["serviceName"] = json!("api");
    api["serviceArn"] = json!("arn:aws:ecs:eu-west-1:123456789012:service/prod/api");
    let ours = "ecs-svc/5500000000000000042";
    let deployments = match (s.api_updates, script.api_fails) {
        (0, _) => return api,
        (1, false) => json!([deployment(
            ours,
            "PRIMARY",
            NEW_TD,
            3,
            3,
            0,
            Some("COMPLETED")
        )]),
        (1, true) => json!([deployment(ours, "PRIMARY", NEW_TD, 0, 3, 0, Some("FAILED"))]),
        _ => json!([deployment(
            "ecs-svc/5500000000000000043",
            "PRIMARY",
            OLD_TD,
            3,
            3,
            0,
            Some("COMPLETED")
        )]),
    };
    api["taskDefinition"] = deployments[0]["taskDefinition"].clone();
    api["deployments"] = deployments;
    api
}

fn ecs(script: &Script, state: &Mutex<State>, req: &Req) -> Resp {
    let body = req.json();
    match req.target().as_deref() {
        Some("DescribeServices") => {
            let s = lock(state);
            let mut services = Vec::new();
            let mut failures = Vec::new();
            for name in body["services"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default();
                match name.rsplit('/').next() {
                    Some("web") => services.push(web_now(script, &s)),
                    Some("api") if script.with_api => services.push(api_now(script, &s)),
                    _ => failures.push(json!({"arn": format!("arn:aws:ecs:eu-west-1:123456789012:service/prod/{name}"), "reason": "MISSING"})),
                }
            }
            Resp::json(200, json!({"services": services, "failures": failures}))
        }
        Some("UpdateService") => {
            let mut s = lock(state);
            s.update_bodies.push(body.clone());
            let name = body["service"].as_str().unwrap_or_default();
            if name.ends_with("web") {
                if body.get("taskDefinition").is_some_and(|t| !t.is_null()) {
                    return Resp::aws_json_error(
                        400,
                        "InvalidParameterException",
                        "Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.",
                    );
                }
                let mut web = web_now(script, &s);
                if let Some(n) = body.get("desiredCount").filter(|n| !n.is_null()) {
                    web["desiredCount"] = n.clone();
                }
                return Resp::json(200, json!({"service": web}));
            }
            s.api_updates += 1;
            let mut api = api_now(script, &s);
            api["deployments"][0]["rolloutState"] = json!("IN_PROGRESS");
            Resp::json(200, json!({"service": api}))
        }
        Some("DescribeTaskDefinition") => Resp::json(
            200,
            json!({
                "taskDefinition": {
                    "taskDefinitionArn": OLD_TD, "family": "web", "revision": 41, "status": "ACTIVE",
                    "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "essential": true, "portMappings": [{"containerPort": 8080}]}],
                    "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
                    "compatibilities": ["EC2", "FARGATE"], "registeredAt": 1764150000.0
                },
                "tags": []
            }),
        ),
        Some("RegisterTaskDefinition") => {
            let mut td = body;
            td["taskDefinitionArn"] = json!(NEW_TD);
            td["revision"] = json!(42);
            td["status"] = json!("ACTIVE");
            Resp::json(200, json!({"taskDefinition": td, "tags": []}))
        }
        Some("TagResource") => Resp::json(200, json!({})),
        Some("ListTasks") => {
            let arns: Vec<Value> = script
                .stopped_tasks
                .iter()
                .map(|t| t["taskArn"].clone())
                .collect();
            Resp::json(200, json!({"taskArns": arns}))
        }
        // PRE_DEPLOY_COMMAND's task: started, then stopped with exit code 0.
        Some("RunTask") => Resp::json(
            200,
            json!({"tasks": [task("PENDING", &[("app", None)])], "failures": []}),
        ),
        Some("DescribeTasks")
            if body["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().any(|a| a == TASK_ARN)) =>
        {
            Resp::json(
                200,
                json!({"tasks": [task("STOPPED", &[("app", Some(0))])], "failures": []}),
            )
        }
        Some("DescribeTasks") => {
            Resp::json(200, json!({"tasks": script.stopped_tasks, "failures": []}))
        }
        Some("ListTaskDefinitions") => {
            let arns: Vec<String> = (36..=42)
                .map(|n| format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:{n}"))
                .collect();
            Resp::json(200, json!({"taskDefinitionArns": arns}))
        }
        Some("ListServices") => {
            let mut arns = vec!["arn:aws:ecs:eu-west-1:123456789012:service/prod/web"];
            if script.with_api {
                arns.push("arn:aws:ecs:eu-west-1:123456789012:service/prod/api");
            }
            Resp::json(200, json!({"serviceArns": arns}))
        }
        Some("DeregisterTaskDefinition") => {
            lock(state).deregistered.push(
                body["taskDefinition"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
            Resp::json(
                200,
                json!({"taskDefinition": {"taskDefinitionArn": body["taskDefinition"], "status": "INACTIVE"}}),
            )
        }
        other => Resp::aws_json_error(
            400,
            "InvalidParameterException",
            &format!("the fake does not play ECS {other:?}"),
        ),
    }
}

fn codedeploy(script: &Script, state: &Mutex<State>, req: &Req) -> Resp {
    let body = req.json();
    let app_exists = |name: &str| script.applications.iter().any(|(a, _)| a == name);
    let groups_of = |app: &str| -> Vec<&Value> {
        script
            .groups
            .iter()
            .filter(|g| g["applicationName"] == app)
            .collect()
    };
    match req.target().as_deref() {
        // moto answers "nextToken": "" on the last page; so does this fake.
        Some("ListApplications") => Resp::json(
            200,
            json!({"applications": script.applications.iter().map(|(a, _)| a).collect::<Vec<_>>(), "nextToken": ""}),
        ),
        Some("BatchGetApplications") => {
            let infos: Vec<Value> = body["applicationNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| script.applications.iter().find(|(a, _)| n == a))
                .map(|(a, p)| json!({"applicationId": format!("{a}-id"), "applicationName": a, "computePlatform": p, "linkedToGitHub": false}))
                .collect();
            Resp::json(200, json!({"applicationsInfo": infos}))
        }
        Some("ListDeploymentGroups") => {
            let app = body["applicationName"].as_str().unwrap_or_default();
            let names: Vec<&Value> = groups_of(app)
                .iter()
                .map(|g| &g["deploymentGroupName"])
                .collect();
            Resp::json(
                200,
                json!({"applicationName": app, "deploymentGroups": names, "nextToken": ""}),
            )
        }
        Some("BatchGetDeploymentGroups") => {
            let app = body["applicationName"].as_str().unwrap_or_default();
            let infos: Vec<&Value> = groups_of(app)
                .into_iter()
                .filter(|g| {
                    body["deploymentGroupNames"]
                        .as_array()
                        .is_some_and(|n| n.contains(&g["deploymentGroupName"]))
                })
                .collect();
            Resp::json(
                200,
                json!({"deploymentGroupsInfo": infos, "errorMessage": ""}),
            )
        }
        Some("GetDeploymentGroup") => {
            let app = body["applicationName"].as_str().unwrap_or_default();
            if !app_exists(app) {
                return Resp::aws_json_error(
                    400,
                    "ApplicationDoesNotExistException",
                    &format!("No application found for name: {app}"),
                );
            }
            match groups_of(app)
                .into_iter()
                .find(|g| g["deploymentGroupName"] == body["deploymentGroupName"])
            {
                Some(g) => Resp::json(200, json!({"deploymentGroupInfo": g})),
                None => Resp::aws_json_error(
                    400,
                    "DeploymentGroupDoesNotExistException",
                    "No Deployment Group found for name",
                ),
            }
        }
        Some("CreateDeployment") if script.deny_create => Resp::aws_json_error(
            400,
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/deploy/bitbucket-web-app-42 is not authorized to perform: codedeploy:CreateDeployment on resource: arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:AppECS-prod-web/DgpECS-prod-web because no identity-based policy allows the codedeploy:CreateDeployment action",
        ),
        Some("CreateDeployment") => {
            let mut s = lock(state);
            let finished = matches!(
                current(script, &s).status.as_str(),
                "Succeeded" | "Failed" | "Stopped"
            );
            if s.created.len() == 1 && finished {
                s.created.push(body);
                return Resp::json(200, json!({"deploymentId": REDEPLOY_ID}));
            }
            if !s.created.is_empty() {
                return Resp::aws_json_error(
                    400,
                    "DeploymentLimitExceededException",
                    &format!(
                        "The Deployment Group already has an active Deployment {DEPLOYMENT_ID}"
                    ),
                );
            }
            s.created.push(body);
            if script.lose_create_answer {
                return Resp::aws_json_error(
                    500,
                    "InternalFailure",
                    "We encountered an internal error.",
                );
            }
            Resp::json(200, json!({"deploymentId": DEPLOYMENT_ID}))
        }
        Some("GetDeployment") if body["deploymentId"] == PREVIOUS_ID => {
            let spec = json!({"version": 0.0, "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": OLD_TD}}}]});
            Resp::json(
                200,
                json!({"deploymentInfo": {
                    "applicationName": "AppECS-prod-web",
                    "deploymentGroupName": "DgpECS-prod-web",
                    "deploymentId": PREVIOUS_ID,
                    "status": "Succeeded",
                    "computePlatform": "ECS",
                    "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": spec.to_string()}},
                    "createTime": SHIFTED_AT - 86_400.0
                }}),
            )
        }
        Some("GetDeployment") => {
            let mut s = lock(state);
            let Some(created) = s.created.first().cloned() else {
                return Resp::aws_json_error(
                    400,
                    "DeploymentDoesNotExistException",
                    "no such deployment",
                );
            };
            let redeploy = body["deploymentId"] == REDEPLOY_ID && s.created.len() == 2;
            if body["deploymentId"] != DEPLOYMENT_ID && !redeploy {
                return Resp::aws_json_error(
                    400,
                    "DeploymentDoesNotExistException",
                    "no such deployment",
                );
            }
            let created = if redeploy {
                s.created[1].clone()
            } else {
                created
            };
            if s.stopped.is_none() && !redeploy {
                s.polls += 1;
            }
            let f = if redeploy {
                frame_with("Succeeded", &done_through("AfterAllowTraffic"), 100.0)
            } else {
                current(script, &s)
            };
            let mut info = json!({
                "applicationName": created["applicationName"],
                "deploymentGroupName": created["deploymentGroupName"],
                "deploymentConfigName": created.get("deploymentConfigName").cloned().unwrap_or(json!("CodeDeployDefault.ECSAllAtOnce")),
                "deploymentId": body["deploymentId"],
                "status": f.status,
                "description": created["description"],
                "computePlatform": "ECS",
                "creator": "user",
                "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
                "blueGreenDeploymentConfiguration": {
                    "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": script.termination_wait_minutes},
                    "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0}
                },
                "revision": created["revision"],
                "createTime": SHIFTED_AT - 600.0
            });
            if let Some(e) = &f.error_information {
                info["errorInformation"] = e.clone();
            }
            if let Some(r) = &f.rollback_info {
                info["rollbackInfo"] = r.clone();
            }
            Resp::json(200, json!({"deploymentInfo": info}))
        }
        Some("GetDeploymentTarget") => {
            let s = lock(state);
            let f = if body["deploymentId"] == REDEPLOY_ID {
                frame_with("Succeeded", &done_through("AfterAllowTraffic"), 100.0)
            } else {
                current(script, &s)
            };
            match f.target {
                Some(t) if body["targetId"] == "prod:web" => Resp::json(
                    200,
                    json!({"deploymentTarget": {"deploymentTargetType": "ECSTarget", "ecsTarget": t}}),
                ),
                _ => Resp::aws_json_error(
                    400,
                    "DeploymentTargetDoesNotExistException",
                    "The provided target ID does not exist.",
                ),
            }
        }
        Some("ContinueDeployment") => {
            let mut s = lock(state);
            let at = s.polls;
            s.continued = Some((
                at,
                body["deploymentWaitType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ));
            Resp::json(200, json!({}))
        }
        Some("StopDeployment") => {
            let mut s = lock(state);
            s.stopped = Some(body["autoRollbackEnabled"].as_bool().unwrap_or(false));
            Resp::json(
                200,
                json!({"status": "Pending", "statusMessage": "Stop request pending"}),
            )
        }
        Some("ListDeployments")
            if script.previous_deployment
                && body["includeOnlyStatuses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v == "Succeeded")) =>
        {
            let s = lock(state);
            let mut ids = Vec::new();
            if !s.created.is_empty() && current(script, &s).status == "Succeeded" {
                ids.push(DEPLOYMENT_ID);
            }
            ids.push(PREVIOUS_ID);
            Resp::json(200, json!({"deployments": ids, "nextToken": ""}))
        }
        Some("ListDeployments") => {
            let s = lock(state);
            let ids: Vec<&str> = if s.created.is_empty() {
                vec![]
            } else {
                vec![DEPLOYMENT_ID]
            };
            Resp::json(200, json!({"deployments": ids, "nextToken": ""}))
        }
        other => Resp::aws_json_error(
            400,
            "InvalidOperationException",
            &format!("the fake does not play CodeDeploy {other:?}"),
        ),
    }
}

/// The pipe's variables for deploying `nginx:1.28` to the CODE_DEPLOY service `web` of
/// cluster `prod` through the fake, polling every 0.05 s.
pub fn deploy_web(fake: &CodeDeployFake) -> Pipe {
    Pipe::new()
        .endpoint(&fake.endpoint())
        .env("AWS_OIDC_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("IMAGE", "nginx:1.28")
        .env("WAIT_INTERVAL", "0.05")
        .env("WAIT_TIMEOUT", "60")
}
