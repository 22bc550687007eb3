//! Services whose deployments CodeDeploy runs (`deploymentController` `CODE_DEPLOY`): find
//! each one's deployment group before anything changes, start a CodeDeploy deployment with
//! the AppSpec generated from the live service ([`crate::rules::appspec`]), and poll it for the follow
//! loop, which judges it with [`crate::rules::codedeploy_verdict`].
//!
//! ECS refuses an UpdateService that changes such a service's task definition, so nothing
//! here ever sends one; `DESIRED_COUNT` alone goes through UpdateService (`apply.rs`), which
//! ECS allows. The functions take plain values, not `Config`, so they are small to wire.

use serde_json::Value;

use crate::aws::codedeploy::{CodeDeploy, Group};
use crate::config::code_deploy::Options;
use crate::error::{AwsError, Changed, Error};
use crate::report::Reporter;
use crate::rules::appspec;
use crate::rules::codedeploy_verdict::{self as verdict, Verdict};
use crate::rules::rollout::{Service, revision_name};

/// A CODE_DEPLOY service of this deploy, and the group that deploys it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The service, as configured.
    pub service: String,
    /// Its deployment group.
    pub group: Group,
    /// The service as read before the deploy: the AppSpec is made from it.
    pub live: Service,
}

/// The CodeDeploy side of a deploy: the client and each CODE_DEPLOY service's group; both
/// empty when no service uses CodeDeploy.
#[derive(Debug, Clone, Default)]
pub struct Deployer {
    /// The CodeDeploy client, built only when a service needs it.
    pub client: Option<CodeDeploy>,
    /// The CODE_DEPLOY services and their groups.
    pub targets: Vec<Target>,
}

/// Finds the deployment group of every CODE_DEPLOY service among `services` (as configured,
/// with what was read). Refuses, with nothing changed, when a group cannot be found or the
/// named one does not deploy the service; the error names the groups looked at.
pub async fn find_groups(
    cd: &CodeDeploy,
    cluster: &str,
    services: &[(&str, &Service)],
    options: &Options,
    report: &Reporter,
) -> Result<Vec<Target>, Error> {
    let ours: Vec<(&str, &Service)> = services
        .iter()
        .filter(|(_, s)| s.uses_code_deploy())
        .copied()
        .collect();
    if ours.is_empty() {
        return Ok(Vec::new());
    }
    let candidates = candidates(cd, &ours, cluster, options, report).await?;
    let mut targets = Vec::new();
    for (name, service) in ours {
        let Some(group) = candidates.iter().find(|g| g.lists(cluster, name)) else {
            return Err(not_found(cluster, name, options, &candidates));
        };
        report.detail(&format!(
            "{name} is deployed by CodeDeploy deployment group {}",
            group.label()
        ));
        targets.push(Target {
            service: name.to_string(),
            group: group.clone(),
            live: service.clone(),
        });
    }
    Ok(targets)
}

/// The groups to look at: the named one, or every group of `CODEDEPLOY_APPLICATION`, or of
/// every ECS application. `ours` are the CODE_DEPLOY services.
async fn candidates(
    cd: &CodeDeploy,
    ours: &[(&str, &Service)],
    cluster: &str,
    options: &Options,
    report: &Reporter,
) -> Result<Vec<Group>, Error> {
    let read_failed = |err: AwsError| Error::Aws {
        step: "finding the CodeDeploy deployment group".into(),
        err: err.into(),
        changed: Changed::Nothing,
    };
    let found = match (&options.application, &options.group) {
        (Some(application), Some(group)) => {
            if let [_, _, ..] = ours {
                return Err(Error::CodeDeploy {
                    service: ours.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                    problem: format!("CODEDEPLOY_DEPLOYMENT_GROUP names one group ({application}/{group}), but {} services use CODE_DEPLOY and each has its own group", ours.len()),
                    details: Vec::new(),
                    hints: vec!["leave CODEDEPLOY_DEPLOYMENT_GROUP unset so each service's group is found, or deploy these services in separate steps".into()],
                });
            }
            report.step(&format!(
                "Reading CodeDeploy deployment group {application}/{group}"
            ));
            match cd.group(application, group).await.map_err(read_failed)? {
                Some(found) => vec![found],
                None => {
                    return Err(Error::CodeDeploy {
                        service: ours[0].0.to_string(),
                        problem: format!(
                            "CODEDEPLOY_APPLICATION and CODEDEPLOY_DEPLOYMENT_GROUP name {application}/{group}, which does not exist in this account and region"
                        ),
                        details: vec![format!("looked at: {application}/{group}")],
                        hints: group_hints(cluster, ours[0].0),
                    });
                }
            }
        }
        (application, _) => {
            let applications = match application {
                Some(one) => {
                    report.step(&format!(
                        "Finding the CodeDeploy deployment group in application {one} (CODEDEPLOY_APPLICATION)"
                    ));
                    vec![one.clone()]
                }
                None => {
                    report.step("Finding the CodeDeploy deployment group (CODEDEPLOY_DEPLOYMENT_GROUP is not set)");
                    cd.ecs_applications().await.map_err(read_failed)?
                }
            };
            let mut groups = Vec::new();
            for application in &applications {
                groups.extend(cd.groups(application).await.map_err(read_failed)?);
            }
            groups
        }
    };
    Ok(found)
}

fn not_found(cluster: &str, service: &str, options: &Options, looked_at: &[Group]) -> Error {
    let short = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let problem = match (&options.application, &options.group) {
        (Some(application), Some(group)) => format!(
            "CODEDEPLOY_APPLICATION and CODEDEPLOY_DEPLOYMENT_GROUP name {application}/{group}, which does not deploy {}/{}",
            short(cluster),
            short(service)
        ),
        (Some(application), None) => format!(
            "no deployment group of CodeDeploy application {application} (CODEDEPLOY_APPLICATION) deploys {}/{}",
            short(cluster),
            short(service)
        ),
        _ => format!(
            "no deployment group of any ECS application in CodeDeploy deploys {}/{}",
            short(cluster),
            short(service)
        ),
    };
    let mut details: Vec<String> = looked_at
        .iter()
        .map(|g| {
            let deploys: Vec<String> = g
                .ecs_services
                .iter()
                .map(|s| format!("{}/{}", short(&s.cluster_name), short(&s.service_name)))
                .collect();
            format!(
                "looked at: {} (deploys {})",
                g.label(),
                if deploys.is_empty() {
                    "no ECS service".into()
                } else {
                    deploys.join(", ")
                }
            )
        })
        .collect();
    if details.is_empty() {
        details.push("looked at: no deployment group at all".into());
    }
    Error::CodeDeploy {
        service: service.to_string(),
        problem,
        details,
        hints: group_hints(cluster, service),
    }
}

fn group_hints(cluster: &str, service: &str) -> Vec<String> {
    vec![format!(
        "set CODEDEPLOY_APPLICATION and CODEDEPLOY_DEPLOYMENT_GROUP to the deployment group whose ECS service is {cluster}/{service} (`aws deploy list-deployment-groups --application-name <app>`), and check AWS_DEFAULT_REGION"
    )]
}

/// The AppSpec and CreateDeployment request that deploy `task_definition` to `target`.
/// `build` is (repository, commit, build number), for the description.
pub fn request(
    target: &Target,
    task_definition: &str,
    options: &Options,
    build: (Option<&str>, Option<&str>, Option<&str>),
) -> Result<(Value, Value), Error> {
    let spec = appspec::appspec(&target.live, task_definition, &options.hooks).map_err(
        |problem| Error::CodeDeploy {
            service: target.service.clone(),
            problem: format!("its AppSpec cannot be made: {problem}"),
            details: Vec::new(),
            hints: vec!["a CodeDeploy blue/green service needs a load balancer entry with a container name and port; check the service in the ECS console".into()],
        },
    )?;
    let description =
        appspec::description(build.0, build.1, build.2, revision_name(task_definition));
    let body = appspec::create_deployment_request(
        &appspec::Request {
            application: &target.group.application_name,
            group: &target.group.deployment_group_name,
            deployment_config: options.deployment_config.as_deref(),
            description: &description,
        },
        &spec,
    );
    Ok((spec, body))
}

/// True when a CreateDeployment error leaves open whether the deployment was created: the
/// answer was lost (no response, a server error, throttling after an attempt that may have
/// gone through), or a retry found the group busy, maybe with our own first attempt.
pub fn answer_may_be_lost(err: &AwsError) -> bool {
    err.is_ambiguous()
        || err.is_transient()
        || err
            .code
            .as_deref()
            .is_some_and(|c| c == "DeploymentLimitExceededException")
}

/// CreateDeployment. When the answer is lost, the group's unfinished deployments are read
/// back, and the one with our description is ours: CreateDeployment has no idempotency token.
pub async fn create(cd: &CodeDeploy, body: &Value, report: &Reporter) -> Result<String, AwsError> {
    let err = match cd.create_deployment(body).await {
        Ok(id) => return Ok(id),
        Err(err) if answer_may_be_lost(&err) => err,
        Err(err) => return Err(err),
    };
    let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
    let (application, group, description) = (
        field("applicationName"),
        field("deploymentGroupName"),
        field("description"),
    );
    report.warn(&format!(
        "{err}; looking for the deployment among the unfinished ones of {application}/{group}, in case CodeDeploy created it"
    ));
    let Ok(ids) = cd.unfinished_deployments(application, group).await else {
        return Err(err);
    };
    for id in ids {
        if let Ok(info) = cd.deployment(&id).await
            && info.description.as_deref() == Some(description)
        {
            report.detail(&format!(
                "found deployment {id}, which this run's CreateDeployment started; following it"
            ));
            return Ok(id);
        }
    }
    Err(err)
}

/// A CodeDeploy deployment being followed.
#[derive(Debug, Clone, Default)]
pub struct Following {
    /// `d-…`.
    pub deployment_id: String,
    /// `cluster:service`, the ECS target's id.
    pub target_id: String,
    /// The region, for the console link.
    pub region: String,
    /// The last progress line.
    pub state: String,
    /// The replacement task set's id, once known: its tasks are the ones to explain.
    pub replacement_task_set: Option<String>,
    ready_said: bool,
}

impl Following {
    /// A deployment of `service` (name or ARN) in `cluster`.
    pub fn new(deployment_id: &str, cluster: &str, service: &str, region: &str) -> Self {
        let short = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
        Self {
            deployment_id: deployment_id.to_string(),
            target_id: format!("{}:{}", short(cluster), short(service)),
            region: region.to_string(),
            state: format!("CodeDeploy deployment {deployment_id} had not been read yet"),
            replacement_task_set: None,
            ready_said: false,
        }
    }
}

/// One poll: GetDeployment and (once it has started) GetDeploymentTarget; prints the
/// progress line when it changes and the Ready line once; returns the verdict.
pub async fn poll(
    cd: &CodeDeploy,
    following: &mut Following,
    label: &str,
    report: &Reporter,
) -> Result<(Verdict, Option<verdict::EcsTarget>, verdict::DeploymentInfo), AwsError> {
    let info = cd.deployment(&following.deployment_id).await?;
    let target = if matches!(info.status.as_str(), "Created" | "Queued") {
        None
    } else {
        cd.ecs_target(&following.deployment_id, &following.target_id)
            .await?
    };
    let line = verdict::progress_line(&info, target.as_ref());
    let state = format!("CodeDeploy deployment {} {line}", following.deployment_id);
    if state != following.state {
        report.detail(&format!("{label}{state}"));
        following.state = state;
    }
    if let Some(green) = target.as_ref().and_then(verdict::EcsTarget::replacement) {
        following.replacement_task_set = Some(green.id.clone());
    }
    let judged = verdict::assess(&info, target.as_ref());
    if judged == Verdict::Ready && !following.ready_said {
        report.warn(&format!(
            "{label}deployment {} is Ready: the replacement task set runs, and CodeDeploy waits for someone to reroute production traffic; go on with a step that runs the pipe with ACTION: 'continue' (or ACTION: 'rollback'), or continue it in the console (waiting until WAIT_TIMEOUT): {}",
            following.deployment_id,
            verdict::console_link(&following.region, &following.deployment_id)
        ));
        following.ready_said = true;
    }
    Ok((judged, target, info))
}

/// What one poll of a CodeDeploy deployment decided, for the follow loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// Keep waiting.
    Waiting,
    /// `Ready`: the replacement runs and CodeDeploy waits for someone to reroute traffic.
    Ready,
    /// All production traffic is on the replacement task set.
    Succeeded,
    /// Failed or stopped.
    Failed {
        /// One line, including what the service runs now.
        verdict: String,
        /// CodeDeploy's error, the failed lifecycle event and its diagnostics, the rollback.
        details: Vec<String>,
        /// What the user can do.
        hints: Vec<String>,
    },
}

/// One poll of `following` for the follow loop; `service` is this poll's DescribeServices
/// answer (what runs now), `ours` the revision deployed.
pub async fn observe(
    cd: &CodeDeploy,
    following: &mut Following,
    service: &Service,
    ours: &str,
    label: &str,
    report: &Reporter,
) -> Result<Polled, AwsError> {
    let (judged, _, _) = poll(cd, following, label, report).await?;
    let id = following.deployment_id.clone();
    Ok(match judged {
        Verdict::InProgress => Polled::Waiting,
        Verdict::Ready => Polled::Ready,
        Verdict::Succeeded {
            original_kept_until,
            early,
        } => {
            if early {
                let until = original_kept_until.map_or_else(
                    || "until its termination wait ends".to_string(),
                    |t| format!("until {}", verdict::utc(t)),
                );
                report.detail(&format!(
                    "{label}all production traffic is on the replacement task set and AfterAllowTraffic succeeded; CodeDeploy keeps the original task set {until} for a rollback, then finishes {id} on its own"
                ));
            }
            Polled::Succeeded
        }
        Verdict::Failed(failure) => {
            let what = if failure.status == "Stopped" {
                "was stopped"
            } else {
                "failed"
            };
            let mut details = failure.details;
            details.push(format!(
                "console: {}",
                verdict::console_link(&following.region, &id)
            ));
            Polled::Failed {
                verdict: format!(
                    "CodeDeploy deployment {id} of {} {what}; the service runs {}",
                    revision_name(ours),
                    revision_name(service.primary_revision())
                ),
                details,
                hints: vec![
                    "the lifecycle event and CodeDeploy's message above say what failed; the console link shows each event".into(),
                ],
            }
        }
    })
}

/// `ROLLBACK_ON_FAILURE` for a CodeDeploy deployment still running at the timeout:
/// StopDeployment with automatic rollback, then read until CodeDeploy has settled (at most
/// `patience`), and say where the service ended. Returns the lines for the failure report.
pub async fn stop_and_roll_back(
    cd: &CodeDeploy,
    following: &Following,
    interval: std::time::Duration,
    patience: std::time::Duration,
    report: &Reporter,
) -> Vec<String> {
    let id = &following.deployment_id;
    report.step(&format!(
        "Stopping CodeDeploy deployment {id} with automatic rollback (ROLLBACK_ON_FAILURE)"
    ));
    if let Err(err) = cd.stop_deployment(id, true).await {
        return vec![format!(
            "ROLLBACK_ON_FAILURE: could not stop CodeDeploy deployment {id}: {err}"
        )];
    }
    let started = std::time::Instant::now();
    loop {
        match cd.deployment(id).await {
            Ok(info) if matches!(info.status.as_str(), "Stopped" | "Failed" | "Succeeded") => {
                let rollback = info
                    .rollback_info
                    .and_then(|r| r.rollback_deployment_id)
                    .map_or_else(String::new, |r| format!(", rollback deployment {r}"));
                return vec![format!(
                    "ROLLBACK_ON_FAILURE: CodeDeploy deployment {id} is {}{rollback}",
                    info.status
                )];
            }
            Ok(_) | Err(_) if started.elapsed() < patience => {
                tokio::time::sleep(interval).await;
            }
            Ok(info) => {
                return vec![format!(
                    "ROLLBACK_ON_FAILURE: stopped CodeDeploy deployment {id}; it was still {} when the pipe stopped looking",
                    info.status
                )];
            }
            Err(err) => {
                return vec![format!(
                    "ROLLBACK_ON_FAILURE: stopped CodeDeploy deployment {id}; reading it back failed: {err}"
                )];
            }
        }
    }
}

/// `DRY_RUN`: the AppSpec and the CreateDeployment request a deploy would send, as lines.
pub fn dry_run_lines(spec: &Value, body: &Value) -> Vec<String> {
    let mut shown = body.clone();
    // The content is the AppSpec shown just above, as one escaped string; show it once.
    if let Some(content) = shown.pointer_mut("/revision/appSpecContent/content") {
        *content = Value::String("<the AppSpec above, as JSON text>".into());
    }
    if let Some(sha256) = shown.pointer_mut("/revision/appSpecContent/sha256") {
        *sha256 = Value::String("<its SHA-256>".into());
    }
    let mut lines = vec!["AppSpec:".to_string()];
    lines.extend(pretty(spec).lines().map(|l| format!("  {l}")));
    lines.push("codedeploy:CreateDeployment request:".into());
    lines.extend(pretty(&shown).lines().map(|l| format!("  {l}")));
    lines
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
