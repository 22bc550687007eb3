//! Per-environment settings put into every new revision: `CONTAINER_ENVIRONMENT`,
//! `CONTAINER_SECRETS`, `TASK_CPU`, `TASK_MEMORY`, `TASK_ROLE_ARN` and `EXECUTION_ROLE_ARN`
//! ([`Overrides`], read and checked in [`crate::config::settings`]).
//!
//! Pure. `plan` calls [`Overrides::apply`] on each new revision (from the live task
//! definition or the file) after the images are set, which also refuses a CPU and memory pair
//! that Fargate does not offer. Only the named entries and fields change: other environment
//! entries, other secrets and other containers stay exactly as they were, and nothing is ever
//! removed.

use serde_json::{Map, Value, json};

pub use crate::config::settings::*;
use crate::error::{Error, Problem};
use crate::rules::task_def::{ImageChange, TaskDefinition};

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
