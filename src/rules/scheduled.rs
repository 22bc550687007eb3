//! `UPDATE_SCHEDULED_TASKS`, the decision: which EventBridge rule targets and EventBridge
//! Scheduler schedules follow the deploy to the new revision, and which are left alone and why.
//! Pure: the caller reads the rules and schedules (see `eventbridge.rs`) and writes the moves.
//!
//! A target moves when it runs on this cluster and pins exactly the revision a deployed service
//! ran before this run. It moves as it was read, with only `TaskDefinitionArn` changed: PutTargets
//! and UpdateSchedule both replace the whole thing, so anything not sent back would be lost.

use std::collections::BTreeSet;

pub use crate::model::scheduled::{PinnedTarget, Rule, Schedule};

/// A deployed service's revisions: the exact one it ran before this run, and the one it runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revisions {
    /// Task-definition ARN before this run.
    pub old: String,
    /// Task-definition ARN now.
    pub new: String,
}

/// The targets of one rule that move from `old` to `new`: each exactly as read, except its
/// `EcsParameters.TaskDefinitionArn`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMove<T> {
    /// The event bus.
    pub bus: String,
    /// The rule.
    pub rule: String,
    /// The revision the targets pinned.
    pub old: String,
    /// The revision they pin after the move.
    pub new: String,
    /// The targets to send back with PutTargets (only the moved ones; the rule's others stay).
    pub targets: Vec<T>,
}

/// A schedule that moves from `old` to `new`: every field as read, except the target's
/// `EcsParameters.TaskDefinitionArn`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleMove<S> {
    /// The schedule group.
    pub group: String,
    /// The schedule.
    pub name: String,
    /// The revision it pinned.
    pub old: String,
    /// The revision it pins after the move.
    pub new: String,
    /// The schedule as read, with the new revision: what UpdateSchedule sends.
    pub schedule: S,
}

/// Whether a left-alone target belongs to a rule or a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An EventBridge rule's target.
    Rule,
    /// A Scheduler schedule.
    Schedule,
}

/// A target of this cluster that uses a deployed family but is not moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftAlone {
    /// Rule or schedule.
    pub kind: Kind,
    /// The bus (rules) or group (schedules).
    pub place: String,
    /// The rule or schedule's name.
    pub name: String,
    /// The target's id (rules only).
    pub target_id: Option<String>,
    /// What the target pins, as written.
    pub pinned: String,
    /// Why it stays, in words.
    pub reason: String,
}

/// What [`select`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection<T, S> {
    /// Rule targets to move, one entry per rule and old revision.
    pub rules: Vec<RuleMove<T>>,
    /// Schedules to move.
    pub schedules: Vec<ScheduleMove<S>>,
    /// Targets of this cluster and a deployed family that stay as they are.
    pub left_alone: Vec<LeftAlone>,
}

impl<T, S> Default for Selection<T, S> {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            schedules: Vec::new(),
            left_alone: Vec::new(),
        }
    }
}

/// The family and revision of a task-definition ARN (`…:task-definition/web:42` → `("web",
/// Some("42"))`; a family ARN `…:task-definition/web` → `("web", None)`).
pub fn family_and_revision(arn: &str) -> (&str, Option<&str>) {
    let name = arn.rsplit_once("task-definition/").map_or(arn, |(_, n)| n);
    match name.rsplit_once(':') {
        Some((family, revision)) => (family, Some(revision)),
        None => (name, None),
    }
}

/// For a dry run, where the new revision has no number yet: the ARN of revision `<new>` of
/// `family`, next to `old` (`…:task-definition/web:<new>`).
pub fn planned_revision(old: &str, family: &str) -> String {
    let prefix = old.rsplit_once("task-definition/").map_or("", |(p, _)| p);
    format!("{prefix}task-definition/{family}:<new>")
}

/// `web:42` for a task-definition ARN.
pub fn short_revision(arn: &str) -> &str {
    arn.rsplit_once("task-definition/").map_or(arn, |(_, n)| n)
}

/// What to do with one ECS target that runs on this cluster.
enum Decision<'a> {
    Move(&'a Revisions),
    Leave(String),
    /// Another family, or already what the deploy asked for: not ours to mention.
    Ignore,
}

fn decide<'a>(pinned: &str, deployed: &'a [Revisions]) -> Decision<'a> {
    if let Some(r) = deployed.iter().find(|r| r.old == pinned && r.old != r.new) {
        return Decision::Move(r);
    }
    let (family, revision) = family_and_revision(pinned);
    let ours = deployed
        .iter()
        .find(|r| family_and_revision(&r.new).0 == family);
    match (ours, revision) {
        (None, _) => Decision::Ignore,
        (Some(r), _) if r.new == pinned => Decision::Ignore,
        (Some(_), None) => Decision::Leave(
            "uses the family without a revision, so it already runs the latest ACTIVE revision"
                .into(),
        ),
        (Some(r), Some(_)) => Decision::Leave(format!(
            "pinned to {}, not to {} (the revision the service ran before this deploy)",
            short_revision(pinned),
            short_revision(&r.old)
        )),
    }
}

/// Decides, for every rule and schedule read, what moves. `cluster_arn` is the cluster the
/// services run in; targets of other clusters are neither moved nor mentioned, nor are targets
/// of families no deployed service uses.
pub fn select<T: PinnedTarget, S: PinnedTarget>(
    cluster_arn: &str,
    deployed: &[Revisions],
    rules: &[Rule<T>],
    schedules: &[Schedule<S>],
) -> Selection<T, S> {
    let mut selection = Selection::default();
    for rule in rules {
        select_rule(cluster_arn, deployed, rule, &mut selection);
    }
    for schedule in schedules {
        select_schedule(cluster_arn, deployed, schedule, &mut selection);
    }
    selection
}

/// One rule's ECS targets on the cluster: one [`RuleMove`] per old revision they pin.
fn select_rule<T: PinnedTarget, S>(
    cluster_arn: &str,
    deployed: &[Revisions],
    rule: &Rule<T>,
    selection: &mut Selection<T, S>,
) {
    let mut moves: Vec<RuleMove<T>> = Vec::new();
    for target in &rule.targets {
        let Some(pinned) = target.task_definition() else {
            continue;
        };
        if target.arn() != cluster_arn {
            continue;
        }
        match decide(pinned, deployed) {
            Decision::Move(r) => {
                let mut moved = target.clone();
                moved.set_task_definition(&r.new);
                match moves.iter_mut().find(|m| m.old == r.old) {
                    Some(m) => m.targets.push(moved),
                    None => moves.push(RuleMove {
                        bus: rule.bus.clone(),
                        rule: rule.name.clone(),
                        old: r.old.clone(),
                        new: r.new.clone(),
                        targets: vec![moved],
                    }),
                }
            }
            Decision::Leave(reason) => selection.left_alone.push(LeftAlone {
                kind: Kind::Rule,
                place: rule.bus.clone(),
                name: rule.name.clone(),
                target_id: target.id().map(str::to_string),
                pinned: pinned.to_string(),
                reason,
            }),
            Decision::Ignore => {}
        }
    }
    selection.rules.extend(moves);
}

/// One schedule, if its target is an ECS task on the cluster.
fn select_schedule<T, S: PinnedTarget>(
    cluster_arn: &str,
    deployed: &[Revisions],
    schedule: &Schedule<S>,
    selection: &mut Selection<T, S>,
) {
    let Some(pinned) = schedule.read.task_definition() else {
        return;
    };
    if schedule.read.arn() != cluster_arn {
        return;
    }
    match decide(pinned, deployed) {
        Decision::Move(r) => {
            let mut moved = schedule.read.clone();
            moved.set_task_definition(&r.new);
            selection.schedules.push(ScheduleMove {
                group: schedule.group.clone(),
                name: schedule.name.clone(),
                old: r.old.clone(),
                new: r.new.clone(),
                schedule: moved,
            });
        }
        Decision::Leave(reason) => selection.left_alone.push(LeftAlone {
            kind: Kind::Schedule,
            place: schedule.group.clone(),
            name: schedule.name.clone(),
            target_id: None,
            pinned: pinned.to_string(),
            reason,
        }),
        Decision::Ignore => {}
    }
}

/// Every revision a rule or schedule of the cluster pinned when read; `KEEP_REVISIONS` must
/// not deregister any of them. Family ARNs without a revision pin nothing. (A target that was
/// moved pinned the old revision, which clean-up keeps anyway, as it keeps the new one.)
pub fn pinned<T: PinnedTarget, S: PinnedTarget>(
    cluster_arn: &str,
    rules: &[Rule<T>],
    schedules: &[Schedule<S>],
) -> BTreeSet<String> {
    let rule_pins = rules.iter().flat_map(|r| r.targets.iter()).filter_map(|t| {
        (t.arn() == cluster_arn)
            .then(|| t.task_definition())
            .flatten()
    });
    let schedule_pins = schedules.iter().filter_map(|s| {
        (s.read.arn() == cluster_arn)
            .then(|| s.read.task_definition())
            .flatten()
    });
    rule_pins
        .chain(schedule_pins)
        .filter(|arn| family_and_revision(arn).1.is_some())
        .map(str::to_string)
        .collect()
}

impl<T> RuleMove<T> {
    /// `rule nightly-report on bus default: web:41 → web:42`
    pub fn line(&self) -> String {
        format!(
            "rule {} on bus {}: {} → {}",
            self.rule,
            self.bus,
            short_revision(&self.old),
            short_revision(&self.new)
        )
    }
}

impl<S> ScheduleMove<S> {
    /// `schedule hourly-sync in group default: web:41 → web:42`
    pub fn line(&self) -> String {
        format!(
            "schedule {} in group {}: {} → {}",
            self.name,
            self.group,
            short_revision(&self.old),
            short_revision(&self.new)
        )
    }
}

impl LeftAlone {
    /// `left alone: rule cleanup on bus default (target t1) is pinned to web:40, …`
    pub fn line(&self) -> String {
        let what = match (self.kind, &self.target_id) {
            (Kind::Rule, Some(id)) => {
                format!("rule {} on bus {} (target {id})", self.name, self.place)
            }
            (Kind::Rule, None) => format!("rule {} on bus {}", self.name, self.place),
            (Kind::Schedule, _) => format!("schedule {} in group {}", self.name, self.place),
        };
        format!("left alone: {what} {}", self.reason)
    }
}
