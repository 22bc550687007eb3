//! `UPDATE_SCHEDULED_TASKS` without a network: which rule targets and schedules move, which are
//! left alone and why, and that an UpdateSchedule request carries every field GetSchedule gave.

use aws_sdk_eventbridge::types as events;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::types as sched;
use aws_smithy_types::DateTime;
use ecs_oidc_deploy::aws::eventbridge::Rule;
use ecs_oidc_deploy::aws::scheduler::{Schedule, update_request};
use ecs_oidc_deploy::rules::scheduled::{
    Kind, Revisions, family_and_revision, pinned, planned_revision, select,
};

const CLUSTER: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod";
const OTHER_CLUSTER: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/staging";

fn td(name: &str) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{name}")
}

fn deployed() -> Vec<Revisions> {
    vec![Revisions {
        old: td("web:2"),
        new: td("web:3"),
    }]
}

fn ecs_target(id: &str, cluster: &str, task_definition: &str) -> events::Target {
    events::Target::builder()
        .id(id)
        .arn(cluster)
        .role_arn("arn:aws:iam::123456789012:role/ecsEventsRole")
        .input(r#"{"containerOverrides":[]}"#)
        .ecs_parameters(
            events::EcsParameters::builder()
                .task_definition_arn(task_definition)
                .task_count(2)
                .launch_type(events::LaunchType::Fargate)
                .platform_version("1.4.0")
                .enable_ecs_managed_tags(true)
                .network_configuration(
                    events::NetworkConfiguration::builder()
                        .awsvpc_configuration(
                            events::AwsVpcConfiguration::builder()
                                .subnets("subnet-1")
                                .security_groups("sg-1")
                                .assign_public_ip(events::AssignPublicIp::Disabled)
                                .build()
                                .expect("awsvpc"),
                        )
                        .build(),
                )
                .build()
                .expect("ecs parameters"),
        )
        .retry_policy(
            events::RetryPolicy::builder()
                .maximum_retry_attempts(3)
                .build(),
        )
        .dead_letter_config(
            events::DeadLetterConfig::builder()
                .arn("arn:aws:sqs:eu-west-1:123456789012:dlq")
                .build(),
        )
        .build()
        .expect("target")
}

fn sqs_target() -> events::Target {
    events::Target::builder()
        .id("notify")
        .arn("arn:aws:sqs:eu-west-1:123456789012:jobs")
        .build()
        .expect("target")
}

fn rule(bus: &str, name: &str, targets: Vec<events::Target>) -> Rule {
    Rule {
        bus: bus.into(),
        name: name.into(),
        targets,
    }
}

fn schedule(group: &str, name: &str, cluster: &str, task_definition: &str) -> Schedule {
    let target = sched::Target::builder()
        .arn(cluster)
        .role_arn("arn:aws:iam::123456789012:role/schedulerRole")
        .input("{}")
        .ecs_parameters(
            sched::EcsParameters::builder()
                .task_definition_arn(task_definition)
                .task_count(1)
                .build()
                .expect("ecs parameters"),
        )
        .retry_policy(
            sched::RetryPolicy::builder()
                .maximum_retry_attempts(5)
                .maximum_event_age_in_seconds(3600)
                .build(),
        )
        .dead_letter_config(
            sched::DeadLetterConfig::builder()
                .arn("arn:aws:sqs:eu-west-1:123456789012:dlq")
                .build(),
        )
        .build()
        .expect("target");
    let read = GetScheduleOutput::builder()
        .arn(format!(
            "arn:aws:scheduler:eu-west-1:123456789012:schedule/{group}/{name}"
        ))
        .group_name(group)
        .name(name)
        .schedule_expression("cron(0 3 * * ? *)")
        .schedule_expression_timezone("Europe/Dublin")
        .start_date(DateTime::from_secs(4_000_000_000))
        .end_date(DateTime::from_secs(4_100_000_000))
        .description("monthly close")
        .state(sched::ScheduleState::Disabled)
        .kms_key_arn("arn:aws:kms:eu-west-1:123456789012:key/abc")
        .creation_date(DateTime::from_secs(1_700_000_000))
        .last_modification_date(DateTime::from_secs(1_700_000_100))
        .target(target)
        .flexible_time_window(
            sched::FlexibleTimeWindow::builder()
                .mode(sched::FlexibleTimeWindowMode::Flexible)
                .maximum_window_in_minutes(15)
                .build()
                .expect("window"),
        )
        .action_after_completion(sched::ActionAfterCompletion::None)
        .build();
    Schedule {
        group: group.into(),
        name: name.into(),
        read,
    }
}

#[test]
fn only_targets_of_this_cluster_pinned_to_the_old_revision_move_and_nothing_else_changes() {
    let rules = vec![
        rule(
            "default",
            "nightly",
            vec![ecs_target("report", CLUSTER, &td("web:2")), sqs_target()],
        ),
        rule(
            "ops",
            "mixed",
            vec![
                ecs_target("a", CLUSTER, &td("web:2")),
                ecs_target("b", CLUSTER, &td("web:1")),
                ecs_target("c", CLUSTER, &td("web")),
                ecs_target("d", CLUSTER, &td("report:7")),
                ecs_target("e", OTHER_CLUSTER, &td("web:2")),
            ],
        ),
    ];
    let schedules = vec![
        schedule("batch", "close", CLUSTER, &td("web:2")),
        schedule("default", "old", CLUSTER, &td("web:1")),
        schedule("default", "latest", CLUSTER, &td("web")),
        schedule("default", "report", CLUSTER, &td("report:7")),
        schedule("default", "staging", OTHER_CLUSTER, &td("web:2")),
        schedule("default", "done", CLUSTER, &td("web:3")),
    ];
    let s = select(CLUSTER, &deployed(), &rules, &schedules);

    // Rules: only the ECS targets on the old revision, each exactly as read but for the ARN.
    assert_eq!(s.rules.len(), 2, "{s:#?}");
    assert_eq!(
        (s.rules[0].bus.as_str(), s.rules[0].rule.as_str()),
        ("default", "nightly")
    );
    let mut expected = ecs_target("report", CLUSTER, &td("web:2"));
    expected
        .ecs_parameters
        .as_mut()
        .expect("ecs")
        .task_definition_arn = td("web:3");
    assert_eq!(s.rules[0].targets, vec![expected]);
    assert_eq!(
        s.rules[0].line(),
        "rule nightly on bus default: web:2 → web:3"
    );
    let ids: Vec<&str> = s.rules[1].targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec!["a"]);

    // Schedules: every field kept, only the revision changed.
    assert_eq!(s.schedules.len(), 1);
    let mut expected = schedule("batch", "close", CLUSTER, &td("web:2")).read;
    expected
        .target
        .as_mut()
        .and_then(|t| t.ecs_parameters.as_mut())
        .expect("ecs")
        .task_definition_arn = td("web:3");
    assert_eq!(s.schedules[0].schedule, expected);
    assert_eq!(
        s.schedules[0].line(),
        "schedule close in group batch: web:2 → web:3"
    );

    // Left alone with a reason: another revision, the family ARN. Other families, other
    // clusters and targets already on the new revision are not mentioned.
    let left: Vec<(Kind, &str, Option<&str>, &str)> = s
        .left_alone
        .iter()
        .map(|l| {
            (
                l.kind,
                l.name.as_str(),
                l.target_id.as_deref(),
                l.pinned.as_str(),
            )
        })
        .collect();
    assert_eq!(
        left,
        vec![
            (Kind::Rule, "mixed", Some("b"), td("web:1").as_str()),
            (Kind::Rule, "mixed", Some("c"), td("web").as_str()),
            (Kind::Schedule, "old", None, td("web:1").as_str()),
            (Kind::Schedule, "latest", None, td("web").as_str()),
        ]
    );
    assert_eq!(
        s.left_alone[0].line(),
        "left alone: rule mixed on bus ops (target b) pinned to web:1, not to web:2 (the revision the service ran before this deploy)"
    );
    assert_eq!(
        s.left_alone[3].line(),
        "left alone: schedule latest in group default uses the family without a revision, so it already runs the latest ACTIVE revision"
    );
}

#[test]
fn nothing_moves_when_the_service_kept_its_revision() {
    let same = vec![Revisions {
        old: td("web:2"),
        new: td("web:2"),
    }];
    let rules = vec![rule(
        "default",
        "nightly",
        vec![ecs_target("report", CLUSTER, &td("web:2"))],
    )];
    let s = select(CLUSTER, &same, &rules, &[] as &[Schedule]);
    assert!(
        s.rules.is_empty() && s.schedules.is_empty() && s.left_alone.is_empty(),
        "{s:#?}"
    );
}

#[test]
fn several_services_each_move_their_own_scheduled_tasks() {
    let deployed = vec![
        Revisions {
            old: td("web:2"),
            new: td("web:3"),
        },
        Revisions {
            old: td("worker:8"),
            new: td("worker:9"),
        },
    ];
    let rules = vec![rule(
        "default",
        "both",
        vec![
            ecs_target("w", CLUSTER, &td("web:2")),
            ecs_target("k", CLUSTER, &td("worker:8")),
            ecs_target("old", CLUSTER, &td("worker:7")),
        ],
    )];
    let s = select(CLUSTER, &deployed, &rules, &[] as &[Schedule]);
    let moves: Vec<String> = s.rules.iter().map(|m| m.line()).collect();
    assert_eq!(
        moves,
        vec![
            "rule both on bus default: web:2 → web:3",
            "rule both on bus default: worker:8 → worker:9"
        ]
    );
    assert_eq!(s.left_alone.len(), 1);
    assert!(s.left_alone[0].reason.contains("not to worker:8"), "{s:#?}");
}

#[test]
fn pinned_revisions_are_those_of_this_cluster_with_a_revision() {
    let rules = vec![rule(
        "default",
        "r",
        vec![
            ecs_target("a", CLUSTER, &td("web:1")),
            ecs_target("b", CLUSTER, &td("web")),
            ecs_target("c", OTHER_CLUSTER, &td("web:5")),
            sqs_target(),
        ],
    )];
    let schedules = vec![schedule("g", "s", CLUSTER, &td("report:4"))];
    let pins: Vec<String> = pinned(CLUSTER, &rules, &schedules).into_iter().collect();
    assert_eq!(pins, vec![td("report:4"), td("web:1")]);
    assert_eq!(family_and_revision(&td("web:12")), ("web", Some("12")));
    assert_eq!(family_and_revision(&td("web")), ("web", None));
    assert_eq!(planned_revision(&td("web:12"), "web"), td("web:<new>"));
}

#[test]
fn an_update_schedule_request_carries_every_field_get_schedule_returned() {
    let read = schedule("batch", "close", CLUSTER, &td("web:3")).read;
    let config = aws_sdk_scheduler::Config::builder()
        .behavior_version(aws_sdk_scheduler::config::BehaviorVersion::latest())
        .region(aws_sdk_scheduler::config::Region::new("eu-west-1"))
        .build();
    let client = aws_sdk_scheduler::Client::from_conf(config);
    let sent = update_request(&client, &read)
        .as_input()
        .clone()
        .build()
        .expect("input");
    // Every field UpdateSchedule takes, each as read (the idempotency token is the SDK's).
    assert_eq!(sent.name(), read.name());
    assert_eq!(sent.group_name(), read.group_name());
    assert_eq!(sent.schedule_expression(), read.schedule_expression());
    assert_eq!(sent.start_date(), read.start_date());
    assert_eq!(sent.end_date(), read.end_date());
    assert_eq!(sent.description(), read.description());
    assert_eq!(
        sent.schedule_expression_timezone(),
        read.schedule_expression_timezone()
    );
    assert_eq!(sent.state(), Some(&sched::ScheduleState::Disabled));
    assert_eq!(sent.kms_key_arn(), read.kms_key_arn());
    assert_eq!(sent.target(), read.target());
    assert_eq!(sent.flexible_time_window(), read.flexible_time_window());
    assert_eq!(
        sent.action_after_completion(),
        read.action_after_completion()
    );
    assert_eq!(sent.client_token(), None);
    // A field the SDK adds to both later must be copied too: every top-level field of the read
    // schedule (but the ARN and the dates UpdateSchedule does not take) is set in the request.
    let read_fields = top_level_fields(&format!("{read:?}"));
    let sent_fields = top_level_fields(&format!("{sent:?}"));
    for (name, value) in &read_fields {
        if [
            "arn",
            "creation_date",
            "last_modification_date",
            "_request_id",
        ]
        .contains(&name.as_str())
        {
            continue;
        }
        let sent = sent_fields.iter().find(|(n, _)| n == name);
        assert_eq!(
            sent.map(|(_, v)| v),
            Some(value),
            "UpdateSchedule does not carry {name}"
        );
    }
}

/// The top-level `name: value` pairs of a struct's derived `Debug` text.
fn top_level_fields(debug: &str) -> Vec<(String, String)> {
    let Some(open) = debug.find('{') else {
        return Vec::new();
    };
    let body = &debug[open + 1..debug.len().saturating_sub(1)];
    let mut fields = Vec::new();
    let (mut depth, mut start, mut in_string) = (0i32, 0usize, false);
    let mut push = |part: &str| {
        if let Some((name, value)) = part.split_once(": ") {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    };
    for (i, c) in body.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '{' | '(' | '[' if !in_string => depth += 1,
            '}' | ')' | ']' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(&body[start..]);
    fields
}
