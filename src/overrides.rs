//! Per-environment settings put into every new revision: `CONTAINER_ENVIRONMENT`,
//! `CONTAINER_SECRETS`, `TASK_CPU`, `TASK_MEMORY`, `TASK_ROLE_ARN` and `EXECUTION_ROLE_ARN`.
//!
//! Pure. `config` checks each value on its own with the `parse_*` and `is_*` functions here,
//! before any AWS call; `plan` calls [`Overrides::apply`] on each new revision (from the live
//! task definition or the file) after the images are set, which also refuses a CPU and
//! memory pair that Fargate does not offer. Only the named entries and fields change:
//! other environment entries, other secrets and other containers stay exactly as they were,
//! and nothing is ever removed.

use serde_json::{Map, Value, json};

use crate::error::{Error, Problem};
use crate::task_def::{ImageChange, TaskDefinition};

/// The settings, validated on their own; all empty by default (nothing changes).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `CONTAINER_ENVIRONMENT`: (name, value), in the order given.
    pub environment: Vec<(String, String)>,
    /// `CONTAINER_SECRETS`: (name, valueFrom), in the order given.
    pub secrets: Vec<(String, String)>,
    /// `TASK_CPU`: CPU units, as the string ECS stores.
    pub cpu: Option<String>,
    /// `TASK_MEMORY`: MiB, as the string ECS stores.
    pub memory: Option<String>,
    /// `TASK_ROLE_ARN`: a role ARN or a bare role name.
    pub task_role: Option<String>,
    /// `EXECUTION_ROLE_ARN`: a role ARN or a bare role name.
    pub execution_role: Option<String>,
}

/// Environment values by name only: they may be sensitive, and `DEBUG` prints the whole
/// configuration (as for the task definition file). Secrets are references and are shown.
impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.environment.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Overrides")
            .field("environment", &names)
            .field("secrets", &self.secrets)
            .field("cpu", &self.cpu)
            .field("memory", &self.memory)
            .field("task_role", &self.task_role)
            .field("execution_role", &self.execution_role)
            .finish()
    }
}

/// The task-level CPU ECS accepts outside Fargate: 128 units (0.125 vCPU) to 192 vCPUs
/// (RegisterTaskDefinition `cpu`).
pub const TASK_CPU_RANGE: std::ops::RangeInclusive<u32> = 128..=196_608;

/// Memory (MiB) that one Fargate CPU size allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FargateMemory {
    /// Exactly these values.
    Listed(&'static [u32]),
    /// `from` to `to` in steps of `step`.
    Range {
        /// The smallest.
        from: u32,
        /// The largest.
        to: u32,
        /// The step.
        step: u32,
    },
}

/// One row of the Fargate size table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FargateSize {
    /// CPU units (1024 = 1 vCPU).
    pub cpu: u32,
    /// The memory this CPU allows.
    pub memory: FargateMemory,
    /// Whether Windows containers may use it (all sizes run Linux).
    pub windows: bool,
}

/// The CPU and memory pairs Fargate offers: AWS's "Task CPU and memory" table, Amazon ECS
/// Developer Guide, <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#task_size>
/// (the same table: <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html>).
/// Checked 2026-12-03.
/// 8192 and 16384 need Linux platform 1.4.0 or later. The only place this table lives.
pub const FARGATE_SIZES: [FargateSize; 7] = [
    FargateSize {
        cpu: 256,
        memory: FargateMemory::Listed(&[512, 1024, 2048]),
        windows: false,
    },
    FargateSize {
        cpu: 512,
        memory: FargateMemory::Range {
            from: 1024,
            to: 4096,
            step: 1024,
        },
        windows: false,
    },
    FargateSize {
        cpu: 1024,
        memory: FargateMemory::Range {
            from: 2048,
            to: 8192,
            step: 1024,
        },
        windows: true,
    },
    FargateSize {
        cpu: 2048,
        memory: FargateMemory::Range {
            from: 4096,
            to: 16_384,
            step: 1024,
        },
        windows: true,
    },
    FargateSize {
        cpu: 4096,
        memory: FargateMemory::Range {
            from: 8192,
            to: 30_720,
            step: 1024,
        },
        windows: true,
    },
    FargateSize {
        cpu: 8192,
        memory: FargateMemory::Range {
            from: 16_384,
            to: 61_440,
            step: 4096,
        },
        windows: false,
    },
    FargateSize {
        cpu: 16_384,
        memory: FargateMemory::Range {
            from: 32_768,
            to: 122_880,
            step: 8192,
        },
        windows: false,
    },
];

impl FargateMemory {
    /// Whether `memory` MiB is one of the values.
    pub fn allows(self, memory: u32) -> bool {
        match self {
            Self::Listed(values) => values.contains(&memory),
            Self::Range { from, to, step } => {
                (from..=to).contains(&memory) && (memory - from).is_multiple_of(step)
            }
        }
    }

    /// `512, 1024 or 2048`, or `4096 to 16384 in steps of 1024`.
    pub fn describe(self) -> String {
        match self {
            Self::Listed(values) => {
                let text: Vec<String> = values.iter().map(u32::to_string).collect();
                match text.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                }
            }
            Self::Range { from, to, step } => format!("{from} to {to} in steps of {step}"),
        }
    }
}

/// The Fargate row of a CPU size, if Fargate offers it.
pub fn fargate_size(cpu: u32) -> Option<FargateSize> {
    FARGATE_SIZES.into_iter().find(|s| s.cpu == cpu)
}

/// Whether Fargate offers `cpu` with `memory` (on Windows when `windows`).
pub fn fargate_allows(cpu: u32, memory: u32, windows: bool) -> bool {
    fargate_size(cpu).is_some_and(|s| s.memory.allows(memory) && (s.windows || !windows))
}

/// A bare IAM role name, as ECS accepts for `taskRoleArn`/`executionRoleArn`:
/// 1-64 characters of letters, digits and `+=,.@_-`.
pub fn is_role_name(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// A secret's `valueFrom`: an SSM parameter or Secrets Manager ARN, or an SSM parameter name
/// (which ECS looks up in the task's region). Returns what is wrong.
pub fn check_value_from(value: &str) -> Result<(), String> {
    if value.starts_with("arn:") {
        return match value.split(':').nth(2) {
            Some("ssm" | "secretsmanager") => Ok(()),
            _ => Err("is an ARN but not of an SSM parameter or a Secrets Manager secret".into()),
        };
    }
    let valid = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    if valid {
        Ok(())
    } else {
        Err("is neither an ARN nor an SSM parameter name (letters, digits and _ . - /)".into())
    }
}

/// Reads a list of `NAME=value` items, split at the first `=`. `value_from` makes it the
/// `CONTAINER_SECRETS` form, whose value may not be empty and must be a secret reference.
/// A bad item is recorded as a problem of `variable` and left out. Values are never echoed,
/// since environment values may be sensitive.
pub fn parse_named_values(
    variable: &str,
    items: &[String],
    value_from: bool,
    problems: &mut Vec<Problem>,
) -> Vec<(String, String)> {
    let example = if value_from {
        "DB_PASSWORD=arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"
    } else {
        "LOG_LEVEL=info"
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some((name, value)) = item.split_once('=') else {
            problems.push(Problem::new(
                variable,
                format!("item {i} has no `=`; write each item as NAME=value, such as {example}"),
            ));
            continue;
        };
        let problem = if name.is_empty() {
            Some(format!(
                "item {i} has no name before the `=`; write it as NAME=value, such as {example}"
            ))
        } else if name.chars().any(char::is_whitespace) {
            Some(format!("item {i} has a name with spaces ({name:?})"))
        } else if pairs.iter().any(|(n, _)| n == name) {
            Some(format!("names {name} twice; give each name once"))
        } else if value_from && value.is_empty() {
            Some(format!(
                "gives {name} no valueFrom after the `=`; such as {example}"
            ))
        } else if value_from {
            check_value_from(value)
                .err()
                .map(|why| format!("gives {name} a valueFrom that {why}, got {value:?}"))
        } else {
            None
        };
        match problem {
            Some(message) => problems.push(Problem::new(variable, message)),
            None => pairs.push((name.to_string(), value.to_string())),
        }
    }
    pairs
}

/// Reads `TASK_CPU` (CPU units) or `TASK_MEMORY` (MiB): a whole number in `range`, stored as
/// ECS stores it. Units such as `1 vCPU` or `2GB` are refused, so one table (the Fargate
/// sizes) can judge the value. `what` says what a valid value is.
pub fn parse_size(
    variable: &str,
    value: &str,
    range: std::ops::RangeInclusive<u32>,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match value.parse::<u32>() {
        Ok(n) if range.contains(&n) => Some(n.to_string()),
        _ => {
            problems.push(Problem::new(
                variable,
                format!("must be {what}, got {value:?}"),
            ));
            None
        }
    }
}

/// What `TASK_CPU` accepts, for its message.
pub const TASK_CPU_WHAT: &str = "whole CPU units from 128 to 196608, such as 512 (1024 is 1 vCPU)";
/// What `TASK_MEMORY` accepts, for its message.
pub const TASK_MEMORY_WHAT: &str = "whole MiB, such as 1024 (1 GB)";

impl Overrides {
    /// True when no setting is given: the revisions stay as they were.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The role ARNs or names given, for `iam:PassRole`.
    pub fn roles(&self) -> Vec<&str> {
        [&self.task_role, &self.execution_role]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// Puts the settings into `td`. `container_name` is `CONTAINER_NAME`; `images` are the
    /// image swaps already made in this revision, which decide the container that gets the
    /// environment and secrets (see [`target_container`]).
    pub fn apply(
        &self,
        td: &mut TaskDefinition,
        container_name: Option<&str>,
        images: &[ImageChange],
    ) -> Result<(), Error> {
        if !self.environment.is_empty() || !self.secrets.is_empty() {
            let variable = if self.environment.is_empty() {
                "CONTAINER_SECRETS"
            } else {
                "CONTAINER_ENVIRONMENT"
            };
            let target = target_container(td, container_name, images, variable)?;
            if let Some(container) = container_mut(td, &target) {
                merge(container, "environment", "value", &self.environment);
                merge(container, "secrets", "valueFrom", &self.secrets);
            }
        }
        for (key, value) in [
            ("cpu", &self.cpu),
            ("memory", &self.memory),
            ("taskRoleArn", &self.task_role),
            ("executionRoleArn", &self.execution_role),
        ] {
            if let Some(value) = value {
                td.body.insert(key.into(), Value::String(value.clone()));
            }
        }
        if self.cpu.is_some() || self.memory.is_some() {
            self.check_fargate(td)?;
        }
        Ok(())
    }

    /// Refuses a CPU and memory pair that Fargate does not offer, when the revision requires
    /// FARGATE; ECS would refuse it at registration, after the deploy had started changing
    /// things.
    fn check_fargate(&self, td: &TaskDefinition) -> Result<(), Error> {
        let requires = |wanted: &str| {
            td.body
                .get("requiresCompatibilities")
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().any(|v| v.as_str() == Some(wanted)))
        };
        if !requires("FARGATE") {
            return Ok(());
        }
        let windows = td
            .body
            .get("runtimePlatform")
            .and_then(|p| p.get("operatingSystemFamily"))
            .and_then(Value::as_str)
            .is_some_and(|f| f.starts_with("WINDOWS"));
        let number = |key: &str| {
            td.body
                .get(key)
                .and_then(Value::as_str)
                .and_then(|v| v.parse::<u32>().ok())
        };
        let (cpu, memory) = (number("cpu"), number("memory"));
        if let (Some(cpu), Some(memory)) = (cpu, memory)
            && fargate_allows(cpu, memory, windows)
        {
            return Ok(());
        }
        Err(Error::Config(vec![
            self.fargate_problem(td, cpu, memory, windows),
        ]))
    }

    /// The problem for a pair Fargate refuses, naming both variables and what the CPU allows.
    fn fargate_problem(
        &self,
        td: &TaskDefinition,
        cpu: Option<u32>,
        memory: Option<u32>,
        windows: bool,
    ) -> Problem {
        let text = |value: Option<u32>| value.map_or_else(|| "(none)".into(), |v| v.to_string());
        // The variable that was given goes first; the other side is named as a variable when
        // given, else as the task definition's own value.
        let (variable, value, other) = match (&self.cpu, &self.memory) {
            (Some(_), Some(_)) => (
                "TASK_CPU",
                text(cpu),
                format!("TASK_MEMORY {}", text(memory)),
            ),
            (Some(_), None) => (
                "TASK_CPU",
                text(cpu),
                format!(
                    "the memory {} of {} (TASK_MEMORY not set)",
                    text(memory),
                    td.source
                ),
            ),
            _ => (
                "TASK_MEMORY",
                text(memory),
                format!("the cpu {} of {} (TASK_CPU not set)", text(cpu), td.source),
            ),
        };
        let platform = if windows {
            "Fargate on Windows"
        } else {
            "Fargate"
        };
        let allowed = match cpu.and_then(fargate_size) {
            Some(size) if size.windows || !windows => format!(
                "with cpu {} {platform} allows TASK_MEMORY {}",
                size.cpu,
                size.memory.describe()
            ),
            _ => {
                let sizes: Vec<String> = FARGATE_SIZES
                    .iter()
                    .filter(|s| s.windows || !windows)
                    .map(|s| s.cpu.to_string())
                    .collect();
                format!("{platform} offers TASK_CPU {}", sizes.join(", "))
            }
        };
        Problem::new(
            variable,
            format!(
                "{value} with {other} is not a size {platform} offers ({} has FARGATE in requiresCompatibilities); {allowed}",
                td.source
            ),
        )
    }
}

/// The container that gets `CONTAINER_ENVIRONMENT` and `CONTAINER_SECRETS` in a revision:
/// `CONTAINER_NAME`; else the one container that got an image in it (`CONTAINER_IMAGES`);
/// else the only container. Several candidates are refused rather than guessed.
pub fn target_container(
    td: &TaskDefinition,
    container_name: Option<&str>,
    images: &[ImageChange],
    variable: &str,
) -> Result<String, Error> {
    if let Some(name) = container_name {
        return td.target_container(Some(name));
    }
    match images {
        [one] => return Ok(one.container.clone()),
        [] => {}
        several => {
            let names: Vec<&str> = several.iter().map(|c| c.container.as_str()).collect();
            return Err(Error::Config(vec![Problem::new(
                variable,
                format!(
                    "goes to one container, but CONTAINER_IMAGES changes {} in {}; deploy with IMAGE and CONTAINER_NAME, or put per-container values into a TASK_DEFINITION file with ${{NAME}} placeholders and TASK_DEFINITION_TEMPLATE: 'true'",
                    names.join(" and "),
                    td.source
                ),
            )]));
        }
    }
    let names = td.container_names();
    match names.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(Error::Config(vec![Problem::new(
            variable,
            format!(
                "goes to one container, and {} has {}: set CONTAINER_NAME to one of {}",
                td.source,
                names.len(),
                names.join(", ")
            ),
        )])),
    }
}

fn container_mut<'a>(td: &'a mut TaskDefinition, name: &str) -> Option<&'a mut Map<String, Value>> {
    td.body
        .get_mut("containerDefinitions")?
        .as_array_mut()?
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

/// Sets each (name, value) in the container's `list` (`environment` or `secrets`): every entry
/// of that name gets the new `field` in place; a name not there is appended. Nothing else in
/// the list changes.
pub fn merge(
    container: &mut Map<String, Value>,
    list: &str,
    field: &str,
    pairs: &[(String, String)],
) {
    if pairs.is_empty() {
        return;
    }
    let entries = container
        .entry(list)
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entries.is_array() {
        *entries = Value::Array(Vec::new());
    }
    let Value::Array(entries) = entries else {
        return;
    };
    for (name, value) in pairs {
        let mut found = false;
        for entry in entries
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .filter(|e| e.get("name").and_then(Value::as_str) == Some(name))
        {
            entry.insert(field.into(), Value::String(value.clone()));
            found = true;
        }
        if !found {
            entries.push(json!({"name": name, field: value}));
        }
    }
}

/// A role as the deploying role must be allowed to pass it: a bare name becomes the role ARN
/// in `account` (ECS fills in the account the same way).
pub fn role_arn(role: &str, partition: &str, account: &str) -> String {
    if role.starts_with("arn:") {
        role.to_string()
    } else {
        format!("arn:{partition}:iam::{account}:role/{role}")
    }
}
