//! `UPDATE_SCHEDULED_TASKS` with the real binary against moto's EventBridge and Scheduler,
//! behind the rollout player (moto plays no ECS rollout), which also answers what moto cannot
//! (an AccessDenied, a lost answer).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::fake::{ProxyCtx, ProxyHook, Req, Resp};
use crate::support::moto::{EVENTS_TARGET, Moto, task_definition_arn};
use crate::support::pipe::{Outcome, Pipe};
use crate::support::rollout::RolloutPlayer;
use crate::support::world;
use crate::support::{ACCOUNT, REGION, now_epoch};

const CLUSTER: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod";
const STAGING: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/staging";
const EVENTS_ROLE: &str = "arn:aws:iam::123456789012:role/ecsEventsRole";
const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/schedulerRole";

fn web(revision: u32) -> String {
    task_definition_arn("web", revision)
}

/// A rule's ECS target with every field a team sets.
fn rule_target(id: &str, cluster: &str, task_definition: &str) -> Value {
    json!({
        "Id": id,
        "Arn": cluster,
        "RoleArn": EVENTS_ROLE,
        "Input": "{\"containerOverrides\":[{\"name\":\"web\",\"command\":[\"bin/report\"]}]}",
        "EcsParameters": {
            "TaskDefinitionArn": task_definition,
            "TaskCount": 2,
            "LaunchType": "FARGATE",
            "NetworkConfiguration": {"awsvpcConfiguration": {
                "Subnets": ["subnet-0a1b"], "SecurityGroups": ["sg-0c2d"], "AssignPublicIp": "DISABLED"
            }},
            "PlatformVersion": "1.4.0",
            "Group": "family:web",
            "EnableECSManagedTags": true,
            "EnableExecuteCommand": true,
            "PropagateTags": "TASK_DEFINITION",
            "ReferenceId": "nightly",
            "Tags": [{"Key": "job", "Value": "report"}]
        },
        "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
        "DeadLetterConfig": {"Arn": "arn:aws:sqs:eu-west-1:123456789012:scheduled-dlq"}
    })
}

/// A schedule's target on `cluster`, pinned to `task_definition`.
fn schedule_target(cluster: &str, task_definition: &str) -> Value {
    json!({
        "Arn": cluster,
        "RoleArn": SCHEDULER_ROLE,
        "EcsParameters": {
            "TaskDefinitionArn": task_definition,
            "TaskCount": 1,
            "LaunchType": "FARGATE",
            "NetworkConfiguration": {"awsvpcConfiguration": {
                "Subnets": ["subnet-0a1b"], "SecurityGroups": ["sg-0c2d"], "AssignPublicIp": "DISABLED"
            }}
        }
    })
}

/// The disabled schedule with every optional field set.
fn monthly_close() -> Value {
    let now = now_epoch();
    let mut target = schedule_target(CLUSTER, &web(3));
    target["Input"] =
        json!("{\"containerOverrides\":[{\"name\":\"web\",\"command\":[\"bin/close\"]}]}");
    target["RetryPolicy"] = json!({"MaximumEventAgeInSeconds": 7200, "MaximumRetryAttempts": 4});
    target["DeadLetterConfig"] = json!({"Arn": "arn:aws:sqs:eu-west-1:123456789012:scheduled-dlq"});
    let ecs = &mut target["EcsParameters"];
    ecs["PlatformVersion"] = json!("1.4.0");
    ecs["Group"] = json!("close");
    ecs["EnableECSManagedTags"] = json!(true);
    ecs["EnableExecuteCommand"] = json!(false);
    ecs["PropagateTags"] = json!("TASK_DEFINITION");
    ecs["ReferenceId"] = json!("close");
    ecs["Tags"] = json!([{"job": "close"}]);
    json!({
        "ScheduleExpression": "cron(0 3 1 * ? *)",
        "ScheduleExpressionTimezone": "Europe/Dublin",
        "StartDate": now + 30 * 86_400,
        "EndDate": now + 400 * 86_400,
        "Description": "month-end close, paused until the auditors sign off",
        "State": "DISABLED",
        "KmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "ActionAfterCompletion": "NONE",
        "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        "Target": target
    })
}

/// moto with cluster `prod` (service `web` on `web:3`; `web:1` and `web:2` older), cluster
/// `staging`, family `report`, and rules and schedules of every kind:
/// - moved: rule `nightly-report` (default bus; its second, SQS target stays), rule `on-upload`
///   (bus `ops`), schedule `hourly-sync` (default group), schedule `monthly-close` (group
///   `batch`, DISABLED, every optional field);
/// - left alone: rule `legacy-cleanup` and schedule `old-sync` (web:1), rule `latest-digest`
///   and schedule `latest-sync` (family ARN);
/// - untouched, not mentioned: rule `report-job` / schedule `report-sync` (family report), rule
///   `staging-job` / schedule `staging-sync` (cluster staging).
fn world() -> Moto {
    let moto = Moto::builder().service_running(2).start();
    moto.create_cluster("prod");
    moto.create_cluster("staging");
    moto.create_ecr_repo("web");
    moto.put_image("web", "v1");
    moto.put_image("web", "v2");
    for _ in 0..3 {
        moto.register_task_definition(world::web_task_definition());
    }
    let mut report = world::web_task_definition();
    report["family"] = json!("report");
    let report = moto.register_task_definition(report);
    moto.create_service("prod", "web", &web(3), 2, true);

    moto.create_event_bus("ops");
    let cron = json!({"ScheduleExpression": "cron(0 2 * * ? *)"});
    moto.put_rule("default", "nightly-report", cron.clone());
    moto.put_targets(
        "default",
        "nightly-report",
        json!([rule_target("report", CLUSTER, &web(3)), {
            "Id": "notify", "Arn": "arn:aws:sqs:eu-west-1:123456789012:jobs", "Input": "{\"job\":\"nightly\"}"
        }]),
    );
    moto.put_rule(
        "ops",
        "on-upload",
        json!({"EventPattern": "{\"source\":[\"aws.s3\"]}"}),
    );
    let mut upload = rule_target("import", CLUSTER, &web(3));
    upload.as_object_mut().map(|t| t.remove("Input"));
    upload["InputTransformer"] = json!({
        "InputPathsMap": {"key": "$.detail.object.key"},
        "InputTemplate": "{\"containerOverrides\":[{\"name\":\"web\",\"environment\":[{\"name\":\"KEY\",\"value\":<key>}]}]}"
    });
    moto.put_targets("ops", "on-upload", json!([upload]));
    for (rule, cluster, td) in [
        ("legacy-cleanup", CLUSTER, web(1)),
        (
            "latest-digest",
            CLUSTER,
            format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web"),
        ),
        ("report-job", CLUSTER, report.clone()),
        ("staging-job", STAGING, web(3)),
    ] {
        moto.put_rule("default", rule, cron.clone());
        moto.put_targets("default", rule, json!([rule_target("job", cluster, &td)]));
    }

    moto.create_schedule_group("batch");
    let hourly = |target: Value| json!({"ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": target});
    moto.create_schedule(
        "default",
        "hourly-sync",
        hourly(schedule_target(CLUSTER, &web(3))),
    );
    moto.create_schedule("batch", "monthly-close", monthly_close());
    for (name, cluster, td) in [
        ("old-sync", CLUSTER, web(1)),
        (
            "latest-sync",
            CLUSTER,
            format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web"),
        ),
        ("report-sync", CLUSTER, report.clone()),
        ("staging-sync", STAGING, web(3)),
    ] {
        moto.create_schedule("default", name, hourly(schedule_target(cluster, &td)));
    }
    moto
}

const RULES: &[(&str, &str)] = &[
    ("default", "nightly-report"),
    ("ops", "on-upload"),
    ("default", "legacy-cleanup"),
    ("default", "latest-digest"),
    ("default", "report-job"),
    ("default", "staging-job"),
];
const SCHEDULES: &[(&str, &str)] = &[
    ("default", "hourly-sync"),
    ("batch", "monthly-close"),
    ("default", "old-sync"),
    ("default", "latest-sync"),
    ("default", "report-sync"),
    ("default", "staging-sync"),
];

/// Every rule's targets and every schedule, as moto has them now.
fn snapshot(moto: &Moto) -> (Vec<Value>, Vec<Value>) {
    let rules = RULES
        .iter()
        .map(|(bus, rule)| moto.targets_of(bus, rule))
        .collect();
    let schedules = SCHEDULES
        .iter()
        .map(|(group, name)| moto.get_schedule(group, name))
        .collect();
    (rules, schedules)
}

fn pipe(endpoint: &str) -> Pipe {
    world::deploy_web_v2(endpoint)
        .env("WAIT_INTERVAL", "0.1")
        .env("UPDATE_SCHEDULED_TASKS", "true")
}

/// Requests to EventBridge or Scheduler, as `service:Operation` (Scheduler's REST paths as
/// `scheduler:METHOD path`).
fn scheduling_calls(requests: &[Req]) -> Vec<String> {
    requests
        .iter()
        .filter_map(|r| match r.service().as_deref() {
            Some("events") => Some(format!("events:{}", r.target().unwrap_or_default())),
            Some("scheduler") => Some(format!("scheduler:{} {}", r.method, r.path)),
            _ => None,
        })
        .collect()
}

fn writes(requests: &[Req]) -> Vec<String> {
    scheduling_calls(requests)
        .into_iter()
        .filter(|c| {
            c.starts_with("events:Put")
                || c.starts_with("events:Remove")
                || c.starts_with("scheduler:PUT")
                || c.starts_with("scheduler:POST")
                || c.starts_with("scheduler:DELETE")
        })
        .collect()
}

/// `value` with `TaskDefinitionArn` (at `pointer`) set to `arn`.
fn with_revision(mut value: Value, pointer: &str, arn: &str) -> Value {
    *value.pointer_mut(pointer).expect("pointer") = json!(arn);
    value
}

/// A schedule without what moto changes on every update, dates as numbers compared by value.
fn comparable_schedule(mut schedule: Value) -> Value {
    schedule
        .as_object_mut()
        .map(|s| s.remove("LastModificationDate"));
    for key in ["StartDate", "EndDate"] {
        if let Some(n) = schedule[key].as_f64() {
            schedule[key] = json!(n);
        }
    }
    schedule
}

fn last_line(out: &Outcome) -> String {
    out.stderr.lines().last().unwrap_or_default().to_string()
}

#[test]
fn rules_and_schedules_on_the_old_revision_move_exactly_and_the_rest_stays_byte_for_byte() {
    let moto = world();
    let (rules_before, schedules_before) = snapshot(&moto);
    let player = RolloutPlayer::start(moto.endpoint());
    let p = pipe(&player.endpoint());
    let out = p.run();
    out.assert_success();
    out.assert_contains(
        "▶ Moving the scheduled tasks on web:3 to the new revision (UPDATE_SCHEDULED_TASKS)",
    );
    out.assert_contains("moved rule nightly-report on bus default: web:3 → web:4");
    out.assert_contains("moved rule on-upload on bus ops: web:3 → web:4");
    out.assert_contains("moved schedule hourly-sync in group default: web:3 → web:4");
    out.assert_contains("moved schedule monthly-close in group batch: web:3 → web:4");
    out.assert_contains(
        "left alone: rule legacy-cleanup on bus default (target job) pinned to web:1, not to web:3",
    );
    out.assert_contains("left alone: rule latest-digest on bus default (target job) uses the family without a revision");
    out.assert_contains("left alone: schedule old-sync in group default pinned to web:1");
    out.assert_contains(
        "left alone: schedule latest-sync in group default uses the family without a revision",
    );
    for quiet in ["report-job", "staging-job", "report-sync", "staging-sync"] {
        out.assert_not_contains(quiet);
    }
    assert!(
        last_line(&out).starts_with("✔ Deployed web:4"),
        "{}",
        out.describe()
    );

    let (rules_after, schedules_after) = snapshot(&moto);
    // Moved: exactly as before but the revision; the SQS target of nightly-report is untouched.
    assert_eq!(
        rules_after[0],
        with_revision(
            rules_before[0].clone(),
            "/0/EcsParameters/TaskDefinitionArn",
            &web(4)
        )
    );
    assert_eq!(rules_after[0][1], rules_before[0][1]);
    assert_eq!(
        rules_after[1],
        with_revision(
            rules_before[1].clone(),
            "/0/EcsParameters/TaskDefinitionArn",
            &web(4)
        )
    );
    for i in 0..2 {
        assert_eq!(
            comparable_schedule(schedules_after[i].clone()),
            comparable_schedule(with_revision(
                schedules_before[i].clone(),
                "/Target/EcsParameters/TaskDefinitionArn",
                &web(4)
            )),
            "schedule {:?}",
            SCHEDULES[i]
        );
    }
    assert_eq!(schedules_after[1]["State"], json!("DISABLED"));
    // Everything else: byte for byte.
    assert_eq!(rules_after[2..], rules_before[2..]);
    assert_eq!(schedules_after[2..], schedules_before[2..]);

    // The writes: one PutTargets per moved rule with only its ECS target, one UpdateSchedule
    // per moved schedule with every field as read; never PutRule.
    let requests = player.requests();
    assert_eq!(
        writes(&requests),
        vec![
            "events:PutTargets",
            "events:PutTargets",
            "scheduler:PUT /schedules/monthly-close",
            "scheduler:PUT /schedules/hourly-sync",
        ]
    );
    let put: Vec<Value> = requests
        .iter()
        .filter(|r| r.target().as_deref() == Some("PutTargets"))
        .map(Req::json)
        .collect();
    assert_eq!(put[0]["Targets"].as_array().map(Vec::len), Some(1));
    assert_eq!(put[0]["Targets"][0]["Id"], json!("report"));
    let update = requests
        .iter()
        .find(|r| r.path.starts_with("/schedules/monthly-close") && r.method == "PUT")
        .expect("UpdateSchedule of monthly-close")
        .json();
    let before = &schedules_before[1];
    for key in [
        "GroupName",
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "Description",
        "State",
        "KmsKeyArn",
        "ActionAfterCompletion",
        "FlexibleTimeWindow",
    ] {
        assert_eq!(update[key], before[key], "UpdateSchedule {key}");
    }
    for key in ["StartDate", "EndDate"] {
        assert_eq!(
            update[key].as_f64(),
            before[key].as_f64(),
            "UpdateSchedule {key}"
        );
    }
    assert_eq!(
        update["Target"],
        with_revision(
            before["Target"].clone(),
            "/EcsParameters/TaskDefinitionArn",
            &web(4)
        )
    );

    let json = p.deployment_json();
    let tasks = json["scheduledTasks"].as_array().expect("scheduledTasks");
    let moved: Vec<(&str, &str, &str)> = tasks
        .iter()
        .filter(|t| t["verdict"] == "moved")
        .map(|t| {
            (
                t["type"].as_str().unwrap_or_default(),
                t["name"].as_str().unwrap_or_default(),
                t["taskDefinitionArn"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let new = web(4);
    assert_eq!(
        moved,
        vec![
            ("rule", "nightly-report", new.as_str()),
            ("rule", "on-upload", new.as_str()),
            ("schedule", "monthly-close", new.as_str()),
            ("schedule", "hourly-sync", new.as_str()),
        ]
    );
    assert_eq!(tasks[0]["eventBus"], json!("default"));
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t["verdict"] == "left-alone")
            .count(),
        4
    );
}

#[test]
fn a_failed_rollout_moves_nothing() {
    let moto = world();
    let before = snapshot(&moto);
    let player = RolloutPlayer::failing(moto.endpoint(), 1, &["web"]);
    let out = pipe(&player.endpoint()).run();
    out.assert_code(1);
    out.assert_not_contains("UPDATE_SCHEDULED_TASKS");
    assert_eq!(scheduling_calls(&player.requests()), Vec::<String>::new());
    assert_eq!(snapshot(&moto), before);
}

#[test]
fn with_the_variable_off_no_eventbridge_or_scheduler_call_is_made() {
    let moto = world();
    let before = snapshot(&moto);
    let player = RolloutPlayer::start(moto.endpoint());
    let out = pipe(&player.endpoint())
        .remove("UPDATE_SCHEDULED_TASKS")
        .run();
    out.assert_success();
    out.assert_not_contains("scheduled tasks");
    assert_eq!(scheduling_calls(&player.requests()), Vec::<String>::new());
    assert_eq!(snapshot(&moto), before);
}

#[test]
fn a_dry_run_lists_what_would_move_and_writes_nothing() {
    let moto = world();
    let before = snapshot(&moto);
    let player = RolloutPlayer::start(moto.endpoint());
    let p = pipe(&player.endpoint()).env("DRY_RUN", "true");
    let out = p.run();
    out.assert_success();
    out.assert_contains("▶ Scheduled tasks that would follow the deploy (UPDATE_SCHEDULED_TASKS)");
    out.assert_contains("would move rule nightly-report on bus default: web:3 → web:<new>");
    out.assert_contains("would move schedule monthly-close in group batch: web:3 → web:<new>");
    out.assert_contains("left alone: rule legacy-cleanup");
    let requests = player.requests();
    assert_eq!(writes(&requests), Vec::<String>::new());
    assert!(
        requests.iter().all(|r| !matches!(
            r.target().as_deref(),
            Some("RegisterTaskDefinition" | "UpdateService")
        )),
        "a dry run changes nothing"
    );
    assert_eq!(snapshot(&moto), before);
    let tasks = p.deployment_json()["scheduledTasks"].clone();
    assert_eq!(
        tasks
            .as_array()
            .map(|t| t.iter().filter(|t| t["verdict"] == "dry-run").count()),
        Some(4)
    );
}

#[test]
fn a_denied_put_targets_exits_1_naming_what_still_runs_the_old_revision_and_the_permission() {
    let moto = world();
    let before = snapshot(&moto);
    let hook: ProxyHook = Arc::new(|_: &ProxyCtx, req: &Req| {
        (req.target_prefix().as_deref() == Some(EVENTS_TARGET)
            && req.target().as_deref() == Some("PutTargets"))
        .then(|| {
            Resp::aws_json_error(
                400,
                "AccessDeniedException",
                &format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/deploy/bitbucket-web-app-42 is not authorized to perform: iam:PassRole on resource: {EVENTS_ROLE} because no identity-based policy allows the iam:PassRole action"),
            )
        })
    });
    let player = RolloutPlayer::with_hook(moto.endpoint(), 2, hook);
    let p = pipe(&player.endpoint());
    let out = p.run();
    out.assert_code(1);
    let last = last_line(&out);
    assert!(
        last.starts_with("✖ service web is deployed (web:4), but rule nightly-report on bus default, rule on-upload on bus ops still run web:3: events:PutTargets was refused because the role may not iam:PassRole"),
        "{}",
        out.describe()
    );
    out.assert_contains(&format!("allow iam:PassRole on {EVENTS_ROLE} with the condition iam:PassedToService = events.amazonaws.com"));
    // The schedules were not held back by the rules' role.
    out.assert_contains("moved schedule monthly-close in group batch: web:3 → web:4");
    let (rules_after, _) = snapshot(&moto);
    assert_eq!(rules_after, before.0);
    assert_eq!(
        moto.get_schedule("batch", "monthly-close")["Target"]["EcsParameters"]["TaskDefinitionArn"],
        json!(web(4))
    );
    let json = p.deployment_json();
    assert_eq!(json["services"][0]["verdict"], json!("succeeded"));
    let failed: Vec<&str> = json["scheduledTasks"]
        .as_array()
        .expect("scheduledTasks")
        .iter()
        .filter(|t| t["verdict"] == "failed")
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(failed, vec!["nightly-report", "on-upload"]);
}

#[test]
fn a_lost_put_targets_answer_is_read_back_and_counts_when_the_target_moved() {
    let moto = world();
    let hook: ProxyHook = Arc::new(|ctx: &ProxyCtx, req: &Req| {
        (req.target().as_deref() == Some("PutTargets")).then(|| {
            // The write happens; its answer does not arrive.
            ctx.forward(req);
            Resp::aws_json_error(503, "ServiceUnavailableException", "try again")
        })
    });
    let player = RolloutPlayer::with_hook(moto.endpoint(), 2, hook);
    let out = pipe(&player.endpoint())
        .timeout(std::time::Duration::from_secs(180))
        .run();
    out.assert_success();
    out.assert_contains("moved rule nightly-report on bus default: web:3 → web:4 (the answer was lost; read back, it is moved)");
    assert_eq!(
        moto.targets_of("default", "nightly-report")[0]["EcsParameters"]["TaskDefinitionArn"],
        json!(web(4))
    );
}

/// The first attempt of each write is applied and its answer lost; the SDK's retry then gets a
/// definite 4xx. The 4xx alone would say "not moved"; the watched attempts say it may have
/// been, so the rule and the schedule are read back, and they did move.
#[test]
fn a_lost_first_answer_then_a_4xx_on_the_retry_is_read_back() {
    let moto = world();
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let hook: ProxyHook = Arc::new(move |ctx: &ProxyCtx, req: &Req| {
        // Scheduler is a REST API: UpdateSchedule is a PUT on the schedule's path.
        let key = if req.target().as_deref() == Some("PutTargets") {
            format!(
                "PutTargets:{}",
                req.json()["Rule"].as_str().unwrap_or_default()
            )
        } else if req.method == "PUT" && req.path.starts_with("/schedules/") {
            format!("UpdateSchedule:{}", req.path)
        } else {
            return None;
        };
        let mut seen = seen.lock().expect("lock");
        if seen.contains(&key) {
            return Some(Resp::aws_json_error(
                400,
                "ConcurrentModificationException",
                "Another change is in progress",
            ));
        }
        seen.push(key);
        ctx.forward(req);
        Some(Resp::close())
    });
    let player = RolloutPlayer::with_hook(moto.endpoint(), 2, hook);
    let out = pipe(&player.endpoint())
        .timeout(std::time::Duration::from_secs(180))
        .run();
    out.assert_success();
    out.assert_contains("moved rule nightly-report on bus default: web:3 → web:4 (the answer was lost; read back, it is moved)");
    assert_eq!(
        moto.targets_of("default", "nightly-report")[0]["EcsParameters"]["TaskDefinitionArn"],
        json!(web(4))
    );
    let puts = player
        .requests()
        .iter()
        .filter(|r| r.target().as_deref() == Some("PutTargets"))
        .count();
    assert_eq!(puts, 4, "two rules, each sent twice");
    out.assert_contains("moved schedule monthly-close in group batch: web:3 → web:4 (the answer was lost; read back, it is moved)");
    assert_eq!(
        moto.get_schedule("batch", "monthly-close")["Target"]["EcsParameters"]["TaskDefinitionArn"],
        json!(web(4))
    );
}

#[test]
fn keep_revisions_spares_a_revision_a_rule_or_schedule_still_pins() {
    let moto = world();
    let player = RolloutPlayer::start(moto.endpoint());
    let out = pipe(&player.endpoint()).env("KEEP_REVISIONS", "1").run();
    out.assert_success();
    // web:2 is pinned by nothing and goes; web:1 is pinned by legacy-cleanup and old-sync.
    out.assert_contains("deregistered web:2");
    out.assert_not_contains("deregistered web:1");
    let status = |n: u32| {
        moto.describe_task_definition(&web(n))["taskDefinition"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(status(1), "ACTIVE");
    assert_eq!(status(2), "INACTIVE");
}

/// The adapter against moto, in process: every bus and group is read, the SDK copes with moto's
/// answers (some EventBridge ones come as `text/html`), and what is read goes back unchanged.
#[test]
fn the_adapter_reads_every_bus_and_group_and_writes_back_what_it_read() {
    use ecs_oidc_deploy::aws::Written;
    use ecs_oidc_deploy::aws::eventbridge::EventBridge;
    use ecs_oidc_deploy::aws::scheduler::Scheduler;
    use ecs_oidc_deploy::steps::retarget::{self, Schedulers};

    let moto = world();
    let before = snapshot(&moto);
    let credentials = aws_credential_types::provider::SharedCredentialsProvider::new(
        aws_credential_types::Credentials::new("AKIDTEST", "secret", None, None, "test"),
    );
    let endpoint = moto.endpoint();
    let schedulers = Schedulers {
        events: EventBridge::new(ecs_oidc_deploy::aws::events_client(
            REGION,
            Some(&endpoint),
            credentials.clone(),
        )),
        scheduler: Scheduler::new(ecs_oidc_deploy::aws::scheduler_client(
            REGION,
            Some(&endpoint),
            credentials,
        )),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (rules, schedules) = runtime
        .block_on(retarget::read(&schedulers, CLUSTER))
        .expect("read");
    let mut found: Vec<String> = rules
        .iter()
        .map(|r| format!("{}/{}", r.bus, r.name))
        .chain(schedules.iter().map(|s| format!("{}/{}", s.group, s.name)))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            "batch/monthly-close",
            "default/hourly-sync",
            "default/latest-digest",
            "default/latest-sync",
            "default/legacy-cleanup",
            "default/nightly-report",
            "default/old-sync",
            "default/report-job",
            "default/report-sync",
            "ops/on-upload",
        ]
    );
    // Written back exactly as read, nothing changes.
    for rule in &rules {
        let written = runtime
            .block_on(
                schedulers
                    .events
                    .put_targets(&rule.bus, &rule.name, &rule.targets),
            )
            .expect("PutTargets");
        assert_eq!(written, Written::Answered);
    }
    for schedule in &schedules {
        runtime
            .block_on(schedulers.scheduler.update_schedule(&schedule.read))
            .expect("UpdateSchedule");
    }
    let after = snapshot(&moto);
    assert_eq!(after.0, before.0);
    let comparable = |s: &[Value]| {
        s.iter()
            .cloned()
            .map(comparable_schedule)
            .collect::<Vec<_>>()
    };
    assert_eq!(comparable(&after.1), comparable(&before.1));
}

#[test]
fn the_printed_policy_adds_the_scheduling_actions_and_pass_role_only_when_the_variable_is_on() {
    let print = |on: bool| {
        let mut p = Pipe::new()
            .env("AWS_OIDC_ROLE_ARN", world::ROLE)
            .env("CLUSTER_NAME", "prod")
            .env("SERVICE_NAME", "web")
            .env("IMAGE", &format!("{}/web:v2", world::REGISTRY))
            .env("PRINT_IAM_POLICY", "true");
        if on {
            p = p.env("UPDATE_SCHEDULED_TASKS", "true");
        }
        let out = p.run();
        out.assert_success();
        let policy: Value = serde_json::from_str(&out.stdout).expect("policy JSON");
        policy["permissionPolicy"]["Statement"]
            .as_array()
            .expect("statements")
            .clone()
    };
    let actions = |statements: &[Value]| -> Vec<String> {
        statements
            .iter()
            .flat_map(|s| match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            })
            .collect()
    };
    let off = print(false);
    assert!(
        actions(&off)
            .iter()
            .all(|a| !a.starts_with("events:") && !a.starts_with("scheduler:")),
        "{off:?}"
    );
    let on = print(true);
    let on_actions = actions(&on);
    for action in [
        "events:ListEventBuses",
        "events:ListRuleNamesByTarget",
        "events:ListTargetsByRule",
        "events:PutTargets",
        "scheduler:ListSchedules",
        "scheduler:GetSchedule",
        "scheduler:UpdateSchedule",
    ] {
        assert!(
            on_actions.iter().any(|a| a == action),
            "{action} missing: {on:?}"
        );
    }
    let pass = on
        .iter()
        .find(|s| s["Sid"] == "PassScheduledTaskRoles")
        .expect("PassScheduledTaskRoles");
    assert_eq!(pass["Action"], json!("iam:PassRole"));
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"],
        json!(["events.amazonaws.com", "scheduler.amazonaws.com"])
    );
}

#[test]
fn the_variable_needs_wait_and_a_boolean_and_is_refused_before_any_call() {
    let fake = crate::support::fake::Fake::from_fn(|_| Resp::text(500, "no call expected"));
    let out = Pipe::new()
        .endpoint(&fake.endpoint())
        .env("AWS_OIDC_ROLE_ARN", world::ROLE)
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("IMAGE", &format!("{}/web:v2", world::REGISTRY))
        .env("UPDATE_SCHEDULED_TASKS", "true")
        .env("WAIT", "false")
        .run();
    out.assert_code(2);
    out.assert_contains("UPDATE_SCHEDULED_TASKS needs WAIT: 'true', because scheduled tasks move only after a verified deploy");
    let out = Pipe::new()
        .endpoint(&fake.endpoint())
        .env("AWS_OIDC_ROLE_ARN", world::ROLE)
        .env("CLUSTER_NAME", "prod")
        .env("SERVICE_NAME", "web")
        .env("IMAGE", &format!("{}/web:v2", world::REGISTRY))
        .env("UPDATE_SCHEDULED_TASKS", "yes")
        .run();
    out.assert_code(2);
    out.assert_contains("UPDATE_SCHEDULED_TASKS must be true or false, got \"yes\"");
    assert!(fake.requests().is_empty(), "{:?}", fake.operations());
}
