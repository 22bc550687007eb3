//! EventBridge rules and Scheduler schedules that may run tasks of a deployed family, as read:
//! each kept whole, because PutTargets and UpdateSchedule replace the whole thing and anything
//! not sent back would be lost. The rules ([`crate::rules::scheduled`]) see a target only
//! through [`PinnedTarget`]; the adapter (`crate::aws::eventbridge`) implements it for the
//! SDK's types, so the decision never names them.

/// What the decision needs to know of a rule's target or a schedule, and the one change it makes.
pub trait PinnedTarget: Clone {
    /// The target's ARN: the cluster, for an ECS target.
    fn arn(&self) -> &str;
    /// The target's id within its rule (a schedule has one target and no id).
    fn id(&self) -> Option<&str>;
    /// The task definition an ECS target runs, as written (a revision or a family ARN); `None`
    /// for a target that does not run ECS tasks.
    fn task_definition(&self) -> Option<&str>;
    /// Points an ECS target at another task definition; nothing else changes.
    fn set_task_definition(&mut self, arn: &str);
}

/// One EventBridge rule that targets the cluster, with its targets as ListTargetsByRule gave them.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule<T> {
    /// The event bus's name (`default` for the default bus).
    pub bus: String,
    /// The rule's name.
    pub name: String,
    /// Every target of the rule, ECS or not.
    pub targets: Vec<T>,
}

/// One Scheduler schedule, as GetSchedule returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule<S> {
    /// The schedule group's name.
    pub group: String,
    /// The schedule's name.
    pub name: String,
    /// The whole GetSchedule answer.
    pub read: S,
}
