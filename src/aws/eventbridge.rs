//! The EventBridge and EventBridge Scheduler adapter: the only code that names their
//! operations. Used only with `UPDATE_SCHEDULED_TASKS`; the clients are built only then.
//!
//! Targets and schedules go back exactly as the SDK read them: the SDK's `Target` of
//! ListTargetsByRule is the one PutTargets takes, and GetSchedule's fields are the ones
//! UpdateSchedule takes, so passing them back whole keeps every field the API defines.

use aws_sdk_eventbridge::types::Target as RuleTarget;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::operation::update_schedule::builders::UpdateScheduleFluentBuilder;

use crate::aws::WriteAttempts;
use crate::error::AwsError;
use crate::model::scheduled::{self, PinnedTarget};

/// A rule's target, whole, as ListTargetsByRule gave it (the steps name it through this alias).
pub type Target = RuleTarget;
/// A schedule, whole, as GetSchedule gave it.
pub type ScheduleRead = GetScheduleOutput;
/// A rule, with its targets as the SDK gives them.
pub type Rule = scheduled::Rule<RuleTarget>;
/// A schedule, as GetSchedule gave it.
pub type Schedule = scheduled::Schedule<GetScheduleOutput>;

impl PinnedTarget for RuleTarget {
    fn arn(&self) -> &str {
        &self.arn
    }
    fn id(&self) -> Option<&str> {
        Some(&self.id)
    }
    fn task_definition(&self) -> Option<&str> {
        self.ecs_parameters
            .as_ref()
            .map(|p| p.task_definition_arn.as_str())
    }
    fn set_task_definition(&mut self, arn: &str) {
        if let Some(p) = self.ecs_parameters.as_mut() {
            p.task_definition_arn = arn.to_string();
        }
    }
}

impl PinnedTarget for GetScheduleOutput {
    fn arn(&self) -> &str {
        self.target.as_ref().map_or("", |t| t.arn.as_str())
    }
    fn id(&self) -> Option<&str> {
        None
    }
    fn task_definition(&self) -> Option<&str> {
        self.target
            .as_ref()
            .and_then(|t| t.ecs_parameters.as_ref())
            .map(|p| p.task_definition_arn.as_str())
    }
    fn set_task_definition(&mut self, arn: &str) {
        if let Some(p) = self.target.as_mut().and_then(|t| t.ecs_parameters.as_mut()) {
            p.task_definition_arn = arn.to_string();
        }
    }
}

/// The most targets one PutTargets call may carry (an EventBridge limit).
pub const PUT_TARGETS_MAX: usize = 10;

/// How a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// AWS answered that it was done.
    Answered,
    /// The answer was lost (timeout, 5xx, reset), and reading back showed the change made.
    ReadBack,
}

/// Thin wrapper over both clients.
#[derive(Debug, Clone)]
pub struct Schedulers {
    events: aws_sdk_eventbridge::Client,
    scheduler: aws_sdk_scheduler::Client,
}

impl Schedulers {
    /// Wraps the two clients.
    pub fn new(events: aws_sdk_eventbridge::Client, scheduler: aws_sdk_scheduler::Client) -> Self {
        Self { events, scheduler }
    }

    /// ListEventBuses: every bus's name, `default` first as AWS lists it.
    pub async fn event_buses(&self) -> Result<Vec<String>, AwsError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .events
                .list_event_buses()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("events:ListEventBuses", &e))?;
            names.extend(
                out.event_buses
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|b| b.name),
            );
            match out.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(names),
            }
        }
    }

    /// Every rule on `bus` that has `cluster_arn` as a target (ListRuleNamesByTarget), with all
    /// its targets (ListTargetsByRule).
    pub async fn rules_targeting(
        &self,
        bus: &str,
        cluster_arn: &str,
    ) -> Result<Vec<Rule>, AwsError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .events
                .list_rule_names_by_target()
                .target_arn(cluster_arn)
                .event_bus_name(bus)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("events:ListRuleNamesByTarget", &e))?;
            names.extend(out.rule_names.unwrap_or_default());
            match out.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        let mut rules = Vec::with_capacity(names.len());
        for name in names {
            let targets = self.targets(bus, &name).await?;
            rules.push(Rule {
                bus: bus.to_string(),
                name,
                targets,
            });
        }
        Ok(rules)
    }

    /// ListTargetsByRule: every target of one rule.
    pub async fn targets(&self, bus: &str, rule: &str) -> Result<Vec<RuleTarget>, AwsError> {
        let mut targets = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .events
                .list_targets_by_rule()
                .rule(rule)
                .event_bus_name(bus)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("events:ListTargetsByRule", &e))?;
            targets.extend(out.targets.unwrap_or_default());
            match out.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(targets),
            }
        }
    }

    /// PutTargets with `targets` (each whole, as read but for the revision). A partial failure
    /// (`FailedEntries`) is an error. When any attempt's answer is lost (even if the SDK's
    /// retry then got a definite refusal, see [`WriteAttempts`]), the rule's targets are read back
    /// and the write counts as done only if every one of them now is what was sent.
    pub async fn put_targets(
        &self,
        bus: &str,
        rule: &str,
        targets: &[RuleTarget],
    ) -> Result<Written, AwsError> {
        let mut written = Written::Answered;
        for chunk in targets.chunks(PUT_TARGETS_MAX) {
            match self.put_chunk(bus, rule, chunk).await {
                Ok(()) => {}
                Err(err) if err.is_ambiguous() => {
                    let now = self.targets(bus, rule).await.map_err(|_| err.clone())?;
                    if !chunk.iter().all(|sent| now.contains(sent)) {
                        return Err(err);
                    }
                    written = Written::ReadBack;
                }
                Err(err) => return Err(err),
            }
        }
        Ok(written)
    }

    async fn put_chunk(
        &self,
        bus: &str,
        rule: &str,
        targets: &[RuleTarget],
    ) -> Result<(), AwsError> {
        let attempts = WriteAttempts::default();
        let out = self
            .events
            .put_targets()
            .rule(rule)
            .event_bus_name(bus)
            .set_targets(Some(targets.to_vec()))
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_write("events:PutTargets", &e, &attempts))?;
        let failed = out.failed_entries.unwrap_or_default();
        if out.failed_entry_count == 0 && failed.is_empty() {
            return Ok(());
        }
        let mut err = AwsError::plain(
            "events:PutTargets",
            failed
                .iter()
                .map(|f| {
                    format!(
                        "target {}: {}",
                        f.target_id.as_deref().unwrap_or("?"),
                        f.error_message.as_deref().unwrap_or("no message")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        );
        err.code = failed.iter().find_map(|f| f.error_code.clone());
        Err(err)
    }

    /// Every schedule in every group whose target is `cluster_arn` (ListSchedules, which shows
    /// only the target's ARN), each read whole with GetSchedule.
    pub async fn schedules_targeting(&self, cluster_arn: &str) -> Result<Vec<Schedule>, AwsError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .scheduler
                .list_schedules()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("scheduler:ListSchedules", &e))?;
            for summary in out.schedules {
                let on_cluster = summary
                    .target
                    .as_ref()
                    .is_some_and(|t| t.arn == cluster_arn);
                if let (true, Some(name)) = (on_cluster, summary.name) {
                    let group = summary.group_name.unwrap_or_else(|| "default".into());
                    found.push((group, name));
                }
            }
            match out.next_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        let mut schedules = Vec::with_capacity(found.len());
        for (group, name) in found {
            let read = self.schedule(&group, &name).await?;
            schedules.push(Schedule { group, name, read });
        }
        Ok(schedules)
    }

    /// GetSchedule.
    pub async fn schedule(&self, group: &str, name: &str) -> Result<GetScheduleOutput, AwsError> {
        self.scheduler
            .get_schedule()
            .group_name(group)
            .name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("scheduler:GetSchedule", &e))
    }

    /// UpdateSchedule with every field of `schedule` (see [`update_request`]). When any
    /// attempt's answer is lost ([`WriteAttempts`]), the schedule is read back and the write counts as done only if its target now
    /// is what was sent.
    pub async fn update_schedule(&self, schedule: &GetScheduleOutput) -> Result<Written, AwsError> {
        let attempts = WriteAttempts::default();
        let result = update_request(&self.scheduler, schedule)
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Written::Answered),
            Err(e) => AwsError::from_write("scheduler:UpdateSchedule", &e, &attempts),
        };
        if !err.is_ambiguous() {
            return Err(err);
        }
        let group = schedule.group_name.as_deref().unwrap_or("default");
        let name = schedule.name.as_deref().unwrap_or_default();
        let now = self.schedule(group, name).await.map_err(|_| err.clone())?;
        if now.target == schedule.target && now.state == schedule.state {
            Ok(Written::ReadBack)
        } else {
            Err(err)
        }
    }
}

/// The UpdateSchedule call for `schedule`: every field GetSchedule returned that UpdateSchedule
/// takes. UpdateSchedule replaces the whole schedule and treats a missing field as empty (a
/// missing `State` re-enables a DISABLED schedule), so nothing may be left out. Only the ARN
/// and the creation and modification dates, which UpdateSchedule does not take, are not sent.
pub fn update_request(
    client: &aws_sdk_scheduler::Client,
    schedule: &GetScheduleOutput,
) -> UpdateScheduleFluentBuilder {
    let s = schedule.clone();
    client
        .update_schedule()
        .set_name(s.name)
        .set_group_name(s.group_name)
        .set_schedule_expression(s.schedule_expression)
        .set_start_date(s.start_date)
        .set_end_date(s.end_date)
        .set_description(s.description)
        .set_schedule_expression_timezone(s.schedule_expression_timezone)
        .set_state(s.state)
        .set_kms_key_arn(s.kms_key_arn)
        .set_target(s.target)
        .set_flexible_time_window(s.flexible_time_window)
        .set_action_after_completion(s.action_after_completion)
}
