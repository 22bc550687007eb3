//! [`RolloutPlayer`]: a proxy in front of moto that plays an ECS rolling deployment over time,
//! which moto itself never does (its UpdateService leaves `deployments[]` untouched).
//!
//! For each UpdateService that sets a task definition (or forces a new deployment), the player
//! creates a new deployment `ecs-svc/<n>` for that service and rewrites the UpdateService reply
//! and every later DescribeServices reply for it:
//!
//! | moment | new deployment (PRIMARY) | old deployments |
//! |---|---|---|
//! | UpdateService reply | IN_PROGRESS, running 0, pending 0 | kept, status ACTIVE |
//! | DescribeServices polls 1..=N | IN_PROGRESS, running 0, pending desired | kept, status ACTIVE |
//! | poll N+1 and later | COMPLETED, running desired, pending 0 | gone |
//!
//! Service-level `taskDefinition` becomes the new ARN (moto stores `family:rev` as passed), and
//! service `runningCount` / `pendingCount` are the sums over the deployments shown. Events
//! (newest first): at poll 1 "(service S) has started D tasks: (task ..) ...", at completion
//! "(service S) (deployment ecs-svc/..) deployment completed." then
//! "(service S) has reached a steady state.".
//!
//! A service named in [`RolloutPlayer::failing`] has its first rollout fail instead, as the
//! circuit breaker with rollback does: at poll N+1 the new deployment is ACTIVE with
//! `rolloutState` FAILED and a new PRIMARY deployment runs the old revision again (complete),
//! with the events "deployment failed: tasks failed to start." and "rolling back to ...".
//! Later rollouts of that service (a rollback by the pipe, say) complete normally.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::fake::{ECS_TARGET, Fake, ProxyCtx, ProxyHook, Req, Resp};

/// Default number of DescribeServices polls that still see the rollout IN_PROGRESS.
pub const DEFAULT_POLLS: u32 = 2;

/// One played deployment.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub cluster: String,
    pub service: String,
    /// `ecs-svc/<n>`
    pub deployment_id: String,
    /// The new deployment's task definition ARN.
    pub task_definition: String,
    /// DescribeServices replies seen for this service since the UpdateService.
    pub polls: u32,
    pub completed: bool,
    /// This rollout ends FAILED, with ECS rolling back.
    pub fails: bool,
    created_at: f64,
    updated_at: f64,
    /// moto's PRIMARY deployment at UpdateService time: launch type, network configuration etc.
    template: Value,
    /// Deployments replaced by this one, with status ACTIVE.
    old: Vec<Value>,
    /// Events this rollout produced, newest first.
    events: Vec<Value>,
}

type State = Arc<Mutex<HashMap<(String, String), Rollout>>>;
type Failing = Arc<Vec<String>>;

/// A [`Fake`] proxy in front of moto that plays rollouts; see the module docs.
pub struct RolloutPlayer {
    fake: Fake,
    state: State,
}

impl RolloutPlayer {
    /// In front of `upstream` (e.g. `moto.endpoint()`), completing after [`DEFAULT_POLLS`] polls.
    pub fn start(upstream: String) -> RolloutPlayer {
        RolloutPlayer::with_polls(upstream, DEFAULT_POLLS)
    }

    /// Completing on the `polls + 1`-th DescribeServices after the UpdateService.
    pub fn with_polls(upstream: String, polls: u32) -> RolloutPlayer {
        RolloutPlayer::build(upstream, polls, None, Vec::new())
    }

    /// Like [`RolloutPlayer::with_polls`], but the first rollout of each service in `services`
    /// fails and ECS rolls it back (see the module docs).
    pub fn failing(upstream: String, polls: u32, services: &[&str]) -> RolloutPlayer {
        let failing = services.iter().map(|s| (*s).to_string()).collect();
        RolloutPlayer::build(upstream, polls, None, failing)
    }

    /// Like [`RolloutPlayer::with_polls`], but `hook` sees every request first; when it returns
    /// `Some`, that reply is sent and the player does nothing (e.g. to throttle one call).
    pub fn with_hook(upstream: String, polls: u32, hook: ProxyHook) -> RolloutPlayer {
        RolloutPlayer::build(upstream, polls, Some(hook), Vec::new())
    }

    fn build(
        upstream: String,
        polls: u32,
        extra: Option<ProxyHook>,
        failing: Vec<String>,
    ) -> RolloutPlayer {
        let state: State = Arc::new(Mutex::new(HashMap::new()));
        let st = Arc::clone(&state);
        let failing: Failing = Arc::new(failing);
        let hook: ProxyHook = Arc::new(move |ctx: &ProxyCtx, req: &Req| {
            if let Some(resp) = extra.as_ref().and_then(|h| h(ctx, req)) {
                return Some(resp);
            }
            if req.target_prefix().as_deref() != Some(ECS_TARGET) {
                return None;
            }
            match req.target().as_deref() {
                Some("UpdateService") => Some(on_update_service(ctx, req, &st, &failing)),
                Some("DescribeServices") => Some(on_describe_services(ctx, req, &st, polls)),
                _ => None,
            }
        });
        RolloutPlayer {
            fake: Fake::proxy(upstream, hook),
            state,
        }
    }

    /// `http://127.0.0.1:PORT` of the proxy: give this to the pipe as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        self.fake.endpoint()
    }

    /// Every request the proxy received, in order.
    pub fn requests(&self) -> Vec<Req> {
        self.fake.requests()
    }

    pub fn fake(&self) -> &Fake {
        &self.fake
    }

    /// The current rollout of `service` (any cluster), if one was started.
    pub fn rollout(&self, service: &str) -> Option<Rollout> {
        lock(&self.state)
            .values()
            .find(|r| r.service == service)
            .cloned()
    }

    /// Every service's current rollout.
    pub fn rollouts(&self) -> Vec<Rollout> {
        lock(&self.state).values().cloned().collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The last path segment of an ARN or a plain name.
fn short_name(s: &str) -> String {
    s.rsplit('/').next().unwrap_or(s).to_string()
}

fn key_of(service: &Value) -> Option<(String, String)> {
    let name = service["serviceName"].as_str()?;
    let cluster = service["clusterArn"].as_str().unwrap_or("default");
    Some((short_name(cluster), name.to_string()))
}

fn passthrough(status: u16, body: Vec<u8>) -> Resp {
    Resp::new(status)
        .with_header("Content-Type", "application/x-amz-json-1.1")
        .with_body(body)
}

/// Resolves `family`, `family:rev` or an ARN to the ARN moto knows.
fn resolve_task_definition(ctx: &ProxyCtx, req: &Req, td: &str) -> String {
    if td.starts_with("arn:") {
        return td.to_string();
    }
    let lookup = req.with_json("DescribeTaskDefinition", &json!({"taskDefinition": td}));
    let (status, body) = ctx.forward(&lookup);
    if (200..300).contains(&status)
        && let Ok(v) = serde_json::from_slice::<Value>(&body)
        && let Some(arn) = v
            .pointer("/taskDefinition/taskDefinitionArn")
            .and_then(Value::as_str)
    {
        return arn.to_string();
    }
    td.to_string()
}

fn deployment_number() -> String {
    // Real ids are up to 19 digits.
    format!(
        "{}",
        super::random_u64() % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000
    )
}

fn task_id() -> String {
    super::random_hex(32)
}

fn event(message: String) -> Value {
    json!({
        "id": super::random_uuid(),
        "createdAt": super::now_epoch_f64(),
        "message": message,
    })
}

fn on_update_service(ctx: &ProxyCtx, req: &Req, state: &State, failing: &Failing) -> Resp {
    let (status, body) = ctx.forward(req);
    if !(200..300).contains(&status) {
        return passthrough(status, body);
    }
    let Ok(mut reply) = serde_json::from_slice::<Value>(&body) else {
        return passthrough(status, body);
    };
    let request = req.json();
    let Some(key) = key_of(&reply["service"]) else {
        return passthrough(status, body);
    };
    let new_deployment = request.get("taskDefinition").is_some_and(|v| !v.is_null())
        || request["forceNewDeployment"].as_bool() == Some(true);
    let resolved = if new_deployment {
        let td = request["taskDefinition"]
            .as_str()
            .or_else(|| reply["service"]["taskDefinition"].as_str())
            .unwrap_or_default()
            .to_string();
        Some(resolve_task_definition(ctx, req, &td))
    } else {
        None
    };
    let mut rollouts = lock(state);
    if let Some(task_definition) = resolved {
        let moto_deployments: Vec<Value> = reply["service"]["deployments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let template = moto_deployments
            .iter()
            .find(|d| d["status"] == "PRIMARY")
            .or_else(|| moto_deployments.first())
            .cloned()
            .unwrap_or_else(|| json!({}));
        // What was showing until now becomes ACTIVE.
        let previous: Vec<Value> = match rollouts.get(&key) {
            Some(prev) => prev.deployments(&reply["service"]),
            None => moto_deployments,
        };
        let old = previous
            .into_iter()
            .map(|mut d| {
                d["status"] = json!("ACTIVE");
                d
            })
            .collect();
        let events = rollouts
            .get(&key)
            .map(|p| p.events.clone())
            .unwrap_or_default();
        let now = super::now_epoch_f64();
        let fails = failing.contains(&key.1) && !rollouts.contains_key(&key);
        rollouts.insert(
            key.clone(),
            Rollout {
                cluster: key.0.clone(),
                service: key.1.clone(),
                deployment_id: format!("ecs-svc/{}", deployment_number()),
                task_definition,
                polls: 0,
                completed: false,
                fails,
                created_at: now,
                updated_at: now,
                template,
                old,
                events,
            },
        );
    }
    if let Some(rollout) = rollouts.get(&key) {
        rollout.apply(&mut reply["service"]);
    }
    Resp::json(status, reply)
}

fn on_describe_services(ctx: &ProxyCtx, req: &Req, state: &State, polls: u32) -> Resp {
    let (status, body) = ctx.forward(req);
    if !(200..300).contains(&status) {
        return passthrough(status, body);
    }
    let Ok(mut reply) = serde_json::from_slice::<Value>(&body) else {
        return passthrough(status, body);
    };
    let mut rollouts = lock(state);
    if let Some(services) = reply["services"].as_array_mut() {
        for service in services {
            let Some(key) = key_of(service) else { continue };
            let Some(rollout) = rollouts.get_mut(&key) else {
                continue;
            };
            rollout.advance(service, polls);
            rollout.apply(service);
        }
    }
    Resp::json(status, reply)
}

impl Rollout {
    fn desired(service: &Value) -> i64 {
        service["desiredCount"].as_i64().unwrap_or(0)
    }

    /// Counts one poll, adding events as the rollout moves on.
    fn advance(&mut self, service: &Value, polls: u32) {
        self.polls += 1;
        let desired = Rollout::desired(service);
        let name = &self.service;
        if self.polls == 1 && desired > 0 {
            let tasks: Vec<String> = (0..desired.min(10))
                .map(|_| format!("(task {})", task_id()))
                .collect();
            self.events.insert(
                0,
                event(format!(
                    "(service {name}) has started {desired} tasks: {}.",
                    tasks.join(" ")
                )),
            );
        }
        if self.polls > polls && !self.completed && self.fails {
            self.completed = true;
            self.updated_at = super::now_epoch_f64();
            let failed = event(format!(
                "(service {name}) (deployment {}) deployment failed: tasks failed to start.",
                self.deployment_id
            ));
            let back = event(format!(
                "(service {name}) rolling back to deployment {}.",
                self.rollback_id()
            ));
            self.events.insert(0, failed);
            self.events.insert(0, back);
        }
        if self.polls > polls && !self.completed {
            self.completed = true;
            self.updated_at = super::now_epoch_f64();
            let done = event(format!(
                "(service {name}) (deployment {}) deployment completed.",
                self.deployment_id
            ));
            let steady = event(format!("(service {name}) has reached a steady state."));
            self.events.insert(0, done);
            self.events.insert(0, steady);
        }
    }

    /// The id of the deployment that rolls a failed rollout back.
    fn rollback_id(&self) -> String {
        format!("{}1", self.deployment_id)
    }

    /// The revision the service ran before this rollout.
    fn old_task_definition(&self) -> Option<String> {
        self.old
            .first()
            .and_then(|d| d["taskDefinition"].as_str())
            .map(str::to_string)
    }

    /// After a failed rollout: ECS's rollback deployment (PRIMARY, complete) and ours (FAILED).
    fn failed_deployments(&self, desired: i64) -> Vec<Value> {
        let mut back = match self.old.first() {
            Some(d) => d.clone(),
            None => self.template.clone(),
        };
        back["id"] = json!(self.rollback_id());
        back["status"] = json!("PRIMARY");
        back["desiredCount"] = json!(desired);
        back["runningCount"] = json!(desired);
        back["pendingCount"] = json!(0);
        back["rolloutState"] = json!("COMPLETED");
        back["rolloutStateReason"] =
            json!(format!("ECS deployment {} completed.", self.rollback_id()));
        let mut ours = self.template.clone();
        ours["id"] = json!(self.deployment_id);
        ours["status"] = json!("ACTIVE");
        ours["taskDefinition"] = json!(self.task_definition);
        ours["desiredCount"] = json!(desired);
        ours["runningCount"] = json!(0);
        ours["pendingCount"] = json!(0);
        ours["failedTasks"] = json!(3);
        ours["rolloutState"] = json!("FAILED");
        ours["rolloutStateReason"] =
            json!("ECS deployment circuit breaker: tasks failed to start.");
        vec![back, ours]
    }

    /// The deployments to show now, PRIMARY first.
    fn deployments(&self, service: &Value) -> Vec<Value> {
        let desired = Rollout::desired(service);
        if self.completed && self.fails {
            return self.failed_deployments(desired);
        }
        let mut new = match &self.template {
            Value::Object(_) => self.template.clone(),
            _ => json!({}),
        };
        let (running, pending, state, reason) = if self.completed {
            (
                desired,
                0,
                "COMPLETED",
                format!("ECS deployment {} completed.", self.deployment_id),
            )
        } else {
            let pending = if self.polls == 0 { 0 } else { desired };
            (
                0,
                pending,
                "IN_PROGRESS",
                format!("ECS deployment {} in progress.", self.deployment_id),
            )
        };
        new["id"] = json!(self.deployment_id);
        new["status"] = json!("PRIMARY");
        new["taskDefinition"] = json!(self.task_definition);
        new["desiredCount"] = json!(desired);
        new["pendingCount"] = json!(pending);
        new["runningCount"] = json!(running);
        new["failedTasks"] = json!(0);
        new["createdAt"] = json!(self.created_at);
        new["updatedAt"] = json!(self.updated_at);
        new["rolloutState"] = json!(state);
        new["rolloutStateReason"] = json!(reason);
        let mut out = vec![new];
        if !self.completed {
            out.extend(self.old.iter().cloned());
        }
        out
    }

    /// Rewrites a `service` object from moto to show this rollout.
    fn apply(&self, service: &mut Value) {
        let deployments = self.deployments(service);
        let sum = |field: &str| -> i64 {
            deployments
                .iter()
                .map(|d| d[field].as_i64().unwrap_or(0))
                .sum()
        };
        service["runningCount"] = json!(sum("runningCount"));
        service["pendingCount"] = json!(sum("pendingCount"));
        service["taskDefinition"] = json!(if self.completed && self.fails {
            self.old_task_definition()
                .unwrap_or_else(|| self.task_definition.clone())
        } else {
            self.task_definition.clone()
        });
        service["deployments"] = json!(deployments);
        let mut events = self.events.clone();
        if let Some(existing) = service["events"].as_array() {
            events.extend(existing.iter().cloned());
        }
        events.truncate(100);
        service["events"] = json!(events);
    }
}
