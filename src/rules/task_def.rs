//! The new revision: the current task definition with one image changed, nothing else.
//!
//! Pure code. The task definition stays `serde_json` from the describe response (or the
//! file) to the register request, because the SDK's typed structs drop fields they do not
//! know, and ECS adds task-definition fields several times a year. Only the describe-only
//! keys are removed; empty strings, nulls inside objects, unknown fields and tags all
//! reach the new revision as they were.

use serde_json::{Map, Value};

use crate::error::Error;

/// Keys that DescribeTaskDefinition returns and RegisterTaskDefinition rejects.
/// `deleteRequestedAt` comes with a revision in `DELETE_IN_PROGRESS`, which ECS keeps running
/// for the services that still use it, so a deploy may start from one.
pub const DESCRIBE_ONLY_KEYS: [&str; 9] = [
    "compatibilities",
    "taskDefinitionArn",
    "requiresAttributes",
    "revision",
    "status",
    "registeredAt",
    "deregisteredAt",
    "deleteRequestedAt",
    "registeredBy",
];

/// A task definition in register-input shape, with its tags kept apart.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinition {
    /// Every register-input field, exactly as read.
    pub body: Map<String, Value>,
    /// Tags (`[{"key": …, "value": …}]`); re-sent on register when not empty.
    pub tags: Vec<Value>,
    /// Where it came from, for messages: a file path or a revision ARN.
    pub source: String,
}

/// The image swap made in one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChange {
    /// The container's name.
    pub container: String,
    /// Its image before.
    pub old: String,
    /// Its image now.
    pub new: String,
}

impl TaskDefinition {
    /// Accepts a DescribeTaskDefinition response (`{"taskDefinition": {…}, "tags": […]}`), the
    /// bare `taskDefinition` object, or a RegisterTaskDefinition input (`tags` inside).
    pub fn from_json(value: Value, source: &str) -> Result<Self, Error> {
        let invalid = |message: String| Error::TaskDefinition {
            source_name: source.to_string(),
            message,
        };
        let Value::Object(mut top) = value else {
            return Err(invalid("it is not a JSON object".into()));
        };
        let (mut body, outer_tags) = match top.shift_remove("taskDefinition") {
            Some(Value::Object(inner)) => (inner, top.shift_remove("tags")),
            Some(_) => return Err(invalid("\"taskDefinition\" is not an object".into())),
            None => (top, None),
        };
        for key in DESCRIBE_ONLY_KEYS {
            body.shift_remove(key);
        }
        let tags = match outer_tags.or_else(|| body.shift_remove("tags")) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(tags)) => tags,
            Some(_) => {
                return Err(invalid(
                    "\"tags\" is not a list of {\"key\", \"value\"} objects".into(),
                ));
            }
        };
        // RegisterTaskDefinition would refuse these; say so now, naming the field.
        match body.get("family") {
            Some(Value::String(f)) if !f.is_empty() => {}
            _ => return Err(invalid("it has no \"family\"".into())),
        }
        let Some(Value::Array(containers)) = body.get("containerDefinitions") else {
            return Err(invalid("it has no \"containerDefinitions\" list".into()));
        };
        if containers.is_empty() {
            return Err(invalid("\"containerDefinitions\" is empty".into()));
        }
        for (i, c) in containers.iter().enumerate() {
            if !c.get("name").is_some_and(Value::is_string) {
                return Err(invalid(format!(
                    "containerDefinitions[{i}] has no \"name\""
                )));
            }
        }
        Ok(Self {
            body,
            tags,
            source: source.to_string(),
        })
    }

    /// The family, which the new revision shares.
    pub fn family(&self) -> &str {
        self.body
            .get("family")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The container definitions, in definition order.
    pub fn containers(&self) -> &[Value] {
        self.body
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The container names, in definition order.
    pub fn container_names(&self) -> Vec<String> {
        self.containers()
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    /// A container's image.
    pub fn image_of(&self, container: &str) -> Option<&str> {
        self.containers()
            .iter()
            .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
            .and_then(|c| c.get("image"))
            .and_then(Value::as_str)
    }

    /// Chooses the container that gets the image: the named one, or the only one.
    pub fn target_container(&self, wanted: Option<&str>) -> Result<String, Error> {
        let names = self.container_names();
        match wanted {
            Some(name) if names.iter().any(|n| n == name) => Ok(name.to_string()),
            Some(name) => Err(Error::ContainerNotFound {
                wanted: name.to_string(),
                available: names,
                source_name: self.source.clone(),
            }),
            None if names.len() == 1 => Ok(names.into_iter().next().unwrap_or_default()),
            None => Err(Error::ContainerAmbiguous {
                available: names,
                source_name: self.source.clone(),
            }),
        }
    }

    /// Puts `image` into the chosen container and changes nothing else.
    pub fn set_image(&mut self, wanted: Option<&str>, image: &str) -> Result<ImageChange, Error> {
        let container = self.target_container(wanted)?;
        let old = self.image_of(&container).unwrap_or_default().to_string();
        if let Some(Value::Array(containers)) = self.body.get_mut("containerDefinitions") {
            for c in containers.iter_mut() {
                if c.get("name").and_then(Value::as_str) == Some(container.as_str())
                    && let Some(obj) = c.as_object_mut()
                {
                    obj.insert("image".into(), Value::String(image.to_string()));
                }
            }
        }
        Ok(ImageChange {
            container,
            old,
            new: image.to_string(),
        })
    }

    /// The RegisterTaskDefinition request body. `tags` is left out when empty, because
    /// sending it needs `ecs:TagResource`, which a least-privilege role may not have.
    pub fn register_request(&self) -> Value {
        let mut request = self.body.clone();
        if !self.tags.is_empty() {
            request.insert("tags".into(), Value::Array(self.tags.clone()));
        }
        Value::Object(request)
    }

    /// The task role and execution role, which the deploying role must be allowed to pass.
    pub fn role_arns(&self) -> Vec<String> {
        ["taskRoleArn", "executionRoleArn"]
            .iter()
            .filter_map(|k| self.body.get(*k).and_then(Value::as_str))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Where `old` and `new` differ, such as `app: image` or `cpu`: list entries that have names
/// are named (see [`crate::rules::revision_diff`]). Used to show a user exactly what the new revision
/// changes.
pub fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    crate::rules::revision_diff::differences(old, new)
        .into_iter()
        .map(|d| d.label)
        .collect()
}

impl TaskDefinition {
    /// Adds the audit tags (the pipe's own, updated on every deploy) and the user's `TAGS`.
    /// Existing tags are kept; a user tag that would change an existing one is refused, so a
    /// tag someone set by hand is never overwritten silently.
    pub fn apply_tags(
        &mut self,
        audit: &[(String, String)],
        user: &[(String, String)],
    ) -> Result<(), Error> {
        let key_of = |t: &Value| t.get("key").and_then(Value::as_str).map(str::to_string);
        for (key, value) in user {
            if let Some(existing) = self.tags.iter().find(|t| key_of(t).as_deref() == Some(key))
                && existing.get("value").and_then(Value::as_str) != Some(value)
            {
                return Err(Error::TagCollision {
                    key: key.clone(),
                    existing: existing
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    wanted: value.clone(),
                    source_name: self.source.clone(),
                });
            }
        }
        for (key, value) in audit.iter().chain(user) {
            let tag = serde_json::json!({"key": key, "value": value});
            match self
                .tags
                .iter_mut()
                .find(|t| key_of(t).as_deref() == Some(key))
            {
                Some(slot) => *slot = tag,
                None => self.tags.push(tag),
            }
        }
        Ok(())
    }
}

/// The audit tags for a deploy: where the revision came from. Empty values are left out, and
/// characters ECS does not allow in tags (the braces of Bitbucket UUIDs) are dropped.
pub fn audit_tags(context: &crate::context::BitbucketContext) -> Vec<(String, String)> {
    let prefix = crate::config::AUDIT_TAG_PREFIX;
    [
        (
            "repository",
            context
                .repo_full_name
                .as_ref()
                .or(context.repo_slug.as_ref()),
        ),
        ("commit", context.commit.as_ref()),
        ("build-number", context.build_number.as_ref()),
        (
            "deployment-environment",
            context.deployment_environment.as_ref(),
        ),
        ("pipeline-uuid", context.pipeline_uuid.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let clean: String = value?
            .chars()
            .filter(|c| c.is_alphanumeric() || " +-=._:/@".contains(*c))
            .take(256)
            .collect();
        (!clean.is_empty()).then(|| (format!("{prefix}{name}"), clean))
    })
    .collect()
}

/// `place: old → new` for every changed place, for the dry-run diff. Values are shown as JSON;
/// long ones are cut at 200 characters.
pub fn diff_lines(old: &Value, new: &Value) -> Vec<String> {
    let show = |v: Option<&Value>| match v {
        None => "(absent)".to_string(),
        Some(v) => {
            let text = v.to_string();
            if text.chars().count() > 200 {
                format!("{}…", text.chars().take(200).collect::<String>())
            } else {
                text
            }
        }
    };
    crate::rules::revision_diff::differences(old, new)
        .into_iter()
        .map(|d| {
            format!(
                "{}: {} → {}",
                d.label,
                show(d.old.as_ref()),
                show(d.new.as_ref())
            )
        })
        .collect()
}

/// `tag key: old → new` for each tag that is added or changed.
pub fn tag_changes(before: &Value, after: &[Value]) -> Vec<String> {
    let value_of = |tags: &[Value], key: &str| {
        tags.iter()
            .find(|t| t.get("key").and_then(Value::as_str) == Some(key))
            .and_then(|t| t.get("value").and_then(Value::as_str).map(str::to_string))
    };
    let before = before.as_array().map_or(&[][..], Vec::as_slice);
    after
        .iter()
        .filter_map(|t| {
            let key = t.get("key").and_then(Value::as_str)?;
            let new = t.get("value").and_then(Value::as_str).unwrap_or_default();
            match value_of(before, key) {
                Some(old) if old == new => None,
                Some(old) => Some(format!("tag {key}: {old:?} → {new:?}")),
                None => Some(format!("tag {key}: (absent) → {new:?}")),
            }
        })
        .collect()
}

/// Every (`awslogs-region`, `awslogs-group`) the containers log to, once each, in order; the
/// region defaults to `default_region`. For the IAM policy.
pub fn awslogs_groups(containers: &[Value], default_region: &str) -> Vec<(String, String)> {
    let mut groups: Vec<(String, String)> = Vec::new();
    for config in containers.iter().filter_map(|c| c.get("logConfiguration")) {
        if config.get("logDriver").and_then(Value::as_str) != Some("awslogs") {
            continue;
        }
        let option = |name: &str| {
            config
                .get("options")
                .and_then(|o| o.get(name))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        if let Some(group) = option("awslogs-group") {
            let entry = (
                option("awslogs-region")
                    .unwrap_or(default_region)
                    .to_string(),
                group.to_string(),
            );
            if !groups.contains(&entry) {
                groups.push(entry);
            }
        }
    }
    groups
}
