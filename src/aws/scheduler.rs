//! The EventBridge Scheduler adapter (schedules): the only code that names its operations.
//! Used only with `UPDATE_SCHEDULED_TASKS`; the client is built only then.
//!
//! Schedules go back exactly as the SDK read them: GetSchedule's fields are the ones
//! UpdateSchedule takes, so passing them back whole keeps every field the API defines.

use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::operation::update_schedule::builders::UpdateScheduleFluentBuilder;

use crate::aws::{WriteAttempts, Written};
use crate::error::AwsError;
use crate::model::scheduled::{self, PinnedTarget};

/// A schedule, whole, as GetSchedule gave it (the steps name it through this alias).
pub type ScheduleRead = GetScheduleOutput;
/// A schedule, as GetSchedule gave it.
pub type Schedule = scheduled::Schedule<GetScheduleOutput>;

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

/// Thin wrapper over the Scheduler client.
#[derive(Debug, Clone)]
pub struct Scheduler {
    scheduler: aws_sdk_scheduler::Client,
}

impl Scheduler {
    /// Wraps the client.
    pub fn new(scheduler: aws_sdk_scheduler::Client) -> Self {
        Self { scheduler }
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
