//! A moto server per test, plus a raw client (no SDK, no signing) for seeding and inspecting it.
//!
//! ```ignore
//! let moto = Moto::start();
//! moto.create_cluster("prod");
//! let td = moto.register_task_definition(json!({"family": "web", "containerDefinitions": [...]}));
//! moto.create_service("prod", "web", &td, 2, false);
//! ```

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fake::{ECR_TARGET, ECS_TARGET, auth_header, url_encode};
use super::http;
use super::{ACCOUNT, REGION, xml_tag};

/// The pinned moto version (also in `test/requirements.txt`).
pub const MOTO_VERSION: &str = "5.2.5";

/// `$MOTO_SERVER_BIN`, or `<CARGO_MANIFEST_DIR>/test/.venv/bin/moto_server`.
pub fn moto_server_bin() -> PathBuf {
    match std::env::var_os("MOTO_SERVER_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => super::manifest_dir()
            .join("test")
            .join(".venv")
            .join("bin")
            .join("moto_server"),
    }
}

/// Options for [`Moto`].
#[derive(Debug, Clone, Default)]
pub struct MotoBuilder {
    service_running: Option<u32>,
    env: Vec<(String, String)>,
}

impl MotoBuilder {
    /// Sets `MOTO_ECS_SERVICE_RUNNING=n`: services created afterwards report up to `n` running
    /// tasks (with desired 2 and n = 1: running 1, pending 1, IN_PROGRESS).
    pub fn service_running(mut self, n: u32) -> MotoBuilder {
        self.service_running = Some(n);
        self
    }

    /// Any other variable for the moto process.
    pub fn env(mut self, key: &str, value: &str) -> MotoBuilder {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Starts moto on a free port and waits until it answers. Panics if moto is not installed
    /// ("run test/run to install moto") or does not come up.
    pub fn start(self) -> Moto {
        let bin = moto_server_bin();
        assert!(
            bin.is_file(),
            "moto_server not found at {}: run test/run to install moto \
             (it creates test/.venv with moto[server]=={MOTO_VERSION}), or set MOTO_SERVER_BIN",
            bin.display()
        );
        let mut last_error = String::new();
        for attempt in 1..=5 {
            match self.try_start(&bin) {
                Ok(moto) => return moto,
                Err(e) => {
                    last_error = format!("attempt {attempt}: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        panic!("moto did not start: {last_error}");
    }

    fn try_start(&self, bin: &Path) -> Result<Moto, String> {
        let port = free_port();
        let log_path = super::work_dir().join(format!(
            "moto-{}-{}-{port}.log",
            std::process::id(),
            super::unique()
        ));
        let log =
            File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("clone log handle: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        // Nothing from the developer's AWS setup may leak into moto.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") || k.to_string_lossy().starts_with("MOTO_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("PYTHONUNBUFFERED", "1");
        if let Some(n) = self.service_running {
            cmd.env("MOTO_ECS_SERVICE_RUNNING", n.to_string());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let child = Arc::new(Mutex::new(child));
        register(&child);
        let moto = Moto {
            child,
            port,
            log_path,
            client: Client::new(&format!("http://127.0.0.1:{port}")),
        };
        let started = Instant::now();
        let deadline = started + Duration::from_secs(15);
        let bound_line = format!("Running on http://127.0.0.1:{port}");
        loop {
            if let Ok(Some(status)) = lock(&moto.child).try_wait() {
                return Err(format!(
                    "moto_server exited with {status} on port {port}; log {}:\n{}",
                    moto.log_path.display(),
                    moto.log()
                ));
            }
            // Something answers; make sure it is our moto (werkzeug logs the bound address) and
            // not another server that took the port meanwhile.
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http::send(&moto.endpoint(), "GET", "/moto-api/", &[], b"")
                    .is_ok_and(|r| r.is_success())
                && (moto.log().contains(&bound_line) || started.elapsed() > Duration::from_secs(5))
            {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                // Drop kills it.
                return Err(format!(
                    "moto_server did not answer on port {port} within 15 s; log {}:\n{}",
                    moto.log_path.display(),
                    moto.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A port that was free a moment ago and that this process has not handed out before.
fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
        let port = l.local_addr().expect("local address").port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// A running moto server, killed when dropped.
///
/// It derefs to a [`Client`] for itself, so `moto.ecs(..)`, `moto.create_cluster(..)` etc. work.
#[derive(Debug)]
pub struct Moto {
    child: Arc<Mutex<Child>>,
    port: u16,
    log_path: PathBuf,
    client: Client,
}

impl std::ops::Deref for Moto {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every moto this process started, for [`stop_all_on_abort`].
static STARTED: Mutex<Vec<Weak<Mutex<Child>>>> = Mutex::new(Vec::new());

fn register(child: &Arc<Mutex<Child>>) {
    let mut started = lock(&STARTED);
    started.retain(|c| c.strong_count() > 0);
    started.push(Arc::downgrade(child));
}

/// Stops every running moto when this process panics, if it was built with `panic = "abort"`
/// (the release profile): an abort skips `Drop`, so a panicking release build of the benchmark
/// would leave moto running. Unwinding builds need nothing, `Drop` does it; and there a caught
/// panic (a fake's handler) must not stop moto, so this does nothing in them.
pub fn stop_all_on_abort() {
    if !cfg!(panic = "abort") {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        // try_lock: the panicking thread may hold one of these locks.
        let started = match STARTED.try_lock() {
            Ok(started) => started,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        for child in started.iter().filter_map(Weak::upgrade) {
            let mut child = match child.try_lock() {
                Ok(child) => child,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            let _ = child.kill();
            let _ = child.wait();
        }
    }));
}

impl Moto {
    /// moto with default settings (services report 0 running tasks).
    pub fn start() -> Moto {
        Moto::builder().start()
    }

    pub fn builder() -> MotoBuilder {
        MotoBuilder::default()
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        self.client.endpoint()
    }

    /// A raw client for this moto (the same one `Deref` gives).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where moto's stdout and stderr go (under `test/.work/`).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// moto's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `POST /moto-api/reset`: forget every resource.
    pub fn reset(&self) {
        let r = http::send(&self.endpoint(), "POST", "/moto-api/reset", &[], b"")
            .expect("POST /moto-api/reset");
        assert!(
            r.is_success(),
            "moto reset failed: {} {}",
            r.status,
            r.text()
        );
    }
}

/// A raw AWS client for one endpoint (moto, a fake, a proxy): real wire protocols over
/// `TcpStream`, HTTP/1.1, unsigned but with a SigV4-shaped `Authorization` whose credential scope
/// (`.../eu-west-1/<service>/aws4_request`) tells moto the service.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: String,
}

impl Client {
    /// A client for `endpoint` (`http://127.0.0.1:PORT`).
    pub fn new(endpoint: &str) -> Client {
        Client {
            endpoint: endpoint.trim_end_matches('/').to_string(),
        }
    }

    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// A JSON 1.1 call; `Err((status, body))` on a non-2xx reply.
    pub fn json_call(
        &self,
        target_prefix: &str,
        service: &str,
        op: &str,
        body: &Value,
    ) -> Result<Value, (u16, String)> {
        self.json_call_in(REGION, target_prefix, service, op, body)
    }

    /// A JSON 1.1 call in `region` (moto keeps one store per region, taken from the
    /// credential scope); `Err((status, body))` on a non-2xx reply.
    pub fn json_call_in(
        &self,
        region: &str,
        target_prefix: &str,
        service: &str,
        op: &str,
        body: &Value,
    ) -> Result<Value, (u16, String)> {
        let auth = auth_header(service).replace(&format!("/{REGION}/"), &format!("/{region}/"));
        let target = format!("{target_prefix}.{op}");
        let headers = [
            ("X-Amz-Target", target.as_str()),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Date", "20260101T000000Z"),
            ("Authorization", auth.as_str()),
        ];
        let r = http::send(
            &self.endpoint,
            "POST",
            "/",
            &headers,
            body.to_string().as_bytes(),
        )
        .unwrap_or_else(|e| panic!("moto {service} {op}: request failed: {e}"));
        if !r.is_success() {
            return Err((r.status, r.text()));
        }
        if r.body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&r.body)
            .map_err(|e| (r.status, format!("reply is not JSON ({e}): {}", r.text())))
    }

    /// An ECS call; panics with status and body on a non-2xx reply.
    pub fn ecs(&self, op: &str, body: Value) -> Value {
        self.ecs_result(op, body)
            .unwrap_or_else(|(s, b)| panic!("moto ECS {op} failed: HTTP {s}: {b}"))
    }

    /// An ECS call that may fail: `Err((status, body))`.
    pub fn ecs_result(&self, op: &str, body: Value) -> Result<Value, (u16, String)> {
        self.json_call(ECS_TARGET, "ecs", op, &body)
    }

    /// An ECR call; panics with status and body on a non-2xx reply.
    pub fn ecr(&self, op: &str, body: Value) -> Value {
        self.ecr_result(op, body)
            .unwrap_or_else(|(s, b)| panic!("moto ECR {op} failed: HTTP {s}: {b}"))
    }

    /// An ECR call that may fail: `Err((status, body))`.
    pub fn ecr_result(&self, op: &str, body: Value) -> Result<Value, (u16, String)> {
        self.json_call(ECR_TARGET, "ecr", op, &body)
    }

    /// An EC2 query call (`Action=...&Version=2016-11-15&...`); returns the XML. Panics on non-2xx.
    pub fn ec2(&self, params: &[(&str, &str)]) -> String {
        self.query("ec2", "2016-11-15", params)
    }

    /// An STS query call (`Version=2011-06-15`); returns the XML. Panics on non-2xx.
    pub fn sts(&self, params: &[(&str, &str)]) -> String {
        self.query("sts", "2011-06-15", params)
    }

    fn query(&self, service: &str, version: &str, params: &[(&str, &str)]) -> String {
        let mut body = String::new();
        let mut has_version = false;
        for (k, v) in params {
            has_version |= *k == "Version";
            if !body.is_empty() {
                body.push('&');
            }
            body.push_str(&format!("{}={}", url_encode(k), url_encode(v)));
        }
        if !has_version {
            body.push_str(&format!("&Version={version}"));
        }
        let auth = auth_header(service);
        let headers = [
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("X-Amz-Date", "20260101T000000Z"),
            ("Authorization", auth.as_str()),
        ];
        let r = http::send(&self.endpoint, "POST", "/", &headers, body.as_bytes())
            .unwrap_or_else(|e| panic!("moto {service} {body}: request failed: {e}"));
        assert!(
            r.is_success(),
            "moto {service} {body} failed: HTTP {}: {}",
            r.status,
            r.text()
        );
        r.text()
    }

    /// Creates a VPC (10.0.0.0/16), a subnet in eu-west-1a and a security group; returns
    /// `(subnet_id, security_group_id)`.
    pub fn create_vpc_subnet_sg(&self) -> (String, String) {
        let vpc_xml = self.ec2(&[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")]);
        let vpc = xml_tag(&vpc_xml, "vpcId").expect("CreateVpc reply has <vpcId>");
        let subnet_xml = self.ec2(&[
            ("Action", "CreateSubnet"),
            ("VpcId", &vpc),
            ("CidrBlock", "10.0.1.0/24"),
            ("AvailabilityZone", "eu-west-1a"),
        ]);
        let subnet = xml_tag(&subnet_xml, "subnetId").expect("CreateSubnet reply has <subnetId>");
        let sg_name = format!("web-{}", super::unique());
        let sg_xml = self.ec2(&[
            ("Action", "CreateSecurityGroup"),
            ("VpcId", &vpc),
            ("GroupName", &sg_name),
            ("GroupDescription", "web tasks"),
        ]);
        let sg = xml_tag(&sg_xml, "groupId").expect("CreateSecurityGroup reply has <groupId>");
        (subnet, sg)
    }

    /// Creates a cluster; returns its ARN.
    pub fn create_cluster(&self, name: &str) -> String {
        let r = self.ecs("CreateCluster", json!({"clusterName": name}));
        str_at(&r, "/cluster/clusterArn")
    }

    /// Registers a task definition (the RegisterTaskDefinition request JSON); returns its ARN.
    pub fn register_task_definition(&self, task_def: Value) -> String {
        let r = self.ecs("RegisterTaskDefinition", task_def);
        str_at(&r, "/taskDefinition/taskDefinitionArn")
    }

    /// Creates a REPLICA service with the ECS deployment controller; returns the `service` object.
    /// `fargate`: launch type FARGATE with an awsvpc configuration on a fresh VPC, subnet and
    /// security group (the task definition must use `networkMode: awsvpc`); else launch type EC2
    /// without network configuration.
    pub fn create_service(
        &self,
        cluster: &str,
        service: &str,
        task_def_arn: &str,
        desired: u32,
        fargate: bool,
    ) -> Value {
        let mut body = json!({
            "cluster": cluster,
            "serviceName": service,
            "taskDefinition": task_def_arn,
            "desiredCount": desired,
            "launchType": if fargate { "FARGATE" } else { "EC2" },
            "schedulingStrategy": "REPLICA",
            "deploymentController": {"type": "ECS"},
            "deploymentConfiguration": {
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": true, "rollback": true},
            },
        });
        if fargate {
            let (subnet, sg) = self.create_vpc_subnet_sg();
            body["networkConfiguration"] = json!({
                "awsvpcConfiguration": {
                    "subnets": [subnet],
                    "securityGroups": [sg],
                    "assignPublicIp": "DISABLED",
                }
            });
        }
        self.ecs("CreateService", body)["service"].clone()
    }

    /// Creates an ECR repository; returns its URI (`123456789012.dkr.ecr.eu-west-1.amazonaws.com/<name>`).
    pub fn create_ecr_repo(&self, name: &str) -> String {
        let r = self.ecr("CreateRepository", json!({"repositoryName": name}));
        str_at(&r, "/repository/repositoryUri")
    }

    /// Pushes a minimal Docker v2 manifest (distinct per repo and tag) under `tag`; returns the
    /// image digest (`sha256:...`).
    pub fn put_image(&self, repo: &str, tag: &str) -> String {
        self.put_image_manifest(repo, tag, &minimal_manifest(&format!("{repo}:{tag}")))
    }

    /// PutImage with the given manifest text; returns the image digest.
    pub fn put_image_manifest(&self, repo: &str, tag: &str, manifest: &str) -> String {
        let r = self.ecr(
            "PutImage",
            json!({
                "repositoryName": repo,
                "imageTag": tag,
                "imageManifest": manifest,
                "imageManifestMediaType": "application/vnd.docker.distribution.manifest.v2+json",
            }),
        );
        str_at(&r, "/image/imageId/imageDigest")
    }

    /// DescribeTaskDefinition with `include: ["TAGS"]` (the whole reply: `taskDefinition`, `tags`).
    pub fn describe_task_definition(&self, arn_or_family: &str) -> Value {
        self.ecs(
            "DescribeTaskDefinition",
            json!({"taskDefinition": arn_or_family, "include": ["TAGS"]}),
        )
    }

    /// The `service` object from DescribeServices; panics if the service is missing.
    pub fn describe_service(&self, cluster: &str, service: &str) -> Value {
        let r = self.ecs(
            "DescribeServices",
            json!({"cluster": cluster, "services": [service], "include": ["TAGS"]}),
        );
        match r["services"].as_array().and_then(|s| s.first()) {
            Some(s) => s.clone(),
            None => panic!("service {service} not found in cluster {cluster}: {r}"),
        }
    }

    /// Task definition ARNs of `family`, oldest first.
    pub fn list_task_definitions(&self, family: &str) -> Vec<String> {
        let r = self.ecs(
            "ListTaskDefinitions",
            json!({"familyPrefix": family, "sort": "ASC"}),
        );
        r["taskDefinitionArns"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// CloudWatch Logs JSON 1.1 target prefix.
pub const LOGS_TARGET: &str = "Logs_20140328";

/// CloudWatch Logs, in any region: moto keeps one store per region, taken from the credential
/// scope, so a log group in another region than the cluster's must be written there.
impl Client {
    /// A CloudWatch Logs call in `region`; panics with status and body on a non-2xx reply.
    pub fn logs_in(&self, region: &str, op: &str, body: Value) -> Value {
        self.json_call_in(region, LOGS_TARGET, "logs", op, &body)
            .unwrap_or_else(|(status, text)| panic!("moto logs {op} failed: HTTP {status}: {text}"))
    }

    /// Creates a log stream in `region`, and its group unless it exists.
    pub fn create_log_stream(&self, region: &str, group: &str, stream: &str) {
        let groups = self.logs_in(
            region,
            "DescribeLogGroups",
            json!({"logGroupNamePrefix": group}),
        );
        let exists = groups["logGroups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["logGroupName"] == group));
        if !exists {
            self.logs_in(region, "CreateLogGroup", json!({"logGroupName": group}));
        }
        self.logs_in(
            region,
            "CreateLogStream",
            json!({"logGroupName": group, "logStreamName": stream}),
        );
    }

    /// PutLogEvents of `(epoch milliseconds, message)` pairs, oldest first, as a container's
    /// log driver would write them.
    pub fn put_log_events(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        events: &[(i64, String)],
    ) {
        let events: Vec<Value> = events
            .iter()
            .map(|(timestamp, message)| json!({"timestamp": timestamp, "message": message}))
            .collect();
        self.logs_in(
            region,
            "PutLogEvents",
            json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}),
        );
    }
}

/// `arn:aws:ecs:eu-west-1:123456789012:task-definition/<family>:<revision>`
pub fn task_definition_arn(family: &str, revision: u32) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{revision}")
}

/// A Docker image manifest v2 whose config digest is derived from `seed`.
pub fn minimal_manifest(seed: &str) -> String {
    let config = fake_sha256(&format!("config:{seed}"));
    let layer = fake_sha256(&format!("layer:{seed}"));
    json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1470,
            "digest": format!("sha256:{config}"),
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": 3_208_942,
            "digest": format!("sha256:{layer}"),
        }],
    })
    .to_string()
}

/// 64 hex characters that depend only on `seed` (not a real SHA-256).
fn fake_sha256(seed: &str) -> String {
    use std::hash::{Hash, Hasher};
    (0..4u8)
        .map(|i| {
            // DefaultHasher::new() has fixed keys, so this is deterministic.
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (i, seed).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

fn str_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("moto reply has no string at {pointer}: {v}"))
        .to_string()
}

/// EventBridge JSON 1.1 target prefix.
pub const EVENTS_TARGET: &str = "AWSEvents";

/// EventBridge (JSON 1.1, `X-Amz-Target: AWSEvents.<Op>`) and EventBridge Scheduler (REST JSON)
/// rules, targets and schedules, for `UPDATE_SCHEDULED_TASKS`.
impl Client {
    /// An EventBridge call; panics with status and body on a non-2xx reply. moto answers some
    /// of them with an empty body (and `text/html`), which reads as `{}`.
    pub fn events(&self, op: &str, body: Value) -> Value {
        self.json_call(EVENTS_TARGET, "events", op, &body)
            .unwrap_or_else(|(s, b)| panic!("moto events {op} failed: HTTP {s}: {b}"))
    }

    /// Creates a custom event bus; returns its ARN.
    pub fn create_event_bus(&self, name: &str) -> String {
        str_at(
            &self.events("CreateEventBus", json!({"Name": name})),
            "/EventBusArn",
        )
    }

    /// PutRule on `bus`: `rule` is the rest of the request (`ScheduleExpression` or
    /// `EventPattern`, ...).
    pub fn put_rule(&self, bus: &str, name: &str, mut rule: Value) {
        rule["Name"] = json!(name);
        rule["EventBusName"] = json!(bus);
        self.events("PutRule", rule);
    }

    /// PutTargets on a rule of `bus`; panics on any FailedEntries.
    pub fn put_targets(&self, bus: &str, rule: &str, targets: Value) {
        let r = self.events(
            "PutTargets",
            json!({"Rule": rule, "EventBusName": bus, "Targets": targets}),
        );
        assert_eq!(r["FailedEntryCount"], json!(0), "PutTargets failed: {r}");
    }

    /// ListTargetsByRule: the targets of a rule of `bus`, as stored.
    pub fn targets_of(&self, bus: &str, rule: &str) -> Value {
        self.events(
            "ListTargetsByRule",
            json!({"Rule": rule, "EventBusName": bus}),
        )["Targets"]
            .clone()
    }

    /// A Scheduler REST JSON call (`method` on `path`, with a query if any); panics on non-2xx.
    pub fn scheduler(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let auth = auth_header("scheduler");
        let text = body.map(Value::to_string).unwrap_or_default();
        let headers = [
            ("Content-Type", "application/json"),
            ("X-Amz-Date", "20260101T000000Z"),
            ("Authorization", auth.as_str()),
        ];
        let r = http::send(&self.endpoint, method, path, &headers, text.as_bytes())
            .unwrap_or_else(|e| panic!("moto scheduler {method} {path}: request failed: {e}"));
        assert!(
            r.is_success(),
            "moto scheduler {method} {path} failed: HTTP {}: {}",
            r.status,
            r.text()
        );
        if r.body.is_empty() {
            return json!({});
        }
        serde_json::from_slice(&r.body).unwrap_or_else(|e| {
            panic!(
                "moto scheduler {method} {path}: not JSON ({e}): {}",
                r.text()
            )
        })
    }

    /// CreateScheduleGroup.
    pub fn create_schedule_group(&self, name: &str) {
        self.scheduler(
            "POST",
            &format!("/schedule-groups/{name}"),
            Some(&json!({})),
        );
    }

    /// CreateSchedule in `group`: `schedule` is the rest of the request.
    pub fn create_schedule(&self, group: &str, name: &str, mut schedule: Value) {
        schedule["GroupName"] = json!(group);
        self.scheduler("POST", &format!("/schedules/{name}"), Some(&schedule));
    }

    /// GetSchedule: the whole schedule as stored.
    pub fn get_schedule(&self, group: &str, name: &str) -> Value {
        self.scheduler(
            "GET",
            &format!("/schedules/{name}?groupName={}", url_encode(group)),
            None,
        )
    }
}

/// IAM, Secrets Manager and SSM, for `PREFLIGHT`'s references.
impl Client {
    /// An IAM query call (`Version=2010-05-08`); returns the XML. Panics on non-2xx.
    pub fn iam(&self, params: &[(&str, &str)]) -> String {
        self.query("iam", "2010-05-08", params)
    }

    /// Creates role `name` whose trust policy lets `service` (such as
    /// `ecs-tasks.amazonaws.com`) assume it; returns its ARN.
    pub fn create_role(&self, name: &str, service: &str) -> String {
        let trust = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": [service]}, "Action": "sts:AssumeRole"
        }]})
        .to_string();
        self.iam(&[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", &trust),
        ]);
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    /// A Secrets Manager call; panics on a non-2xx reply.
    pub fn secrets(&self, op: &str, body: Value) -> Value {
        self.json_call("secretsmanager", "secretsmanager", op, &body)
            .unwrap_or_else(|(s, b)| panic!("moto secretsmanager {op} failed: HTTP {s}: {b}"))
    }

    /// Creates secret `name` (with a value no check may read); returns its full ARN.
    pub fn create_secret(&self, name: &str, value: &str) -> String {
        let r = self.secrets("CreateSecret", json!({"Name": name, "SecretString": value}));
        str_at(&r, "/ARN")
    }

    /// Creates SSM parameter `name` (a SecureString no check may read).
    pub fn put_parameter(&self, name: &str, value: &str) {
        self.json_call(
            "AmazonSSM",
            "ssm",
            "PutParameter",
            &json!({"Name": name, "Value": value, "Type": "SecureString"}),
        )
        .unwrap_or_else(|(s, b)| panic!("moto ssm PutParameter failed: HTTP {s}: {b}"));
    }
}
