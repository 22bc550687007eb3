//! The change section: what the new revision changes (images, the task definition file with
//! its `${NAME}` placeholders filled, the per-environment settings, tags) and how the service
//! update is made (forced, desired count).

use std::path::{Path, PathBuf};

use super::settings::{self as overrides, Overrides};
use crate::config::template;
use crate::error::Problem;
use crate::model::image::ImageRef;
use crate::vars;

use super::credentials::is_valid_role_arn;
use super::raw::{Raw, parse_pairs};

/// Prefix of the tags the pipe writes itself; it owns and updates them.
pub const AUDIT_TAG_PREFIX: &str = "bitbucket:";

/// A task definition file from the repository, already parsed.
#[derive(Clone)]
pub struct TaskDefinitionFile {
    /// The path as the user wrote it, for messages.
    pub display: String,
    /// The parsed JSON, with its `${NAME}` placeholders filled.
    pub json: serde_json::Value,
    /// The variables its placeholders used, each once (names only: values may be sensitive).
    pub placeholders: Vec<String>,
}

/// Only the path: the file holds environment values, which may be secrets, and `DEBUG`
/// prints the whole configuration.
impl std::fmt::Debug for TaskDefinitionFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskDefinitionFile")
            .field("display", &self.display)
            .field("json", &"(not printed)")
            .finish()
    }
}

/// The change section of [`super::Config`].
#[derive(Debug, Clone)]
pub struct Change {
    /// `IMAGE`.
    pub image: Option<ImageRef>,
    /// `CONTAINER_NAME`.
    pub container: Option<String>,
    /// `CONTAINER_IMAGES`: (container, image) pairs, for several containers in one deploy.
    pub container_images: Vec<(String, ImageRef)>,
    /// `TASK_DEFINITION`, when it names a file.
    pub task_definition_file: Option<TaskDefinitionFile>,
    /// `TASK_DEFINITION`, when it names a registered revision (`family:revision` or its ARN):
    /// deployed as it is, or the source of the new revision when something changes.
    pub promote: Option<String>,
    /// `VERIFY_IMAGE`.
    pub verify_image: bool,
    /// `PREFLIGHT`: check what each new revision needs before the first write.
    pub preflight: bool,
    /// `FORCE_NEW_DEPLOYMENT`.
    pub force_new_deployment: bool,
    /// `DESIRED_COUNT`.
    pub desired_count: Option<i32>,
    /// `TAGS`: user tags for the new revision.
    pub tags: Vec<(String, String)>,
    /// `CONTAINER_ENVIRONMENT`, `CONTAINER_SECRETS`, `TASK_CPU`, `TASK_MEMORY`,
    /// `TASK_ROLE_ARN`, `EXECUTION_ROLE_ARN`: put into every new revision.
    pub overrides: Overrides,
}

/// Reads the change section. The container images are given when the list has items, even bad
/// ones, so that a bad list is not also reported as a missing `IMAGE`. `deploying` is false
/// for `ACTION: continue` and `rollback`, which need no change.
pub fn read(
    raw: &Raw,
    deploying: bool,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> Change {
    let force_new_deployment = raw.boolean(&vars::FORCE_NEW_DEPLOYMENT, problems);
    let image = image(raw, problems);
    let image_given = image.is_some() || problems.iter().any(|p| p.variable == vars::IMAGE.name);
    let (container_images, container_images_given) = container_images(raw, image_given, problems);
    let overrides = read_overrides(raw, problems);
    let overrides_given = !overrides.is_empty()
        || problems
            .iter()
            .any(|p| OVERRIDE_VARIABLES.iter().any(|v| v.name == p.variable));
    let container = raw.text(&vars::CONTAINER_NAME);
    let names_a_container = !overrides.environment.is_empty() || !overrides.secrets.is_empty();
    if container.is_some() && !image_given && !names_a_container {
        problems.push(Problem::new(
            vars::CONTAINER_NAME.name,
            "is set but IMAGE is not; CONTAINER_NAME chooses which container gets IMAGE (and CONTAINER_ENVIRONMENT and CONTAINER_SECRETS)",
        ));
    }
    let clone_dir = raw.bitbucket("BITBUCKET_CLONE_DIR").map(PathBuf::from);
    // A file given but unusable is reported on its own, not also as a missing IMAGE.
    let file_path = raw.text(&vars::TASK_DEFINITION);
    let file_given = file_path.is_some();
    let (promote, file_path): (Option<String>, Option<String>) = match file_path {
        Some(v) if is_registered_revision(&v) => (Some(v), None),
        other => (None, other),
    };
    let templated = templated(raw, file_given, problems);
    let task_definition_file = file_path.and_then(|path| {
        let file = read_task_definition_file(&path, clone_dir.as_deref(), problems)?;
        fill_placeholders(file, templated, raw, problems, warnings)
    });
    if deploying
        && !image_given
        && !file_given
        && !force_new_deployment
        && !container_images_given
        && !overrides_given
    {
        problems.push(Problem::new(
            vars::IMAGE.name,
            "is required: the image to deploy, such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:$BITBUCKET_COMMIT (or CONTAINER_IMAGES for several containers, or TASK_DEFINITION, or FORCE_NEW_DEPLOYMENT: 'true' to restart the current revision)",
        ));
    }
    Change {
        image,
        container,
        container_images,
        task_definition_file,
        promote,
        verify_image: raw.boolean(&vars::VERIFY_IMAGE, problems),
        preflight: raw.boolean(&vars::PREFLIGHT, problems),
        force_new_deployment,
        desired_count: desired_count(raw, problems),
        tags: tags(raw, problems),
        overrides,
    }
}

/// True for a registered revision: `family:revision` (letters, digits, `-` and `_`, then a
/// number) or a task definition ARN ending in `family:revision`. A path to a JSON file never
/// looks like either.
pub fn is_registered_revision(value: &str) -> bool {
    let name = match value.strip_prefix("arn:") {
        Some(rest) => match rest.split_once(":task-definition/") {
            Some((head, name)) if head.contains(":ecs:") => name,
            _ => return false,
        },
        None => value,
    };
    let Some((family, revision)) = name.rsplit_once(':') else {
        return false;
    };
    !family.is_empty()
        && family.len() <= 255
        && family
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !revision.is_empty()
        && revision.chars().all(|c| c.is_ascii_digit())
}

/// The variables of [`Overrides`].
pub const OVERRIDE_VARIABLES: [&vars::Var; 6] = [
    &vars::CONTAINER_ENVIRONMENT,
    &vars::CONTAINER_SECRETS,
    &vars::TASK_CPU,
    &vars::TASK_MEMORY,
    &vars::TASK_ROLE_ARN,
    &vars::EXECUTION_ROLE_ARN,
];

/// The per-environment settings, each checked on its own; the Fargate pair is checked
/// against the task definition when the plan is made ([`Overrides::apply`]).
fn read_overrides(raw: &Raw, problems: &mut Vec<Problem>) -> Overrides {
    let environment = raw.list(&vars::CONTAINER_ENVIRONMENT, problems);
    let secrets = raw.list(&vars::CONTAINER_SECRETS, problems);
    let size = |var: &vars::Var, range, what, problems: &mut Vec<Problem>| {
        let value = raw.text(var)?;
        overrides::parse_size(var.name, &value, range, what, problems)
    };
    Overrides {
        environment: overrides::parse_named_values(
            vars::CONTAINER_ENVIRONMENT.name,
            &environment,
            false,
            problems,
        ),
        secrets: overrides::parse_named_values(
            vars::CONTAINER_SECRETS.name,
            &secrets,
            true,
            problems,
        ),
        cpu: size(
            &vars::TASK_CPU,
            overrides::TASK_CPU_RANGE,
            overrides::TASK_CPU_WHAT,
            problems,
        ),
        memory: size(
            &vars::TASK_MEMORY,
            1..=u32::MAX,
            overrides::TASK_MEMORY_WHAT,
            problems,
        ),
        task_role: role(raw, &vars::TASK_ROLE_ARN, problems),
        execution_role: role(raw, &vars::EXECUTION_ROLE_ARN, problems),
    }
}

/// A role ARN, or a bare role name (ECS fills in the account).
fn role(raw: &Raw, var: &vars::Var, problems: &mut Vec<Problem>) -> Option<String> {
    let value = raw.text(var)?;
    if is_valid_role_arn(&value) || overrides::is_role_name(&value) {
        return Some(value);
    }
    problems.push(Problem::new(
        var.name,
        format!("must be an IAM role ARN such as arn:aws:iam::123456789012:role/web-task, or a role name such as web-task, got {value:?}"),
    ));
    None
}

fn image(raw: &Raw, problems: &mut Vec<Problem>) -> Option<ImageRef> {
    let v = raw.text(&vars::IMAGE)?;
    match ImageRef::parse(&v) {
        Ok(image) => Some(image),
        Err(why) => {
            problems.push(Problem::new(
                vars::IMAGE.name,
                format!("{why}; expected a reference such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2, got {v:?}"),
            ));
            None
        }
    }
}

fn container_images(
    raw: &Raw,
    image_given: bool,
    problems: &mut Vec<Problem>,
) -> (Vec<(String, ImageRef)>, bool) {
    let var = &vars::CONTAINER_IMAGES;
    let items = raw.list(var, problems);
    let example = "app=123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v2";
    let pairs: Vec<(String, ImageRef)> = parse_pairs(var, &items, "container", example, problems)
        .into_iter()
        .filter_map(|(container, value)| match ImageRef::parse(&value) {
            Ok(image) => Some((container, image)),
            Err(why) => {
                problems.push(Problem::new(
                    var.name,
                    format!("image of container {container:?} {why}, got {value:?}"),
                ));
                None
            }
        })
        .collect();
    if !items.is_empty() && (image_given || raw.text(&vars::CONTAINER_NAME).is_some()) {
        problems.push(Problem::new(
            var.name,
            "cannot be combined with IMAGE or CONTAINER_NAME; list every container=image pair in CONTAINER_IMAGES, or use IMAGE (and CONTAINER_NAME) for one container",
        ));
    }
    (pairs, !items.is_empty())
}

fn desired_count(raw: &Raw, problems: &mut Vec<Problem>) -> Option<i32> {
    let v = raw.text(&vars::DESIRED_COUNT)?;
    match v.parse::<i32>() {
        Ok(n) if n >= 0 => Some(n),
        _ => {
            problems.push(Problem::new(
                vars::DESIRED_COUNT.name,
                format!("must be a whole number of tasks, 0 or more, got {v:?}"),
            ));
            None
        }
    }
}

fn tags(raw: &Raw, problems: &mut Vec<Problem>) -> Vec<(String, String)> {
    let var = &vars::TAGS;
    let items = raw.list(var, problems);
    let tags = parse_pairs(var, &items, "tag", "team=payments", problems);
    for (key, value) in &tags {
        if key.to_ascii_lowercase().starts_with("aws:") || key.starts_with(AUDIT_TAG_PREFIX) {
            problems.push(Problem::new(
                var.name,
                format!("tag {key:?} uses a reserved prefix (aws:, {AUDIT_TAG_PREFIX}); the pipe writes {AUDIT_TAG_PREFIX} tags itself"),
            ));
        } else if !is_valid_tag_text(key, 128) || !is_valid_tag_text(value, 256) {
            problems.push(Problem::new(
                var.name,
                format!("tag {key}={value} has characters ECS does not allow; use letters, digits, spaces and + - = . _ : / @ (keys up to 128, values up to 256)"),
            ));
        }
    }
    tags
}

/// True for a valid ECS tag key or value (letters, digits, spaces and `+ - = . _ : / @`).
fn is_valid_tag_text(text: &str, max: usize) -> bool {
    text.chars().count() <= max
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "+-=._:/@".contains(c))
}

/// `TASK_DEFINITION_TEMPLATE`, which only means something with a file.
fn templated(raw: &Raw, file_given: bool, problems: &mut Vec<Problem>) -> bool {
    let templated = raw.boolean(&vars::TASK_DEFINITION_TEMPLATE, problems);
    if templated && !file_given {
        problems.push(Problem::new(
            vars::TASK_DEFINITION_TEMPLATE.name,
            "is true but TASK_DEFINITION is not set; it fills ${NAME} placeholders in a TASK_DEFINITION file, so set TASK_DEFINITION or remove TASK_DEFINITION_TEMPLATE",
        ));
    }
    templated
}

/// Reads the file and parses it as JSON, exactly as 1.0 did.
fn read_task_definition_file(
    path: &str,
    clone_dir: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<TaskDefinitionFile> {
    let full = match clone_dir {
        Some(dir) if Path::new(path).is_relative() => dir.join(path),
        _ => PathBuf::from(path),
    };
    let text = match std::fs::read_to_string(&full) {
        Ok(text) => text,
        Err(e) => {
            problems.push(Problem::new(
                vars::TASK_DEFINITION.name,
                format!("could not read {} ({e}); give a path relative to the repository root, such as ecs/task-definition.json", full.display()),
            ));
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(json) => Some(TaskDefinitionFile {
            display: path.to_string(),
            json,
            placeholders: Vec::new(),
        }),
        Err(e) => {
            problems.push(Problem::new(
                vars::TASK_DEFINITION.name,
                format!("{path} is not valid JSON: {e}"),
            ));
            None
        }
    }
}

/// With `TASK_DEFINITION_TEMPLATE`, fills the file's `${NAME}` placeholders from every
/// variable the pipe received (see [`crate::config::template`]). Without it the file stays exactly as
/// written, as in 1.0, and one warning names the placeholders whose variable is set, since
/// those are most likely meant to be filled.
fn fill_placeholders(
    mut file: TaskDefinitionFile,
    templated: bool,
    raw: &Raw,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> Option<TaskDefinitionFile> {
    let lookup = |name: &str| raw.get_any(name).map(str::to_string);
    if !templated {
        let set: Vec<String> = template::names(&file.json)
            .into_iter()
            .filter(|name| lookup(name).is_some_and(|v| !v.trim().is_empty()))
            .map(|name| format!("${{{name}}}"))
            .collect();
        if !set.is_empty() {
            let (that, it) = if set.len() == 1 {
                ("that variable is", "it")
            } else {
                ("those variables are", "them")
            };
            warnings.push(format!(
                "TASK_DEFINITION {} is used as written, with {}; {that} set, and TASK_DEFINITION_TEMPLATE: 'true' would fill {it} in",
                file.display,
                set.join(", "),
            ));
        }
        return Some(file);
    }
    match template::render(&mut file.json, &lookup) {
        Ok(placeholders) => {
            file.placeholders = placeholders;
            Some(file)
        }
        Err(unfilled) => {
            problems.extend(template::problems(&file.display, &unfilled));
            None
        }
    }
}
