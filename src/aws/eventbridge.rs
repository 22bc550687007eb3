//! The EventBridge adapter (rules and their targets): the only code that names its operations.
//! Used only with `UPDATE_SCHEDULED_TASKS`; the client is built only then. Schedules are
//! EventBridge Scheduler's, a service of its own: [`crate::aws::scheduler`].
//!
//! Targets go back exactly as the SDK read them: the SDK's `Target` of ListTargetsByRule is the
//! one PutTargets takes, so passing them back whole keeps every field the API defines.

use aws_sdk_eventbridge::types::Target as RuleTarget;

use crate::aws::{WriteAttempts, Written};
use crate::error::AwsError;
use crate::model::scheduled::{self, PinnedTarget};

/// A rule's target, whole, as ListTargetsByRule gave it (the steps name it through this alias).
pub type Target = RuleTarget;
/// A rule, with its targets as the SDK gives them.
pub type Rule = scheduled::Rule<RuleTarget>;

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

/// The most targets one PutTargets call may carry (an EventBridge limit).
pub const PUT_TARGETS_MAX: usize = 10;

/// Thin wrapper over the EventBridge client.
#[derive(Debug, Clone)]
pub struct EventBridge {
    events: aws_sdk_eventbridge::Client,
}

impl EventBridge {
    /// Wraps the client.
    pub fn new(events: aws_sdk_eventbridge::Client) -> Self {
        Self { events }
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
}
