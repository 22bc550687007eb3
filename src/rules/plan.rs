//! What a deploy will change, decided from what was read: which new revisions to register,
//! from which source and with which images, and which service moves to which revision.
//!
//! Pure. `deploy.rs` reads the services and their task definitions, builds a [`Plan`] here,
//! prints it (that is all `DRY_RUN` does), and only then applies it. Services that run the
//! same revision share one new revision, so N services on K distinct revisions make exactly
//! K registrations and never drift apart.

use std::collections::HashMap;

use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Problem};
use crate::model::image::ImageRef;
use crate::rules::rollout::{Service, revision_name};
use crate::rules::task_def::{self, ImageChange, TaskDefinition};

/// Where a new revision starts from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// The revision the services run now (its ARN).
    Revision(String),
    /// The `TASK_DEFINITION` file (its path as given).
    File(String),
}

/// A revision to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRevision {
    /// Where it starts from.
    pub source: Source,
    /// The source as a register request, to show what changed.
    pub before: Value,
    /// The new revision: the source with the images, the per-environment settings
    /// ([`crate::rules::overrides`]) and the audit tags set.
    pub task_definition: TaskDefinition,
    /// The image swaps, in the order they were made.
    pub changes: Vec<ImageChange>,
    /// The services that move to it, as configured.
    pub services: Vec<String>,
}

impl NewRevision {
    /// `web:41`, or the file's path.
    pub fn source_name(&self) -> &str {
        match &self.source {
            Source::Revision(arn) => revision_name(arn),
            Source::File(path) => path,
        }
    }
}

/// One service and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePlan {
    /// The service, as configured (name or ARN).
    pub name: String,
    /// The revision it runs now.
    pub current: String,
    /// Its desired count now.
    pub desired_count: i64,
    /// Index into [`Plan::revisions`], or `None` to restart the current revision
    /// (`FORCE_NEW_DEPLOYMENT` without a new image).
    pub revision: Option<usize>,
    /// True when CodeDeploy deploys the service (`deploymentController` `CODE_DEPLOY`): it
    /// moves through a CodeDeploy deployment, never an UpdateService with a task definition.
    pub code_deploy: bool,
    /// A registered revision (`TASK_DEFINITION: family:revision`, resolved to its ARN) that it
    /// moves to as it is, with no new registration.
    pub promoted: Option<String>,
}

/// Everything a deploy will change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The revisions to register, in the order of the first service that uses each.
    pub revisions: Vec<NewRevision>,
    /// Every service, in the configured order.
    pub services: Vec<ServicePlan>,
    /// `PRE_DEPLOY_COMMAND`: the one-off task to run before the first update.
    pub pre_deploy: Option<PreDeployPlan>,
}

/// The pre-deploy task: the first service's new revision, in that service's network, with
/// one container's command replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct PreDeployPlan {
    /// Index into [`Plan::services`] of the service whose revision and network it uses.
    pub service: usize,
    /// The container whose command is replaced.
    pub container: String,
    /// The command.
    pub command: Vec<String>,
    /// Where the service's tasks run (launch type or capacity providers, platform version,
    /// network configuration), for RunTask.
    pub placement: serde_json::Map<String, Value>,
}

impl Plan {
    /// The new revision a service moves to, if any.
    pub fn revision_of(&self, service: &ServicePlan) -> Option<&NewRevision> {
        service.revision.and_then(|i| self.revisions.get(i))
    }
}

/// (container or None for "the only one", image) pairs from IMAGE/CONTAINER_NAME or CONTAINER_IMAGES.
pub fn images_to_set(config: &Config) -> Vec<(Option<String>, &ImageRef)> {
    match &config.change.image {
        Some(image) => vec![(config.change.container.clone(), image)],
        None => config
            .change
            .container_images
            .iter()
            .map(|(c, i)| (Some(c.clone()), i))
            .collect(),
    }
}

/// Builds the plan. `services` are the live services in the configured order; `sources`
/// holds the DescribeTaskDefinition answer of every revision they run (unused with a
/// `TASK_DEFINITION` file).
pub fn build(
    config: &Config,
    services: &[Service],
    sources: &HashMap<String, Value>,
) -> Result<Plan, Error> {
    let changes_image = config.change.image.is_some() || !config.change.container_images.is_empty();
    let new_revisions = changes_image
        || config.change.task_definition_file.is_some()
        || !config.change.overrides.is_empty();
    let mut plan = Plan {
        revisions: Vec::new(),
        services: Vec::new(),
        pre_deploy: None,
    };
    let mut index: HashMap<Source, usize> = HashMap::new();
    let promoted = promoted_arn(config, sources);
    for (name, service) in config.target.services.iter().zip(services) {
        let current = service.primary_revision().to_string();
        let revision = if new_revisions {
            let source = match (&config.change.task_definition_file, &promoted) {
                (Some(file), _) => Source::File(file.display.clone()),
                (None, Some(arn)) => Source::Revision(arn.clone()),
                (None, None) => Source::Revision(current.clone()),
            };
            let i = match index.get(&source) {
                Some(&i) => i,
                None => {
                    let td = load(config, &source, sources)?;
                    plan.revisions.push(NewRevision {
                        source: source.clone(),
                        before: td.register_request(),
                        task_definition: td,
                        changes: Vec::new(),
                        services: Vec::new(),
                    });
                    index.insert(source, plan.revisions.len() - 1);
                    plan.revisions.len() - 1
                }
            };
            plan.revisions[i].services.push(name.clone());
            Some(i)
        } else {
            None
        };
        plan.services.push(ServicePlan {
            name: name.clone(),
            current,
            desired_count: service.desired_count,
            revision,
            code_deploy: service.uses_code_deploy(),
            promoted: if new_revisions {
                None
            } else {
                promoted.clone()
            },
        });
    }
    if changes_image {
        set_images(config, &mut plan.revisions)?;
    }
    // After the images: the container that got one is where the environment goes.
    for revision in &mut plan.revisions {
        config.change.overrides.apply(
            &mut revision.task_definition,
            config.change.container.as_deref(),
            &revision.changes,
        )?;
    }
    let audit = task_def::audit_tags(&config.context);
    for revision in &mut plan.revisions {
        revision
            .task_definition
            .apply_tags(&audit, &config.change.tags)?;
    }
    if let (Some(pre), Some(first)) = (&config.pre_deploy, services.first()) {
        plan.pre_deploy = Some(pre_deploy_plan(config, pre, &plan, first, sources)?);
    }
    Ok(plan)
}

/// The ARN of the registered revision `TASK_DEFINITION` names, from its DescribeTaskDefinition
/// answer among `sources` (read under the name given).
pub fn promoted_arn(config: &Config, sources: &HashMap<String, Value>) -> Option<String> {
    let wanted = config.change.promote.as_ref()?;
    let answer = sources.get(wanted)?;
    Some(
        answer
            .pointer("/taskDefinition/taskDefinitionArn")
            .and_then(Value::as_str)
            .map_or_else(|| wanted.clone(), str::to_string),
    )
}

/// Chooses the pre-deploy container (`PRE_DEPLOY_CONTAINER`, else `CONTAINER_NAME`, else the
/// only one) in the revision the first service moves to, and copies where that service runs.
fn pre_deploy_plan(
    config: &Config,
    pre: &crate::config::PreDeploy,
    plan: &Plan,
    service: &Service,
    sources: &HashMap<String, Value>,
) -> Result<PreDeployPlan, Error> {
    let first = &plan.services[0];
    let names = match plan.revision_of(first) {
        Some(revision) => revision.task_definition.container_names(),
        None => load(config, &Source::Revision(first.current.clone()), sources)
            .map(|td| td.container_names())
            .unwrap_or_default(),
    };
    let (variable, wanted) = match (&pre.container, &config.change.container) {
        (Some(c), _) => ("PRE_DEPLOY_CONTAINER", Some(c)),
        (None, Some(c)) => ("CONTAINER_NAME", Some(c)),
        (None, None) => ("PRE_DEPLOY_CONTAINER", None),
    };
    let container = match (wanted, names.as_slice()) {
        (Some(c), _) if names.contains(c) => c.clone(),
        (Some(c), _) => {
            return Err(Error::Config(vec![Problem::new(
                variable,
                format!(
                    "names container {c:?}, which the task definition of {} does not have; it has {}",
                    first.name,
                    names.join(", ")
                ),
            )]));
        }
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(Error::Config(vec![Problem::new(
                "PRE_DEPLOY_CONTAINER",
                format!(
                    "is required: the task definition of {} has {} containers, so say which one runs PRE_DEPLOY_COMMAND: {}",
                    first.name,
                    names.len(),
                    names.join(", ")
                ),
            )]));
        }
    };
    let mut placement = serde_json::Map::new();
    // RunTask takes a launch type or a capacity provider strategy, never both.
    match (&service.capacity_provider_strategy, &service.launch_type) {
        (Some(strategy), _) if strategy.as_array().is_some_and(|a| !a.is_empty()) => {
            placement.insert("capacityProviderStrategy".into(), strategy.clone());
        }
        (_, Some(launch_type)) => {
            placement.insert("launchType".into(), Value::String(launch_type.clone()));
        }
        _ => {}
    }
    if let Some(version) = &service.platform_version {
        placement.insert("platformVersion".into(), Value::String(version.clone()));
    }
    if let Some(network) = &service.network_configuration {
        placement.insert("networkConfiguration".into(), network.clone());
    }
    Ok(PreDeployPlan {
        service: 0,
        container,
        command: pre.command.clone(),
        placement,
    })
}

fn load(
    config: &Config,
    source: &Source,
    sources: &HashMap<String, Value>,
) -> Result<TaskDefinition, Error> {
    match source {
        Source::File(path) => {
            let json = config
                .change
                .task_definition_file
                .as_ref()
                .map_or(Value::Null, |f| f.json.clone());
            TaskDefinition::from_json(json, path)
        }
        Source::Revision(arn) => {
            let json = sources.get(arn).cloned().unwrap_or(Value::Null);
            TaskDefinition::from_json(json, revision_name(arn))
        }
    }
}

/// Puts the images into the revisions. `IMAGE` goes into every revision (the named or the
/// only container); each `CONTAINER_IMAGES` pair goes into every revision that has that
/// container. A pair that fits no revision, or a revision that gets no image, is refused:
/// both are almost certainly a mistake in the variables.
fn set_images(config: &Config, revisions: &mut [NewRevision]) -> Result<(), Error> {
    if let Some(image) = &config.change.image {
        for revision in revisions.iter_mut() {
            let change = revision
                .task_definition
                .set_image(config.change.container.as_deref(), &image.full)?;
            revision.changes.push(change);
        }
        return Ok(());
    }
    let single = revisions.len() == 1;
    for (container, image) in &config.change.container_images {
        let mut fitted = false;
        for revision in revisions.iter_mut() {
            let has = revision
                .task_definition
                .container_names()
                .contains(container);
            // With one revision, set_image itself refuses an unknown container, listing the
            // ones that exist.
            if has || single {
                let change = revision
                    .task_definition
                    .set_image(Some(container), &image.full)?;
                revision.changes.push(change);
                fitted = true;
            }
        }
        if !fitted {
            let mut available: Vec<String> = Vec::new();
            for revision in revisions.iter() {
                for name in revision.task_definition.container_names() {
                    if !available.contains(&name) {
                        available.push(name);
                    }
                }
            }
            return Err(Error::ContainerNotFound {
                wanted: container.clone(),
                available,
                source_name: format!(
                    "of any listed service ({})",
                    revisions
                        .iter()
                        .map(NewRevision::source_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    let unchanged: Vec<Problem> = revisions
        .iter()
        .filter(|r| r.changes.is_empty())
        .map(|r| {
            Problem::new(
                "CONTAINER_IMAGES",
                format!(
                    "changes no container of {} {}: its task definition {} has {}; add a pair for one of them, or remove it from SERVICE_NAMES",
                    if r.services.len() == 1 { "service" } else { "services" },
                    r.services.join(", "),
                    r.source_name(),
                    r.task_definition.container_names().join(", ")
                ),
            )
        })
        .collect();
    if unchanged.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(unchanged))
    }
}
